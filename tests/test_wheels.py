"""Packaging: each first-party plugin's wheel, alone with mem7-core's in a fresh venv, is found.

For every ``plugins/<name>/`` distribution (not the ``mem7`` meta package, which provides nothing
itself): build its wheel and mem7-core's from this checkout, install the two with uv into a new
venv that sees neither the dev venv nor the checkout (third-party dependencies from PyPI, through
uv's cache), and check there that

- the plugin registry finds exactly the providers ``mem7_core/catalogue.toml`` lists for it,
  imported from that venv, and nothing of another mem7 plugin is installed;
- the real ``mem7 plugins`` (text and ``--json``) lists them from that distribution, and every
  other first-party plugin as not installed, with the command that adds it.

mem7-flat's venv also checks the error for a provider that is not installed.

Cost: uv links packages from its cache (``UV_CACHE_DIR``, else ``~/.cache/uv``), so a warm cache
makes a venv of a plugin with hundreds of MB of dependencies (chromadb, lancedb + pyarrow) in
about a second; a cold one downloads each dependency once. The venvs are built two at a time
(they wait on the network and the disk), before the first test of the module needs one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mem7_core import catalogue

pytestmark = pytest.mark.wheels

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds per step: a cold cache downloads e.g. chromadb's dependencies
WORKERS = 2  # venvs built at once (2 cores; installs mostly wait on I/O)


def _plugin_dirs() -> list[Path]:
    """Every plugins/<name>/ distribution with a ``mem7`` entry point (not the meta package)."""
    out = []
    for pp in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        project = tomllib.loads(pp.read_text(encoding="utf-8"))["project"]
        if project.get("entry-points", {}).get("mem7"):
            out.append(pp.parent)
    return out


PLUGIN_DIRS = _plugin_dirs()


def _project(plugin_dir: Path) -> dict[str, Any]:
    return tomllib.loads((plugin_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]  # type: ignore[no-any-return]


def _env() -> dict[str, str]:
    """The test's environment without PYTHONPATH/PYTHONHOME, our venv, or mem7 settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} and not k.startswith("MEM7_")}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    return env


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` (in ``env``, by default :func:`_env`); its stdout, or a failure with its output.
    tests/test_example_plugin_outside.py uses it too."""
    proc = subprocess.run(cmd, cwd=cwd, env=_env() if env is None else env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.fail("uv is not installed: it is in the root pyproject's dev group (scripts/setup.sh installs it)")
    return str(find_uv_bin())


def _build_wheel(src: Path, outdir: Path) -> Path:
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir)]
    # Without isolation when the backend is already here (fast, offline); else build fetches it.
    if importlib.util.find_spec("hatchling") is not None:
        build.append("--no-isolation")
    _run([*build, str(src)], cwd=outdir.parent)
    [wheel] = outdir.glob("*.whl")
    return wheel


@dataclass
class Venv:
    """A fresh venv holding mem7-core and one plugin, both from wheels built from this checkout."""

    dir: Path
    python: Path
    mem7: Path
    wheels: list[Path]


def _venv_alone(plugin_dir: Path, core_wheel: Path, work: Path) -> Venv:
    wheel = _build_wheel(plugin_dir, work / "wheel")
    target = work / "venv"
    uv = _uv()
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(target)], cwd=work)
    bindir = target / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    _run([uv, "pip", "install", "--quiet", "--python", str(python), str(core_wheel), str(wheel)], cwd=work)
    return Venv(target, python, bindir / "mem7", [core_wheel, wheel])


@pytest.fixture(scope="module")
def venvs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Venv]]]:
    """Venvs of the plugins this session's selected tests need, built ``WORKERS`` at a time."""
    wanted: set[str] = set()
    for item in request.session.items:
        if not (isinstance(item, pytest.Function) and item.module is request.module):
            continue
        callspec = getattr(item, "callspec", None)
        wanted.add(callspec.params["plugin_dir"].name if callspec is not None else "flat")  # the core + flat test
    core_wheel = _build_wheel(ROOT, tmp_path_factory.mktemp("core") / "wheel")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(_venv_alone, ROOT / "plugins" / name, core_wheel, tmp_path_factory.mktemp(name))
                   for name in sorted(wanted)}
        yield futures
        for f in futures.values():
            f.cancel()


def _venv(venvs: dict[str, Future[Venv]], name: str) -> Venv:
    try:
        return venvs[name].result()
    except RuntimeError as exc:  # the build or the install failed: that plugin's test fails, not the others'
        pytest.fail(str(exc), pytrace=False)


PROBE = r"""
import json, sys
from importlib.metadata import distributions, entry_points

import mem7_core
from mem7_core.errors import ProviderNotFoundError
from mem7_core.plugins import PluginRegistry

r = PluginRegistry()
providers = r.providers()
missing = {}
for spec in sys.argv[1:]:
    kind, name = spec.split(":")
    try:
        r.get(kind, name)
        missing[spec] = None
    except ProviderNotFoundError as exc:
        missing[spec] = str(exc)
print(json.dumps({
    "entry_points": sorted(ep.name for ep in entry_points(group="mem7")),
    "failed": r.failed,
    "provided": sorted(
        [kind, name, r.origin(kind, name), sys.modules[cls.__module__].__file__]
        for kind, by_name in providers.items() for name, cls in by_name.items()
        if r.origin(kind, name) not in ("mem7_core", "hash")  # the core's builtins and its testing kit's hash
    ),
    "mem7_dists": sorted(d.metadata["Name"] for d in distributions() if d.metadata["Name"].startswith("mem7")),
    "core_file": mem7_core.__file__,
    "sys_path": sys.path,
    "missing": missing,
}))
"""


def _probe(venv: Venv, *lookups: str) -> dict[str, Any]:
    # -I: no cwd or user site on sys.path, PYTHON* ignored; cwd is outside the checkout anyway.
    out = _run([str(venv.python), "-I", "-c", PROBE, *lookups], cwd=venv.dir.parent)
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def _check_alone(plugin_dir: Path, venv: Venv) -> dict[str, Any]:
    """What holds for every plugin alone with the core; returns the probe's answer for more checks."""
    project = _project(plugin_dir)
    dist = project["name"]
    [ep_name] = project["entry-points"]["mem7"]
    listed = next((p for p in catalogue.first_party() if p.distribution == dist), None)
    assert listed is not None, f"{dist} is not in mem7_core/catalogue.toml (tests/test_catalogue.py says which line to add)"
    deps = [r for r in project.get("dependencies", []) if r.startswith("mem7-") and not r.startswith("mem7-core")]
    assert not deps, f"{dist} depends on other mem7 plugins, so it cannot be installed alone: {deps}"

    out = _probe(venv)
    venv_dir = venv.dir.resolve()
    assert out["mem7_dists"] == sorted(["mem7-core", dist]), out["mem7_dists"]
    assert out["entry_points"] == sorted([ep_name, "hash"]), out["entry_points"]  # core (hash) + this plugin only
    assert out["failed"] == {}, out["failed"]
    assert Path(out["core_file"]).resolve().is_relative_to(venv_dir), out["core_file"]
    assert not any(str(ROOT) == p or p.startswith(str(ROOT) + os.sep) for p in out["sys_path"]), out["sys_path"]
    by_kind: dict[str, set[str]] = {}
    for kind, name, origin, file in out["provided"]:
        assert origin == ep_name, (kind, name, origin)
        assert Path(file).resolve().is_relative_to(venv_dir), file
        by_kind.setdefault(kind, set()).add(name)
    assert by_kind == {kind: set(names) for kind, names in listed.provides.items()}, (
        f"in a venv of its own, {dist} registers {by_kind}; mem7_core/catalogue.toml lists {dict(listed.provides)}"
    )

    # The real command line of that venv: this plugin's providers installed, every other one not.
    data = json.loads(_run([str(venv.mem7), "--json", "plugins"], cwd=venv.dir.parent))
    assert data["failed"] == [] and data["blocked"] == []
    for kind, (name, *aliases) in listed.provides.items():
        [row] = [r for r in data["providers"][kind] if r["name"] == name]
        assert (row["distribution"], row["version"], row["plugin"]) == (dist, project["version"], ep_name), row
        assert row["aliases"] == sorted(aliases), row
    others = [p for p in catalogue.first_party() if p.distribution != dist]
    want = sorted((kind, names[0], p.distribution, p.install) for p in others for kind, names in p.provides.items())
    got = sorted((kind, r["name"], r["distribution"], r["install"]) for kind, rows in data["not_installed"].items()
                 for r in rows)
    assert got == want, {"missing": sorted(set(want) - set(got)), "unexpected": sorted(set(got) - set(want))}
    return out


def test_core_and_flat_wheels_in_a_fresh_venv(venvs: dict[str, Future[Venv]]) -> None:
    venv = _venv(venvs, "flat")
    assert sorted(w.name.split("-")[0] for w in venv.wheels) == ["mem7_core", "mem7_flat"]
    _check_alone(ROOT / "plugins" / "flat", venv)

    # The text listing (the JSON one is checked for every plugin): flat installed, the others with their command.
    text = _run([str(venv.mem7), "plugins"], cwd=venv.dir.parent)
    lines = text.splitlines()
    assert "  flat  from mem7-flat 0.1.0 (entry point flat)" in lines, text
    start = lines.index("not installed (mem7's own plugins), with the command that adds each:")
    missing: dict[str, dict[str, str]] = {}  # kind -> provider name -> its line
    section: dict[str, str] = {}
    for line in lines[start + 1:]:
        if line.startswith("    "):
            section[line.split()[0]] = line
        else:
            assert line.startswith("  ") and line.endswith(":"), line
            section = missing[line.strip().rstrip(":")] = {}
    want: dict[str, set[str]] = {}
    for plugin in catalogue.first_party():
        if plugin.distribution == "mem7-flat":
            continue
        for kind, names in plugin.provides.items():
            want.setdefault(kind, set()).add(names[0])
            row = missing.get(kind, {}).get(names[0], "")
            assert plugin.install in row, (kind, names[0], text)
            if plugin.extra is not None:
                assert f"or: {plugin.install_alone}" in row, row
            if len(names) > 1:
                assert row.endswith(f"aliases: {', '.join(sorted(names[1:]))}"), row
    assert {kind: set(rows) for kind, rows in missing.items()} == want, text

    out = _probe(venv, "vector_store:flat", "vector_store:qdrant", "vector_store:postgres", "llm:openai")
    assert out["missing"]["vector_store:flat"] is None
    msg = out["missing"]["vector_store:qdrant"]
    assert msg == (
        "No vector_store provider named 'qdrant'. Installed: flat. Try: pip install 'mem7[qdrant]' (or: pip install mem7-qdrant)"
    ), msg
    assert "Try: pip install 'mem7[pgvector]' (or: pip install mem7-pgvector)" in out["missing"]["vector_store:postgres"]
    assert out["missing"]["llm:openai"] == "No llm provider named 'openai'. Installed: none. Try: pip install mem7-openai"


@pytest.mark.parametrize("plugin_dir", [d for d in PLUGIN_DIRS if d.name != "flat"], ids=lambda p: p.name)
def test_each_plugin_wheel_alone_with_the_core(plugin_dir: Path, venvs: dict[str, Future[Venv]]) -> None:
    _check_alone(plugin_dir, _venv(venvs, plugin_dir.name))


def test_core_wheel_ships_the_dashboard(tmp_path: Path) -> None:
    """``mem7 serve``'s /ui pages are package data of mem7-core: every file of mem7_core/server/ui."""
    import zipfile

    wheel = _build_wheel(ROOT, tmp_path / "wheel")
    names = set(zipfile.ZipFile(wheel).namelist())
    ui = ROOT / "mem7_core" / "server" / "ui"
    files = sorted(p.relative_to(ROOT).as_posix() for p in ui.rglob("*") if p.is_file())
    assert {"mem7_core/server/ui/index.html", "mem7_core/server/ui/app.js", "mem7_core/server/ui/style.css"} <= set(files)
    assert [f for f in files if f not in names] == []
