"""The docs site: it builds with ``mkdocs build --strict``, its generated reference is fresh, and the
provider tutorial shows exactly the example plugin's files (which CI installs and tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = DOCS / "example-plugin"
TUTORIAL = DOCS / "writing-a-provider.md"
_BLOCK = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)\n```$', re.S | re.M)


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs tools are in the dev dependency group")
    pytest.importorskip("material", reason="mkdocs-material is in the dev dependency group")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    for page in ("index.html", "concepts/index.html", "cli/index.html", "telemetry/index.html",
                 "reference/config/index.html", "writing-a-provider/index.html", "hooks/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert not (tmp_path / "site" / "example-plugin").exists()  # the package is code, not pages


def test_every_page_is_in_the_nav() -> None:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "example-plugin" not in p.parts}
    missing = sorted(p for p in pages if not re.search(rf":\s*{re.escape(p)}\s*$", text, re.M))
    assert not missing, f"add these pages to the nav of mkdocs.yml: {missing}"


def test_config_reference_is_fresh() -> None:
    """docs/reference/config.md is generated from the pydantic models; a model change needs a rerun."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr or proc.stdout


def test_config_reference_covers_every_core_section_and_field() -> None:
    from mem7_core.config import MemoryConfig, TelemetryConfig

    page = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
    for name in MemoryConfig.model_fields:
        assert f"| `{name}` |" in page, name
    for name in TelemetryConfig.model_fields:
        assert f"| `{name}` |" in page, f"telemetry.{name}"
    assert "#### `flat`" in page and "#### `openai`" in page and "#### `sqlite`" in page


def test_tutorial_code_blocks_are_the_example_files() -> None:
    """Every titled block is a verbatim piece of the file it names, and together the blocks show
    every line of every source file of the example, so the tutorial cannot drift from the code."""
    text = TUTORIAL.read_text(encoding="utf-8")
    shown: dict[str, list[str]] = {}
    for _lang, path, body in _BLOCK.findall(text):
        target = EXAMPLE / path
        assert target.is_file(), f"the tutorial shows {path}, which is not in docs/example-plugin"
        source = target.read_text(encoding="utf-8")
        assert body in source, f"a block titled {path} differs from docs/example-plugin/{path}"
        shown.setdefault(path, []).append(body)
    sources = [p for p in EXAMPLE.rglob("*") if p.suffix in (".py", ".toml") and "__pycache__" not in p.parts]
    for src in sources:
        rel = src.relative_to(EXAMPLE).as_posix()
        assert rel in shown, f"the tutorial never shows {rel}"
        lines_shown = {line for block in shown[rel] for line in block.splitlines()}
        missing = [line for line in src.read_text(encoding="utf-8").splitlines() if line.strip() and line not in lines_shown]
        assert not missing, f"the tutorial leaves out lines of {rel}: {missing[:5]}"


def test_example_plugin_is_installed_and_in_the_test_run() -> None:
    """CI installs it (scripts/local_dists.py feeds scripts/setup.sh) and tests it (root testpaths)."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "local_dists.py")], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=True)
    assert "docs/example-plugin[test]" in proc.stdout.splitlines()
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert "docs/example-plugin" in testpaths
    from mem7_core.plugins import PluginRegistry

    assert PluginRegistry().get("vector_store", "litevec").__module__ == "mem7_litevec.store"

