"""mem7-pgvector specifics: config errors, hostile input, concurrency, failures, plans, the engine."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import multiprocessing
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import ValidationError

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import evaluate, parse_filters
from mem7_core.ids import iso
from mem7_core.models import Scope, VectorRecord
from mem7_core.plugins import PluginRegistry
from mem7_core.testing.history import make_event, write_events_worker
from mem7_core.testing.vector_store import FILTER_CASES, FILTER_CORPUS, HOSTILE_STRINGS
from mem7_pgvector import PgHistoryStore, PgVectorStore
from mem7_pgvector.filters import Dialect

DIMS = 4


def vec(i: int, dims: int = DIMS) -> list[float]:
    v = [0.0] * dims
    v[i % dims] = 1.0
    v[(i + 1) % dims] = 0.1 * (1 + i % 7)
    return v


def rec(rid: str, i: int = 0, **payload: Any) -> VectorRecord:
    body = {"data": f"m {rid}", "created_at": f"2024-01-01T00:00:{i % 60:02d}", "user_id": "u1", **payload}
    return VectorRecord(id=rid, vector=vec(i), payload=body)


@pytest.fixture
async def store(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    yield s
    await s.aclose()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


# ============================================================================ registration
def test_registered_under_both_kinds():
    names = {ep.name: ep.value for ep in entry_points(group="mem7")}
    assert names.get("pgvector") == "mem7_pgvector.plugin"
    registry = PluginRegistry()
    for name in ("pgvector", "postgres", "postgresql"):
        assert registry.get("vector_store", name) is PgVectorStore
        assert registry.get("history_store", name) is PgHistoryStore
    caps = PgVectorStore.capabilities
    assert caps.persistent and caps.logical and caps.keyword_search
    assert {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains", "exists"} <= set(caps.filter_operators)


# ============================================================================ config errors
@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"collection_name": "bad name; DROP TABLE x"}, "collection_name"),
        ({"collection_name": "1starts_with_digit"}, "collection_name"),
        ({"collection_name": "x" * 49}, "collection_name"),
        ({"collection_name": 'quo"te'}, "collection_name"),
        ({"dims": 0}, "dims"),
        ({"embedding_model_dims": -3}, "embedding_model_dims"),
        ({"dims": 4096}, "dims"),  # above HNSW's 2000 with hnsw on
        ({"hnsw_m": 1}, "hnsw_m"),
        ({"hnsw_m": 32, "hnsw_ef_construction": 40}, "hnsw_ef_construction"),
        ({"hnsw_ef_search": 0}, "hnsw_ef_search"),
        ({"hnsw_iterative_scan": "sometimes"}, "hnsw_iterative_scan"),
        ({"pool_min_size": 5, "pool_max_size": 2}, "pool_min_size"),
        ({"maxconn": 0}, "maxconn"),
        ({"port": 70000}, "port"),
        ({"sslmode": "maybe"}, "sslmode"),
        ({"dsn": "host=127.0.0.1 port=5432 password=hunter2 bogus_option=1"}, "dsn"),
        ({"connection_string": "   "}, "connection_string"),
        ({"statement_timeout_ms": -1}, "statement_timeout_ms"),
        ({"pool_timeout": 0}, "pool_timeout"),
        ({"max_retries": 100}, "max_retries"),
        ({"db_schema": "public; --"}, "db_schema"),
        ({"diskann": True}, "diskann"),
        ({"colection_name": "typo"}, "colection_name"),
    ],
)
def test_vector_config_errors_name_the_field(section: dict[str, Any], field: str):
    with pytest.raises(ValidationError) as info:
        PgVectorStore.Config.model_validate(section)
    text = str(info.value)
    assert field in text, text
    assert "hunter2" not in text


def test_history_config_errors_name_the_field():
    for section, field in (
        ({"table_name": "history; DROP"}, "table_name"),
        ({"pool_min_size": 3, "pool_max_size": 1}, "pool_min_size"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"collection_name": "x"}, "collection_name"),  # the vector store's key: unknown here
    ):
        with pytest.raises(ValidationError) as info:
            PgHistoryStore.Config.model_validate(section)
        assert field in str(info.value), section


def test_config_aliases_and_conninfo():
    cfg = PgVectorStore.Config.model_validate(
        {
            "connection_string": "postgresql://alice:s3cret@db.example:6543/mem?sslmode=require",
            "embedding_model_dims": 384,
            "minconn": 2,
            "maxconn": 7,
            "dbname": "other",
        }
    )
    assert cfg.dims == 384 and cfg.pool_min_size == 2 and cfg.pool_max_size == 7
    parts = psycopg.conninfo.conninfo_to_dict(cfg.conninfo())
    assert parts["host"] == "db.example" and parts["port"] == "6543" and parts["user"] == "alice"
    assert parts["dbname"] == "other"  # keyword fields override the dsn's
    assert parts["sslmode"] == "require" and parts["connect_timeout"] == "10"
    assert cfg.where() == "db.example:6543/other"
    assert "s3cret" not in repr(cfg) and "s3cret" not in str(cfg.model_dump())
    split = PgVectorStore.Config(host="h", port=5433, user="u", password="pw", dbname="d")
    assert psycopg.conninfo.conninfo_to_dict(split.conninfo())["password"] == "pw"


def test_engine_reports_config_errors_as_config_error(pg_dsn: str):
    from mem7_core import AsyncMemory

    config = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 16}},
        "vector_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "collection_name": "no good"}},
    }
    with pytest.raises(ConfigError) as info:
        AsyncMemory(config)
    assert "vector_store.config.collection_name" in str(info.value)
    config["vector_store"] = {"provider": "pgvector", "config": {"dsn": pg_dsn}}
    config["history_store"] = {"provider": "postgres", "config": {"dsn": pg_dsn, "pool_max_size": 0}}
    with pytest.raises(ConfigError) as info:
        AsyncMemory(config)
    assert "history_store.config.pool_max_size" in str(info.value)


async def test_existing_table_with_other_dims_is_a_config_error(pg_config: Any, table_name: str):
    first = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    await first.insert([rec("a")])
    await first.aclose()
    other = PgVectorStore.from_config(pg_config(collection_name=table_name, embedding_model_dims=DIMS + 1))
    with pytest.raises(ConfigError) as info:
        await other.count(scope=Scope())
    assert "dims (embedding_model_dims)" in str(info.value) and str(DIMS) in str(info.value)
    await other.aclose()


async def test_foreign_table_is_a_config_error(pg_config: Any, table_name: str, pg_admin: Any):
    pg_admin.execute(sql.SQL("CREATE TABLE {} (id int, stuff text)").format(sql.Identifier(table_name)))
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    with pytest.raises(ConfigError, match="collection_name"):
        await s.list(scope=Scope())
    await s.aclose()


# ============================================================================ hostile input
HOSTILE_KEYS = [
    "%s", "%(x)s", "$1", "?", "{}", "{0}", "a->b", "a->>'b'", "#>>", "'; DROP TABLE x; --",
    'dq"uote', "back\\slash", "%%", "naïve Straße 🚀", " ",
]


async def test_hostile_keys_values_and_ids_are_literal(store: PgVectorStore, pg_admin: Any, table_name: str):
    strings = list(dict.fromkeys(HOSTILE_STRINGS + HOSTILE_KEYS))
    recs = [
        VectorRecord(
            id=f"id {s}",
            vector=vec(i),
            payload={"data": s, "created_at": f"t{i:03d}", "user_id": "u1", "v": s, s: s, "list": [s, i]},
        )
        for i, s in enumerate(strings)
    ]
    await store.insert(recs)
    got = await store.get([r.id for r in recs])
    assert [g.payload for g in got] == [r.payload for r in recs]
    u1 = Scope(user_id="u1")
    for s in strings:
        for filters in (
            {s: s},
            {s: "*"},
            {"v": s},
            {"v": {"in": [s, "zzz"]}},
            {"v": {"nin": [s]}},
            {"v": {"ne": s}},
            {"v": {"gte": s, "lte": s}},
            {"v": {"contains": s}},
            {"v": {"icontains": s}},
            {"list": {"contains": s}},
            {"list": {"icontains": s}},
            {"OR": [{s: {"eq": s}}, {"NOT": [{s: "*"}]}]},
        ):
            node = parse_filters(filters)
            want = [r.id for r in recs if evaluate(node, r.payload)]
            assert [r.id for r in await store.list(scope=u1, filters=node)] == want, filters
            hits = await store.search(vec(0), scope=u1, limit=100, filters=node)
            assert sorted(h.id for h in hits) == sorted(want), filters
        assert [r.id for r in await store.list(scope=Scope(user_id=s))] == []
    await store.update(f"id {strings[0]}", payload={**recs[0].payload, "extra": "' OR 1=1"})
    await store.delete([f"id {s}" for s in strings[:5]])
    assert await store.count(scope=u1) == len(strings) - 5
    # The table is still there, and nothing else was touched.
    assert pg_admin.execute("SELECT to_regclass(%s) IS NOT NULL", [table_name]).fetchone()[0]


async def test_unstorable_values_are_value_errors(store: PgVectorStore):
    with pytest.raises(ValueError, match="NUL"):
        await store.insert([rec("nul", data="a\x00b")])
    with pytest.raises(ValueError, match="NUL"):
        await store.insert([rec("nul\x00id")])
    with pytest.raises(ValueError, match="finite"):
        await store.insert([rec("nan", n=float("nan"))])
    with pytest.raises(TypeError, match="keys must be strings"):
        await store.insert([VectorRecord(id="k", vector=vec(0), payload={1: "x"})])  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="dims"):
        await store.insert([VectorRecord(id="d", vector=[1.0] * (DIMS + 1), payload={})])
    with pytest.raises(ValueError, match="finite"):
        await store.search([math.inf] * DIMS, scope=Scope(), limit=1)
    with pytest.raises(ValueError, match="no vector"):
        await store.insert([VectorRecord(id="nv", vector=None, payload={})])
    assert await store.count(scope=Scope()) == 0


async def test_numbers_compare_and_round_trip_like_python(store: PgVectorStore):
    values: list[Any] = [1, 1.0, -0.0, 0, 2.5, 1e16, 10**16, 2.0**60, 2**60, 2**60 + 1, 1e20, 1e-7, 0.1, 3, 10**30, True]
    recs = [rec(f"n{i}", i, n=v) for i, v in enumerate(values)]
    await store.insert(recs)
    got = await store.get([r.id for r in recs])
    for want, have in zip(values, got, strict=True):
        assert have.payload["n"] == want and type(have.payload["n"]) is type(want), (want, have.payload["n"])
    probes: list[Any] = [1, 1.0, 0, -0.0, 0.1, 1e16, 10**16, 2.0**60, 2**60, 2**60 + 1, 1e20, 10**30, 1e-7, True, 2.4999]
    for probe in probes:
        for op in ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains"):
            if op in ("gt", "gte", "lt", "lte") and isinstance(probe, bool):
                continue
            filters = {"n": {op: [probe] if op in ("in", "nin") else probe}}
            node = parse_filters(filters)
            want = [r.id for r in recs if evaluate(node, r.payload)]
            got_ids = [r.id for r in await store.list(scope=Scope(user_id="u1"), filters=node)]
            assert sorted(got_ids) == sorted(want), filters


async def test_fallback_paths_match_reference(pg_config: Any, table_name: str):
    """Conditions SQL cannot express exactly (icontains without casefold, eq on lists and dicts)
    are evaluated by the store itself: still the reference answers, in the right order."""
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    await s.count(scope=Scope())  # bootstrap
    s._dialect = Dialect(casefold=False)  # as on PostgreSQL < 18
    corpus = [*FILTER_CORPUS, {"cat": "w", "tags": ["a", "b"], "obj": {"k": [1, True]}}, {"obj": {"k": [True, 1]}}]
    recs = [rec(f"fb-{i:02d}", i, **meta) for i, meta in enumerate(corpus)]
    await s.insert(recs)
    cases = [f for name, f in FILTER_CASES if "icontains" in name] + [
        {"tags": {"eq": ["a", "b"]}},
        {"tags": {"ne": ["a", "b"]}},
        {"tags": {"in": [["A"], "a"]}},
        {"tags": {"nin": [[]]}},
        {"obj": {"eq": {"k": [1, 1]}}},  # Python: [1, True] == [1, 1]
        {"cat": "x", "tags": {"eq": ["a", "b"]}},  # AND: one part in SQL, one in Python
        {"OR": [{"cat": "z"}, {"s": {"icontains": "BAN"}}]},
    ]
    u1 = Scope(user_id="u1")
    for filters in cases:
        node = parse_filters(filters)
        want = [r.id for r in recs if evaluate(node, r.payload)]
        assert [r.id for r in await s.list(scope=u1, filters=node)] == want, filters
        if want:
            assert [r.id for r in await s.list(scope=u1, filters=node, limit=1)] == want[:1], filters
        hits = await s.search(vec(1), scope=u1, limit=len(recs), filters=node)
        assert sorted(h.id for h in hits) == sorted(want), filters
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    await s.aclose()


# ============================================================================ concurrency
async def test_concurrent_writes_and_reads_through_the_pool(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, pool_max_size=4))
    n = 120

    async def writer(i: int) -> None:
        await s.insert([rec(f"c{i:03d}", i, user_id=f"u{i % 3}", n=i)])
        if i % 4 == 0:
            await s.update(f"c{i:03d}", payload={"data": "updated", "created_at": "z", "user_id": f"u{i % 3}", "n": -i})
        if i % 10 == 0:
            await s.delete([f"c{i:03d}"])

    async def reader(i: int) -> int:
        await s.search(vec(i), scope=Scope(user_id=f"u{i % 3}"), limit=5, filters=parse_filters({"n": {"gte": 0}}))
        return len(await s.list(scope=Scope(user_id=f"u{i % 3}"), limit=10))

    results = await asyncio.gather(*(writer(i) for i in range(n)), *(reader(i) for i in range(40)))
    assert all(r is None or 0 <= r <= 10 for r in results)
    alive = [i for i in range(n) if i % 10]
    assert await s.count(scope=Scope()) == len(alive)
    got = {r.id: r.payload for r in await s.get([f"c{i:03d}" for i in range(n)])}
    assert sorted(got) == [f"c{i:03d}" for i in alive]
    assert all(got[f"c{i:03d}"]["n"] == (-i if i % 4 == 0 else i) for i in alive)
    await s.aclose()


async def test_two_instances_create_the_table_once(pg_config: Any, table_name: str):
    """No dims configured, two instances insert first at once: one table, both batches in it."""
    a = PgVectorStore.from_config(pg_config(collection_name=table_name))
    b = PgVectorStore.from_config(pg_config(collection_name=table_name))
    reader = PgVectorStore.from_config(pg_config(collection_name=table_name))
    assert await reader.list(scope=Scope()) == []  # no table yet: empty, not an error
    await asyncio.gather(a.insert([rec(f"a{i}", i) for i in range(10)]), b.insert([rec(f"b{i}", i) for i in range(10)]))
    assert a.dims == b.dims == DIMS
    assert await reader.count(scope=Scope(user_id="u1")) == 20  # sees the table created since
    assert reader.dims == DIMS
    with pytest.raises(ValueError, match="dims"):
        await reader.insert([VectorRecord(id="x", vector=[1.0] * 3, payload={})])
    for s in (a, b, reader):
        await s.aclose()


def test_history_from_several_processes(pg_config: Any, table_name: str):
    """Separate processes (as separate deployments' instances) write one history table."""
    config = pg_config(table_name=table_name)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=write_events_worker, args=("mem7_pgvector:PgHistoryStore", config, "shared", 15, f"w{k}"))
        for k in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    async def check() -> None:
        store = PgHistoryStore.from_config(config)
        events = await store.get("shared")
        assert len(events) == 45
        for k in range(3):
            mine = [e.id for e in events if e.actor_id == f"w{k}"]
            assert mine == [f"w{k}-{i}" for i in range(15)]  # each writer's events in its order
        await store.aclose()

    asyncio.run(check())


