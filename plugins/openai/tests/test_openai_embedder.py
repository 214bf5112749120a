"""OpenAIEmbedder: the shared embedder conformance suite, then batching, dimensions, retries,
errors, aliases and Azure, with the real ``openai`` client against the loopback server."""

from __future__ import annotations

from typing import Any

import pytest

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.testing import EmbedderConformance
from mem7_core.testing.fakes import hash_embedding
from mem7_core.testing.openai_server import OpenAIServer
from mem7_openai import OpenAIEmbedder


def make_embedder(server: OpenAIServer, **cfg: Any) -> OpenAIEmbedder:
    cfg.setdefault("api_key", "sk-test")
    cfg.setdefault("base_url", server.url)
    cfg.setdefault("retry_backoff", 0.0)
    return OpenAIEmbedder.from_config(cfg)


class TestOpenAIEmbedderConformance(EmbedderConformance):
    semantic = False  # the loopback server embeds by feature hashing: lexical only
    reports_tokens = True  # the service answers each request's tokens
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, openai_server: OpenAIServer):
        emb = make_embedder(openai_server, embedding_dims=256, batch_size=16)
        yield emb
        await emb.aclose()


async def test_vectors_match_the_server(openai_server: OpenAIServer) -> None:
    emb = make_embedder(openai_server, embedding_dims=64)
    [vec] = await emb.embed(["I like green tea"])
    expected = hash_embedding("I like green tea", 64)
    assert len(vec) == emb.dims == 64
    assert all(abs(a - b) < 1e-6 for a, b in zip(vec, expected, strict=True))  # float32 over the wire
    await emb.aclose()


async def test_dimensions_sent_for_text_embedding_3(openai_server: OpenAIServer) -> None:
    emb = make_embedder(openai_server)  # defaults: text-embedding-3-small, 1536
    await emb.embed(["hello"])
    body = openai_server.last_request("embeddings").body
    assert body["model"] == "text-embedding-3-small" and body["dimensions"] == 1536
    assert body["input"] == ["hello"]
    await emb.aclose()


async def test_dimensions_not_sent_for_other_models_unless_explicit(openai_server: OpenAIServer) -> None:
    ada = make_embedder(openai_server, model="text-embedding-ada-002")
    [vec] = await ada.embed(["hello"])
    assert "dimensions" not in openai_server.last_request("embeddings").body and len(vec) == 1536
    custom = make_embedder(openai_server, model="nomic-embed-text", embedding_dims=32)
    [vec] = await custom.embed(["hello"])
    assert openai_server.last_request("embeddings").body["dimensions"] == 32 and len(vec) == 32
    off = make_embedder(openai_server, model="text-embedding-3-large", embedding_dims=3072, send_dimensions=False)
    await off.embed(["hello"])
    assert "dimensions" not in openai_server.last_request("embeddings").body
    for e in (ada, custom, off):
        await e.aclose()


async def test_large_batches_are_split_and_reassembled(openai_server: OpenAIServer) -> None:
    emb = make_embedder(openai_server, embedding_dims=16, batch_size=4, max_concurrency=2)
    texts = [f"text number {i}" for i in range(10)]
    vectors = await emb.embed(texts)
    assert openai_server.count("embeddings") == 3
    sizes = sorted(len(r.body["input"]) for r in openai_server.requests("embeddings"))
    assert sizes == [2, 4, 4]
    for text, vec in zip(texts, vectors, strict=True):
        assert max(abs(a - b) for a, b in zip(vec, hash_embedding(text, 16), strict=True)) < 1e-6
    await emb.aclose()


async def test_empty_input_makes_no_request(openai_server: OpenAIServer) -> None:
    emb = make_embedder(openai_server)
    assert await emb.embed([]) == []
    assert openai_server.count("embeddings") == 0
    await emb.aclose()


async def test_wrong_dims_says_what_to_set(openai_server: OpenAIServer) -> None:
    emb = make_embedder(openai_server, model="some-local-model", send_dimensions=False, embedding_dims=768)
    with pytest.raises(ProviderError, match=r"returned 1536-dimensional vectors.*embedding_dims to 1536"):
        await emb.embed(["hello"])
    await emb.aclose()


