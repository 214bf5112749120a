"""mem7-upstash beyond the conformance suite: configuration, errors, retries and timeouts,
batching, namespaces, pushdown, score conversion and the fallbacks, against the emulator."""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from typing import Any

import pytest
from upstash_emulator import TOKEN, UpstashEmulator

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.plugins import PluginRegistry
from mem7_upstash import UpstashVectorStore


def make(server: UpstashEmulator | None = None, **cfg: Any) -> UpstashVectorStore:
    if server is not None:
        cfg.setdefault("url", server.url)
    cfg.setdefault("token", TOKEN)
    cfg.setdefault("retry_backoff", 0.0)
    return UpstashVectorStore(UpstashVectorStore.Config.model_validate(cfg))


def vec(seed: Any, dims: int = 8) -> list[float]:
    rng = random.Random(f"v-{seed}")
    return [rng.gauss(0.0, 1.0) for _ in range(dims)]


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def rec(i: int, user: str = "u1", **payload: Any) -> VectorRecord:
    return VectorRecord(f"id-{i:04d}", vec(i), {"data": f"m{i}", "created_at": f"2024-01-01T00:00:{i % 60:02d}", "user_id": user, **payload})


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------- registry & config
def test_registered_through_the_entry_point() -> None:
    reg = PluginRegistry()
    assert reg.get("vector_store", "upstash") is UpstashVectorStore
    assert reg.get("vector_store", "upstash_vector") is UpstashVectorStore  # mem0's provider name


def test_missing_url_and_token_name_the_fields_and_env_vars() -> None:
    with pytest.raises(ConfigError) as err:
        UpstashVectorStore.from_config({})
    msg = str(err.value)
    for part in ("url", "vector_store.config.url", "UPSTASH_VECTOR_REST_URL",
                 "token", "vector_store.config.token", "UPSTASH_VECTOR_REST_TOKEN"):
        assert part in msg
    with pytest.raises(ConfigError, match=r"token .*UPSTASH_VECTOR_REST_TOKEN") as err:
        UpstashVectorStore.from_config({"url": "https://x.upstash.io"})
    assert "UPSTASH_VECTOR_REST_URL" not in str(err.value)


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "https://example-us1-vector.upstash.io/")
    monkeypatch.setenv("UPSTASH_VECTOR_REST_TOKEN", "secret")
    store = UpstashVectorStore.from_config({})
    assert isinstance(store, UpstashVectorStore)
    assert store.url == "https://example-us1-vector.upstash.io" and store.namespace == "mem7_memories"
    assert "secret" not in repr(store.config)
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "example.upstash.io")
    with pytest.raises(ConfigError, match=r"UPSTASH_VECTOR_REST_URL.*https://"):
        UpstashVectorStore.from_config({})


def test_bad_config_fields() -> None:
    with pytest.raises(ValueError, match="url"):
        UpstashVectorStore.Config.model_validate({"url": "example.upstash.io"})
    with pytest.raises(ValueError, match="enable_embeddings"):
        UpstashVectorStore.Config.model_validate({"enable_embeddings": True})
    with pytest.raises(ValueError, match="collection_name"):
        UpstashVectorStore.Config.model_validate({"collection_name": "a/b"})
    with pytest.raises(ValueError, match="typo"):
        UpstashVectorStore.Config.model_validate({"typo": 1})
    assert UpstashVectorStore.Config.model_validate({"embedding_model_dims": 8}).dims == 8


async def test_dims_mismatch_is_a_config_error(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, dims=1536)
    with pytest.raises(ConfigError, match=r"8-dimensional.*dims is 1536"):
        await store.insert([rec(1)])
    await store.aclose()
    store = make(upstash_server)
    with pytest.raises(ValueError, match="3 dims, the index has 8"):
        await store.insert([VectorRecord("x", [1.0, 0.0, 0.0], {})])
    with pytest.raises(ValueError, match="finite"):
        await store.search([math.nan] * 8, scope=Scope(), limit=1)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        await store.insert([VectorRecord("x", vec(1), {"bad": object()})])
    assert upstash_server.count("upsert") == 0
    await store.aclose()


