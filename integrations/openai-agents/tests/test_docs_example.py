"""The docs page's example (docs/integrations/openai-agents.md), run as written against the loopback
server: the model calls save_memory then search_memory, and the memories are on disk afterwards.
The package README shows the same code. As in every test here, the conftest has turned the SDK's
tracing export off and refuses any connection beyond loopback."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.testing.openai_server import ToolCall

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DOC = ROOT / "docs" / "integrations" / "openai-agents.md"
README = HERE.parent / "README.md"
_PYTHON = re.compile(r"^```python\n(.*?)\n```$", re.S | re.M)


def _example(path: Path) -> str:
    blocks = _PYTHON.findall(path.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{path} should show exactly one python block (the example), found {len(blocks)}"
    return blocks[0]


@pytest.fixture
def doc_example() -> str:
    if not (ROOT / "mkdocs.yml").is_file():
        pytest.skip("outside the mem7 repository (an unpacked sdist): the docs page is not here")
    return _example(DOC)


def test_the_readme_shows_the_docs_example(doc_example: str) -> None:
    assert _example(README) == doc_example


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
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.chdir(tmp_path)

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(doc_example, str(DOC), "exec"), {"__name__": "__main__"})  # as `python example.py`

    printed = out.getvalue().splitlines()
    assert printed[0] == "How about a mushroom risotto?"
    assert "remembered: Alice is vegetarian" in printed
    assert len(agent_calls) == 3 and replies == []
    search_output = next(m["content"] for m in agent_calls[2]["messages"] if m.get("tool_call_id") == "search")
    assert search_output == "- Alice is vegetarian"
    assert openai_server.errors == []

    # on disk under ./mem7-data: the tool's memory and the facts the session extracted from the exchange
    async def stored() -> list[str]:
        config = {
            "llm": None,
            "embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}},
            "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "mem7-data" / "vectors")}},
            "history_store": {"provider": "auto", "config": {"path": str(tmp_path / "mem7-data" / "history.db")}},
        }
        async with AsyncMemory(config) as mem:
            return sorted(m["memory"] for m in (await mem.get_all(user_id="alice"))["results"])

    memories = asyncio.run(stored())
    assert "Alice is vegetarian" in memories
    assert "I'm vegetarian" in memories  # from the session: the user's own words, extracted by mem7's LLM
