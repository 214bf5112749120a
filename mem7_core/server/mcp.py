"""The MCP server (``mem7 mcp``): memory tools for an MCP host (Claude Desktop, IDEs), over stdio.

Tools, each returning the Python API's result as JSON:

- ``add_memory(text, user_id?, agent_id?, run_id?, metadata?, infer?, timestamp?)`` → ``{"results": [...]}``
- ``search_memories(query, user_id?, agent_id?, run_id?, limit?, filters?, threshold?, now?, explain?)``
  → ``{"results": [...]}`` (``explain``: each result's ``score_parts`` and ``score_steps``)
- ``list_memories(user_id?, agent_id?, run_id?, limit?, filters?)`` → ``{"results": [...]}``
- ``delete_memory(memory_id, user_id?, agent_id?, run_id?)`` → ``{"message": ...}``

A tool call naming no scope uses the server's default scope: ``mem7 mcp --user/--agent/--run``,
else the CLI's default user (``$MEM7_USER_ID``, else the OS user name). ``mem7 mcp --pin-user ID``
(``--pin-agent``, ``--pin-run``; ``pin=`` here) confines every tool call to that scope, like a pinned
REST token (:func:`.auth.pinned_scope`): naming another id for a pinned key is refused with an error
result naming the pin, an omitted pinned key takes the pinned value, so memories of other scopes are
never found. Recommended for MCP hosts: the model, not the user, chooses the tool arguments. Every
malformed JSON-RPC line gets an error response (:mod:`.mcp_stdio`). The engine is built when
the session starts (the SDK's lifespan) and closed when it ends. Built on the official MCP Python
SDK (``mem7-core[mcp]``): ``MCPServer`` in mcp 2, ``FastMCP`` in mcp 1, whose tool API is the same.
stdout carries the protocol, so everything else (logs, notices) goes to stderr.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypedDict, cast

from ..config import MemoryConfig
from ..engine.memory import AsyncMemory
from ..errors import Mem7Error
from ..models import SCOPE_KEYS, AddResult, ListResult, MessageResult, Result, SearchResult
from .auth import Pin, Principal, ScopeForbidden, pinned_scope
from .schemas import Timestamp

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    # Checked against whichever mcp is installed: with mcp 2 these names are missing (attr-defined),
    # without mcp at all the modules are (import-not-found); only some of the codes fire.
    from mcp.server.fastmcp import (  # type: ignore[no-redef,import-not-found,attr-defined,unused-ignore]
        FastMCP as _Server,
    )
    from mcp.server.fastmcp.exceptions import (  # type: ignore[no-redef,import-not-found,attr-defined,unused-ignore]
        ToolError,
    )


class _ScopeIds(TypedDict, total=False):
    """The scope keyword arguments of the engine's methods (only the ids that are set)."""

    user_id: str
    agent_id: str
    run_id: str


INSTRUCTIONS = (
    "Long-term memory. Call search_memories before answering questions that may depend on what the "
    "user said in earlier conversations; call add_memory with facts worth remembering (preferences, "
    "plans, personal details). Memories are scoped per user, agent and run."
)


def _dump(result: Mapping[str, Any], model: type[Result]) -> dict[str, Any]:
    """The engine's result dict in the tools' shape: the REST shape (no ``None`` keys, no mem0 aliases)."""
    return model.model_validate(result).model_dump(mode="json", exclude_none=True)


@contextmanager
def _tool_errors() -> Iterator[None]:
    """Bad input and provider failures reach the model as the tool's error text (the SDK hides
    the message of any other exception, treating it as a crash)."""
    try:
        yield
    except (Mem7Error, ValueError) as exc:
        raise ToolError(" ".join(str(exc).split()) or type(exc).__name__) from exc


class _Holder:
    """The engine of the running session (set by the lifespan, read by the tools)."""

    memory: AsyncMemory | None = None

    def get(self) -> AsyncMemory:
        if self.memory is None:
            raise RuntimeError("the mem7 engine is not running")
        return self.memory


