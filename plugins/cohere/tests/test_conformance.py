"""CohereReranker passes the reranker conformance suite, with the real ``cohere`` client against the
loopback ``/v2/rerank`` emulator (``cohere_server``, tests/conftest.py), whose scores are the share
of the query's words found in each document: it judges relevance, deterministically."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mem7_cohere import CohereReranker
from mem7_core.testing import RerankerConformance


def _make(server: Any, **cfg: Any) -> CohereReranker:
    return CohereReranker.from_config({"api_key": "co-test", "base_url": server.url, "retry_backoff": 0.0, **cfg})


class TestCohereRerankerConformance(RerankerConformance):
    @pytest.fixture
    async def reranker(self, cohere_server: Any) -> AsyncIterator[CohereReranker]:
        rr = _make(cohere_server)
        yield rr
        await rr.aclose()

    @pytest.fixture
    def backend_calls(self, cohere_server: Any) -> Callable[[], int]:
        return cohere_server.count  # type: ignore[no-any-return]

    @pytest.fixture
    async def failing_reranker(self, cohere_server: Any) -> AsyncIterator[CohereReranker]:
        cohere_server.fail_next(100, status=503)
        rr = _make(cohere_server, max_retries=0)
        yield rr
        await rr.aclose()
