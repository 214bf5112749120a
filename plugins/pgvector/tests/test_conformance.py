"""mem7-pgvector against the shared conformance suites, on the real PostgreSQL from conftest.py.

Each test gets a fresh table (dropped afterwards). The vector store runs twice: with its defaults
(on tables this small the planner scans the scope's b-tree and sorts, which is exact), and with
the planner forced onto the HNSW index (iterative scans), so the approximate path must give the
same answers as the flat store too. The history store runs on its own table.
"""

from __future__ import annotations

from typing import Any

import pytest

from mem7_core.providers import HistoryStore, VectorStore
from mem7_core.testing import HistoryConformance, VectorStoreConformance
from mem7_pgvector import PgHistoryStore, PgVectorStore

DIMS = 8


class TestPgVector(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def vector_store(self, pg_config: Any, table_name: str):
        store = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, PgVectorStore)
        await store.aclose()
        return PgVectorStore(store.config)


class TestPgHistory(HistoryConformance):
    supports_persistence = True

    @pytest.fixture
    async def history_store(self, pg_config: Any, table_name: str):
        store = PgHistoryStore.from_config(pg_config(table_name=table_name))
        yield store
        await store.aclose()

    async def reopen(self, store: HistoryStore) -> HistoryStore:
        assert isinstance(store, PgHistoryStore)
        await store.aclose()
        return PgHistoryStore(store.config)


class _ForcedHnswStore(PgVectorStore):
    """Plans that must use the HNSW index whenever the query allows it (tiny test tables would
    otherwise be scanned through the scope b-tree and sorted, which is exact by construction)."""

    async def _configure(self, conn: Any) -> None:
        await super()._configure(conn)
        await self._set_session(conn, {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"})


class TestPgVectorForcedHnsw(TestPgVector):
    @pytest.fixture
    async def vector_store(self, pg_config: Any, table_name: str):
        store = _ForcedHnswStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        await store.aclose()
        return _ForcedHnswStore(store.config)  # type: ignore[arg-type]
