"""mem7-chroma: mem7's vector store on Chroma (embedded persistent client, or a Chroma server)."""

from __future__ import annotations

from .store import PUSHED_DOWN, ChromaVectorStore

__all__ = ["PUSHED_DOWN", "ChromaVectorStore"]
__version__ = "0.1.0"
