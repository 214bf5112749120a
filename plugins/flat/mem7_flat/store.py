"""FlatVectorStore: exact cosine search, one contiguous column-major matrix per ``user_id``.

Layout in memory:

- Rows are grouped into **segments**, one per ``user_id`` value (plus one for rows without a
  ``user_id``). A segment holds a ``(dims, capacity)`` float32 matrix whose columns are its rows'
  L2-normalised vectors, so a user-scoped search is one matrix-vector product over that user's own
  contiguous block: it never reads another tenant's rows, however many there are (the "10k in
  scope + 100k other users" case costs what 10k alone costs). Column-major because BLAS's
  ``q @ M[:, :n]`` (gemv, no transpose) runs ~2x faster than ``M[:n] @ q`` over row-major rows
  at 384 dims (measured in ``bench/flat``). Capacity doubles when full (amortised O(1) appends);
  a segment starts with the size of its first batch, so many small tenants do not each reserve a
  large block.
- Per segment, Python lists of ids and payloads aligned with the columns, an ``alive`` mask, and
  the ``agent_id`` / ``run_id`` of each column as integer codes, so narrower scopes are vectorised
  masks over the segment. ``_where`` maps an id to its (segment, column).
- A scope without ``user_id`` (agent or run only) reads the segments that ever held that agent /
  run (an index kept per value), never all of them.
- Deletes are tombstones; a segment is compacted on its own (O(its rows)) once its tombstones pass
  ``compaction_threshold`` of its rows, and dropped when it empties. A row never changes scope: an
  update that moves a record to another scope tombstones it and appends it to the other segment.
- Products run with numpy's BLAS on one thread (:mod:`._blas`): a pool of OpenBLAS workers would
  spin-wait on a core while the engine awaits I/O, for a product that takes well under a
  millisecond at 10k rows. ``blas_threads: null`` leaves the library's own setting.

Top-k is ``argpartition``; filters use :func:`mem7_core.filters.evaluate` itself on the scope's
candidates, visited best score first and stopping at ``limit`` hits, so semantics are the reference
ones by construction.

Persistence (``path`` set): the store of record is one SQLite database per collection, shared by
every process that opens the directory (:mod:`._db`); what this module holds in memory is a cache
of it that catches up before every operation. A directory of the earlier format (snapshot + log,
:mod:`._persist`) is migrated on first open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import AliasChoices, Field, field_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, StoreConflictError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import SCOPE_KEYS, Scope, ScoredRecord, VectorRecord
from mem7_core.providers import (
    ChangeBatch,
    EmbeddingSpace,
    HistoryStore,
    ProviderConfig,
    StoreChange,
    VectorStore,
    VectorStoreCapabilities,
    WriteBatch,
)
from mem7_core.providers.blocking import BlockingRunner

from ._blas import one_thread
from ._db import DELETE, PUT, RESET, StoreDB, encode_payload, legacy_files, move_legacy, vector_bytes, vector_of
from ._persist import Persistence, decode_vector, expand_path, path_errors

log = logging.getLogger("mem7.flat")

_FEED_SIZE = 10_000
"""Other writers' changes remembered for :meth:`FlatVectorStore.changes_since`; a reader further
behind is told to drop its caches."""
_MIN_TOMBSTONES = 32
"""Never compact a segment for fewer tombstones than this (unless it is all tombstones)."""
_SUB_KEYS = ("agent_id", "run_id")
"""The scope keys indexed inside a segment (``user_id`` picks the segment)."""


def _copy_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_value(x) for x in v]
    return v


_SCALARS = frozenset((str, int, float, bool, type(None)))
"""Immutable value types: a payload holding only these needs no more than a shallow copy."""


def _copy_payload(p: dict[str, Any]) -> dict[str, Any]:
    """Copy a payload deep enough that nobody outside can mutate what the store holds."""
    if _SCALARS.issuperset(map(type, p.values())):
        return p.copy()  # the engine's payloads (flat): one C-level check, ~2x cheaper per hit
    out = dict(p)
    for k, v in out.items():
        if isinstance(v, (dict, list)):
            out[k] = _copy_value(v)
    return out


def _scope_of(payload: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(v if isinstance(v := payload.get(k), str) else None for k in SCOPE_KEYS)


def _user_of(payload: dict[str, Any]) -> str | None:
    v = payload.get("user_id")
    return v if isinstance(v, str) else None


def _space_of(raw: str, where: str) -> EmbeddingSpace | None:
    """``meta.embedder`` read back (``None``, with a warning, when it is not what this writes)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"not a JSON object: {raw[:80]!r}")
        return EmbeddingSpace.from_json(data)
    except ValueError as exc:
        log.warning("flat: %s: ignoring an unreadable embedder record (%s)", where, exc)
        return None


def _order_key(row_payload: dict[str, Any], id_: str) -> tuple[str, str]:
    created = row_payload.get("created_at")
    return ("" if created is None else str(created), id_)


@dataclass(slots=True)
class _Write:
    """One write of this process on its way to the database (see :meth:`FlatVectorStore._write`).

    ``base < seq <= last``: the change-log entries it wrote (known once written, before COMMIT).
    ``applied``: the cache holds them (applied by the writer thread after COMMIT, or by a reader
    that saw them committed first). ``abandoned``: its awaiter was cancelled, so the engine will
    not update its own caches (keyword indexes) for it.
    """

    base: int = 0
    last: int = 0
    applied: bool = False
    abandoned: bool = False


class _Yield(Exception):
    """The writer thread could not take the store's lock in time inside its transaction."""


_LOCK_WAIT_S = 0.05

Plan = Callable[..., Callable[[], None]]
"""A write's first half, under the lock inside the transaction (``conn``; ``None`` in memory):
checks, rows to the database; returns its second half, the cache update made once it committed."""


