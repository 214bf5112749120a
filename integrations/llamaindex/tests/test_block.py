"""Mem7MemoryBlock inside a real ``llama_index.core.memory.Memory``: what the memory flushes from its
short-term queue is added to mem7, and each read of the memory brings the relevant mem7 memories
into the prompt."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, TextBlock
from llama_index.core.memory import InsertMethod
from llama_index.core.memory import Memory as ChatMemory

from mem7_core import AsyncMemory, ProviderError
from mem7_core.testing.openai_server import OpenAIServer
from mem7_llamaindex import MAX_QUERY_CHARS, Mem7MemoryBlock


def chat(session_id: str, block: Mem7MemoryBlock, insert_method: InsertMethod = InsertMethod.SYSTEM) -> ChatMemory:
    """A LlamaIndex Memory with a small token limit, so a few messages already flush the oldest."""
    return ChatMemory.from_defaults(session_id=session_id, token_limit=60, memory_blocks=[block],
                                    insert_method=insert_method)


def msg(role: str, text: str) -> ChatMessage:
    return ChatMessage(role=role, content=text)


async def test_flushed_messages_are_added_and_read_back_in_another_session(memory):
    block = Mem7MemoryBlock(memory, user_id="alice", infer=False)
    first = chat("conv-1", block)
    await first.aput_messages([
        msg("system", "You are a helpful assistant."),
        msg("user", "I play the cello in an orchestra on weekends."),
        ChatMessage(role="assistant", content=None, additional_kwargs={"tool_calls": []}),
        msg("tool", "search results: nothing"),
        msg("assistant", "That sounds lovely, which orchestra is it?"),
    ])
    assert (await memory.get_all(user_id="alice"))["results"] == []  # under the token limit: nothing flushed
    await first.aput_messages([
        msg("user", "It is the city orchestra of Porto, and we rehearse on Saturday mornings."),
        msg("assistant", "Enjoy the rehearsals."),
    ])

    stored = (await memory.get_all(user_id="alice"))["results"]
    remembered = [(m["memory"], m["role"]) for m in stored]
    # the flushed user and assistant messages, verbatim (infer=False); system and tool messages are not memories
    assert remembered[:2] == [
        ("I play the cello in an orchestra on weekends.", "user"),
        ("That sounds lovely, which orchestra is it?", "assistant"),
    ]
    assert all(m["metadata"] == {"session_id": "conv-1"} for m in stored)
    assert block.last_added is not None and block.pending == []
    flushed = await first.aget_all()
    assert len(flushed) == 7  # the LlamaIndex memory keeps them all (archived or active)

    # a new conversation of the same user: its first read brings the memories into the system message
    second = chat("conv-2", block)
    await second.aput(msg("user", "When do I play the cello?"))
    prompt = await second.aget()
    assert [m.role for m in prompt] == ["system", "user"]
    system = prompt[0].content or ""
    assert system.startswith("<memory>\n<mem7_memories>\n- ")
    assert "- I play the cello in an orchestra on weekends." in system
    assert prompt[1].content == "When do I play the cello?"


async def test_get_returns_the_best_memories_of_the_scope_only(memory):
    for text in ("Alice plays the cello", "Alice likes green tea", "Alice plays tennis on Sundays",
                 "Alice lives in Porto"):
        await memory.add(text, user_id="alice", infer=False)
    await memory.add("Bob plays the cello too", user_id="bob", infer=False)
    block = Mem7MemoryBlock(memory, user_id="alice", limit=2)

    text = await block.aget([msg("user", "Alice plays the cello")])
    lines = text.splitlines()
    assert len(lines) == 2 and lines[0] == "- Alice plays the cello"
    assert "Bob" not in text

    assert await block.aget([]) == ""  # nothing to search with
    assert await block.aget(None) == ""
    assert await block.aget([msg("tool", "Alice plays the cello"), msg("system", "Alice")]) == ""
    assert await Mem7MemoryBlock(memory, user_id="carol").aget([msg("user", "cello")]) == ""  # nothing stored


async def test_the_query_is_the_latest_messages_cut_to_the_limit(llm_memory, openai_server: OpenAIServer):
    """The query is the text of the last ``query_messages`` user/assistant messages, and a huge
    message (over mem7's own 32,000-character limit) is cut to its last MAX_QUERY_CHARS characters."""
    block = Mem7MemoryBlock(llm_memory, user_id="alice", query_messages=2)
    await block.aget([msg("user", "first"), msg("assistant", "second"), msg("tool", "skipped"), msg("user", "third")])
    assert openai_server.last_request("embeddings").body["input"] in ("second\nthird", ["second\nthird"])

    huge = "x" * 40_000 + " the end"
    assert await block.aget([msg("user", huge)]) == ""
    sent = openai_server.last_request("embeddings").body["input"]
    sent = sent[0] if isinstance(sent, list) else sent
    assert len(sent) == MAX_QUERY_CHARS and sent.endswith(" the end")


async def test_infer_extracts_facts_with_the_engines_llm(llm_memory, openai_server: OpenAIServer):
    block = Mem7MemoryBlock(llm_memory, user_id="alice", metadata={"app": "demo"})
    await block.aput([msg("user", "My name is Alice. I live in Porto."), msg("assistant", "Nice to meet you.")],
                     session_id="conv-9")
    facts = sorted(m["memory"] for m in (await llm_memory.get_all(user_id="alice"))["results"])
    assert facts == ["I live in Porto", "My name is Alice"]
    stored = (await llm_memory.get_all(user_id="alice"))["results"]
    assert all(m["metadata"] == {"session_id": "conv-9", "app": "demo"} for m in stored)
    assert openai_server.errors == []


async def test_a_failed_add_raises_and_keeps_the_messages(llm_memory, openai_server: OpenAIServer):
    block = Mem7MemoryBlock(llm_memory, user_id="alice")
    openai_server.fail_next(3, status=500, endpoint="chat")
    with pytest.raises(ProviderError, match="server error 500"):
        await block.aput([msg("user", "I work as a nurse."), msg("assistant", "Noted.")])
    assert block.pending == [{"role": "user", "content": "I work as a nurse."},
                             {"role": "assistant", "content": "Noted."}]
    assert (await llm_memory.get_all(user_id="alice"))["results"] == []

    openai_server.reset()  # the server answers again: the next flush adds them
    added = await block.flush()
    assert added is not None and [a["memory"] for a in added["results"]] == ["I work as a nurse"]
    assert block.pending == [] and await block.flush() is None


async def test_a_read_only_block_adds_nothing(memory):
    block = Mem7MemoryBlock(memory, agent_id="planner", accept_short_term_memory=False)
    conv = chat("conv-3", block)
    for i in range(6):
        await conv.aput(msg("user" if i % 2 == 0 else "assistant", f"message number {i} of a long conversation"))
    assert len(await conv.aget_all()) == 6
    assert (await memory.get_all(agent_id="planner"))["results"] == []


async def test_the_sync_memory_and_the_user_insert_method(sync_memory):
    """A sync ``Memory`` works too (run in a worker thread); InsertMethod.USER puts the memories
    in front of the latest user message instead of the system message."""
    sync_memory.add("The weekly report goes out on Fridays", agent_id="planner", infer=False)
    block = Mem7MemoryBlock(sync_memory, agent_id="planner", run_id=None, infer=False, name="planner_notes")
    conv = chat("conv-4", block, InsertMethod.USER)
    await conv.aput(msg("user", "When does the weekly report go out?"))
    prompt = await conv.aget()
    assert len(prompt) == 1 and prompt[0].role == "user"
    assert [b.text for b in prompt[0].blocks if isinstance(b, TextBlock)] == [
        "<memory>\n<planner_notes>\n- The weekly report goes out on Fridays\n</planner_notes>\n</memory>",
        "When does the weekly report go out?",
    ]
    await block.aput([msg("user", "Also: the monthly report goes out on the 1st.")])
    assert [m["memory"] for m in sync_memory.get_all(agent_id="planner")["results"]] == [
        "The weekly report goes out on Fridays", "Also: the monthly report goes out on the 1st."]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"user_id": None}, ValueError, ["no scope given", "user_id="]),
        ({"user_id": " "}, ValueError, ["user_id must be a non-empty string"]),
        ({"memory": "mem"}, TypeError, ["memory must be a mem7 Memory or AsyncMemory", "str"]),
        ({"infer": "yes"}, TypeError, ["infer must be True or False"]),
        ({"limit": 0}, ValueError, ["limit must be a positive int"]),
        ({"query_messages": True}, ValueError, ["query_messages must be a positive int"]),
        ({"threshold": "high"}, TypeError, ["threshold must be a number or None"]),
        ({"metadata": [("k", "v")]}, TypeError, ["metadata must be a mapping"]),
        ({"name": "my memories"}, ValueError, ["name must be a word", "<my memories>"]),
    ],
)
async def test_bad_arguments_name_the_field_and_the_fix(memory: AsyncMemory, kwargs, error, words):
    args = {"memory": memory, "user_id": "alice", **kwargs}
    with pytest.raises(error) as info:
        Mem7MemoryBlock(**args)
    for w in words:
        assert w in str(info.value)


def test_llamaindex_sync_calls_with_the_sync_memory(sync_memory):
    """LlamaIndex's sync ``Memory.put`` / ``get`` (they run the async calls on a loop of their own)."""
    sync_memory.add("Alice likes green tea", user_id="alice", infer=False)
    conv = chat("conv-5", Mem7MemoryBlock(sync_memory, user_id="alice", infer=False))
    conv.put(msg("user", "What do I like to drink?"))
    prompt = conv.get()
    assert prompt[0].content == "<memory>\n<mem7_memories>\n- Alice likes green tea\n</mem7_memories>\n</memory>"
    conv.put_messages([msg("assistant", "Green tea, " + "very much so " * 20), msg("user", "Thanks, noted.")])
    assert "What do I like to drink?" in [m["memory"] for m in sync_memory.get_all(user_id="alice")["results"]]
