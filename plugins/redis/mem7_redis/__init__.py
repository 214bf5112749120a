"""mem7-redis: a mem7 vector store on Redis with the Query Engine (vector, filters, keyword search)."""

from .store import RedisVectorStore

__all__ = ["RedisVectorStore"]
