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


def event_from_row(row: Sequence[Any]) -> HistoryEvent:
    """A :class:`HistoryEvent` from a database row whose columns follow :data:`HISTORY_COLUMNS`."""
    values = dict(zip(HISTORY_COLUMNS, row, strict=True))
    values["is_deleted"] = bool(values["is_deleted"])
    return HistoryEvent(**values)
