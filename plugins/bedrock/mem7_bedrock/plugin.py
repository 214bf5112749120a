"""mem7 plugin entry point: registers the Bedrock LLM and embedder."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import LLM, Embedder

from .embedder import BedrockEmbedder
from .llm import BedrockLLM


@hookimpl
def mem7_register_llms(register: Callable[[type[LLM]], None]) -> None:
    register(BedrockLLM)


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    register(BedrockEmbedder)
