"""The hook module the ``mem7`` entry point ``milvus`` names."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import VectorStore

from .store import MilvusVectorStore


@hookimpl
def mem7_register_vector_stores(register: Callable[[type[VectorStore]], None]) -> None:
    register(MilvusVectorStore)