# ---------------------------------------------------------------------------------- errors, retries, timeouts
async def test_auth_failure_is_a_clear_provider_error(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, token="wrong-token", max_retries=3)
    with pytest.raises(ProviderError) as err:
        await store.search(vec(1), scope=Scope(user_id="u1"), limit=3)
    e = err.value
    assert e.provider == "upstash" and not e.retryable
    assert "authentication failed (401)" in str(e) and "UPSTASH_VECTOR_REST_TOKEN" in str(e)
    assert "Invalid auth token" in str(e)  # the server's own words
    assert upstash_server.count() == 1  # a 401 is not retried
    await store.aclose()


async def test_server_down_fails_after_bounded_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = make(url=url, max_retries=2, retry_backoff=0.1, retry_max_backoff=0.15, connect_timeout=1.0)
    sleeps = SleepRecorder()
    store.client.sleep = sleeps
    with pytest.raises(ProviderError) as err:
        await store.insert([rec(1)])
    assert err.value.provider == "upstash" and err.value.retryable
    assert "unreachable" in str(err.value) and "gave up after 3 attempts" in str(err.value) and url in str(err.value)
    assert len(sleeps.waits) == 2 and all(0.07 <= w <= 0.15 for w in sleeps.waits)  # backoff with jitter, capped
    await store.aclose()


async def test_timeout_is_retried_then_reported(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, timeout=0.2, max_retries=1)
    await store.count(scope=Scope())  # info done: only the stalled calls below
    upstash_server.stall_next(2, seconds=1.0, op="query")
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"query: request to .* timed out \(timeout 0.2s.*gave up after 2 attempts") as err:
        await store.search(vec(1), scope=Scope(), limit=1)
    assert time.monotonic() - started < 0.9  # two 0.2 s attempts, not the server's 1 s
    assert err.value.retryable and upstash_server.count("query") == 3
    await store.aclose()


async def test_transient_failures_are_retried(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, max_retries=3)
    sleeps = SleepRecorder()
    store.client.sleep = sleeps
    upstash_server.fail_next(1, status=503, op="upsert")
    upstash_server.fail_next(1, status=429, retry_after=0.25, op="upsert")
    upstash_server.drop_next(1, op="upsert")
    await store.insert([rec(1)])
    assert upstash_server.count("upsert") == 4 and len(upstash_server.vectors("mem7_memories")) == 1
    assert sleeps.waits[1] == 0.25  # Retry-After honoured
    await store.aclose()


async def test_rejections_and_malformed_answers_are_not_retried(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, max_retries=3)
    await store.count(scope=Scope())
    upstash_server.clear_records()
    upstash_server.fail_next(1, status=400, message="Invalid filter: boom", op="query")
    with pytest.raises(ProviderError, match=r"query: request rejected \(400\).*Invalid filter: boom"):
        await store.search(vec(1), scope=Scope(), limit=1)
    upstash_server.fail_next(1, status=200, raw=b"<html>proxy</html>", op="query")
    with pytest.raises(ProviderError, match="malformed response"):
        await store.search(vec(1), scope=Scope(), limit=1)
    upstash_server.fail_next(1, status=200, raw=b'{"result": [{"no_id": 1}]}', op="query")
    with pytest.raises(ProviderError, match=r"malformed response.*KeyError"):
        await store.search(vec(1), scope=Scope(), limit=1)
    upstash_server.fail_next(1, status=500, raw=b"", op="query")
    no_retry = make(upstash_server, max_retries=0)
    with pytest.raises(ProviderError, match=r"server error 500.*gave up after 1 attempt\)"):
        await no_retry.search(vec(1), scope=Scope(), limit=1)
    assert upstash_server.count("query") == 4
    await store.aclose()
    await no_retry.aclose()


