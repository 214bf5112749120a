"""Shared fixtures: mem7 engines, and LlamaIndex LLMs on the loopback OpenAI-compatible server.

The agents under test are LlamaIndex ``FunctionAgent``s (``make_function_agent``, on
``llama_index.llms.openai.OpenAI``: the path most users take) and ``ReActAgent``s (``make_agent``,
on ``LMStudio``), whose system prompt contains :data:`AGENT`; the ``agent_script`` fixture answers
their chat requests from a list (tool calls and text, or ReAct-formatted text), while every other
chat request (mem7's own fact extraction and update decisions, when an engine uses the loopback
LLM) gets the server's rule-based answers. Nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.tools import BaseTool
from llama_index.llms.lmstudio import LMStudio
from llama_index.llms.openai import OpenAI

from mem7_core import AsyncMemory, Memory
from mem7_core.testing.integration import loopback_config, verbatim_config
from mem7_core.testing.openai_server import OpenAIServer, Reply

AGENT = "You are the test agent."
ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_VERSION", "MEM7_CONFIG",
            "LLM_BASE_URL")


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


class AgentScript:
    """The agent's replies, in order; other chat requests fall through to the rule-based answers."""

    def __init__(self, server: OpenAIServer) -> None:
        self.replies: list[Reply] = []
        self.requests: list[list[dict[str, Any]]] = []  # the agent's chat messages, one list per model call
        server.script(self._answer)

    def _answer(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> Reply | None:
        first = messages[0] if messages else {}
        if first.get("role") != "system" or AGENT not in str(first.get("content")):
            return None  # mem7's own prompts: the server's rule-based replies
        self.requests.append(messages)
        if not self.replies:
            raise AssertionError("the agent made a model call the test did not script")
        return self.replies.pop(0)


@pytest.fixture
def agent_script(openai_server: OpenAIServer) -> AgentScript:
    return AgentScript(openai_server)


@pytest.fixture
def llm(openai_server: OpenAIServer) -> LMStudio:
    """A LlamaIndex LLM speaking the OpenAI chat-completions protocol to the loopback server."""
    return LMStudio(model_name="gpt-4.1-nano", base_url=openai_server.url, request_timeout=10.0)


@pytest.fixture
def openai_llm(openai_server: OpenAIServer) -> OpenAI:
    """``llama_index.llms.openai.OpenAI`` as an OpenAI user would make it, at the loopback server."""
    return OpenAI(model="gpt-4o-mini", api_base=openai_server.url, api_key="sk-test", max_retries=0, timeout=10.0)


@pytest.fixture
async def memory() -> AsyncIterator[AsyncMemory]:
    async with AsyncMemory(verbatim_config()) as mem:
        yield mem


@pytest.fixture
async def llm_memory(openai_server: OpenAIServer) -> AsyncIterator[AsyncMemory]:
    async with AsyncMemory(loopback_config(openai_server.url)) as mem:
        yield mem


@pytest.fixture
def sync_memory() -> Iterator[Memory]:
    with Memory(verbatim_config()) as mem:
        yield mem


@pytest.fixture
def make_agent(llm: LMStudio) -> Callable[..., ReActAgent]:
    """``make_agent(tools)``: a ReActAgent on the loopback LLM whose calls ``agent_script`` answers
    (non-streaming: one chat-completions call per step)."""

    def make(tools: Sequence[BaseTool] = ()) -> ReActAgent:
        return ReActAgent(tools=list(tools), llm=llm, system_prompt=AGENT, streaming=False)

    return make


@pytest.fixture
def make_function_agent(openai_llm: OpenAI) -> Callable[..., FunctionAgent]:
    """``make_function_agent(tools)``: a FunctionAgent on the loopback OpenAI LLM whose calls
    ``agent_script`` answers (streaming, LlamaIndex's default: the server's SSE chunks)."""

    def make(tools: Sequence[BaseTool] = (), **kwargs: Any) -> FunctionAgent:
        return FunctionAgent(tools=list(tools), llm=openai_llm, system_prompt=AGENT, **kwargs)

    return make
