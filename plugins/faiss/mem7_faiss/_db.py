"""The store of record of a FAISS collection: one SQLite database (WAL) shared by processes.

``<path>/<collection_name>/mem7.db``::

    meta(key, value)                      dims, embedder, format, change-log floor
    memories(id, user_id, seq, vector, payload)
                                          one row per live record: the L2-normalised float32
                                          vector as little-endian bytes, the payload as JSON,
                                          ``seq`` of the change that wrote it last
    changes(seq, id, op)                  the change log: 0 put, 1 delete, 2 reset (id '')

Every write is one ``BEGIN IMMEDIATE`` transaction that appends to ``changes`` and writes the rows:
durable when it commits (``synchronous=FULL`` unless ``fsync: false``), atomic, serialised across
processes by SQLite's write lock. The FAISS indexes a process holds are a cache of this file,
caught up from ``changes`` (see :mod:`.store`). A reader opens the file only once it exists and
never creates, migrates or writes anything.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mem7_core.providers.sqlite import retry_busy, storage_error

DB_NAME = "mem7.db"
FORMAT = 1
KEEP_CHANGES = 100_000
"""Change-log entries kept; a process further behind than that reloads everything."""
_PRUNE_EVERY = 10_000

PUT, DELETE, RESET = 0, 1, 2

_SCHEMA = (
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

Row = tuple[str, bytes, str]
"""(id, vector bytes, payload JSON) of one live record."""
Change = tuple[int, int, str, bytes | None, str | None]
"""(seq, op, id, vector, payload): vector and payload ``None`` for deletes, resets and puts that a
later change superseded."""


def encode_payload(payload: dict[str, Any]) -> str:
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"faiss: payloads must be JSON-serialisable ({exc})") from None


def vector_bytes(row: np.ndarray) -> bytes:
    return np.ascontiguousarray(row, dtype="<f4").tobytes()


def vectors_of(blobs: list[bytes], dims: int) -> np.ndarray:
    """A ``(len(blobs), dims)`` float32 matrix of stored vectors."""
    if not blobs:
        return np.zeros((0, dims), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(len(blobs), dims)


class StoreDB:
    """One connection to a collection's file. Not thread-safe: the store opens two, a read
    connection used under its lock and a write connection used only on its writer thread."""

    def __init__(self, directory: Path, *, fsync: bool, busy_timeout_ms: int) -> None:
        self.dir = directory
        self.file = directory / DB_NAME
        self.fsync = fsync
        self.busy_timeout_ms = busy_timeout_ms
        self.conn: sqlite3.Connection | None = None

    def connect(self, *, create: bool) -> bool:
        """Open the file (creating it and its schema only with ``create``). False: not there yet."""
        if self.conn is not None:
            return True
        if not create and not self.file.exists():
            return False
        if create:
            self.dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.file), timeout=self.busy_timeout_ms / 1000.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
            ready = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes'").fetchone()
            if ready is None:
                if not create:  # another process is creating it right now: look again next time
                    conn.close()
                    return False
                retry_busy(lambda: self._init(conn), self.busy_timeout_ms)
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return True

    @staticmethod
    def _init(conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA:
                conn.execute(stmt)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (str(FORMAT),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ------------------------------------------------------------------ read
    def data_version(self) -> int:
        """Changes when another connection committed (a few microseconds)."""
        assert self.conn is not None
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def meta(self, key: str, conn: sqlite3.Connection | None = None) -> str | None:
        c = conn or self.conn
        assert c is not None
        row = c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def last_seq(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return 0 if row is None else int(row[0])

    def load_all(self) -> tuple[int, str | None, list[tuple[str, bytes, str, int]]]:
        """(last seq, dims, every live row with its seq, oldest write first) from one snapshot."""
        assert self.conn is not None
        conn = self.conn
        conn.execute("BEGIN")
        try:
            seq = self.last_seq(conn)
            dims = self.meta("dims")
            rows = conn.execute("SELECT id, vector, payload, seq FROM memories ORDER BY seq").fetchall()
        finally:
            conn.execute("COMMIT")
        return seq, dims, rows

    def changes_after(self, seq: int) -> list[Change] | None:
        """The change log after ``seq``, oldest first; ``None`` when pruned past ``seq``."""
        assert self.conn is not None
        floor = self.meta("floor")
        if floor is not None and seq < int(floor):
            return None
        return self.conn.execute(
            "SELECT c.seq, c.op, c.id, m.vector, m.payload FROM changes c "
            "LEFT JOIN memories m ON m.id = c.id AND m.seq = c.seq WHERE c.seq > ? ORDER BY c.seq",
            (seq,),
        ).fetchall()

    # ------------------------------------------------------------------ write
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (write lock taken up front), rolled back on any error; a full disk
        or a read-only file raises :class:`~mem7_core.errors.StorageError` naming the file."""
        assert self.conn is not None
        conn = self.conn
        try:
            retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), self.busy_timeout_ms)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (OSError, sqlite3.Error) as exc:
            mapped = storage_error(exc, "vector_store:faiss", self.file)
            if mapped is None:
                raise
            raise mapped from exc

    @staticmethod
    def put(conn: sqlite3.Connection, id_: str, user: str | None, vector: bytes, payload: str) -> int:
        seq = int(conn.execute("INSERT INTO changes (id, op) VALUES (?, ?)", (id_, PUT)).lastrowid or 0)
        conn.execute(
            "INSERT INTO memories (id, user_id, seq, vector, payload) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET user_id = excluded.user_id, seq = excluded.seq, "
            "vector = excluded.vector, payload = excluded.payload",
            (id_, user, seq, vector, payload),
        )
        return seq

    @staticmethod
    def delete(conn: sqlite3.Connection, id_: str) -> int:
        if conn.execute("DELETE FROM memories WHERE id = ?", (id_,)).rowcount == 0:
            return 0
        return int(conn.execute("INSERT INTO changes (id, op) VALUES (?, ?)", (id_, DELETE)).lastrowid or 0)

    @staticmethod
    def reset(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM memories")
        conn.execute("DELETE FROM meta WHERE key IN ('dims', 'embedder')")
        conn.execute("INSERT INTO changes (id, op) VALUES ('', ?)", (RESET,))

    @staticmethod
    def row(conn: sqlite3.Connection, id_: str) -> tuple[bytes, str] | None:
        got = conn.execute("SELECT vector, payload FROM memories WHERE id = ?", (id_,)).fetchone()
        return None if got is None else (got[0], got[1])

    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @staticmethod
    def maybe_prune(conn: sqlite3.Connection, before: int, seq: int) -> None:
        """Each time a write takes the log across a multiple of ``_PRUNE_EVERY``, drop entries
        older than :data:`KEEP_CHANGES` (a process that far behind reloads everything)."""
        if before // _PRUNE_EVERY == seq // _PRUNE_EVERY or seq <= KEEP_CHANGES:
            return
        floor = seq - KEEP_CHANGES
        conn.execute("DELETE FROM changes WHERE seq <= ?", (floor,))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('floor', ?)", (str(floor),))
