"""The provider tutorial's example plugin, outside the repository, passes its own tests.

What a third-party provider author does: copy docs/example-plugin somewhere else, install it with
the released core (here: the wheel built from this checkout, with its ``testing`` extra) into a
fresh venv, and run ``python -m pytest`` there. No configuration of ours is in play (the root
pyproject's ``asyncio_mode = "auto"`` is not seen), so pytest-asyncio runs in its default strict
mode, and the conformance suite must work through the core's pytest plugin alone
(mem7_core/testing/pytest_plugin.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from types import ModuleType

import pytest


def _wheel_helpers() -> ModuleType:
    """tests/test_wheels.py, for its ``_run`` and ``ROOT`` (tests/ is not a package)."""
    name = "_mem7_test_wheels"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_wheels.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_wheels = _wheel_helpers()
_run = _wheels._run
ROOT: Path = _wheels.ROOT


def _clean_env() -> dict[str, str]:
    """The environment minus anything of ours that would reach the child pytest or Python."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_CURRENT_TEST"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _build_wheel(src: Path, outdir: Path, env: dict[str, str]) -> Path:
    # As tests/test_wheels.py builds: without isolation when the backend is here (fast, offline).
    cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-isolation")
    before = set(outdir.glob("*.whl"))
    _run([*cmd, str(src)], cwd=outdir, env=env)
    [wheel] = set(outdir.glob("*.whl")) - before
    return wheel


@pytest.mark.wheels
def test_example_plugin_copied_out_passes_its_tests(tmp_path: Path) -> None:
    env = _clean_env()

    # The tutorial's package, copied where no configuration of the repository applies.
    example = tmp_path / "mem7-litevec"
    shutil.copytree(
        ROOT / "docs" / "example-plugin", example,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache"),
    )
    assert "tool.pytest" not in (example / "pyproject.toml").read_text(encoding="utf-8"), (
        "the example plugin must pass with no pytest configuration of its own"
    )

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    core = _build_wheel(ROOT, wheels, env)
    litevec = _build_wheel(example, wheels, env)

    # A venv without pip; the dev venv's pip installs into it (dependencies from pip's indexes/cache).
    target = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=os.name != "nt").create(target)
    py = target / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
          f"{core}[testing]", f"{litevec}[test]"], cwd=tmp_path, env=env)

    # The author's command, in the copy: its own (absent) configuration, strict mode.
    proc = _run_pytest(py, example, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-6000:]}"
    assert re.search(r"mode=(Mode\.)?strict", out, re.IGNORECASE), out[:2000]  # nothing set auto mode
    assert f"rootdir: {example.resolve()}" in out or f"rootdir: {example}" in out, out[:2000]
    assert "async def functions are not natively supported" not in out, out[-6000:]
    assert "requested async @pytest.fixture" not in out, out[-6000:]  # the fixture was handled
    summary = proc.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary, summary
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) >= 200, summary  # both conformance classes and test_engine.py ran

    # The tutorial's Python line names the vector store alone: with mem7-core and the plugin only, the
    # parts it leaves out are the openai defaults, which are not installed, and the error says what
    # to install (docs/writing-a-provider.md says so under the snippet).
    snippet = ('from mem7_core import Memory\n'
               'm = Memory({"vector_store": {"provider": "litevec", "config": {"path": "./memories.db"}}})\n')
    proc = subprocess.run([str(py), "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=_wheels.TIMEOUT, check=False)
    assert proc.returncode != 0 and "pip install mem7-openai" in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "memories.db").exists()  # refused before anything was opened


def _run_pytest(py: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(py), "-m", "pytest", "-p", "no:cacheprovider"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=_wheels.TIMEOUT, check=False)


# ------------------------------------------------------------------------------------------------
# The same mechanism in the dev venv (fast, no wheels): strict mode, warnings as errors.
# ------------------------------------------------------------------------------------------------
STRICT_PROBE = """
import inspect

import pytest

from mem7_core.testing import EmbedderConformance
from mem7_core.testing.fakes import HashEmbedder


class TestHash(EmbedderConformance):
    semantic = False

    @pytest.fixture
    async def embedder(self):
        emb = HashEmbedder(HashEmbedder.Config(dims=64))
        yield emb
        await emb.aclose()

    def test_a_sync_test_of_the_provider_is_left_alone(self, request):
        assert request.node.get_closest_marker("asyncio") is None

    async def test_an_async_test_of_the_provider_runs_too(self, embedder):
        assert len((await embedder.embed(["x"]))[0]) == 64


@pytest.mark.asyncio(loop_scope="class")
class TestHashOwnMarker(EmbedderConformance):
    semantic = False

    @pytest.fixture
    async def embedder(self):
        emb = HashEmbedder()
        yield emb
        await emb.aclose()

    async def test_its_own_marker_is_kept(self, request):
        assert request.node.get_closest_marker("asyncio").kwargs == {"loop_scope": "class"}


class TestNotASuite:
    async def test_plain_async_is_not_touched(self):
        pass
"""


def _run_probe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(STRICT_PROBE, encoding="utf-8")
    env = _clean_env()
    # -c /dev/null-like: an empty ini in tmp_path, so the root pyproject (auto mode) is not read.
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-rA",
         "-o", "asyncio_default_fixture_loop_scope=function", "-W", "error", *args, "test_probe.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_conformance_subclasses_run_in_strict_mode(tmp_path: Path) -> None:
    proc = _run_probe(tmp_path)
    out = proc.stdout + proc.stderr
    assert "mode=strict" in out.lower() or "mode.strict" in out.lower(), out[:2000]
    # Only the plain async test outside a suite fails (strict mode, unmarked), as pytest-asyncio says.
    failed = sorted(line.split()[1] for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR")))
    assert failed == ["test_probe.py::TestNotASuite::test_plain_async_is_not_touched"], out[-6000:]
    assert "async def functions are not natively supported" in out
    passed = re.search(r"(\d+) passed", proc.stdout.strip().splitlines()[-1])
    assert passed is not None and int(passed.group(1)) >= 30, out[-3000:]  # both suite classes ran


def test_auto_mode_is_unchanged(tmp_path: Path) -> None:
    proc = _run_probe(tmp_path, "-o", "asyncio_mode=auto")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "mode=auto" in out.lower() or "mode.auto" in out.lower(), out[:2000]
