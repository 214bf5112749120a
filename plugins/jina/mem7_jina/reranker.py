"""Jina AI rerankers (``jina-reranker-v2-base-multilingual``, ``jina-reranker-v3``, ...) over the
documented ``POST /v1/rerank``.

Jina's relevance score replaces the vector score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from mem7_core.models import RerankResult
from mem7_core.providers import Reranker
from mem7_core.providers.reranker import RerankConfig, ranked_results

from ._common import JinaConnection, JinaProvider


class JinaRerankerConfig(JinaConnection, RerankConfig):
    """``reranker.config`` of the ``jina`` provider. Unknown fields are errors."""

    model: str = Field("jina-reranker-v2-base-multilingual",
                       description="Rerank model, e.g. jina-reranker-v2-base-multilingual, jina-reranker-v3.")


class JinaReranker(JinaProvider, Reranker):
    """Jina rerank: at most ``top_n`` results (every document when None), best first, each naming its
    document by index. No documents: ``[]`` without a request."""

    kind = "reranker"
    name = "jina"
    Config = JinaRerankerConfig
    config: JinaRerankerConfig

    def __init__(self, config: JinaRerankerConfig | None = None) -> None:
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
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": docs, "return_documents": False}
        if n is not None:
            body["top_n"] = n
        data = await self._post("/rerank", body)
        results = data.get("results")
        if not isinstance(results, list):
            raise self._malformed("no results list")
        try:
            return ranked_results(((r.get("index"), r.get("relevance_score")) if isinstance(r, dict) else (None, None)
                                   for r in results), len(docs), n)
        except ValueError as exc:
            raise self._malformed(str(exc)) from None

    def __repr__(self) -> str:
        return f"<JinaReranker model={self.model!r} base_url={self.base_url!r}>"
