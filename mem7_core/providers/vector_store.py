"""The vector store interface."""

from __future__ import annotations

import asyncio
import builtins
import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MemoryNotFoundError
from ..filters import ALL_OPERATORS, Filter
from ..models import HistoryEvent, Scope, ScoredRecord, VectorRecord
from .base import Provider

if TYPE_CHECKING:
    from .history import HistoryStore


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
    change_feed: bool = False
    """Writes made by *other* processes (or other store instances) sharing this store reach this
    one, and :meth:`VectorStore.changes_since` reports them, so the engine's in-process caches
    (the keyword indexes) catch up instead of going stale."""
    keyword_search: bool = False
    """:meth:`VectorStore.keyword_search` ranks by keywords inside the store itself, so every
    replica sharing the store gives the same keyword ranking (no per-process index needed)."""
    atomic_history: bool = False
    """:meth:`VectorStore.own_history` gives a history store kept in the store's own database, and
    :meth:`VectorStore.commit` writes vector changes and history events in one transaction."""


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """One engine operation's writes, committed together by :meth:`VectorStore.commit`.

    ``updates`` replace the payload (and the vector, when given) of records that must exist;
    ``inserts`` upsert; ``deletes`` ignore unknown ids; ``events`` are its history rows.
    ``expected`` holds, per id, the payload the engine read before deciding (``None``: it read
    the id as absent): the store checks them inside its transaction, so a change made by another
    process in between raises :class:`~mem7_core.errors.StoreConflictError` instead of being lost.
    """

    inserts: Sequence[VectorRecord] = ()
    updates: Sequence[VectorRecord] = ()
    deletes: Sequence[str] = ()
    events: Sequence[HistoryEvent] = ()
    expected: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoreChange:
    """One record as another writer changed it: the payload before (``None``: it did not exist)
    and after (``None``: deleted)."""

    id: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """What :meth:`VectorStore.changes_since` returns: a new cursor and the changes since the old
    one, or ``changes=None`` when they cannot be listed (a reset, or a cursor too old): every cache
    built from the store must then be dropped."""

    cursor: int
    changes: Sequence[StoreChange] | None
@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    """Where a store's vectors come from: their length and, when the store recorded it, the
    embedder that wrote them (its provider name and model; ``None`` when unknown or model-less).

    Vectors of two spaces are comparable when :meth:`conflict` finds nothing: same ``dims``, and
    the same model (compared without case or surrounding blanks; the provider name counts only
    when both lack a model, so ``openai`` and ``azure`` serving one model agree).
    """

    dims: int
    provider: str | None = None
    model: str | None = None

    def embedder(self) -> str | None:
        """``fastembed 'sentence-transformers/all-MiniLM-L6-v2'`` (``None``: not recorded)."""
        who = " ".join(x for x in (self.provider, repr(self.model) if self.model else None) if x)
        return who or None

    def describe(self) -> str:
        """``fastembed 'sentence-transformers/all-MiniLM-L6-v2' (384 dims)``."""
        who = self.embedder()
        return f"{who} ({self.dims} dims)" if who else f"{self.dims}-dim vectors"

    def conflict(self, other: EmbeddingSpace) -> str | None:
        """What makes ``other``'s vectors incomparable with these (``None``: nothing does):
        ``"dims"``, or ``"model"`` (only when both spaces name their embedder)."""
        if self.dims != other.dims:
            return "dims"
        mine, theirs = self._key(), other._key()
        if mine is not None and theirs is not None and mine != theirs:
            return "model"
        return None

    def _key(self) -> str | None:
        if self.model:
            return "model:" + self.model.strip().lower()
        return "provider:" + self.provider.strip().lower() if self.provider else None

    def to_json(self) -> dict[str, Any]:
        return {"dims": self.dims, "provider": self.provider, "model": self.model}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmbeddingSpace:
        """The inverse of :meth:`to_json`. :raises ValueError: not such a mapping."""
        dims, provider, model = data.get("dims"), data.get("provider"), data.get("model")
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            raise ValueError(f"embedding space: dims must be a positive integer, got {dims!r}")
        for name, value in (("provider", provider), ("model", model)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"embedding space: {name} must be a string or null, got {value!r}")
        return cls(dims=dims, provider=provider, model=model)


