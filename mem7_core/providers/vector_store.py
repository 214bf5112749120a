"""The vector store interface."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..filters import ALL_OPERATORS, Filter
from ..models import Scope, ScoredRecord, VectorRecord
from .base import Provider


@dataclass(frozen=True, slots=True)
class VectorStoreCapabilities:
    """What a store does natively.

    ``filter_operators`` are the operators the store pushes down; the engine evaluates the rest
    itself (over-fetching), so a filter is never silently ignored.
    """

    filter_operators: frozenset[str] = field(default_factory=lambda: ALL_OPERATORS)
    logical: bool = True
    """Whether AND/OR/NOT nest inside the store's own filter language."""
    persistent: bool = False


class VectorStore(Provider):
    """Stores vectors with payloads, scoped by user/agent/run ids.

    Every method that reads by similarity or lists takes the caller's :class:`Scope`; the store
    returns only records whose payload matches it, ANDed with ``filters``, so no filter can widen
    the scope. Scores are higher-is-better. Inserting an existing id replaces it (idempotent upsert).
    """

    kind = "vector_store"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities()

    @abstractmethod
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        """Upsert ``records`` (each with a vector). Replaces records with the same id.

        :param records: the records; vectors need not be normalised.
        """

    @abstractmethod
    async def search(
        self,
        vector: Sequence[float],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[ScoredRecord]:
        """The ``limit`` nearest records in ``scope`` passing ``filters``, best first.

        :param vector: the query embedding.
        :param scope: only records of this scope are considered.
        :param limit: at most this many hits.
        :param filters: a parsed filter (:func:`mem7_core.filters.parse_filters`).
        """

    async def search_many(
        self,
        vectors: Sequence[Sequence[float]],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[list[ScoredRecord]]:
        """:meth:`search` for several query vectors in one scope: one hit list per vector, in order.

        The engine's add path retrieves candidates for all of an add's facts at once through this.
        The default runs the searches concurrently; a store that can score a batch of queries in one
        pass (one read of its rows, one round trip) should override it.
        """
        if not vectors:
            return []
        return list(await asyncio.gather(*(self.search(v, scope=scope, limit=limit, filters=filters) for v in vectors)))

    @abstractmethod
    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        """The records with these ids that exist, in the order asked (vectors may be ``None``)."""

    @abstractmethod
    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict | None = None
    ) -> None:
        """Replace the vector and/or the whole payload of ``id``.

        :raises MemoryNotFoundError: when ``id`` does not exist.
        """

    @abstractmethod
    async def delete(self, ids: Sequence[str]) -> None:
        """Delete these ids; unknown ids are ignored."""

    @abstractmethod
    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        """Records in ``scope`` passing ``filters``, oldest first (by ``created_at``, then id).

        :param limit: at most this many; ``None`` for all.
        """

    @abstractmethod
    async def reset(self) -> None:
        """Delete every record of this collection."""

    async def count(self, *, scope: Scope) -> int:
        """How many records are in ``scope``. Stores may override with something cheaper."""
        return len(await self.list(scope=scope))
