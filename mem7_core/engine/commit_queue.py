"""Group commit: the adds of one scope that queue behind the commit in progress commit together.

Writes to one scope are serialised under the scope's lock (``locks.py``). When many adds of a scope
finish deciding at about the same time (many agents writing for one user), each used to take the
lock in turn for a commit of its own: one history transaction and one store write per add, one
after the other. Now an add *submits* its commit step (:meth:`CommitQueue.submit`) and waits for
the lock; whoever gets the lock prepares every step queued by then, in the order they were
submitted, and commits them as one unit of work (one :class:`Changes`, one transaction of the store
of record), then hands each add its own result. A step submitted later waits for the next round.
A lone add is a round of one: what it did before.

Each step is prepared under the lock (``reconcile.py``: the plan re-checked) against the store
*and* against what the steps before it in the same round will write (:class:`Staged`): it sees
its round's earlier writes as if they had been committed one by one before it. An UPDATE of a
memory an earlier step rewrote becomes an ADD, a DELETE of it is skipped, a fact an earlier step
stored is not stored twice. A step whose changes would touch a memory the round already touches
(the rare UPDATE that keeps the text) starts a new round: the round so far is committed first.

Errors: a step that fails to prepare (a store read failing) fails alone. When a round's commit
fails (the unit of work has undone it), its steps are prepared and committed again one by one, as
without grouping, so one add's failure (a fault, a conflict with another process) does not fail
the others; each then gets its own outcome, and on a :class:`~mem7_core.errors.StoreConflictError`
(another process changed what it read) an add reads and decides again, as before
(:meth:`UnitOfWork.retrying`). A caller cancelled while its step waits is taken out of the queue;
once its round is being written, the round is finished (its other adds are not cancelled with it)
and the caller gets ``CancelledError``, its write landed, as when a client goes away mid-commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..models import VectorRecord
from .inference import norm_text
from .unit_of_work import Changes, merged, to_the_end

if TYPE_CHECKING:
    from ..providers import VectorStore
    from .locks import ScopeLocks
    from .unit_of_work import UnitOfWork

R = TypeVar("R")


@dataclass(slots=True)
class Staged:
    """What the round's steps prepared so far will write: the view a later step reconciles against."""

    records: dict[str, VectorRecord | None] = field(default_factory=dict)
    """Memory id → the record as the round leaves it (``None``: deleted)."""
    written: dict[str, str] = field(default_factory=dict)
    """Normalised text → memory id, of the memories the round stores (the ``WriteLog``'s shape)."""

    def add(self, changes: Changes) -> None:
        for rec in changes.written():
            self.records[rec.id] = rec
            self.written[norm_text(str(rec.payload.get("data", "")))] = rec.id
        for rec in changes.removes:
            self.records[rec.id] = None

    def touches(self, changes: Changes) -> bool:
        """Whether ``changes`` rewrite or remove a memory the round already writes."""
        return any(old.id in self.records for old, _ in changes.changes) or any(
            r.id in self.records for r in changes.removes
        )

    async def read(self, store: VectorStore, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """The records ``ids`` as the round leaves them: the store's, unless a step before wrote them."""
        unread = [i for i in ids if i not in self.records]
        found = {r.id: r for r in await store.get(unread)} if unread else {}
        for i in ids:
            rec = self.records.get(i)
            if rec is not None:
                found[i] = rec
        return found


Prepare = Callable[[Staged], Awaitable[tuple[Changes, R]]]
"""A commit step: under the lock, against a round's :class:`Staged`, the changes to write and the
caller's result once they are written."""


@dataclass(slots=True, eq=False)
class _Step(Generic[R]):
    prepare: Prepare[R]
    result: asyncio.Future[R]


class CommitQueue:
    """Per scope, the commit steps waiting for the scope's lock; the holder commits them all."""

    def __init__(self, locks: ScopeLocks, uow: UnitOfWork) -> None:
        self.locks = locks
        self.uow = uow
        self._queues: dict[Hashable, list[_Step[Any]]] = {}

    async def submit(self, key: Hashable, prepare: Prepare[R]) -> R:
        """Prepare and commit under scope ``key``'s lock, with the steps queued beside it; its result."""
        step: _Step[R] = _Step(prepare, asyncio.get_running_loop().create_future())
        queue = self._queues.setdefault(key, [])
        queue.append(step)
        try:
            async with self.locks.hold(key):
                if not step.result.done():  # else a step before it committed it, in its round
                    steps, queue[:] = queue[:], []
                    if len(steps) == 1:  # a round of its own: nobody else's write to protect
                        await self._commit_round(steps)
                    else:
                        await to_the_end(asyncio.ensure_future(self._commit_round(steps)))
        except asyncio.CancelledError:
            if step in queue:
                queue.remove(step)
            else:  # taken by a round: its outcome is nobody's to read now
                step.result.add_done_callback(_discard)
            raise
        finally:
            if not queue and self._queues.get(key) is queue:
                del self._queues[key]
        return step.result.result()

    def __len__(self) -> int:
        """Scopes with steps waiting."""
        return len(self._queues)

    async def _commit_round(self, steps: list[_Step[Any]]) -> None:
        try:
            await self._prepare_and_commit(steps)
        except BaseException as exc:  # every caller hears of it, whatever happened
            for step in steps:
                if step.result.done():
                    continue
                if isinstance(exc, Exception):
                    step.result.set_exception(exc)
                else:
                    step.result.cancel()
            raise

    async def _prepare_and_commit(self, steps: list[_Step[Any]]) -> None:
        staged = Staged()
        parts: list[Changes] = []
        ready: list[tuple[_Step[Any], Any]] = []
        for step in steps:
            try:
                changes, result = await step.prepare(staged)
                if staged.touches(changes):  # commit the round so far, then this step against the store
                    await self._commit(parts, ready)
                    staged, parts, ready = Staged(), [], []
                    changes, result = await step.prepare(staged)
            except Exception as exc:
                step.result.set_exception(exc)
                continue
            staged.add(changes)
            parts.append(changes)
            ready.append((step, result))
        await self._commit(parts, ready)

    async def _commit(self, parts: list[Changes], ready: list[tuple[_Step[Any], Any]]) -> None:
        if not ready:
            return
        try:
            await self.uow.commit(merged(parts))
        except Exception as exc:
            if len(ready) == 1:
                ready[0][0].result.set_exception(exc)
                return
            # Nothing of the round was written (the unit of work undid it): one failure must not
            # fail every add that happened to share the round, so each goes again on its own,
            # read afresh (the ones before it are in the store or failed), as without grouping.
            await self._one_by_one([step for step, _ in ready])
            return
        for step, result in ready:
            step.result.set_result(result)

    async def _one_by_one(self, steps: list[_Step[Any]]) -> None:
        for step in steps:
            try:
                changes, result = await step.prepare(Staged())
                await self.uow.commit(changes)
            except Exception as exc:
                step.result.set_exception(exc)
            else:
                step.result.set_result(result)


def _discard(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


__all__ = ["CommitQueue", "Prepare", "Staged", "merged"]  # merged: unit_of_work.py, re-exported
