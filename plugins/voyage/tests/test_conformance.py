"""VoyageReranker and VoyageEmbedder pass the core's reranker and embedder conformance suites, with
the real ``voyageai`` client against the loopback Voyage API emulator (``voyage_server``,
tests/conftest.py): relevance is the share of the query's words in each document (it judges
relevance, deterministically), embeddings the kit's feature-hashing vectors (lexical, so the
paraphrase test is skipped: ``semantic = False``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mem7_core.testing import EmbedderConformance, RerankerConformance
from mem7_voyage import VoyageEmbedder, VoyageReranker

API_KEY = "pa-test"  # the emulator's (tests/conftest.py)


def _reranker(server: Any, **cfg: Any) -> VoyageReranker:
    return VoyageReranker.from_config(  # type: ignore[return-value]
        {"api_key": API_KEY, "base_url": server.base_url, "retry_backoff": 0.0, **cfg})


class TestVoyageRerankerConformance(RerankerConformance):
    @pytest.fixture
    async def reranker(self, voyage_server: Any) -> AsyncIterator[VoyageReranker]:
        rr = _reranker(voyage_server)
        yield rr
        await rr.aclose()

    @pytest.fixture
    def backend_calls(self, voyage_server: Any) -> Callable[[], int]:
        return voyage_server.count  # type: ignore[no-any-return]

    @pytest.fixture
    async def failing_reranker(self, voyage_server: Any) -> AsyncIterator[VoyageReranker]:
        voyage_server.fail_next(100, status=503)
        rr = _reranker(voyage_server, max_retries=0)
        yield rr
        await rr.aclose()


class TestVoyageEmbedderConformance(EmbedderConformance):
    semantic = False  # the emulator embeds by feature hashing: lexical only
    reports_tokens = True  # the service answers each request's tokens
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, voyage_server: Any) -> AsyncIterator[VoyageEmbedder]:
        emb = VoyageEmbedder.from_config({"api_key": API_KEY, "base_url": voyage_server.base_url,
                                          "embedding_dims": 256, "batch_size": 16, "retry_backoff": 0.0})
        yield emb
        await emb.aclose()
