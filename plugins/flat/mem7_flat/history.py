"""The history (audit log) kept in a persisted flat collection's own database.

The engine writes an operation's history events in the same transaction as its vector changes
(:meth:`FlatVectorStore.commit`), so history and store agree by construction: a crash leaves both
before or both after the operation. This class is the read side plus the :class:`HistoryStore`
methods, on the store's connection and lock. The table has the SQLite history store's layout.

``migrate_from`` names a SQLite history file written before (the embedded default kept history in
``<data dir>/history.db``): its events are copied in once, on first use; the file is left in place.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mem7_core.errors import ProviderError
from mem7_core.models import HistoryEvent
from mem7_core.providers import HistoryStore, ProviderConfig
from mem7_core.providers.history import (
    HISTORY_COLUMNS,
    SQLITE_HISTORY_DELETE,
    SQLITE_HISTORY_RESET,
    SQLITE_HISTORY_SELECT,
    event_from_row,
    sqlite_history_missing,
)

from ._db import StoreDB

if TYPE_CHECKING:
    from .store import FlatVectorStore

log = logging.getLogger("mem7.flat")
T = TypeVar("T")


class FlatHistoryStore(HistoryStore):
    """History in the flat collection's SQLite database (see the module docstring)."""

    name = "flat"

    class Config(ProviderConfig):
        migrate_from: str | None = None
        """A SQLite history file whose events are copied in once, when first used."""

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._store: FlatVectorStore | None = None
        self._migration_checked = False

    @classmethod
    def for_store(cls, store: FlatVectorStore, *, migrate_from: str | None = None) -> FlatHistoryStore:
        self = cls(cls.Config(migrate_from=migrate_from))
        self._store = store
        return self

    # ------------------------------------------------------------------ plumbing
    def _db(self, *, write: bool) -> StoreDB | None:
        """The open database (created for a write, or for a migration still to do); else None.
        Called under the store's lock."""
        store = self._store
        assert store is not None and store._db is not None, "FlatHistoryStore comes from FlatVectorStore.own_history()"
        legacy = self.config.migrate_from
        pending = not self._migration_checked and legacy is not None and Path(legacy).expanduser().is_file()
        if not store._open_db(create=write or pending):
            return None
        db = store._db
        if pending:
            self._migrate(db, str(Path(legacy).expanduser()))  # type: ignore[arg-type]
        self._migration_checked = True
        return db

    def _migrate(self, db: StoreDB, legacy: str) -> None:
        conn = db.conn
        assert conn is not None
        if db.meta("migrated_history") is not None:
            return
        try:
            conn.execute("ATTACH DATABASE ? AS legacy", (legacy,))
        except sqlite3.Error as exc:
            log.warning("flat: cannot read the history file %s to migrate it: %s", legacy, exc)
            return
        try:
            has = conn.execute(
                "SELECT 1 FROM legacy.sqlite_master WHERE type = 'table' AND name = 'history'"
            ).fetchone()
            lacks = set(sqlite_history_missing(conn, "legacy"))  # an older file: no stated_at
            cols = ", ".join(c for c in HISTORY_COLUMNS if c not in lacks)
            with db.transaction() as tx:
                if db.meta("migrated_history") is None:
                    n = 0
                    if has:
                        n = tx.execute(
                            f"INSERT OR IGNORE INTO main.history ({cols}) "
                            f"SELECT {cols} FROM legacy.history ORDER BY rowid"
                        ).rowcount
                    tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated_history', ?)", (legacy,))
                    if n:
                        log.warning("flat: copied %d history events from %s into %s", n, legacy, db.file)
        finally:
            conn.execute("DETACH DATABASE legacy")

    def _run(self, fn: Callable[[StoreDB], T], *, write: bool, absent: T) -> T:
        """``fn(db)`` under the store's lock (``absent`` when there is no database yet and this is
        no write); SQLite errors become a :class:`ProviderError` naming this store."""
        store = self._store
        assert store is not None
        with store._lock:
            try:
                db = self._db(write=write)
                return absent if db is None else fn(db)
            except sqlite3.Error as exc:
                raise ProviderError("history_store:flat", f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _in_transaction(db: StoreDB, fn: Callable[[sqlite3.Connection], object]) -> None:
        with db.transaction() as conn:
            fn(conn)

    # ------------------------------------------------------------------ API
    async def add_events(self, events: Sequence[HistoryEvent]) -> None:
        if events:
            self._run(
                lambda db: self._in_transaction(db, lambda c: StoreDB.add_events(c, events)), write=True, absent=None
            )

    async def get(self, memory_id: str) -> list[HistoryEvent]:
        def read(db: StoreDB) -> list[tuple[object, ...]]:
            assert db.conn is not None
            return db.conn.execute(SQLITE_HISTORY_SELECT, (memory_id,)).fetchall()

        absent: list[tuple[object, ...]] = []
        rows = self._run(read, write=False, absent=absent)
        return [event_from_row(r) for r in rows]

    async def delete_events(self, event_ids: Sequence[str]) -> None:
        ids = [(i,) for i in dict.fromkeys(event_ids)]
        if ids:
            self._run(
                lambda db: self._in_transaction(db, lambda c: c.executemany(SQLITE_HISTORY_DELETE, ids)),
                write=False,
                absent=None,
            )

    async def reset(self) -> None:
        self._run(
            lambda db: self._in_transaction(db, lambda c: c.execute(SQLITE_HISTORY_RESET)), write=False, absent=None
        )

    async def aclose(self) -> None:
        """The store owns the connection; closing the history closes nothing."""

    def owned_by(self, store: object) -> bool:
        """Whether this history lives in ``store``'s database (the engine then commits both at once)."""
        return self._store is store


__all__ = ["FlatHistoryStore"]
