"""Integrations installed in a venv of their own (``[tool.mem7] own-venv = true``, today
integrations/crewai and integrations/llamaindex): scripts/local_dists.py keeps them out of the dev venv's install list and
gives scripts/setup.sh, test.sh and lint.sh what to install and run in theirs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _local_dists(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "local_dists.py"), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=True)
    return proc.stdout.splitlines()


def test_crewai_has_a_venv_of_its_own_with_the_local_dists_it_needs() -> None:
    project = tomllib.loads((ROOT / "integrations" / "crewai" / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["mem7"]["own-venv"] is True
    # its [test] extra asks for mem7-core[testing], mem7-openai and mem7-flat: installed editable, in order
    assert _local_dists("--own-venvs")[0] == ".venv-crewai .[testing] plugins/flat plugins/openai integrations/crewai[test]"


def test_llamaindex_has_a_venv_of_its_own_with_the_local_dists_it_needs() -> None:
    """llama-index-llms-openai (its FunctionAgent tests' LLM) pins openai<3; the dev venv has openai 3."""
    project = tomllib.loads((ROOT / "integrations" / "llamaindex" / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["mem7"]["own-venv"] is True
    assert any(r.startswith("llama-index-llms-openai") for r in project["project"]["optional-dependencies"]["test"])
    assert _local_dists("--own-venvs")[1:] == [
        ".venv-llamaindex .[testing] plugins/flat plugins/openai integrations/llamaindex[test]"]


def test_the_dev_venv_list_leaves_it_out() -> None:
    specs = _local_dists()
    assert not [s for s in specs if "crewai" in s or "llamaindex" in s]
    assert "integrations/openai-agents[test]" in specs and specs[0].startswith(".[")


def test_the_dev_venv_does_not_have_crewai_or_llama_index() -> None:
    """Their conftest leaves their tests out where the framework is not installed: here, by design."""
    code = "import importlib.util as u; print(u.find_spec('crewai') is None, u.find_spec('llama_index') is None)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "True True"


def test_an_own_venv_integration_is_not_collected_without_its_framework() -> None:
    """The dev venv's pytest (no crewai, no llama_index at all) collects neither integration's tests."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "integrations"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "integrations/openai-agents/" in proc.stdout
    assert "integrations/crewai/" not in proc.stdout and "integrations/llamaindex/" not in proc.stdout
