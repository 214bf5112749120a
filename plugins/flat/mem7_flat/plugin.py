"""mem7 plugin entry point: registers the flat vector store and the flat graph store."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import GraphStore, VectorStore

from .graph import FlatGraphStore
from .store import FlatVectorStore


@hookimpl
def mem7_register_vector_stores(register: Callable[[type[VectorStore]], None]) -> None:
    register(FlatVectorStore)


@hookimpl
def mem7_register_graph_stores(register: Callable[[type[GraphStore]], None]) -> None:
    register(FlatGraphStore)
