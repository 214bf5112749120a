"""mem7-redis against the core's vector-store and keyword-search conformance suites, on a real Redis
server with the Query Engine (``conftest.py``): the default HNSW index, and a FLAT one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mem7_core.providers import VectorStore
from mem7_core.testing import KeywordSearchConformance, VectorStoreConformance
from mem7_redis import RedisVectorStore


class _OnOneServer:
    """Reopening is a new client on the same collection (a restarted process; the server keeps
    the data), and another store on it is what another process opens."""

    supports_persistence = True

    async def reopen(self, store: VectorStore) -> VectorStore:
        """A new client on the same collection (a restarted process); the server keeps the data."""
        assert isinstance(store, RedisVectorStore)
        await store.aclose()
        return RedisVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, RedisVectorStore)
        return RedisVectorStore(store.config)


class TestRedisHNSW(_OnOneServer, VectorStoreConformance, KeywordSearchConformance):
    keyword_tolerance = 1e-9  # BM25 in float64, as the reference computes it

    @pytest.fixture
    async def vector_store(self, make_store: Callable[..., Any]) -> AsyncIterator[RedisVectorStore]:
        yield make_store()


class TestRedisFlat(_OnOneServer, VectorStoreConformance):
    """The exact FLAT index (``algorithm: flat``)."""

    run_property_tests = False  # the same code paths as above; the HNSW class runs them

    @pytest.fixture
    async def vector_store(self, make_store: Callable[..., Any]) -> AsyncIterator[RedisVectorStore]:
        yield make_store(algorithm="flat", durability="server")
