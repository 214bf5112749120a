"""mem7-litevec: a mem7 vector store in one SQLite file (the provider tutorial's example)."""

from .store import LiteVecStore

__all__ = ["LiteVecStore"]
