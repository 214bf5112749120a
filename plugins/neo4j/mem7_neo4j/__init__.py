"""mem7-neo4j: mem7's graph store on Neo4j 5 over Bolt (async driver), isolated per scope."""

from __future__ import annotations

from .store import Connection, Neo4jGraphStore, resolve_connection

__all__ = ["Connection", "Neo4jGraphStore", "resolve_connection"]
__version__ = "0.1.0"
