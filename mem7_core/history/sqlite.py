"""The SQLite history store (spec §9): the audit log of every ADD / UPDATE / DELETE.

One table, ``history`` (mem0's layout: the columns of
:data:`~mem7_core.providers.history.HISTORY_COLUMNS`), indexed on ``memory_id``. The file is opened lazily, on
first use, in WAL mode with a busy timeout, so several threads, several engines and several
processes can write the same file: every write is one ``BEGIN IMMEDIATE`` transaction (the write
lock is taken up front, so two writers never deadlock upgrading a read lock), and lock waits go
through SQLite's busy handler.

Each store instance owns one connection, used from worker threads (``asyncio.to_thread``) under a
lock: SQLite serialises writers anyway, and one connection is what ``":memory:"`` needs (every
connection to ``":memory:"`` is a different database).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, field_validator

from ..errors import ConfigError, ProviderError, StorageConfigError
from ..models import HistoryEvent
from ..providers.base import ProviderConfig
from ..providers.history import (
    SQLITE_HISTORY_DELETE,
    SQLITE_HISTORY_INSERT,
    SQLITE_HISTORY_RESET,
    SQLITE_HISTORY_SELECT,
    HistoryStore,
    event_from_row,
    event_row,
    sqlite_history_upgrade,
)
from ..providers.sqlite import retry_busy, storage_error

T = TypeVar("T")
log = logging.getLogger("mem7.history")

_MEMORY = ":memory:"


class SQLiteHistoryStore(HistoryStore):
    """History in one SQLite file (or in memory), safe for concurrent writers."""

    name = "sqlite"

    class Config(ProviderConfig):
        path: str = "mem7_history.db"
        """The database file (parent directories are created), or ``":memory:"``."""
        busy_timeout_ms: int = Field(5000, ge=0)
        """How long a writer waits for another's lock before failing."""

        @field_validator("path")
        @classmethod
        def _path(cls, v: str) -> str:
            if not v.strip():
                raise ValueError("path must be a file path or ':memory:'")
            return v

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        if isinstance(config, cls.Config) and config.path.strip() == _MEMORY:
            return "the SQLite history is in memory (':memory:', one per process)"
        return None

    # ------------------------------------------------------------------------- plumbing
    @property
    def path(self) -> str:
        """The database file as configured (``":memory:"`` for an in-memory store)."""
        return self.config.path

    def _connect(self) -> sqlite3.Connection:
        path = self.config.path
        if path != _MEMORY:
            target = Path(path).expanduser()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"history_store sqlite: cannot create the directory of path {path!r}: {exc}"
                ) from exc
            if target.is_dir():
                raise ConfigError(f"history_store sqlite: path {path!r} is a directory, not a database file")
            if not os.access(target.parent, os.W_OK | os.X_OK) or (
                target.exists() and not os.access(target, os.R_OK | os.W_OK)
            ):
                raise StorageConfigError(  # a ConfigError; REST 507 when a request finds it
                    "history_store:sqlite",
                    f"history_store sqlite: path {path!r} is not writable; set history_store.config.path "
                    "to a writable file",
                )
            path = str(target)
        timeout = self.config.busy_timeout_ms / 1000.0
        try:
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ConfigError(f"history_store sqlite: cannot open path {self.config.path!r}: {exc}") from exc
        try:
            self._with_retry(lambda: self._init_db(conn))
        except sqlite3.Error as exc:
            conn.close()
            msg = str(exc).lower()
            if "readonly" in msg or "disk is full" in msg:
                raise StorageConfigError(
                    "history_store:sqlite", f"history_store sqlite: cannot write path {self.config.path!r}: {exc}"
                ) from exc
            if "unable to open" in msg or "not a database" in msg or "disk i/o" in msg:
                raise ConfigError(
                    f"history_store sqlite: cannot use path {self.config.path!r}: {exc}"
                ) from exc
            raise ProviderError("history_store:sqlite", f"cannot initialise {self.config.path!r}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _init_db(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.config.busy_timeout_ms)}")
        if self.config.path != _MEMORY:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            added = sqlite_history_upgrade(conn)  # the table, or an older mem7's table brought up to date
            conn.execute("COMMIT")
            if added:
                log.info("history_store sqlite: added column(s) %s to %s", ", ".join(added), self.config.path)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _with_retry(self, fn: Callable[[], T]) -> T:
        return retry_busy(fn, self.config.busy_timeout_ms)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                return self._with_retry(lambda: fn(conn))
            except sqlite3.Error as exc:
                mapped = storage_error(exc, "history_store:sqlite", f"history_store.config.path {self.config.path!r}")
                raise (mapped or ProviderError("history_store:sqlite", f"{type(exc).__name__}: {exc}")) from exc

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._run, fn)

    @staticmethod
    def _write(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------------- API
    async def add_events(self, events: Sequence[HistoryEvent]) -> None:
        rows = [event_row(e) for e in events]
        if not rows:
            return
        await self._call(lambda conn: self._write(conn, SQLITE_HISTORY_INSERT, rows))

    async def get(self, memory_id: str) -> list[HistoryEvent]:
        rows = await self._call(lambda conn: conn.execute(SQLITE_HISTORY_SELECT, (memory_id,)).fetchall())
        return [event_from_row(r) for r in rows]

    async def delete_events(self, event_ids: Sequence[str]) -> None:
        rows = [(i,) for i in dict.fromkeys(event_ids)]
        if not rows:
            return
        await self._call(lambda conn: self._write(conn, SQLITE_HISTORY_DELETE, rows))

    async def reset(self) -> None:
        await self._call(lambda conn: self._write(conn, SQLITE_HISTORY_RESET, [()]))

    async def aclose(self) -> None:
        def close() -> None:
            with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()

        try:
            await asyncio.to_thread(close)
        except RuntimeError:
            # At interpreter exit (a sync Memory closed by its finalizer) no new worker thread may
            # start ("cannot schedule new futures after shutdown"): closing a connection is quick.
            close()