async def test_retries_then_success_and_bounded_failure(openai_server: OpenAIServer) -> None:
    emb = make_embedder(openai_server, embedding_dims=8, max_retries=2)
    openai_server.fail_next(2, status=429, retry_after=0, endpoint="embeddings")
    assert len(await emb.embed(["a b"])) == 1
    assert openai_server.count("embeddings") == 3
    openai_server.fail_next(5, status=500, retry_after=0, endpoint="embeddings")
    with pytest.raises(ProviderError, match="500 after 3 attempts") as info:
        await emb.embed(["a b"])
    assert info.value.provider == "openai"
    assert openai_server.count("embeddings") == 6
    await emb.aclose()


async def test_unreachable_server_names_the_url() -> None:
    with OpenAIServer() as server:
        url = server.url
    emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": url, "max_retries": 0})
    with pytest.raises(ProviderError, match="unreachable") as info:
        await emb.embed(["hello"])
    assert url in str(info.value)
    await emb.aclose()


async def test_malformed_body(openai_server: OpenAIServer) -> None:
    # A malformed body is retried like other transient errors (issue 16): it fails only when every
    # attempt gets one, and one bad body followed by a good one succeeds.
    emb = make_embedder(openai_server, embedding_dims=8, max_retries=1, retry_backoff=0)
    openai_server.malformed_next(2, body=b'{"object": "list", "data": [', endpoint="embeddings")
    with pytest.raises(ProviderError, match="malformed") as info:
        await emb.embed(["hello"])
    assert info.value.retryable and "2 attempts" in str(info.value)
    openai_server.malformed_next(1, body=b'{"object": "list", "data": [', endpoint="embeddings")
    assert len((await emb.embed(["hello"]))[0]) == 8
    await emb.aclose()


def test_missing_key_and_alias_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"openai embedder: no api_key\. Set OPENAI_API_KEY or embedder.config.api_key"):
        OpenAIEmbedder.from_config({})
    ollama = OpenAIEmbedder.from_config({}, selected_as="ollama")
    assert (ollama.base_url, ollama.model, ollama.dims) == ("http://localhost:11434/v1", "nomic-embed-text", 768)
    assert ollama.send_dimensions is False
    with pytest.raises(ConfigError, match="vllm embedder: no model"):
        OpenAIEmbedder.from_config({}, selected_as="vllm")
    with pytest.raises(ConfigError, match="groq has no embeddings API"):
        OpenAIEmbedder(OpenAIEmbedder.Config(api_key="k"), alias="groq")
    monkeypatch.setenv("TOGETHER_API_KEY", "tk")
    together = OpenAIEmbedder.from_config({}, selected_as="together")
    assert together.base_url == "https://api.together.xyz/v1" and together.dims == 768


async def test_ollama_alias_against_loopback(openai_server: OpenAIServer) -> None:
    openai_server.embedding_dims = 768  # what nomic-embed-text returns
    emb = OpenAIEmbedder.from_config({"base_url": openai_server.url}, selected_as="ollama")
    [vec] = await emb.embed(["hello"])
    assert len(vec) == 768
    body = openai_server.last_request("embeddings").body
    assert body["model"] == "nomic-embed-text" and "dimensions" not in body
    await emb.aclose()


async def test_azure_embeddings_route(openai_server: OpenAIServer) -> None:
    openai_server.api_key = "azure-key"
    emb = OpenAIEmbedder.from_config(
        {"api_key": "azure-key", "azure_endpoint": openai_server.root_url, "azure_deployment": "emb-prod",
         "embedding_dims": 64},
        selected_as="azure",
    )
    [vec] = await emb.embed(["hello azure"])
    assert len(vec) == 64
    req = openai_server.last_request("embeddings")
    assert req.path == "/openai/deployments/emb-prod/embeddings"
    assert req.headers["api-key"] == "azure-key" and req.query["api-version"] == "2024-10-21"
    await emb.aclose()
