"""JinaReranker and JinaEmbedder pass the core's reranker and embedder conformance suites, with
the real ``httpx`` client against the loopback Jina API emulator (``jina_server``,
tests/conftest.py): relevance is the share of the query's words in each document (it judges
relevance, deterministically), embeddings the kit's feature-hashing vectors (lexical, so the
paraphrase test is skipped: ``semantic = False``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mem7_core.testing import EmbedderConformance, RerankerConformance
from mem7_jina import JinaEmbedder, JinaReranker

API_KEY = "jina_test"  # the emulator's (tests/conftest.py)


def _reranker(server: Any, **cfg: Any) -> JinaReranker:
    return JinaReranker.from_config(  # type: ignore[return-value]
        {"api_key": API_KEY, "base_url": server.base_url, "retry_backoff": 0.0, **cfg})


class TestJinaRerankerConformance(RerankerConformance):
    @pytest.fixture
    async def reranker(self, jina_server: Any) -> AsyncIterator[JinaReranker]:
        rr = _reranker(jina_server)
        yield rr
        await rr.aclose()

    @pytest.fixture
    def backend_calls(self, jina_server: Any) -> Callable[[], int]:
        return jina_server.count  # type: ignore[no-any-return]

    @pytest.fixture
    async def failing_reranker(self, jina_server: Any) -> AsyncIterator[JinaReranker]:
        jina_server.fail_next(100, status=503)
        rr = _reranker(jina_server, max_retries=0)
        yield rr
        await rr.aclose()


class TestJinaEmbedderConformance(EmbedderConformance):
    semantic = False  # the emulator embeds by feature hashing: lexical only
    reports_tokens = True  # the service answers each request's tokens
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, jina_server: Any) -> AsyncIterator[JinaEmbedder]:
        emb = JinaEmbedder.from_config({"api_key": API_KEY, "base_url": jina_server.base_url,
                                          "embedding_dims": 256, "batch_size": 16, "retry_backoff": 0.0})
        yield emb
        await emb.aclose()
