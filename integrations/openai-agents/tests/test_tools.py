"""save_memory / search_memory in a real ``Runner.run``: the scripted model calls the tools, the SDK
runs them, and what they stored is in mem7 afterwards."""

from __future__ import annotations

import pytest
from agents import FunctionTool, Runner

from mem7_core import AsyncMemory
from mem7_core.testing.openai_server import ToolCall
from mem7_openai_agents import memory_tools, save_memory_tool, search_memory_tool


async def test_agent_saves_then_searches_a_memory(memory, make_agent, agent_script, openai_server, connections_seen):
    agent = make_agent(tools=memory_tools(memory, user_id="alice"))
    agent_script.replies = [
        ToolCall("save_memory", {"text": "Alice is vegetarian and allergic to nuts"}, id="call-save"),
        ToolCall("search_memory", {"query": "what does Alice eat"}, id="call-search"),
        "You are vegetarian and allergic to nuts.",
    ]
    result = await Runner.run(agent, "Remember my diet, then tell me what you know about it.")

    assert result.final_output == "You are vegetarian and allergic to nuts."
    stored = await memory.get_all(user_id="alice")
    assert [m["memory"] for m in stored["results"]] == ["Alice is vegetarian and allergic to nuts"]
    assert stored["results"][0]["user_id"] == "alice"
    assert (await memory.get_all(user_id="bob"))["results"] == []  # bound to alice's scope only

    outputs = agent_script.tool_outputs()
    assert outputs["call-save"] == "ADD: Alice is vegetarian and allergic to nuts"
    assert outputs["call-search"] == "- Alice is vegetarian and allergic to nuts"

    # the model was offered both tools with the SDK's strict JSON schemas
    tools = {t["function"]["name"]: t["function"] for t in agent_script.bodies[0]["tools"]}
    assert set(tools) == {"save_memory", "search_memory"}
    assert tools["save_memory"]["parameters"]["required"] == ["text"]
    assert tools["search_memory"]["parameters"]["required"] == ["query"]
    assert "remember" in tools["save_memory"]["description"].lower()
    assert openai_server.errors == []
    # the guard saw the SDK's connections: all of them to the loopback server
    assert connections_seen and {a[1] for a in connections_seen} == {openai_server.port}


async def test_the_engine_llm_extracts_and_deduplicates(llm_memory, make_agent, agent_script, openai_server):
    """infer=True: mem7's own LLM (the loopback's rule-based extraction) turns the text into facts,
    and saving a known fact again changes nothing."""
    agent = make_agent(tools=memory_tools(llm_memory, user_id="alice"))
    agent_script.replies = [
        ToolCall("save_memory", {"text": "I live in Lisbon. I go surfing every weekend."}, id="c1"),
        ToolCall("save_memory", {"text": "I live in Lisbon."}, id="c2"),
        "Noted.",
    ]
    await Runner.run(agent, "Remember where I live and what I do.")

    facts = sorted(m["memory"] for m in (await llm_memory.get_all(user_id="alice"))["results"])
    assert facts == ["I go surfing every weekend", "I live in Lisbon"]
    outputs = agent_script.tool_outputs()
    assert sorted(outputs["c1"].splitlines()) == ["ADD: I go surfing every weekend", "ADD: I live in Lisbon"]
    assert outputs["c2"] == "Nothing new to remember: this is already known."
    assert openai_server.errors == []


async def test_search_finds_nothing_in_an_empty_scope(memory, make_agent, agent_script):
    await memory.add("Bob likes chess", user_id="bob", infer=False)
    agent = make_agent(tools=[search_memory_tool(memory, user_id="alice", limit=3)])
    agent_script.replies = [ToolCall("search_memory", {"query": "chess"}, id="s"), "I know nothing yet."]
    await Runner.run(agent, "What do I like?")
    assert agent_script.tool_outputs()["s"] == "No memories matched."


async def test_search_limit_and_order(memory, make_agent, agent_script):
    for text in ("Alice plays the cello", "Alice likes green tea", "Alice plays tennis on Sundays"):
        await memory.add(text, user_id="alice", infer=False)
    agent = make_agent(tools=[search_memory_tool(memory, user_id="alice", limit=2)])
    agent_script.replies = [ToolCall("search_memory", {"query": "Alice plays the cello"}, id="s"), "ok"]
    await Runner.run(agent, "What instrument do I play?")
    lines = agent_script.tool_outputs()["s"].splitlines()
    assert len(lines) == 2
    assert lines[0] == "- Alice plays the cello"


