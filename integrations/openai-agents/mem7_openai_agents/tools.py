"""``save_memory`` and ``search_memory``: OpenAI Agents SDK function tools bound to a mem7 scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import FunctionTool, RunContextWrapper, default_tool_error_function, function_tool

from mem7_core import ConfigError, ProviderError
from mem7_core.frameworks import MemoryLike, ScopedMemory, action_lines, check_options, memory_lines

__all__ = ["memory_tools", "save_memory_tool", "search_memory_tool"]


def _tool_error(ctx: RunContextWrapper[Any], error: Exception) -> str:
    """What the model is told when a tool call fails.

    mem7's errors about the call's own arguments (an empty query, text over the size limit: a
    ``ValueError`` naming the field) are shown, so the model can correct its call; anything else
    (a provider or configuration failure) gets the SDK's generic message, as the SDK's default does,
    and is logged by the SDK.
    """
    if isinstance(error, ValueError) and not isinstance(error, (ConfigError, ProviderError)):
        return f"The memory tool refused the call: {error}"
    return default_tool_error_function(ctx, error)


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
        reconciles them with what is stored (a fact already known is not stored twice, a changed
        one is updated); ``False`` stores the text verbatim. Without an LLM configured mem7 stores
        verbatim either way.
    :param metadata: stored with every memory the tool creates.
    :returns: the tool; its output tells the model what was stored, updated or deleted.
    """
    bound = ScopedMemory.of("save_memory_tool()", memory, user_id, agent_id, run_id, metadata)
    check_options("save_memory_tool()", infer=infer)

    @function_tool(name_override="save_memory", failure_error_function=_tool_error)
    async def save_memory(text: str) -> str:
        """Save something worth remembering about the user for later conversations: a fact, a
        preference, a plan or a decision.

        Args:
            text: what to remember, as a short self-contained statement.
        """
        return action_lines(await bound.add(text, infer=infer))

    return save_memory


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
    :returns: the tool; its output is one memory a line, best first, or a sentence saying none matched.
    """
    bound = ScopedMemory.of("search_memory_tool()", memory, user_id, agent_id, run_id)
    check_options("search_memory_tool()", limit=limit)

    @function_tool(name_override="search_memory", failure_error_function=_tool_error)
    async def search_memory(query: str) -> str:
        """Search what is remembered about the user from earlier conversations.

        Args:
            query: what to look for, in plain words.
        """
        found = await bound.search(query, limit=limit, threshold=threshold)
        return memory_lines(found["results"], empty="No memories matched.")

    return search_memory


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
    """``[save_memory, search_memory]`` bound to ``memory`` and one scope, for ``Agent(tools=...)``.

    At least one of ``user_id``, ``agent_id``, ``run_id`` is required. See :func:`save_memory_tool`
    and :func:`search_memory_tool` for the other arguments.
    """
    return [
        save_memory_tool(memory, user_id=user_id, agent_id=agent_id, run_id=run_id, infer=infer, metadata=metadata),
        search_memory_tool(memory, user_id=user_id, agent_id=agent_id, run_id=run_id, limit=limit, threshold=threshold),
    ]
