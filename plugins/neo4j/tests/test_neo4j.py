"""mem7-neo4j beyond the conformance suite: connection failures, auth, config and environment,
the similarity paths agreeing, what is stored where, and (with MEM7_NEO4J_URL) Neo4j's vector index.

Every server here is real: ArcadeDB's Bolt plugin through the real ``neo4j`` driver (conftest),
loopback sockets that refuse or never answer, and a real Neo4j when one is named.
"""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest
from pydantic import ValidationError

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import Scope
from mem7_core.plugins import get_registry
from mem7_core.providers import Entity, GraphRelation
from mem7_neo4j import Neo4jGraphStore, resolve_connection
from mem7_neo4j._similarity import server_floor

U1, U2 = Scope(user_id="u1"), Scope(user_id="u2")
DIMS = 8


def make(**cfg: object) -> Neo4jGraphStore:
    return Neo4jGraphStore(Neo4jGraphStore.Config.model_validate(cfg))


def on_arcadedb(arcadedb, database: str, **cfg: object) -> Neo4jGraphStore:
    return make(url=arcadedb.bolt_url, username=arcadedb.username, password=arcadedb.password, database=database, **cfg)


def axis(i: int) -> list[float]:
    v = [0.0] * DIMS
    v[i] = 1.0
    return v


@pytest.fixture
def no_neo4j_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEO4J_URL", "NEO4J_URI", "NEO4J_USERNAME", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)


# ============================================================================ plugin and config
def test_registered_through_the_entry_point() -> None:
    assert get_registry().get("graph_store", "neo4j") is Neo4jGraphStore


def test_config_rejects_bad_fields() -> None:
    with pytest.raises(ValidationError, match="url"):
        make(url="http://localhost:7474")
    with pytest.raises(ValidationError, match="index_name"):
        make(index_name="x` DROP")
    with pytest.raises(ValidationError, match="vector_index"):
        make(vector_index="maybe")
    with pytest.raises(ValidationError, match="pasword"):
        make(pasword="x")
    with pytest.raises(ValidationError, match="database"):
        make(database="  ")
    assert make(embedding_model_dims=16).config.dims == 16  # mem0's name for it


def test_password_stays_out_of_reprs() -> None:
    store = make(url="bolt://db.example:7687", password="s3cret-pw")
    assert "s3cret-pw" not in repr(store.config) and "s3cret-pw" not in repr(store)


def test_connection_from_environment_and_config_wins(no_neo4j_env: None) -> None:
    env = {"NEO4J_URL": "neo4j://env-host:7687", "NEO4J_USERNAME": "envuser", "NEO4J_PASSWORD": "envpw",
           "NEO4J_DATABASE": "envdb"}
    got = resolve_connection(make().config, env)
    assert (got.url, got.username, got.password, got.database) == ("neo4j://env-host:7687", "envuser", "envpw", "envdb")
    got = resolve_connection(make(url="bolt://cfg:1", username="u", password="p", database="d").config, env)
    assert (got.url, got.username, got.password, got.database) == ("bolt://cfg:1", "u", "p", "d")
    got = resolve_connection(make().config, {"NEO4J_URI": "bolt://uri-host:7687", "NEO4J_USER": "legacy"})
    assert (got.url, got.username, got.password, got.database) == ("bolt://uri-host:7687", "legacy", None, None)
    got = resolve_connection(make().config, {})
    assert (got.url, got.username, got.password, got.database) == ("bolt://localhost:7687", "neo4j", None, None)
    with pytest.raises(ConfigError, match="NEO4J_URL"):
        resolve_connection(make().config, {"NEO4J_URL": "localhost:7687"})


def test_server_floor_units() -> None:
    # Neo4j reports (1 + cos) / 2; ArcadeDB the raw cosine. The prefilter sits a margin below.
    assert server_floor(0.5, normalized=False) == pytest.approx(0.499)
    assert server_floor(0.5, normalized=True) == pytest.approx(0.7495)
    assert server_floor(-1.0, normalized=True) < 0.0


