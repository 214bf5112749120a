"""mem7 plugin entry point: registers the OpenAI LLM and embedder (and their aliases)."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import LLM, Embedder

from .embedder import OpenAIEmbedder
from .llm import OpenAILLM


@hookimpl
def mem7_register_llms(register: Callable[[type[LLM]], None]) -> None:
    register(OpenAILLM)


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    register(OpenAIEmbedder)