# ============================================================================ batching
async def test_copy_path_for_large_batches(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, copy_threshold=50))
    recs = [rec(f"bulk{i:04d}", i, user_id=f"u{i % 2}", n=i, text="tab\there, 'quote' \\ \"dq\"") for i in range(400)]
    recs.append(rec("bulk0007", 7, user_id="u1", n=-7))  # a duplicate id: the last one wins
    await s.insert(recs)
    assert await s.count(scope=Scope()) == 400
    seven, eight = await s.get(["bulk0007", "bulk0008"])
    assert seven.payload["n"] == -7 and "text" not in seven.payload
    assert eight.payload["text"] == "tab\there, 'quote' \\ \"dq\"" and eight.vector == pytest.approx(vec(8))
    assert await s.count(scope=Scope(user_id="u0")) == 200
    await s.insert(recs[:60])  # upsert through COPY again: no duplicates
    assert await s.count(scope=Scope()) == 400
    (hit,) = await s.search(vec(3), scope=Scope(user_id="u1"), limit=1)
    assert hit.score == pytest.approx(1.0, abs=1e-3)
    await s.aclose()


async def test_history_copy_batch_is_atomic(pg_config: Any, table_name: str):
    h = PgHistoryStore.from_config(pg_config(table_name=table_name))
    kept = make_event("m", new="kept")
    await h.add_events([kept])
    batch = [make_event("m", new=str(i)) for i in range(200)] + [make_event("m", id=kept.id, new="clash")]
    with pytest.raises(ProviderError) as info:
        await h.add_events(batch)
    assert info.value.provider == "history_store:pgvector"
    assert [e.id for e in await h.get("m")] == [kept.id]
    await h.aclose()


