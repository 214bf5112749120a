"""mem7-neo4j against the shared graph-store conformance suite, through the real ``neo4j`` driver.

Against ArcadeDB's Bolt plugin (see conftest): a database emptied before each test; persistence reopens
a new store (new driver) on the same server and database. ArcadeDB has no Neo4j vector index, so
these runs take the ``vector.similarity.cosine`` path (``vector_index="auto"`` falls back) and,
in a second class, the client-side numpy path. With ``MEM7_NEO4J_URL`` set, the suite also runs
against that real Neo4j server with the vector index required.
"""

from __future__ import annotations

import pytest

from mem7_core.models import Scope
from mem7_core.providers import GraphStore
from mem7_core.testing.graph_store import GraphStoreConformance
from mem7_neo4j import Neo4jGraphStore

DIMS = 8


def _store(**cfg: object) -> Neo4jGraphStore:
    return Neo4jGraphStore(Neo4jGraphStore.Config.model_validate(cfg))


class TestArcadeDB(GraphStoreConformance):
    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def graph_store(self, arcadedb, arcadedb_database):
        store = _store(url=arcadedb.bolt_url, username=arcadedb.username, password=arcadedb.password,
                       database=arcadedb_database)
        yield store
        await store.aclose()

    async def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, Neo4jGraphStore)
        await store.aclose()
        return Neo4jGraphStore(store.config)

    async def test_uses_server_cosine(self, graph_store: GraphStore) -> None:
        """ArcadeDB has ``vector.similarity.cosine`` (raw cosine) but no vector index."""
        assert isinstance(graph_store, Neo4jGraphStore)
        await graph_store.entity_count(Scope(user_id="u1"))
        await graph_store.search(Scope(user_id="u1"), [[1.0] + [0.0] * (DIMS - 1)], threshold=0.5, limit=1)
        assert graph_store.similarity == "function"


class TestArcadeDBClientCosine(GraphStoreConformance):
    """The numpy path (servers without ``vector.similarity.cosine``), forced on the same server."""

    dims = DIMS
    run_property_tests = False

    @pytest.fixture
    async def graph_store(self, arcadedb, arcadedb_database):
        store = _store(url=arcadedb.bolt_url, username=arcadedb.username, password=arcadedb.password,
                       database=arcadedb_database, vector_index="off")
        await store.entity_count(Scope(user_id="u1"))  # connect, then pretend the function is missing
        store._function = False
        store._similarity = "client"
        yield store
        await store.aclose()


class TestRealNeo4j(GraphStoreConformance):
    """A real Neo4j 5.11+ with the vector index required (skipped unless MEM7_NEO4J_URL is set).

    Uses (and wipes) the mem7 nodes of ``MEM7_NEO4J_DATABASE`` (default database when unset).
    """

    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def graph_store(self, real_neo4j):
        store = _store(url=real_neo4j.url, username=real_neo4j.username, password=real_neo4j.password,
                       database=real_neo4j.database, vector_index="on", dims=DIMS, index_name="mem7_conformance")
        await store.reset()
        yield store
        await store.aclose()

    async def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, Neo4jGraphStore)
        await store.aclose()
        return Neo4jGraphStore(store.config)
