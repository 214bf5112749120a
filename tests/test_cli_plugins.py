"""``mem7 plugins`` and the missing-provider error, through the real ``mem7`` script (subprocess).

In the dev venv every first-party plugin is installed (editable), so the "not installed" listing
is what the catalogue has beyond this venv's distributions; tests/test_wheels.py runs the same
command in venvs holding the core and one plugin, where every other one is listed as not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from mem7_core import catalogue


@pytest.fixture(scope="module")
def mem7_exe() -> str:
    exe = shutil.which("mem7", path=str(Path(sys.executable).parent)) or shutil.which("mem7")
    assert exe, "the mem7 console script is not installed (pip install -e . in the venv)"
    return exe


def run(exe: str, *args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real script, with no MEM7_* or OpenAI settings from outside, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MEM7_", "OPENAI_"))}
    base.update(MEM7_DATA_DIR=str(tmp_path / "data"), MEM7_USER_ID="alice", **env)
    return subprocess.run([exe, *args], env=base, capture_output=True, text=True, timeout=120, check=False)


def _installed(dist: str) -> bool:
    try:
        distribution(dist)
        return True
    except PackageNotFoundError:
        return False


def test_json_lists_each_installed_first_party_provider_and_the_rest_as_not_installed(mem7_exe: str,
                                                                                      tmp_path: Path) -> None:
    proc = run(mem7_exe, "--json", "plugins", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data["not_installed"]) == set(data["providers"])  # every kind, as the installed listing
    missing = {(kind, r["name"]): r for kind, rows in data["not_installed"].items() for r in rows}
    failed = {f["plugin"] for f in data["failed"]}
    for plugin in catalogue.first_party():
        for kind, (name, *aliases) in plugin.provides.items():
            if not _installed(plugin.distribution):
                row = missing.pop((kind, name))
                assert row == {"name": name, "aliases": sorted(aliases), "distribution": plugin.distribution,
                               "extra": plugin.extra, "install": plugin.install,
                               "install_alone": plugin.install_alone}
            elif plugin.entry_point not in failed:  # installed and loading (a plugin being written may not)
                [row] = [r for r in data["providers"][kind] if r["name"] == name]
                assert (row["distribution"], row["plugin"], row["aliases"]) == (
                    plugin.distribution, plugin.entry_point, sorted(aliases))
    assert not missing, f"listed as not installed but not in the catalogue: {sorted(missing)}"


def test_a_blocked_plugin_is_installed_not_missing(mem7_exe: str, tmp_path: Path) -> None:
    proc = run(mem7_exe, "plugins", tmp_path=tmp_path, MEM7_DISABLE_PLUGINS="qdrant")
    assert proc.returncode == 0, proc.stderr
    assert "blocked (MEM7_DISABLE_PLUGINS): qdrant" in proc.stdout
    assert "  qdrant  from" not in proc.stdout and "pip install 'mem7[qdrant]'" not in proc.stdout, proc.stdout

    # Asked for anyway: the error says why, not "pip install" what is there.
    proc = run(mem7_exe, "search", "anything", tmp_path=tmp_path, MEM7_DISABLE_PLUGINS="qdrant",
               MEM7_EMBEDDER__PROVIDER="hash", MEM7_VECTOR_STORE__PROVIDER="qdrant")
    assert proc.returncode == 2, proc
    assert "No vector_store provider named 'qdrant'" in proc.stderr, proc.stderr
    assert "It comes from mem7-qdrant, which MEM7_DISABLE_PLUGINS blocks" in proc.stderr, proc.stderr


def test_an_alias_names_its_distribution(mem7_exe: str, tmp_path: Path) -> None:
    proc = run(mem7_exe, "search", "anything", tmp_path=tmp_path, MEM7_DISABLE_PLUGINS="pgvector",
               MEM7_EMBEDDER__PROVIDER="hash", MEM7_VECTOR_STORE__PROVIDER="postgres")
    assert proc.returncode == 2, proc
    assert "No vector_store provider named 'postgres'" in proc.stderr, proc.stderr
    assert "It comes from mem7-pgvector" in proc.stderr and "mem7-postgres" not in proc.stderr, proc.stderr


def test_a_provider_under_the_wrong_kind_says_so(mem7_exe: str, tmp_path: Path) -> None:
    proc = run(mem7_exe, "search", "anything", tmp_path=tmp_path,
               MEM7_EMBEDDER__PROVIDER="hash", MEM7_GRAPH_STORE__PROVIDER="qdrant")
    assert proc.returncode == 2, proc
    assert ("No graph_store provider named 'qdrant'" in proc.stderr
            and "mem7-qdrant provides 'qdrant' as a vector_store, not as a graph_store" in proc.stderr), proc.stderr


def test_help_names_the_not_installed_listing(mem7_exe: str, tmp_path: Path) -> None:
    proc = run(mem7_exe, "--help", tmp_path=tmp_path)
    assert proc.returncode == 0
    assert "own plugins not installed with the command that adds each" in " ".join(proc.stdout.split())
