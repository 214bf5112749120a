"""FaissVectorStore: exact cosine search with FAISS, over a SQLite store of record in a directory.

The store of record is the truth: ``<path>/<collection_name>/mem7.db`` (:mod:`._db`), shared by
every process that opens the directory. Every write is one SQLite transaction (durable when the
call returns) that appends to a change log; nothing is acknowledged before it is committed there.

What a process holds in memory is a cache of that file, rebuilt from it on open and caught up from
its change log before every operation (``PRAGMA data_version`` first, a few microseconds, so an
operation with nothing new reads nothing). The cache is, per ``user_id`` value, one FAISS
``IndexIDMap2`` over an ``IndexFlatIP`` of L2-normalised vectors (inner product = cosine, exact,
no training), plus the payloads and the ``agent_id`` / ``run_id`` of each row:

- a user-scoped search reads that user's index only (other tenants' rows are never scanned);
  ``agent_id`` / ``run_id`` narrow it with an ``IDSelectorBatch`` of the rows holding them;
- filters are evaluated exactly with :func:`mem7_core.filters.evaluate` on the candidates, best
  first, widening the FAISS ``k`` until ``limit`` pass or the scope is exhausted, so every
  operator is answered by the store with the reference semantics (declared as pushed down);
- a write never edits the cache itself: once committed, the cache catches up from the database
  like it does for another process's write, so both paths are the same code;
- the changes other processes made are remembered (bounded) for :meth:`changes_since`, so the
  engine's keyword indexes follow them (``change_feed``); this process's own writes (their
  change-log range is registered before COMMIT) are not reported.

A process that only reads never writes the file (it opens it once it exists, creates nothing).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import AliasChoices, Field, field_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, StorageConfigError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import (
    ChangeBatch,
    EmbeddingSpace,
    ProviderConfig,
    StoreChange,
    VectorStore,
    VectorStoreCapabilities,
)
from mem7_core.providers.blocking import BlockingRunner

from ._db import DELETE, PUT, RESET, Change, Row, StoreDB, encode_payload, vector_bytes, vectors_of

log = logging.getLogger("mem7.faiss")

T = TypeVar("T")


def _faiss() -> Any:
    """The ``faiss`` module, imported on first use only: the registry may import this plugin's
    module to list providers, and faiss brings its own OpenMP and OpenBLAS into the process
    (mem7-flat's BLAS thread control can then find the wrong OpenBLAS), so a process that does not
    use this store never loads it."""
    import faiss

    return faiss

_FEED_SIZE = 10_000
"""Other writers' changes remembered for :meth:`FaissVectorStore.changes_since`; a reader further
behind is told to drop its caches."""
_SUB_KEYS = ("agent_id", "run_id")
_SCALARS = frozenset((str, int, float, bool, type(None)))


def _copy_payload(p: dict[str, Any]) -> dict[str, Any]:
    """A copy nobody outside can use to mutate the cache (shallow when every value is a scalar)."""
    return p.copy() if _SCALARS.issuperset(map(type, p.values())) else copy.deepcopy(p)


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


@dataclass(slots=True)
class _Row:
    id: str
    payload: dict[str, Any]
    user: str | None
    subs: tuple[str | None, str | None]  # agent_id, run_id


@dataclass(slots=True)
class _Job:
    """One write of this process: its awaiter was cancelled (``abandoned``); the cache holds it
    (``applied``). Read and written under the store's lock."""

    abandoned: bool = False
    applied: bool = False


_Target = tuple[str | None, Any, np.ndarray | None, int]
"""(user_id, its faiss index, the in-scope labels or ``None`` for all, how many rows that is)."""


class FaissVectorStore(VectorStore):
    """Exact FAISS search per user over a SQLite store of record shared by processes."""

    name = "faiss"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        persistent=True, change_feed=True
    )

    class Config(ProviderConfig):
        path: str | None = None
        """Directory of the collections (required): ``<path>/<collection_name>/mem7.db``."""
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
        """Name of the collection (a subdirectory of ``path``)."""
        dims: int | None = Field(None, ge=1, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size; ``None`` takes it from the first insert."""
        fsync: bool = True
        """Every write is durable when the call returns (SQLite ``synchronous=FULL``). ``false``
        (``NORMAL``) survives a crash of the process but not of the machine."""
        busy_timeout_ms: int = Field(30_000, ge=0)
        """How long a write waits for another process's write lock before failing."""
        omp_threads: int | None = Field(1, ge=1)
        """OpenMP threads a search uses (set for the calling thread, restored afterwards). One by
        default: faiss's OpenMP workers spin-wait between searches, burning cores the engine
        needs while it awaits I/O, and on a busy machine a multi-threaded search of a few
        thousand rows took ~30 ms instead of well under one (``bench/faiss``). ``null`` keeps
        faiss's own setting."""

        @field_validator("path")
        @classmethod
        def _expand(cls, v: str | None) -> str | None:
            return None if v is None else str(Path(v).expanduser())

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.path is None:
            raise ConfigError(
                "vector_store faiss: set vector_store.config.path to a directory to keep the collection in "
                "(its SQLite store of record and nothing else; the FAISS index is rebuilt from it)"
            )
        directory = Path(cfg.path) / cfg.collection_name
        probe = directory if directory.exists() else next(p for p in directory.parents if p.exists())
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise ConfigError(
                f"vector_store faiss: cannot use path {cfg.path!r} ({probe} is not a writable directory); "
                "set vector_store.config.path to a writable directory"
            )
        self._db = StoreDB(directory, fsync=cfg.fsync, busy_timeout_ms=cfg.busy_timeout_ms)  # reads, under _lock
        self._wdb = StoreDB(directory, fsync=cfg.fsync, busy_timeout_ms=cfg.busy_timeout_ms)  # writer thread only
        self._runner = BlockingRunner("mem7-faiss")
        self._fx = _faiss()
        self._lock = threading.RLock()
        self._embedder: EmbeddingSpace | None = None
        self._seq = 0
        self._dv = -1
        self._next_label = 0
        self._own: list[tuple[int, int]] = []  # change-log ranges (after, to] of this process's writes
        self._feed: deque[tuple[int, StoreChange]] = deque(maxlen=_FEED_SIZE)
        self._feed_n = 0
        self._feed_reset = 0
        self._clear(cfg.dims)

    # ================================================================== cache
    def _clear(self, dims: int | None) -> None:
        self._dims: int | None = dims
        self._parts: dict[str | None, Any] = {}  # user_id -> faiss.IndexIDMap2
        self._members: dict[str | None, set[int]] = {}
        self._label: dict[str, int] = {}
        self._rows: dict[int, _Row] = {}
        self._by: dict[tuple[str, str], set[int]] = {}

    def _add(self, ids: list[str], mat: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        """Add rows whose ids the cache does not hold, grouped into their users' indexes."""
        assert self._dims is not None
        groups: dict[str | None, list[int]] = {}
        for i, p in enumerate(payloads):
            groups.setdefault(_str_or_none(p.get("user_id")), []).append(i)
        for user, idx in groups.items():
            labels = np.arange(self._next_label, self._next_label + len(idx), dtype=np.int64)
            self._next_label += len(idx)
            part = self._parts.get(user)
            if part is None:
                part = self._parts[user] = self._fx.IndexIDMap2(self._fx.IndexFlatIP(self._dims))
                self._members[user] = set()
            part.add_with_ids(np.ascontiguousarray(mat[idx]), labels)
            members = self._members[user]
            for label, i in zip(labels.tolist(), idx):
                p = payloads[i]
                subs = (_str_or_none(p.get("agent_id")), _str_or_none(p.get("run_id")))
                self._rows[label] = _Row(ids[i], p, user, subs)
                self._label[ids[i]] = label
                members.add(label)
                for key, value in zip(_SUB_KEYS, subs):
                    if value is not None:
                        self._by.setdefault((key, value), set()).add(label)

    def _remove(self, ids: list[str]) -> None:
        groups: dict[str | None, list[int]] = {}
        for id_ in ids:
            label = self._label.pop(id_, None)
            if label is None:
                continue
            row = self._rows.pop(label)
            groups.setdefault(row.user, []).append(label)
            for key, value in zip(_SUB_KEYS, row.subs):
                if value is not None:
                    holders = self._by[(key, value)]
                    holders.discard(label)
                    if not holders:
                        del self._by[(key, value)]
        for user, labels in groups.items():
            members = self._members[user]
            members.difference_update(labels)
            if members:
                self._parts[user].remove_ids(np.asarray(labels, dtype=np.int64))
            else:  # the user's last row: drop the index (its memory goes back at once)
                del self._parts[user], self._members[user]

    def _load(self, rows: Sequence[Row]) -> None:
        """Put these stored rows (ids the cache does not hold) into the cache."""
        if not rows:
            return
        if self._dims is None:
            self._dims = len(rows[0][1]) // 4
        self._add([r[0] for r in rows], vectors_of([r[1] for r in rows], self._dims), [json.loads(r[2]) for r in rows])

    def _reload(self) -> None:
        """Rebuild the whole cache from the database (first open, or too far behind its log)."""
        assert self._db.conn is not None
        self._dv = self._db.data_version()
        seq, dims_text, rows = self._db.load_all()
        dims = int(dims_text) if dims_text is not None else None
        cfg_dims = self.config.dims
        if dims is not None and cfg_dims is not None and dims != cfg_dims:
            raise ConfigError(
                f"vector_store faiss: dims (embedding_model_dims) is {cfg_dims} but collection "
                f"{self.config.collection_name!r} at {self.config.path} holds {dims}-dimensional vectors; "
                f"use dims: {dims}, or another path or collection_name"
            )
        was_empty = not self._rows
        self._clear(dims if dims is not None else cfg_dims)
        self._load([r[:3] for r in rows])
        self._seq = seq
        if was_empty and len(rows) <= _FEED_SIZE // 2:
            # From nothing (the first open): every row of another process is news.
            for r in rows:
                if not self._is_own(r[3]):
                    self._record(r[0], None, self._rows[self._label[r[0]]].payload)
        else:
            self._lose_feed()
        self._drop_own()

    def _sync(self) -> None:
        """Catch up with everything committed to the database since the last look. Under the lock."""
        db = self._db
        if db.conn is None:
            if db.connect(create=False):
                self._reload()
            return
        dv = db.data_version()
        if dv == self._dv:
            return
        self._dv = dv
        changes = db.changes_after(self._seq)
        if changes is None:
            self._reload()
        else:
            self._apply(changes)

    def _apply(self, changes: list[Change]) -> None:
        """Apply change-log entries: the last state of each id wins, applied in two batches
        (removals, then additions) so each user's index is edited once."""
        if not changes:
            return
        final: dict[str, Row | None] = {}
        foreign: dict[str, bool] = {}  # id -> whether its last change is another process's
        for seq, op, id_, vector, payload in changes:
            if op == RESET:
                self._clear(self.config.dims)
                final.clear()
                foreign.clear()
                self._lose_feed()
            elif op == DELETE:
                final[id_] = None
                foreign[id_] = not self._is_own(seq)
            elif op == PUT and vector is not None and payload is not None:  # else superseded later
                final.pop(id_, None)  # keep the order of the last write
                final[id_] = (id_, vector, payload)
                foreign[id_] = not self._is_own(seq)
            self._seq = seq
        old = {i: self._rows[self._label[i]].payload for i in final if i in self._label}
        self._remove(list(old))
        self._load([r for r in final.values() if r is not None])
        for id_, row in final.items():
            if foreign[id_] and (row is not None or id_ in old):
                self._record(id_, old.get(id_), None if row is None else self._rows[self._label[id_]].payload)
        self._drop_own()

    # ================================================================== change feed
    def _is_own(self, seq: int) -> bool:
        return any(after < seq <= to for after, to in self._own)

    def _drop_own(self) -> None:
        """Forget own ranges the cache has applied."""
        if self._own:
            self._own = [r for r in self._own if r[1] > self._seq]

    def _record(self, id_: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self._feed_n += 1
        self._feed.append(
            (self._feed_n, StoreChange(id_, None if old is None else _copy_payload(old),
                                       None if new is None else _copy_payload(new)))
        )

    def _lose_feed(self) -> None:
        """Changes cannot be listed past this point (a reset, a reload, a cancelled own write):
        :meth:`changes_since` tells readers to drop every cache built from the store."""
        self._feed_reset = self._feed_n + 1
        self._feed_n += 1
        self._feed.clear()

    async def changes_since(self, cursor: int | None) -> ChangeBatch:
        with self._lock:
            self._sync()
            now = self._feed_n
            if cursor is None or cursor == now:
                return ChangeBatch(cursor=now, changes=[])
            if cursor < self._feed_reset or (self._feed and self._feed[0][0] > cursor + 1) or cursor > now:
                return ChangeBatch(cursor=now, changes=None)
            return ChangeBatch(cursor=now, changes=[c for n, c in self._feed if n > cursor])

    # ================================================================== writes
    async def _write(self, plan: Callable[..., T], *args: Any) -> T:
        """Run ``plan(conn, *args)`` in one transaction on the writer thread (the lock wait and the
        fsync never block the event loop), then catch the cache up from the database. A cancelled
        caller leaves the job running to its end: committed or rolled back whole, cache following."""
        job = _Job()
        try:
            return await self._runner.run(self._write_job, job, plan, args)
        except asyncio.CancelledError:
            # The job runs on to its end: once it is applied, the engine will not update its own
            # caches for it, and it is not in the feed (own write): tell feed readers to rebuild.
            with self._lock:
                job.abandoned = True
                if job.applied:
                    self._lose_feed()
            raise

    def _write_job(self, job: _Job, plan: Callable[..., T], args: tuple[Any, ...]) -> T:
        db = self._wdb
        try:
            db.connect(create=True)
        except (OSError, sqlite3.Error) as exc:
            raise StorageConfigError(
                "vector_store:faiss",
                f"vector_store faiss: cannot open {db.file} ({exc}); "
                "set vector_store.config.path to a writable directory",
            ) from exc
        own: tuple[int, int] | None = None
        try:
            with db.transaction() as conn:
                # Holding the write lock: apply every other writer's change first, so the feed
                # reports them apart from this write (nobody can commit in between now).
                with self._lock:
                    self._sync()
                before = StoreDB.last_seq(conn)
                out = plan(conn, *args)
                after = StoreDB.last_seq(conn)
                StoreDB.maybe_prune(conn, before, after)
                if after > before:  # registered before COMMIT: whoever applies it knows it is ours
                    own = (before, after)
                    with self._lock:
                        self._own.append(own)
        except BaseException:
            if own is not None:
                with self._lock:
                    self._own.remove(own)  # rolled back: those seqs may be reused by another writer
            raise
        with self._lock:
            self._sync()
            job.applied = True
            if job.abandoned:
                self._lose_feed()
        return out

    def _check_dims(self, conn: sqlite3.Connection, dims: int) -> None:
        """Inside a write: the collection's dims are set by its first vectors and then enforced."""
        stored = self._db.meta("dims", conn)
        if stored is None:
            want = self.config.dims
            if want is not None and want != dims:
                raise ValueError(f"faiss: vector has {dims} dims, the collection is configured for {want}")
            StoreDB.set_meta(conn, "dims", str(dims))
        elif int(stored) != dims:
            raise ValueError(f"faiss: vector has {dims} dims, the collection has {stored}")
        if self._embedder is not None:
            text = json.dumps(self._embedder.to_json(), sort_keys=True)
            if self._db.meta("embedder", conn) != text:
                StoreDB.set_meta(conn, "embedder", text)

    def _plan_put(
        self, conn: sqlite3.Connection, ids: list[str], mat: np.ndarray, payloads: list[dict[str, Any]]
    ) -> None:
        self._check_dims(conn, int(mat.shape[1]))
        for id_, vec, payload in zip(ids, mat, payloads):
            StoreDB.put(conn, id_, _str_or_none(payload.get("user_id")), vector_bytes(vec), encode_payload(payload))

    def _plan_update(
        self, conn: sqlite3.Connection, id_: str, vec: np.ndarray | None, payload: dict[str, Any] | None
    ) -> None:
        row = StoreDB.row(conn, id_)
        if row is None:
            raise MemoryNotFoundError(id_)
        if vec is None and payload is None:
            return
        if vec is not None:
            self._check_dims(conn, len(vec))
        new_payload = payload if payload is not None else json.loads(row[1])
        blob = vector_bytes(vec) if vec is not None else row[0]
        StoreDB.put(conn, id_, _str_or_none(new_payload.get("user_id")), blob, encode_payload(new_payload))

    @staticmethod
    def _plan_delete(conn: sqlite3.Connection, ids: list[str]) -> None:
        for id_ in ids:
            StoreDB.delete(conn, id_)

    @staticmethod
    def _plan_rehearse(conn: sqlite3.Connection, ids: list[str], now: str) -> None:
        for id_ in ids:
            row = StoreDB.row(conn, id_)
            if row is None:
                continue  # deleted since the search
            payload = json.loads(row[1])
            payload["access_count"] = int(payload.get("access_count") or 0) + 1
            payload["last_accessed_at"] = now
            StoreDB.put(conn, id_, _str_or_none(payload.get("user_id")), row[0], encode_payload(payload))

    # ================================================================== helpers
    @staticmethod
    def _vectors(vectors: Sequence[Sequence[float]]) -> np.ndarray:
        """Validate and L2-normalise a batch of vectors."""
        try:
            mat = np.array(vectors, dtype=np.float32, order="C")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"faiss: vectors must be equal-length sequences of numbers ({exc})") from None
        if mat.ndim != 2 or mat.shape[1] == 0:
            raise ValueError(f"faiss: expected vectors of shape (n, dims), got {mat.shape}")
        if not np.isfinite(mat).all():
            raise ValueError("faiss: vectors must be finite (no NaN or inf)")
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        np.divide(mat, norms, out=mat, where=norms > 0)
        return mat

    def _targets(self, scope: Scope) -> list[_Target]:
        """The users' indexes a scope reads, each with its in-scope labels (``None``: all its rows)."""
        restrict: set[int] | None = None
        for key in _SUB_KEYS:
            value = getattr(scope, key)
            if value is not None:
                holders = self._by.get((key, value), set())
                restrict = holders if restrict is None else restrict & holders
        users = [scope.user_id] if scope.user_id is not None else list(self._parts)
        out: list[_Target] = []
        for user in users:
            part = self._parts.get(user)
            if part is None:
                continue
            if restrict is None:
                out.append((user, part, None, int(part.ntotal)))
                continue
            labels = [label for label in restrict if self._rows[label].user == user]
            if labels:
                out.append((user, part, np.asarray(sorted(labels), dtype=np.int64), len(labels)))
        return out

    def _knn(self, q: np.ndarray, targets: list[_Target], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best (scores, labels) of each query over ``targets``, best first (-1: none)."""
        scores, labels = [], []
        for _, part, sel, n in targets:
            params = selector = None
            if sel is not None:
                selector = self._fx.IDSelectorBatch(sel)  # kept referenced until the search is done
                params = self._fx.SearchParameters()
                params.sel = selector
            d, i = part.search(q, min(k, n), params=params)
            del selector
            scores.append(d)
            labels.append(i)
        if len(targets) == 1:
            return scores[0], labels[0]
        d, i = np.concatenate(scores, axis=1), np.concatenate(labels, axis=1)
        d = np.where(i < 0, -np.inf, d)
        order = np.argsort(-d, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)

    # ================================================================== interface
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        for r in records:
            if r.vector is None:
                raise ValueError(f"faiss: record {r.id!r} has no vector")
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"faiss: record ids must be non-empty strings, got {r.id!r}")
        mat = self._vectors([r.vector for r in records])  # type: ignore[misc]
        payloads = [json.loads(encode_payload(dict(r.payload))) for r in records]
        await self._write(self._plan_put, [r.id for r in records], mat, payloads)

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        vec = self._vectors([vector])[0] if vector is not None else None
        if payload is not None:
            encode_payload(payload)  # not JSON: refused before anything is written
        await self._write(self._plan_update, id, vec, None if payload is None else copy.deepcopy(payload))

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await self._write(self._plan_delete, list(dict.fromkeys(ids)))

    async def rehearse(self, ids: Sequence[str], now: str) -> None:
        """``access_count + 1`` and ``last_accessed_at`` in one transaction, read from the store
        of record under its write lock: never lost, never undoing another process's change."""
        if ids:
            await self._write(self._plan_rehearse, list(dict.fromkeys(ids)), now)

    async def reset(self) -> None:
        await self._write(StoreDB.reset)

    async def search(
        self, vector: Sequence[float], *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> list[ScoredRecord]:
        return (await self.search_many([vector], scope=scope, limit=limit, filters=filters))[0]

    async def search_many(
        self, vectors: Sequence[Sequence[float]], *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> list[list[ScoredRecord]]:
        """One hit list per query; the scope's indexes are searched once for all the queries."""
        if not len(vectors):
            return []
        with self._lock:
            self._sync()
            if limit <= 0 or self._dims is None or not self._rows:
                return [[] for _ in vectors]
            q = self._vectors(vectors)
            if q.shape[1] != self._dims:
                raise ValueError(f"faiss: query has {q.shape[1]} dims, the collection has {self._dims}")
            targets = self._targets(scope)
            total = sum(t[3] for t in targets)
            if not total:
                return [[] for _ in vectors]
            threads = self.config.omp_threads
            before = self._fx.omp_get_max_threads()
            if threads is not None and threads != before:
                self._fx.omp_set_num_threads(threads)
            try:
                return self._search(q, targets, total, limit, filters)
            finally:
                if threads is not None and threads != before:
                    self._fx.omp_set_num_threads(before)

    def _search(
        self, q: np.ndarray, targets: list[_Target], total: int, limit: int, filters: Filter | None
    ) -> list[list[ScoredRecord]]:
        """The hits of each query over ``targets`` (``total`` rows). Under the lock."""
        out: list[list[ScoredRecord]] = [[] for _ in q]
        # Without filters the top ``limit`` is the answer; with filters, best first, widening
        # ``k`` until ``limit`` pass or every row of the scope was seen.
        k = min(total, limit if filters is None else max(4 * limit, 64))
        pending = list(range(len(q)))
        while pending:
            d, i = self._knn(q[pending], targets, k)
            again = []
            for row, qi in enumerate(pending):
                hits: list[ScoredRecord] = []
                for score, label in zip(d[row].tolist(), i[row].tolist()):
                    if label < 0:
                        break
                    r = self._rows[label]
                    if filters is None or evaluate(filters, r.payload):
                        hits.append(ScoredRecord(r.id, score, _copy_payload(r.payload)))
                        if len(hits) == limit:
                            break
                if len(hits) == limit or k >= total:
                    out[qi] = hits
                else:
                    again.append(qi)
            pending = again
            k = min(total, 4 * k)
        return out

    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        with self._lock:
            self._sync()
            out = []
            for id_ in ids:
                label = self._label.get(id_)
                if label is not None:
                    r = self._rows[label]
                    vec = self._parts[r.user].reconstruct(label)
                    out.append(VectorRecord(id=id_, vector=vec.tolist(), payload=_copy_payload(r.payload)))
            return out

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        with self._lock:
            self._sync()
            rows = []
            for user, _, sel, _ in self._targets(scope):
                labels = self._members[user] if sel is None else sel.tolist()
                rows += [self._rows[label] for label in labels]
            if filters is not None:
                rows = [r for r in rows if evaluate(filters, r.payload)]
            rows.sort(key=lambda r: ("" if (c := r.payload.get("created_at")) is None else str(c), r.id))
            if limit is not None:
                rows = rows[: max(limit, 0)]
            return [VectorRecord(id=r.id, vector=None, payload=_copy_payload(r.payload)) for r in rows]

    async def count(self, *, scope: Scope) -> int:
        with self._lock:
            self._sync()
            return sum(t[3] for t in self._targets(scope))

    def record_embedder(self, space: EmbeddingSpace) -> None:
        """Kept in ``meta.embedder`` by the next write that stores vectors (in its transaction)."""
        with self._lock:
            self._embedder = space

    async def embedding_space(self) -> EmbeddingSpace | None:
        """The collection's dims with the embedder recorded beside them (reads only)."""
        with self._lock:
            self._sync()
            if self._dims is None:
                return None
            raw = self._db.meta("embedder") if self._db.conn is not None else None
        if raw is not None:
            try:
                space = EmbeddingSpace.from_json(json.loads(raw))
                if space.dims == self._dims:
                    return space
            except ValueError as exc:
                log.warning("faiss: ignoring an unreadable embedder record in %s (%s)", self._db.file, exc)
        return EmbeddingSpace(dims=self._dims)

    async def aclose(self) -> None:
        """Close the connections (reopened on the next use) after the writes already submitted.
        Nothing is written: every acknowledged write is already durable."""
        await self._runner.run(self._wdb.close)
        await self._runner.aclose()
        with self._lock:
            self._db.close()
            self._dv = -1

    # ================================================================== introspection
    def stats(self) -> dict[str, Any]:
        """Records, user indexes, dims and the last change applied (diagnostics and tests)."""
        with self._lock:
            self._sync()
            return {"records": len(self._rows), "indexes": len(self._parts), "dims": self._dims, "seq": self._seq}


__all__ = ["FaissVectorStore"]
