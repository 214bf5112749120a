"""mem7-lancedb: mem7's vector store on LanceDB, embedded, on disk."""

from __future__ import annotations

from .store import LanceDBVectorStore

__all__ = ["LanceDBVectorStore"]
