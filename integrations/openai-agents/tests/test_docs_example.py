"""The docs page's example (docs/integrations/openai-agents.md), run as written against the loopback
server: the model calls save_memory then search_memory, and the memories are on disk afterwards.
The package README shows the same code. As in every test here, the conftest has turned the SDK's
tracing export off and refuses any connection beyond loopback."""

from __future__ import annotations

from typing import Any

import pytest

from mem7_core.testing.integration import docs_example, readme_example, run_example, stored_memories
from mem7_core.testing.openai_server import ToolCall

PAGE = "integrations/openai-agents.md"


@pytest.fixture
def doc_example() -> str:
    return docs_example(__file__, PAGE)


def test_the_readme_shows_the_docs_example(doc_example: str) -> None:
    assert readme_example(__file__) == doc_example


def test_the_docs_example_runs(doc_example, openai_server, monkeypatch, tmp_path) -> None:
    agent_calls: list[dict[str, Any]] = []
    replies: list[Any] = [
        ToolCall("save_memory", {"text": "Alice is vegetarian"}, id="save"),
        ToolCall("search_memory", {"query": "Alice diet"}, id="search"),
        "How about a mushroom risotto?",
    ]

    def answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        names = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
        if "save_memory" not in names:
            return None  # mem7's own fact extraction / update calls: the server's rule-based replies
        agent_calls.append(body)
        return replies.pop(0)

    openai_server.script(answer)
    printed = run_example(doc_example, filename=f"docs/{PAGE}", openai_url=openai_server.url, cwd=tmp_path,
                          monkeypatch=monkeypatch)
    assert printed[0] == "How about a mushroom risotto?"
    assert "remembered: Alice is vegetarian" in printed
    assert len(agent_calls) == 3 and replies == []
    search_output = next(m["content"] for m in agent_calls[2]["messages"] if m.get("tool_call_id") == "search")
    assert search_output == "- Alice is vegetarian"
    assert openai_server.errors == []

    # on disk under ./mem7-data: the tool's memory and the facts the session extracted from the exchange
    memories = stored_memories(tmp_path / "mem7-data", user_id="alice")
    assert "Alice is vegetarian" in memories
    assert "I'm vegetarian" in memories  # from the session: the user's own words, extracted by mem7's LLM
