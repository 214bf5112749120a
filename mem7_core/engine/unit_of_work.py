"""The unit of work: one set of changes to the store of record, committed whole or not at all.

Every write of the engine (add, update, delete, delete_all, import) ends here as a :class:`Changes`
(records to insert, (old, new) pairs to update, records to remove, and their history events), and
:meth:`UnitOfWork.commit` makes it durable:

- stores that keep history in their own database (``atomic_history``, the flat store with a path)
  get one ``commit(WriteBatch)``: vectors and events in one transaction, with the records the
  engine read as ``expected`` (another process changed one → :class:`StoreConflictError`, nothing
  written);
- other stores get history first (one atomic batch), then vectors (inserts, updates, deletes); a
  vector write that fails is undone (a compensating transaction) and its history events removed,
  so store and history keep agreeing.

Commits that come while one is being written wait for it and then go together, as one commit
(**group commit across scopes**: 64 adds of 64 users each committing alone paid 64 history
transactions one after the other, ~23 ms of a burst's critical path, ``bench/results/add_cpu.md``
step 5). A commit that finds none in flight goes at once, so one writer alone sees no change. A
group that fails is undone like any commit, then each of its commits goes again alone, so one
caller's conflict or bad record is never another's error. (Within one scope, the adds waiting for
the scope's lock are already merged before they get here: ``commit_queue.py``.)

After a commit the unit of work publishes what changed to the caches that listen
(:class:`WriteListener`: the keyword indexes, the in-process write log of adds in flight). They are
caches of the store of record; a listener never writes to the store.

:meth:`UnitOfWork.retrying` runs a read → decide → commit step again when its commit finds that
another process changed what it read.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import StoreConflictError
from ..ids import uuid7
from ..models import HistoryEvent, VectorRecord
from ..providers import Embedder, HistoryStore, VectorStore, WriteBatch
from ..unicode_safe import scrub

if TYPE_CHECKING:
    from .locks import ScopeLocks
    from .store_view import StoreView

log = logging.getLogger("mem7.engine")
T = TypeVar("T")

CONFLICT_ATTEMPTS = 8
"""How many times an operation is read and decided again when another process changed what it
read before it could commit (a :class:`StoreConflictError`)."""


def event(
    memory_id: str,
    old: str | None,
    new: str | None,
    kind: str,
    now: str,
    payload: Mapping[str, Any],
    *,
    stated_at: str | None = None,
) -> HistoryEvent:
    """The history event of one change (ADD / UPDATE / DELETE) made at ``now`` (wall clock), by an
    add that said when its conversation happened (``stated_at``, the caller's ``timestamp``).

    Built from values the engine made itself: no validation pass on the write path. Stored text
    that is not valid Unicode (an older version's) is escaped, so history can take it.
    """
    return HistoryEvent.model_construct(
        id=uuid7(),
        memory_id=memory_id,
        old_memory=scrub(old),
        new_memory=scrub(new),
        event=kind,  # type: ignore[arg-type]  # one of the engine's own literals
        created_at=now,
        updated_at=now,
        is_deleted=kind == "DELETE",
        actor_id=scrub(payload.get("actor_id")),
        role=scrub(payload.get("role")),
        stated_at=stated_at,
    )


@dataclass(slots=True)
class Changes:
    """What one operation writes: records and the history events that describe them."""

    events: list[HistoryEvent] = field(default_factory=list)
    inserts: list[VectorRecord] = field(default_factory=list)
    changes: list[tuple[VectorRecord, VectorRecord]] = field(default_factory=list)
    """(the record as read, the record to write) per update."""
    removes: list[VectorRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.inserts or self.changes or self.removes)

    def ids(self) -> set[str]:
        """The ids of every memory this write touches (its records and its events')."""
        return (
            {r.id for r in self.inserts}
            | {new.id for _, new in self.changes}
            | {r.id for r in self.removes}
            | {e.memory_id for e in self.events}
        )

    def written(self) -> list[VectorRecord]:
        """The records this write leaves in the store: the inserts and the updates' new versions."""
        return [*self.inserts, *(new for _, new in self.changes)]

    def payloads(self) -> list[dict[str, Any]]:
        """Every payload this write touches (old and new), for caches that drop what it touched."""
        return (
            [r.payload for r in self.inserts]
            + [r.payload for pair in self.changes for r in pair]
            + [r.payload for r in self.removes]
        )

    def batch(self) -> WriteBatch:
        """As one store transaction, expecting each record as the engine read it (or absent)."""
        expected: dict[str, Any] = {r.id: None for r in self.inserts}
        expected.update((old.id, old.payload) for old, _ in self.changes)
        expected.update((r.id, r.payload) for r in self.removes)
        return WriteBatch(
            inserts=list(self.inserts),
            updates=[new for _, new in self.changes],
            deletes=[r.id for r in self.removes],
            events=self.events,
            expected=expected,
        )


def merged(parts: Sequence[Changes]) -> Changes:
    """One :class:`Changes` of several (their events, inserts, updates and removes, in order)."""
    if len(parts) == 1:
        return parts[0]
    out = Changes()
    for part in parts:
        out.events.extend(part.events)
        out.inserts.extend(part.inserts)
        out.changes.extend(part.changes)
        out.removes.extend(part.removes)
    return out


@dataclass(slots=True, eq=False)
class _Waiting:
    changes: Changes
    done: asyncio.Future[None]
    context: contextvars.Context  # the caller's: a group is written in its first caller's context


@dataclass(slots=True)
class _GroupState:
    """Per event loop: whether a commit is being written, and the commits waiting for it."""

    loop: asyncio.AbstractEventLoop
    out: bool = False
    waiting: list[_Waiting] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WriteListener(Protocol):
    """A cache that follows the engine's writes (keyword indexes, the write log of adds in flight)."""

    def write_started(self, changes: Changes) -> None:
        """Before a compensating write: its records may appear in the store before it returns."""

    def write_committed(self, changes: Changes) -> None:
        """After the write landed, whole."""

    def write_failed(self, changes: Changes, *, partial: bool) -> None:
        """The write raised; ``partial``: some of it may have landed and been undone."""


class UnitOfWork:
    """Commits :class:`Changes` to the store of record and publishes them to the listeners.

    :param atomic: history lives in the vector store's database (one ``commit`` per write).
    :param embedder: re-embeds a record whose vector the store did not return, to undo its change.
    """

    def __init__(self, store: VectorStore, history: HistoryStore, embedder: Embedder, *, atomic: bool) -> None:
        self.store = store
        self.history = history
        self.embedder = embedder
        self.atomic = atomic
        self.listeners: list[WriteListener] = []
        self._group: _GroupState | None = None

    def listen(self, listener: WriteListener) -> None:
        self.listeners.append(listener)

    async def commit(self, changes: Changes) -> None:
        """Make ``changes`` durable, whole or not at all, then tell the listeners; with the commits
        that came while another was being written, when there was one (see the module docstring)."""
        if not changes:
            return
        st = self._group_state()
        if not st.out and not st.waiting:
            st.out = True
            try:
                await self._commit_now(changes)
            finally:
                st.out = False
                self._next(st)
            return
        waiting = _Waiting(changes, st.loop.create_future(), contextvars.copy_context())
        st.waiting.append(waiting)
        self._next(st)
        try:
            await asyncio.shield(waiting.done)
        except asyncio.CancelledError:
            if any(w is waiting for w in st.waiting):  # not in a group yet: it writes nothing
                st.waiting.remove(waiting)
                raise
            await to_the_end(waiting.done)  # being written with its group: learn the outcome, then stop
            raise

    def _group_state(self) -> _GroupState:
        loop = asyncio.get_running_loop()
        if self._group is None or self._group.loop is not loop:  # one per event loop (tests may run several)
            self._group = _GroupState(loop)
        return self._group

    def _next(self, st: _GroupState) -> None:
        """Write the waiting commits as one, if none is being written. A commit that touches a
        record an earlier one of the group touches waits for the next group: within one write,
        neither could see the other's change (scope locks keep one scope's commits apart, but a
        record can be reached under two scope keys: ``delete_all`` of a user and an add of one of
        its agents), so it is checked against the store after it, as it would be alone."""
        if st.out or not st.waiting:
            return
        group: list[_Waiting] = []
        later: list[_Waiting] = []
        touched: set[str] = set()
        for w in st.waiting:
            ids = w.changes.ids()
            if group and not touched.isdisjoint(ids):
                later.append(w)
                continue
            touched |= ids
            group.append(w)
        st.waiting = later
        st.out = True
        task = st.loop.create_task(self._commit_group(st, group), context=group[0].context)
        st.tasks.add(task)
        task.add_done_callback(st.tasks.discard)

    async def _commit_group(self, st: _GroupState, group: list[_Waiting]) -> None:
        try:
            if len(group) > 1:
                try:
                    await self._commit_now(merged([w.changes for w in group]))
                except Exception as exc:  # undone: each goes again alone, and meets its own error
                    log.info("a group of %d commits failed (%s); committing each alone", len(group), exc)
                else:
                    for w in group:
                        _settle(w.done, None)
                    return
            for w in group:
                try:
                    await self._commit_now(w.changes)
                except Exception as exc:
                    _settle(w.done, exc)
                else:
                    _settle(w.done, None)
        except BaseException as exc:  # cancelled (the loop shutting down): nobody waits forever
            for w in group:
                _settle(w.done, exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        finally:
            st.out = False
            self._next(st)

    async def _commit_now(self, changes: Changes) -> None:
        """One commit, whole or not at all, then the listeners told."""
        if self.atomic:
            try:
                await self.store.commit(changes.batch())
            except BaseException:
                self._publish_failed(changes, partial=False)
                raise
        else:
            await self._commit_compensating(changes)
        for listener in self.listeners:
            listener.write_committed(changes)

    async def retrying(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step`` (read, decide, commit) again when its commit finds that another process
        changed what it read (:class:`StoreConflictError`: nothing was written), a few times."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return await step()
            except StoreConflictError as exc:
                if attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                log.info("write conflict with another process (%s); reading again", exc)
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    def _publish_failed(self, changes: Changes, *, partial: bool) -> None:
        for listener in self.listeners:
            try:
                listener.write_failed(changes, partial=partial)
            except Exception as exc:  # a cache must not hide the write's own error
                log.error("a write listener failed after a failed write: %s", exc)

    # ------------------------------------------------------------------ history, then vectors
    async def _commit_compensating(self, changes: Changes) -> None:
        """History first (one atomic batch), then vectors: inserts, updates, deletes.

        If a vector write fails, the vector writes already done are undone (deleted records that
        are gone are inserted again, re-embedded when the store returned no vector) and the history
        events removed, so store and history agree; the error then propagates. Deletes go last
        because their undo is the most expensive.
        """
        events = changes.events
        try:
            await self.history.add_events(events)
        except BaseException:
            # The batch may have landed before the error (a server that timed out on the reply):
            # remove it, so no event describes a write that did not happen. Ids unknown: a no-op.
            try:
                await self.history.delete_events([e.id for e in events])
            except Exception as undo_exc:
                log.error("could not remove the history events of a failed history write: %s", undo_exc)
            raise
        done_inserts: list[str] = []
        done_changes: list[VectorRecord] = []
        done_removes: list[VectorRecord] = []
        for listener in self.listeners:  # in flight: a search seeing them early is not a stale cache
            listener.write_started(changes)
        try:
            # Marked before the call: a write that lands and then raises (a timeout) is undone too;
            # undoing one that never landed is harmless (delete ignores unknown ids).
            if changes.inserts:
                done_inserts = [r.id for r in changes.inserts]
                await self.store.insert(list(changes.inserts))
            for old, new in changes.changes:
                done_changes.append(old)
                await self.store.update(new.id, vector=new.vector, payload=new.payload)
            if changes.removes:
                done_removes = list(changes.removes)
                await self.store.delete([r.id for r in changes.removes])
        except BaseException as exc:
            self._publish_failed(changes, partial=True)  # whatever the undo achieves, caches rebuild
            log.error(
                "write failed half-way (%s); undoing %d insert(s) and %d update(s)",
                exc,
                len(done_inserts),
                len(done_changes),
            )
            await self._undo(done_inserts, done_changes)
            if done_removes:  # a delete that landed and then raised (a timeout): put the records back
                await self._restore(done_removes)
            try:
                await self.history.delete_events([e.id for e in await self._not_stuck(events)])
            except Exception as undo_exc:
                log.error("could not remove the history events of a failed write: %s", undo_exc)
            raise

    async def _undo(self, inserted: list[str], changed: list[VectorRecord]) -> None:
        # Each step on its own: one failing undo must not stop the others.
        if inserted:
            try:
                await self.store.delete(inserted)
            except Exception as exc:
                log.error("undo: could not remove %d inserted memories: %s", len(inserted), exc)
        for old in reversed(changed):
            try:
                vector = old.vector
                if vector is None:
                    vector = (await self.embedder.embed([str(old.payload.get("data", ""))], purpose="update"))[0]
                await self.store.update(old.id, vector=vector, payload=old.payload)
            except Exception as exc:
                log.error("undo: could not restore memory %s: %s", old.id, exc)

    async def _not_stuck(self, events: list[HistoryEvent]) -> list[HistoryEvent]:
        """After a failed write and its undo, the events whose change is not in the store (to drop).

        An undo can fail too (the store still down): the events of changes that stuck are kept, so
        history keeps describing what the store holds. If the store cannot even be read, all go.
        """
        try:
            now = {r.id: r for r in await self.store.get(list(dict.fromkeys(e.memory_id for e in events)))}
        except Exception as exc:
            log.error("could not read the store after a failed write (%s); dropping all its history events", exc)
            return events

        def stuck(e: HistoryEvent) -> bool:
            rec = now.get(e.memory_id)
            if e.event == "DELETE":
                return rec is None
            return rec is not None and rec.payload.get("data") == e.new_memory

        kept = [e for e in events if stuck(e)]
        if kept:
            log.error("%d change(s) of the failed write could not be undone; their history events are kept", len(kept))
        return [e for e in events if not stuck(e)]

    async def _restore(self, removed: Sequence[VectorRecord]) -> None:
        try:
            present = {r.id for r in await self.store.get([r.id for r in removed])}
            gone = [r for r in removed if r.id not in present]
            if not gone:
                return
            bare = [r for r in gone if r.vector is None]
            vectors = (
                dict(
                    zip(
                        (r.id for r in bare),
                        await self.embedder.embed([str(r.payload.get("data", "")) for r in bare], purpose="update"),
                    )
                )
                if bare
                else {}
            )
            await self.store.insert(
                [
                    VectorRecord(id=r.id, vector=r.vector if r.vector is not None else vectors[r.id], payload=r.payload)
                    for r in gone
                ]
            )
        except Exception as exc:
            log.error("undo: could not restore %d deleted memories: %s", len(removed), exc)


async def to_the_end(fut: asyncio.Future[None]) -> None:
    """Await ``fut`` to its end even if the awaiting task is cancelled meanwhile (then re-raised):
    a write under way is seen through (a scope's lock held until its round is written, a caller
    told whether its grouped commit landed), whoever asked for it."""
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            if fut.done() and fut.cancelled():
                raise
            cancelled = True
    fut.result()
    if cancelled:
        raise asyncio.CancelledError


def _settle(done: asyncio.Future[None], exc: BaseException | None) -> None:
    if done.done():
        return
    if exc is None:
        done.set_result(None)
    elif isinstance(exc, asyncio.CancelledError):
        done.cancel()
    else:
        done.set_exception(exc)


@dataclass(frozen=True, slots=True)
class WriteTools:
    """What every writing stage (add, edits, import) works with."""

    embedder: Embedder
    view: StoreView
    uow: UnitOfWork
    locks: ScopeLocks
    clock: Callable[[], datetime]


class WriteStage:
    """Base of the stages that write (add, edits, import): the tools as attributes."""

    def __init__(self, tools: WriteTools) -> None:
        self.embedder = tools.embedder
        self.view = tools.view
        self.uow = tools.uow
        self.locks = tools.locks
        self.clock = tools.clock


__all__ = [
    "CONFLICT_ATTEMPTS", "Changes", "UnitOfWork", "WriteListener", "WriteStage", "WriteTools", "event", "merged",
    "to_the_end",
]
