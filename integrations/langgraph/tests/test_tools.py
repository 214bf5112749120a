"""save_memory / search_memory as LangChain tools: what they write is in mem7, in the right scope."""

from __future__ import annotations

import pytest
from langchain_core.tools import BaseTool
from pydantic import BaseModel

from mem7_core import AsyncMemory, Memory
from mem7_langgraph import memory_tools


def _by_name(tools: list[BaseTool]) -> dict[str, BaseTool]:
    return {t.name: t for t in tools}


def test_tools_have_schemas_a_model_can_call(memory: Memory) -> None:
    tools = _by_name(memory_tools(memory, user_id="alice"))
    assert set(tools) == {"save_memory", "search_memory"}
    save_model, search_model = tools["save_memory"].tool_call_schema, tools["search_memory"].tool_call_schema
    assert isinstance(save_model, type) and issubclass(save_model, BaseModel)
    assert isinstance(search_model, type) and issubclass(search_model, BaseModel)
    save_schema, search_schema = save_model.model_json_schema(), search_model.model_json_schema()
    assert save_schema["required"] == ["text"] and "config" not in save_schema["properties"]
    assert set(search_schema["properties"]) == {"query", "limit"} and search_schema["required"] == ["query"]


def test_save_then_search_with_a_fixed_scope(memory: Memory) -> None:
    tools = _by_name(memory_tools(memory, user_id="alice", infer=False))
    out = tools["save_memory"].invoke({"text": "Alice prefers green tea"})
    assert out.startswith("ADD: Alice prefers green tea (id ")
    tools["save_memory"].invoke({"text": "Alice plays chess"})
    [m1, m2] = memory.get_all(user_id="alice")["results"]
    assert (m1["memory"], m2["memory"]) == ("Alice prefers green tea", "Alice plays chess")
    found = tools["search_memory"].invoke({"query": "green tea", "limit": 1})
    assert found == "- Alice prefers green tea"
    assert memory.get_all(user_id="bob")["results"] == []


def test_scope_from_the_run_config(memory: Memory) -> None:
    tools = _by_name(memory_tools(memory, infer=False))
    tools["save_memory"].invoke({"text": "Bob likes jazz"}, config={"configurable": {"user_id": "bob", "agent_id": "dj"}})
    [m] = memory.get_all(user_id="bob")["results"]
    assert (m["memory"], m["agent_id"]) == ("Bob likes jazz", "dj")
    assert tools["search_memory"].invoke({"query": "jazz"}, config={"configurable": {"user_id": "carol"}}) == "No memories found."
    with pytest.raises(ValueError, match=r"save_memory: no mem7 scope; pass user_id/agent_id/run_id to memory_tools"):
        tools["save_memory"].invoke({"text": "lost"})


def test_bad_scope_argument_is_refused(memory: Memory) -> None:
    with pytest.raises(ValueError, match=r"memory_tools\(user_id=\.\.\.\) must be a non-empty string"):
        memory_tools(memory, user_id="")


async def test_async_tools_over_async_memory(amemory: AsyncMemory) -> None:
    tools = _by_name(memory_tools(amemory, run_id="r1", infer=False))
    await tools["save_memory"].ainvoke({"text": "the build uses uv"})
    assert (await amemory.get_all(run_id="r1"))["results"][0]["memory"] == "the build uses uv"
    assert await tools["search_memory"].ainvoke({"query": "uv"}) == "- the build uses uv"
    with pytest.raises(RuntimeError, match=r"memory_tools was given an AsyncMemory.*\(abatch, aget, aput, asearch, ainvoke\)"):
        tools["search_memory"].invoke({"query": "uv"})