# ============================================================================ failures
async def test_unreachable_server_fails_promptly_naming_url_and_fix(closed_port: int, no_neo4j_env: None) -> None:
    store = make(url=f"bolt://127.0.0.1:{closed_port}", password="pw", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await store.get_all(U1)
    assert time.monotonic() - started < 10  # bounded by connect_timeout, not the driver's retry budget
    msg = str(info.value)
    assert msg.startswith("[neo4j]") and f"127.0.0.1:{closed_port}" in msg and "NEO4J_URL" in msg
    assert info.value.provider == "neo4j" and info.value.retryable
    await store.aclose()


async def test_silent_server_times_out(blackhole_port: int, no_neo4j_env: None) -> None:
    store = make(url=f"bolt://127.0.0.1:{blackhole_port}", password="pw", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ProviderError, match=rf"\[neo4j\] cannot reach the server at bolt://127.0.0.1:{blackhole_port}"):
        await store.entity_count(U1)
    assert time.monotonic() - started < 10
    await store.aclose()


async def test_bad_password_is_a_config_error(arcadedb, arcadedb_database) -> None:
    store = make(url=arcadedb.bolt_url, username=arcadedb.username, password="not-the-password",
                 database=arcadedb_database)
    with pytest.raises(ConfigError) as info:
        await store.upsert(U1, [Entity("a", embedding=axis(0))], [], now="t")
    msg = str(info.value)
    assert "authentication failed" in msg and "'root'" in msg and arcadedb.bolt_url in msg and "NEO4J_PASSWORD" in msg
    assert "not-the-password" not in msg
    await store.aclose()


async def test_missing_database_is_a_config_error(arcadedb) -> None:
    store = on_arcadedb(arcadedb, "no_such_db")
    with pytest.raises(ConfigError, match="database 'no_such_db' does not exist"):
        await store.entity_count(U1)
    await store.aclose()


async def test_config_from_environment_reaches_the_server(
    arcadedb, arcadedb_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEO4J_URL", arcadedb.bolt_url)
    monkeypatch.setenv("NEO4J_USERNAME", arcadedb.username)
    monkeypatch.setenv("NEO4J_PASSWORD", arcadedb.password)
    monkeypatch.setenv("NEO4J_DATABASE", arcadedb_database)
    store = Neo4jGraphStore()
    try:
        await store.upsert(U1, [Entity("a", embedding=axis(0)), Entity("b", embedding=axis(1))],
                           [GraphRelation("a", "r", "b")], now="t1")
        assert [r.triple for r in await store.get_all(U1)] == [("a", "r", "b")]
    finally:
        await store.aclose()
    # The wrong password from the environment is refused like a configured one.
    monkeypatch.setenv("NEO4J_PASSWORD", "wrong")
    store = Neo4jGraphStore()
    with pytest.raises(ConfigError, match="authentication failed"):
        await store.entity_count(U1)
    await store.aclose()


async def test_vector_index_on_is_refused_by_a_server_without_one(arcadedb, arcadedb_database) -> None:
    store = on_arcadedb(arcadedb, arcadedb_database, vector_index="on", dims=DIMS)
    for _ in range(2):  # every call, not only the first: the store never runs without the index
        with pytest.raises(ConfigError, match="vector_index='on'"):
            await store.entity_count(U1)
    await store.aclose()
    auto = on_arcadedb(arcadedb, arcadedb_database, vector_index="auto", dims=DIMS)
    try:
        assert await auto.entity_count(U1) == 0
        assert auto.similarity == "function"  # fell back to the server's cosine function
    finally:
        await auto.aclose()


async def test_dimension_mismatch_is_a_value_error(arcadedb, arcadedb_database) -> None:
    store = on_arcadedb(arcadedb, arcadedb_database, dims=DIMS)
    try:
        with pytest.raises(ValueError, match="dims"):
            await store.upsert(U1, [Entity("a", embedding=[1.0, 0.0])], [], now="t")
        with pytest.raises(ValueError, match="dims"):
            await store.search(U1, [[1.0, 0.0]], threshold=0.5, limit=5)
        with pytest.raises(ValueError, match="one length"):
            await store.upsert(U1, [Entity("a", embedding=axis(0)), Entity("b", embedding=[1.0])], [], now="t")
        with pytest.raises(ValueError, match="finite"):
            await store.upsert(U1, [Entity("a", embedding=[math.nan] * DIMS)], [], now="t")
        assert await store.entity_count(U1) == 0
    finally:
        await store.aclose()


async def test_entity_given_twice_needs_one_embedding(arcadedb, arcadedb_database) -> None:
    store = on_arcadedb(arcadedb, arcadedb_database)
    try:
        await store.upsert(U1, [Entity("n", embedding=axis(0)), Entity("n", "Person")], [], now="t")
        assert await store.entity_count(U1) == 1
        got = arcadedb.query(arcadedb_database, "MATCH (n:Mem7Entity) RETURN n.mentions AS m, n.type AS t")
        assert got == [{"m": 2, "t": "Person"}]
    finally:
        await store.aclose()


# ============================================================================ storage model
async def test_scope_is_stored_on_nodes_and_relationships(arcadedb, arcadedb_database) -> None:
    store = on_arcadedb(arcadedb, arcadedb_database)
    try:
        for scope in (U1, U2, Scope(user_id="u1", agent_id="a")):
            await store.upsert(scope, [Entity("alice", "Person", axis(0)), Entity("bob", "Person", axis(1))],
                               [GraphRelation("alice", "knows", "bob")], now="t")
    finally:
        await store.aclose()
    nodes = arcadedb.query(
        arcadedb_database,
        "MATCH (n:Mem7Entity {name: 'alice'}) RETURN n.user_id AS u, n.agent_id AS a, n.run_id AS r, "
        "n.type AS t, n.mentions AS m ORDER BY u, a",
    )
    assert nodes == [
        {"u": "u1", "a": "", "r": "", "t": "Person", "m": 1},
        {"u": "u1", "a": "a", "r": "", "t": "Person", "m": 1},
        {"u": "u2", "a": "", "r": "", "t": "Person", "m": 1},
    ]
    rels = arcadedb.query(
        arcadedb_database,
        "MATCH (x:Mem7Entity)-[r:MEM7_RELATES]->(y:Mem7Entity) "
        "RETURN x.user_id AS xu, r.user_id AS u, r.agent_id AS a, y.user_id AS yu, y.agent_id AS ya, r.name AS n "
        "ORDER BY u, a",
    )
    assert rels == [
        {"xu": "u1", "u": "u1", "a": "", "yu": "u1", "ya": "", "n": "knows"},
        {"xu": "u1", "u": "u1", "a": "a", "yu": "u1", "ya": "a", "n": "knows"},
        {"xu": "u2", "u": "u2", "a": "", "yu": "u2", "ya": "", "n": "knows"},
    ]


async def test_similarity_paths_agree(arcadedb, arcadedb_database) -> None:
    """The server-side cosine (ArcadeDB's float32 function) and the client path give the same
    triples and scores on random data, thresholds included."""
    rng = random.Random(7)
    vecs = {f"e{i}": [rng.gauss(0, 1) for _ in range(DIMS)] for i in range(40)}
    names = list(vecs)
    rels = [GraphRelation(rng.choice(names), f"r{k % 3}", rng.choice(names)) for k in range(80)]
    server = on_arcadedb(arcadedb, arcadedb_database)
    client = on_arcadedb(arcadedb, arcadedb_database, vector_index="off")
    try:
        await server.upsert(U1, [Entity(n, embedding=v) for n, v in vecs.items()], rels, now="t")
        await client.entity_count(U1)
        client._function, client._similarity = False, "client"  # as on a server without the function
        assert server.similarity == "function"
        for threshold in (-1.0, 0.0, 0.3, 0.6, 0.9):
            queries = [[rng.gauss(0, 1) for _ in range(DIMS)] for _ in range(2)] + [vecs["e3"]]
            a = await server.search(U1, queries, threshold=threshold, limit=500)
            b = await client.search(U1, queries, threshold=threshold, limit=500)
            assert [(r.triple, r.score) for r in a] == [(r.triple, r.score) for r in b]
            assert a and all(r.score is not None and r.score >= threshold for r in a)
    finally:
        await server.aclose()
        await client.aclose()


async def test_concurrent_writers_creating_the_same_new_entities(arcadedb, arcadedb_database) -> None:
    """Twenty upserts race to create the same new entities: every write lands once, no duplicates
    (ArcadeDB reports the lost races as DeadlockDetected / ConstraintValidationFailed; retried)."""
    store = on_arcadedb(arcadedb, arcadedb_database)

    async def one(i: int) -> list[GraphRelation]:
        c = f"c{i % 3}"
        return await store.upsert(
            U1,
            [Entity("a", embedding=axis(0)), Entity("b", embedding=axis(1)), Entity(c, embedding=axis(2))],
            [GraphRelation("a", "r", "b"), GraphRelation("a", "r", c)],
            now=f"t{i:02d}",
        )

    try:
        await asyncio.gather(*(one(i) for i in range(20)))
        assert await store.entity_count(U1) == 5
        got = {r.triple: r.mentions for r in await store.get_all(U1)}
        assert got == {("a", "r", "b"): 20, ("a", "r", "c0"): 7, ("a", "r", "c1"): 7, ("a", "r", "c2"): 6}
    finally:
        await store.aclose()


async def test_reconnects_after_aclose(arcadedb, arcadedb_database) -> None:
    store = on_arcadedb(arcadedb, arcadedb_database)
    await store.upsert(U1, [Entity("a", embedding=axis(0))], [], now="t")
    await store.aclose()
    await store.aclose()  # idempotent
    assert await store.entity_count(U1) == 1
    await store.aclose()


# ============================================================================ real Neo4j only
async def test_vector_index_is_built_and_used(real_neo4j) -> None:
    store = make(url=real_neo4j.url, username=real_neo4j.username, password=real_neo4j.password,
                 database=real_neo4j.database, vector_index="on", dims=DIMS, index_name="mem7_test_index")
    try:
        await store.reset()
        assert store.similarity == "index"
        await store.upsert(U1, [Entity("a", embedding=axis(0)), Entity("b", embedding=axis(1))],
                           [GraphRelation("a", "r", "b")], now="t")
        await store.upsert(U2, [Entity("a", embedding=axis(0)), Entity("c", embedding=axis(2))],
                           [GraphRelation("a", "s", "c")], now="t")
        got = await store.search(U1, [axis(0)], threshold=0.9, limit=10)
        assert [(r.triple, r.score) for r in got] == [(("a", "r", "b"), 1.0)]
    finally:
        await store.reset()
        await store.aclose()


async def test_vector_index_saturated_falls_back_to_exact(real_neo4j) -> None:
    """With ``index_candidates`` smaller than the matches (other users' entities crowd the index),
    the search is redone exactly and still returns every match in scope."""
    store = make(url=real_neo4j.url, username=real_neo4j.username, password=real_neo4j.password,
                 database=real_neo4j.database, vector_index="on", dims=DIMS, index_name="mem7_test_index",
                 index_candidates=2)
    try:
        await store.reset()
        for user in ("u2", "u3", "u4"):
            await store.upsert(Scope(user_id=user), [Entity("x", embedding=axis(0)), Entity("y", embedding=axis(1))],
                               [GraphRelation("x", "r", "y")], now="t")
        await store.upsert(U1, [Entity("a", embedding=axis(0)), Entity("b", embedding=axis(1))],
                           [GraphRelation("a", "r", "b")], now="t")
        got = await store.search(U1, [axis(0)], threshold=0.9, limit=10)
        assert [r.triple for r in got] == [("a", "r", "b")]
    finally:
        await store.reset()
        await store.aclose()
