"""What is specific to mem7-redis: filters answered in the index, durability (WAITAOF, a killed
server), atomic read-modify-writes under concurrent writers, the index's dims, config errors."""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.filters import evaluate, parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.providers.vector_store import EmbeddingSpace
from mem7_core.testing.vector_store import FILTER_CASES, FILTER_CORPUS, HOSTILE_STRINGS
from mem7_redis import RedisVectorStore
from mem7_redis._encoding import query_of

redis_server = importlib.import_module("mem7_redis_test_server")  # tests/redis_server.py, loaded by conftest.py
store_module = importlib.import_module("mem7_redis.store")
U1 = Scope(user_id="u1")


def vec(i: int, dims: int = 8) -> list[float]:
    v = [0.1] * dims
    v[i % dims] = 1.0
    return v


def rec(rid: str, i: int = 0, **payload: Any) -> VectorRecord:
    body: dict[str, Any] = {"data": f"memory {rid}", "created_at": f"2024-01-01T00:00:{i % 60:02d}+00:00", "user_id": "u1"}
    body.update(payload)
    return VectorRecord(id=rid, vector=vec(i), payload=body)


async def index_ids(store: RedisVectorStore, query: str) -> set[str]:
    """The records Redis itself matches for ``query`` (no re-check in Python)."""
    client = aioredis.Redis.from_url(store.config.url, protocol=3)
    try:
        reply = await client.execute_command(
            "FT.SEARCH", store.config.collection_name, query, "RETURN", 1, "mid", "LIMIT", 0, 10_000, "DIALECT", 2
        )
    finally:
        await client.aclose()
    return {r[b"extra_attributes"][b"mid"].decode() for r in reply[b"results"]}


# ------------------------------------------------------------------ filters in the index
@pytest.mark.parametrize("case", FILTER_CASES, ids=[name for name, _ in FILTER_CASES])
async def test_filters_the_index_answers_exactly_are_exact_in_redis(make_store: Callable[..., Any], case: tuple[str, dict[str, Any]]) -> None:
    """Where the translation says it is exact, Redis alone returns exactly the reference's records
    (NOT relies on it); where it is not, Redis returns a superset (the store re-checks it)."""
    _, filters = case
    store = make_store()
    payloads = [{**p, "user_id": "u1"} for p in FILTER_CORPUS]
    await store.insert([VectorRecord(id=f"r{i}", vector=vec(i), payload=p) for i, p in enumerate(payloads)])
    node = parse_filters(filters)
    want = {f"r{i}" for i, p in enumerate(payloads) if evaluate(node, p)}
    query, exact = query_of(U1, node)
    got = await index_ids(store, query)
    if exact:
        assert got == want, (filters, query)
    else:
        assert want <= got, (filters, query)
    assert {r.id for r in await store.list(scope=U1, filters=node)} == want


async def test_hostile_values_are_exact_in_redis(make_store: Callable[..., Any]) -> None:
    store = make_store()
    await store.insert([rec(f"h{i}", i, v=s, tagged=[s], **{s: i}) for i, s in enumerate(HOSTILE_STRINGS)])
    for i, s in enumerate(HOSTILE_STRINGS):
        for filters in ({"v": s}, {s: i}, {s: "*"}, {"tagged": {"contains": s}}, {"NOT": [{"v": s}]}):
            query, exact = query_of(U1, parse_filters(filters))
            want = {f"h{j}" for j, t in enumerate(HOSTILE_STRINGS) if evaluate(parse_filters(filters), {"v": t, t: j, "tagged": [t]})}
            got = await index_ids(store, query)
            assert got == want if exact else want <= got, filters


