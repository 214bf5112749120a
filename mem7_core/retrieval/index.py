"""The engine's keyword indexes: one :class:`BM25Index` per searched scope, kept up to date.

An index is built lazily, from the vector store's ``list(scope=...)``, the first time its scope is
searched, so it works with every store and with data persisted by an earlier process. After that
the engine's write path (add, update, delete, delete_all, reset) updates every cached index whose
scope the written memory belongs to: nothing is rebuilt per query or per write.

A write that lands while an index is being built is recorded and replayed onto it once the build
finishes (upserts and deletes are idempotent, so it does not matter whether the listing saw it).
At most ``max_scopes`` indexes are kept (least recently searched dropped first; rebuilt on demand).

Another process writing the same store: when the store declares ``change_feed`` (flat with a
path), every :meth:`ScopeIndexes.get` first asks it for the changes other writers made since the
last look (:meth:`VectorStore.changes_since`, in memory after the store's own cheap catch-up) and
applies them to the cached indexes, so every process ranks with the same keywords. Stores that
push keyword search down (``keyword_search``) need no index at all. For other stores the indexes
are per process; the engine repairs what it can notice cheaply (a memory the vector search
returns but the index lacks drops the scope's index, to be rebuilt on the next search; an indexed
memory the store no longer has is removed from it), but a memory re-worded by another process
keeps its old keywords until the index is rebuilt (:meth:`ScopeIndexes.invalidate`, or a new engine).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..models import SCOPE_KEYS, Scope, VectorRecord
from ..providers.keywords import BM25Index
from ..providers.vector_store import VectorStore

_Op = tuple[str, str, str, dict[str, Any] | None]
"""("add", id, text, payload) or ("remove", id, "", None)."""


@dataclass(slots=True)
class _Build:
    scope: Scope
    future: asyncio.Future[BM25Index]
    ops: list[_Op] = field(default_factory=list)


def _text(payload: dict[str, Any]) -> str:
    return str(payload.get("data") or "")


_Add = Callable[[str, str, Mapping[str, Any] | None], object]
_Remove = Callable[[str], object]


def _deferred(ops: list[Any]) -> tuple[_Add, _Remove]:
    """Index operations recorded for a build in progress (replayed when it is done)."""

    def add(mem_id: str, text: str, payload: Mapping[str, Any] | None) -> None:
        ops.append(("add", mem_id, text, payload))

    def remove(mem_id: str) -> None:
        ops.append(("remove", mem_id, "", None))

    return add, remove


class _WriteSet(Protocol):
    """What a write changed (the engine's ``unit_of_work.Changes``)."""

    inserts: list[VectorRecord]
    changes: list[tuple[VectorRecord, VectorRecord]]
    removes: list[VectorRecord]

    def payloads(self) -> list[dict[str, Any]]: ...


class ScopeIndexes:
    """BM25 indexes by scope for one engine.

    :param store: where indexes are built from (``list(scope=...)``).
    :param make: returns a new empty index (carries k1, b, stopwords, group key).
    :param max_scopes: how many scopes' indexes to keep.
    """

    def __init__(self, store: VectorStore, make: Callable[[], BM25Index], *, max_scopes: int = 256) -> None:
        self._store = store
        self._make = make
        self._max = max_scopes
        self._indexes: OrderedDict[Hashable, tuple[Scope, BM25Index]] = OrderedDict()
        self._building: dict[Hashable, _Build] = {}
        self.builds = 0
        """How many indexes were built from the store so far (tests count rebuilds with it)."""
        self.writing: set[str] = set()
        """Ids this engine is inserting right now (in the store, not yet in the indexes)."""
        self._feed = bool(getattr(store.capabilities, "change_feed", False))
        self._cursor: int | None = None
        self.caught_up = 0
        """How many other writers' changes were applied to the indexes (tests and diagnostics)."""

    def __len__(self) -> int:
        return len(self._indexes)

    def cached(self, scope: Scope) -> BM25Index | None:
        hit = self._indexes.get(scope.key())
        return hit[1] if hit is not None else None

    async def get(self, scope: Scope) -> BM25Index:
        """The scope's index, built from the store on first use (concurrent callers share one build)."""
        key = scope.key()
        if self._feed:
            await self.catch_up()
        while True:
            hit = self._indexes.get(key)
            if hit is not None:
                self._indexes.move_to_end(key)
                return hit[1]
            build = self._building.get(key)
            if build is None:
                return await self._build(scope, key)
            try:
                return await asyncio.shield(build.future)
            except asyncio.CancelledError:
                if build.future.cancelled():  # the builder was cancelled, not us: try again
                    continue
                raise

    async def _build(self, scope: Scope, key: Hashable) -> BM25Index:
        build = _Build(scope, asyncio.get_running_loop().create_future())
        self._building[key] = build
        try:
            records = await self._store.list(scope=scope)
            index = self._make()
            for r in records:
                if scope.matches(r.payload):
                    index.add(r.id, _text(r.payload), r.payload)
            for op, doc_id, text, payload in build.ops:
                if op == "add":
                    index.add(doc_id, text, payload)
                else:
                    index.remove(doc_id)
        except asyncio.CancelledError:
            build.future.cancel()
            raise
        except BaseException as exc:
            build.future.set_exception(exc)
            build.future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._building[key]
        self.builds += 1
        self._indexes[key] = (scope, index)
        while len(self._indexes) > self._max:
            self._indexes.popitem(last=False)
        build.future.set_result(index)
        return index

    async def catch_up(self) -> None:
        """Apply what other writers changed in the store since the last look (``change_feed``)."""
        batch = await self._store.changes_since(self._cursor)
        first = self._cursor is None
        self._cursor = batch.cursor
        if first:
            return
        if batch.changes is None:
            self.invalidate()
            return
        for ch in batch.changes:
            old = None if ch.old is None else VectorRecord(id=ch.id, vector=None, payload=dict(ch.old))
            new = None if ch.new is None else VectorRecord(id=ch.id, vector=None, payload=dict(ch.new))
            if old is not None and new is not None:
                self.apply(changes=[(old, new)])
            elif new is not None:
                self.apply(inserts=[new])
            elif old is not None:
                self.apply(removes=[old])
        self.caught_up += len(batch.changes)

    # ------------------------------------------------------------------ write path
    def _targets(self, payload: dict[str, Any]) -> dict[Hashable, tuple[_Add, _Remove]]:
        """The indexes (and builds in progress) whose scope this payload belongs to, by scope key.

        Found by lookup, not by scanning every cached scope: a record can only be in the scopes made
        of a subset of its own three ids, so at most eight keys are tried per record.
        """
        out: dict[Hashable, tuple[_Add, _Remove]] = {}
        for key in _scope_keys(payload):
            hit = self._indexes.get(key)
            if hit is not None:
                out[("index", key)] = (hit[1].add, hit[1].remove)
            build = self._building.get(key)
            if build is not None:
                out[("build", key)] = _deferred(build.ops)
        return out

    def apply(
        self,
        *,
        inserts: Sequence[VectorRecord] = (),
        changes: Sequence[tuple[VectorRecord, VectorRecord]] = (),
        removes: Sequence[VectorRecord] = (),
    ) -> None:
        """Reflect a successful write in every index whose scope it touches."""
        if not (self._indexes or self._building):
            return
        for rec in inserts:
            for add, _ in self._targets(rec.payload).values():
                add(rec.id, _text(rec.payload), rec.payload)
        for old, new in changes:
            now_in = self._targets(new.payload)
            for add, _ in now_in.values():
                add(new.id, _text(new.payload), new.payload)  # an upsert
            for target, (_, remove) in self._targets(old.payload).items():
                if target not in now_in:
                    remove(old.id)
        for rec in removes:
            for _, remove in self._targets(rec.payload).values():
                remove(rec.id)

    # ------------------------------------------------------------------ as the engine's write listener
    def write_started(self, changes: _WriteSet) -> None:
        """Ids about to be inserted: a search finding them in the store before the indexes do
        is seeing a write in flight, not a stale index."""
        self.writing.update(r.id for r in changes.inserts)

    def write_committed(self, changes: _WriteSet) -> None:
        self.apply(inserts=changes.inserts, changes=changes.changes, removes=changes.removes)
        self.writing.difference_update(r.id for r in changes.inserts)

    def write_failed(self, changes: _WriteSet, *, partial: bool) -> None:
        if partial:  # some of it may have landed and been undone: rebuild the touched scopes
            self.invalidate_matching(changes.payloads())
        self.writing.difference_update(r.id for r in changes.inserts)

    def invalidate_matching(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Drop the indexes of every scope one of these payloads belongs to (after a failed write)."""
        payloads = list(payloads)
        for key, (scope, _) in list(self._indexes.items()):
            if any(scope.matches(p) for p in payloads):
                del self._indexes[key]
        for build in self._building.values():  # its listing may predate the undo: rebuild next time
            if any(build.scope.matches(p) for p in payloads):
                self._forget_when_built(build)

    def invalidate(self, scope: Scope | None = None) -> None:
        """Forget one scope's index (or all); the next search rebuilds it from the store."""
        if scope is None:
            self._indexes.clear()
            for build in self._building.values():
                self._forget_when_built(build)
            return
        self._indexes.pop(scope.key(), None)

    def _forget_when_built(self, build: Any) -> None:
        """A build in progress may list the store from before a change: drop its index when done."""
        key = build.scope.key()
        build.future.add_done_callback(lambda _f: self._indexes.pop(key, None))


__all__ = ["ScopeIndexes"]


def _scope_keys(payload: dict[str, Any]) -> set[tuple[str | None, ...]]:
    """Every :meth:`Scope.key` whose scope ``payload`` matches: each id kept or left unset."""
    ids = [v if isinstance(v, str) else None for v in (payload.get(k) for k in SCOPE_KEYS)]
    return {tuple(v if mask >> i & 1 else None for i, v in enumerate(ids)) for mask in range(1 << len(ids))}
