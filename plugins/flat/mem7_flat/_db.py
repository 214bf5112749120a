"""The store of record of a persisted flat collection: one SQLite database shared by processes.

One file per collection, ``<path>/<collection_name>/mem7.db``, in WAL mode with a busy timeout::

    meta(key, value)                         dims, format, migrations done, change-log floor
    memories(id, user_id, seq, vector, payload)
                                             one row per live record: the L2-normalised float32
                                             vector as little-endian bytes, the payload as JSON,
                                             ``seq`` of the change that wrote it last
    changes(seq, id, op)                     the change log: 0 put, 1 delete, 2 reset (id '')
    history(id, memory_id, ...)              the audit log (mem0's layout, as the SQLite history
                                             store's), when the engine keeps history here

Every write is one ``BEGIN IMMEDIATE`` transaction that appends to ``changes`` and writes the rows
(and, through :meth:`FlatVectorStore.commit`, the operation's history events): durable when it
commits (``synchronous=FULL``), atomic, and serialised across processes by SQLite's write lock.

What a process holds in memory (the per-user matrices, payloads) is a cache of this database. It
catches up before every operation: ``PRAGMA data_version`` (a few microseconds) tells whether any
other connection committed since the last look; if so, only the changes after the last ``seq``
applied are read. A process that only reads never writes the file: it opens the database only once
it exists, and never creates, migrates or checkpoints anything on a read path (except the one-time
migration of a directory written by the format-1 log, which happens on the first open of any kind).

The change log is pruned to the last :data:`KEEP_CHANGES` entries; a process further behind (idle
through that many writes of others) reloads everything instead (``meta.floor``).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mem7_core.models import HistoryEvent
from mem7_core.providers.history import (
    SQLITE_HISTORY_INSERT,
    event_row,
    sqlite_history_missing,
    sqlite_history_upgrade,
)
from mem7_core.providers.sqlite import retry_busy, storage_error

log = logging.getLogger("mem7.flat")

T = TypeVar("T")

DB_NAME = "mem7.db"
FORMAT = 2
KEEP_CHANGES = 100_000
"""Change-log entries kept; older ones are pruned (a process further behind reloads everything)."""
_PRUNE_EVERY = 10_000

PUT, DELETE, RESET = 0, 1, 2

_STORE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS memories (
        id TEXT PRIMARY KEY,
        user_id TEXT,
        seq INTEGER NOT NULL,
        vector BLOB NOT NULL,
        payload TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, op INTEGER NOT NULL)",
)


def encode_payload(payload: dict[str, Any]) -> str:
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"flat: payloads must be JSON-serialisable ({exc})") from None


def vector_bytes(row: np.ndarray) -> bytes:
    return np.ascontiguousarray(row, dtype="<f4").tobytes()


def vector_of(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


@dataclass(slots=True)
class Change:
    """One entry of the change log as read back: ``vector``/``payload`` are ``None`` for deletes,
    resets, and puts a later change superseded."""

    seq: int
    op: int
    id: str
    vector: bytes | None
    payload: str | None


class StoreDB:
    """One connection to the SQLite file of one collection. Not thread-safe: the flat store opens
    two, a read connection used under its lock (any thread) and a write connection used only on
    its writer thread (:class:`~mem7_core.providers.blocking.BlockingRunner`)."""

    def __init__(self, directory: Path, *, fsync: bool = True, busy_timeout_ms: int = 30_000) -> None:
        self.dir = directory
        self.file = directory / DB_NAME
        self.fsync = fsync
        self.busy_timeout_ms = busy_timeout_ms
        self.conn: sqlite3.Connection | None = None
        self._writes = 0
        self.read_only = False
        """The directory or file cannot be written (``read_only_ok``): opened for reading only."""

    # ------------------------------------------------------------------ open
    def exists(self) -> bool:
        return self.file.exists()

    def connect(self, *, create: bool) -> bool:
        """Open the database (creating file and schema only with ``create``). False: absent."""
        if self.conn is not None:
            return True
        if self.read_only and create:
            raise PermissionError(13, "Read-only (not writable)", str(self.file))
        if not create and not self.file.exists():
            return False
        if create:
            self.dir.mkdir(parents=True, exist_ok=True)
        if self.read_only:
            return self._connect_read_only()
        conn = sqlite3.connect(
            str(self.file), timeout=self.busy_timeout_ms / 1000.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
            ready = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes'").fetchone()
            if ready is None:
                if not create:  # a file another process is creating right now: look again later
                    conn.close()
                    return False
                self._retry(lambda: self._init(conn))
            elif sqlite_history_missing(conn):  # an older mem7's file: its history table brought up to date
                self._retry(lambda: self._upgrade(conn))
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return True

    def _connect_read_only(self) -> bool:
        """Open a file this process cannot write. SQLite reads a WAL database read-only (``mode=ro``)
        only when its ``-shm`` file exists or can be created; in a read-only directory with no
        writer about (no ``-wal`` file) the file is read as ``immutable``: as it is now."""
        uri = self.file.absolute().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                               timeout=self.busy_timeout_ms / 1000.0)
        try:
            conn.execute("SELECT 1 FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            if Path(f"{self.file}-wal").exists():  # a writer's commits may be in it: immutable would miss them
                raise
            conn = sqlite3.connect(
                f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
            )
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes'").fetchone() is None:
            conn.close()
            return False
        self.conn = conn
        return True

    @staticmethod
    def _init(conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _STORE_SCHEMA:
                conn.execute(stmt)
            sqlite_history_upgrade(conn)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (str(FORMAT),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        """Add the history columns a file made by an older mem7 lacks (``stated_at``), in place."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            added = sqlite_history_upgrade(conn)  # checks again under the write lock
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if added:
            log.info("flat: added history column(s) %s", ", ".join(added))

    def _retry(self, fn: Callable[[], T]) -> T:
        return retry_busy(fn, self.busy_timeout_ms)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ------------------------------------------------------------------ read
    def data_version(self) -> int:
        assert self.conn is not None
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def meta(self, key: str) -> str | None:
        assert self.conn is not None
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def last_seq(self) -> int:
        assert self.conn is not None
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return 0 if row is None else int(row[0])

    def load_all(self) -> tuple[int, str | None, list[tuple[str, bytes, str]]]:
        """(last seq, dims, every live row) read in one snapshot (the open write transaction's,
        when called inside one)."""
        assert self.conn is not None
        conn = self.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            seq = self.last_seq()
            dims = self.meta("dims")
            rows = conn.execute("SELECT id, vector, payload FROM memories ORDER BY seq").fetchall()
        finally:
            if own:
                conn.execute("COMMIT")
        return seq, dims, rows

    def changes_after(self, seq: int) -> tuple[list[Change], bool]:
        """The change log after ``seq``, oldest first, and whether ``seq`` is still in the log
        (False: pruned past it; the caller reloads everything)."""
        assert self.conn is not None
        floor = self.meta("floor")
        if floor is not None and seq < int(floor):
            return [], False
        rows = self.conn.execute(
            "SELECT c.seq, c.op, c.id, m.vector, m.payload FROM changes c "
            "LEFT JOIN memories m ON m.id = c.id AND m.seq = c.seq WHERE c.seq > ? ORDER BY c.seq",
            (seq,),
        ).fetchall()
        return [Change(*r) for r in rows], True

    # ------------------------------------------------------------------ write
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the write lock taken up front); rolled back on any error. A
        full disk or a read-only file raises :class:`~mem7_core.errors.StorageError` naming it."""
        assert self.conn is not None
        conn = self.conn
        try:
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (OSError, sqlite3.Error) as exc:
            mapped = storage_error(exc, "vector_store:flat", self.file)
            if mapped is None:
                raise
            raise mapped from exc
        self._writes += 1

    @staticmethod
    def log_change(conn: sqlite3.Connection, id_: str, op: int) -> int:
        cur = conn.execute("INSERT INTO changes (id, op) VALUES (?, ?)", (id_, op))
        return int(cur.lastrowid or 0)

    @staticmethod
    def put_row(conn: sqlite3.Connection, id_: str, user: str | None, seq: int, vector: bytes, payload: str) -> None:
        conn.execute(
            "INSERT INTO memories (id, user_id, seq, vector, payload) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET user_id = excluded.user_id, seq = excluded.seq, "
            "vector = excluded.vector, payload = excluded.payload",
            (id_, user, seq, vector, payload),
        )

    def maybe_prune(self, conn: sqlite3.Connection, before: int, seq: int) -> None:
        """Inside a write that took the log from ``before`` to ``seq``: each time it crosses a
        multiple of ``_PRUNE_EVERY``, drop entries older than :data:`KEEP_CHANGES`."""
        if before // _PRUNE_EVERY == seq // _PRUNE_EVERY or seq <= KEEP_CHANGES:
            return
        floor = seq - KEEP_CHANGES
        conn.execute("DELETE FROM changes WHERE seq <= ?", (floor,))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('floor', ?)", (str(floor),))

    @staticmethod
    def add_events(conn: sqlite3.Connection, events: Sequence[HistoryEvent]) -> None:
        if events:
            conn.executemany(SQLITE_HISTORY_INSERT, [event_row(e) for e in events])


def legacy_files(directory: Path) -> bool:
    """Whether ``directory`` holds a collection in the format-1 layout (snapshot + JSON-lines log)."""
    if not directory.is_dir():
        return False
    return (directory / "manifest.json").exists() or any(directory.glob("wal-*.jsonl"))


def move_legacy(directory: Path) -> None:
    """After a migration: move the format-1 files aside (kept, not deleted) into ``format1/``."""
    target = directory / "format1"
    target.mkdir(exist_ok=True)
    for entry in list(directory.iterdir()):
        name = entry.name
        if name == "manifest.json" or name.startswith(("snapshot-", "wal-")):
            try:
                os.replace(entry, target / name)
            except OSError as exc:  # another process moved it first
                log.debug("flat: could not move %s aside: %s", entry, exc)
