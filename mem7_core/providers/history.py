"""The history (audit) store interface."""

from __future__ import annotations

import sqlite3
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from ..models import HistoryEvent
from .base import Provider


class HistoryStore(Provider):
    """An append-only audit log of every ADD / UPDATE / DELETE."""

    kind = "history_store"

    @abstractmethod
    async def add_events(self, events: Sequence[HistoryEvent]) -> None:
        """Append ``events`` atomically (all or none).

        :param events: the rows, in the order they happened.
        """

    @abstractmethod
    async def get(self, memory_id: str) -> list[HistoryEvent]:
        """Every event of one memory, oldest first."""

    @abstractmethod
    async def delete_events(self, event_ids: Sequence[str]) -> None:
        """Remove events by id: the compensation step when a write fails half-way."""

    @abstractmethod
    async def reset(self) -> None:
        """Delete every event."""


HISTORY_COLUMNS: tuple[str, ...] = tuple(HistoryEvent.model_fields)
"""The columns of an audit row: the fields of :class:`HistoryEvent` (``id, memory_id, old_memory,
new_memory, event, created_at, updated_at, is_deleted, actor_id, role, stated_at``), in the order SQL history
stores write and select them. The one list the SQLite schema, its statements and the row
conversions below are built from."""


_SQLITE_TYPES: dict[str, str] = {
    "id": "TEXT PRIMARY KEY",
    "memory_id": "TEXT NOT NULL",
    "event": "TEXT NOT NULL",
    "created_at": "TEXT NOT NULL",
    "is_deleted": "INTEGER NOT NULL DEFAULT 0",
}
"""SQLite column types that are not plain nullable ``TEXT``."""

SQLITE_HISTORY_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS history ("
    + ", ".join(f"{c} {_SQLITE_TYPES.get(c, 'TEXT')}" for c in HISTORY_COLUMNS)
    + ")",
    "CREATE INDEX IF NOT EXISTS idx_history_memory_id ON history (memory_id)",
)
"""The audit table in SQLite (mem0's layout), shared by every SQLite-backed history: the core's
SQLite history store and stores that keep history in their own SQLite database."""
SQLITE_HISTORY_INSERT = (
    f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
)
SQLITE_HISTORY_SELECT = (
    f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE memory_id = ? ORDER BY created_at, rowid"
)
SQLITE_HISTORY_DELETE = "DELETE FROM history WHERE id = ?"
"""Delete one event by id (``executemany`` with ``(id,)`` rows)."""
SQLITE_HISTORY_RESET = "DELETE FROM history"


def sqlite_history_missing(conn: sqlite3.Connection, schema: str = "main") -> list[str]:
    """The :data:`HISTORY_COLUMNS` the ``history`` table of ``schema`` lacks (all when it has no such
    table): a database an older mem7 made has no ``stated_at``."""
    have = {str(row[1]) for row in conn.execute(f"PRAGMA {schema}.table_info(history)")}
    return [c for c in HISTORY_COLUMNS if c not in have]


def sqlite_history_upgrade(conn: sqlite3.Connection) -> list[str]:
    """Create the ``history`` table if missing, and add the columns an older mem7's table lacks
    (``ALTER TABLE history ADD COLUMN``, nullable: old rows read them as ``None``), in place.

    Run it inside the caller's write transaction (``BEGIN IMMEDIATE``), so two processes opening
    one old file do not both add a column. Returns the columns added to an existing table.
    """
    existed = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'").fetchone()
    for stmt in SQLITE_HISTORY_SCHEMA:
        conn.execute(stmt)
    if existed is None:
        return []
    missing = sqlite_history_missing(conn)
    for column in missing:
        conn.execute(f"ALTER TABLE history ADD COLUMN {column} {_SQLITE_TYPES.get(column, 'TEXT')}")
    return missing


def event_row(e: HistoryEvent) -> tuple[Any, ...]:
    """A :class:`HistoryEvent` as a row in :data:`HISTORY_COLUMNS` order (``is_deleted`` as 0/1)."""
    values = {c: getattr(e, c) for c in HISTORY_COLUMNS}
    values["is_deleted"] = 1 if e.is_deleted else 0
    return tuple(values.values())


def event_from_row(row: Sequence[Any]) -> HistoryEvent:
    """A :class:`HistoryEvent` from a database row whose columns follow :data:`HISTORY_COLUMNS`."""
    values = dict(zip(HISTORY_COLUMNS, row, strict=True))
    values["is_deleted"] = bool(values["is_deleted"])
    return HistoryEvent(**values)
