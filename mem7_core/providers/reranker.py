"""The reranker interface."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import Field, model_validator

from ..models import RerankResult
from .base import Provider, ProviderConfig


class Reranker(Provider):
    """Reorders search candidates by relevance to the query; its score replaces the vector score."""

    kind = "reranker"

    @abstractmethod
    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        """Score ``documents`` against ``query``.

        :param query: the search text.
        :param documents: candidate texts, in their current order.
        :param top_n: return at most this many, best first.
        :returns: results naming each document by its index in ``documents``.
        :raises ProviderError: the engine then keeps the original order.
        """


class RerankConfig(ProviderConfig):
    """``top_n``, the cap a reranker's ``Config`` may offer (mem0's ``top_k`` read as it)."""

    top_n: int | None = Field(
        None, ge=1,
        description="Default cap on results when the caller gives none (None: every candidate comes back). "
        "The engine keeps only what the reranker returns, so a cap below the search limit shortens results.",
    )

    @model_validator(mode="before")
    @classmethod
    def _top_k(cls, data: Any) -> Any:
        if isinstance(data, dict) and "top_k" in data:
            data = dict(data)
            value = data.pop("top_k")
            if data.get("top_n") is None:
                data["top_n"] = value
        return data


def ranked_results(pairs: Iterable[tuple[Any, Any]], count: int, top_n: int | None = None) -> list[RerankResult]:
    """A rerank service's answer, checked and ranked: ``(index, score)`` pairs as read from the
    response, for ``count`` documents, become at most ``top_n`` results, best first (ties keep the
    service's order).

    :raises ValueError: saying what is wrong when an index is not a new ``int`` in
        ``[0, count)`` or a score is not a finite number; a plugin reports it as a malformed answer.
    """
    out: list[RerankResult] = []
    seen: set[int] = set()
    for index, score in pairs:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count or index in seen:
            raise ValueError(f"result index {index!r} is not a new index into the {count} documents")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
            raise ValueError(f"relevance_score {score!r} of result {index} is not a number")
        seen.add(index)
        out.append(RerankResult(index=index, score=float(score)))
    out.sort(key=lambda r: -r.score)
    return out[:top_n] if top_n is not None else out
