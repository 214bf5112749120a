"""Request bodies of the REST API: the keyword arguments of ``AsyncMemory``'s methods, as JSON.

Responses reuse the engine's own result models (:mod:`mem7_core.models`), so a REST client gets
exactly the shapes the Python API returns. Bounds here (``limit`` at most :data:`MAX_LIMIT`) are
server policy: one request should not be able to ask a store for an unbounded result set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from ..ids import parse_instant
from ..models import MemoryType, TaskType

MAX_LIMIT = 10_000


def _scope_id() -> Any:
    return Field(None, min_length=1, description="scope id (add/search/list/delete-all need at least one)")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _checked_instant(value: Any, info: ValidationInfo) -> Any:
    """A time field (``timestamp``, ``now``) checked by the engine's parser before pydantic's own
    coercion, which would take a JSON ``true`` as the integer 1 (1970)."""
    if value is not None:
        parse_instant(value, info.field_name or "time")
    return value


Timestamp = Annotated[str | int | float | None, BeforeValidator(_checked_instant)]
"""A caller's time in a request body or tool argument: what :func:`mem7_core.ids.parse_instant` accepts."""


class Message(_Body):
    """One chat message; ``content`` may be a list of parts (text, ``image_url``)."""

    role: Literal["system", "user", "assistant", "tool"] = "user"
    content: str | list[dict[str, Any]] = ""
    name: str | None = None


class ScopeFields(_Body):
    user_id: str | None = _scope_id()
    agent_id: str | None = _scope_id()
    run_id: str | None = _scope_id()


class AddRequest(ScopeFields):
    """``add(messages, ...)``: a string, one message, or a list of messages / strings."""

    messages: str | Message | list[str | Message]
    metadata: dict[str, Any] | None = None
    filters: dict[str, Any] | None = Field(None, description="scope ids the mem0 way ({'user_id': ...})")
    infer: bool = True
    memory_type: MemoryType | None = None
    prompt: str | None = Field(None, description="a fact-extraction prompt for this call only")
    timestamp: Timestamp = Field(
        None,
        description="when the conversation happened (importing an old one): ISO-8601 (no offset means UTC; a "
        "date means its midnight UTC) or Unix epoch seconds; dates the memories this add writes and the LLM's "
        "'today' (default: the server's clock)",
        examples=["2023-05-08T13:56:00Z"],
    )


class SearchRequest(ScopeFields):
    query: str = Field(min_length=1)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    top_k: int | None = Field(None, ge=1, le=MAX_LIMIT, description="mem0's name for limit (give one of the two)")
    filters: dict[str, Any] | None = None
    rerank: bool = True
    threshold: float | None = None
    task_type: TaskType | None = None
    now: Timestamp = Field(
        None,
        description="search as of this time: ISO-8601 (no offset means UTC) or Unix epoch seconds; what 'last "
        "week' in the query counts from, and the decay clock (default: the server's clock)",
    )
    explain: bool = Field(
        False,
        description="give each result score_parts (the named numbers behind its score: dense, keyword, decay, "
        "context, rerank...) and score_steps (from 0, add / multiply / set in order give the score)",
    )
    rehearse: bool = Field(
        True,
        description="with decay on, count this search as an access of what it returns (access count + 1, "
        "last access stamped); false looks without writing anything",
    )


class ListRequest(ScopeFields):
    """``get_all`` with filters in a body (``GET /memories`` takes them as a JSON query parameter)."""

    filters: dict[str, Any] | None = None
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


class UpdateRequest(ScopeFields):
    """``update(memory_id, text, metadata=...)``; scope ids restrict which memory may be changed."""

    text: str = Field(min_length=1)
    metadata: dict[str, Any] | None = None


class ImportRequest(_Body):
    """``import_memories(items, on_conflict=...)``: memories restored verbatim (unrestricted tokens only)."""

    items: list[dict[str, Any]] = Field(
        max_length=MAX_LIMIT,
        description="memories as GET /memories returns them: memory, scope ids, optional id, metadata, timestamps",
    )
    on_conflict: Literal["skip", "replace", "error"] = Field(
        "skip", description="an id already stored: keep it (skip), overwrite it (replace) or refuse the request (409)"
    )


class ErrorBody(BaseModel):
    """Every non-validation error: a readable message, plus the provider at fault for 502/503."""

    detail: str
    provider: str | None = None


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


__all__ = [
    "MAX_LIMIT",
    "AddRequest",
    "ErrorBody",
    "Health",
    "ImportRequest",
    "ListRequest",
    "Message",
    "ScopeFields",
    "SearchRequest",
    "UpdateRequest",
]
