"""PineconeVectorStore with the real ``pinecone`` SDK against the loopback emulator
(``pinecone_emulator.py``): reaching the index, config errors, what goes down to Pinecone,
retries and errors, records that are not mem7's, and the store under a real engine."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pinecone
import pytest
from pinecone_emulator import API_KEY, PineconeEmulator

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import EmbeddingSpace
from mem7_pinecone import PineconeVectorStore


def make(server: PineconeEmulator, **cfg: Any) -> PineconeVectorStore:
    cfg = {"host": server.url, "api_key": API_KEY, "retry_backoff": 0.0, "namespace": "t", **cfg}
    return PineconeVectorStore(PineconeVectorStore.Config.model_validate(cfg))


def axis(i: int, dims: int = 8) -> list[float]:
    v = [0.01] * dims
    v[i % dims] = 1.0
    return v


def rec(i: int, **payload: Any) -> VectorRecord:
    return VectorRecord(id=f"m{i}", vector=axis(i), payload={"user_id": "u", "created_at": f"2024-01-0{i + 1}",
                                                             **payload})


def test_the_real_sdk_is_used() -> None:
    assert "site-packages" in pinecone.__file__ and hasattr(pinecone, "AsyncIndex")


# ------------------------------------------------------------------ reaching the index
async def test_index_name_is_resolved_through_the_control_plane(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server, host=None, index_name="mem7-test", controller_host=pinecone_server.url)
    await store.insert([rec(0, data="tea")])
    assert [r.payload["data"] for r in await store.get(["m0"])] == ["tea"]
    assert pinecone_server.count("/indexes/mem7-test", "GET") == 1
    assert pinecone_server.url in repr(store.where)
    await store.aclose()


async def test_an_unknown_index_name_is_a_clear_error(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server, host=None, index_name="nope", controller_host=pinecone_server.url)
    with pytest.raises(ProviderError, match=r"not found \(404\).*check vector_store.config.host / index_name"):
        await store.get(["x"])
    await store.aclose()


async def test_wrong_dims_or_metric_name_the_field(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server, dims=16)
    with pytest.raises(ConfigError, match=r"holds 8-dimensional vectors but vector_store.config.dims is 16"):
        await store.get(["x"])
    await store.aclose()
    with PineconeEmulator(metric="dotproduct") as other:
        store = make(other)
        with pytest.raises(ConfigError, match=r"'dotproduct' metric; mem7 needs an index created with metric='cosine'"):
            await store.list(scope=Scope(user_id="u"))
        await store.aclose()


def test_config_errors_name_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"exactly one of vector_store.config.host .* and vector_store.config.index_name"):
        PineconeVectorStore.Config.model_validate({"api_key": "k"})
    with pytest.raises(ValueError, match="exactly one"):
        PineconeVectorStore.Config.model_validate({"api_key": "k", "host": "h.io", "index_name": "i"})
    with pytest.raises(ValueError, match="namepsace"):
        PineconeVectorStore.Config.model_validate({"api_key": "k", "host": "h.io", "namepsace": "x"})
    with pytest.raises(ConfigError, match=r"no api_key\. Set PINECONE_API_KEY or vector_store.config.api_key"):
        PineconeVectorStore(PineconeVectorStore.Config.model_validate({"host": "h.io"}))
    monkeypatch.setenv("PINECONE_API_KEY", "from-env")
    assert PineconeVectorStore(PineconeVectorStore.Config.model_validate({"host": "h.io"}))._key == "from-env"
    mem0 = PineconeVectorStore.Config.model_validate({"collection_name": "idx", "embedding_model_dims": 384,
                                                      "api_key": "k"})
    assert mem0.index_name == "idx" and mem0.dims == 384
    assert "pc-secret" not in repr(PineconeVectorStore.Config.model_validate({"host": "h.io", "api_key": "pc-secret"}))


# ------------------------------------------------------------------ what goes down to Pinecone
async def test_scope_and_shared_operators_are_evaluated_by_pinecone(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server)
    await store.insert([rec(i, k="a" if i % 2 else "b", n=i) for i in range(6)])
    await store.insert([VectorRecord(id="other", vector=axis(1), payload={"user_id": "v", "k": "a", "n": 1})])
    node = parse_filters({"k": "a", "n": {"gte": 3}})
    hits = await store.search(axis(3), scope=Scope(user_id="u"), limit=5, filters=node)
    assert [h.id for h in hits] == ["m3", "m5"]
    queries = [r for r in pinecone_server.requests if r.path == "/query"]
    assert len(queries) == 1 and queries[0].body["topK"] == 5  # nothing dropped: no widening
    sent = str(queries[0].body["filter"])
    assert "'p.user_id': {'$eq': 'u'}" in sent and "'p.k': {'$eq': 'a'}" in sent and "'p.n': {'$gte': 3}" in sent
    assert [r.id for r in await store.list(scope=Scope(user_id="u"), filters=node)] == ["m3", "m5"]
    await store.aclose()


async def test_what_pinecone_cannot_evaluate_is_rechecked_and_widened(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server, max_top_k=4, page_size=2)
    await store.insert([rec(i, text="Tea time" if i in (6, 7) else "coffee") for i in range(8)])
    hits = await store.search(axis(0), scope=Scope(user_id="u"), limit=2,
                              filters=parse_filters({"text": {"icontains": "TEA"}}))
    assert sorted(h.id for h in hits) == ["m6", "m7"]
    assert [r.body["topK"] for r in pinecone_server.requests if r.path == "/query"] == [2, 4]
    assert pinecone_server.count("/vectors/fetch_by_metadata") == 4  # 8 records in pages of 2
    await store.aclose()


async def test_update_replaces_the_whole_payload(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server)
    await store.insert([rec(0, color="red")])
    await store.update("m0", payload={"user_id": "u", "size": 3})
    [(_, md)] = pinecone_server.namespaces["t"].values()
    assert "p.color" not in md and md["p.size"] == 3
    assert (await store.get(["m0"]))[0].payload == {"user_id": "u", "size": 3}
    await store.update("m0", vector=axis(5))
    assert (await store.search(axis(5), scope=Scope(user_id="u"), limit=1))[0].score == pytest.approx(1.0, abs=1e-3)
    await store.aclose()


async def test_the_embedder_lives_in_a_namespace_of_its_own(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server)
    await store.reset()  # a namespace never written: Pinecone's 404 is not an error
    assert await store.embedding_space() == EmbeddingSpace(dims=8)
    space = EmbeddingSpace(dims=8, provider="hash", model="h-1")
    store.record_embedder(space)
    assert "t__mem7" not in pinecone_server.namespaces  # nothing written on a read
    await store.insert([rec(0)])
    assert set(pinecone_server.namespaces) == {"t", "t__mem7"}
    await store.aclose()
    again = make(pinecone_server)
    assert await again.embedding_space() == space
    assert [r.id for r in await again.list(scope=Scope())] == ["m0"]  # the embedder record is not listed
    await again.reset()
    assert pinecone_server.namespaces == {}
    await again.aclose()


# ------------------------------------------------------------------ retries and errors
async def test_429_is_retried_honouring_retry_after_and_the_sdk_does_not_retry(
    pinecone_server: PineconeEmulator,
) -> None:
    store = make(pinecone_server, max_retries=2)
    await store.insert([rec(0)])
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    store._retry.sleep = record
    pinecone_server.fail_next(2, status=429, retry_after="0.5")
    assert len(await store.search(axis(0), scope=Scope(user_id="u"), limit=1)) == 1
    assert pinecone_server.count("/query") == 3 and waits == [0.5, 0.5]
    pinecone_server.fail_next(10, status=503)
    with pytest.raises(ProviderError, match=r"\[pinecone\] vector store: server error 503 after 3 attempts") as info:
        await store.search(axis(0), scope=Scope(user_id="u"), limit=1)
    assert info.value.retryable and pinecone_server.count("/query") == 6  # 1 + max_retries, the SDK adds none
    await store.aclose()


async def test_a_wrong_key_names_where_it_is_set(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server, api_key="pc-wrong")
    with pytest.raises(ProviderError, match=r"authentication failed \(401\).*PINECONE_API_KEY or "
                                            r"vector_store.config.api_key"):
        await store.get(["x"])
    assert pinecone_server.count("/describe_index_stats") == 1
    await store.aclose()


async def test_an_unreachable_host(pinecone_server: PineconeEmulator) -> None:
    url = pinecone_server.url
    pinecone_server.stop()
    store = PineconeVectorStore(PineconeVectorStore.Config.model_validate(
        {"host": url, "api_key": API_KEY, "retry_backoff": 0.0, "max_retries": 1}))
    with pytest.raises(ProviderError, match=r"is unreachable after 2 attempts"):
        await store.get(["x"])
    await store.aclose()


async def test_a_malformed_answer_is_an_error(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server)
    await store.insert([rec(0)])
    pinecone_server.malformed_next(1)
    with pytest.raises(ProviderError, match=r"\[pinecone\] vector store: malformed response"):
        await store.search(axis(0), scope=Scope(user_id="u"), limit=1)
    await store.aclose()


async def test_metadata_over_pinecones_limit_is_refused_with_its_message(pinecone_server: PineconeEmulator) -> None:
    store = make(pinecone_server)
    with pytest.raises(ProviderError, match=r"request rejected \(400\).*Metadata size exceeds the limit"):
        await store.insert([rec(0, data="x" * 50_000)])
    await store.aclose()


async def test_a_record_mem7_did_not_write_is_named(pinecone_server: PineconeEmulator) -> None:
    httpx.post(f"{pinecone_server.url}/vectors/upsert", headers={"Api-Key": API_KEY},
               json={"namespace": "t", "vectors": [{"id": "foreign", "values": axis(0),
                                                    "metadata": {"mem7_v": 1, "genre": "x"}}]})
    store = make(pinecone_server)
    with pytest.raises(ProviderError, match=r"record 'foreign' in namespace 't' is not a mem7 record.*"
                                            r"give mem7 a namespace of its own"):
        await store.list(scope=Scope())
    await store.aclose()


def test_vectors_are_checked_before_anything_is_sent() -> None:
    store = PineconeVectorStore(PineconeVectorStore.Config.model_validate({"host": "h.io", "api_key": "k"}))
    with pytest.raises(ValueError, match="all zeros"):
        from mem7_pinecone.store import _check_vector

        _check_vector([0.0, 0.0], "record 'a'", 2)
    assert repr(store) == "<PineconeVectorStore h.io namespace='mem7'>"


# ------------------------------------------------------------------ registry and engine
def test_registry_resolves_pinecone() -> None:
    assert PluginRegistry().get("vector_store", "pinecone") is PineconeVectorStore


async def test_two_engines_share_the_index(shared_pinecone: PineconeEmulator, tmp_path: Path) -> None:
    def config(name: str) -> dict[str, Any]:
        return {
            "llm": None,
            "embedder": {"provider": "hash", "config": {"dims": 8}},
            "vector_store": {"provider": "pinecone", "config": {"host": shared_pinecone.url, "api_key": API_KEY,
                                                                "namespace": namespace}},
            "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / f"{name}.db")}},
        }

    namespace = f"engine-{uuid.uuid4().hex[:8]}"
    async with AsyncMemory(config("a")) as first, AsyncMemory(config("b")) as second:
        await first.add("I keep my bike in the garage", user_id="alice", infer=False)
        await first.add("Bob's bike is red", user_id="bob", infer=False)
        found = await second.search("where is the bike", user_id="alice")
        assert [r["memory"] for r in found["results"]] == ["I keep my bike in the garage"]
    with pytest.raises(ConfigError, match=r"vector_store.config.hostt"):
        AsyncMemory({"llm": None, "embedder": {"provider": "hash"},
                     "vector_store": {"provider": "pinecone", "config": {"hostt": "x"}}})
