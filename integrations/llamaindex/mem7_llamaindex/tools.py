"""``save_memory`` and ``search_memory``: LlamaIndex ``FunctionTool``s bound to a mem7 scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, Field
from llama_index.core.tools import FunctionTool

from mem7_core.frameworks import MemoryLike, ScopedMemory, action_lines, check_options, memory_lines

__all__ = ["memory_tools", "save_memory_tool", "search_memory_tool"]

_SAVE_DESCRIPTION = (
    "Save something worth remembering about the user for later conversations: a fact, a "
    "preference, a plan or a decision."
)
_SEARCH_DESCRIPTION = "Search what is remembered about the user from earlier conversations."


class _SaveArgs(BaseModel):
    text: str = Field(description="What to remember, as a short self-contained statement.")


class _SearchArgs(BaseModel):
    query: str = Field(description="What to look for, in plain words.")


def save_memory_tool(
    memory: MemoryLike,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    infer: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> FunctionTool:
    """A ``save_memory(text)`` tool that stores ``text`` in ``memory`` for this scope.

    :param infer: ``True`` (mem7's default): the engine's LLM extracts facts from the text and
        reconciles them with what is stored; ``False`` stores the text verbatim.
    :param metadata: stored with every memory the tool creates.
    :returns: the tool; its output tells the model what was stored, updated or deleted.
    """
    where = "save_memory_tool()"
    bound = ScopedMemory.of(where, memory, user_id, agent_id, run_id, metadata)
    check_options(where, infer=infer)

    async def save_memory(text: str) -> str:
        return action_lines(await bound.add(text, infer=infer))

    return FunctionTool.from_defaults(
        async_fn=save_memory, name="save_memory", description=_SAVE_DESCRIPTION, fn_schema=_SaveArgs
    )


def search_memory_tool(
    memory: MemoryLike,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    limit: int = 5,
    threshold: float | None = None,
) -> FunctionTool:
    """A ``search_memory(query)`` tool returning the scope's memories most relevant to ``query``.

    :param limit: at most this many memories per search.
    :param threshold: leave out memories scoring below it (see mem7's ``search``).
    :returns: the tool; its output is one ``- memory`` line each, best first, or a sentence saying
        none matched.
    """
    where = "search_memory_tool()"
    bound = ScopedMemory.of(where, memory, user_id, agent_id, run_id)
    check_options(where, limit=limit)

    async def search_memory(query: str) -> str:
        found = await bound.search(query, limit=limit, threshold=threshold)
        return memory_lines(found["results"], empty="No memories matched.")

    return FunctionTool.from_defaults(
        async_fn=search_memory, name="search_memory", description=_SEARCH_DESCRIPTION, fn_schema=_SearchArgs
    )


def memory_tools(
    memory: MemoryLike,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    infer: bool = True,
    limit: int = 5,
    threshold: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> list[FunctionTool]:
    """``[save_memory, search_memory]`` (see :func:`save_memory_tool`, :func:`search_memory_tool`),
    for ``FunctionAgent(tools=...)`` / ``ReActAgent(tools=...)``."""
    return [
        save_memory_tool(memory, user_id=user_id, agent_id=agent_id, run_id=run_id, infer=infer, metadata=metadata),
        search_memory_tool(memory, user_id=user_id, agent_id=agent_id, run_id=run_id, limit=limit,
                           threshold=threshold),
    ]
