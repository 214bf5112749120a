"""The graph store interface (entities and relations per scope). The pipeline lives in the engine."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from ..models import Scope
from .base import Provider


@dataclass(slots=True)
class Entity:
    name: str
    type: str = "Other"
    embedding: Sequence[float] | None = None


@dataclass(slots=True)
class GraphRelation:
    source: str
    relationship: str
    destination: str
    valid: bool = True
    mentions: int = 1
    created_at: str | None = None
    updated_at: str | None = None
    last_accessed_at: str | None = None
    score: float | None = None


class GraphStore(Provider):
    """Entities and relations, isolated per scope: the same name in two scopes is two entities."""

    kind = "graph_store"

    @abstractmethod
    async def upsert(self, scope: Scope, entities: Sequence[Entity], relations: Sequence[GraphRelation]) -> None:
        """Insert or bump (mentions + 1) entities and relations in ``scope``."""

    @abstractmethod
    async def search(
        self, scope: Scope, embeddings: Sequence[Sequence[float]], *, threshold: float, limit: int
    ) -> list[GraphRelation]:
        """Valid relations one hop from entities whose embedding has cosine ≥ ``threshold``."""

    @abstractmethod
    async def invalidate(self, scope: Scope, relations: Sequence[GraphRelation]) -> None:
        """Soft-delete (valid = false) these triples in ``scope``."""

    @abstractmethod
    async def rehearse(self, scope: Scope, relations: Sequence[GraphRelation], now: str) -> None:
        """Bump mentions and last_accessed_at of these triples."""

    @abstractmethod
    async def get_all(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        """Valid relations of ``scope``."""

    @abstractmethod
    async def delete_all(self, scope: Scope) -> None:
        """Remove the scope's relations and the entities left without any."""

    @abstractmethod
    async def reset(self) -> None:
        """Remove everything."""
