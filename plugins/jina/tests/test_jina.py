"""JinaReranker and JinaEmbedder against the loopback Jina API emulator (``jina_server``,
tests/conftest.py): request shapes, config, keys, retries, errors, connection reuse, and both
providers under a real engine."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import usage
from mem7_core.providers.vectors import cosine
from mem7_core.testing.fakes import ScriptedLLM, hash_embedding
from mem7_jina import JinaEmbedder, JinaReranker

API_KEY = "jina_test"
QUERY = "what alice likes to drink"
DOCS = [
    "alice went hiking in the alps",
    "alice likes to drink green tea",
    "bob likes coffee",
    "what alice does not like: loud music",
    "to drink or not to drink",
]


def reranker(server: Any, **cfg: Any) -> JinaReranker:
    cfg = {"api_key": API_KEY, "base_url": server.base_url, "retry_backoff": 0.0, **cfg}
    return JinaReranker.from_config(cfg)  # type: ignore[return-value]


def embedder(server: Any, **cfg: Any) -> JinaEmbedder:
    cfg = {"api_key": API_KEY, "base_url": server.base_url, "retry_backoff": 0.0, "embedding_dims": 256, **cfg}
    return JinaEmbedder.from_config(cfg)  # type: ignore[return-value]


# ------------------------------------------------------------------ the emulator itself
def test_emulator_answers_the_documented_shapes(jina_server: Any) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    r = httpx.post(f"{jina_server.base_url}/rerank", headers=auth,
                   json={"model": "jina-reranker-v3", "query": "green tea", "documents": ["coffee", "green tea", "tea"],
                         "top_n": 2})
    assert r.status_code == 200
    assert r.json()["results"] == [{"index": 1, "relevance_score": 1.0, "document": {"text": "green tea"}},
                                   {"index": 2, "relevance_score": 0.5, "document": {"text": "tea"}}]
    e = httpx.post(f"{jina_server.base_url}/embeddings", headers=auth,
                   json={"model": "jina-embeddings-v3", "input": ["green tea"], "dimensions": 64})
    assert e.json()["data"][0]["embedding"] == pytest.approx(hash_embedding("green tea", 64))
    assert httpx.post(f"{jina_server.base_url}/rerank", json={}).status_code == 401
    assert httpx.post(f"{jina_server.url}/v2/rerank", headers=auth, json={}).status_code == 404
    bad = httpx.post(f"{jina_server.base_url}/embeddings", headers=auth,
                     json={"model": "jina-embeddings-v3", "input": ["x"], "dimensions": 2000})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "dimensions"]
    assert jina_server.errors == []


# ------------------------------------------------------------------ reranker
async def test_rerank_best_first_with_the_servers_scores(jina_server: Any) -> None:
    rr = reranker(jina_server)
    results = await rr.rerank(QUERY, DOCS)
    assert sorted(r.index for r in results) == list(range(len(DOCS)))
    assert results[0].index == 1
    for r in results:
        assert r.score == pytest.approx(jina_server.score_fn(QUERY, DOCS[r.index]))
    await rr.aclose()


async def test_rerank_request_is_the_documented_one(jina_server: Any) -> None:
    rr = reranker(jina_server, model="jina-reranker-v3")
    await rr.rerank(QUERY, DOCS, top_n=2)
    req = jina_server.last()
    assert (req.method, req.path) == ("POST", "/v1/rerank")
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.body == {"model": "jina-reranker-v3", "query": QUERY, "documents": DOCS, "top_n": 2,
                        "return_documents": False}
    await rr.rerank(QUERY, DOCS, top_n=50)
    assert jina_server.last().body["top_n"] == len(DOCS)  # clamped to the document count
    await rr.rerank(QUERY, DOCS)
    assert "top_n" not in jina_server.last().body
    await rr.aclose()


async def test_config_top_n_and_top_k_alias(jina_server: Any) -> None:
    rr = reranker(jina_server, top_k=2)
    assert rr.config.top_n == 2
    assert len(await rr.rerank(QUERY, DOCS)) == 2
    assert len(await rr.rerank(QUERY, DOCS, top_n=3)) == 3  # the caller's top_n wins
    assert await rr.rerank(QUERY, DOCS, top_n=0) == [] and await rr.rerank(QUERY, []) == []
    assert jina_server.count() == 2
    await rr.aclose()


async def test_one_client_keeps_its_connection(jina_server: Any) -> None:
    rr = reranker(jina_server)
    client = rr._http
    for _ in range(3):
        await rr.rerank(QUERY, DOCS)
    assert rr._http is client and jina_server.count() == 3
    await rr.aclose()
    assert client.is_closed


# ------------------------------------------------------------------ embedder
async def test_embed_sends_task_by_purpose_and_the_dimensions(jina_server: Any) -> None:
    emb = embedder(jina_server, model="jina-embeddings-v4", embedding_dims=512, truncate=False)
    [doc] = await emb.embed(["alice likes green tea"])
    req = jina_server.requests[-1]
    assert req.path == "/v1/embeddings"
    assert req.body == {"model": "jina-embeddings-v4", "input": ["alice likes green tea"], "embedding_type": "float",
                        "normalized": True, "truncate": False, "task": "retrieval.passage", "dimensions": 512}
    assert cosine(doc, hash_embedding("alice likes green tea", 512)) > 0.9999
    await emb.embed(["what does alice drink"], purpose="search")
    assert jina_server.requests[-1].body["task"] == "retrieval.query"
    await emb.aclose()


async def test_embed_without_dimensions_or_task(jina_server: Any) -> None:
    emb = embedder(jina_server, embedding_dims=1024, send_dimensions=False, query_task=None)
    [vec] = await emb.embed(["x"], purpose="search")
    body = jina_server.requests[-1].body
    assert "dimensions" not in body and "task" not in body
    assert len(vec) == 1024 and abs(math.hypot(*vec) - 1) < 1e-6
    await emb.aclose()


async def test_embed_reports_each_requests_tokens(jina_server: Any) -> None:
    emb = embedder(jina_server, batch_size=3, max_concurrency=2)
    with usage.embedding_call() as reported:  # as the engine's meter opens around each embed
        await emb.embed([f"text number {i}" for i in range(8)])
    assert sorted(reported) == [6, 9, 9]  # the emulator's counts: 3 words a text, requests of 2, 3, 3
    await emb.aclose()


async def test_embed_splits_big_batches_in_order(jina_server: Any) -> None:
    emb = embedder(jina_server, batch_size=3, max_concurrency=2)
    texts = [f"text number {i}" for i in range(8)]
    vecs = await emb.embed(texts)
    assert sorted(len(r.body["input"]) for r in jina_server.requests) == [2, 3, 3]
    for text, vec in zip(texts, vecs, strict=True):
        assert cosine(vec, hash_embedding(text, 256)) > 0.9999
    await emb.aclose()


async def test_embed_answers_out_of_order_are_put_back_by_index(jina_server: Any) -> None:
    emb = embedder(jina_server, embedding_dims=2)
    jina_server.malformed_next(1, body=b'{"data": [{"index": 1, "embedding": [0, 1]}, '
                                       b'{"index": 0, "embedding": [1, 0]}]}')
    assert await emb.embed(["a", "b"]) == [[1.0, 0.0], [0.0, 1.0]]
    await emb.aclose()


async def test_embed_wrong_dims_names_the_field(jina_server: Any) -> None:
    emb = embedder(jina_server, embedding_dims=300, send_dimensions=False)
    with pytest.raises(ProviderError, match=r"returned 1024-dimensional vectors but embedding_dims is 300; "
                                            r"set embedder.config.embedding_dims to 1024"):
        await emb.embed(["x"])
    await emb.aclose()


async def test_embed_empty_texts_are_sent_as_a_space(jina_server: Any) -> None:
    emb = embedder(jina_server)
    assert await emb.embed([]) == [] and jina_server.requests == []
    assert len(await emb.embed(["", "a"])) == 2
    assert jina_server.requests[-1].body["input"] == [" ", "a"]
    await emb.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"index": 0, "embedding": [1, 0]}]}',                          # one vector for two texts
        b'{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 0, "embedding": [0, 1]}]}',  # same index
        b'{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 1, "embedding": "x"}]}',     # not numbers
        b'{"object": "list"}',                                                     # no data
    ],
)
async def test_malformed_embedding_answers(jina_server: Any, body: bytes) -> None:
    emb = embedder(jina_server, embedding_dims=2)
    jina_server.malformed_next(1, body=body)
    with pytest.raises(ProviderError, match=r"\[jina\] embedder: malformed response"):
        await emb.embed(["a", "b"])
    await emb.aclose()


# ------------------------------------------------------------------ keys and config
def test_missing_api_key_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"jina reranker: no api_key\. Set JINA_API_KEY or reranker\.config\.api_key"):
        JinaReranker.from_config({})
    with pytest.raises(ConfigError, match=r"embedder\.config\.api_key"):
        JinaEmbedder.from_config({})


async def test_api_key_from_env(jina_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_API_KEY", API_KEY)
    rr = JinaReranker.from_config({"base_url": jina_server.base_url})
    await rr.rerank(QUERY, DOCS)
    assert jina_server.last().headers["authorization"] == f"Bearer {API_KEY}"
    await rr.aclose()


def test_defaults_and_config_errors_name_the_field() -> None:
    rr = JinaReranker.from_config({"api_key": "k"})
    assert rr.base_url == "https://api.jina.ai/v1" and rr.model == "jina-reranker-v2-base-multilingual"
    emb = JinaEmbedder.from_config({"api_key": "k"})
    assert emb.model == "jina-embeddings-v3" and emb.dims == 1024
    with pytest.raises(ValueError, match="modle"):
        JinaReranker.from_config({"api_key": "k", "modle": "x"})
    with pytest.raises(ValueError, match="document_task"):
        JinaEmbedder.from_config({"api_key": "k", "document_task": "passage"})
    with pytest.raises(ValueError, match="batch_size"):
        JinaEmbedder.from_config({"api_key": "k", "batch_size": 5000})


def test_api_key_not_in_repr() -> None:
    rr = JinaReranker.from_config({"api_key": "jina_very_secret"})
    emb = JinaEmbedder.from_config({"api_key": "jina_very_secret"})
    for text in (repr(rr), repr(rr.config), repr(emb), repr(emb.config)):
        assert "jina_very_secret" not in text


# ------------------------------------------------------------------ retries and errors
async def test_429_retried_honouring_retry_after(jina_server: Any) -> None:
    rr = reranker(jina_server)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    rr._retry.sleep = record
    jina_server.fail_next(2, status=429, retry_after="0.25")
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert jina_server.count() == 3 and waits == [0.25, 0.25]
    await rr.aclose()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_retried_then_provider_error(jina_server: Any, status: int) -> None:
    emb = embedder(jina_server, max_retries=1)
    jina_server.fail_next(5, status=status)
    with pytest.raises(ProviderError, match=rf"\[jina\] embedder: server error {status} after 2 attempts") as info:
        await emb.embed(["x"])
    assert info.value.retryable and jina_server.count("/v1/embeddings") == 2
    await emb.aclose()


async def test_dropped_connection_is_retried(jina_server: Any) -> None:
    rr = reranker(jina_server)
    jina_server.drop_next(1)
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert jina_server.count() == 2
    await rr.aclose()


async def test_wrong_key_is_an_auth_error_not_retried(jina_server: Any) -> None:
    rr = reranker(jina_server, api_key="jina_wrong")
    with pytest.raises(ProviderError, match=r"authentication failed \(401\).*JINA_API_KEY or "
                                            r"reranker\.config\.api_key.*Failed to authenticate"):
        await rr.rerank(QUERY, DOCS)
    assert jina_server.count() == 1
    await rr.aclose()


async def test_validation_errors_carry_the_servers_message(jina_server: Any) -> None:
    rr = reranker(jina_server, model="jina-embeddings-v3")
    with pytest.raises(ProviderError, match=r"request rejected \(422\).*'jina-embeddings-v3' is not a reranker"):
        await rr.rerank(QUERY, DOCS)
    assert jina_server.count() == 1
    await rr.aclose()


async def test_unreachable_server(jina_server: Any) -> None:
    url = jina_server.base_url
    jina_server.stop()
    rr = JinaReranker.from_config({"api_key": API_KEY, "base_url": url, "max_retries": 1, "retry_backoff": 0.0})
    with pytest.raises(ProviderError, match=r"\[jina\] reranker: server at .* is unreachable after 2 attempts"):
        await rr.rerank(QUERY, DOCS)
    await rr.aclose()


async def test_slow_answer_times_out(jina_server: Any) -> None:
    rr = reranker(jina_server, timeout=0.2, max_retries=0)
    jina_server.slow_next(1, delay=1.0)
    with pytest.raises(ProviderError, match=r"\[jina\] reranker: request to .* timed out \(timeout 0.2s\)"):
        await rr.rerank(QUERY, DOCS)
    await rr.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "x", "results": [{"ind',                                      # truncated JSON
        b"[]",                                                                    # not an object
        b'{"model": "x"}',                                                        # no results
        b'{"results": [{"index": 7, "relevance_score": 0.5}]}',                   # out of range
        b'{"results": [{"index": 0, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.4}]}',
        b'{"results": [{"index": 0, "relevance_score": "high"}]}',                # not a number
        b'{"results": ["x"]}',                                                    # not an object
    ],
)
async def test_malformed_rerank_answers_are_provider_errors_not_retried(jina_server: Any, body: bytes) -> None:
    rr = reranker(jina_server)
    jina_server.malformed_next(1, body=body)
    with pytest.raises(ProviderError, match=r"\[jina\] reranker: malformed response"):
        await rr.rerank(QUERY, DOCS)
    assert jina_server.count() == 1
    await rr.aclose()


async def test_aclose_is_idempotent_and_final(jina_server: Any) -> None:
    emb = embedder(jina_server)
    await emb.aclose()
    await emb.aclose()
    with pytest.raises(ProviderError, match=r"embedder: embed\(\) called after aclose"):
        await emb.embed(["x"])


# ------------------------------------------------------------------ registry and engine
def test_registry_resolves_both_kinds() -> None:
    registry = PluginRegistry()
    assert registry.get("reranker", "jina") is JinaReranker
    assert registry.get("embedder", "jina") is JinaEmbedder
    assert registry.origin("embedder", "jina") == "jina"


FACTS = ["alice likes to drink green tea", "alice went hiking", "alice drinks coffee at work",
         "bob likes tea", "alice prefers water when running"]


async def test_engine_embeds_and_reranks_through_jina(jina_server: Any, tmp_path: Path) -> None:
    conn = {"api_key": API_KEY, "base_url": jina_server.base_url, "retry_backoff": 0.0}
    cfg = {
        "llm": None,
        "embedder": {"provider": "jina", "config": {**conn, "embedding_dims": 256}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / "history.db")}},
        "reranker": {"provider": "jina", "config": conn},
    }
    jina_server.score_fn = lambda q, d: 0.9 if "running" in d else 0.1
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        assert isinstance(mem.reranker, JinaReranker)
        for fact in FACTS:
            await mem.add(fact, user_id="alice", infer=False)
        plain = await mem.search("alice drink tea", user_id="alice", limit=2, rerank=False)
        assert plain["results"][0]["memory"] == "alice likes to drink green tea"
        assert jina_server.requests[-1].body["task"] == "retrieval.query"
        r = await mem.search("alice drink tea", user_id="alice", limit=2)
        assert jina_server.count() == 1
        assert r["results"][0]["memory"] == "alice prefers water when running"
        assert r["results"][0]["score"] == pytest.approx(0.9)


async def test_engine_keeps_vector_order_when_jina_fails(jina_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    cfg = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "reranker": {"provider": "jina", "config": {"api_key": API_KEY, "base_url": jina_server.base_url,
                                                    "max_retries": 0}},
    }
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        for fact in FACTS:
            await mem.add(fact, user_id="alice", infer=False)
        expected = await mem.search("alice drink tea", user_id="alice", limit=3, rerank=False)
        jina_server.fail_next(10, status=503)
        with caplog.at_level(logging.WARNING, logger="mem7"):
            r = await mem.search("alice drink tea", user_id="alice", limit=3)
        assert [x["memory"] for x in r["results"]] == [x["memory"] for x in expected["results"]]
        assert "reranker 'jina' failed" in caplog.text and "[jina]" in caplog.text
