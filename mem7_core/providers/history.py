"""The history (audit) store interface."""

from __future__ import annotations

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


HISTORY_COLUMNS: tuple[str, ...] = (
    "id", "memory_id", "old_memory", "new_memory", "event",
    "created_at", "updated_at", "is_deleted", "actor_id", "role",
)
"""The columns of an audit row, in the order SQL history stores select them."""


SQLITE_HISTORY_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS history (
        id TEXT PRIMARY KEY,
        memory_id TEXT NOT NULL,
        old_memory TEXT,
        new_memory TEXT,
        event TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT,
        is_deleted INTEGER NOT NULL DEFAULT 0,
        actor_id TEXT,
        role TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS idx_history_memory_id ON history (memory_id)",
)
"""The audit table in SQLite (mem0's layout), shared by every SQLite-backed history: the core's
SQLite history store and stores that keep history in their own SQLite database."""
SQLITE_HISTORY_INSERT = f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
SQLITE_HISTORY_SELECT = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE memory_id = ? ORDER BY created_at, rowid"


def event_row(e: HistoryEvent) -> tuple[Any, ...]:
    """A :class:`HistoryEvent` as a row in :data:`HISTORY_COLUMNS` order (``is_deleted`` as 0/1)."""
    return (
        e.id, e.memory_id, e.old_memory, e.new_memory, e.event, e.created_at, e.updated_at,
        1 if e.is_deleted else 0, e.actor_id, e.role,
    )


def event_from_row(row: Sequence[Any]) -> HistoryEvent:
    """A :class:`HistoryEvent` from a database row whose columns follow :data:`HISTORY_COLUMNS`."""
    values = dict(zip(HISTORY_COLUMNS, row, strict=True))
    values["is_deleted"] = bool(values["is_deleted"])
    return HistoryEvent(**values)
