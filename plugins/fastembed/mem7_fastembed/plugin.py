"""mem7 plugin entry point: registers the ``fastembed`` embedder."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import Embedder


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    from .embedder import FastEmbedEmbedder

    register(FastEmbedEmbedder)
