"""The docs page's example (docs/integrations/llamaindex.md), run as written against the loopback
server: the agent (a FunctionAgent on ``llama_index.llms.openai.OpenAI``, pointed there by
OPENAI_API_BASE) saves a memory with a native tool call in one conversation, and in the next one
the memory block brings it into the prompt. mem7's own LLM and embedder (the openai provider,
through OPENAI_BASE_URL) are on the same server. The package README shows the same code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mem7_core.testing.integration import docs_example, readme_example, run_example, stored_memories
from mem7_core.testing.openai_server import OpenAIServer, Reply, ToolCall

PAGE = "integrations/llamaindex.md"


@pytest.fixture
def doc_example() -> str:
    return docs_example(__file__, PAGE)


def test_the_readme_shows_the_docs_example(doc_example: str) -> None:
    assert readme_example(__file__) == doc_example


def test_the_docs_example_runs(doc_example: str, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
                               tmp_path: Path) -> None:
    agent_calls: list[list[dict[str, Any]]] = []

    def answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> Reply | None:
        if not body.get("tools"):
            return None  # mem7's own fact extraction / update calls: the server's rule-based replies
        agent_calls.append(messages)
        last = messages[-1]
        if last["role"] == "tool":
            return "Noted, you are vegetarian."
        if "remember" in str(last["content"]):
            return ToolCall("save_memory", {"text": "Alice is vegetarian"})
        if any("- Alice is vegetarian" in str(m["content"]) for m in messages if m["role"] == "system"):
            return "How about a mushroom risotto?"
        return "Anything you like."

    openai_server.script(answer)
    printed = run_example(doc_example, filename=f"docs/{PAGE}", openai_url=openai_server.url, cwd=tmp_path,
                          monkeypatch=monkeypatch, env={"OPENAI_API_BASE": openai_server.url})
    assert printed[:2] == ["Noted, you are vegetarian.", "How about a mushroom risotto?"]
    assert "remembered: Alice is vegetarian" in printed
    assert len(agent_calls) == 3
    assert agent_calls[1][-1] == {"role": "tool", "content": "ADD: Alice is vegetarian",
                                  "tool_call_id": agent_calls[1][-2]["tool_calls"][0]["id"]}
    # the second conversation's prompt: no history, alice's memory in a system message before the question
    assert [m["role"] for m in agent_calls[2]] == ["system", "system", "user"]
    assert agent_calls[2][1]["content"] == "<memory>\n<mem7_memories>\n- Alice is vegetarian\n</mem7_memories>\n</memory>"
    assert agent_calls[2][2]["content"] == "What could I cook tonight?"
    assert openai_server.last_request("chat").body["model"] == "gpt-4o-mini"
    assert openai_server.errors == []

    # on disk under ./mem7-data, where the example said
    assert stored_memories(tmp_path / "mem7-data", user_id="alice") == ["Alice is vegetarian"]
