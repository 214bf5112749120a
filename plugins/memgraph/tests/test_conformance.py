"""mem7-memgraph against the shared graph-store conformance suite, through the real ``neo4j``
driver, on ArcadeDB's Bolt server (see conftest): ``dialect: auto`` finds it is not Memgraph and
sends the portable statements only; search compares the scope's embeddings in the client.
Persistence reopens a new store (new driver) on the same server and database."""

from __future__ import annotations

import pytest

from mem7_core.providers import GraphStore
from mem7_core.testing.graph_store import GraphStoreConformance
from mem7_memgraph import MemgraphGraphStore


class TestPortableCypherOnArcadeDB(GraphStoreConformance):
    dims = 8
    supports_persistence = True

    @pytest.fixture
    async def graph_store(self, arcadedb, database):
        cfg = {"url": arcadedb.bolt_url, "username": arcadedb.username, "password": arcadedb.password}
        store = MemgraphGraphStore(MemgraphGraphStore.Config.model_validate({**cfg, "database": database}))
        yield store
        await store.aclose()

    async def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, MemgraphGraphStore)
        await store.aclose()
        return MemgraphGraphStore(store.config)
