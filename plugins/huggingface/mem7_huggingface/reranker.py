"""The ``huggingface`` reranker: a Text Embeddings Inference server serving a reranker (cross-encoder)
model, ``POST /rerank``.

``huggingface_hub`` has no call for TEI's ``/rerank`` route, so the request is made with ``httpx``
(one ``AsyncClient`` per provider, closed by ``aclose()``), as TEI documents it::

    {"query": "...", "texts": ["...", ...], "truncate": true, "raw_scores": false, "return_text": false}
    -> [{"index": 2, "score": 0.93}, ...]          # best first

Scores are the model's sigmoid relevance (0-1) unless ``raw_scores``. More documents than
``batch_size`` are split into concurrent requests (a cross-encoder scores each pair on its own, so
the scores of the parts compare).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import Field

from mem7_core.errors import ProviderError
from mem7_core.models import RerankResult
from mem7_core.providers import Reranker
from mem7_core.providers.reranker import ranked_results

from ._tei import PROVIDER, TEIConnection, TEIProvider


class HuggingFaceRerankerConfig(TEIConnection):
    """``reranker.config`` of the ``huggingface`` provider. Unknown fields are errors."""

    base_url: str = Field(  # required here
        description="Root of a Text Embeddings Inference server serving a reranker model (e.g. "
        "http://localhost:8080); requests go to <base_url>/rerank.")
    top_n: int | None = Field(None, ge=1, description="Default cap on results when the caller gives none.")
    truncate: bool = Field(True, description="Cut query + document pairs over the model's length instead of "
                                             "refusing them.")
    raw_scores: bool = Field(False, description="The model's raw logits instead of sigmoid scores (0-1).")


class HuggingFaceReranker(TEIProvider, Reranker):
    """Reranking through a Text Embeddings Inference server's ``/rerank``."""

    kind = "reranker"
    name = "huggingface"
    Config = HuggingFaceRerankerConfig
    config: HuggingFaceRerankerConfig

    def __init__(self, config: HuggingFaceRerankerConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.base_url = cfg.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {cfg.api_key.get_secret_value()}"} if cfg.api_key is not None else {}
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=cfg.timeout, headers=headers)
        self._retry = self._policy(cfg)
        self._closed = False

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        if self._closed:
            raise ProviderError(PROVIDER, "reranker: rerank() called after aclose()")
        docs = [d if isinstance(d, str) else str(d) for d in documents]
        limit = top_n if top_n is not None else self.config.top_n
        if not docs or (limit is not None and limit <= 0):
            return []
        size = self.config.batch_size
        gate = asyncio.Semaphore(self.config.max_concurrency)

        async def one(start: int) -> list[tuple[Any, Any]]:
            async with gate:
                return await self._rerank_part(query, docs[start:start + size], start)

        parts = await asyncio.gather(*(one(i) for i in range(0, len(docs), size)))
        try:
            return ranked_results([p for part in parts for p in part], len(docs), limit)
        except ValueError as exc:
            raise self._malformed(str(exc)) from exc

    async def _rerank_part(self, query: str, texts: list[str], offset: int) -> list[tuple[Any, Any]]:
        body = {"query": query or " ", "texts": [t or " " for t in texts], "truncate": self.config.truncate,
                "raw_scores": self.config.raw_scores, "return_text": False}
        http = self._http

        async def call() -> Any:
            response = await http.post("/rerank", json=body)
            response.raise_for_status()
            return response.json()

        answer = await self._retried(self._retry, call)
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise self._malformed("the answer is not a list of {index, score} objects")
        pairs: list[tuple[Any, Any]] = []
        for item in answer:
            index = item.get("index")
            pairs.append((index + offset if isinstance(index, int) and not isinstance(index, bool) and
                          0 <= index < len(texts) else f"{index!r} (of a part of {len(texts)})", item.get("score")))
        return pairs

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"<HuggingFaceReranker base_url={self.base_url!r}>"
