"""Helpers for testing a framework integration (``integrations/<name>/tests``) against mem7.

- :func:`verbatim_config`: an engine with no LLM (what it is given is stored verbatim), the ``hash``
  embedder, all in memory;
- :func:`loopback_config`: the same, with mem7's LLM and embedder on the loopback OpenAI server
  (``openai_server`` fixture), so its fact extraction and update decisions run;
- :func:`python_example`: the one ``python`` block of a docs page or README, for a test that runs
  a page's example as written; :func:`docs_example`: that of an integration's docs page, skipping
  the test outside the repository; :func:`readme_example`: that of the integration's README;
- :func:`run_example`: an example run as ``python example.py`` would run it, against the loopback
  OpenAI server; the lines it printed;
- :func:`stored_memories`: what a docs example (run in a temporary directory) left on disk under
  ``./mem7-data``, read by another engine as another process would.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ..engine.sync import Memory

__all__ = [
    "docs_example",
    "loopback_config",
    "python_example",
    "readme_example",
    "run_example",
    "stored_memories",
    "verbatim_config",
]

_PYTHON = re.compile(r"^```python\n(.*?)\n```$", re.S | re.M)


def verbatim_config() -> dict[str, Any]:
    """No LLM: mem7 stores what it is given verbatim; the testing kit's hash embedder."""
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }


def loopback_config(base_url: str) -> dict[str, Any]:
    """mem7's LLM and embedder on the loopback server at ``base_url`` (its rule-based fact
    extraction and decisions, unless the test scripts them), no retries."""
    conn = {"base_url": base_url, "api_key": "sk-test", "max_retries": 0, "timeout": 10.0}
    return {
        "llm": {"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}},
        "embedder": {"provider": "openai", "config": {**conn, "model": "text-embedding-3-small", "embedding_dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "llm_retries": 0,
    }


def python_example(path: Path) -> str:
    """The code of the one ```` ```python ```` block of ``path`` (``AssertionError`` unless exactly one)."""
    blocks = _PYTHON.findall(path.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{path} should show exactly one python block (the example), found {len(blocks)}"
    return str(blocks[0])


def docs_example(test_file: str | Path, page: str) -> str:
    """The example of ``docs/<page>`` for a test file of ``integrations/<name>/tests/``; the test
    is skipped outside the repository (an unpacked sdist has no docs pages)."""
    root = Path(test_file).resolve().parents[3]
    if not (root / "mkdocs.yml").is_file():
        pytest.skip("outside the mem7 repository (an unpacked sdist): the docs page is not here")
    return python_example(root / "docs" / page)


def readme_example(test_file: str | Path) -> str:
    """The example of the README of the integration a test file of ``integrations/<name>/tests/`` belongs to."""
    return python_example(Path(test_file).resolve().parents[1] / "README.md")


def run_example(
    code: str,
    *,
    filename: str | Path,
    openai_url: str,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Run an example's ``code`` as ``python example.py`` would, in ``cwd``, with ``OPENAI_API_KEY``
    set to a test key, ``OPENAI_BASE_URL`` to ``openai_url`` (the loopback server) and the
    variables of ``env``; the lines it printed. ``filename`` is what tracebacks name."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_url)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(filename), "exec"), {"__name__": "__main__"})
    return out.getvalue().splitlines()


def stored_memories(data_dir: Path, **scope: str) -> list[str]:
    """The texts of the memories of ``scope`` (e.g. ``user_id="alice"``) in the store the
    integration docs examples keep under ``data_dir`` (``mem7-data/vectors`` and
    ``mem7-data/history.db``), in ``get_all`` order; read with a fresh engine and no LLM."""
    config = {
        "llm": None,
        "embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}},
        "vector_store": {"provider": "flat", "config": {"path": str(data_dir / "vectors")}},
        "history_store": {"provider": "auto", "config": {"path": str(data_dir / "history.db")}},
    }
    with Memory(config) as mem:
        return [m["memory"] for m in mem.get_all(**scope)["results"]]