# ---------------------------------------------------------------------------------- batching
async def test_large_upserts_are_batched(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, batch_size=100, max_concurrency=3)
    records = [rec(i, user=f"u{i % 3}", n=i) for i in range(250)]
    await store.insert(records)
    sizes = sorted(len(r.body) for r in upstash_server.requests("upsert"))
    assert sizes == [50, 100, 100]
    assert len(upstash_server.vectors("mem7_memories")) == 250
    upstash_server.clear_records()
    got = await store.get([r.id for r in records] + ["missing"])
    assert [g.id for g in got] == [r.id for r in records]
    assert sorted(len(r.body["ids"]) for r in upstash_server.requests("fetch")) == [51, 100, 100]
    assert got[7].payload == records[7].payload and cos(got[7].vector, records[7].vector) == pytest.approx(1.0)  # type: ignore[arg-type]
    await store.delete([r.id for r in records[:120]])
    assert sorted(len(r.body["ids"]) for r in upstash_server.requests("delete")) == [20, 100]
    assert await store.count(scope=Scope()) == 130
    await store.aclose()


async def test_upserts_are_also_bounded_by_bytes(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, batch_size=1000, max_request_bytes=20_000)
    big = "x" * 3000
    await store.insert([rec(i, blob=big) for i in range(20)])
    bodies = upstash_server.requests("upsert")
    assert len(bodies) >= 4 and sum(len(b.body) for b in bodies) == 20
    assert all(len(str(b.body)) < 25_000 for b in bodies)
    await store.aclose()


async def test_failed_batch_says_what_was_applied(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, batch_size=10, max_concurrency=1, max_retries=0)
    await store.count(scope=Scope())
    upstash_server.fail_next(1, status=422, message="Invalid vector", op="upsert")
    with pytest.raises(ProviderError, match=r"1 of 3 batches failed, 2 were applied"):
        await store.insert([rec(i) for i in range(30)])
    assert len(upstash_server.vectors("mem7_memories")) == 20
    await store.aclose()


async def test_duplicate_ids_in_one_insert_last_wins(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server)
    await store.insert([rec(1, v=1), rec(2), rec(1, v=2)])
    (body,) = [r.body for r in upstash_server.requests("upsert")]
    assert [v["id"] for v in body] == ["id-0002", "id-0001"]
    assert (await store.get(["id-0001"]))[0].payload["v"] == 2
    await store.aclose()


# ---------------------------------------------------------------------------------- namespaces
async def test_collections_are_isolated_namespaces(upstash_server: UpstashEmulator) -> None:
    a = make(upstash_server, collection_name="coll_a")
    b = make(upstash_server, collection_name="coll_b")
    await a.insert([rec(1), rec(2)])
    await b.insert([rec(2, tag="b")])  # the same id in another collection
    assert {r.namespace for r in upstash_server.requests("upsert")} == {"coll_a", "coll_b"}
    assert [r.id for r in await a.list(scope=Scope(user_id="u1"))] == ["id-0001", "id-0002"]
    assert [r.payload.get("tag") for r in await b.get(["id-0001", "id-0002"])] == ["b"]
    assert [h.id for h in await b.search(vec(1), scope=Scope(), limit=5)] == ["id-0002"]
    await b.reset()
    assert await b.count(scope=Scope()) == 0 and await a.count(scope=Scope()) == 2
    await a.delete(["id-0001"])
    assert upstash_server.vectors("coll_b") == {} and list(upstash_server.vectors("coll_a")) == ["id-0002"]
    assert upstash_server.vectors("") == {}  # the default namespace is never touched
    await a.aclose()
    await b.aclose()


# ---------------------------------------------------------------------------------- pushdown & answers
async def test_scope_and_filters_are_pushed_down(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server)
    await store.insert([rec(i, user=f"u{i % 4}", cat="x" if i % 2 else "y", n=i) for i in range(40)])
    upstash_server.clear_records()
    node = parse_filters({"cat": "x", "n": {"gte": 10}})
    hits = await store.search(vec("q"), scope=Scope(user_id="u1"), limit=3, filters=node)
    (query,) = upstash_server.requests("query")
    assert query.body["filter"] == "user_id = 'u1' AND cat = 'x' AND n >= 10"
    assert query.body["topK"] == 12  # n >= 10 may be an over-approximation: 4x over-fetch
    assert query.body["includeMetadata"] is True and query.body["includeVectors"] is False
    assert len(hits) == 3 and all(h.payload["user_id"] == "u1" and h.payload["n"] >= 10 for h in hits)
    upstash_server.clear_records()
    await store.list(scope=Scope(user_id="u2"), filters=parse_filters({"cat": {"in": ["y", "z"]}}))
    assert upstash_server.requests("query")[0].body["filter"] == "user_id = 'u2' AND cat IN ('y', 'z')"
    upstash_server.clear_records()
    assert await store.search(vec("q"), scope=Scope(user_id="u1"), limit=3, filters=parse_filters({"cat": {"in": []}})) == []
    assert upstash_server.count() == 0  # nothing can match: no request at all
    await store.aclose()


