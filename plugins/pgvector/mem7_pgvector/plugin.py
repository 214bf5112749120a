"""mem7 plugin entry point: registers the pgvector vector store and the PostgreSQL history store."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import HistoryStore, VectorStore

from .history import PgHistoryStore
from .store import PgVectorStore


@hookimpl
def mem7_register_vector_stores(register: Callable[[type[VectorStore]], None]) -> None:
    register(PgVectorStore)


@hookimpl
def mem7_register_history_stores(register: Callable[[type[HistoryStore]], None]) -> None:
    register(PgHistoryStore)
