"""The docs page's example (docs/integrations/llamaindex.md), run as written against the loopback
server: the agent (a ReActAgent on LMStudio, at LLM_BASE_URL) saves a memory in one conversation,
and in the next one the memory block brings it into the prompt. mem7's own LLM and embedder (the
openai provider, through OPENAI_BASE_URL) are on the same server. The package README shows the
same code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mem7_core.testing.integration import docs_example, readme_example, run_example, stored_memories
from mem7_core.testing.openai_server import OpenAIServer

PAGE = "integrations/llamaindex.md"
_REACT = "## Output Format"  # in the ReAct agent's system prompt; mem7's own prompts lack it


@pytest.fixture
def doc_example() -> str:
    return docs_example(__file__, PAGE)


def test_the_readme_shows_the_docs_example(doc_example: str) -> None:
    assert readme_example(__file__) == doc_example


def test_the_docs_example_runs(doc_example: str, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
                               tmp_path: Path) -> None:
    agent_calls: list[list[dict[str, Any]]] = []

    def answer(messages: list[dict[str, Any]]) -> Any:
        if _REACT not in str(messages[0].get("content")):
            return None  # mem7's own fact extraction / update calls: the server's rule-based replies
        agent_calls.append(messages)
        last = str(messages[-1]["content"])
        if last.startswith("Observation:"):
            return "Thought: Saved.\nAnswer: Noted, you are vegetarian."
        if "remember" in last:
            return 'Thought: I should save this.\nAction: save_memory\nAction Input: {"text": "Alice is vegetarian"}'
        if "- Alice is vegetarian" in last:
            return "Thought: I know alice is vegetarian.\nAnswer: How about a mushroom risotto?"
        return "Thought: I know nothing about alice.\nAnswer: Anything you like."

    openai_server.script(answer)
    printed = run_example(doc_example, filename=f"docs/{PAGE}", openai_url=openai_server.url, cwd=tmp_path,
                          monkeypatch=monkeypatch, env={"LLM_BASE_URL": openai_server.url})
    assert printed[:2] == ["Noted, you are vegetarian.", "How about a mushroom risotto?"]
    assert "remembered: Alice is vegetarian" in printed
    assert len(agent_calls) == 3
    # the second conversation's prompt: no history, alice's memory in front of the question
    assert [m["role"] for m in agent_calls[2]] == ["system", "user"]
    assert agent_calls[2][1]["content"] == (
        "<memory>\n<mem7_memories>\n- Alice is vegetarian\n</mem7_memories>\n</memory>\nWhat could I cook tonight?"
    )
    assert openai_server.errors == []

    # on disk under ./mem7-data, where the example said
    assert stored_memories(tmp_path / "mem7-data", user_id="alice") == ["Alice is vegetarian"]
