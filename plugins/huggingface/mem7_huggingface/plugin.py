"""mem7 plugin entry point: registers the Hugging Face embedder and reranker."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import Embedder, Reranker

from .embedder import HuggingFaceEmbedder
from .reranker import HuggingFaceReranker


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    register(HuggingFaceEmbedder)


@hookimpl
def mem7_register_rerankers(register: Callable[[type[Reranker]], None]) -> None:
    register(HuggingFaceReranker)
