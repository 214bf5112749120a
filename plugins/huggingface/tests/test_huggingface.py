"""The huggingface embedder and reranker's own behaviour: against the loopback Text Embeddings
Inference emulator (the requests they build, batching, prompts, truncation, auth, retries and the
errors they raise), the local model's config checks, and the engine using them by name."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mem7_core.errors import ConfigError, ProviderError
from mem7_huggingface import HuggingFaceEmbedder, HuggingFaceReranker

TEIEmulator = Any  # tests/conftest.py's, which pytest loads as a plugin (not importable here)


def _embedder(server: TEIEmulator, **cfg: Any) -> HuggingFaceEmbedder:
    return HuggingFaceEmbedder.from_config({"base_url": server.url, "embedding_dims": 64, "retry_backoff": 0.0,
                                            **cfg})


def _reranker(server: TEIEmulator, **cfg: Any) -> HuggingFaceReranker:
    return HuggingFaceReranker.from_config({"base_url": server.url, "retry_backoff": 0.0, **cfg})


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def _waits(provider: Any) -> list[float]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    provider._retry.sleep = record
    return waits


# ----------------------------------------------------------------------------------- TEI embedder
async def test_embed_request_and_prompts_by_purpose(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, query_prompt_name="query", document_prompt_name="passage")
    [doc] = await emb.embed(["green tea"])
    doc_body = tei_server.last("/embed").body
    [query] = await emb.embed(["green tea"], purpose="search")
    query_body = tei_server.last("/embed").body
    await emb.aclose()
    assert doc_body == {"inputs": ["green tea"], "normalize": True, "truncate": True, "prompt_name": "passage"}
    assert query_body["prompt_name"] == "query"
    assert doc != query and abs(_norm(doc) - 1) < 1e-6
    assert tei_server.last().headers.get("authorization") is None  # no key configured, none sent


async def test_no_prompt_is_sent_by_default(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server)
    await emb.embed(["a"], purpose="search")
    await emb.aclose()
    assert "prompt_name" not in tei_server.last("/embed").body


async def test_big_batches_are_split_and_kept_in_order(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, batch_size=16, max_concurrency=2)
    texts = [f"text number {i}" for i in range(40)]
    vectors = await emb.embed(texts)
    sizes = sorted(len(r.body["inputs"]) for r in tei_server.requests)
    [alone] = await emb.embed([texts[37]])
    await emb.aclose()
    assert sizes == [8, 16, 16] and len(vectors) == 40 and vectors[37] == alone


async def test_a_batch_over_the_servers_limit_says_what_to_lower(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, batch_size=64)
    with pytest.raises(ProviderError, match=r"\(413\): validation: batch size 40 > maximum allowed batch size 32.*"
                                            r"embedder\.config\.batch_size") as err:
        await emb.embed([f"t{i}" for i in range(40)])
    await emb.aclose()
    assert not err.value.retryable and tei_server.count("/embed") == 1


async def test_truncation(tei_server: TEIEmulator) -> None:
    long = "word " * 600
    emb = _embedder(tei_server)
    [vec] = await emb.embed([long])
    await emb.aclose()
    assert len(vec) == 64
    strict = _embedder(tei_server, truncate=False)
    with pytest.raises(ProviderError, match=r"must have less than 512 tokens.*embedder\.config\.truncate"):
        await strict.embed([long])
    await strict.aclose()


async def test_an_empty_text_is_sent_as_a_space(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server)
    rows = await emb.embed(["", "x"])
    await emb.aclose()
    assert tei_server.last("/embed").body["inputs"] == [" ", "x"] and len(rows) == 2


async def test_normalize_off_keeps_the_servers_vectors(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, normalize=False)
    [vec] = await emb.embed(["not unit"])
    await emb.aclose()
    assert tei_server.last("/embed").body["normalize"] is False and abs(_norm(vec) - 1) > 0.01


async def test_an_unknown_prompt_name_is_the_servers_error(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, query_prompt_name="question")
    with pytest.raises(ProviderError, match="`prompt_name` question is not available"):
        await emb.embed(["q"], purpose="search")
    await emb.aclose()


async def test_wrong_dims_are_named(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, embedding_dims=32)
    with pytest.raises(ProviderError, match=r"returned 64-dimensional vectors.*embedding_dims to 64"):
        await emb.embed(["hello"])
    await emb.aclose()


async def test_the_api_key_is_a_bearer_token(tei_factory: Any) -> None:
    server = tei_factory(api_key="tei-secret")
    good = _embedder(server, api_key="tei-secret")
    assert len((await good.embed(["x"]))[0]) == 64
    assert server.last("/embed").headers["authorization"] == "Bearer tei-secret"
    await good.aclose()
    for key in ("wrong", None):
        bad = _embedder(server, api_key=key)
        with pytest.raises(ProviderError, match=r"authentication failed \(401\).*embedder\.config\.api_key"):
            await bad.embed(["x"])
        await bad.aclose()


async def test_overload_is_retried_honouring_retry_after(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, max_retries=3)
    waits = _waits(emb)
    tei_server.fail_next(2, 429, retry_after="0.75")
    assert len(await emb.embed(["x"])) == 1
    await emb.aclose()
    assert tei_server.count("/embed") == 3 and waits == [0.75, 0.75]


async def test_overload_past_the_retries_is_a_retryable_error(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server, max_retries=1)
    _waits(emb)
    tei_server.fail_next(5, 429)
    with pytest.raises(ProviderError, match=r"rate limited \(429\) after 2 attempts.*overloaded") as err:
        await emb.embed(["x"])
    await emb.aclose()
    assert err.value.retryable and tei_server.count("/embed") == 2


async def test_transport_failures(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server)
    _waits(emb)
    tei_server.drop_next(1)
    assert len(await emb.embed(["x"])) == 1  # a dropped connection is retried
    tei_server.malformed_next(3)
    with pytest.raises(ProviderError, match="malformed response"):
        await emb.embed(["x"])
    await emb.aclose()
    slow = _embedder(tei_server, timeout=0.2, max_retries=0)
    tei_server.clear_faults()
    tei_server.slow_next(1, delay=1.0)
    with pytest.raises(ProviderError, match=r"timed out \(timeout 0\.2s\)"):
        await slow.embed(["x"])
    await slow.aclose()
    gone = HuggingFaceEmbedder.from_config({"base_url": "http://127.0.0.1:9", "embedding_dims": 8, "max_retries": 0})
    with pytest.raises(ProviderError, match=r"http://127\.0\.0\.1:9 is unreachable"):
        await gone.embed(["x"])
    await gone.aclose()


async def test_embed_after_aclose_fails(tei_server: TEIEmulator) -> None:
    emb = _embedder(tei_server)
    await emb.aclose()
    await emb.aclose()
    with pytest.raises(ProviderError, match=r"embed\(\) called after aclose\(\)"):
        await emb.embed(["x"])


# ----------------------------------------------------------------------------------- config
def test_exactly_one_backend() -> None:
    for cfg in ({}, {"base_url": "http://x", "model_path": "/tmp", "embedding_dims": 8}):
        with pytest.raises((ValidationError, ConfigError), match=r"exactly one of base_url .* and model_path"):
            HuggingFaceEmbedder.Config(**cfg)


def test_a_tei_embedder_needs_its_dims() -> None:
    with pytest.raises((ValidationError, ConfigError), match="embedding_dims is required with base_url"):
        HuggingFaceEmbedder.Config(base_url="http://x")


def test_mem0s_base_url_key_is_accepted() -> None:
    assert HuggingFaceEmbedder.Config(huggingface_base_url="http://x:8080", embedding_dims=8).base_url == "http://x:8080"


def test_model_path_must_be_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"embedder\.config\.model_path .*is not a directory.*never downloads"):
        HuggingFaceEmbedder.from_config({"model_path": "sentence-transformers/all-MiniLM-L6-v2"})
    with pytest.raises(ConfigError, match=r"neither modules\.json nor config\.json"):
        HuggingFaceEmbedder.from_config({"model_path": str(tmp_path)})


@pytest.mark.parametrize("module", ["torch", "sentence_transformers"])
def test_without_torch_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      module: str) -> None:
    (tmp_path / "modules.json").write_text("[]")
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed (it is not, on the test machines)
    with pytest.raises(ConfigError, match=r"needs torch and sentence-transformers \((torch|sentence_transformers) is not installed\): "
                                          r"pip install torch sentence-transformers"):
        HuggingFaceEmbedder.from_config({"model_path": str(tmp_path)})


def test_a_typo_is_named_by_the_engine() -> None:
    from mem7_core import AsyncMemory

    with pytest.raises(ConfigError, match=r"embedder\.config\.base_ur"):
        AsyncMemory({"llm": None, "embedder": {"provider": "huggingface", "config": {"base_ur": "http://x"}},
                     "vector_store": {"provider": "flat"}})


# ----------------------------------------------------------------------------------- local model
async def test_the_local_model_is_read_from_its_directory(minilm_dir: Path) -> None:
    folder = minilm_dir
    emb = HuggingFaceEmbedder.from_config({"model_path": str(folder), "device": "cpu"})
    assert emb.dims == 384 and emb.model_name == folder.name
    a, b, c = await emb.embed(["I love hiking in the mountains", "Hiking in the Alps is my favourite hobby",
                               "The quarterly tax report is due"])
    with pytest.raises(ProviderError, match="local model failed"):
        await HuggingFaceEmbedder.from_config({"model_path": str(folder), "query_prompt_name": "nope"}).embed(
            ["q"], purpose="search")
    await emb.aclose()
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    assert dot > sum(x * y for x, y in zip(a, c, strict=True)) and abs(_norm(a) - 1) < 1e-5
    with pytest.raises(ConfigError, match=r"makes 384-dimensional vectors.*embedding_dims is 768"):
        HuggingFaceEmbedder.from_config({"model_path": str(folder), "embedding_dims": 768})


# ----------------------------------------------------------------------------------- reranker
async def test_rerank_request_and_answer(tei_reranker_server: TEIEmulator) -> None:
    rr = _reranker(tei_reranker_server)
    results = await rr.rerank("favourite drink of alice",
                              ["bob likes cars", "alice's favourite drink is green tea", "the weather"], top_n=2)
    await rr.aclose()
    assert tei_reranker_server.last("/rerank").body == {
        "query": "favourite drink of alice", "texts": ["bob likes cars", "alice's favourite drink is green tea",
                                                       "the weather"],
        "truncate": True, "raw_scores": False, "return_text": False}
    assert [r.index for r in results][:1] == [1] and len(results) == 2 and 0 < results[0].score < 1


async def test_rerank_splits_big_candidate_lists(tei_reranker_server: TEIEmulator) -> None:
    rr = _reranker(tei_reranker_server, batch_size=16)
    docs = [f"filler document {i}" for i in range(40)]
    docs[37] = "alice's favourite drink is green tea"
    results = await rr.rerank("favourite drink of alice", docs)
    await rr.aclose()
    assert tei_reranker_server.count("/rerank") == 3 and results[0].index == 37
    assert sorted(r.index for r in results) == list(range(40))


async def test_rerank_raw_scores_and_top_n_default(tei_reranker_server: TEIEmulator) -> None:
    rr = _reranker(tei_reranker_server, raw_scores=True, top_n=1)
    [best] = await rr.rerank("green tea", ["green tea", "coffee"])
    await rr.aclose()
    assert tei_reranker_server.last("/rerank").body["raw_scores"] is True and best.index == 0 and best.score == 4.0


async def test_rerank_on_an_embedding_server_is_a_clear_error(tei_server: TEIEmulator) -> None:
    rr = _reranker(tei_server)
    with pytest.raises(ProviderError, match=r"model is not a re-ranker model"):
        await rr.rerank("q", ["a", "b"])
    await rr.aclose()


async def test_a_malformed_rerank_answer_is_an_error(tei_reranker_server: TEIEmulator) -> None:
    rr = _reranker(tei_reranker_server, max_retries=0)
    tei_reranker_server.malformed_next(1, body=[{"index": 5, "score": 0.5}])
    with pytest.raises(ProviderError, match=r"malformed response.*index"):
        await rr.rerank("q", ["a", "b"])
    tei_reranker_server.malformed_next(1, body=json.dumps({"not": "a list"}).encode())
    with pytest.raises(ProviderError, match="not a list"):
        await rr.rerank("q", ["a", "b"])
    await rr.aclose()


def test_the_reranker_needs_a_base_url() -> None:
    with pytest.raises((ValidationError, ConfigError), match="base_url"):
        HuggingFaceReranker.Config()


# ----------------------------------------------------------------------------------- as users meet it
def test_the_entry_point_registers_both() -> None:
    from mem7_core import get_registry

    assert get_registry().get("embedder", "huggingface") is HuggingFaceEmbedder
    assert get_registry().get("reranker", "huggingface") is HuggingFaceReranker


async def test_an_engine_embeds_and_reranks_through_tei(tei_server: TEIEmulator,
                                                        tei_reranker_server: TEIEmulator) -> None:
    from mem7_core import AsyncMemory

    cfg = {
        "llm": None,
        "embedder": {"provider": "huggingface", "config": {"base_url": tei_server.url, "embedding_dims": 64,
                                                           "model": "emulated/model"}},
        "reranker": {"provider": "huggingface", "config": {"base_url": tei_reranker_server.url}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    async with AsyncMemory(cfg) as mem:
        await mem.add("I keep my bike in the garage", user_id="alice")
        await mem.add("My favourite drink is green tea", user_id="alice")
        found = await mem.search("what is my favourite drink", user_id="alice")
    assert found["results"][0]["memory"] == "My favourite drink is green tea"
    assert tei_server.count("/embed") >= 3 and tei_reranker_server.count("/rerank") == 1
    assert tei_server.errors == [] and tei_reranker_server.errors == []


def test_discovering_the_plugin_does_not_import_huggingface_hub() -> None:
    """The registry may import every plugin to find a provider: huggingface_hub waits for the first TEI embedder."""
    import subprocess

    code = "import sys, mem7_huggingface.plugin; print('huggingface_hub' in sys.modules or 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