async def test_time_ranges_are_index_ranges_and_odd_times_still_match(make_store: Callable[..., Any]) -> None:
    """Canonical times are NUMERIC ranges in Redis; a time stored in another form (here with a
    zero fraction, or naive) is compared as a string, as the reference does."""
    store = make_store()
    stored = {
        "c1": "2024-01-01T00:00:01+00:00",
        "c2": "2024-01-01T00:00:02.500000+00:00",
        "odd-zero-fraction": "2024-01-01T00:00:02.000000+00:00",
        "odd-naive": "2024-01-01T00:00:03",
        "number": 5,
    }
    await store.insert([rec(k, i, created_at=t) for i, (k, t) in enumerate(stored.items())])
    for filters in (
        {"created_at": {"gt": "2024-01-01T00:00:02Z"}},
        {"created_at": {"gte": "2024-01-01T00:00:02+00:00"}},
        {"created_at": {"lt": "2024-01-01T00:00:02.5Z", "gte": 1704067201}},
        {"created_at": {"lte": "2024-01-01"}},
    ):
        node = parse_filters(filters)
        want = sorted(k for k, t in stored.items() if evaluate(node, {"created_at": t}))
        assert sorted(r.id for r in await store.list(scope=U1, filters=node)) == want, filters
        hits = await store.search(vec(0), scope=U1, limit=10, filters=node)
        assert sorted(h.id for h in hits) == want, filters
        query, exact = query_of(U1, node)
        assert not exact and "@t_created_at:[" in query
        assert set(want) <= await index_ids(store, query)


