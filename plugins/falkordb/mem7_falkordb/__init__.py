"""mem7-falkordb: mem7's graph store on FalkorDB (official async client), isolated per scope."""

from __future__ import annotations

from .store import FalkorDBGraphStore, resolve_url

__all__ = ["FalkorDBGraphStore", "resolve_url"]
__version__ = "0.1.0"
