"""mem7 plugin entry point: registers the Memgraph graph store."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import GraphStore

from .store import MemgraphGraphStore


@hookimpl
def mem7_register_graph_stores(register: Callable[[type[GraphStore]], None]) -> None:
    register(MemgraphGraphStore)
