"""The public result shapes: plain dicts, typed with ``TypedDict`` for editors and type checkers.

Every public method of :class:`~mem7_core.AsyncMemory` / :class:`~mem7_core.Memory` returns one
of these (or a list of them): ``type(r) is dict``, ``json.dumps(r)`` works. The key sets are the
original mem7's: keys it always returns are always present, ``None`` when unset (``user_id``,
``old_value``, ...); its optional keys (an item's ``score``, ``metadata``, ...) appear only when
they have a value. mem0's keys are added where they do not conflict: ``previous_memory`` on an
UPDATE, ``actor_id`` / ``role`` on an ADD made with ``infer=False``; ``event`` (mem0) and
``action`` (the original) both name the change.

Internally the engine builds the pydantic models of :mod:`mem7_core.models` and converts them
with ``.to_dict()`` at the public boundary.

(No ``from __future__ import annotations`` here: ``TypedDict`` needs the real ``NotRequired`` at
class creation to tell required keys from optional ones.)
"""

from typing import Any, Literal, NotRequired, TypedDict

EventName = Literal["ADD", "UPDATE", "DELETE"]


class ScoreStep(TypedDict):
    """One step of how a search result's ``score`` was computed (``search(..., explain=True)``).

    Start from 0 and apply the steps in order: ``add`` adds ``value``, ``multiply`` multiplies by
    it, ``set`` replaces the running score with it (a reranker's score). ``score`` is the running
    score after the step, as the engine had it; the last step's is the result's ``score``.
    """

    step: str
    """What contributed: ``dense``, ``keyword``, ``expansion``, ``rerank``, or a scorer's name."""
    op: Literal["add", "multiply", "set"]
    value: float
    score: float


class MemoryItem(TypedDict):
    """A stored memory, as ``get`` / ``get_all`` / ``search`` / ``export_memories`` return it."""

    id: str
    memory: str
    """The text (mem0's name)."""
    text: str
    """The text (the original mem7's name); always equal to ``memory``."""
    hash: str
    """md5 hex of the text."""
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    created_at: str | None
    updated_at: str | None
    last_accessed_at: str | None
    access_count: int
    metadata: NotRequired[dict[str, Any]]
    """The caller's metadata; absent when there is none."""
    score: NotRequired[float]
    """Relevance, higher is better; only in ``search`` results."""
    actor_id: NotRequired[str]
    role: NotRequired[str]
    """The message's role; set on memories stored with ``infer=False``."""
    memory_type: NotRequired[str]
    """factual / preference / procedural / episodic; absent for verbatim adds without a type."""
    score_parts: NotRequired[dict[str, float]]
    """``search(..., explain=True)`` only: the named numbers behind ``score`` (``dense``, ``keyword``,
    ``decay``, ...; see docs/concepts.md, "Why a result scored what it scored")."""
    score_steps: NotRequired[list[ScoreStep]]
    """``search(..., explain=True)`` only: how the parts combine into ``score``, in order."""


class MemoryAction(TypedDict):
    """One change made by ``add``: ADD, UPDATE or DELETE (a NONE decision is never reported)."""

    id: str
    memory: str
    """``new_value``, else ``old_value`` (a DELETE reports the deleted text)."""
    event: EventName
    action: EventName
    """Same as ``event`` (the original mem7's name)."""
    old_value: str | None
    new_value: str | None
    previous_memory: NotRequired[str | None]
    """mem0's key, on an UPDATE only: the text before the change (= ``old_value``)."""
    actor_id: NotRequired[str | None]
    """mem0's key, on an ADD of ``infer=False`` only: the message's ``name``, else ``None``."""
    role: NotRequired[str]
    """mem0's key, on an ADD of ``infer=False`` only: the message's role."""


class GraphRelationResult(TypedDict):
    """A graph triple; ``score`` only in ``search`` results."""

    source: str
    relationship: str
    destination: str
    score: NotRequired[float]


class HistoryEntry(TypedDict):
    """One audit event of a memory (``history``), oldest first."""

    id: str
    memory_id: str
    old_memory: str | None
    new_memory: str | None
    event: EventName
    created_at: str
    updated_at: str | None
    is_deleted: bool
    actor_id: str | None
    role: str | None
    stated_at: NotRequired[str]
    """The ``timestamp`` the change's ``add`` was given (``created_at`` is when it was written);
    present only then."""


class ModelUsage(TypedDict):
    """Calls and tokens of one model (``kind``, ``provider``, ``model``) in a :class:`UsageReport`."""

    kind: Literal["llm", "embedder"]
    provider: str
    model: str | None
    calls: int
    """Successful ``generate`` / ``embed`` calls; a shared embedding request counts once, for the
    operation that opened it."""
    texts: int
    """Texts embedded (``0`` for an LLM)."""
    prompt_tokens: int | None
    """LLM input tokens as the service answered them; ``None``: it answered none."""
    completion_tokens: int | None
    embedding_tokens: int | None
    """Embedding input tokens; ``None``: the embedder reports none (local models count calls and texts)."""


class UsageReport(TypedDict):
    """What model calls used: an operation's ``usage``, or the engine's running totals
    (``AsyncMemory.usage``). The totals add up every entry of ``models`` (``None`` counts 0)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    embedding_tokens: int
    total_tokens: int
    """``prompt_tokens + completion_tokens + embedding_tokens``."""
    models: list[ModelUsage]


class AddResponse(TypedDict):
    """``add``: the changes made, and the graph's new or bumped triples (``[]`` without a graph)."""

    results: list[MemoryAction]
    relations: list[GraphRelationResult]
    graph_error: NotRequired[str]
    """Only when the graph path failed and the memory changes in ``results`` were kept."""
    usage: NotRequired[UsageReport]
    """The add's model calls and tokens; absent when it called no model."""


class SearchResponse(TypedDict):
    """``search``: ``results`` and ``memories`` are the same list, best first."""

    results: list[MemoryItem]
    memories: list[MemoryItem]
    relations: list[GraphRelationResult]
    usage: NotRequired[UsageReport]
    """The search's model calls and tokens; absent when it called no model (keyword-only search)."""


class ListResponse(TypedDict):
    """``get_all``: ``results`` and ``memories`` are the same list, oldest first."""

    results: list[MemoryItem]
    memories: list[MemoryItem]
    relations: NotRequired[list[GraphRelationResult]]
    """Only when a graph store is configured."""


class MessageResponse(TypedDict):
    """``update`` / ``delete`` / ``delete_all`` / ``reset``."""

    message: str
    usage: NotRequired[UsageReport]
    """``update`` only: the new text's embedding call."""


class ImportResponse(TypedDict):
    """``import_memories``: memories newly stored, stored ones replaced, items skipped."""

    imported: int
    replaced: int
    skipped: int
    usage: NotRequired[UsageReport]
    """The embedding calls; absent when nothing was embedded."""


__all__ = [
    "AddResponse",
    "EventName",
    "GraphRelationResult",
    "HistoryEntry",
    "ImportResponse",
    "ListResponse",
    "MemoryAction",
    "MemoryItem",
    "MessageResponse",
    "ScoreStep",
    "SearchResponse",
]
