"""A real LlamaIndex agent loop: ``ReActAgent`` with an LLM on the loopback OpenAI-compatible server,
run with a ``Memory`` holding the mem7 block (and the mem7 tools). What the agent is told reaches
mem7, and comes back into the prompt the server receives in a later conversation."""

from __future__ import annotations

from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.memory import InsertMethod
from llama_index.core.memory import Memory as ChatMemory
from llama_index.core.tools import FunctionTool

from mem7_core.testing.openai_server import OpenAIServer
from mem7_llamaindex import Mem7MemoryBlock, memory_tools, save_memory_tool, search_memory_tool


def chat(session_id: str, block: Mem7MemoryBlock) -> ChatMemory:
    # InsertMethod.USER, as the docs advise for ReActAgent (see the last test): the memories go
    # in front of the latest user message.
    return ChatMemory.from_defaults(session_id=session_id, token_limit=60, memory_blocks=[block],
                                    insert_method=InsertMethod.USER)


async def test_what_the_agent_is_told_comes_back_in_a_later_conversation(make_agent, llm_memory, agent_script,
                                                                         openai_server: OpenAIServer):
    block = Mem7MemoryBlock(llm_memory, user_id="alice")
    bot = make_agent()

    agent_script.replies = ["Thought: I can answer without using any more tools.\nAnswer: Nice to meet you, Alice.",
                            "Thought: I can answer without using any more tools.\nAnswer: Porto is lovely."]
    first = chat("conv-1", block)
    reply = await bot.run("My name is Alice. I live in Porto.", memory=first)
    assert str(reply) == "Nice to meet you, Alice."
    assert (await llm_memory.get_all(user_id="alice"))["results"] == []  # still in the short-term queue
    await bot.run("What is the weather like there in the spring, usually?", memory=first)

    # the first exchange was flushed from the short-term queue into mem7, and mem7's LLM extracted the facts
    facts = sorted(m["memory"] for m in (await llm_memory.get_all(user_id="alice"))["results"])
    assert facts == ["I live in Porto", "My name is Alice"]

    agent_script.replies = ["Thought: I can answer without using any more tools.\nAnswer: You live in Porto."]
    reply = await bot.run("Where do I live?", memory=chat("conv-2", block))
    assert str(reply) == "You live in Porto."
    prompt = agent_script.requests[-1]
    assert [m["role"] for m in prompt] == ["system", "user"]  # a new conversation: no history ...
    question = prompt[-1]["content"]
    assert question.startswith("<memory>\n<mem7_memories>\n")  # ... but alice's memories, from mem7
    assert "- I live in Porto" in question and "- My name is Alice" in question
    assert question.endswith("Where do I live?")
    assert openai_server.errors == []


async def test_the_agent_saves_and_searches_with_the_tools(make_agent, memory, agent_script):
    bot = make_agent(memory_tools(memory, user_id="alice", infer=False))
    agent_script.replies = [
        'Thought: I should remember this.\nAction: save_memory\nAction Input: {"text": "Alice is allergic to nuts"}',
        'Thought: Let me check what I know.\nAction: search_memory\nAction Input: {"query": "allergies"}',
        "Thought: I can answer without using any more tools.\nAnswer: Noted: no nuts for you.",
    ]
    reply = await bot.run("Remember that I am allergic to nuts.")
    assert str(reply) == "Noted: no nuts for you."

    stored = (await memory.get_all(user_id="alice"))["results"]
    assert [m["memory"] for m in stored] == ["Alice is allergic to nuts"]
    # the tools' outputs went back to the model as ReAct observations
    seen = agent_script.requests[2][-1]["content"]
    assert "Observation: ADD: Alice is allergic to nuts" in "\n".join(m["content"] for m in agent_script.requests[1])
    assert "Observation: - Alice is allergic to nuts" in seen


async def test_a_refused_argument_is_shown_to_the_model(make_agent, memory, agent_script):
    """mem7's ValueError naming the field reaches the model as the tool's (error) output, and the run goes on."""
    bot = make_agent([search_memory_tool(memory, user_id="alice")])
    agent_script.replies = [
        'Thought: Search.\nAction: search_memory\nAction Input: {"query": "   "}',
        "Thought: I can answer without using any more tools.\nAnswer: Sorry.",
    ]
    assert str(await bot.run("Search for nothing.")) == "Sorry."
    assert "Observation: query must be a non-empty string" in agent_script.requests[1][-1]["content"]


def test_the_tools_are_function_tools(memory):
    save, search = memory_tools(memory, run_id="r1")
    assert isinstance(save, FunctionTool) and isinstance(search, FunctionTool)
    assert (save.metadata.name, search.metadata.name) == ("save_memory", "search_memory")
    assert save.metadata.get_parameters_dict()["required"] == ["text"]
    assert search.metadata.get_parameters_dict()["required"] == ["query"]
    assert "remember" in save.metadata.description.lower()


async def test_the_tools_called_directly(sync_memory):
    """Outside an agent too (``acall``), and with the sync Memory; a known fact saved again with
    infer=False is a second memory (verbatim), and nothing matched is said so."""
    save = save_memory_tool(sync_memory, agent_id="planner", infer=False, metadata={"source": "llamaindex"})
    out = await save.acall(text="The weekly report goes out on Fridays")
    assert out.content == "ADD: The weekly report goes out on Fridays"
    assert sync_memory.get_all(agent_id="planner")["results"][0]["metadata"] == {"source": "llamaindex"}
    search = search_memory_tool(sync_memory, agent_id="someone-else")
    assert (await search.acall(query="weekly report")).content == "No memories matched."



async def test_react_agent_keeps_only_a_second_system_message(llm, memory, openai_server: OpenAIServer):
    """Why the docs say InsertMethod.USER for ReActAgent: with LlamaIndex's default (SYSTEM) the
    block's memories are in a system message, and ReActAgent (llama-index-core 0.14) leaves the first
    system message of its input out of its prompt: without a system_prompt of its own, that is the
    memories'. When this fails, LlamaIndex has changed: revisit the docs' advice."""
    await memory.add("Alice is allergic to nuts", user_id="alice", infer=False)
    seen: dict[str | None, list[dict[str, str]]] = {}
    for system_prompt in (None, "You are a careful assistant."):
        chat = ChatMemory.from_defaults(memory_blocks=[Mem7MemoryBlock(memory, user_id="alice")])
        assert "- Alice is allergic to nuts" in str((await chat.aget(input="What am I allergic to?"))[0].content)
        openai_server.script(["Thought: I can answer without using any more tools.\nAnswer: I do not know."])
        bot = ReActAgent(tools=[], llm=llm, system_prompt=system_prompt, streaming=False)
        await bot.run("What am I allergic to?", memory=chat)
        seen[system_prompt] = openai_server.last_request("chat").body["messages"]

    assert [m["role"] for m in seen[None]] == ["system", "user"]
    assert not any("Alice is allergic" in m["content"] for m in seen[None])  # the memories are gone
    kept = seen["You are a careful assistant."]
    assert [m["role"] for m in kept] == ["system", "system", "user"]
    assert kept[1]["content"] == "<memory>\n<mem7_memories>\n- Alice is allergic to nuts\n</mem7_memories>\n</memory>"
