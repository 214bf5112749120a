"""Packaging: the mem7-core and mem7-flat wheels, alone in a fresh venv, find each other.

Builds both wheels from this checkout, installs them (dependencies from PyPI, through pip's cache)
into a new venv that sees neither the dev venv nor the checkout, and asks the plugin registry there
for the flat vector store and for one that is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheels

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds per step: a cold pip cache downloads numpy and pydantic-core

PROBE = r"""
import json, sys
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from importlib.util import find_spec

import mem7_core
from mem7_core.errors import ProviderNotFoundError
from mem7_core.plugins import PluginRegistry

r = PluginRegistry()
cls = r.get("vector_store", "flat")
out = {
    "cls": f"{cls.__module__}.{cls.__qualname__}",
    "cls_file": sys.modules[cls.__module__].__file__,
    "core_file": mem7_core.__file__,
    "origin": r.origin("vector_store", "flat"),
    "entry_points": sorted(ep.name for ep in entry_points(group="mem7")),
    "openai_module": find_spec("mem7_openai") is not None,
    "sys_path": sys.path,
}
try:
    distribution("mem7-openai")
    out["openai_dist"] = True
except PackageNotFoundError:
    out["openai_dist"] = False
try:
    r.get("vector_store", "qdrant")
    out["qdrant"] = None
except ProviderNotFoundError as exc:
    out["qdrant"] = str(exc)
print(json.dumps(out))
"""


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(
            f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def test_core_and_flat_wheels_in_a_fresh_venv(tmp_path: Path) -> None:
    # No PYTHONPATH, no PYTHONHOME, no venv of ours leaking in; pip's cache and config stay.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"

    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels)]
    # Without isolation when the backend is already here (fast, offline); else build fetches it.
    if importlib.util.find_spec("hatchling") is not None:
        build.append("--no-isolation")
    for src in (ROOT, ROOT / "plugins" / "flat"):
        _run([*build, str(src)], cwd=tmp_path, env=env)
    built = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in built] == ["mem7_core", "mem7_flat"], built

    # A venv without pip (faster); the dev venv's pip installs into it with --python.
    target = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=os.name != "nt").create(target)
    py = target / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
         "--find-links", str(wheels), *(str(w) for w in sorted(wheels.glob("*.whl")))],
        cwd=tmp_path, env=env,
    )

    # -I: no cwd or user site on sys.path, PYTHON* ignored; cwd is outside the checkout anyway.
    out = json.loads(_run([str(py), "-I", "-c", PROBE], cwd=tmp_path, env=env).splitlines()[-1])

    venv_dir = target.resolve()
    assert out["cls"] == "mem7_flat.store.FlatVectorStore"
    assert Path(out["cls_file"]).resolve().is_relative_to(venv_dir), out["cls_file"]
    assert Path(out["core_file"]).resolve().is_relative_to(venv_dir), out["core_file"]
    assert not any(str(ROOT) == p or p.startswith(str(ROOT) + os.sep) for p in out["sys_path"]), out["sys_path"]
    assert out["origin"] == "flat"
    assert out["entry_points"] == ["flat", "hash"]  # hash: mem7-core's own (the testing kit's fake embedder)

    # Core + one plugin only.
    assert out["openai_dist"] is False
    assert out["openai_module"] is False

    msg = out["qdrant"]
    assert msg is not None, "asking for 'qdrant' did not raise ProviderNotFoundError"
    assert "Installed: flat" in msg, msg
    assert "pip install mem7-qdrant" in msg, msg


# ------------------------------------------------------------------------------------------------
# Every plugin: its wheel next to the core's, alone in a fresh venv, is discovered by name.
# ------------------------------------------------------------------------------------------------
def _plugin_dirs() -> list[Path]:
    import tomllib

    out = []
    for pp in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        project = tomllib.loads(pp.read_text(encoding="utf-8"))["project"]
        if project.get("entry-points", {}).get("mem7"):
            out.append(pp.parent)
    return out


PLUGIN_PROBE = r"""
import json, sys
from importlib.metadata import entry_points
from mem7_core.plugins import PluginRegistry

r = PluginRegistry()
providers = r.providers()
print(json.dumps({
    "entry_points": sorted(ep.name for ep in entry_points(group="mem7")),
    "failed": r.failed,
    "provided": sorted(
        [kind, name, r.origin(kind, name), sys.modules[cls.__module__].__file__]
        for kind, by_name in providers.items() for name, cls in by_name.items()
        if r.origin(kind, name) not in ("mem7_core", "hash")  # the core's builtins and its testing kit's hash
    ),
}))
"""


@pytest.fixture(scope="module")
def all_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    out = tmp_path_factory.mktemp("wheels")
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        build.append("--no-isolation")
    for src in (ROOT, *_plugin_dirs()):
        _run([*build, str(src)], cwd=out, env=env)
    return out


@pytest.mark.parametrize("plugin_dir", _plugin_dirs(), ids=lambda p: p.name)
def test_each_plugin_wheel_is_discovered_with_core_only(plugin_dir: Path, all_wheels: Path, tmp_path: Path) -> None:
    import tomllib

    project = tomllib.loads((plugin_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = project["name"].replace("-", "_")
    [ep_name] = project["entry-points"]["mem7"]
    core = list(all_wheels.glob("mem7_core-*.whl"))
    mine = list(all_wheels.glob(f"{dist}-*.whl"))
    assert len(core) == 1 and len(mine) == 1, sorted(p.name for p in all_wheels.iterdir())

    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    target = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=os.name != "nt").create(target)
    py = target / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # --no-index for mem7 packages would be ideal, but third-party deps come from PyPI (pip cache).
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", str(core[0]), str(mine[0])],
         cwd=tmp_path, env=env)
    out = json.loads(_run([str(py), "-I", "-c", PLUGIN_PROBE], cwd=tmp_path, env=env).splitlines()[-1])

    assert out["entry_points"] == sorted([ep_name, "hash"]), out["entry_points"]  # core (hash) + this plugin only
    assert out["failed"] == {}, out["failed"]
    assert out["provided"], f"{project['name']} registered no provider"
    for kind, name, origin, file in out["provided"]:
        assert origin == ep_name, (kind, name, origin)
        assert Path(file).resolve().is_relative_to(target.resolve()), file
