"""Data shapes: what the public API returns (pydantic) and what providers exchange (slotted dataclasses).

Results are pydantic models, validated once at the edge, that can also be read like the dicts mem0
returns (``result["results"][0]["memory"]``). Records passed between the engine and providers are
plain dataclasses: they sit on the hot path, where per-call validation would cost more than the
store itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SCOPE_KEYS: tuple[str, ...] = ("user_id", "agent_id", "run_id")
"""The three ids that scope a memory. Every read and write is confined to one scope."""

#: Payload keys the engine owns. Metadata may not use them, so filters on them are unambiguous.
RESERVED_PAYLOAD_KEYS: frozenset[str] = frozenset(
    {
        "data",
        "hash",
        "created_at",
        "updated_at",
        "last_accessed_at",
        "access_count",
        "memory_type",
        "actor_id",
        "role",
        *SCOPE_KEYS,
    }
)

MemoryType = Literal["factual", "preference", "procedural", "episodic"]
MEMORY_TYPES: tuple[str, ...] = ("factual", "preference", "procedural", "episodic")


def memory_type_of(value: str | None) -> str | None:
    """``value`` as one of :data:`MEMORY_TYPES` ("Factual", "factual_memory" → "factual"); ``None`` stays.

    :raises ValueError: ``must be one of ...`` (callers add the field name).
    """
    if value is None:
        return None
    v = value.strip().lower().removesuffix("_memory")
    if v not in MEMORY_TYPES:
        raise ValueError(f"must be one of {', '.join(MEMORY_TYPES)}")
    return v


TaskType = Literal["troubleshooting", "design", "factual_lookup", "planning", "general"]
TASK_TYPES: tuple[str, ...] = ("troubleshooting", "design", "factual_lookup", "planning", "general")
Event = Literal["ADD", "UPDATE", "DELETE"]


# --------------------------------------------------------------------------------------------
# Scope
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. A record is in scope when every id set here equals its own."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        for key in SCOPE_KEYS:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{key} must be a non-empty string, got {value!r}")

    @property
    def is_empty(self) -> bool:
        return self.user_id is None and self.agent_id is None and self.run_id is None

    def items(self) -> list[tuple[str, str]]:
        """The ids that are set, as ``(key, value)`` pairs in the fixed order of ``SCOPE_KEYS``."""
        return [(k, v) for k in SCOPE_KEYS if (v := getattr(self, k)) is not None]

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """True when the payload belongs to this scope (an empty scope matches everything)."""
        return all(payload.get(k) == v for k, v in self.items())

    def as_dict(self) -> dict[str, str]:
        return dict(self.items())

    def key(self) -> tuple[str | None, str | None, str | None]:
        """A hashable key naming exactly this scope."""
        return (self.user_id, self.agent_id, self.run_id)


# --------------------------------------------------------------------------------------------
# Records exchanged with providers
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class VectorRecord:
    """One stored vector: its id, its embedding and its payload (text, scope, metadata, times)."""

    id: str
    vector: Sequence[float] | None
    payload: dict[str, Any]


@dataclass(slots=True)
class ScoredRecord:
    """A search hit. ``score`` is higher-is-better (cosine similarity for dense stores)."""

    id: str
    score: float
    payload: dict[str, Any]
    vector: Sequence[float] | None = None


@dataclass(slots=True)
class LLMResponse:
    """What an LLM provider returns: the text, and any tool calls the model made."""

    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RerankResult:
    """One reranked document: its index in the input list and its new relevance score."""

    index: int
    score: float


# --------------------------------------------------------------------------------------------
# Public results
# --------------------------------------------------------------------------------------------
class Result(BaseModel):
    """Base of public results: a pydantic model that also reads like a dict.

    ``r["memory"]`` and ``r.get("score")`` work as on mem0's dicts; ``to_dict()`` gives the JSON
    shape (unset optional fields left out).
    """

    model_config = ConfigDict(extra="forbid")

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in type(self).model_fields and getattr(self, key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None) if key in type(self).model_fields else None
        return default if value is None else value

    def keys(self) -> list[str]:
        return [k for k in type(self).model_fields if getattr(self, k) is not None]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Item(Result):
    """A stored memory as returned by get / get_all / search."""

    id: str
    memory: str
    text: str
    hash: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_accessed_at: str | None = None
    access_count: int = 0
    metadata: dict[str, Any] | None = None
    score: float | None = None
    actor_id: str | None = None
    role: str | None = None
    memory_type: str | None = None


class ActionResult(Result):
    """One change made by add(): ADD, UPDATE or DELETE (NONE is not reported)."""

    id: str
    memory: str
    event: Event
    action: Event
    old_value: str | None = None
    new_value: str | None = None


class Relation(Result):
    """A graph triple, with a score when it comes from search()."""

    source: str
    relationship: str
    destination: str
    score: float | None = None


class HistoryEvent(Result):
    """One audit row: what a memory was and became, and when."""

    id: str
    memory_id: str
    old_memory: str | None = None
    new_memory: str | None = None
    event: Event
    created_at: str
    updated_at: str | None = None
    is_deleted: bool = False
    actor_id: str | None = None
    role: str | None = None


class _Envelope(Result):
    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # dict-style: iterate keys
        return iter(self.keys())


class AddResult(_Envelope):
    results: list[ActionResult]
    relations: list[Relation] = []
    graph_error: str | None = None
    """Set when the graph path failed and the memory changes in ``results`` were kept (logged too)."""


class SearchResult(_Envelope):
    results: list[Item]
    memories: list[Item]
    relations: list[Relation] = []


class ListResult(_Envelope):
    results: list[Item]
    memories: list[Item]
    relations: list[Relation] | None = None


class MessageResult(_Envelope):
    message: str
