"""The path most LlamaIndex users take: ``FunctionAgent`` (and ``AgentWorkflow``) with
``llama_index.llms.openai.OpenAI``, here at the loopback OpenAI server, which scripts real tool calls
(streamed, as LlamaIndex asks for them). Run with a LlamaIndex ``Memory`` holding the mem7 block and
with the mem7 tools: what the agent is told reaches mem7 (read back through mem7's own API), and
comes back into the prompt the server receives."""

from __future__ import annotations

from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.memory import Memory as ChatMemory

from mem7_core.testing.openai_server import OpenAIServer, ToolCall
from mem7_llamaindex import Mem7MemoryBlock, memory_tools

AGENT = "You are the test agent."  # conftest's: the system prompt agent_script answers


def chat(session_id: str, block: Mem7MemoryBlock) -> ChatMemory:
    # LlamaIndex's default insert method (SYSTEM): FunctionAgent passes the memory's system message on
    return ChatMemory.from_defaults(session_id=session_id, token_limit=60, memory_blocks=[block])


async def test_what_the_agent_is_told_comes_back_in_a_later_conversation(make_function_agent, llm_memory,
                                                                         agent_script, openai_server: OpenAIServer):
    block = Mem7MemoryBlock(llm_memory, user_id="alice")
    bot = make_function_agent()

    agent_script.replies = ["Nice to meet you, Alice.", "Mild and often rainy in March, sunny from May on: "
                                                         "bring a light jacket for the evenings by the river."]
    first = chat("conv-1", block)
    assert str(await bot.run("My name is Alice. I live in Porto.", memory=first)) == "Nice to meet you, Alice."
    assert (await llm_memory.get_all(user_id="alice"))["results"] == []  # still in the short-term queue
    await bot.run("What is the weather like there in the spring, usually?", memory=first)

    # the first exchange was flushed from the short-term queue into mem7, and mem7's LLM extracted the facts
    stored = (await llm_memory.get_all(user_id="alice"))["results"]
    assert sorted(m["memory"] for m in stored) == ["I live in Porto", "My name is Alice"]
    assert all(m["metadata"] == {"session_id": "conv-1"} for m in stored)

    agent_script.replies = ["You live in Porto."]
    assert str(await bot.run("Where do I live?", memory=chat("conv-2", block))) == "You live in Porto."
    prompt = agent_script.requests[-1]
    # a new conversation: no history, but the agent's prompt, then alice's memories from mem7, then the question
    assert [m["role"] for m in prompt] == ["system", "system", "user"]
    assert prompt[0]["content"] == AGENT
    memories = prompt[1]["content"]
    assert memories.startswith("<memory>\n<mem7_memories>\n") and memories.endswith("</mem7_memories>\n</memory>")
    assert "- I live in Porto" in memories and "- My name is Alice" in memories
    assert prompt[2]["content"] == "Where do I live?"
    body = openai_server.last_request("chat").body
    assert (body["model"], body["stream"]) == ("gpt-4o-mini", True)
    assert openai_server.errors == []


async def test_the_agent_calls_the_tools(make_function_agent, memory, agent_script):
    """Native tool calls: save_memory writes to mem7, search_memory reads it, and both outputs go
    back to the model as tool messages answering the call ids; a refused argument too."""
    bot = make_function_agent(memory_tools(memory, user_id="alice", infer=False))
    agent_script.replies = [
        ToolCall("save_memory", {"text": "Alice is allergic to nuts"}, id="call-save"),
        ToolCall("search_memory", {"query": "allergies"}, id="call-search"),
        ToolCall("search_memory", {"query": "   "}, id="call-bad"),
        "Noted: no nuts for you.",
    ]
    assert str(await bot.run("Remember that I am allergic to nuts.")) == "Noted: no nuts for you."

    stored = (await memory.get_all(user_id="alice"))["results"]
    assert [(m["memory"], m["user_id"]) for m in stored] == [("Alice is allergic to nuts", "alice")]
    last = agent_script.requests[-1]
    calls = [m["tool_calls"][0]["function"]["name"] for m in last if m["role"] == "assistant"]
    assert calls == ["save_memory", "search_memory", "search_memory"]
    results = {m["tool_call_id"]: m["content"] for m in last if m["role"] == "tool"}
    assert results["call-save"] == "ADD: Alice is allergic to nuts"
    assert results["call-search"] == "- Alice is allergic to nuts"
    assert "query must be a non-empty string" in results["call-bad"]  # mem7's message, shown to the model


async def test_agent_workflow_with_the_block_and_the_tools(openai_llm, memory, agent_script):
    """A one-agent ``AgentWorkflow`` (non-streaming this time): the tool saves in one conversation,
    the block brings it back in the next."""
    agent = FunctionAgent(name="assistant", description="Helps the user.", system_prompt=AGENT, llm=openai_llm,
                          tools=memory_tools(memory, user_id="alice", infer=False), streaming=False)
    flow = AgentWorkflow(agents=[agent], root_agent="assistant")
    block = Mem7MemoryBlock(memory, user_id="alice")

    agent_script.replies = [ToolCall("save_memory", {"text": "Alice is vegetarian"}), "Noted."]
    assert str(await flow.run("I am vegetarian, remember that.", memory=chat("conv-1", block))) == "Noted."
    assert [m["memory"] for m in (await memory.get_all(user_id="alice"))["results"]] == ["Alice is vegetarian"]

    agent_script.replies = ["A mushroom risotto."]
    assert str(await flow.run("What could I cook tonight?", memory=chat("conv-2", block))) == "A mushroom risotto."
    prompt = agent_script.requests[-1]
    assert [m["role"] for m in prompt] == ["system", "system", "user"]
    assert prompt[1]["content"] == "<memory>\n<mem7_memories>\n- Alice is vegetarian\n</mem7_memories>\n</memory>"
