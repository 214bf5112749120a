"""How the engine reads the vector store: filters pushed down when the store can evaluate them.

A store declares the filter operators it evaluates (``capabilities.filter_operators``, ``logical``).
A filter made only of those goes to the store; any other is evaluated here, over the whole scope,
never ignored.
"""

from __future__ import annotations

from typing import Any

from ..errors import MemoryNotFoundError
from ..filters import Filter, evaluate, operators_of
from ..models import Scope, ScoredRecord, VectorRecord
from ..providers import VectorStore
from .inputs import memory_id as checked_id


class StoreView:
    """Reads of one vector store, with the filter push-down fallback and scope ownership checks."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        caps = store.capabilities
        self._ops = set(caps.filter_operators) | ({"AND", "OR", "NOT"} if caps.logical else set())

    def _pushes_down(self, node: Filter | None) -> bool:
        return node is None or operators_of(node) <= self._ops

    async def search(self, vector: Any, scope: Scope, limit: int, node: Filter | None) -> list[ScoredRecord]:
        """Nearest records of ``scope`` passing ``node``, best first, at most ``limit``."""
        if self._pushes_down(node):
            return await self.store.search(vector, scope=scope, limit=limit, filters=node)
        # The store cannot evaluate this filter: rank the whole scope, filter here, never ignore it.
        assert node is not None
        total = await self.store.count(scope=scope)
        if total == 0:
            return []
        hits = await self.store.search(vector, scope=scope, limit=total, filters=None)
        return [h for h in hits if evaluate(node, h.payload)][:limit]

    async def records(self, scope: Scope, node: Filter | None, limit: int | None) -> list[VectorRecord]:
        """Records of ``scope`` passing ``node``, oldest first, at most ``limit`` (None: all)."""
        if self._pushes_down(node):
            return await self.store.list(scope=scope, filters=node, limit=limit)
        assert node is not None
        records = [r for r in await self.store.list(scope=scope) if evaluate(node, r.payload)]
        return records if limit is None else records[:limit]

    async def get(self, memory_id: str) -> VectorRecord | None:
        """One record by id (checked: a non-empty, valid string), or ``None``."""
        found = await self.store.get([checked_id(memory_id)])
        return found[0] if found else None

    async def owned(self, memory_id: str, scope: Scope) -> VectorRecord:
        """The stored record, still the caller's (a restore may have moved it).

        By-id operations given a scope only touch memories of that scope (else: not found).

        :raises MemoryNotFoundError: gone, or not in ``scope``.
        """
        record = await self.get(memory_id)
        if record is None or (not scope.is_empty and not scope.matches(record.payload)):
            raise MemoryNotFoundError(memory_id)
        return record


__all__ = ["StoreView"]
