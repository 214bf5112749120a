"""``mem7 mcp`` driven by the official MCP Python SDK's client over stdio (a real subprocess).

The server runs the embedded default on the hash embedder, without an LLM (adds are verbatim);
one session lists the tools and calls each of them, and the data persists for the next session.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from _serve import clean_env, mem7_exe

mcp = pytest.importorskip("mcp", reason="the MCP server needs mem7-core[mcp]")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402


@asynccontextmanager
async def session(data: Path, *args: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=mem7_exe(), args=["mcp", *args], env=clean_env(data))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        yield client


def _error(result: Any) -> bool:
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


async def call(client: ClientSession, tool: str, **arguments: Any) -> Any:
    """Call a tool and return its JSON result (the text content: the same in every SDK version)."""
    result = await client.call_tool(tool, arguments)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert not _error(result), f"{tool} failed: {text}"
    return json.loads(text)


async def call_error(client: ClientSession, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert _error(result), f"{tool} should have failed"
    return "".join(getattr(c, "text", "") for c in result.content)


async def test_tools_add_search_list_delete_over_stdio(tmp_path: Path) -> None:
    async with session(tmp_path, "--user", "mia") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"add_memory", "search_memories", "list_memories", "delete_memory"} <= set(tools)
        schema = tools["add_memory"].input_schema if hasattr(tools["add_memory"], "input_schema") else \
            tools["add_memory"].inputSchema
        assert schema["required"] == ["text"] and "user_id" in schema["properties"]

        added = await call(client, "add_memory", text="I take my coffee black", metadata={"topic": "food"})
        [action] = added["results"]
        assert action["event"] == "ADD" and action["memory"] == "I take my coffee black"
        await call(client, "add_memory", text="My sister lives in Lyon")
        other = await call(client, "add_memory", text="I take my tea green", user_id="noa")

        hits = (await call(client, "search_memories", query="how do I take coffee", limit=1))["results"]
        assert [h["id"] for h in hits] == [action["id"]]
        assert hits[0]["user_id"] == "mia" and hits[0]["score"] > 0
        only_food = await call(client, "search_memories", query="sister", filters={"topic": "food"})
        assert [h["id"] for h in only_food["results"]] == [action["id"]]
        # what the search cost: its query embedding (the tool used to drop usage)
        assert only_food["usage"]["calls"] == 1 and only_food["usage"]["models"][0]["kind"] == "embedder"

        listed = (await call(client, "list_memories"))["results"]
        assert [m["memory"] for m in listed] == ["I take my coffee black", "My sister lives in Lyon"]
        assert [m["memory"] for m in (await call(client, "list_memories", user_id="noa"))["results"]] == [
            "I take my tea green"]

        # the default scope (mia) cannot delete noa's memory; naming noa can
        assert "not found" in await call_error(client, "delete_memory", memory_id=other["results"][0]["id"])
        deleted = await call(client, "delete_memory", memory_id=action["id"])
        assert "deleted" in deleted["message"]
        assert [m["memory"] for m in (await call(client, "list_memories"))["results"]] == ["My sister lives in Lyon"]

        bad = await call_error(client, "search_memories", query="x", filters={"k": {"regex": 1}})
        assert "Unknown filter operator 'regex'" in bad

    async with session(tmp_path, "--user", "mia") as client:  # a new session sees what the last one stored
        assert [m["memory"] for m in (await call(client, "list_memories"))["results"]] == ["My sister lives in Lyon"]


def test_mcp_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys; sys.modules['mcp'] = None\nfrom mem7_core.cli import main; sys.exit(main(['mcp']))"
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(tmp_path), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "mem7 mcp needs the mcp extra: pip install 'mem7-core[mcp]'"


async def test_delete_memory_needs_a_scope_when_the_server_has_no_default(tmp_path: Path) -> None:
    """A server built without a default scope (library use): ``delete_memory`` with no scope id must
    not delete a memory of any scope by its id alone (the tool promises "within the given scope")."""
    client_cls = getattr(mcp, "Client", None)
    if client_cls is None:
        pytest.skip("an in-process MCP client needs mcp >= 2")
    from mem7_core.config import MemoryConfig
    from mem7_core.server.mcp import build_server

    config = MemoryConfig.model_validate({
        "llm": None, "embedder": {"provider": "hash"}, "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / "h.db")}},
    })
    async with client_cls(build_server(config)) as client:
        added = await call(client, "add_memory", text="zoe's note", user_id="zoe")
        memory_id = added["results"][0]["id"]
        assert "user_id" in await call_error(client, "delete_memory", memory_id=memory_id)
        assert [m["id"] for m in (await call(client, "list_memories", user_id="zoe"))["results"]] == [memory_id]
        assert "deleted" in (await call(client, "delete_memory", memory_id=memory_id, user_id="zoe"))["message"]