async def test_icontains_is_exact_through_overfetch(upstash_server: UpstashEmulator) -> None:
    """Upstash has no case-insensitive operator: the store widens its query until enough records
    pass the reference check (casefold: "STRASSE" finds "Straße")."""
    store = make(upstash_server, overfetch=2)
    records = [rec(i, s="plain text") for i in range(60)]
    records[37] = rec(37, s="Große Straße 5")
    await store.insert(records)
    upstash_server.clear_records()
    node = parse_filters({"s": {"icontains": "STRASSE"}})
    hits = await store.search(vec(0), scope=Scope(user_id="u1"), limit=1, filters=node)
    assert [h.id for h in hits] == ["id-0037"]
    assert [r.body["topK"] for r in upstash_server.requests("query")] == [2, 8, 32, 128]
    assert all(r.body["filter"] == "user_id = 'u1' AND HAS FIELD s" for r in upstash_server.requests("query"))
    assert [r.id for r in await store.list(scope=Scope(user_id="u1"), filters=node)] == ["id-0037"]
    await store.aclose()


async def test_hostile_values_match_literally_end_to_end(upstash_server: UpstashEmulator) -> None:
    values = ["it's", 'say "hi"', "both ' and \"", "back\\slash", "a*b?c[d]", "new\nline", "' OR 1=1 --"]
    decoys = ["its", 'say hi', "both  and ", "backslash", "aXbYc[d]", "new line", "x OR 1=1 --"]
    store = make(upstash_server)
    records = [VectorRecord(f"h{i}", vec(i), {"user_id": v, "v": v, "tags": [v]}) for i, v in enumerate(values)]
    records += [VectorRecord(f"d{i}", vec(i), {"user_id": values[i], "v": d, "tags": [d]}) for i, d in enumerate(decoys)]
    await store.insert(records)
    for i, v in enumerate(values):
        for filters in ({"v": v}, {"tags": {"contains": v}}, {"v": {"contains": v}}, {"v": {"in": [v]}}):
            node = parse_filters(filters)
            got = [h.id for h in await store.search(vec(i), scope=Scope(user_id=v), limit=5, filters=node)]
            assert got == [f"h{i}"], (v, filters)
            assert [r.id for r in await store.list(scope=Scope(user_id=v), filters=node)] == [f"h{i}"]
    assert all("\\" not in (r.body.get("filter") or "") for r in upstash_server.requests("query"))
    await store.aclose()


@pytest.mark.parametrize("similarity", ["COSINE", "DOT_PRODUCT", "EUCLIDEAN"])
async def test_scores_are_cosine_whatever_the_similarity_function(similarity: str) -> None:
    with UpstashEmulator(token=TOKEN, dimension=8, similarity=similarity) as server:
        store = make(server)
        records = [rec(i) for i in range(12)]
        await store.insert(records)
        q = [3.0 * x for x in vec("query")]
        hits = await store.search(q, scope=Scope(user_id="u1"), limit=12)
        ranked = sorted(records, key=lambda r: -cos(q, r.vector))  # type: ignore[arg-type]
        assert [h.id for h in hits] == [r.id for r in ranked]
        for h, r in zip(hits, ranked):
            assert h.score == pytest.approx(cos(q, r.vector), abs=1e-5)  # type: ignore[arg-type]
        await store.aclose()


