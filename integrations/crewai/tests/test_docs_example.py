"""The docs page's example (docs/integrations/crewai.md), run as written against the loopback
server: the first kickoff's exchange is remembered by mem7 and is in the agent's prompt on the
second. The package README shows the same code."""

from __future__ import annotations

from typing import Any

import pytest

from mem7_core.testing.integration import docs_example, readme_example, run_example, stored_memories

PAGE = "integrations/crewai.md"


@pytest.fixture
def doc_example() -> str:
    return docs_example(__file__, PAGE)


def test_the_readme_shows_the_docs_example(doc_example: str) -> None:
    assert readme_example(__file__) == doc_example


def test_the_docs_example_runs(doc_example, openai_server, monkeypatch, tmp_path) -> None:
    prompts: list[str] = []
    answers = ["Try a mushroom risotto.", "A chickpea salad."]

    def answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        if not str(messages[0].get("content", "")).startswith("You are Personal assistant."):
            return None  # mem7's own fact extraction / update calls: the server's rule-based replies
        prompts.append("\n".join(str(m.get("content") or "") for m in messages))
        return answers.pop(0)

    openai_server.script(answer)
    printed = run_example(doc_example, filename=f"docs/{PAGE}", openai_url=openai_server.url, cwd=tmp_path,
                          monkeypatch=monkeypatch)
    assert printed[:2] == ["Try a mushroom risotto.", "A chickpea salad."]
    assert len(prompts) == 2 and answers == []
    assert "Relevant memories" not in prompts[0]
    assert "Relevant memories:" in prompts[1] and "I'm vegetarian" in prompts[1]
    assert openai_server.errors == []

    # on disk under ./mem7-data, for another process with the same config
    stored = stored_memories(tmp_path / "mem7-data", user_id="alice")
    assert any("I'm vegetarian" in s for s in stored), stored
    assert [line for line in printed if line.startswith("remembered: ")] == [f"remembered: {s}" for s in stored]