async def test_a_loose_filter_past_the_knn_cap_is_scored_by_a_scan(make_store: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A substring filter Redis can only narrow, over more candidates than one KNN may ask for:
    the store scores the narrowed set itself, exactly."""
    monkeypatch.setattr(store_module, "_MAX_KNN", 40)
    scans: list[int] = []
    real = store_module.RedisVectorStore._scan_search

    async def counted(self: RedisVectorStore, *args: Any) -> Any:
        scans.append(1)
        return await real(self, *args)

    monkeypatch.setattr(store_module.RedisVectorStore, "_scan_search", counted)
    store = make_store()
    matches = {1, 41, 81}  # far from the query; the 117 others are nearest, and fail the filter
    await store.insert([
        VectorRecord(id=f"s{i:03d}", vector=vec(1 if i in matches else 0),
                     payload={"user_id": "u1", "s": "match" if i in matches else "other text"})
        for i in range(120)
    ])
    node = parse_filters({"s": {"contains": "atc"}})
    hits = await store.search(vec(0), scope=U1, limit=3, filters=node)
    assert [h.id for h in hits] == ["s001", "s041", "s081"]  # equal scores: by id
    assert scans == [1]
    assert hits[0].score == pytest.approx(sum(a * b for a, b in zip(vec(0), vec(1))) / sum(x * x for x in vec(0)), abs=1e-6)


# ------------------------------------------------------------------ durability and sharing
async def test_rehearse_and_update_under_concurrent_writers_lose_nothing(make_store: Callable[..., Any]) -> None:
    """Two stores (two clients) counting recalls of one record at once: WATCH makes every one count."""
    a = make_store()
    b = make_store(collection_name=a.config.collection_name)
    await a.insert([rec("hot", 1, access_count=0)])
    now = "2025-01-01T00:00:00+00:00"
    await asyncio.gather(*(s.rehearse(["hot", "missing"], now) for s in (a, b) for _ in range(15)))
    (got,) = await b.get(["hot"])
    assert got.payload["access_count"] == 30
    assert got.payload["last_accessed_at"] == now
    assert [r.id for r in await a.list(scope=U1, filters=parse_filters({"access_count": 30}))] == ["hot"]  # tokens rewritten


async def test_another_store_sees_writes_at_once(make_store: Callable[..., Any]) -> None:
    a = make_store()
    b = make_store(collection_name=a.config.collection_name)
    await a.insert([rec("x1", 1), rec("x2", 2)])
    assert await b.count(scope=U1) == 2
    await b.delete(["x1"])
    assert [r.id for r in await a.list(scope=U1)] == ["x2"]
    assert RedisVectorStore.shared_by_processes(a.config) is None  # mem7 serve --workers N is allowed


async def test_durability_aof_needs_appendonly_and_says_how(redis_url: str) -> None:
    found = redis_server.find_binaries()
    if isinstance(found, str) or redis_server.ENV_URL in os.environ:
        pytest.skip("needs a server started here")
    server = redis_server.start(found, extra=("--appendonly", "no"))
    try:
        store = RedisVectorStore(RedisVectorStore.Config(url=server.url, collection_name="c"))
        with pytest.raises(ConfigError, match=r"appendonly.*durability: server"):
            await store.insert([rec("a", 1)])
        await store.aclose()
        relaxed = RedisVectorStore(RedisVectorStore.Config(url=server.url, collection_name="c", durability="server"))
        await relaxed.insert([rec("b", 2)])
        assert [r.id for r in await relaxed.get(["a", "b"])] == ["a", "b"]  # the refused write was applied
        await relaxed.aclose()
    finally:
        server.stop()


async def test_acknowledged_writes_survive_a_killed_server(redis_url: str) -> None:
    """Every acknowledged write (``durability: aof``, with the server fsyncing once a second, so
    each write waits for its fsync) is in the append-only file: SIGKILL the server (no shutdown),
    restart it on its files, and every write is there, the indexes rebuilt from them."""
    found = redis_server.find_binaries()
    if isinstance(found, str) or redis_server.ENV_URL in os.environ:
        pytest.skip("needs a server started here")
    server = redis_server.start(found, extra=("--appendfsync", "everysec"))  # WAITAOF must wait for the fsync
    assert server.directory is not None
    try:
        store = RedisVectorStore(RedisVectorStore.Config(url=server.url, collection_name="dur"))
        store.record_embedder(EmbeddingSpace(dims=8, provider="test", model="m1"))
        await store.insert([rec(f"d{i}", i) for i in range(20)])
        await store.update("d3", payload={"data": "changed", "user_id": "u1"})
        await store.delete(["d4"])
        await store.rehearse(["d5"], "2025-01-01T00:00:00+00:00")
        await store.aclose()
        server.kill()
        server = redis_server.start(found, directory=server.directory)
        again = RedisVectorStore(RedisVectorStore.Config(url=server.url, collection_name="dur"))
        try:
            assert await again.count(scope=U1) == 19
            (changed,) = await again.get(["d3"])
            assert changed.payload == {"data": "changed", "user_id": "u1"}
            assert await again.get(["d4"]) == []
            (recalled,) = await again.get(["d5"])
            assert recalled.payload["access_count"] == 1
            (hit,) = await again.search(vec(7), scope=U1, limit=1, filters=parse_filters({"created_at": {"lt": "2024-01-01T00:00:10Z"}}))
            assert hit.id == "d7"
            assert await again.embedding_space() == EmbeddingSpace(dims=8, provider="test", model="m1")
        finally:
            await again.aclose()
    finally:
        server.stop()


# ------------------------------------------------------------------ the index
async def test_dims_are_the_index_s_and_an_empty_collection_takes_new_ones(make_store: Callable[..., Any]) -> None:
    store = make_store()
    assert await store.embedding_space() is None
    await store.insert([rec("a", 1)])
    with pytest.raises(ConfigError, match=r"holds 8-dim vectors and these are 4-dim"):
        await store.insert([VectorRecord(id="b", vector=[1.0, 0, 0, 0], payload={"user_id": "u1"})])
    with pytest.raises(ValueError, match=r"4 dims.*8-dim"):
        await store.search([1.0, 0, 0, 0], scope=U1, limit=1)
    assert (await store.embedding_space()) == EmbeddingSpace(dims=8)
    await store.reset()
    other = make_store(collection_name=store.config.collection_name)
    await other.insert([VectorRecord(id="b", vector=[1.0, 0, 0, 0], payload={"user_id": "u1"})])
    assert (await other.embedding_space()) == EmbeddingSpace(dims=4)
    assert [h.id for h in await other.search([1.0, 0, 0, 0], scope=U1, limit=1)] == ["b"]


async def test_a_foreign_index_of_another_metric_is_refused(make_store: Callable[..., Any], redis_url: str) -> None:
    store = make_store()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.execute_command(
            "FT.CREATE", store.config.collection_name, "ON", "HASH", "PREFIX", 1, f"{store.config.collection_name}:m:",
            "SCHEMA", "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 8, "DISTANCE_METRIC", "L2",
        )
    finally:
        await client.aclose()
    with pytest.raises(ConfigError, match=r"measures L2; mem7 needs COSINE"):
        await store.insert([rec("a", 1)])


async def test_hnsw_ef_runtime_is_passed_to_the_knn_query(make_store: Callable[..., Any]) -> None:
    store = make_store(hnsw_ef_runtime=64)
    await store.insert([rec(f"e{i}", i) for i in range(10)])
    hits = await store.search(vec(3), scope=U1, limit=2, filters=parse_filters({"data": {"ne": "x"}}))
    assert hits[0].id == "e3" and hits[0].score == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------ config and failures
@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "http://localhost:6379"}, "url"),
        ({"collection_name": "bad name"}, "collection_name"),
        ({"collection_name": "a:b"}, "collection_name"),
        ({"durability": "maybe"}, "durability"),
        ({"algorithm": "ivf"}, "algorithm"),
        ({"urll": "redis://x"}, "urll"),
    ],
)
def test_bad_config_names_the_field(config: dict[str, Any], field: str) -> None:
    from mem7_core import AsyncMemory

    with pytest.raises(ConfigError, match=rf"vector_store\.config\.{field}"):
        AsyncMemory({"llm": None, "embedder": {"provider": "hash"}, "vector_store": {"provider": "redis", "config": config}})


def test_the_password_stays_out_of_messages() -> None:
    cfg = RedisVectorStore.Config(url="redis://user:s3cret@example.invalid:6380/1")
    assert "s3cret" not in repr(RedisVectorStore(cfg))
    assert cfg.where() == "redis://user:***@example.invalid:6380/1"
    with pytest.raises(Exception) as info:
        RedisVectorStore.Config(url="http://user:s3cret@host")
    assert "s3cret" not in str(info.value)


async def test_an_unreachable_server_is_a_provider_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = RedisVectorStore(RedisVectorStore.Config(url=f"redis://127.0.0.1:{port}/0", max_retries=1, retry_backoff=0.01))
    try:
        with pytest.raises(ProviderError, match=r"unreachable after 2 attempts.*Is the server running"):
            await store.count(scope=U1)
        with pytest.raises(ProviderError, match=r"unreachable"):
            await store.insert([rec("a", 1)])
    finally:
        await store.aclose()


async def test_a_server_without_the_query_engine_is_named(redis_url: str) -> None:
    found = redis_server.find_binaries()
    if isinstance(found, str) or redis_server.ENV_URL in os.environ:
        pytest.skip("needs a server started here")
    server = redis_server.start(found, load_module=False)  # what a plain Redis answers
    store = RedisVectorStore(RedisVectorStore.Config(url=server.url))
    try:
        with pytest.raises(ProviderError, match=r"no Query Engine"):
            await store.insert([rec("a", 1)])
    finally:
        await store.aclose()
        server.stop()


async def test_the_test_collections_are_dropped(redis_url: str) -> None:
    store = RedisVectorStore(RedisVectorStore.Config(url=redis_url, collection_name="t_drop_me"))
    await store.insert([rec("a", 1)])
    await store.aclose()
    await redis_server.drop(redis_url, {"t_drop_me"})
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert [k async for k in client.scan_iter(match="t_drop_me:*")] == []
    finally:
        await client.aclose()


async def test_a_server_capping_search_results_is_read_past_its_cap(redis_url: str) -> None:
    """MAXSEARCHRESULTS / MAXAGGREGATERESULTS of 10 (Redis Stack's script sets 10,000): lists,
    counts, searches and keyword searches over 30 records still see all of them."""
    found = redis_server.find_binaries()
    if isinstance(found, str) or redis_server.ENV_URL in os.environ:
        pytest.skip("needs a server started here")
    server = redis_server.start(found, load_module=False, extra=(
        "--loadmodule", str(found.module), "MAXSEARCHRESULTS", "10", "MAXAGGREGATERESULTS", "10",
    ))
    store = RedisVectorStore(RedisVectorStore.Config(url=server.url, collection_name="capped"))
    try:
        await store.insert([rec(f"r{i:02d}", i, s="abc") for i in range(30)])
        assert len(await store.list(scope=U1)) == 30
        assert await store.count(scope=U1) == 30
        for filters in (None, parse_filters({"s": {"contains": "b"}})):
            hits = await store.search(vec(3), scope=U1, limit=25, filters=filters)
            assert len(hits) == 25 and {h.id for h in hits[:4]} == {"r03", "r11", "r19", "r27"}
        assert len(await store.keyword_search("memory", scope=U1, limit=30)) == 30
    finally:
        await store.aclose()
        server.stop()
