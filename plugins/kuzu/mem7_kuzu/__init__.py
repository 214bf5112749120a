"""mem7-kuzu: mem7's embedded graph store on Kuzu (or its maintained fork, ladybug)."""

from __future__ import annotations

from .store import KuzuGraphStore

__all__ = ["KuzuGraphStore"]
__version__ = "0.1.0"
