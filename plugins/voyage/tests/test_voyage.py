"""VoyageReranker and VoyageEmbedder: the real ``voyageai`` client against the loopback Voyage API
emulator (``voyage_server``, tests/conftest.py): request shapes, config, keys, retries, errors,
connection reuse, and both providers under a real engine."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import voyageai

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import usage
from mem7_core.providers.vectors import cosine
from mem7_core.testing.fakes import ScriptedLLM, hash_embedding
from mem7_voyage import VoyageEmbedder, VoyageReranker

API_KEY = "pa-test"
QUERY = "what alice likes to drink"
DOCS = [
    "alice went hiking in the alps",
    "alice likes to drink green tea",
    "bob likes coffee",
    "what alice does not like: loud music",
    "to drink or not to drink",
]


def reranker(server: Any, **cfg: Any) -> VoyageReranker:
    cfg = {"api_key": API_KEY, "base_url": server.base_url, "retry_backoff": 0.0, **cfg}
    return VoyageReranker.from_config(cfg)  # type: ignore[return-value]


def embedder(server: Any, **cfg: Any) -> VoyageEmbedder:
    cfg = {"api_key": API_KEY, "base_url": server.base_url, "retry_backoff": 0.0, "embedding_dims": 256, **cfg}
    return VoyageEmbedder.from_config(cfg)  # type: ignore[return-value]


def test_the_real_voyageai_client_is_used() -> None:
    assert "site-packages" in voyageai.__file__ and hasattr(voyageai, "AsyncClient")


# ------------------------------------------------------------------ the emulator itself
def test_emulator_answers_the_documented_shapes(voyage_server: Any) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    r = httpx.post(f"{voyage_server.base_url}/rerank", headers=auth,
                   json={"query": "green tea", "documents": ["coffee", "green tea", "tea"], "model": "rerank-2.5",
                         "top_k": 2})
    assert r.status_code == 200
    assert r.json()["data"] == [{"index": 1, "relevance_score": 1.0}, {"index": 2, "relevance_score": 0.5}]
    e = httpx.post(f"{voyage_server.base_url}/embeddings", headers=auth,
                   json={"input": ["green tea"], "model": "voyage-3.5", "output_dimension": 256})
    assert e.json()["data"][0]["embedding"] == pytest.approx(hash_embedding("green tea", 256))
    assert httpx.post(f"{voyage_server.base_url}/rerank", json={}).status_code == 401
    assert httpx.post(f"{voyage_server.url}/v2/rerank", headers=auth, json={}).status_code == 404
    bad = httpx.post(f"{voyage_server.base_url}/embeddings", headers=auth,
                     json={"input": ["x"], "model": "voyage-3.5", "output_dimension": 100})
    assert bad.status_code == 400 and "output_dimension" in bad.json()["detail"]
    assert voyage_server.errors == []


# ------------------------------------------------------------------ reranker
async def test_rerank_best_first_with_the_servers_scores(voyage_server: Any) -> None:
    rr = reranker(voyage_server)
    results = await rr.rerank(QUERY, DOCS)
    assert sorted(r.index for r in results) == list(range(len(DOCS)))
    assert results[0].index == 1
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    for r in results:
        assert r.score == pytest.approx(voyage_server.score_fn(QUERY, DOCS[r.index]))
    await rr.aclose()


async def test_rerank_request_is_the_documented_one(voyage_server: Any) -> None:
    rr = reranker(voyage_server, model="rerank-2.5-lite", truncation=False)
    await rr.rerank(QUERY, DOCS, top_n=2)
    req = voyage_server.last()
    assert (req.method, req.path) == ("POST", "/v1/rerank")
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.body["model"] == "rerank-2.5-lite" and req.body["query"] == QUERY and req.body["documents"] == DOCS
    assert req.body["top_k"] == 2 and req.body["truncation"] is False
    await rr.rerank(QUERY, DOCS, top_n=50)
    assert voyage_server.last().body["top_k"] == len(DOCS)  # clamped to the document count
    await rr.aclose()


async def test_config_top_n_and_top_k_alias(voyage_server: Any) -> None:
    rr = reranker(voyage_server, top_k=2)
    assert rr.config.top_n == 2
    assert len(await rr.rerank(QUERY, DOCS)) == 2
    assert len(await rr.rerank(QUERY, DOCS, top_n=3)) == 3  # the caller's top_n wins
    assert await rr.rerank(QUERY, DOCS, top_n=0) == [] and await rr.rerank(QUERY, []) == []
    assert voyage_server.count() == 2
    await rr.aclose()


async def test_one_session_reused_across_calls(voyage_server: Any) -> None:
    rr = reranker(voyage_server)
    await rr.rerank(QUERY, DOCS)
    session = rr._session
    assert session is not None
    for _ in range(3):
        await rr.rerank(QUERY, DOCS)
    assert rr._session is session and voyage_server.count() == 4
    await rr.aclose()
    assert session.closed


# ------------------------------------------------------------------ embedder
async def test_embed_sends_input_type_by_purpose_and_the_dimension(voyage_server: Any) -> None:
    emb = embedder(voyage_server, model="voyage-3-large", embedding_dims=512)
    [doc] = await emb.embed(["alice likes green tea"])
    req = voyage_server.requests[-1]
    assert req.path == "/v1/embeddings"
    assert req.body["input"] == ["alice likes green tea"] and req.body["model"] == "voyage-3-large"
    assert req.body["input_type"] == "document" and req.body["output_dimension"] == 512
    assert req.body["truncation"] is True
    assert cosine(doc, hash_embedding("alice likes green tea", 512)) > 0.9999  # base64 decoded right
    await emb.embed(["what does alice drink"], purpose="search")
    assert voyage_server.requests[-1].body["input_type"] == "query"
    await emb.aclose()


async def test_embed_without_dimension_or_input_type(voyage_server: Any) -> None:
    emb = embedder(voyage_server, embedding_dims=1024, send_dimensions=False, query_input_type=None)
    [vec] = await emb.embed(["x"], purpose="search")
    body = voyage_server.requests[-1].body
    assert "output_dimension" not in body or body["output_dimension"] is None
    assert body.get("input_type") is None and len(vec) == 1024 and abs(math.hypot(*vec) - 1) < 1e-6
    await emb.aclose()


async def test_embed_reports_each_requests_tokens(voyage_server: Any) -> None:
    emb = embedder(voyage_server, batch_size=3, max_concurrency=2)
    with usage.embedding_call() as reported:  # as the engine's meter opens around each embed
        await emb.embed([f"text number {i}" for i in range(8)])
    assert sorted(reported) == [6, 9, 9]  # the emulator's counts: 3 words a text, requests of 2, 3, 3
    await emb.aclose()


async def test_embed_splits_big_batches_in_order(voyage_server: Any) -> None:
    emb = embedder(voyage_server, batch_size=3, max_concurrency=2)
    texts = [f"text number {i}" for i in range(8)]
    vecs = await emb.embed(texts)
    sizes = sorted(len(r.body["input"]) for r in voyage_server.requests)
    assert sizes == [2, 3, 3]
    for text, vec in zip(texts, vecs, strict=True):
        assert cosine(vec, hash_embedding(text, 256)) > 0.9999
    await emb.aclose()


async def test_embed_wrong_dims_names_the_field(voyage_server: Any) -> None:
    emb = embedder(voyage_server, embedding_dims=300, send_dimensions=False)
    with pytest.raises(ProviderError, match=r"returned 1024-dimensional vectors but embedding_dims is 300; "
                                            r"set embedder.config.embedding_dims to 1024"):
        await emb.embed(["x"])
    await emb.aclose()


async def test_embed_empty_texts_are_sent_as_a_space(voyage_server: Any) -> None:
    emb = embedder(voyage_server)
    assert await emb.embed([]) == []
    assert voyage_server.requests == []
    assert len(await emb.embed(["", "a"])) == 2
    assert voyage_server.requests[-1].body["input"] == [" ", "a"]
    await emb.aclose()


# ------------------------------------------------------------------ keys and config
def test_missing_api_key_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"voyage reranker: no api_key\. Set VOYAGE_API_KEY or "
                                          r"reranker\.config\.api_key"):
        VoyageReranker.from_config({})
    with pytest.raises(ConfigError, match=r"embedder\.config\.api_key"):
        VoyageEmbedder.from_config({})


async def test_api_key_from_env(voyage_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOYAGE_API_KEY", API_KEY)
    rr = VoyageReranker.from_config({"base_url": voyage_server.base_url})
    await rr.rerank(QUERY, DOCS)
    assert voyage_server.last().headers["authorization"] == f"Bearer {API_KEY}"
    await rr.aclose()


def test_default_base_url_follows_the_key() -> None:
    assert VoyageReranker.from_config({"api_key": "pa-x"}).base_url == "https://api.voyageai.com/v1"
    assert VoyageReranker.from_config({"api_key": "al-x"}).base_url == "https://ai.mongodb.com/v1"


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="modle"):
        VoyageReranker.from_config({"api_key": "k", "modle": "rerank-2.5"})
    with pytest.raises(ValueError, match="batch_size"):
        VoyageEmbedder.from_config({"api_key": "k", "batch_size": 1001})
    with pytest.raises(ValueError, match="document_input_type"):
        VoyageEmbedder.from_config({"api_key": "k", "document_input_type": "passage"})


def test_api_key_not_in_repr() -> None:
    rr = VoyageReranker.from_config({"api_key": "pa-very-secret"})
    emb = VoyageEmbedder.from_config({"api_key": "pa-very-secret"})
    for text in (repr(rr), repr(rr.config), repr(emb), repr(emb.config)):
        assert "pa-very-secret" not in text


# ------------------------------------------------------------------ retries and errors
async def test_429_retried_honouring_retry_after(voyage_server: Any) -> None:
    rr = reranker(voyage_server)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    rr._retry.sleep = record
    voyage_server.fail_next(2, status=429, retry_after="0.25")
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert voyage_server.count() == 3 and waits == [0.25, 0.25]
    await rr.aclose()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_retried_then_provider_error(voyage_server: Any, status: int) -> None:
    emb = embedder(voyage_server, max_retries=1)
    voyage_server.fail_next(5, status=status)
    with pytest.raises(ProviderError, match=rf"\[voyage\] embedder: server error {status} after 2 attempts") as info:
        await emb.embed(["x"])
    assert info.value.retryable and voyage_server.count("/v1/embeddings") == 2
    await emb.aclose()


async def test_dropped_connection_is_retried(voyage_server: Any) -> None:
    rr = reranker(voyage_server)
    voyage_server.drop_next(1)
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert voyage_server.count() == 2
    await rr.aclose()


async def test_wrong_key_is_an_auth_error_not_retried(voyage_server: Any) -> None:
    rr = reranker(voyage_server, api_key="pa-wrong")
    with pytest.raises(ProviderError, match=r"authentication failed \(401\).*VOYAGE_API_KEY or "
                                            r"reranker\.config\.api_key.*Provided API key is invalid"):
        await rr.rerank(QUERY, DOCS)
    assert voyage_server.count() == 1
    await rr.aclose()


async def test_unknown_model_is_a_clear_error(voyage_server: Any) -> None:
    rr = reranker(voyage_server, model="voyage-3.5")
    with pytest.raises(ProviderError, match=r"request rejected \(400\).*Model voyage-3.5 is not supported"):
        await rr.rerank(QUERY, DOCS)
    await rr.aclose()


async def test_unreachable_server(voyage_server: Any) -> None:
    url = voyage_server.base_url
    voyage_server.stop()
    rr = VoyageReranker.from_config({"api_key": API_KEY, "base_url": url, "max_retries": 1, "retry_backoff": 0.0})
    with pytest.raises(ProviderError, match=r"\[voyage\] reranker: server at .* is unreachable after 2 attempts"):
        await rr.rerank(QUERY, DOCS)
    await rr.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b'{"object": "list", "data": [{"ind',                                    # truncated JSON
        b'{"object": "list"}',                                                   # no data
        b'{"data": [{"index": 7, "relevance_score": 0.5}], "usage": {"total_tokens": 1}}',  # out of range
        b'{"data": [{"index": 0, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.4}], '
        b'"usage": {"total_tokens": 1}}',                                          # duplicate index
        b'{"data": [{"index": 0, "relevance_score": "high"}], "usage": {"total_tokens": 1}}',  # not a number
    ],
)
async def test_malformed_rerank_answers_are_provider_errors_not_retried(voyage_server: Any, body: bytes) -> None:
    rr = reranker(voyage_server)
    voyage_server.malformed_next(1, body=body)
    with pytest.raises(ProviderError, match=r"\[voyage\] reranker: malformed response"):
        await rr.rerank(QUERY, DOCS)
    assert voyage_server.count() == 1
    await rr.aclose()


async def test_aclose_is_idempotent_and_final(voyage_server: Any) -> None:
    rr = reranker(voyage_server)
    await rr.aclose()
    await rr.aclose()
    with pytest.raises(ProviderError, match="after aclose"):
        await rr.rerank(QUERY, DOCS)


# ------------------------------------------------------------------ registry and engine
def test_registry_resolves_both_kinds() -> None:
    registry = PluginRegistry()
    assert registry.get("reranker", "voyage") is VoyageReranker
    assert registry.get("embedder", "voyage") is VoyageEmbedder
    assert registry.origin("reranker", "voyage") == "voyage"


FACTS = ["alice likes to drink green tea", "alice went hiking", "alice drinks coffee at work",
         "bob likes tea", "alice prefers water when running"]


async def test_engine_embeds_and_reranks_through_voyage(voyage_server: Any, tmp_path: Path) -> None:
    conn = {"api_key": API_KEY, "base_url": voyage_server.base_url, "retry_backoff": 0.0}
    cfg = {
        "llm": None,
        "embedder": {"provider": "voyage", "config": {**conn, "embedding_dims": 256}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / "history.db")}},
        "reranker": {"provider": "voyage", "config": conn},
    }
    voyage_server.score_fn = lambda q, d: 0.9 if "running" in d else 0.1
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        assert isinstance(mem.reranker, VoyageReranker)
        for fact in FACTS:
            await mem.add(fact, user_id="alice", infer=False)
        assert voyage_server.count("/v1/embeddings") >= len(FACTS)
        plain = await mem.search("alice drink tea", user_id="alice", limit=2, rerank=False)
        assert plain["results"][0]["memory"] == "alice likes to drink green tea"
        assert voyage_server.requests[-1].body["input_type"] == "query"
        r = await mem.search("alice drink tea", user_id="alice", limit=2)
        assert voyage_server.count() == 1
        assert r["results"][0]["memory"] == "alice prefers water when running"
        assert r["results"][0]["score"] == pytest.approx(0.9)


async def test_engine_keeps_vector_order_when_voyage_fails(
    voyage_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "reranker": {"provider": "voyage", "config": {"api_key": API_KEY, "base_url": voyage_server.base_url,
                                                      "max_retries": 0}},
    }
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        for fact in FACTS:
            await mem.add(fact, user_id="alice", infer=False)
        expected = await mem.search("alice drink tea", user_id="alice", limit=3, rerank=False)
        voyage_server.fail_next(10, status=503)
        with caplog.at_level(logging.WARNING, logger="mem7"):
            r = await mem.search("alice drink tea", user_id="alice", limit=3)
        assert [x["memory"] for x in r["results"]] == [x["memory"] for x in expected["results"]]
        assert "reranker 'voyage' failed" in caplog.text and "[voyage]" in caplog.text