def build_server(
    config: MemoryConfig, *, default_scope: Mapping[str, str] | None = None, pin: Pin | Mapping[str, str] | None = None
) -> Any:
    """The MCP server object (not yet running); ``.run("stdio")`` serves it.

    :param default_scope: used by a tool call that names no scope id at all.
    :param pin: confine every tool call to this scope (``{"user_id": "alice"}``; see the module doc).
    """
    holder = _Holder()
    defaults = {k: v for k, v in (default_scope or {}).items() if v is not None}
    caller = Principal(pin=pin if pin is None or isinstance(pin, Pin) else Pin.model_validate(dict(pin)))

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        holder.memory = await AsyncMemory.create(config)
        try:
            yield None
        finally:
            memory, holder.memory = holder.memory, None
            await memory.aclose()

    server = _Server("mem7", instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING")

    def scope(
        user_id: str | None, agent_id: str | None, run_id: str | None, filters: Mapping[str, Any] | None = None
    ) -> _ScopeIds:
        given = {k: v for k, v in zip(SCOPE_KEYS, (user_id, agent_id, run_id)) if v}
        try:
            ids = pinned_scope(caller, given or defaults, filters)
        except ScopeForbidden as exc:
            raise ToolError("refused: " + str(exc).replace("this token is", "this MCP server is", 1)) from None
        # pinned_scope returns exactly the SCOPE_KEYS, i.e. _ScopeIds' keys.
        return cast(_ScopeIds, {k: v for k, v in ids.items() if v is not None})

    @server.tool(description="Remember text for a scope; with an LLM configured, facts are extracted and "
                             "reconciled with what is already stored (ADD / UPDATE / DELETE).")
    async def add_memory(
        text: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        timestamp: Timestamp = None,
    ) -> dict[str, Any]:
        """``timestamp``: when it was said, for an old conversation (ISO-8601, no offset = UTC, or Unix
        epoch seconds); default now."""
        memory = holder.get()
        infer = infer and memory.llm is not None
        with _tool_errors():
            added = await memory.add(
                text, **scope(user_id, agent_id, run_id), metadata=metadata, infer=infer, timestamp=timestamp
            )
            return _dump(added, AddResult)

    @server.tool(description="The memories most relevant to a query, best first, with scores.")
    async def search_memories(
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: dict[str, Any] | None = None,
        threshold: float | None = None,
        now: Timestamp = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        with _tool_errors():
            result = await holder.get().search(
                query, **scope(user_id, agent_id, run_id, filters), limit=limit, filters=filters, threshold=threshold,
                now=now, explain=explain,
            )
        dumped = _dump(result, SearchResult)  # the results, and what the search cost (``usage``)
        return {k: dumped[k] for k in ("results", "usage") if k in dumped}

    @server.tool(description="Every memory of a scope, oldest first.")
    async def list_memories(
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with _tool_errors():
            result = await holder.get().get_all(
                **scope(user_id, agent_id, run_id, filters), limit=limit, filters=filters
            )
        return {"results": _dump(result, ListResult)["results"]}

    @server.tool(description="Delete one memory by id (only within the given or default scope).")
    async def delete_memory(
        memory_id: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        ids = scope(user_id, agent_id, run_id)
        if not ids:  # no default scope either: an id alone would reach a memory of any scope
            raise ToolError(
                "delete_memory needs user_id, agent_id or run_id: a memory is deleted only within its scope"
            )
        with _tool_errors():
            return _dump(await holder.get().delete(memory_id, **ids), MessageResult)

    return server


def run_stdio(
    config: MemoryConfig, *, default_scope: Mapping[str, str] | None = None, pin: Pin | Mapping[str, str] | None = None
) -> None:
    """Serve the tools over stdin/stdout until the client closes the session (malformed lines answered)."""
    import anyio

    from .mcp_stdio import serve_stdio

    anyio.run(serve_stdio, build_server(config, default_scope=default_scope, pin=pin))


__all__ = ["INSTRUCTIONS", "build_server", "run_stdio"]
