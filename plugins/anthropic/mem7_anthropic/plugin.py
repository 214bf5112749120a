"""mem7 plugin entry point: registers the Anthropic LLM."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import LLM

from .llm import AnthropicLLM


@hookimpl
def mem7_register_llms(register: Callable[[type[LLM]], None]) -> None:
    register(AnthropicLLM)
