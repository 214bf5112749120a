"""The reranker interface."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from ..models import RerankResult
from .base import Provider


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