async def test_history_retry_after_an_ambiguous_commit_is_not_a_duplicate(pg_config: Any, table_name: str):
    """A retry after the connection dropped around COMMIT finds the batch written and stops."""
    h = PgHistoryStore.from_config(pg_config(table_name=table_name))
    events = [make_event("amb", new=str(i)) for i in range(3)]
    original = h._run

    async def run_twice(what: str, fn: Any) -> Any:
        await original(what, fn)  # "committed, but the acknowledgement was lost"
        return await original(what, fn)  # the retry

    h._run = run_twice  # type: ignore[method-assign]
    await h.add_events(events)
    h._run = original  # type: ignore[method-assign]
    assert [e.id for e in await h.get("amb")] == [e.id for e in events]
    await h.aclose()


# ============================================================================ failures
async def test_server_down_is_a_provider_error_after_bounded_retries(caplog: pytest.LogCaptureFixture):
    port = _closed_port()
    cfg = {"host": "127.0.0.1", "port": port, "user": "postgres", "dbname": "postgres",
           "connect_timeout": 2, "max_retries": 2, "retry_backoff": 0.05, "pool_timeout": 1}
    caplog.set_level(logging.WARNING, logger="mem7.pgvector")
    for store, label in ((PgVectorStore.from_config({**cfg, "dims": DIMS}), "pgvector"),
                         (PgHistoryStore.from_config(cfg), "history_store:pgvector")):
        caplog.clear()
        start = time.monotonic()
        with pytest.raises(ProviderError) as info:
            if isinstance(store, PgVectorStore):
                await store.search(vec(0), scope=Scope(user_id="u1"), limit=3)
            else:
                await store.get("m")
        elapsed = time.monotonic() - start
        assert elapsed < 10, elapsed
        err = info.value
        assert err.provider == label and err.retryable
        assert f"127.0.0.1:{port}" in str(err) and "after 3 attempts" in str(err), str(err)
        assert str(err).startswith(f"[{label}]")
        assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 2
        await store.aclose()


