"""The docs page's example (docs/integrations/langgraph.md, the block titled agent.py) runs as is:
against the loopback OpenAI server (through OPENAI_BASE_URL), with mem7's real LLM path (fact
extraction and update decisions answered by the testing kit's rule-based model), so the page
cannot rot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mem7_core.testing.fakes import rule_based_reply
from mem7_core.testing.openai_server import OpenAIServer, ToolCall

PAGE = Path(__file__).resolve().parents[3] / "docs" / "integrations" / "langgraph.md"
_BLOCK = re.compile(r'^```python title="agent\.py"\n(.*?)\n```$', re.S | re.M)


def _example() -> str:
    blocks = _BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{PAGE} should have exactly one ```python title=\"agent.py\"``` block"
    return str(blocks[0])


def _script(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
    if not body.get("tools"):  # mem7's own calls: extraction and update decisions
        return rule_based_reply(messages)
    if messages[-1]["role"] == "tool":
        return f"You told me: {messages[-1]['content']}"
    question = messages[-1]["content"]
    if "Remember" in question:
        return ToolCall("save_memory", {"text": "Alice prefers green tea."})
    return ToolCall("search_memory", {"query": "drink"})


def test_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                           openai_server: OpenAIServer) -> None:
    pytest.importorskip("mem7_openai", reason="the example uses mem7-openai (the test extra installs it)")
    openai_server.script(_script)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    namespace: dict[str, Any] = {"__name__": "agent"}
    try:
        exec(compile(_example(), str(PAGE), "exec"), namespace)
    finally:
        if "memory" in namespace:
            namespace["memory"].close()
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2] == "You told me: - Alice prefers green tea"
    assert printed[-1] == "['Alice prefers green tea']"
    assert (tmp_path / "mem7-data").is_dir()  # the example's store is on disk, where it said
    # Two agent turns of two model calls each, and mem7's own (LLM) calls for the saved fact.
    chats = openai_server.requests("chat")
    assert len([r for r in chats if r.body.get("tools")]) == 4
    assert any(not r.body.get("tools") for r in chats)
