"""mem7-memgraph beyond the conformance suite: the plugin and its config, the dialect the server
decides, failures as mem7 errors, which errors are retried, and the exact text of the statements
only Memgraph takes (no Memgraph server runs here; see the README)."""

from __future__ import annotations

import pytest
from neo4j.exceptions import Neo4jError
from pydantic import ValidationError

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import Scope
from mem7_core.plugins import get_registry
from mem7_core.providers import Entity, GraphRelation
from mem7_memgraph import MemgraphGraphStore
from mem7_memgraph import _cypher as cy
from mem7_memgraph._errors import is_write_conflict, map_error
from mem7_memgraph.store import resolve_url

U1 = Scope(user_id="u1")
DIMS = 4


def make(**cfg: object) -> MemgraphGraphStore:
    return MemgraphGraphStore(MemgraphGraphStore.Config.model_validate(cfg))


def on_arcadedb(arcadedb, database: str, **cfg: object) -> MemgraphGraphStore:
    return make(url=arcadedb.bolt_url, username=arcadedb.username, password=arcadedb.password, database=database, **cfg)


def axis(i: int) -> list[float]:
    v = [0.0] * DIMS
    v[i] = 1.0
    return v


# ============================================================================ plugin and config
def test_registered_through_the_entry_point() -> None:
    assert get_registry().get("graph_store", "memgraph") is MemgraphGraphStore


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"url": "http://localhost:7444"}, "url"),
        ({"index_name": "x DROP"}, "index_name"),
        ({"dialect": "neo4j"}, "dialect"),
        ({"vector_index": "maybe"}, "vector_index"),
        ({"username": " "}, "username"),
        ({"index_capacity": 0}, "index_capacity"),
        ({"urll": "bolt://x:1"}, "urll"),
    ],
)
def test_config_rejects_bad_fields_naming_them(cfg: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        make(**cfg)


def test_dims_takes_mem0s_name() -> None:
    assert make(embedding_model_dims=384).config.dims == 384


def test_url_from_config_then_environment_then_default() -> None:
    assert resolve_url(make(url="bolt://cfg:1").config, {"MEMGRAPH_URL": "bolt://env:2"}) == "bolt://cfg:1"
    assert resolve_url(make().config, {"MEMGRAPH_URL": "bolt://env:2"}) == "bolt://env:2"
    assert resolve_url(make().config, {}) == "bolt://localhost:7687"
    with pytest.raises(ConfigError, match=r"\[memgraph\] MEMGRAPH_URL must look like bolt://host:7687"):
        resolve_url(make().config, {"MEMGRAPH_URL": "localhost"})


# ============================================================================ dialect and server
async def test_auto_dialect_on_a_server_that_is_not_memgraph_is_portable_cypher(arcadedb, database) -> None:
    store = on_arcadedb(arcadedb, database)
    try:
        assert await store.entity_count(U1) == 0
        assert store.dialect == "cypher"
        await store.upsert(U1, [Entity("a", embedding=axis(0)), Entity("b", embedding=axis(1))],
                           [GraphRelation("a", "r", "b")], now="t")  # fmt: skip
        hits = await store.search(U1, [axis(0)], threshold=0.9, limit=5)
        assert [(h.triple, h.score) for h in hits] == [(("a", "r", "b"), 1.0)]
        assert store.similarity == "client"
        # The schema in Neo4j 5 syntax was taken: the identity index and the scope index.
        names = sorted(str(i["name"]) for i in arcadedb.query(database, "SHOW INDEXES"))
        assert names == ["Mem7Entity[user_id,agent_id,run_id,name]", "mem7_entity_user"]
    finally:
        await store.aclose()


async def test_dialect_memgraph_refuses_another_server(arcadedb, database) -> None:
    store = on_arcadedb(arcadedb, database, dialect="memgraph")
    with pytest.raises(ConfigError, match=r"dialect='memgraph' but the server at bolt://127.0.0.1:\d+ is not Memgraph"):
        await store.entity_count(U1)
    await store.aclose()


async def test_vector_index_on_needs_memgraph(arcadedb, database) -> None:
    store = on_arcadedb(arcadedb, database, vector_index="on")
    with pytest.raises(ConfigError, match=r"vector_index='on' but .* has no vector search \(dialect cypher\)"):
        await store.search(U1, [axis(0)], threshold=0.5, limit=1)
    await store.aclose()


async def test_bad_password_is_a_config_error(arcadedb, database) -> None:
    store = make(url=arcadedb.bolt_url, username=arcadedb.username, password="wrong", database=database)
    with pytest.raises(ConfigError, match=r"\[memgraph\] authentication failed for user 'root'.*MEMGRAPH_PASSWORD"):
        await store.entity_count(U1)
    await store.aclose()


async def test_unreachable_server_is_a_retryable_provider_error(closed_port: int) -> None:
    store = make(url=f"bolt://127.0.0.1:{closed_port}", connect_timeout=2)
    with pytest.raises(ProviderError, match=rf"cannot reach the server at bolt://127.0.0.1:{closed_port}") as info:
        await store.entity_count(U1)
    assert info.value.retryable
    await store.aclose()


async def test_a_failed_check_writes_nothing(arcadedb, database) -> None:
    store = on_arcadedb(arcadedb, database)
    try:
        with pytest.raises(ValueError, match=r"relation endpoints \['ghost'\]"):
            await store.upsert(U1, [Entity("a", embedding=axis(0))], [GraphRelation("a", "r", "ghost")], now="t")
        assert await store.entity_count(U1) == 0
        assert arcadedb.query(database, "MATCH (n) RETURN count(n) AS c") == [{"c": 0}]
    finally:
        await store.aclose()


# ============================================================================ retries
def _error(code: str, message: str) -> Neo4jError:
    return Neo4jError._hydrate_neo4j(code=code, message=message)


def test_memgraph_conflicts_are_retried_and_other_errors_are_not() -> None:
    conflict = _error(
        "Memgraph.TransientError.MemgraphError.MemgraphError",
        "Cannot resolve conflicting transactions. You can retry this transaction when the conflicting "
        "transaction is finished",
    )
    unique = _error(
        "Memgraph.ClientError.MemgraphError.MemgraphError",
        "Unable to commit due to unique constraint violation on :Mem7Entity(user_id, agent_id, run_id, name)",
    )
    syntax = _error("Memgraph.ClientError.MemgraphError.MemgraphError", "line 1:1 mismatched input 'MATC'")
    assert is_write_conflict(conflict) and is_write_conflict(unique)
    assert not is_write_conflict(syntax)
    mapped = map_error(syntax, url="bolt://h:7687", username=None)
    assert isinstance(mapped, ProviderError) and not mapped.retryable
    assert "[memgraph] query failed at bolt://h:7687: Memgraph.ClientError" in str(mapped)
    assert map_error(conflict, url="bolt://h:7687", username=None).retryable  # type: ignore[attr-defined]


# ============================================================================ Memgraph-only text
def test_memgraph_schema_statements() -> None:
    assert cy.CREATE_INDEXES == ("CREATE INDEX ON :Mem7Entity(user_id)", "CREATE INDEX ON :Mem7Entity(name)")
    assert cy.CREATE_CONSTRAINT == (
        "CREATE CONSTRAINT ON (n:Mem7Entity) ASSERT n.user_id, n.agent_id, n.run_id, n.name IS UNIQUE"
    )
    assert ((cy.CREATE_CONSTRAINT,), (cy.CREATE_INDEXES[0],), (cy.CREATE_INDEXES[1],)) == cy.MEMGRAPH_SCHEMA
    assert cy.SHOW_VECTOR_INDEXES == "SHOW VECTOR INDEX INFO"
    assert cy.create_vector_index("mem7_entity_embedding", 384, 1000) == (
        "CREATE VECTOR INDEX mem7_entity_embedding ON :Mem7Entity(embedding) "
        'WITH CONFIG {"dimension": 384, "capacity": 1000, "metric": "cos"}'
    )
    with pytest.raises(ValueError, match="index_name"):
        cy.create_vector_index("x; DROP", 3, 10)
    with pytest.raises(ValueError, match="dims must be a positive integer"):
        cy.create_vector_index("i", 0, 10)


def test_memgraph_probe_and_vector_search_statements() -> None:
    assert cy.PROBE_MEMGRAPH == (
        "CALL mg.procedures() YIELD name WITH name WHERE name STARTS WITH 'vector_search.' RETURN count(name) AS n"
    )
    text = " ".join(cy.candidates_by_index("n.user_id = $s_user_id").split())
    assert text == (
        "UNWIND range(0, size($queries) - 1) AS qi "
        "CALL vector_search.search($index, $k, $queries[qi]) YIELD node, similarity "
        "WITH qi, node AS n, similarity AS score "
        "RETURN qi, score, (n.user_id = $s_user_id) AS in_scope, "
        "n.user_id AS user_id, n.agent_id AS agent_id, n.run_id AS run_id, n.name AS name, "
        "CASE WHEN (n.user_id = $s_user_id) AND score >= $floor THEN n.embedding END AS embedding"
    )
    assert "id(r) AS rid" in cy.ONE_HOP and "elementId" not in cy.ONE_HOP
    for statement in (cy.ONE_HOP, cy.candidates_by_index("true"), *cy.CREATE_INDEXES):
        assert "apoc." not in statement and "vector.similarity" not in statement and "awaitIndex" not in statement
