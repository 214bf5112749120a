"""Voyage AI rerankers (``rerank-2.5``, ``rerank-2.5-lite``, ...) through
``voyageai.AsyncClient.rerank`` (``POST /v1/rerank``).

Voyage's relevance score (0-1) replaces the vector score. ``top_n`` is sent as the API's ``top_k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from mem7_core.models import RerankResult
from mem7_core.providers import Reranker
from mem7_core.providers.reranker import RerankConfig, ranked_results

from ._common import VoyageConnection, VoyageProvider


class VoyageRerankerConfig(VoyageConnection, RerankConfig):
    """``reranker.config`` of the ``voyage`` provider. Unknown fields are errors."""

    model: str = Field("rerank-2.5", description="Rerank model, e.g. rerank-2.5, rerank-2.5-lite.")


class VoyageReranker(VoyageProvider, Reranker):
    """Voyage rerank: at most ``top_n`` results (every document when None), best first, each naming
    its document by index. No documents: ``[]`` without a request."""

    kind = "reranker"
    name = "voyage"
    Config = VoyageRerankerConfig
    config: VoyageRerankerConfig

    def __init__(self, config: VoyageRerankerConfig | None = None) -> None:
        super().__init__(config)
        self.model = self.config.model
        self._connect(self.config)

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        self._check_open("rerank")
        docs = [d if isinstance(d, str) else str(d) for d in documents]
        limit = top_n if top_n is not None else self.config.top_n
        if not docs or (limit is not None and limit <= 0):
            return []
        n = min(limit, len(docs)) if limit is not None else None
        client, model, truncation = self._client, self.model, self.config.truncation

        async def call() -> Any:
            return await client.rerank(query, docs, model, top_k=n, truncation=truncation)

        response = await self._call(call)
        return self._results(getattr(response, "results", None), len(docs), n)

    def _results(self, results: Any, count: int, n: int | None) -> list[RerankResult]:
        if not isinstance(results, list):
            raise self._malformed("no results list")
        try:
            return ranked_results(((getattr(r, "index", None), getattr(r, "relevance_score", None)) for r in results),
                                  count, n)
        except ValueError as exc:
            raise self._malformed(str(exc)) from None

    def __repr__(self) -> str:
        return f"<VoyageReranker model={self.model!r} base_url={self.base_url!r}>"


