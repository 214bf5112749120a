"""Mem7Session as the SDK's ``Session`` in real ``Runner.run`` calls: the conversation is kept and
replayed, and each exchange is added to mem7 once (its LLM extracting the facts)."""

from __future__ import annotations

import pytest
from agents import Runner, SessionSettings, SQLiteSession
from agents.memory import Session

from mem7_core import ProviderError
from mem7_core.testing.openai_server import ToolCall
from mem7_openai_agents import Mem7Session, memory_tools


def _chat_count_of_mem7(openai_server, agent_script) -> int:
    return openai_server.count("chat") - len(agent_script.requests)


async def test_two_turns_keep_the_conversation_and_remember_the_facts(llm_memory, make_agent, agent_script, openai_server):
    session = Mem7Session("conv-1", llm_memory, user_id="alice")
    assert isinstance(session, Session)  # the SDK's runtime-checkable protocol
    agent = make_agent()
    agent_script.replies = ["Nice to meet you, Alice.", "You live in Porto."]

    await Runner.run(agent, "My name is Alice. I live in Porto.", session=session)
    assert _chat_count_of_mem7(openai_server, agent_script) == 1  # one fact extraction for the exchange
    facts = sorted(m["memory"] for m in (await llm_memory.get_all(user_id="alice"))["results"])
    assert facts == ["I live in Porto", "My name is Alice"]
    stored = (await llm_memory.get_all(user_id="alice"))["results"]
    assert all(m["metadata"] == {"session_id": "conv-1"} for m in stored)
    assert session.pending == []
    assert session.last_added is not None and len(session.last_added["results"]) == 2

    result = await Runner.run(agent, "Where do I live?", session=session)
    assert result.final_output == "You live in Porto."
    # the second model call saw the first exchange, replayed from the session
    second = agent_script.requests[1]
    assert [(m["role"], m["content"]) for m in second[1:]] == [
        ("user", "My name is Alice. I live in Porto."),
        ("assistant", "Nice to meet you, Alice."),
        ("user", "Where do I live?"),
    ]
    items = await session.get_items()
    assert [i.get("role") for i in items] == ["user", "assistant", "user", "assistant"]
    assert await session.get_items(limit=1) == items[-1:]
    assert openai_server.errors == []


async def test_tool_steps_stay_in_the_history_only(memory, make_agent, agent_script):
    """A run with tool calls: one mem7 add for the exchange, holding only the user's and the
    assistant's messages (infer=False: stored verbatim, one memory each)."""
    session = Mem7Session("conv-2", memory, user_id="alice", infer=False)
    agent = make_agent(tools=memory_tools(memory, user_id="alice", infer=False))
    agent_script.replies = [ToolCall("search_memory", {"query": "tea"}, id="s1"), "You have not told me yet."]
    await Runner.run(agent, "Do I like tea?", session=session)

    kinds = [i.get("type", "message") for i in await session.get_items()]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    remembered = [(m["memory"], m["role"]) for m in (await memory.get_all(user_id="alice"))["results"]]
    assert remembered == [("Do I like tea?", "user"), ("You have not told me yet.", "assistant")]


async def test_messages_wait_for_the_answer_and_pop_item_withdraws_them(memory):
    session = Mem7Session("conv-3", memory, user_id="alice", infer=False)
    await session.add_items([{"role": "user", "content": "I play the violin."}])
    assert session.pending == [{"role": "user", "content": "I play the violin."}]
    assert (await memory.get_all(user_id="alice"))["results"] == []  # not before the answer

    popped = await session.pop_item()
    assert popped == {"role": "user", "content": "I play the violin."}
    assert session.pending == [] and await session.get_items() == []
    assert await session.pop_item() is None

    await session.add_items([{"role": "user", "content": [{"type": "input_text", "text": "I play the cello."}]}])
    await session.add_items([
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant", "id": "m1", "status": "completed",
         "content": [{"type": "output_text", "text": "A fine instrument.", "annotations": []}]},
    ])
    remembered = [m["memory"] for m in (await memory.get_all(user_id="alice"))["results"]]
    assert remembered == ["I play the cello.", "A fine instrument."]


async def test_flush_adds_what_is_pending_and_clear_session_keeps_memories(memory):
    session = Mem7Session("conv-4", memory, agent_id="planner", run_id="r1", infer=False, metadata={"app": "demo"})
    assert await session.flush() is None
    await session.add_items([{"role": "user", "content": "Ship the release on Monday."}])
    added = await session.flush()
    assert added is not None and [a["memory"] for a in added["results"]] == ["Ship the release on Monday."]
    stored = (await memory.get_all(agent_id="planner", run_id="r1"))["results"]
    assert stored[0]["metadata"] == {"session_id": "conv-4", "app": "demo"}

    await session.clear_session()
    assert await session.get_items() == []
    assert len((await memory.get_all(agent_id="planner"))["results"]) == 1  # long-term: kept


async def test_a_failed_add_keeps_the_history_and_the_messages_pending(llm_memory, openai_server):
    session = Mem7Session("conv-5", llm_memory, user_id="alice")
    openai_server.fail_next(3, status=500, endpoint="chat")
    exchange = [{"role": "user", "content": "I work as a nurse."}, {"role": "assistant", "content": "Noted."}]
    with pytest.raises(ProviderError, match="server error 500"):
        await session.add_items(exchange)
    assert len(await session.get_items()) == 2  # the conversation is saved anyway
    assert len(session.pending) == 2

    openai_server.reset()  # the server answers again
    added = await session.flush()
    assert added is not None and [a["memory"] for a in added["results"]] == ["I work as a nurse"]
    assert session.pending == []


async def test_history_on_disk_and_session_settings(memory, tmp_path):
    db = tmp_path / "chats.db"
    first = Mem7Session("conv-6", memory, user_id="alice", history=SQLiteSession("conv-6", db), infer=False)
    await first.add_items([{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                           {"role": "user", "content": "three"}])
    again = Mem7Session("conv-6", memory, user_id="alice", history=SQLiteSession("conv-6", db),
                        session_settings=SessionSettings(limit=2))
    assert [i["content"] for i in await again.get_items()] == ["two", "three"]  # the settings' limit
    assert [i["content"] for i in await again.get_items(limit=1)] == ["three"]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"session_id": ""}, ValueError, ["session_id must be a non-empty string"]),
        ({"user_id": None}, ValueError, ["no scope given", "user_id="]),
        ({"history": object()}, TypeError, ["history must be an Agents SDK Session", "object"]),
        ({"infer": 1}, TypeError, ["infer must be True or False"]),
        ({"memory": "mem"}, TypeError, ["memory must be a mem7 Memory or AsyncMemory", "str"]),
    ],
)
async def test_bad_arguments_name_the_field_and_the_fix(memory, kwargs, error, words):
    args = {"session_id": "s", "memory": memory, "user_id": "alice", **kwargs}
    with pytest.raises(error) as info:
        Mem7Session(**args)
    for w in words:
        assert w in str(info.value)