class _Segment:
    """The rows of one ``user_id`` value: a column-major matrix and the columns' metadata."""

    __slots__ = ("alive", "codes", "dead", "ids", "mat", "n", "payloads", "user")

    def __init__(self, user: str | None, dims: int, capacity: int) -> None:
        cap = max(capacity, 1)
        self.user = user
        self.mat = np.zeros((dims, cap), dtype=np.float32)
        self.alive = np.zeros(cap, dtype=bool)
        self.codes = {k: np.full(cap, -1, dtype=np.int32) for k in _SUB_KEYS}
        self.ids: list[str | None] = []
        self.payloads: list[dict[str, Any] | None] = []
        self.n = 0
        self.dead = 0

    @property
    def capacity(self) -> int:
        return int(self.alive.shape[0])

    @property
    def live(self) -> int:
        return self.n - self.dead

    def reserve(self, extra: int) -> None:
        need = self.n + extra
        cap = self.capacity
        if need <= cap:
            return
        cap = max(cap * 2, need)
        n = self.n
        mat = np.zeros((self.mat.shape[0], cap), dtype=np.float32)
        mat[:, :n] = self.mat[:, :n]
        self.mat = mat
        alive = np.zeros(cap, dtype=bool)
        alive[:n] = self.alive[:n]
        self.alive = alive
        for key in _SUB_KEYS:
            codes = np.full(cap, -1, dtype=np.int32)
            codes[:n] = self.codes[key][:n]
            self.codes[key] = codes

    def live_cols(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n])