async def test_fallbacks_past_max_top_k(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server, max_top_k=5, range_page_size=4)
    records = [rec(i) for i in range(13)]
    await store.insert(records)
    upstash_server.clear_records()
    # list: the one query comes back full (5 = max_top_k), so it may be truncated: scan instead.
    assert [r.id for r in await store.list(scope=Scope(user_id="u1"))] == [r.id for r in records]
    assert upstash_server.count("query") == 1 and upstash_server.count("range") == 4
    # search beyond max_top_k: ranked client-side over a scan, with cosine scores.
    q = vec("q")
    hits = await store.search(q, scope=Scope(user_id="u1"), limit=9)
    ranked = sorted(records, key=lambda r: -cos(q, r.vector))  # type: ignore[arg-type]
    assert [h.id for h in hits] == [r.id for r in ranked[:9]]
    assert hits[0].score == pytest.approx(cos(q, ranked[0].vector), abs=1e-5)  # type: ignore[arg-type]
    await store.aclose()


async def test_update_paths(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server)
    await store.insert([rec(1, keep="me")])
    with pytest.raises(MemoryNotFoundError):
        await store.update("nope", payload={"user_id": "u1"})
    with pytest.raises(MemoryNotFoundError):
        await store.update("nope")
    await store.update("id-0001")  # exists, nothing to change
    await store.update("id-0001", vector=vec(99), payload={"user_id": "u1", "v": 2})
    (body,) = [r.body for r in upstash_server.requests("update") if r.body["id"] == "id-0001"]
    assert body["metadataUpdateMode"] == "OVERWRITE" and body["metadata"] == {"user_id": "u1", "v": 2} and "vector" in body
    (got,) = await store.get(["id-0001"])
    assert got.payload == {"user_id": "u1", "v": 2} and cos(got.vector, vec(99)) == pytest.approx(1.0)  # type: ignore[arg-type]
    # A server answering "updated": 0 for an existing id (an unchanged record) is not "not found".
    upstash_server.fail_next(1, status=200, raw=b'{"result": {"updated": 0}}', op="update")
    await store.update("id-0001", payload={"user_id": "u1", "v": 2})
    await store.aclose()


async def test_usable_after_aclose_and_across_event_loops(upstash_server: UpstashEmulator) -> None:
    store = make(upstash_server)
    await store.insert([rec(1)])
    await store.aclose()
    await store.aclose()
    await store.insert([rec(2)])
    assert await store.count(scope=Scope(user_id="u1")) == 2

    def other_loop() -> int:
        return asyncio.run(store.count(scope=Scope(user_id="u1")))

    assert await asyncio.to_thread(other_loop) == 2
    await store.aclose()


async def test_through_the_engine(upstash_server: UpstashEmulator) -> None:
    """AsyncMemory with this store from config (hash embedder, no LLM): add, search, filter, list."""
    from mem7_core import AsyncMemory

    memory = AsyncMemory.from_config({
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 8}},
        "vector_store": {"provider": "upstash", "config": {"url": upstash_server.url, "token": TOKEN,
                                                           "collection_name": "engine"}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    })
    try:
        await memory.add("I like green tea", user_id="alice", infer=False, metadata={"kind": "Drink"})
        await memory.add("The sky is blue", user_id="alice", infer=False)
        await memory.add("I like coffee", user_id="bob", infer=False)
        found = await memory.search("green tea", user_id="alice", limit=5)
        assert found["results"][0]["memory"] == "I like green tea"
        assert {r["memory"] for r in found["results"]} == {"I like green tea", "The sky is blue"}
        only = await memory.search("tea", user_id="alice", filters={"kind": {"icontains": "drink"}})
        assert [r["memory"] for r in only["results"]] == ["I like green tea"]
        assert len((await memory.get_all(user_id="alice"))["results"]) == 2
        await memory.delete_all(user_id="alice")
        assert (await memory.get_all(user_id="alice"))["results"] == []
        assert len((await memory.get_all(user_id="bob"))["results"]) == 1
    finally:
        await memory.aclose()
    assert set(upstash_server.vectors("engine")) and upstash_server.vectors("") == {}
