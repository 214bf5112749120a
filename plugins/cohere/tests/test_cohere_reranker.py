"""CohereReranker: the real ``cohere`` client against the loopback ``/v2/rerank`` emulator
(``cohere_server``, tests/conftest.py): reranker expectations, request shape, config, retries,
errors, and the engine falling back to the vector order when Cohere fails."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import cohere
import pytest

from mem7_cohere import CohereReranker
from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.plugins import PluginRegistry
from mem7_core.testing.fakes import ScriptedLLM

QUERY = "what alice likes to drink"
DOCS = [
    "alice went hiking in the alps",
    "alice likes to drink green tea",
    "bob likes coffee",
    "what alice does not like: loud music",
    "to drink or not to drink",
]


def make(server: Any, **cfg: Any) -> CohereReranker:
    cfg.setdefault("api_key", "co-test")
    cfg.setdefault("base_url", server.url)
    cfg.setdefault("retry_backoff", 0.0)
    return CohereReranker.from_config(cfg)  # type: ignore[return-value]


@pytest.fixture
async def reranker(cohere_server: Any):
    rr = make(cohere_server)
    yield rr
    await rr.aclose()


def test_the_real_cohere_client_is_used() -> None:
    # --import-mode=importlib and a plugins/cohere/ dir: the name must resolve to the installed SDK.
    assert Path(cohere.__file__).parent.name == "cohere" and "site-packages" in cohere.__file__
    assert hasattr(cohere, "AsyncClientV2")


# ------------------------------------------------------------------ reranker expectations
async def test_indexes_valid_unique_and_best_first(reranker: CohereReranker, cohere_server: Any) -> None:
    results = await reranker.rerank(QUERY, DOCS)
    assert len(results) == len(DOCS)
    assert sorted(r.index for r in results) == list(range(len(DOCS)))
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
    assert results[0].index == 1  # "alice likes to drink green tea"
    for r in results:
        assert r.score == pytest.approx(cohere_server.score_fn(QUERY, DOCS[r.index]))


async def test_top_n_respected_and_sent(reranker: CohereReranker, cohere_server: Any) -> None:
    full = await reranker.rerank(QUERY, DOCS)
    top2 = await reranker.rerank(QUERY, DOCS, top_n=2)
    assert [r.index for r in top2] == [r.index for r in full[:2]]
    assert cohere_server.last().body["top_n"] == 2
    assert "top_n" not in cohere_server.requests[0].body  # not sent when the caller gives none
    everything = await reranker.rerank(QUERY, DOCS, top_n=50)
    assert len(everything) == len(DOCS)
    assert cohere_server.last().body["top_n"] == len(DOCS)  # clamped to the document count


async def test_empty_documents_and_zero_top_n_make_no_request(reranker: CohereReranker, cohere_server: Any) -> None:
    assert await reranker.rerank(QUERY, []) == []
    assert await reranker.rerank(QUERY, DOCS, top_n=0) == []
    assert cohere_server.count() == 0


async def test_single_document(reranker: CohereReranker) -> None:
    [only] = await reranker.rerank("tea", ["green tea"])
    assert only.index == 0 and only.score == pytest.approx(1.0)


async def test_config_top_n_is_the_default_cap(cohere_server: Any) -> None:
    rr = make(cohere_server, top_n=2)
    assert len(await rr.rerank(QUERY, DOCS)) == 2
    assert len(await rr.rerank(QUERY, DOCS, top_n=3)) == 3  # the caller's top_n wins
    await rr.aclose()


# ------------------------------------------------------------------ request shape
async def test_request_is_the_documented_v2_rerank(cohere_server: Any) -> None:
    rr = make(cohere_server, model="rerank-english-v3.0", max_tokens_per_doc=3)
    await rr.rerank(QUERY, DOCS)
    req = cohere_server.last()
    assert (req.method, req.path) == ("POST", "/v2/rerank")
    assert req.headers["authorization"] == "Bearer co-test"
    assert req.headers["content-type"].startswith("application/json")
    assert req.headers["x-client-name"] == "mem7"
    assert req.body == {"model": "rerank-english-v3.0", "query": QUERY, "documents": DOCS, "max_tokens_per_doc": 3}
    await rr.aclose()


async def test_one_client_and_keep_alive_across_calls(reranker: CohereReranker, cohere_server: Any) -> None:
    client = reranker._client
    for _ in range(3):
        await reranker.rerank(QUERY, DOCS)
    assert reranker._client is client and cohere_server.count() == 3


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v2/"])
async def test_base_url_honoured(cohere_server: Any, suffix: str) -> None:
    rr = make(cohere_server, base_url=cohere_server.url + suffix)
    assert rr.base_url == cohere_server.url
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert cohere_server.last().path == "/v2/rerank"
    await rr.aclose()


async def test_base_url_from_co_api_url(cohere_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_URL", cohere_server.url)
    rr = CohereReranker.from_config({"api_key": "co-test"})
    assert rr.base_url == cohere_server.url
    await rr.rerank(QUERY, DOCS)
    assert cohere_server.count() == 1
    await rr.aclose()
    monkeypatch.delenv("CO_API_URL")
    assert CohereReranker.from_config({"api_key": "k"}).base_url == "https://api.cohere.com"


# ------------------------------------------------------------------ api key and config
def test_missing_api_key_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"cohere reranker: no api_key\. Set CO_API_KEY \(or COHERE_API_KEY\) "
                                          r"or reranker\.config\.api_key"):
        CohereReranker.from_config({})


@pytest.mark.parametrize("var", ["CO_API_KEY", "COHERE_API_KEY"])
async def test_api_key_from_env(cohere_server: Any, monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "co-test")
    rr = CohereReranker.from_config({"base_url": cohere_server.url})
    await rr.rerank(QUERY, DOCS)
    assert cohere_server.last().headers["authorization"] == "Bearer co-test"
    await rr.aclose()


async def test_key_precedence_config_then_co_api_key(cohere_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_KEY", "from-co")
    monkeypatch.setenv("COHERE_API_KEY", "from-cohere")
    cohere_server.api_key = "from-co"
    rr = CohereReranker.from_config({"base_url": cohere_server.url})
    await rr.rerank(QUERY, DOCS)
    await rr.aclose()
    cohere_server.api_key = "from-config"
    rr = make(cohere_server, api_key="from-config")
    await rr.rerank(QUERY, DOCS)
    await rr.aclose()
    assert [r.headers["authorization"] for r in cohere_server.requests] == ["Bearer from-co", "Bearer from-config"]


def test_config_validation_and_mem0_keys() -> None:
    with pytest.raises(ValueError, match="modle"):
        CohereReranker.from_config({"api_key": "k", "modle": "rerank-v3.5"})
    with pytest.raises(ValueError, match="top_n"):
        CohereReranker.from_config({"api_key": "k", "top_n": 0})
    rr = CohereReranker.from_config({"api_key": "k", "top_k": 4, "return_documents": False,
                                     "max_chunks_per_doc": 10, "model": "rerank-english-v3.0"})
    assert rr.config.top_n == 4 and rr.model == "rerank-english-v3.0"


def test_api_key_not_in_repr() -> None:
    rr = CohereReranker.from_config({"api_key": "co-very-secret"})
    assert "co-very-secret" not in repr(rr) and "co-very-secret" not in repr(rr.config)


# ------------------------------------------------------------------ retries
async def test_429_retried_with_retry_after_then_succeeds(cohere_server: Any) -> None:
    rr = make(cohere_server)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    rr.sleep = record
    cohere_server.fail_next(2, status=429, retry_after="0.25")
    results = await rr.rerank(QUERY, DOCS)
    assert len(results) == len(DOCS) and cohere_server.count() == 3
    assert waits == [0.25, 0.25]
    await rr.aclose()


async def test_backoff_grows_without_retry_after(cohere_server: Any) -> None:
    rr = make(cohere_server, retry_backoff=0.1, retry_max_backoff=0.3, max_retries=3)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    rr.sleep = record
    cohere_server.fail_next(3, status=503)
    await rr.rerank(QUERY, DOCS)
    assert len(waits) == 3
    assert 0.075 <= waits[0] <= 0.1 and 0.15 <= waits[1] <= 0.2 and 0.225 <= waits[2] <= 0.3
    await rr.aclose()


async def test_bounded_retries_then_provider_error(cohere_server: Any) -> None:
    rr = make(cohere_server, max_retries=2)
    cohere_server.fail_next(10, status=429, retry_after=0)
    with pytest.raises(ProviderError, match=r"\[cohere\] reranker: rate limited \(429\) after 3 attempts") as info:
        await rr.rerank(QUERY, DOCS)
    assert info.value.provider == "cohere" and info.value.retryable
    assert cohere_server.count() == 3
    await rr.aclose()


async def test_long_retry_after_is_not_waited_for(cohere_server: Any) -> None:
    rr = make(cohere_server)
    cohere_server.fail_next(1, status=429, retry_after=3600)
    with pytest.raises(ProviderError, match="rate limited"):
        await rr.rerank(QUERY, DOCS)
    assert cohere_server.count() == 1
    await rr.aclose()


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_server_errors_are_retried(cohere_server: Any, status: int) -> None:
    rr = make(cohere_server)
    cohere_server.fail_next(1, status=status)
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert cohere_server.count() == 2
    await rr.aclose()


async def test_dropped_connection_is_retried(cohere_server: Any) -> None:
    rr = make(cohere_server)
    cohere_server.drop_next(1)
    assert len(await rr.rerank(QUERY, DOCS)) == len(DOCS)
    assert cohere_server.count() == 2
    await rr.aclose()


async def test_zero_retries(cohere_server: Any) -> None:
    rr = make(cohere_server, max_retries=0)
    cohere_server.fail_next(1, status=500)
    with pytest.raises(ProviderError, match=r"server error 500 after 1 attempt at http://127\.0\.0\.1"):
        await rr.rerank(QUERY, DOCS)
    assert cohere_server.count() == 1
    await rr.aclose()


# ------------------------------------------------------------------ errors
async def test_wrong_key_names_the_key_and_is_not_retried(cohere_server: Any) -> None:
    rr = make(cohere_server, api_key="co-wrong")
    with pytest.raises(ProviderError, match=r"authentication failed \(401\).*CO_API_KEY / COHERE_API_KEY or "
                                            r"reranker\.config\.api_key.*invalid api token") as info:
        await rr.rerank(QUERY, DOCS)
    assert not info.value.retryable and cohere_server.count() == 1
    await rr.aclose()


async def test_unknown_model_names_the_model(cohere_server: Any) -> None:
    rr = make(cohere_server, model="command-r")
    with pytest.raises(ProviderError, match=r"not found \(404\).*reranker\.config\.model \('command-r'\)"):
        await rr.rerank(QUERY, DOCS)
    assert cohere_server.count() == 1
    await rr.aclose()


@pytest.mark.parametrize(("status", "expected"), [(400, r"request rejected \(400\)"),
                                                   (403, r"permission denied \(403\)"),
                                                   (422, r"request rejected \(422\)")])
async def test_client_errors_are_not_retried(cohere_server: Any, status: int, expected: str) -> None:
    rr = make(cohere_server)
    cohere_server.fail_next(1, status=status, body={"message": "nope"})
    with pytest.raises(ProviderError, match=expected + ".*nope"):
        await rr.rerank(QUERY, DOCS)
    assert cohere_server.count() == 1
    await rr.aclose()


async def test_timeout_is_a_provider_error(cohere_server: Any) -> None:
    rr = make(cohere_server, timeout=0.2, max_retries=0)
    cohere_server.slow_next(1, delay=1.0)
    with pytest.raises(ProviderError, match=r"timed out \(timeout 0\.2s\) after 1 attempt") as info:
        await rr.rerank(QUERY, DOCS)
    assert info.value.retryable
    await rr.aclose()


async def test_unreachable_server_names_the_url() -> None:
    rr = CohereReranker.from_config({"api_key": "k", "base_url": "http://127.0.0.1:9", "max_retries": 1,
                                     "retry_backoff": 0.0})
    with pytest.raises(ProviderError, match=r"server at http://127\.0\.0\.1:9 is unreachable after 2 attempts"):
        await rr.rerank(QUERY, DOCS)
    await rr.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "x", "results": [{"ind',                                       # truncated JSON
        b"",                                                                     # empty body
        b'{"id": "x"}',                                                          # no results
        b'{"results": [{"index": 7, "relevance_score": 0.5}]}',                  # index out of range
        b'{"results": [{"index": 0, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.4}]}',  # duplicate
        b'{"results": [{"index": 0, "relevance_score": "high"}]}',               # non-numeric score
        b'{"results": [{"relevance_score": 0.5}]}',                              # no index
    ],
)
async def test_malformed_responses_are_provider_errors_not_retried(cohere_server: Any, body: bytes) -> None:
    rr = make(cohere_server)
    cohere_server.malformed_next(1, body=body)
    with pytest.raises(ProviderError, match=r"\[cohere\] reranker: malformed response"):
        await rr.rerank(QUERY, DOCS)
    assert cohere_server.count() == 1
    await rr.aclose()


async def test_aclose_is_idempotent_and_final(cohere_server: Any) -> None:
    rr = make(cohere_server)
    await rr.rerank(QUERY, DOCS)
    await rr.aclose()
    await rr.aclose()
    with pytest.raises(ProviderError, match="after aclose"):
        await rr.rerank(QUERY, DOCS)


# ------------------------------------------------------------------ registry and engine
def test_registry_resolves_cohere() -> None:
    registry = PluginRegistry()
    assert registry.get("reranker", "cohere") is CohereReranker
    assert registry.origin("reranker", "cohere") == "cohere"
    rr = registry.create("reranker", "cohere", {"api_key": "k", "model": "rerank-v3.5"})
    assert isinstance(rr, CohereReranker) and rr.model == "rerank-v3.5"


def _engine_config(**reranker: Any) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "reranker": {"provider": "cohere", **reranker},
    }


FACTS = ["alice likes to drink green tea", "alice went hiking", "alice drinks coffee at work",
         "bob likes tea", "alice prefers water when running"]


async def test_engine_reranks_through_cohere(cohere_server: Any) -> None:
    cfg = _engine_config(config={"api_key": "co-test", "base_url": cohere_server.url})
    # The emulator prefers documents mentioning "running": the engine must follow it.
    cohere_server.score_fn = lambda q, d: 0.9 if "running" in d else 0.1
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        assert isinstance(mem.reranker, CohereReranker)
        for fact in FACTS:
            await mem.add(fact, user_id="alice", infer=False)
        plain = await mem.search("alice drink tea", user_id="alice", limit=2, rerank=False)
        assert cohere_server.count() == 0
        r = await mem.search("alice drink tea", user_id="alice", limit=2)
        assert cohere_server.count() == 1
        req = cohere_server.last()
        assert req.body["query"] == "alice drink tea" and len(req.body["documents"]) == len(FACTS)
        assert r["results"][0]["memory"] == "alice prefers water when running"
        assert r["results"][0]["score"] == pytest.approx(0.9)
        assert [x["memory"] for x in r["results"]] != [x["memory"] for x in plain["results"]]


async def test_engine_keeps_vector_order_when_cohere_fails(
    cohere_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _engine_config(config={"api_key": "co-test", "base_url": cohere_server.url, "max_retries": 1,
                                 "retry_backoff": 0.0})
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        for fact in FACTS:
            await mem.add(fact, user_id="alice", infer=False)
        expected = await mem.search("alice drink tea", user_id="alice", limit=3, rerank=False)
        cohere_server.fail_next(10, status=503)
        with caplog.at_level(logging.WARNING, logger="mem7"):
            r = await mem.search("alice drink tea", user_id="alice", limit=3)
        assert cohere_server.count() == 2  # one try, one retry, then the engine falls back
        assert [x["memory"] for x in r["results"]] == [x["memory"] for x in expected["results"]]
        assert [x["score"] for x in r["results"]] == pytest.approx([x["score"] for x in expected["results"]])
        assert "reranker 'cohere' failed" in caplog.text and "[cohere]" in caplog.text


async def test_engine_build_fails_without_a_key() -> None:
    with pytest.raises(ConfigError, match="cohere reranker: no api_key"):
        AsyncMemory(_engine_config(config={}), llm=ScriptedLLM())