class FlatVectorStore(VectorStore):
    """Exact, in-process vector store: one numpy block per user, optional persistence."""

    name = "flat"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(persistent=True)

    class Config(ProviderConfig):
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
        """Name of the collection; with ``path``, its files live in ``path/<collection_name>/``."""
        path: str | None = None
        """Directory to persist to. ``None`` keeps everything in memory."""
        dims: int | None = Field(None, ge=1, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size; ``None`` takes it from the first insert."""
        compaction_threshold: float = Field(0.25, gt=0, le=1)
        """Compact a user's rows when its tombstones exceed this fraction of them."""
        snapshot_every: int = Field(10_000, ge=1)
        """Unused since the shared SQLite store (format 2); accepted so older configs still load."""
        initial_capacity: int = Field(1, ge=1)
        """Rows a new user's block is created with at least (it also fits the first batch); doubles
        when full. Small by default: a store with many small tenants reserves little per tenant."""
        fsync: bool = True
        """Every write is durable when the call returns (SQLite ``synchronous=FULL``). ``false``
        (``NORMAL``) survives a crash of the process but not of the machine: throwaway data only."""
        busy_timeout_ms: int = Field(30_000, ge=0)
        """How long a write waits for another process's write lock before failing."""
        read_only_ok: bool = False
        """A ``path`` this process cannot write is opened for reading (a write then fails with a
        ``StorageError`` naming it) instead of refused at startup. For processes that only read:
        ``mem7 list``, ``search``, ``get``, ``history`` and ``export`` set it, so they read a data
        dir they may not write (a backup, another user's)."""
        blas_one_thread: bool = True
        """Score with numpy's BLAS (OpenBLAS) on one thread, restoring its setting afterwards: its
        worker threads would otherwise spin on a core while the engine awaits I/O. ``false`` keeps
        the library's thread count (faster for one huge scope searched in a tight loop)."""

        _expand = field_validator("path")(expand_path)

    config: Config

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        """With a path the SQLite database is shared by every process that opens it; without one
        each process has its own memories."""
        if getattr(config, "path", None):
            return None
        return "the flat vector store has no path (memories kept in each process's memory)"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        # Instance-level: persistent only when a path is configured.
        shared = cfg.path is not None
        self.capabilities = VectorStoreCapabilities(  # type: ignore[misc]
            persistent=shared, change_feed=shared, atomic_history=shared
        )
        self._lock = threading.RLock()
        self._last_scanned = 0
        self._seq = 0  # the last change of the database applied to the cache
        self._dv = -1  # PRAGMA data_version when last looked
        self._feed: deque[tuple[int, StoreChange]] = deque(maxlen=_FEED_SIZE)
        self._feed_n = 0
        self._feed_reset = 0
        self._embedder: EmbeddingSpace | None = None  # record_embedder's: stamped by the next put
        self._clear(cfg.dims)
        # With a path, two connections to the database: ``_db`` for the read paths (the cheap
        # ``PRAGMA data_version`` check and catch-up, inline on the caller's thread, under
        # ``_lock``; the history shares it), and ``_wdb`` for the writes, used only on the
        # store's own writer thread (``_runner``): BEGIN IMMEDIATE (which may wait for another
        # process's write lock) and COMMIT (an fsync) never run on the event loop.
        self._db: StoreDB | None = None
        self._wdb: StoreDB | None = None
        self._runner: BlockingRunner | None = None
        self._inflight: _Write | None = None
        if cfg.path is not None:
            directory = Path(cfg.path) / cfg.collection_name
            self._db = StoreDB(directory, fsync=cfg.fsync, busy_timeout_ms=cfg.busy_timeout_ms)
            self._wdb = StoreDB(directory, fsync=cfg.fsync, busy_timeout_ms=cfg.busy_timeout_ms)
            self._runner = BlockingRunner("mem7-flat")
            with path_errors("vector_store", cfg.path, "memories"):
                if directory.exists() and not directory.is_dir():
                    raise NotADirectoryError(20, "Not a directory", str(directory))
                if not directory.exists():  # check now that it could be created, create it on first write
                    parent = next(p for p in directory.parents if p.exists())
                    if not parent.is_dir():
                        raise NotADirectoryError(20, "Not a directory", str(parent))
                    if not cfg.read_only_ok and not os.access(parent, os.W_OK | os.X_OK):  # (a reader finds nothing)
                        raise PermissionError(13, "Permission denied", str(parent))
                else:  # a read-only data dir is refused now, not by the first write (issue 16)
                    for target in (directory, self._db.file):
                        if target.exists() and not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
                            if not cfg.read_only_ok:
                                raise PermissionError(13, "Read-only (not writable)", str(target))
                            self._db.read_only = self._wdb.read_only = True
                with self._lock:
                    self._open_db(create=False)

    # ================================================================== state
    def _clear(self, dims: int | None) -> None:
        self._dims: int | None = dims
        self._stamped: EmbeddingSpace | None = None
        """Without a path: the embedder recorded with the vectors (with one: ``meta.embedder``)."""
        self._segs: dict[str | None, _Segment] = {}
        self._where: dict[str, tuple[_Segment, int]] = {}
        self._code_of: dict[str, dict[str, int]] = {k: {} for k in _SUB_KEYS}
        # agent / run code -> users whose segment ever held it (a superset; checked by mask).
        self._segs_with: dict[str, dict[int, set[str | None]]] = {k: {} for k in _SUB_KEYS}
        self._dead = 0
        self._touched: set[_Segment] = set()

    def _segment(self, user: str | None, room: int) -> _Segment:
        seg = self._segs.get(user)
        if seg is None:
            assert self._dims is not None
            seg = self._segs[user] = _Segment(user, self._dims, max(room, self.config.initial_capacity))
        else:
            seg.reserve(room)
        return seg

    def _index_col(self, seg: _Segment, col: int, id_: str, payload: dict[str, Any]) -> None:
        for key in _SUB_KEYS:
            value = payload.get(key)
            if isinstance(value, str):
                code_of = self._code_of[key]
                code = code_of.get(value)
                if code is None:
                    code = code_of[value] = len(code_of)
                seg.codes[key][col] = code
                users = self._segs_with[key].get(code)
                if users is None:
                    self._segs_with[key][code] = {seg.user}
                elif seg.user not in users:
                    users.add(seg.user)
        self._where[id_] = (seg, col)

    def _append_rows(self, ids: Sequence[str], matrix: np.ndarray, payloads: Sequence[dict[str, Any]]) -> None:
        """Append new records (ids not stored yet, distinct), grouped into their users' blocks."""
        groups: dict[str | None, list[int]] = {}
        for i, p in enumerate(payloads):
            groups.setdefault(_user_of(p), []).append(i)
        for user, idx in groups.items():
            k = len(idx)
            seg = self._segment(user, k)
            n = seg.n
            if k == 1:
                seg.mat[:, n] = matrix[idx[0]]
            else:
                seg.mat[:, n : n + k] = matrix[idx].T
            seg.alive[n : n + k] = True
            for j, i in enumerate(idx):
                self._index_col(seg, n + j, ids[i], payloads[i])
                seg.ids.append(ids[i])
                seg.payloads.append(payloads[i])
            seg.n = n + k

    def _kill(self, seg: _Segment, col: int) -> None:
        seg.alive[col] = False
        seg.ids[col] = None
        seg.payloads[col] = None
        for key in _SUB_KEYS:
            seg.codes[key][col] = -1
        seg.dead += 1
        self._dead += 1
        self._touched.add(seg)

    def _maybe_compact(self) -> None:
        """After a write: drop emptied blocks, compact the ones past the tombstone threshold.

        Deferred to the end of the call so columns stay put while one call kills several rows.
        """
        touched, self._touched = self._touched, set()
        for seg in touched:
            if self._segs.get(seg.user) is not seg:
                continue
            if seg.dead == seg.n:
                self._drop(seg)
            elif seg.dead >= _MIN_TOMBSTONES and seg.dead > self.config.compaction_threshold * seg.n:
                self._compact_segment(seg)

    def _drop(self, seg: _Segment) -> None:
        """Forget an all-tombstone segment (its memory goes back at once)."""
        if self._segs.get(seg.user) is seg:
            del self._segs[seg.user]
        self._dead -= seg.dead

    def _compact_segment(self, seg: _Segment) -> None:
        """Rebuild one user's block without its tombstones (O(its rows); other users untouched)."""
        keep = seg.live_cols()
        k = len(keep)
        if not k:
            self._drop(seg)
            return
        new = _Segment(seg.user, seg.mat.shape[0], max(k, self.config.initial_capacity))
        new.mat[:, :k] = np.compress(seg.alive[: seg.n], seg.mat[:, : seg.n], axis=1)
        new.alive[:k] = True
        for key in _SUB_KEYS:
            new.codes[key][:k] = seg.codes[key][keep]
        rows = keep.tolist()
        new.ids = [seg.ids[r] for r in rows]
        new.payloads = [seg.payloads[r] for r in rows]
        new.n = k
        for col, id_ in enumerate(new.ids):
            self._where[id_] = (new, col)  # type: ignore[index]
        self._segs[seg.user] = new
        self._dead -= seg.dead

    def _compact(self) -> None:
        """Compact every segment that has tombstones (snapshots write live rows only)."""
        for seg in [s for s in self._segs.values() if s.dead]:
            self._compact_segment(seg)

    def _apply_put(self, id_: str, vec: np.ndarray | None, payload: dict[str, Any] | None) -> None:
        """Upsert (both given) or partial update (one given) of one record, already validated."""
        where = self._where.get(id_)
        if where is None:
            if vec is None or payload is None:  # only reachable from a damaged log
                return
            self._append_rows([id_], vec[None, :], [payload])
            return
        seg, col = where
        old = seg.payloads[col]
        assert old is not None
        new_payload = payload if payload is not None else old
        if _scope_of(new_payload) == _scope_of(old):
            if vec is not None:
                seg.mat[:, col] = vec
            seg.payloads[col] = new_payload
            return
        # The record moves to another scope: rows never change scope, so relocate it.
        new_vec = vec if vec is not None else seg.mat[:, col].copy()
        del self._where[id_]
        self._kill(seg, col)
        self._append_rows([id_], new_vec[None, :], [new_payload])

    def _apply_delete(self, ids: Sequence[str]) -> None:
        for id_ in ids:
            where = self._where.pop(id_, None)
            if where is not None:
                self._kill(*where)

    def _load_rows(self, ids: list[str], matrix: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        """Replace the whole state by these live rows (snapshot load)."""
        self._clear(self._dims)
        if ids:
            self._append_rows(ids, matrix, payloads)

    # ================================================================== persistence
    def _open_db(self, *, create: bool) -> bool:
        """Open the database of record if it exists (or create it, for a write); load it whole the
        first time. Migrates a directory of the format-1 log once. False: nothing stored yet."""
        db = self._db
        assert db is not None
        if db.conn is not None:
            return True
        with path_errors("vector_store", self.config.path or "", "memories", writing=create):
            if not db.exists() and legacy_files(db.dir):
                self._migrate_format1()
            if not db.connect(create=create):
                return False
        self._reload()
        return True

    def _migrate_format1(self) -> None:
        """Copy a format-1 collection (snapshot + JSON-lines log, written by mem7-flat before the
        shared store) into the database, in one transaction, then move its files aside."""
        db = self._db
        assert db is not None
        legacy = Persistence(db.dir, fsync=self.config.fsync)
        loaded = legacy.load()
        tmp = FlatVectorStore(
            self.Config.model_validate(
                {"dims": self.config.dims, "compaction_threshold": self.config.compaction_threshold}
            )
        )
        tmp._dims = loaded.dims
        if loaded.ids:
            assert loaded.matrix is not None
            tmp._load_rows(loaded.ids, loaded.matrix, loaded.payloads)
        for record in loaded.records:
            try:
                tmp._replay(record)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("flat: skipping a malformed log record in %s (%s)", db.dir, exc)
        ids, matrix, payloads = tmp._live_rows()
        db.connect(create=True)
        with db.transaction() as conn:
            if db.meta("migrated_format1") is None:  # another process may have done it meanwhile
                for id_, row, payload in zip(ids, matrix, payloads):
                    seq = db.log_change(conn, id_, PUT)
                    db.put_row(conn, id_, _user_of(payload), seq, vector_bytes(row), encode_payload(payload))
                if tmp._dims is not None:
                    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('dims', ?)", (str(tmp._dims),))
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated_format1', ?)", (str(len(ids)),)
                )
                log.warning("flat: migrated %d memories of %s to the shared store %s", len(ids), db.dir, db.file)
        move_legacy(db.dir)
        db.close()

    def _check_dims(self, dims: int | None) -> None:
        cfg_dims = self.config.dims
        if dims is not None and cfg_dims is not None and dims != cfg_dims:
            raise ConfigError(
                f"flat: dims (embedding_model_dims) is {cfg_dims} but collection {self.config.collection_name!r} "
                f"at {self.config.path} holds {dims}-dimensional vectors; use dims: {dims}, or another path "
                "or collection_name"
            )

    def _stamp(self, conn: sqlite3.Connection) -> None:
        """Inside a write transaction that puts vectors: record :meth:`record_embedder`'s embedder
        in ``meta.embedder`` unless it is there already (one key lookup in the same transaction,
        so a rolled-back write leaves nothing behind and the next write stamps it)."""
        if self._embedder is None:
            return
        text = json.dumps(self._embedder.to_json(), sort_keys=True)
        row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        if row is None or row[0] != text:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('embedder', ?)", (text,))

    def _where_text(self) -> str:
        return f"flat collection {self.config.collection_name!r} at {self.config.path}"

    def record_embedder(self, space: EmbeddingSpace) -> None:
        """Kept in ``meta.embedder`` of the database by the next write that stores vectors (in its
        transaction), never by a read; in memory, beside the vectors."""
        with self._lock:
            self._embedder = space

    async def embedding_space(self) -> EmbeddingSpace | None:
        """The collection's dims (``meta.dims``, else the first vector's, else ``config.dims``),
        with the embedder recorded in ``meta.embedder`` when there is one. Reads only: a database
        not created yet stays absent."""
        with self._lock:
            self._sync()
            dims = self._dims
            stamped = self._stamped
            db = self._db
            if db is not None:
                stamped = None
                if db.conn is not None:
                    raw = db.meta("embedder")
                    stamped = _space_of(raw, self._where_text()) if raw is not None else None
        if dims is None:
            return None
        if stamped is not None and stamped.dims == dims:
            return stamped
        return EmbeddingSpace(dims=dims)

    def _reload(self, db: StoreDB | None = None) -> None:
        """Replace the cache by the whole database (first open, after a reset, or too far behind);
        read through ``db`` (default: the read connection)."""
        db = db or self._db
        assert db is not None and db.conn is not None
        if db is self._db:
            self._dv = db.data_version()
        seq, dims_text, rows = db.load_all()
        dims = int(dims_text) if dims_text is not None else None
        self._check_dims(dims)
        was_empty = not self._where
        self._clear(dims if dims is not None else self.config.dims)
        payloads = [json.loads(r[2]) for r in rows]
        if rows:
            self._append_rows([r[0] for r in rows], np.stack([vector_of(r[1]) for r in rows]), payloads)
        self._seq = seq
        if self._inflight is not None and seq >= self._inflight.last:
            self._own_applied(self._inflight)
        if was_empty and len(rows) <= _FEED_SIZE // 2:
            # From nothing (the first open): every row is news to a cache built while empty.
            for r, p in zip(rows, payloads):
                self._record(r[0], None, p)
        else:
            self._feed_reset = self._feed_n + 1  # changes_since before this point: drop every cache
            self._feed_n += 1
            self._feed.clear()

    def _sync(self) -> None:
        """Catch up with what other processes committed (the cheap check first). Under the lock."""
        db = self._db
        if db is None:
            return
        if db.conn is None:
            self._open_db(create=False)
            return
        dv = db.data_version()
        if dv != self._dv:
            self._dv = dv
            self._catch_up(db)

    def _catch_up(self, db: StoreDB) -> None:
        """Apply the change log after the last ``seq`` seen, read through ``db``: the read
        connection (reads), or the write connection inside its transaction (writes). Under the lock.

        A change of this process's own write in flight (committed, its cache update not made yet:
        ``_inflight``) is applied here like the others but not fed to :meth:`changes_since` (the
        engine updates its caches for its own writes), and the write then leaves the cache alone.
        """
        changes, whole = db.changes_after(self._seq)
        if not whole:
            self._reload(db)
            return
        own = self._inflight
        for ch in changes:
            mine = own is not None and own.base < ch.seq <= own.last
            if ch.op == PUT:
                if ch.payload is None:  # superseded by a later change in this batch
                    self._seq = ch.seq
                    continue
                payload = json.loads(ch.payload)
                vec = vector_of(ch.vector)  # type: ignore[arg-type]
                if self._dims is None:
                    self._dims = len(vec)
                old = self._payload_of(ch.id)
                self._apply_put(ch.id, vec, payload)
                if not mine:
                    self._record(ch.id, old, payload)
            elif ch.op == DELETE:
                old = self._payload_of(ch.id)
                if old is not None:
                    self._apply_delete([ch.id])
                    if not mine:
                        self._record(ch.id, old, None)
            else:  # RESET
                self._clear(self.config.dims)
                self._feed_reset = self._feed_n + 1
                self._feed_n += 1
                self._feed.clear()
            self._seq = ch.seq
        if changes:
            self._seq = max(self._seq, changes[-1].seq)
            self._maybe_compact()
        if own is not None and own.last and self._seq >= own.last:
            self._own_applied(own)

    def _payload_of(self, id_: str) -> dict[str, Any] | None:
        where = self._where.get(id_)
        return None if where is None else where[0].payloads[where[1]]

    def _record(self, id_: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Remember another writer's change for :meth:`changes_since` (bounded)."""
        self._feed_n += 1
        self._feed.append((self._feed_n, StoreChange(id_, old, new)))

    def _own_applied(self, w: _Write) -> None:
        """``w``'s changes are in the cache. Under the lock."""
        w.applied = True
        if w.abandoned:
            self._feed_lost()

    def _feed_lost(self) -> None:
        """A write of this process landed but its caller was cancelled before it could update the
        engine's caches (keyword indexes): tell :meth:`changes_since` readers to drop them."""
        self._feed_reset = self._feed_n + 1
        self._feed_n += 1
        self._feed.clear()

    async def _write(self, plan: Plan, *args: Any) -> None:
        """Run one write: ``plan(conn, *args)`` under the lock (checks, rows to the database), then
        its cache update once committed.

        In memory (no path): inline, nothing blocks. With a path: the whole transaction runs on the
        store's writer thread (:meth:`_write_job`): ``BEGIN IMMEDIATE`` may wait for another
        process's write lock and ``COMMIT`` fsyncs (~1-5 ms), either of which would stall the
        event loop; the lock is held only for the in-memory steps, never across a lock wait or an
        fsync, so searches go on meanwhile (they see the store as it was before this write until
        it is committed and applied). A cancelled caller gets ``CancelledError`` while the job
        finishes in its thread (the transaction commits or rolls back whole, the cache follows).
        """
        if self._runner is None:
            with self._lock:
                plan(None, *args)()
            return
        w = _Write()
        try:
            await self._runner.run(self._write_job, w, plan, args)
        except asyncio.CancelledError:
            with self._lock:
                w.abandoned = True
                if w.applied:
                    self._feed_lost()
            raise

    def _write_job(self, w: _Write, plan: Plan, args: tuple[Any, ...]) -> None:
        """On the writer thread: one transaction on the write connection (see :meth:`_write`)."""
        db = self._wdb
        assert db is not None
        with self._lock:
            self._open_db(create=True)  # the read side (cache loaded; creates the file on a first write)
        with path_errors("vector_store", self.config.path or "", "memories", writing=True):
            db.connect(create=True)
        try:
            while True:
                try:
                    with db.transaction() as conn:  # BEGIN IMMEDIATE: may wait for another process
                        # Holding SQLite's write lock, wait for the store's lock only briefly: whoever
                        # holds it may be waiting for the write lock in turn (the history's own
                        # writes take it on the read connection under the store's lock). Then
                        # roll back, let them pass, and start again.
                        if not self._lock.acquire(timeout=_LOCK_WAIT_S):
                            raise _Yield
                        try:
                            self._catch_up(db)  # every other process's write, under the write lock
                            w.base = self._last_written = self._seq
                            finish = plan(conn, *args)
                            w.last = self._last_written
                            if w.last > w.base:
                                self._inflight = w
                        finally:
                            self._lock.release()
                        # COMMIT (the fsync) here, without the lock
                    break
                except _Yield:
                    time.sleep(_LOCK_WAIT_S)
            with self._lock:
                if not w.applied:
                    finish()
                    self._own_applied(w)
        finally:
            if self._inflight is w:
                with self._lock:
                    self._inflight = None

    def _put_rows(self, conn: sqlite3.Connection, rows: Sequence[tuple[str, np.ndarray, dict[str, Any]]]) -> int:
        """Write upserts to the database inside a transaction; returns the last seq."""
        db = self._db
        assert db is not None
        seq = self._seq
        for id_, vec, payload in rows:
            seq = db.log_change(conn, id_, PUT)
            db.put_row(conn, id_, _user_of(payload), seq, vector_bytes(vec), encode_payload(payload))
        return seq

    def _del_rows(self, conn: sqlite3.Connection, ids: Sequence[str]) -> int:
        db = self._db
        assert db is not None
        seq = self._seq
        for id_ in ids:
            seq = db.log_change(conn, id_, DELETE)
            conn.execute("DELETE FROM memories WHERE id = ?", (id_,))
        return seq

    def _replay(self, record: dict[str, Any]) -> None:
        """Apply one format-1 log record (migration only)."""
        if "put" in record:
            for id_, vtext, payload in record["put"]:
                vec = None
                if vtext is not None:
                    vec = decode_vector(vtext)
                    if self._dims is None:
                        self._dims = len(vec)
                    if len(vec) != self._dims:
                        continue
                self._apply_put(id_, vec, payload)
        elif "del" in record:
            self._apply_delete(record["del"])

    def _live_rows(self) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """Every live record as (ids, row-major matrix, payloads), users' blocks one after another."""
        self._compact()
        segs = list(self._segs.values())
        ids = [i for s in segs for i in s.ids]
        payloads = [p for s in segs for p in s.payloads]
        dims = self._dims or 0
        if not segs:
            return [], np.zeros((0, dims), dtype=np.float32), []
        matrix = np.concatenate([s.mat[:, : s.n].T for s in segs], axis=0)
        return ids, matrix, payloads  # type: ignore[return-value]

    # ================================================================== helpers
    def _vectors(self, vectors: Sequence[Sequence[float]]) -> np.ndarray:
        """Validate and L2-normalise a batch of vectors (sets dims on the first insert)."""
        try:
            mat = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"flat: vectors must be equal-length sequences of numbers ({exc})") from None
        if mat.ndim != 2 or mat.shape[1] == 0:
            raise ValueError(f"flat: expected vectors of shape (n, dims), got {mat.shape}")
        if self._dims is not None and mat.shape[1] != self._dims:
            raise ValueError(f"flat: vector has {mat.shape[1]} dims, the collection has {self._dims}")
        if not np.isfinite(mat).all():
            raise ValueError("flat: vectors must be finite (no NaN or inf)")
        if not mat.flags.writeable or not mat.flags.c_contiguous:
            mat = np.array(mat, dtype=np.float32, order="C")
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        np.divide(mat, norms, out=mat, where=norms > 0)
        return mat

    def _query(self, vector: Sequence[float]) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if len(q) != self._dims:
            raise ValueError(f"flat: query has {len(q)} dims, the collection has {self._dims}")
        norm = float(np.linalg.norm(q))
        return q / norm if norm > 0 else q

    def _parts(self, scope: Scope) -> list[tuple[_Segment, np.ndarray | None]]:
        """The blocks a scope reads, each with its in-scope columns (``None``: all ``n`` columns).

        A ``user_id`` picks one block; agent / run narrow it by a vectorised mask. Without a
        ``user_id`` only the blocks that ever held the agent / run are read.
        """
        codes: list[tuple[str, int]] = []
        for key in _SUB_KEYS:
            value = getattr(scope, key)
            if value is not None:
                code = self._code_of[key].get(value)
                if code is None:
                    return []
                codes.append((key, code))
        if scope.user_id is not None:
            seg = self._segs.get(scope.user_id)
            segs = [] if seg is None else [seg]
        elif codes:
            key0, code0 = min(codes, key=lambda kc: len(self._segs_with[kc[0]].get(kc[1], ())))
            users = sorted(self._segs_with[key0].get(code0, ()), key=lambda u: (u is not None, u or ""))
            segs = [s for u in users if (s := self._segs.get(u)) is not None]
        else:
            segs = sorted(self._segs.values(), key=lambda s: (s.user is not None, s.user or ""))
        out: list[tuple[_Segment, np.ndarray | None]] = []
        for seg in segs:
            n = seg.n
            if not codes and not seg.dead:
                out.append((seg, None))
                continue
            mask = seg.alive[:n].copy()
            for key, code in codes:
                mask &= seg.codes[key][:n] == code
            cols = np.flatnonzero(mask)
            if len(cols):
                out.append((seg, cols))
        return out

    def _refs(self, scope: Scope) -> Iterator[tuple[_Segment, int]]:
        for seg, cols in self._parts(scope):
            yield from ((seg, c) for c in (range(seg.n) if cols is None else cols.tolist()))

    def _scores(self, seg: _Segment, cols: np.ndarray | None, q: np.ndarray) -> np.ndarray:
        """Cosine of ``q`` (one query, or a ``(queries, dims)`` stack) with the block's columns
        ``cols`` (all when None): one product over the block's contiguous columns, then the
        in-scope ones picked (a column gather costs far more than computing the few out-of-scope
        columns of the same user)."""
        full = q @ seg.mat[:, : seg.n]
        return full if cols is None else full[..., cols]

    # ================================================================== interface
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        for r in records:
            if r.vector is None:
                raise ValueError(f"flat: record {r.id!r} has no vector")
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"flat: record ids must be non-empty strings, got {r.id!r}")
        await self._write(self._plan_insert, records)

    def _plan_insert(self, conn: sqlite3.Connection | None, records: Sequence[VectorRecord]) -> Callable[[], None]:
        mat = self._vectors([r.vector for r in records])  # type: ignore[misc]
        rows = [(r.id, v, _copy_payload(r.payload)) for r, v in zip(records, mat)]
        dims = int(mat.shape[1])
        seq = self._write_rows(conn, rows, (), dims)
        return lambda: self._cache_puts(rows, seq, dims)

    def _write_rows(
        self,
        conn: sqlite3.Connection | None,
        puts: Sequence[tuple[str, np.ndarray, dict[str, Any]]],
        deletes: Sequence[str],
        dims: int | None,
    ) -> int:
        """Inside a write transaction (``conn``; ``None`` in memory): upserts and deletes to the
        database; returns the seq of the last change (the cache is updated after the commit)."""
        if conn is None or self._db is None:
            if puts and self._embedder is not None:
                self._stamped = self._embedder
            return self._seq
        seq = self._seq
        if dims is not None and self._dims is None:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('dims', ?)", (str(dims),))
        if puts:
            self._stamp(conn)
        if puts:
            seq = self._put_rows(conn, puts)
        if deletes:
            seq = self._del_rows(conn, deletes)
        if seq > self._seq:
            self._db.maybe_prune(conn, self._seq, seq)
        self._last_written = seq
        return seq

    def _cache_puts(self, rows: Sequence[tuple[str, np.ndarray, dict[str, Any]]], seq: int, dims: int | None) -> None:
        """After a commit: upsert these rows into the cache (new ids in bulk; stored ids and repeats
        inside the batch in order, so the last occurrence wins)."""
        if dims is not None and self._dims is None:
            self._dims = dims
        self._seq = max(self._seq, seq)
        fresh: list[int] = []
        seen: set[str] = set()
        later: list[int] = []
        for i, (id_, _, _) in enumerate(rows):
            if id_ in self._where or id_ in seen:
                later.append(i)
            else:
                seen.add(id_)
                fresh.append(i)
        if fresh:
            self._append_rows(
                [rows[i][0] for i in fresh],
                np.stack([rows[i][1] for i in fresh]) if len(fresh) > 1 else rows[fresh[0]][1][None, :],
                [rows[i][2] for i in fresh],
            )
        for i in later:
            self._apply_put(rows[i][0], rows[i][1], rows[i][2])
        self._maybe_compact()

    async def search(
        self,
        vector: Sequence[float],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[ScoredRecord]:
        return (await self.search_many([vector], scope=scope, limit=limit, filters=filters))[0]

    async def search_many(
        self,
        vectors: Sequence[Sequence[float]],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[list[ScoredRecord]]:
        """One hit list per query vector. The scope's block is read once for all of them: one
        matrix-matrix product (the add path asks for every fact's candidates at once)."""
        if not len(vectors):
            return []
        with self._lock:
            self._sync()
            if limit <= 0 or self._dims is None or not self._where:
                return [[] for _ in vectors]
            q = np.stack([self._query(v) for v in vectors])  # (queries, dims)
            parts = self._parts(scope)
            sizes = [seg.n if cols is None else len(cols) for seg, cols in parts]
            total = sum(sizes)
            self._last_scanned = total
            if not total:
                return [[] for _ in vectors]
            with one_thread(self.config.blas_one_thread):
                chunks = [self._scores(seg, cols, q if len(q) > 1 else q[0]) for seg, cols in parts]
            if len(q) == 1:
                chunks = [c[None, :] for c in chunks]
            scores = chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=1)
            return [self._hits(row, parts, sizes, total, limit, filters) for row in scores]

    def _hits(
        self,
        scores: np.ndarray,
        parts: list[tuple[_Segment, np.ndarray | None]],
        sizes: list[int],
        total: int,
        limit: int,
        filters: Filter | None,
    ) -> list[ScoredRecord]:
        """The best ``limit`` records of one query's ``scores`` over ``parts`` passing ``filters``."""
        if len(parts) == 1 and filters is None:
            # The common case (one user's block, no filter): columns and scores of the top-k are
            # gathered by numpy in one go, and the hits built in one comprehension (no per-hit
            # index arithmetic in Python).
            seg0, cols0 = parts[0]
            top = self._top(scores, min(limit, total))
            cols_l = (top if cols0 is None else cols0[top]).tolist()
            ids, pls = seg0.ids, seg0.payloads
            return [
                ScoredRecord(ids[c], s, _copy_payload(pls[c]))
                for c, s in zip(cols_l, scores[top].tolist())
            ]
        if len(parts) == 1:
            seg0, cols0 = parts[0]

            def ref(i: int) -> tuple[_Segment, int]:
                return seg0, (i if cols0 is None else int(cols0[i]))
        else:
            bounds = np.cumsum(sizes)

            def ref(i: int) -> tuple[_Segment, int]:
                p = int(np.searchsorted(bounds, i, side="right"))
                seg, cols = parts[p]
                j = i - (int(bounds[p - 1]) if p else 0)
                return seg, (j if cols is None else int(cols[j]))

        picked: list[int] = []
        if filters is None:
            picked = self._top(scores, min(limit, total)).tolist()
        else:
            # Best first, widening the window until ``limit`` pass or every candidate was seen.
            k = min(total, max(4 * limit, 64))
            checked = 0
            while True:
                order = self._top(scores, k).tolist()
                for i in order[checked:]:
                    seg, col = ref(i)
                    if evaluate(filters, seg.payloads[col]):  # type: ignore[arg-type]
                        picked.append(i)
                        if len(picked) == limit:
                            break
                checked = len(order)
                if len(picked) == limit or k == total:
                    break
                k = min(total, 4 * k)
        picked_scores = scores[picked].tolist() if picked else []
        out = []
        for i, score in zip(picked, picked_scores):
            seg, col = ref(i)
            out.append(
                ScoredRecord(
                    id=seg.ids[col],  # type: ignore[arg-type]
                    score=score,
                    payload=_copy_payload(seg.payloads[col]),  # type: ignore[arg-type]
                )
            )
        return out

    @staticmethod
    def _top(scores: np.ndarray, k: int) -> np.ndarray:
        """Indices of the ``k`` best scores, best first (ties: lower index first)."""
        n = len(scores)
        if k < n:
            top = np.argpartition(scores, n - k)[n - k :]
            return top[np.lexsort((top, -scores[top]))]
        return np.argsort(-scores, kind="stable")

    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        with self._lock:
            self._sync()
            out = []
            for id_ in ids:
                where = self._where.get(id_)
                if where is not None:
                    seg, col = where
                    out.append(
                        VectorRecord(
                            id=id_,
                            vector=seg.mat[:, col].tolist(),
                            payload=_copy_payload(seg.payloads[col]),  # type: ignore[arg-type]
                        )
                    )
            return out

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        await self.commit(WriteBatch(updates=[VectorRecord(id=id, vector=vector, payload=payload)]))  # type: ignore[arg-type]

    async def delete(self, ids: Sequence[str]) -> None:
        await self.commit(WriteBatch(deletes=list(ids)))

    async def commit(self, batch: WriteBatch) -> None:
        """Upserts, updates, deletes and history events in one transaction (in memory: applied in
        order, events ignored). An update of a missing id raises before anything is written."""
        for r in batch.inserts:
            if r.vector is None:
                raise ValueError(f"flat: record {r.id!r} has no vector")
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"flat: record ids must be non-empty strings, got {r.id!r}")
        await self._write(self._plan_commit, batch)

    def _plan_commit(self, conn: sqlite3.Connection | None, batch: WriteBatch) -> Callable[[], None]:
        stale = [i for i, want in batch.expected.items() if not self._is_as_read(i, want)]
        if stale:
            raise StoreConflictError(stale)
        puts: list[tuple[str, np.ndarray, dict[str, Any]]] = []
        dims: int | None = None
        if batch.inserts:
            mat = self._vectors([r.vector for r in batch.inserts])  # type: ignore[misc]
            dims = int(mat.shape[1])
            puts += [(r.id, v, _copy_payload(r.payload)) for r, v in zip(batch.inserts, mat)]
        pending = {p[0]: p for p in puts}
        for r in batch.updates:
            cur = pending.get(r.id)
            if cur is None:
                where = self._where.get(r.id)
                if where is None:
                    raise MemoryNotFoundError(r.id)
                seg, col = where
                payload_now = seg.payloads[col]
                assert payload_now is not None
                cur = (r.id, seg.mat[:, col].copy(), payload_now)
            if r.vector is None and r.payload is None:
                continue
            vec = self._vectors([r.vector])[0] if r.vector is not None else cur[1]
            new = _copy_payload(r.payload) if r.payload is not None else cur[2]
            pending[r.id] = (r.id, vec, new)
            puts.append(pending[r.id])
        deletes = [i for i in dict.fromkeys(batch.deletes) if i in self._where or i in pending]
        seq = self._write_rows(conn, puts, deletes, dims)
        if conn is not None and batch.events:
            StoreDB.add_events(conn, batch.events)

        def finish() -> None:
            if puts:
                self._cache_puts(puts, seq, dims)
            if deletes:
                self._seq = max(self._seq, seq)
                self._apply_delete(deletes)
                self._maybe_compact()

        return finish

    def _is_as_read(self, id_: str, want: Any) -> bool:
        """Whether ``id_`` is still as the caller read it (``want`` ``None``: absent), compared as
        stored (JSON), after catching up with every other process."""
        have = self._payload_of(id_)
        if want is None or have is None:
            return want is None and have is None
        return have == want or encode_payload(have) == encode_payload(dict(want))

    async def rehearse(self, ids: Sequence[str], now: str) -> None:
        """``access_count + 1`` and ``last_accessed_at`` in one transaction: never lost, never
        applied twice, and never undoing another process's change made since the search."""
        await self._write(self._plan_rehearse, ids, now)

    def _plan_rehearse(self, conn: sqlite3.Connection | None, ids: Sequence[str], now: str) -> Callable[[], None]:
        puts = []
        for id_ in dict.fromkeys(ids):
            where = self._where.get(id_)
            if where is None:
                continue  # deleted since the search
            seg, col = where
            payload = dict(seg.payloads[col])  # type: ignore[arg-type]
            payload["access_count"] = int(payload.get("access_count") or 0) + 1
            payload["last_accessed_at"] = now
            puts.append((id_, seg.mat[:, col].copy(), payload))
        seq = self._write_rows(conn, puts, (), None)
        return lambda: self._cache_puts(puts, seq, None) if puts else None

    async def changes_since(self, cursor: int | None) -> ChangeBatch:
        with self._lock:
            self._sync()
            now = self._feed_n
            if cursor is None or cursor == now:
                return ChangeBatch(cursor=now, changes=[])
            if cursor < self._feed_reset or (self._feed and self._feed[0][0] > cursor + 1) or cursor > now:
                return ChangeBatch(cursor=now, changes=None)
            return ChangeBatch(cursor=now, changes=[c for n, c in self._feed if n > cursor])

    def own_history(self, *, migrate_from: str | None = None) -> HistoryStore | None:
        """The history kept in this collection's database (``None`` in memory)."""
        if self._db is None:
            return None
        from .history import FlatHistoryStore

        return FlatHistoryStore.for_store(self, migrate_from=migrate_from)

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        with self._lock:
            self._sync()
            refs = [(seg.ids[c], seg.payloads[c]) for seg, c in self._refs(scope)]
            if filters is not None:
                refs = [r for r in refs if evaluate(filters, r[1])]  # type: ignore[arg-type]
            refs.sort(key=lambda r: _order_key(r[1], r[0]))  # type: ignore[arg-type]
            if limit is not None:
                refs = refs[: max(limit, 0)]
            return [
                VectorRecord(id=i, vector=None, payload=_copy_payload(p))  # type: ignore[arg-type]
                for i, p in refs
            ]

    async def count(self, *, scope: Scope) -> int:
        with self._lock:
            self._sync()
            return sum(seg.n if cols is None else len(cols) for seg, cols in self._parts(scope))

    async def reset(self) -> None:
        await self._write(self._plan_reset)

    def _plan_reset(self, conn: sqlite3.Connection | None) -> Callable[[], None]:
        seq = self._seq
        if conn is not None:
            conn.execute("DELETE FROM memories")
            conn.execute("DELETE FROM meta WHERE key IN ('dims', 'embedder')")
            seq = self._last_written = StoreDB.log_change(conn, "", RESET)

        def finish() -> None:
            self._seq = max(self._seq, seq)
            self._clear(self.config.dims)

        return finish

    async def aclose(self) -> None:
        """Close the database connections (reopened on the next use), after the writes already
        submitted (a cancelled caller's included) have finished. Idempotent. Nothing is written:
        every acknowledged write is already durable."""
        if self._runner is not None and self._wdb is not None:
            if self._wdb.conn is not None:  # a process that only read never started the writer thread
                await self._runner.run(self._wdb.close)
            await self._runner.aclose()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._dv = -1

    # ================================================================== introspection
    def __len__(self) -> int:
        with self._lock:
            self._sync()
            return len(self._where)

    def stats(self) -> dict[str, Any]:
        """Records, rows, tombstones, capacity, user blocks and dims (for diagnostics and tests)."""
        with self._lock:
            self._sync()
            segs = self._segs.values()
            return {
                "records": len(self._where),
                "rows": sum(s.n for s in segs),
                "tombstones": self._dead,
                "capacity": sum(s.capacity for s in segs),
                "segments": len(self._segs),
                "dims": self._dims,
                "persistent": self._db is not None,
                "seq": self._seq if self._db is not None else None,
            }


__all__ = ["FlatVectorStore"]
