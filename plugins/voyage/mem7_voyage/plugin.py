"""mem7 plugin entry point: registers the Voyage reranker and embedder."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import Embedder, Reranker

from .embedder import VoyageEmbedder
from .reranker import VoyageReranker


@hookimpl
def mem7_register_rerankers(register: Callable[[type[Reranker]], None]) -> None:
    register(VoyageReranker)


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    register(VoyageEmbedder)
