"""Shared fixtures: a real CrewAI ``Crew`` whose LLM is mem7's loopback OpenAI-compatible server.

Nothing leaves the machine: CrewAI's telemetry and tracing are switched off before ``crewai`` is
imported, ``HOME`` is a temporary directory (CrewAI writes under ``~/.config`` and ``~/.local``),
the developer's OpenAI variables are removed, and every model call goes to ``openai_server``
(mem7_core's testing kit).

The agents under test have the role :data:`ROLE`; :class:`AgentScript` answers their chat requests
from a list and records them, while every other chat request (mem7's own fact extraction and
update decisions, when the engine uses the loopback LLM) gets the server's rule-based answers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

# Before crewai is imported: it reads these at import time.
_HOME = tempfile.mkdtemp(prefix="mem7-crewai-home-")
os.environ.update(
    HOME=_HOME,
    CREWAI_DISABLE_TELEMETRY="true",
    CREWAI_TRACING_ENABLED="false",
    OTEL_SDK_DISABLED="true",
    CREWAI_STORAGE_DIR=os.path.join(_HOME, "crewai"),
)

import pytest  # noqa: E402
from crewai import LLM, Agent, Crew, Task  # noqa: E402

from mem7_core import Memory  # noqa: E402
from mem7_core.testing.integration import loopback_config, verbatim_config  # noqa: E402
from mem7_core.testing.openai_server import OpenAIServer, Reply  # noqa: E402

ROLE = "Test Agent"
ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def is_agent_request(messages: list[dict[str, Any]]) -> bool:
    first = messages[0] if messages else {}
    return first.get("role") == "system" and str(first.get("content", "")).startswith(f"You are {ROLE}.")


class AgentScript:
    """The agent's replies, in order; other chat requests fall through to the rule-based answers."""

    def __init__(self, server: OpenAIServer) -> None:
        self.replies: list[Reply] = []
        self.requests: list[list[dict[str, Any]]] = []  # the agent's chat messages, one list per model call
        server.script(self._answer)

    def _answer(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> Reply | None:
        if not is_agent_request(messages):
            return None  # mem7's own prompts: the server's rule-based replies
        self.requests.append(messages)
        if not self.replies:
            raise AssertionError("the agent made a model call the test did not script")
        return self.replies.pop(0)

    def prompt(self, call: int = -1) -> str:
        """The text of every message of one of the agent's model calls (the last by default)."""
        return "\n".join(str(m.get("content") or "") for m in self.requests[call])


@pytest.fixture
def agent_script(openai_server: OpenAIServer) -> AgentScript:
    return AgentScript(openai_server)


@pytest.fixture
def llm(openai_server: OpenAIServer) -> LLM:
    return LLM(model="openai/gpt-4.1-nano", base_url=openai_server.url, api_key="sk-test", max_retries=0)


@pytest.fixture
def make_crew(llm: LLM) -> Callable[..., Crew]:
    """``make_crew(memory, task, agent_memory)``: one agent (role :data:`ROLE`, the loopback LLM, its
    own memory when given), one task, the crew's memory."""

    def make(memory: Any, task: str = "What does the user like to drink?", agent_memory: Any = None) -> Crew:
        agent = Agent(role=ROLE, goal="Help the user", backstory="A careful assistant.", llm=llm, memory=agent_memory)
        job = Task(description=task, expected_output="One sentence.", agent=agent)
        return Crew(agents=[agent], tasks=[job], memory=memory)

    return make


@pytest.fixture
def memory() -> Iterator[Memory]:
    with Memory(verbatim_config()) as mem:
        yield mem


@pytest.fixture
def llm_memory(openai_server: OpenAIServer) -> Iterator[Memory]:
    with Memory(loopback_config(openai_server.url)) as mem:
        yield mem
