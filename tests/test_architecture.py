"""The plugin contract is the only layer plugins and the core's scorers import (issue 17).

The gate is import-linter's ``[tool.importlinter]`` in the root ``pyproject.toml``; these tests run
it, and check that its lists cannot silently rot: every module of ``mem7_core`` is classified as
contract or not, every plugin package is checked, and the contracts agree with each other.
"""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import mem7_core

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _linter() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]  # type: ignore[no-any-return]


def _contract(contract_id: str) -> dict[str, Any]:
    found = [c for c in _linter()["contracts"] if c.get("id") == contract_id]
    assert len(found) == 1, f"[tool.importlinter] has no single contract with id {contract_id!r}"
    return found[0]


def _classification() -> tuple[set[str], set[str]]:
    """(contract modules, the rest of mem7_core), as the "contract-is-closed" contract lists them."""
    closed = _contract("contract-is-closed")
    return set(closed["source_modules"]), set(closed["forbidden_modules"])


def _plugin_packages() -> set[str]:
    """The import packages of the provider plugins in this repository (the ``mem7`` facade is not one)."""
    dirs = [*ROOT.glob("plugins/*/mem7_*/__init__.py"), *ROOT.glob("docs/example-plugin/mem7_*/__init__.py")]
    return {p.parent.name for p in dirs}


# ------------------------------------------------------------------------------------ the gate
def test_lint_imports_keeps_every_contract() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.skip("import-linter is not installed (it is in the dev dependency group)")
    # Integrations installed in a venv of their own ([tool.mem7] own-venv) are read from PYTHONPATH.
    own = [pp.parent for pp in ROOT.glob("integrations/*/pyproject.toml")
           if tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {}).get("mem7", {}).get("own-venv") is True]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, own))}
    proc = subprocess.run(
        [str(exe), "--no-cache", str(PYPROJECT)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, f"lint-imports failed:\n{proc.stdout}\n{proc.stderr}"
    assert "0 broken" in proc.stdout, proc.stdout


# ----------------------------------------------------------------------- the lists cannot rot
def test_every_core_module_is_contract_or_not() -> None:
    contract, rest = _classification()
    assert not contract & rest, f"listed as both contract and not: {sorted(contract & rest)}"
    modules = {f"mem7_core.{m.name}" for m in pkgutil.iter_modules(mem7_core.__path__)}
    unplaced = modules - contract - rest
    assert not unplaced, (
        f"{sorted(unplaced)}: new module(s) of mem7_core; place each in pyproject.toml's "
        "[tool.importlinter] contract 'contract-is-closed': source_modules if provider plugins may "
        "import it (then document it in docs/writing-a-provider.md), else forbidden_modules"
    )
    stale = (contract | rest) - modules
    assert not stale, f"listed in [tool.importlinter] but not modules of mem7_core: {sorted(stale)}"


def test_the_contracts_name_the_same_modules() -> None:
    contract, rest = _classification()
    assert set(_contract("plugins-import-the-contract")["forbidden_modules"]) == rest
    assert set(_contract("scorers-import-the-contract")["forbidden_modules"]) == rest - {"mem7_core.scorers"}
    assert _contract("scorers-import-the-contract")["source_modules"] == ["mem7_core.scorers"]
    production = set(_contract("testing-kit-not-in-production")["source_modules"])
    assert (contract | rest) - {"mem7_core.testing"} <= production
    assert "mem7_core.testing" not in production
    assert _contract("testing-kit-not-in-production")["forbidden_modules"] == ["mem7_core.testing"]


def test_every_plugin_package_is_checked() -> None:
    plugins = _plugin_packages()
    assert {"mem7_flat", "mem7_openai", "mem7_llm_rerank"} <= plugins
    checked = set(_contract("plugins-import-the-contract")["source_modules"])
    assert checked == plugins, f"add to / remove from the plugins contract: {sorted(plugins ^ checked)}"
    assert plugins <= set(_contract("testing-kit-not-in-production")["source_modules"])
    assert plugins | {"mem7_core", "mem7"} <= set(_linter()["root_packages"])


def test_plugins_and_scorers_do_not_reach_around_the_contract_through_the_package_root() -> None:
    """``from mem7_core import AsyncMemory`` imports the engine through the root package's lazy
    exports, which import-linter cannot see: only contract modules may be imported that way."""
    contract, _ = _classification()
    allowed = {m.rsplit(".", 1)[1] for m in contract}
    files = [p for d in ROOT.glob("plugins/*/mem7_*") for p in d.rglob("*.py")]
    files += list(ROOT.glob("docs/example-plugin/mem7_*/**/*.py"))
    files += list((ROOT / "mem7_core" / "scorers").rglob("*.py"))
    assert files
    bad: list[str] = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "mem7_core" and node.level == 0:
                bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}" for a in node.names if a.name not in allowed]
            elif isinstance(node, ast.ImportFrom) and node.level >= 2 and path.is_relative_to(ROOT / "mem7_core"):
                if node.module is None:  # from .. import x (inside mem7_core.scorers)
                    bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}" for a in node.names if a.name not in allowed]
            elif isinstance(node, ast.Import):
                bad += [f"{path.relative_to(ROOT)}:{node.lineno}: import {a.name}" for a in node.names if a.name == "mem7_core"]
    assert not bad, "imports of mem7_core's root package beyond the contract:\n" + "\n".join(bad)
