"""mem7 plugin entry point: registers the Pinecone vector store."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import VectorStore

from .store import PineconeVectorStore


@hookimpl
def mem7_register_vector_stores(register: Callable[[type[VectorStore]], None]) -> None:
    register(PineconeVectorStore)
