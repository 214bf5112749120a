"""Restoring memories verbatim (``AsyncMemory.import_memories``): what an item is, how it is checked.

An item is a memory as ``get_all`` / ``export_memories`` give it (an :class:`~mem7_core.models.Item`
or its dict): ``memory`` (the text), its scope ids, and optionally ``id``, ``metadata``,
``memory_type``, ``role``, ``actor_id``, the timestamps and ``access_count``. ``text``, ``hash`` and
``score`` are accepted and ignored (they are derived). Everything is checked before anything is
written, so one bad item (named by its index and field) stops the whole call with nothing written.
Timestamps may have any ISO-8601 offset (none means UTC); they are stored in the canonical UTC
form (``mem7_core.ids.iso``), so time filters compare them as the instants they are.

History convention: a restored memory gets one ``ADD`` event, a memory replaced by an import
(``on_conflict="replace"``) an ``UPDATE`` event (stored text → imported text), both dated at the
import (an event's ``created_at`` is when it happened; the memory keeps its own ``created_at``).
So the history schema needs no new event kind, and history stays in order when an id comes back:
restoring a memory that was deleted continues its history with an ``ADD`` after the ``DELETE``
(the one case where an event follows a DELETE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..ids import iso, parse_instant, text_hash, uuid7
from ..models import SCOPE_KEYS, Result, Scope, UsageReport, memory_type_of
from ..unicode_safe import check_str, check_tree
from .records import check_metadata

OnConflict = Literal["skip", "replace", "error"]
ON_CONFLICT: tuple[str, ...] = ("skip", "replace", "error")
MAX_PROBLEMS_SHOWN = 20


class ImportResult(Result):
    """What ``import_memories`` did: memories newly stored, stored ones replaced, items skipped."""

    imported: int = 0
    replaced: int = 0
    skipped: int = 0
    usage: UsageReport | None = None
    """The embedding calls (absent when nothing was embedded)."""

    optional_keys: ClassVar[frozenset[str]] = frozenset({"usage"})


DERIVED_FIELDS: tuple[str, ...] = ("text", "hash", "score")
"""Fields of an :class:`~mem7_core.models.Item` that an exported memory may carry but that are
derived (accepted on import and ignored; not exported)."""


class RestoreItem(BaseModel):
    """One exported memory: the schema of ``export_memories`` items and ``mem7 export`` lines, and
    what ``import_memories`` (the Python API, ``POST /memories/import``, ``mem7 import`` memory
    lines) accepts. Unknown fields are refused (a typo must not be dropped). Its fields, less
    :data:`DERIVED_FIELDS`, in this order, are what an export writes.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1)
    memory: str = Field(min_length=1)
    user_id: str | None = Field(None, min_length=1)
    agent_id: str | None = Field(None, min_length=1)
    run_id: str | None = Field(None, min_length=1)
    metadata: dict[str, Any] | None = None
    memory_type: str | None = None
    role: str | None = None
    actor_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_accessed_at: str | None = None
    access_count: int = Field(0, ge=0)
    text: str | None = None  # derived fields of an Item: accepted, ignored
    hash: str | None = None
    score: float | None = None

    @field_validator("id", "memory", "user_id", "agent_id", "run_id", "role", "actor_id", "text", "hash", mode="before")
    @classmethod
    def _unicode(cls, v: Any, info: Any) -> Any:  # info: pydantic's ValidationInfo
        return check_str(v, str(info.field_name))  # a lone surrogate stored would break every read

    @field_validator("memory")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("memory_type")
    @classmethod
    def _type(cls, v: str | None) -> str | None:
        return memory_type_of(v)

    @field_validator("created_at", "updated_at", "last_accessed_at")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            # Stored in the canonical UTC form (a naive time is UTC), as every time mem7 writes, so
            # time filters compare it right; an export (already canonical) round-trips byte-exact.
            return iso(parse_instant(v, "time"))
        except ValueError:
            raise ValueError("must be an ISO-8601 timestamp, e.g. 2024-01-02T03:04:05+00:00") from None

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_unicode(cls, v: Any) -> Any:
        check_tree(v, "metadata")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(v) if v else v

    @property
    def scope(self) -> Scope:
        return Scope(**{k: getattr(self, k) for k in SCOPE_KEYS})


@dataclass(slots=True)
class Restored:
    """A checked item: its id (given or new) and the payload to store."""

    index: int
    id: str
    text: str
    scope: Scope
    payload: dict[str, Any]


def _as_mapping(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump(exclude_none=True)
    return item


def check_items(items: Iterable[Mapping[str, Any] | BaseModel], now: str) -> list[Restored]:
    """Every item checked and turned into its payload; ids missing are made (UUIDv7).

    :raises ValueError: listing each bad item as ``items[i].field: problem`` (nothing is written).
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ValueError(f"items must be a list of memories (dicts or Items), got {type(items).__name__}")
    out: list[Restored] = []
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(items):
        raw = _as_mapping(raw)
        if not isinstance(raw, Mapping):
            problems.append(f"items[{i}]: must be a dict (or an Item), got {type(raw).__name__}")
            continue
        try:
            item = RestoreItem.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"items[{i}]{'.' + where if where else ''}: {err['msg']}")
            continue
        scope = item.scope
        if scope.is_empty:
            problems.append(f"items[{i}]: no scope: give user_id, agent_id or run_id")
            continue
        mem_id = item.id or uuid7()
        if mem_id in first_index:
            problems.append(f"items[{i}].id: {mem_id!r} is also items[{first_index[mem_id]}]; give each memory once")
            continue
        first_index[mem_id] = i
        out.append(Restored(index=i, id=mem_id, text=item.memory, scope=scope, payload=_payload(item, scope, now)))
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN] + (
            [f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more"] if len(problems) > MAX_PROBLEMS_SHOWN else []
        )
        raise ValueError(
            f"items are not valid ({len(problems)} problem(s)); nothing was imported:\n  " + "\n  ".join(shown)
        )
    return out


def _payload(item: RestoreItem, scope: Scope, now: str) -> dict[str, Any]:
    payload: dict[str, Any] = dict(item.metadata or {})
    created = item.created_at or now
    payload.update(
        data=item.memory,
        hash=text_hash(item.memory),
        created_at=created,
        updated_at=item.updated_at or created,
        access_count=item.access_count,
    )
    payload.update(scope.as_dict())
    for key in ("memory_type", "role", "actor_id", "last_accessed_at"):
        value = getattr(item, key)
        if value is not None:
            payload[key] = value
    return payload


__all__ = ["DERIVED_FIELDS", "ON_CONFLICT", "ImportResult", "OnConflict", "RestoreItem", "check_items"]
