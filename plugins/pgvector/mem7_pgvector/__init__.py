"""mem7-pgvector: PostgreSQL providers for mem7.

- :class:`PgVectorStore` (``vector_store``, provider ``pgvector``; aliases ``postgres``,
  ``postgresql``): pgvector HNSW cosine search, filters pushed down as parameterised SQL over JSONB.
- :class:`PgHistoryStore` (``history_store``, provider ``pgvector``; aliases ``postgres``,
  ``postgresql``): the audit log in a table every instance of a deployment shares.
"""

from __future__ import annotations

from .history import PgHistoryStore
from .store import PgVectorStore

__all__ = ["PgHistoryStore", "PgVectorStore"]
__version__ = "0.1.0"
