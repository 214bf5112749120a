"""mem7-memgraph: mem7's graph store on Memgraph over Bolt (async neo4j driver), isolated per scope."""

from __future__ import annotations

from .store import MemgraphGraphStore

__all__ = ["MemgraphGraphStore"]
__version__ = "0.1.0"
