"""mem7-flat: exact in-process vector store and graph store (numpy), optionally persisted to a directory."""

from __future__ import annotations

from .graph import FlatGraphStore
from .store import FlatVectorStore

__all__ = ["FlatGraphStore", "FlatVectorStore"]
__version__ = "0.1.0"
