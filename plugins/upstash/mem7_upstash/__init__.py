"""mem7-upstash: mem7's vector store on Upstash Vector (hosted), through the upstash-vector async client."""

from __future__ import annotations

from .store import UpstashVectorStore

__all__ = ["UpstashVectorStore"]
__version__ = "0.1.0"
