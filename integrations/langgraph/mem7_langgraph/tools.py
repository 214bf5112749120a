"""``save_memory`` and ``search_memory`` as LangChain tools over a mem7 engine.

The scope comes from :func:`memory_tools`' arguments, or else, at call time, from the run's
config: ``config={"configurable": {"user_id": "alice"}}`` (also ``agent_id`` / ``run_id``), so one
set of tools serves every user of a graph.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from mem7_core.frameworks import SCOPE_FIELDS, MemoryLike, memory_lines, scope_ids

from ._engine import Engine

__all__ = ["SCOPE_FIELDS", "memory_tools"]


class _SaveArgs(BaseModel):
    text: str = Field(description="The fact, preference or event to remember, in one or two sentences.")


class _SearchArgs(BaseModel):
    query: str = Field(description="What to look for in the memories.")
    limit: int = Field(5, ge=1, le=50, description="How many memories to return at most.")


def memory_tools(
    memory: MemoryLike,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    infer: bool = True,
) -> list[BaseTool]:
    """The tools ``[save_memory, search_memory]`` over ``memory`` (a mem7 ``Memory`` or ``AsyncMemory``).

    :param user_id: the scope the tools read and write; when no id is given here, each call takes
        them from ``config["configurable"]`` (``user_id`` / ``agent_id`` / ``run_id``).
    :param infer: passed to mem7's ``add``: with an LLM configured, ``True`` extracts facts and
        reconciles them with what is stored; ``False`` stores the text verbatim.
    """
    engine = Engine(memory, owner="memory_tools")
    fixed = scope_ids(user_id, agent_id, run_id)
    for k, v in fixed.items():
        if not isinstance(v, str) or not v:
            raise ValueError(f"memory_tools({k}=...) must be a non-empty string, got {v!r}")

    def scope_of(config: RunnableConfig | None, tool: str) -> dict[str, str]:
        if fixed:
            return dict(fixed)
        configurable: dict[str, Any] = dict((config or {}).get("configurable") or {})
        scope = {k: configurable[k] for k in SCOPE_FIELDS if isinstance(configurable.get(k), str) and configurable[k]}
        if not scope:
            raise ValueError(
                f"{tool}: no mem7 scope; pass user_id/agent_id/run_id to memory_tools(...) or run the graph "
                "with config={'configurable': {'user_id': ...}}"
            )
        return scope

    async def asave(text: str, config: RunnableConfig) -> str:
        out = await engine.add(text, scope_of(config, "save_memory"), infer=infer, metadata=None)
        changed = [r for r in out.get("results", []) if r.get("event") in ("ADD", "UPDATE", "DELETE")]
        if not changed:
            return "Nothing new to remember."
        return "\n".join(f"{r['event']}: {r.get('memory', '')} (id {r['id']})" for r in changed)

    async def asearch(query: str, config: RunnableConfig, limit: int = 5) -> str:
        found = await engine.search(query, scope_of(config, "search_memory"), limit=limit, filters=None)
        return memory_lines(found, empty="No memories found.")

    # Sync calls over an AsyncMemory raise run_sync's error, which says to use ainvoke.
    def save(text: str, config: RunnableConfig) -> str:
        return engine.run_sync(asave(text, config))

    def search(query: str, config: RunnableConfig, limit: int = 5) -> str:
        return engine.run_sync(asearch(query, config, limit))

    return [
        StructuredTool.from_function(
            func=save, coroutine=asave, name="save_memory", args_schema=_SaveArgs,
            description="Save a fact about the user or the task to long-term memory, to recall in later conversations.",
        ),
        StructuredTool.from_function(
            func=search, coroutine=asearch, name="search_memory", args_schema=_SearchArgs,
            description="Search long-term memory for facts saved earlier; returns the best matches, one a line.",
        ),
    ]
