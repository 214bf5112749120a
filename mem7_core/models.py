"""Data shapes: the engine's result models (pydantic) and what providers exchange (slotted dataclasses).

The public API returns plain dicts (typed in :mod:`mem7_core.results`); the pydantic models here
are what the engine builds internally, what history stores exchange (:class:`HistoryEvent`) and
what the REST server declares as its response schemas. :meth:`Result.to_dict` is the conversion at
the public boundary. Records passed between the engine and providers are plain dataclasses: they
sit on the hot path, where per-call validation would cost more than the store itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

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
    """Base of the engine's result models; :meth:`to_dict` gives the public (plain dict) shape.

    The dict keeps every key of the model, ``None`` included, except the keys named in
    ``optional_keys``, which are left out when ``None`` (the original mem7's optional keys, e.g.
    an item's ``score`` outside search). Extra keys are ignored on validation, so a public dict
    (which may carry mem0's aliases, such as ``previous_memory``) validates back into its model:
    the REST server relies on that to keep its response shapes.
    """

    model_config = ConfigDict(extra="ignore")

    optional_keys: ClassVar[frozenset[str]] = frozenset()

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None) if key in type(self).model_fields else None
        return default if value is None else value

    def keys(self) -> list[str]:
        return [k for k in type(self).model_fields if k not in self.optional_keys or getattr(self, k) is not None]

    def to_dict(self) -> dict[str, Any]:
        """The public shape: a plain, JSON-serialisable dict (nested results converted too)."""
        out: dict[str, Any] = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            if value is None and key in self.optional_keys:
                continue
            out[key] = plain(value)
        return out


def plain(value: Any) -> Any:
    """``value`` with every :class:`Result` in it turned into its dict, and containers copied."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class ScoreStepResult(Result):
    """One step of a search result's score (``explain``); :class:`mem7_core.results.ScoreStep`."""

    step: str
    op: Literal["add", "multiply", "set"]
    value: float
    score: float


class Item(Result):
    """A stored memory as returned by get / get_all / search."""

    optional_keys: ClassVar[frozenset[str]] = frozenset(
        {"metadata", "score", "actor_id", "role", "memory_type", "score_parts", "score_steps"}
    )

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
    score_parts: dict[str, float] | None = None
    """``search(..., explain=True)`` only: the named numbers behind ``score``."""
    score_steps: list[ScoreStepResult] | None = None
    """``search(..., explain=True)`` only: how ``score_parts`` combine into ``score``, in order."""


class ActionResult(Result):
    """One change made by add(): ADD, UPDATE or DELETE (NONE is not reported).

    The public dict adds mem0's keys: ``previous_memory`` (= ``old_value``) on an UPDATE, and
    ``actor_id`` / ``role`` on an ADD of ``add(..., infer=False)`` (set with :meth:`with_author`).
    They are not fields, so the REST schema (which declares this model) keeps its shape.
    """

    id: str
    memory: str
    event: Event
    action: Event
    old_value: str | None = None
    new_value: str | None = None

    _author: dict[str, str | None] | None = PrivateAttr(default=None)

    def with_author(self, role: str | None, actor_id: str | None) -> ActionResult:
        """Mark a verbatim ADD: its dict carries the message's ``role`` and ``actor_id``."""
        self._author = {"actor_id": actor_id, "role": role}
        return self

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.event == "UPDATE":
            out["previous_memory"] = self.old_value
        if self._author is not None:
            out.update(self._author)
        return out


class Relation(Result):
    """A graph triple, with a score when it comes from search()."""

    source: str
    relationship: str
    destination: str
    score: float | None = None

    optional_keys: ClassVar[frozenset[str]] = frozenset({"score"})


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
    stated_at: str | None = None
    """When the change says it happened: the ``timestamp`` its ``add`` was given (``created_at``
    stays the wall-clock time of the write). ``None`` (and left out of the public dict, so the
    spec's shape is unchanged) for changes made without one."""

    optional_keys: ClassVar[frozenset[str]] = frozenset({"stated_at"})


class ModelUsage(Result):
    """Calls and tokens of one model in an operation (or in the engine's totals)."""

    kind: Literal["llm", "embedder"]
    provider: str
    """The provider's name (``openai`` also for its aliases, such as ``ollama``)."""
    model: str | None = None
    calls: int
    """Successful ``generate`` / ``embed`` calls (a shared embedding request counts once, for the
    operation that opened it)."""
    texts: int = 0
    """Texts embedded (embedders)."""
    prompt_tokens: int | None = None
    """LLM input tokens, as the service answered; ``None`` when it answered none."""
    completion_tokens: int | None = None
    embedding_tokens: int | None = None
    """Embedding input tokens; ``None`` when the embedder reports none (local models)."""


class UsageReport(Result):
    """What an operation's model calls used (``usage`` in its result), or an engine's running totals."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    embedding_tokens: int
    total_tokens: int
    """The three above added up."""
    models: list[ModelUsage]
    """One entry per ``(kind, provider, model)``, LLMs first."""


class _Envelope(Result):
    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # dict-style: iterate keys
        return iter(self.keys())


class AddResult(_Envelope):
    results: list[ActionResult]
    relations: list[Relation] = []
    graph_error: str | None = None
    """Set when the graph path failed and the memory changes in ``results`` were kept (logged too)."""
    usage: UsageReport | None = None
    """The add's model calls and tokens (absent when it called no model)."""

    optional_keys: ClassVar[frozenset[str]] = frozenset({"graph_error", "usage"})


class SearchResult(_Envelope):
    results: list[Item]
    memories: list[Item]
    relations: list[Relation] = []
    usage: UsageReport | None = None
    """The search's model calls and tokens (absent when it called no model)."""

    optional_keys: ClassVar[frozenset[str]] = frozenset({"usage"})


class ListResult(_Envelope):
    results: list[Item]
    memories: list[Item]
    relations: list[Relation] | None = None

    optional_keys: ClassVar[frozenset[str]] = frozenset({"relations"})


class MessageResult(_Envelope):
    message: str


class UpdateResult(MessageResult):
    """``update``: the message, and the re-embedding's usage."""

    usage: UsageReport | None = None

    optional_keys: ClassVar[frozenset[str]] = frozenset({"usage"})
