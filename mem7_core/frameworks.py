"""What agent-framework integrations (``integrations/<name>``) share: checking the arguments they
are given, calling either engine from async code, and the text their tools hand to a model.

- :func:`check_memory` / :func:`check_sync_memory`, :func:`check_scope`, :func:`check_options`:
  argument checks whose errors name the call, the field and the fix;
- :func:`scope_ids`: the ``user_id`` / ``agent_id`` / ``run_id`` given, as keyword arguments;
- :func:`call` and :class:`ScopedMemory`: one async face over ``AsyncMemory`` (awaited on the
  caller's event loop) and the sync ``Memory`` (which runs its engine on a loop thread of its own,
  so from async code each call goes to a worker thread and never blocks the caller's loop);
- :func:`memory_lines` and :func:`action_lines`: ``search`` and ``add`` results as text lines.

The module uses only mem7's public API (``Memory``, ``AsyncMemory`` and the result types), so an
integration written outside this repository can use it as the first-party ones do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine.memory import AsyncMemory
from .engine.sync import Memory
from .results import AddResponse, SearchResponse

__all__ = [
    "SCOPE_FIELDS",
    "MemoryLike",
    "ScopedMemory",
    "action_lines",
    "call",
    "check_memory",
    "check_options",
    "check_scope",
    "check_sync_memory",
    "memory_lines",
    "scope_ids",
]

MemoryLike = Memory | AsyncMemory
"""A mem7 engine an integration is given: ``AsyncMemory`` or the sync ``Memory``."""

SCOPE_FIELDS = ("user_id", "agent_id", "run_id")
"""The scope ids of mem7's ``add`` / ``search`` / ``get_all``, in order."""


# ------------------------------------------------------------------------------------ checks
def check_memory(where: str, memory: object) -> MemoryLike:
    """``memory`` if it is a mem7 ``Memory`` or ``AsyncMemory``, else ``TypeError``.

    :param where: the call being checked (e.g. ``"save_memory_tool()"``), first in the message.
    """
    if not isinstance(memory, (Memory, AsyncMemory)):
        raise TypeError(
            f"{where}: memory must be a mem7 Memory or AsyncMemory (from mem7_core or mem7), "
            f"got {type(memory).__name__}; build one with e.g. AsyncMemory(config)"
        )
    return memory


def check_sync_memory(where: str, memory: object, *, why: str) -> Memory:
    """``memory`` if it is a sync mem7 ``Memory``, else ``TypeError``.

    :param why: why an ``AsyncMemory`` will not do (e.g. "the framework calls its memory from its
        own threads"), said when one is given.
    """
    if isinstance(memory, AsyncMemory):
        raise TypeError(
            f"{where}: memory must be a mem7 Memory (sync), got an AsyncMemory; {why}: use mem7_core.Memory(config)"
        )
    if not isinstance(memory, Memory):
        raise TypeError(
            f"{where}: memory must be a mem7 Memory (from mem7_core or mem7), got "
            f"{type(memory).__name__}; build one with e.g. mem7_core.Memory(config)"
        )
    return memory


def check_scope(where: str, user_id: object, agent_id: object, run_id: object) -> dict[str, str]:
    """The scope ids given, as ``add`` / ``search`` keyword arguments.

    :raises ValueError: an id is not a non-empty string, or none is given.
    """
    scope: dict[str, str] = {}
    for name, value in zip(SCOPE_FIELDS, (user_id, agent_id, run_id), strict=True):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: {name} must be a non-empty string or None, got {value!r}")
        scope[name] = value
    if not scope:
        raise ValueError(
            f"{where}: no scope given; pass user_id=, agent_id= and/or run_id= "
            "(memories are stored and searched per scope)"
        )
    return scope


def check_options(where: str, *, infer: object = True, limit: object = 1, metadata: object = None) -> dict[str, Any]:
    """``infer`` a bool, ``limit`` a positive int, ``metadata`` a mapping or None (each checked only
    when given); returns a copy of the metadata (``{}`` for None)."""
    if not isinstance(infer, bool):
        raise TypeError(f"{where}: infer must be True or False, got {infer!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"{where}: limit must be a positive int, got {limit!r}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"{where}: metadata must be a mapping or None, got {type(metadata).__name__}")
    return dict(metadata or {})


def scope_ids(user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None) -> dict[str, str]:
    """The ids that are set, as ``add`` / ``search`` keyword arguments (unchecked: see :func:`check_scope`)."""
    ids = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    return {k: v for k, v in ids.items() if v is not None}


# ------------------------------------------------------------------------------------ calls
async def call(memory: MemoryLike, method: str, /, *args: Any, **kwargs: Any) -> Any:
    """``memory.<method>(*args, **kwargs)`` from async code: awaited for an ``AsyncMemory``, in a
    worker thread (``asyncio.to_thread``) for the sync ``Memory``."""
    bound = getattr(memory, method)
    if isinstance(memory, AsyncMemory):
        return await bound(*args, **kwargs)
    return await asyncio.to_thread(bound, *args, **kwargs)


@dataclass(frozen=True)
class ScopedMemory:
    """A mem7 engine, the scope every call is made in, and metadata stored with every ``add``."""

    memory: MemoryLike
    scope: Mapping[str, str]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        where: str,
        memory: object,
        user_id: object = None,
        agent_id: object = None,
        run_id: object = None,
        metadata: object = None,
    ) -> ScopedMemory:
        """Checks the arguments (:func:`check_memory`, :func:`check_scope`, :func:`check_options`),
        naming ``where``, the one that is wrong and how to fix it."""
        engine = check_memory(where, memory)
        scope = check_scope(where, user_id, agent_id, run_id)
        return cls(engine, scope, check_options(where, metadata=metadata))

    async def add(self, messages: Any, *, infer: bool, metadata: Mapping[str, Any] | None = None) -> AddResponse:
        """mem7's ``add`` in this scope; ``metadata`` is merged over the instance's (``None`` when both are empty)."""
        meta = {**self.metadata, **(metadata or {})} or None
        result: AddResponse = await call(self.memory, "add", messages, **self.scope, infer=infer, metadata=meta)
        return result

    async def search(
        self, query: str, *, limit: int, threshold: float | None = None, filters: Mapping[str, Any] | None = None
    ) -> SearchResponse:
        """mem7's ``search`` in this scope."""
        found: SearchResponse = await call(
            self.memory, "search", query, **self.scope, limit=limit, threshold=threshold, filters=filters
        )
        return found


# ------------------------------------------------------------------------------------ text
def memory_lines(items: Iterable[Mapping[str, Any]], *, empty: str = "") -> str:
    """One ``- <memory>`` line per item (``search`` results, best first), or ``empty`` when there are none."""
    return "\n".join(f"- {item['memory']}" for item in items) or empty


def action_lines(result: AddResponse, *, empty: str = "Nothing new to remember: this is already known.") -> str:
    """One ``<EVENT>: <memory>`` line per action of an ``add`` (``ADD: Alice likes tea``), or
    ``empty`` when it changed nothing."""
    return "\n".join(f"{a['event']}: {a['memory']}" for a in result["results"]) or empty