def check_vector(vector: Sequence[float] | None, what: str, *, provider: str, dims: int | None = None) -> list[float]:
    """``vector`` as a plain list of finite floats (of ``dims`` components when given), or a
    ``ValueError`` that names the store, the record (``what``) and the problem.

    For stores that hand vectors to a backend that would store NaN, an empty vector or the wrong
    size without complaint (or fail later with a message about something else).
    """
    if vector is None:
        raise ValueError(f"{provider}: {what} has no vector")
    try:
        out = [float(x) for x in vector]
    except (TypeError, ValueError):
        raise ValueError(f"{provider}: {what} must be a sequence of numbers") from None
    if not out:
        raise ValueError(f"{provider}: {what} is empty")
    if dims is not None and len(out) != dims:
        raise ValueError(f"{provider}: {what} has {len(out)} dims; the collection holds {dims} dims")
    if not all(math.isfinite(x) for x in out):
        raise ValueError(f"{provider}: {what} must contain finite numbers only (no NaN or infinity)")
    return out


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
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
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

    async def rehearse(self, ids: Sequence[str], now: str) -> None:
        """Count one recall of each of ``ids``: ``access_count + 1`` and ``last_accessed_at = now``
        in its payload; ids that no longer exist are skipped.

        The default reads and rewrites each payload, which can lose a concurrent change made by
        another process in between; a store shared by processes should override it with one
        atomic read-modify-write, so a recall is never lost, applied twice, or undoes another
        writer's change.
        """
        for record in await self.get(ids):
            payload = dict(record.payload)
            payload["access_count"] = int(payload.get("access_count") or 0) + 1
            payload["last_accessed_at"] = now
            try:
                await self.update(record.id, payload=payload)
            except MemoryNotFoundError:
                continue  # deleted since it was read

    async def changes_since(self, cursor: int | None) -> ChangeBatch:
        """Changes made by other writers since ``cursor`` (``None``: start a cursor now, no
        changes). Only for stores declaring ``capabilities.change_feed``."""
        raise NotImplementedError(f"{type(self).__name__} does not declare change_feed")

    async def keyword_search(
        self, query: str, *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> builtins.list[ScoredRecord]:  # `list` is the method above, in this class body
        """The ``limit`` best records in ``scope`` for ``query`` by keywords, best first, each
        score in ``[0, 1]`` calibrated like :func:`mem7_core.retrieval.fusion.calibrate_bm25`
        (1: every query term matched as strongly as it can be). Only for stores declaring
        ``capabilities.keyword_search``."""
        raise NotImplementedError(f"{type(self).__name__} does not declare keyword_search")

    async def embedding_space(self) -> EmbeddingSpace | None:
        """The space of the vectors this store holds, read without writing anything: their
        ``dims`` and, when the store records it (:meth:`record_embedder`), the embedder that wrote
        them. ``None``: the store holds no vectors yet, or cannot tell (the default).

        The engine asks once, before the store's first use, and refuses an embedder whose vectors
        would not be comparable (:meth:`EmbeddingSpace.conflict`) with a
        :class:`~mem7_core.errors.ConfigError`, instead of failing on every add and search (other
        dims) or silently ranking by noise (another model). Override it in every store that can
        tell its vectors' size (a collection's declared size, a column type, a stored row).
        """
        return None

    def record_embedder(self, space: EmbeddingSpace) -> None:
        """The embedder the engine writes with, told before the store's first use. A store that can
        keep it stores it with its next write, inside that write's transaction (so two processes
        never race on it, and it is there exactly when vectors are), and reports it from
        :meth:`embedding_space` afterwards; it never writes it on a read, so an engine that only
        reads leaves the store as it was. The default keeps nothing: the engine then checks dims only.
        """

    def own_history(self, *, migrate_from: str | None = None) -> HistoryStore | None:
        """A history store kept in this store's own database (``None``: this store has none).

        :param migrate_from: a SQLite history file written before; its events are copied in once,
            when the store's own history is still empty.
        """
        return None

    async def commit(self, batch: WriteBatch) -> None:
        """Apply ``batch`` (vectors and history events) in one transaction: all of it or none.

        Only for stores declaring ``capabilities.atomic_history``.

        :raises StoreConflictError: a record is not as ``batch.expected`` says (nothing written).
        :raises MemoryNotFoundError: an update names a record that does not exist (nothing written).
        """
        raise NotImplementedError(f"{type(self).__name__} does not declare atomic_history")
