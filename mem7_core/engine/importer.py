"""Restore memories verbatim (``import_memories``, ``mem7 import``): checked, embedded, committed
in batches.

Every item is checked before anything is written (restore.py). Batches are embedded in one call
each and committed all-or-nothing under the locks of every scope they touch; a failing batch stops
the import, the batches before it stay written.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from ..errors import MemoryConflictError
from ..ids import iso
from ..models import VectorRecord
from .inputs import scope_of_payload
from .restore import ImportResult, OnConflict, Restored
from .unit_of_work import Changes, WriteStage, event


class Importer(WriteStage):
    async def run(self, restored: list[Restored], on_conflict: OnConflict, batch_size: int) -> ImportResult:
        """Write the checked items; ``on_conflict`` says what an id already stored gets."""
        result = ImportResult()
        if not restored:
            return result
        stored = {r.id for r in await self.view.store.get([r.id for r in restored])}
        if on_conflict == "error" and stored:
            raise MemoryConflictError(sorted(stored))
        for start in range(0, len(restored), batch_size):
            batch = restored[start : start + batch_size]
            todo = batch if on_conflict == "replace" else [r for r in batch if r.id not in stored]
            result.skipped += len(batch) - len(todo)
            if not todo:
                continue
            vectors = await self.embedder.embed([r.text for r in todo], purpose="add")
            written = result.imported + result.replaced
            added, replaced, skipped = await self.uow.retrying(
                lambda todo=todo, vectors=vectors, written=written: self._batch(  # type: ignore[misc]
                    todo, vectors, on_conflict, written
                )
            )
            result.imported += added
            result.replaced += replaced
            result.skipped += skipped
        return result

    async def _batch(
        self, todo: list[Restored], vectors: Sequence[Any], on_conflict: str, written: int
    ) -> tuple[int, int, int]:
        """Write one checked, embedded batch under the locks of every scope it touches (``written``:
        memories the earlier batches wrote, for a conflict's message).

        A replaced memory may live in another scope than its import: that scope is locked too.
        The stored records are read again under the locks (a concurrent writer may have added or
        deleted one of the ids since the first look); should one have moved into a scope not yet
        locked, the locks are taken again with it.
        """
        keys = {r.scope.key() for r in todo}
        while True:
            async with AsyncExitStack() as stack:
                for key in sorted(keys, key=repr):  # one global order: two imports cannot deadlock
                    await stack.enter_async_context(self.locks.hold(key))
                current = {r.id: r for r in await self.view.store.get([r.id for r in todo])}
                moved = {scope_of_payload(r.payload).key() for r in current.values()} - keys
                if moved and on_conflict == "replace":
                    keys |= moved
                    continue
                if current and on_conflict == "error":
                    raise MemoryConflictError(sorted(current), written=written)
                now = iso(self.clock())
                changes = Changes()
                skipped = 0
                for item, vector in zip(todo, vectors):
                    record = VectorRecord(id=item.id, vector=vector, payload=item.payload)
                    old = current.get(item.id)
                    if old is None:
                        changes.inserts.append(record)
                        changes.events.append(event(item.id, None, item.text, "ADD", now, item.payload))
                    elif on_conflict == "replace":
                        changes.changes.append((old, record))
                        changes.events.append(
                            event(item.id, str(old.payload.get("data", "")), item.text, "UPDATE", now, item.payload)
                        )
                    else:  # stored by a concurrent writer since the first look: left as it is
                        skipped += 1
                await self.uow.commit(changes)
                return len(changes.inserts), len(changes.changes), skipped


__all__ = ["Importer"]