class _Proxy:
    """A loopback TCP relay to the test server that can be cut and restored (server down / up)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.AbstractServer | None = None
        self.links: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for link in self.links:
            link.transport.abort()
        self.links.clear()
        await self.server.wait_closed()


async def test_server_down_then_back(pg_dsn: str, table_name: str):
    """Connections cut and the port closed: a bounded ProviderError; restored: the same store works."""
    proxy = _Proxy(int(psycopg.conninfo.conninfo_to_dict(pg_dsn)["port"]))
    await proxy.start()
    s = PgVectorStore.from_config(
        {"host": "127.0.0.1", "port": proxy.port, "user": "postgres", "dbname": "postgres", "collection_name": table_name,
         "dims": DIMS, "connect_timeout": 2, "pool_timeout": 1, "max_retries": 2, "retry_backoff": 0.05}
    )
    try:
        await s.insert([rec("a", 0)])
        await proxy.stop()
        start = time.monotonic()
        with pytest.raises(ProviderError) as info:
            await s.count(scope=Scope())
        assert time.monotonic() - start < 8
        assert info.value.retryable and "refused" in str(info.value).lower(), str(info.value)
        await proxy.start()  # same port
        assert await s.count(scope=Scope()) == 1
        await s.insert([rec("b", 1)])
        assert [r.id for r in await s.list(scope=Scope(user_id="u1"))] == ["a", "b"]
    finally:
        await s.aclose()
        if proxy.server is not None and proxy.server.is_serving():
            await proxy.stop()


async def test_wrong_database_is_a_clear_provider_error(pg_config: Any):
    s = PgHistoryStore.from_config(pg_config(dbname="no_such_db", max_retries=0))
    with pytest.raises(ProviderError, match="dbname"):
        await s.get("m")
    await s.aclose()


async def test_dropped_connections_are_retried_transparently(pg_config: Any, table_name: str, pg_admin: Any):
    app = f"mem7-test-{uuid.uuid4().hex[:8]}"
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, application_name=app, pool_min_size=2))
    await s.insert([rec("a", 0)])
    killed = pg_admin.execute(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s) t",
        [app],
    ).fetchone()[0]
    assert killed >= 1
    assert [r.id for r in await s.list(scope=Scope(user_id="u1"))] == ["a"]
    await s.insert([rec("b", 1)])
    assert await s.count(scope=Scope(user_id="u1")) == 2
    await s.aclose()


async def test_statement_timeout_is_a_fast_provider_error(pg_config: Any, table_name: str, pg_dsn: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, statement_timeout_ms=300))
    await s.insert([rec("a", 0)])
    with psycopg.connect(pg_dsn) as locker:  # holds an exclusive lock until the block ends
        locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table_name)))
        start = time.monotonic()
        with pytest.raises(ProviderError, match="statement_timeout_ms=300") as info:
            await s.count(scope=Scope())
        assert time.monotonic() - start < 3  # cancelled once, not retried
        assert info.value.retryable
        locker.rollback()
    assert await s.count(scope=Scope()) == 1
    await s.aclose()


async def test_pool_exhaustion_is_a_provider_error(pg_config: Any, table_name: str, pg_dsn: str):
    s = PgVectorStore.from_config(
        pg_config(collection_name=table_name, dims=DIMS, pool_min_size=1, pool_max_size=1, pool_timeout=0.3, max_retries=1)
    )
    await s.insert([rec("a", 0)])
    with psycopg.connect(pg_dsn) as locker:
        locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table_name)))
        blocked = asyncio.create_task(s.count(scope=Scope()))  # holds the only connection, waiting
        await asyncio.sleep(0.2)
        with pytest.raises(ProviderError, match=r"pool_timeout=0\.3s") as info:
            await s.count(scope=Scope())
        assert "busy" in str(info.value) and info.value.retryable
        locker.rollback()
    assert await blocked == 1
    assert await s.count(scope=Scope()) == 1
    await s.aclose()


# ============================================================================ plans, modes, misc
async def _explain(s: PgVectorStore, filters: dict[str, Any] | None, settings: str = "") -> str:
    pool = s._pool
    assert pool is not None
    async with pool.connection() as conn, conn.transaction():
        for setting in filter(None, settings.split(";")):
            await conn.execute(setting)
        select, params, residual = s._search_sql(vec(0), Scope(user_id="u1"), parse_filters(filters))
        assert residual is None
        cur = await conn.execute(sql.SQL("EXPLAIN {} LIMIT 5").format(select), params)
        return "\n".join(r[0] for r in await cur.fetchall())


async def test_search_can_use_the_hnsw_index_and_exact_mode_never_does(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    await s.insert([rec(f"p{i}", i, n=i) for i in range(50)])
    force = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
    for filters in (None, {"n": {"gte": 3}}, {"OR": [{"s": {"icontains": "x"}}, {"NOT": [{"n": "*"}]}]}):
        assert f"{table_name}_hnsw_idx" in await _explain(s, filters, force), filters
    exact = PgVectorStore.from_config(pg_config(collection_name=table_name, exact_search=True))
    await exact.count(scope=Scope())
    assert "hnsw" not in await _explain(exact, {"n": {"gte": 3}}, force)
    pool = s._pool
    assert pool is not None
    async with pool.connection() as conn:  # the session settings every pooled connection gets
        await conn.execute("SELECT '[1,2,3]'::vector")  # the library is loaded: real settings now
        shown = {}
        for name in ("hnsw.ef_search", "hnsw.iterative_scan", "statement_timeout"):
            shown[name] = (await (await conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))).fetchone())[0]
    assert shown == {"hnsw.ef_search": "100", "hnsw.iterative_scan": "strict_order", "statement_timeout": "30s"}
    want = [h.id for h in await s.search(vec(5), scope=Scope(user_id="u1"), limit=7)]
    assert [h.id for h in await exact.search(vec(5), scope=Scope(user_id="u1"), limit=7)] == want
    await exact.aclose()
    await s.aclose()


async def test_a_created_at_range_is_exact_and_scans_the_scope_index(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    start = datetime(2023, 5, 1, tzinfo=UTC)
    stamps = [iso(start + timedelta(hours=7 * i, microseconds=i % 3)) for i in range(60)]
    await s.insert([rec(f"t{i:02d}", i, created_at=stamps[i], user_id="u1" if i % 2 else "u2") for i in range(60)])
    node = parse_filters({"created_at": {"gte": "2023-05-03", "lt": "2023-05-10T00:00:00+02:00"}})
    lo, hi = datetime(2023, 5, 3, tzinfo=UTC), datetime(2023, 5, 9, 22, tzinfo=UTC)
    want = [f"t{i:02d}" for i in range(1, 60, 2) if lo <= datetime.fromisoformat(stamps[i]) < hi]
    assert want and [r.id for r in await s.list(scope=Scope(user_id="u1"), filters=node)] == want
    where, params, residual = s._where(Scope(user_id="u1"), node)
    assert residual is None
    pool = s._pool
    assert pool is not None
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        select = sql.SQL("EXPLAIN SELECT id FROM {}{} ORDER BY created_at, id").format(s._table, where)
        plan = [r[0] for r in await (await conn.execute(select, params)).fetchall()]
    assert any(f"{table_name}_user_idx" in line for line in plan), plan
    assert any("Index Cond" in line and "created_at >=" in line and "created_at <" in line for line in plan), plan
    await s.aclose()


async def test_schema_indexes_and_gin(pg_config: Any, pg_admin: Any):
    schema = f"s_{uuid.uuid4().hex[:10]}"
    try:
        s = PgVectorStore.from_config(pg_config(collection_name="Mixed_Case", db_schema=schema, dims=DIMS, gin_index=True))
        await s.insert([rec("a", 0, cat="x"), rec("b", 1, cat="y")])
        assert [r.id for r in await s.list(scope=Scope(user_id="u1"), filters=parse_filters({"cat": "y"}))] == ["b"]
        rows = pg_admin.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s", [schema, "Mixed_Case"]
        ).fetchall()
        defs = dict(rows)
        assert set(defs) == {
            "Mixed_Case_pkey", "Mixed_Case_user_idx", "Mixed_Case_agent_idx", "Mixed_Case_run_idx",
            "Mixed_Case_hnsw_idx", "Mixed_Case_payload_idx", "Mixed_Case_keywords_idx", "Mixed_Case_keywords_null_idx",
        }
        assert "gin (keywords)" in defs["Mixed_Case_keywords_idx"]
        assert [h.id for h in await s.keyword_search("m b", scope=Scope(user_id="u1"), limit=5)] == ["b"]
        assert "hnsw (embedding vector_cosine_ops)" in defs["Mixed_Case_hnsw_idx"]
        assert "m='16'" in defs["Mixed_Case_hnsw_idx"].replace(" ", "")
        assert "jsonb_path_ops" in defs["Mixed_Case_payload_idx"]
        await s.aclose()
        h = PgHistoryStore.from_config(pg_config(db_schema=schema, table_name="hist"))
        await h.add_events([make_event("m")])
        assert len(await h.get("m")) == 1
        await h.aclose()
    finally:
        pg_admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def test_zero_query_vector_scores_zero(store: PgVectorStore):
    await store.insert([rec("a", 0), rec("b", 1)])
    hits = await store.search([0.0] * DIMS, scope=Scope(user_id="u1"), limit=5)
    assert [h.id for h in hits] == ["a", "b"] and all(h.score == 0.0 for h in hits)


async def test_update_and_missing_ids(store: PgVectorStore):
    with pytest.raises(MemoryNotFoundError):
        await store.update("nope", vector=vec(0))  # before the table has rows
    await store.insert([rec("a", 0)])
    await store.update("a")  # nothing to change: fine for an existing id
    with pytest.raises(MemoryNotFoundError):
        await store.update("nope")
    assert [r.id for r in await store.get(["a", "", "a\x00", "a"])] == ["a", "a"]


async def test_memory_engine_end_to_end(pg_dsn: str, table_name: str, pg_admin: Any):
    from mem7_core import AsyncMemory

    history_table = f"{table_name}_h"
    config = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 32}},
        "vector_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "collection_name": table_name}},
        "history_store": {"provider": "postgres", "config": {"dsn": pg_dsn, "table_name": history_table}},
    }
    try:
        m = AsyncMemory(config)
        added = await m.add("I like green tea", user_id="alice", infer=False, metadata={"topic": "drinks"})
        (first,) = added["results"]
        await m.add("Bob prefers coffee", user_id="bob", infer=False)
        found = await m.search("green tea", user_id="alice", filters={"topic": "drinks"})
        assert [r["id"] for r in found["results"]] == [first["id"]]
        assert found["results"][0]["memory"] == "I like green tea"
        assert (await m.search("coffee", user_id="alice"))["results"][0]["id"] == first["id"]  # never bob's
        history = await m.history(first["id"])
        assert [e["event"] for e in history] == ["ADD"]
        await m.aclose()
    finally:
        pg_admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(history_table)))


def test_an_export_from_pgvector_is_the_file_the_flat_store_it_came_from_exports(
    pg_dsn: str, table_name: str, pg_admin: Any, tmp_path: Any
):
    # User trial: moving from the embedded flat store to pgvector (export, import), then diffing the
    # two exports to check nothing was lost: every line with metadata differed, as jsonb reorders
    # object keys (by length, then bytes), so the file could not be compared with the one it came from.
    from mem7_core import Memory
    from mem7_core.transfer import export_lines

    history_table = f"{table_name}_h"
    embedder = {"provider": "hash", "config": {"dims": 32}}
    flat = Memory({"llm": None, "embedder": embedder,
                   "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "flat")}},
                   "history_store": {"provider": "auto"}})  # in the flat database, not ./mem7_history.db
    pg = Memory({"llm": None, "embedder": embedder,
                 "vector_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "collection_name": table_name}},
                 "history_store": {"provider": "postgres", "config": {"dsn": pg_dsn, "table_name": history_table}}})
    try:
        flat.add("Ramen in Tokyo 🍜", user_id="alice", infer=False,
                 metadata={"zeta": 1, "a": {"yy": [{"k2": 1, "k": 2}], "b": None}, "middle": "ü"})
        flat.add("Plays chess", user_id="bob", infer=False, metadata={"level": "club", "at": "home"})
        source = list(export_lines(flat))
        assert pg.import_memories(flat.export_memories())["imported"] == 2
        assert list(export_lines(pg)) == source
        assert json.loads(source[0])["metadata"] == {"a": {"b": None, "yy": [{"k": 2, "k2": 1}]}, "middle": "ü",
                                                     "zeta": 1}
        assert [r["id"] for r in pg.search("ramen", user_id="alice")["results"]] == [json.loads(source[0])["id"]]
    finally:
        flat.close()
        pg.close()
        pg_admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(history_table)))
