"""mem7-flat: exact in-process vector store (numpy), optionally persisted to a directory."""

from __future__ import annotations

from .store import FlatVectorStore

__all__ = ["FlatVectorStore"]
__version__ = "0.1.0"
