"""Shared fixtures: the real Agents SDK, its model talking to the loopback OpenAI server.

Nothing leaves the machine: the SDK's tracing export is disabled, the developer's OpenAI
variables are removed, and every model call goes to ``openai_server`` (mem7_core's testing kit).

The agents under test have instructions starting with :data:`AGENT`; the ``agent_script``
fixture answers their chat requests from a list (tool calls, then text), while every other chat
request (mem7's own fact extraction and update decisions, when an engine uses the loopback LLM)
gets the server's rule-based answers.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from agents import Agent, OpenAIChatCompletionsModel, set_tracing_disabled
from openai import AsyncOpenAI

from mem7_core import AsyncMemory, Memory
from mem7_core.testing.integration import loopback_config, verbatim_config
from mem7_core.testing.openai_server import OpenAIServer, Reply

AGENT = "You are the test agent."
ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG")

# Every connection a test of this package opens must go to this machine: an audit hook refuses
# any other address while one of these tests runs (the SDK's tracing export would be one).
_guard: dict[str, Any] = {"on": False, "seen": []}


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not _guard["on"]:
        return
    address = args[1]
    if not isinstance(address, tuple):  # a Unix socket path
        return
    host = str(address[0])
    try:
        ok = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        ok = host == "localhost"
    _guard["seen"].append(address)
    if not ok:
        raise ConnectionRefusedError(f"the openai-agents tests connect only to loopback addresses, not {address!r}")


sys.addaudithook(_loopback_only)


@pytest.fixture
def connection_guard() -> Callable[[str, tuple[Any, ...]], None]:
    return _loopback_only


@pytest.fixture
def connections_seen() -> list[tuple[Any, ...]]:
    """The addresses this test has connected to so far (what the guard checked)."""
    return _guard["seen"]  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    set_tracing_disabled(True)
    _guard["on"], _guard["seen"] = True, []
    try:
        yield
    finally:
        _guard["on"] = False


def is_agent_request(messages: list[dict[str, Any]]) -> bool:
    first = messages[0] if messages else {}
    return first.get("role") in ("system", "developer") and str(first.get("content", "")).startswith(AGENT)


class AgentScript:
    """The agent's replies, in order; other chat requests fall through to the rule-based answers."""

    def __init__(self, server: OpenAIServer) -> None:
        self.replies: list[Reply] = []
        self.requests: list[list[dict[str, Any]]] = []  # the agent's chat messages, one list per model call
        self.bodies: list[dict[str, Any]] = []
        server.script(self._answer)

    def _answer(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> Reply | None:
        if not is_agent_request(messages):
            return None  # mem7's own prompts: the server's rule-based replies
        self.requests.append(messages)
        self.bodies.append(body)
        if not self.replies:
            raise AssertionError("the agent made a model call the test did not script")
        return self.replies.pop(0)

    def tool_outputs(self) -> dict[str, str]:
        """``tool_call_id -> content`` of every tool result the agent sent back to the model."""
        return {m["tool_call_id"]: m["content"] for msgs in self.requests for m in msgs if m.get("role") == "tool"}


@pytest.fixture
def agent_script(openai_server: OpenAIServer) -> AgentScript:
    return AgentScript(openai_server)


@pytest.fixture
def model(openai_server: OpenAIServer) -> OpenAIChatCompletionsModel:
    client = AsyncOpenAI(base_url=openai_server.url, api_key="sk-test", max_retries=0, timeout=10)
    return OpenAIChatCompletionsModel(model="gpt-4.1-nano", openai_client=client)


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
def make_agent(model: OpenAIChatCompletionsModel) -> Callable[..., Agent[Any]]:
    """``make_agent(tools=[...])``: an agent on the loopback model whose calls ``agent_script`` answers."""

    def make(**kwargs: Any) -> Agent[Any]:
        return Agent(name="assistant", instructions=AGENT, model=model, **kwargs)

    return make
