"""Direct edits, no LLM: update or delete one memory by id, delete a scope's memories.

Each is a read → decide → commit step under the scope's lock, run again when another process
changed what it read (:meth:`UnitOfWork.retrying`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..filters import Filter
from ..ids import iso, text_hash
from ..models import Scope, VectorRecord
from ..unicode_safe import scrub
from .inputs import scope_of_payload
from .unit_of_work import Changes, WriteStage, event


class Editor(WriteStage):
    """update / delete / delete_all against the store of record."""

    async def update(self, memory_id: str, text: str, meta: Mapping[str, Any], scope: Scope) -> None:
        """Replace a memory's text (re-embedded first, outside the lock; created_at kept) and merge
        ``meta`` into its metadata.

        :raises MemoryNotFoundError: no such memory (in ``scope``, when one is given).
        """
        key = scope_of_payload((await self.view.owned(memory_id, scope)).payload).key()
        vector = (await self.embedder.embed([text], purpose="update"))[0]

        async def step() -> None:
            async with self.locks.hold(key):
                record = await self.view.owned(memory_id, scope)
                old_text = str(record.payload.get("data", ""))
                now = iso(self.clock())
                # scrub: an update repairs stored text/metadata that is not valid Unicode (escaped)
                payload = {**scrub(record.payload), **meta, "data": text, "hash": text_hash(text), "updated_at": now}
                await self.uow.commit(
                    Changes(
                        events=[event(memory_id, old_text, text, "UPDATE", now, payload)],
                        changes=[(record, VectorRecord(id=memory_id, vector=vector, payload=payload))],
                    )
                )

        await self.uow.retrying(step)

    async def delete(self, memory_id: str, scope: Scope) -> None:
        """Delete one memory (history keeps a DELETE event).

        :raises MemoryNotFoundError: no such memory (in ``scope``, when one is given).
        """
        key = scope_of_payload((await self.view.owned(memory_id, scope)).payload).key()

        async def step() -> None:
            async with self.locks.hold(key):
                record = await self.view.owned(memory_id, scope)
                now = iso(self.clock())
                old_text = str(record.payload.get("data", ""))
                await self.uow.commit(
                    Changes(events=[event(memory_id, old_text, None, "DELETE", now, record.payload)], removes=[record])
                )

        await self.uow.retrying(step)

    async def delete_all(self, scope: Scope, node: Filter | None) -> int:
        """Delete every memory of ``scope`` passing ``node``; how many were deleted."""

        async def step() -> int:
            async with self.locks.hold(scope.key()):
                records = await self.view.records(scope, node, None)
                now = iso(self.clock())
                events = [event(r.id, str(r.payload.get("data", "")), None, "DELETE", now, r.payload) for r in records]
                await self.uow.commit(Changes(events=events, removes=records))
                return len(records)

        return await self.uow.retrying(step)


__all__ = ["Editor"]
