"""mem7 plugin entry point: registers the FalkorDB graph store."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import GraphStore

from .store import FalkorDBGraphStore


@hookimpl
def mem7_register_graph_stores(register: Callable[[type[GraphStore]], None]) -> None:
    register(FalkorDBGraphStore)
