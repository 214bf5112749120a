"""mem7-falkordb against the shared graph-store conformance suite, on a real FalkorDB server (see
conftest): once with FalkorDB's vector index narrowing the search, once scanning the scope.
Persistence reopens a new store (a new client) on the same server and graph."""

from __future__ import annotations

from typing import ClassVar

import pytest

from mem7_core.models import Scope
from mem7_core.providers import GraphStore
from mem7_core.testing.graph_store import GraphStoreConformance
from mem7_falkordb import FalkorDBGraphStore

DIMS = 8


class _OnFalkorDB(GraphStoreConformance):
    """The suite on a fresh graph of the session's server, with ``vector_index`` as the subclass sets."""

    dims = DIMS
    supports_persistence = True
    vector_index: ClassVar[str]
    similarity: ClassVar[str]

    @pytest.fixture
    async def graph_store(self, falkordb_server, graph_name):
        config = FalkorDBGraphStore.Config.model_validate(
            {"url": falkordb_server.url, "graph": graph_name, "vector_index": self.vector_index}
        )
        store = FalkorDBGraphStore(config)
        yield store
        await store.aclose()

    async def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, FalkorDBGraphStore)
        await store.aclose()
        return FalkorDBGraphStore(store.config)

    async def test_similarity_path(self, graph_store: GraphStore) -> None:
        assert isinstance(graph_store, FalkorDBGraphStore)
        await graph_store.search(Scope(user_id="u1"), [[1.0] + [0.0] * (DIMS - 1)], threshold=0.5, limit=1)
        assert graph_store.similarity == self.similarity


class TestFalkorDBVectorIndex(_OnFalkorDB):
    """``vector_index: on``: candidates from ``db.idx.vector.queryNodes``, scored exactly here."""

    vector_index = "on"
    similarity = "index"


class TestFalkorDBScan(_OnFalkorDB):
    """``vector_index: off``: the scope's entities scanned, ``vec.cosineDistance`` as prefilter."""

    vector_index = "off"
    similarity = "scan"
