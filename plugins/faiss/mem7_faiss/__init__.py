"""mem7-faiss: a FAISS vector store whose store of record is a SQLite database in a directory."""

from __future__ import annotations

from .store import FaissVectorStore

__all__ = ["FaissVectorStore"]