async def test_tools_with_the_sync_memory(sync_memory, make_agent, agent_script):
    """A sync ``Memory`` works too (called in a worker thread, never blocking the agent's loop)."""
    mem = sync_memory
    agent = make_agent(tools=memory_tools(mem, agent_id="planner", metadata={"source": "agents-sdk"}))
    agent_script.replies = [
        ToolCall("save_memory", {"text": "The weekly report goes out on Fridays"}, id="a"),
        ToolCall("search_memory", {"query": "weekly report"}, id="b"),
        "done",
    ]
    await Runner.run(agent, "Remember the report schedule.")
    stored = mem.get_all(agent_id="planner")["results"]
    assert [m["memory"] for m in stored] == ["The weekly report goes out on Fridays"]
    assert stored[0]["metadata"] == {"source": "agents-sdk"}
    assert agent_script.tool_outputs()["b"] == "- The weekly report goes out on Fridays"


async def test_a_refused_argument_is_explained_to_the_model(memory, make_agent, agent_script):
    """mem7's ValueError about the call's arguments reaches the model (naming the field), and the run goes on."""
    agent = make_agent(tools=memory_tools(memory, user_id="alice"))
    agent_script.replies = [ToolCall("search_memory", {"query": "   "}, id="bad"), "Sorry."]
    result = await Runner.run(agent, "Search for nothing.")
    assert result.final_output == "Sorry."
    assert agent_script.tool_outputs()["bad"] == "The memory tool refused the call: query must be a non-empty string, got '   '"


async def test_a_provider_failure_is_not_shown_to_the_model(llm_memory, make_agent, agent_script, openai_server):
    """A backend failure gets the SDK's generic message (no provider details for the model)."""
    agent = make_agent(tools=memory_tools(llm_memory, user_id="alice"))
    agent_script.replies = [ToolCall("save_memory", {"text": "I like jazz"}, id="s"), "I could not save that."]
    openai_server.fail_next(5, status=500, endpoint="embeddings")
    result = await Runner.run(agent, "Remember I like jazz.")
    assert result.final_output == "I could not save that."
    assert agent_script.tool_outputs()["s"] == "An error occurred while running the tool. Please try again."
    assert (await llm_memory.get_all(user_id="alice"))["results"] == []


async def test_the_tools_are_function_tools_the_sdk_can_invoke(memory):
    save, search = memory_tools(memory, run_id="r1", infer=False)
    assert isinstance(save, FunctionTool) and isinstance(search, FunctionTool)
    assert (save.name, search.name) == ("save_memory", "search_memory")
    assert save.params_json_schema["properties"]["text"]["type"] == "string"
    assert save.params_json_schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda m: memory_tools(m), ValueError, ["no scope given", "user_id="]),
        (lambda m: memory_tools(m, user_id=""), ValueError, ["user_id must be a non-empty string"]),
        (lambda m: memory_tools(object(), user_id="a"), TypeError, ["memory must be a mem7 Memory or AsyncMemory", "object"]),
        (lambda m: search_memory_tool(m, user_id="a", limit=0), ValueError, ["limit must be a positive int"]),
        (lambda m: save_memory_tool(m, user_id="a", infer="yes"), TypeError, ["infer must be True or False"]),
        (lambda m: save_memory_tool(m, user_id="a", metadata=[("k", "v")]), TypeError, ["metadata must be a mapping"]),
    ],
)
async def test_bad_arguments_name_the_field_and_the_fix(memory: AsyncMemory, call, error, words):
    with pytest.raises(error) as info:
        call(memory)
    for w in words:
        assert w in str(info.value)


def test_the_tests_cannot_reach_beyond_loopback(connection_guard):
    """The conftest's audit hook refuses a connection to any non-loopback address (called directly
    here, so a broken guard sends nothing anywhere)."""
    with pytest.raises(ConnectionRefusedError, match="only to loopback"):
        connection_guard("socket.connect", (None, ("192.0.2.1", 443)))
    with pytest.raises(ConnectionRefusedError):
        connection_guard("socket.connect", (None, ("2001:db8::1", 443, 0, 0)))
    connection_guard("socket.connect", (None, ("127.0.0.1", 8080)))
    connection_guard("socket.connect", (None, ("::1", 8080, 0, 0)))
    connection_guard("socket.connect", (None, "/tmp/some.sock"))
