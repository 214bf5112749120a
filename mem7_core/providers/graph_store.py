"""The graph store interface: entities and relations, isolated per scope.

The pipeline (extraction, conflict check, BM25 rerank, decay) lives in the engine; a store only
keeps triples and finds the ones near some entity embeddings.

Scope semantics, shared by every method:

- **Writes** (:meth:`GraphStore.upsert`) go to the *exact* scope given: an entity is identified by
  ``(user_id, agent_id, run_id, name)``, so "alice" of user u1 and "alice" of user u2 are two
  entities, and a relation only ever joins two entities of the same exact scope.
- **Reads and changes** (search, get_all, invalidate, rehearse, delete_all) take a scope with the
  vector stores' matching rule (:meth:`mem7_core.models.Scope.matches`): every id the scope sets
  must equal the stored one; ids it leaves unset match anything. An empty scope is refused by
  ``delete_all`` (use :meth:`GraphStore.reset`). A read returns each stored relation: the same
  triple stored in two exact scopes that both match (say ``user_id=u1`` and ``user_id=u1,
  agent_id=a`` read with ``user_id=u1``) comes back twice, each copy with its own bookkeeping.

Names, types and relationship labels are data: stores keep them literally (parameters, never
string building) and compare them exactly (the engine normalises names before they get here).
Timestamps are kept and returned as the exact strings given. Returned relations are new objects:
changing them never changes the store.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..models import Scope
from .base import Provider


@dataclass(slots=True)
class Entity:
    """A node: a name unique within its exact scope, a type, and the embedding of the name."""

    name: str
    type: str = "Other"
    embedding: Sequence[float] | None = None
    mentions: int = 1


@dataclass(slots=True)
class GraphRelation:
    """A triple ``source -[relationship]-> destination`` with its bookkeeping.

    ``score`` is set by :meth:`GraphStore.search` (the best cosine of an endpoint that matched)
    and later replaced by the engine's BM25 × decay × context score.
    """

    source: str
    relationship: str
    destination: str
    valid: bool = True
    mentions: int = 1
    created_at: str | None = None
    updated_at: str | None = None
    last_accessed_at: str | None = None
    score: float | None = None

    @property
    def triple(self) -> tuple[str, str, str]:
        return (self.source, self.relationship, self.destination)


@dataclass(frozen=True, slots=True)
class GraphStoreCapabilities:
    """What a graph store does; the conformance suite skips what a store declares it cannot do."""

    persistent: bool = False
    """Data survives closing the store and opening it again on the same path/server."""


class GraphStore(Provider):
    """Entities and relations, isolated per scope: the same name in two scopes is two entities.

    All timestamps are UTC ISO-8601 strings supplied by the engine (``now``), so every store
    records the same clock. Embeddings are plain float sequences of one dimension per store; the
    store computes cosine similarity itself or through its own vector index.
    """

    kind = "graph_store"
    capabilities: ClassVar[GraphStoreCapabilities] = GraphStoreCapabilities()

    async def connect(self) -> None:
        """Connect now and check what the first use would check (the server answers, it accepts
        the credentials and the database), so that a bad graph config fails where the engine is
        built: ``Memory(...)`` and ``AsyncMemory.create(...)`` call it. Idempotent; the other
        methods still connect on first use when it was not called.

        Optional: the default does nothing (a store with nothing to reach before its first use).

        :raises ConfigError: the server refuses the configured credentials or database.
        :raises ProviderError: the server cannot be reached.
        """

    @abstractmethod
    async def upsert(
        self,
        scope: Scope,
        entities: Sequence[Entity],
        relations: Sequence[GraphRelation],
        *,
        now: str,
    ) -> list[GraphRelation]:
        """Insert or bump entities and relations in the exact ``scope``.

        An entity already present (same name in the same exact scope) gets ``mentions + 1`` and
        its type and embedding replaced when given. A relation already present (same triple in
        the same exact scope) gets ``mentions + 1``, ``valid = True`` and ``updated_at = now``;
        a new one gets ``mentions = 1``, ``created_at = updated_at = now``.

        :param scope: the exact scope written to; must not be empty.
        :param entities: nodes to upsert; each new entity needs an ``embedding``.
        :param relations: triples whose endpoints are in ``entities`` or already stored in scope.
        :param now: the write time.
        :returns: the relations as stored after the write, in the order given.
        :raises ValueError: for an empty scope, a new entity without embedding, or a relation
            whose endpoint is neither given nor stored; checked before anything is written, so
            nothing changes when it raises.
        """

    @abstractmethod
    async def search(
        self,
        scope: Scope,
        embeddings: Sequence[Sequence[float]],
        *,
        threshold: float,
        limit: int,
    ) -> list[GraphRelation]:
        """Valid relations one hop from the entities near any of ``embeddings``.

        An entity in ``scope`` matches when the cosine similarity of its embedding with one of
        ``embeddings`` is ≥ ``threshold``. Every valid relation having a matching entity as source
        or destination is returned once, with ``score`` = the best similarity of its matching
        endpoint(s), best first (ties: more mentions first, then the triple), at most ``limit``.

        :param scope: read scope (matching rule in the module docstring).
        :param embeddings: query entity embeddings; empty → ``[]``.
        :param threshold: minimum cosine similarity, in [-1, 1].
        :param limit: at most this many relations.
        """

    @abstractmethod
    async def invalidate(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> int:
        """Soft-delete (``valid = False``, ``updated_at = now``) these triples in ``scope``.

        :returns: how many stored relations changed from valid to invalid.
        """

    @abstractmethod
    async def rehearse(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> None:
        """Recall strengthens: ``mentions + 1`` and ``last_accessed_at = now`` for these triples.

        Applies to every stored copy in ``scope``, valid or not; other fields are unchanged, and
        triples not stored are ignored.
        """

    @abstractmethod
    async def get_all(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        """Valid relations in ``scope``, oldest first (``created_at``, then the triple).

        :param limit: at most this many; ``None`` for all.
        """

    async def get_all_including_invalid(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation] | None:
        """Valid and invalidated relations in ``scope``, oldest first, each with its ``valid`` flag
        (for inspection: the dashboard's graph view draws the invalidated ones as such).

        Optional: the default returns ``None``, meaning this store cannot list invalidated relations
        (callers then show :meth:`get_all`'s valid ones only).
        """
        return None

    @abstractmethod
    async def delete_all(self, scope: Scope) -> None:
        """Remove the relations in ``scope`` and every entity of ``scope`` left without one.

        :raises ValueError: for an empty scope.
        """

    @abstractmethod
    async def reset(self) -> None:
        """Remove every entity and relation of this store."""

    @abstractmethod
    async def entity_count(self, scope: Scope) -> int:
        """How many entities are in ``scope`` (the conformance suite checks orphan removal with it)."""
