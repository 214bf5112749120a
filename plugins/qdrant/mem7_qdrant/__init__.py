"""mem7-qdrant: mem7's vector store on Qdrant (server, or qdrant-client's local mode)."""

from __future__ import annotations

from .store import PUSHED_DOWN, QdrantVectorStore

__all__ = ["PUSHED_DOWN", "QdrantVectorStore"]
__version__ = "0.1.0"
