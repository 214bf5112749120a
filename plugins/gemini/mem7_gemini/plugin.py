"""mem7 plugin entry point: registers the Gemini LLM and embedder."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import LLM, Embedder

from .embedder import GeminiEmbedder
from .llm import GeminiLLM


@hookimpl
def mem7_register_llms(register: Callable[[type[LLM]], None]) -> None:
    register(GeminiLLM)


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    register(GeminiEmbedder)
