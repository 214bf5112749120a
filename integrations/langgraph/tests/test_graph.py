"""A real LangGraph graph: create_react_agent with langchain-openai's ChatOpenAI, served by mem7's
loopback OpenAI server scripted to call save_memory then search_memory; the memory is in mem7
afterwards. And a StateGraph whose nodes use Mem7Store as the graph's store."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from langchain_core.messages import ToolMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import create_react_agent
from langgraph.store.base import BaseStore

from mem7_core import AsyncMemory, Memory
from mem7_core.testing.openai_server import OpenAIServer, ToolCall
from mem7_langgraph import Mem7Store, memory_tools


def _agent_script(messages: list[dict[str, Any]]) -> Any:
    """save_memory on the first turn, search_memory on the second, then answer with what it found."""
    tool_results = [m for m in messages if m["role"] == "tool"]
    if not tool_results:
        return ToolCall("save_memory", {"text": "Alice prefers green tea"})
    if len(tool_results) == 1:
        return ToolCall("search_memory", {"query": "what does alice drink", "limit": 3})
    return f"From memory: {tool_results[-1]['content']}"


def _model(srv: OpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4.1-mini", base_url=srv.url, api_key="sk-test", max_retries=0)


async def test_react_agent_saves_then_searches(amemory: AsyncMemory, openai_server: OpenAIServer) -> None:
    openai_server.script(_agent_script)
    agent = create_react_agent(_model(openai_server), tools=memory_tools(amemory, infer=False),
                               store=Mem7Store(amemory))
    out = await agent.ainvoke({"messages": [("user", "I prefer green tea; remember it, then check.")]},
                              {"configurable": {"user_id": "alice"}})

    tool_msgs = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_msgs] == ["save_memory", "search_memory"]
    assert str(tool_msgs[0].content).startswith("ADD: Alice prefers green tea")
    assert tool_msgs[1].content == "- Alice prefers green tea"
    assert out["messages"][-1].content == "From memory: - Alice prefers green tea"
    # The memory is in mem7, in Alice's scope, read back through mem7's own API.
    [m] = (await amemory.get_all(user_id="alice"))["results"]
    assert m["memory"] == "Alice prefers green tea"
    assert (await amemory.search("green tea", user_id="alice"))["results"][0]["id"] == m["id"]
    # The model was offered both tools, with their schemas.
    first = openai_server.requests("chat")[0]
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in first.body["tools"]}
    assert set(offered) == {"save_memory", "search_memory"} and offered["save_memory"]["required"] == ["text"]
    assert openai_server.count("chat") == 3


class _State(TypedDict, total=False):
    user: str
    note: str
    found: list[str]


def test_state_graph_nodes_use_the_store(memory: Memory) -> None:
    def write(state: _State, *, store: BaseStore) -> _State:
        store.put(("users", state["user"], "notes"), "n1", {"text": state["note"], "kind": "note"})
        store.put(("users", state["user"], "notes"), "n2", {"text": "unrelated", "kind": "other"})
        return {}

    def read(state: _State, *, store: BaseStore) -> _State:
        hits = store.search(("users", state["user"]), query=state["note"], filter={"kind": "note"})
        return {"found": [json.dumps(h.value, sort_keys=True) for h in hits]}

    builder = StateGraph(_State)
    builder.add_node("write", write)
    builder.add_node("read", read)
    builder.add_edge(START, "write")
    builder.add_edge("write", "read")
    builder.add_edge("read", END)
    graph = builder.compile(store=Mem7Store(memory, index_fields=["text"]))

    out = graph.invoke({"user": "bob", "note": "the wifi password is on the fridge"})
    assert out["found"] == ['{"kind": "note", "text": "the wifi password is on the fridge"}']
    texts = sorted(m["memory"] for m in memory.get_all(user_id="bob")["results"])
    assert texts == ["the wifi password is on the fridge", "unrelated"]
