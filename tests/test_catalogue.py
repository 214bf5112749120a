"""The catalogue of mem7's own plugins (``mem7_core/catalogue.toml``) agrees with the repository.

A meta-test in datasette's style: the catalogue is checked, not trusted. For every ``plugins/<name>/``
distribution with a ``mem7`` entry point, the catalogue has its line, naming that entry point and
exactly the providers (name, then aliases, per kind) its plugin module registers; the meta package
(``plugins/mem7/pyproject.toml``) installs it (a dependency, or the extra the line names); the
README's provider table has its row. No line names a distribution the repository does not have.
Each failure says which line to add or change.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from packaging.requirements import Requirement

from mem7_core import catalogue
from mem7_core.catalogue import FirstPartyPlugin
from mem7_core.plugins import PluginRegistry
from mem7_core.providers.base import PROVIDER_KINDS

ROOT = Path(__file__).resolve().parents[1]
META = ROOT / "plugins" / "mem7" / "pyproject.toml"
CATALOGUE = "mem7_core/catalogue.toml"


def _project(pyproject: Path) -> dict[str, Any]:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]  # type: ignore[no-any-return]


def plugin_dirs() -> list[Path]:
    """Every plugins/<name>/ distribution that registers providers (not the meta package)."""
    return [pp.parent for pp in sorted((ROOT / "plugins").glob("*/pyproject.toml"))
            if _project(pp).get("entry-points", {}).get("mem7")]


def _meta() -> tuple[set[str], dict[str, set[str]]]:
    """The meta package's dependencies and its extras, as distribution names."""
    project = _project(META)
    deps = {Requirement(r).name for r in project.get("dependencies", [])}
    extras = {extra: {Requirement(r).name for r in reqs}
              for extra, reqs in project.get("optional-dependencies", {}).items()}
    return deps, extras


def registered(entry_point: str, module_name: str) -> dict[str, tuple[str, ...]]:
    """Kind → (name, *aliases) of each provider the module registers, as a registry of its own sees it."""
    registry = PluginRegistry(discover=False, builtins=False)
    assert registry.register_plugin(importlib.import_module(module_name), name=entry_point), registry.failed
    out: dict[str, list[str]] = {}
    for kind, by_name in registry.providers().items():
        for cls in dict.fromkeys(by_name.values()):  # each class once, in registration order
            out.setdefault(kind, []).extend([cls.name, *cls.aliases])
    return {kind: tuple(out[kind]) for kind in PROVIDER_KINDS if kind in out}


def expected_entry(plugin_dir: Path) -> FirstPartyPlugin:
    """The catalogue line the repository calls for (the extra: the meta package's, else the directory name)."""
    project = _project(plugin_dir / "pyproject.toml")
    dist = project["name"]
    group: dict[str, str] = project["entry-points"]["mem7"]
    assert len(group) == 1, f"{dist}: the catalogue knows one entry point per distribution; it declares {sorted(group)}"
    [(entry_point, target)] = group.items()
    deps, extras = _meta()
    extra: str | None = next((e for e, names in sorted(extras.items()) if names == {dist}), plugin_dir.name)
    if dist in deps:
        extra = None
    return FirstPartyPlugin(dist, entry_point, extra, MappingProxyType(registered(entry_point, target.split(":", 1)[0])))


def _catalogued() -> dict[str, FirstPartyPlugin]:
    return {p.distribution: p for p in catalogue.first_party()}


@pytest.mark.parametrize("plugin_dir", plugin_dirs(), ids=lambda p: p.name)
def test_each_plugin_has_its_catalogue_line(plugin_dir: Path) -> None:
    want = expected_entry(plugin_dir)
    have = _catalogued().get(want.distribution)
    assert have is not None, (
        f"{want.distribution} (plugins/{plugin_dir.name}) is not in the catalogue; add this line to {CATALOGUE}:\n"
        f"{want.line()}"
    )
    assert (have.entry_point, dict(have.provides)) == (want.entry_point, dict(want.provides)), (
        f"{CATALOGUE} disagrees with plugins/{plugin_dir.name} (its entry point and what its plugin module "
        f"registers); replace its line\n{have.line()}\nwith\n{want.line()}"
    )


@pytest.mark.parametrize("plugin_dir", plugin_dirs(), ids=lambda p: p.name)
def test_the_meta_package_installs_each_plugin(plugin_dir: Path) -> None:
    dist = _project(plugin_dir / "pyproject.toml")["name"]
    have = _catalogued().get(dist)
    if have is None:
        pytest.fail(f"{dist} is not in {CATALOGUE} (test_each_plugin_has_its_catalogue_line says which line to add)")
    deps, extras = _meta()
    if have.extra is None:
        assert dist in deps, (
            f"{CATALOGUE} gives {dist} no extra (plain `pip install mem7` installs it), but {META.relative_to(ROOT)} "
            f"does not depend on it: give its line `extra = \"{plugin_dir.name}\"` and add to "
            f"[project.optional-dependencies] there:\n{plugin_dir.name} = [\"{dist}>=0.1.0\"]"
        )
    else:
        assert dist in extras.get(have.extra, set()), (
            f"{META.relative_to(ROOT)} has no extra {have.extra!r} installing {dist} (`{have.install}` would fail); "
            f"add to its [project.optional-dependencies]:\n{have.extra} = [\"{dist}>=0.1.0\"]"
        )


@pytest.mark.parametrize("plugin_dir", plugin_dirs(), ids=lambda p: p.name)
def test_the_readme_table_has_each_plugin(plugin_dir: Path) -> None:
    dist = _project(plugin_dir / "pyproject.toml")["name"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if f"| `{dist}` |" not in readme:
        pytest.fail(f"README.md's provider table has no row for {dist}; add one: | `{dist}` | `<name>`: what it is | <kinds> |")


def test_no_line_names_a_distribution_the_repository_lacks() -> None:
    in_repo = {_project(d / "pyproject.toml")["name"] for d in plugin_dirs()}
    stale = sorted(set(_catalogued()) - in_repo)
    assert not stale, f"{CATALOGUE} names distributions no plugins/<name>/ has: {stale}; remove their lines"


def test_every_meta_extra_naming_a_plugin_names_a_catalogued_one() -> None:
    _deps, extras = _meta()
    known = set(_catalogued()) | {"mem7-core"}
    unknown = {extra: sorted(n for n in names if n.startswith("mem7-") and n not in known)
               for extra, names in extras.items()}
    unknown = {extra: names for extra, names in unknown.items() if names}
    assert not unknown, f"extras of {META.relative_to(ROOT)} name distributions {CATALOGUE} does not have: {unknown}"


def test_the_catalogue_lines_round_trip() -> None:
    """``line()`` (what the failures above print) is exactly the file's line, so it can be pasted."""
    text = (ROOT / CATALOGUE).read_text(encoding="utf-8")
    lines = sorted(line for line in text.splitlines() if line and not line.startswith("#"))
    assert lines == [p.line() for p in catalogue.first_party()]
    assert catalogue.parse("\n".join(lines)) == catalogue.first_party()


def test_lookups() -> None:
    pg = catalogue.providing("vector_store", "postgres")
    assert pg is not None and pg.distribution == "mem7-pgvector"
    assert pg.install == "pip install 'mem7[pgvector]'" and pg.install_alone == "pip install mem7-pgvector"
    openai = catalogue.providing("llm", "ollama")
    assert openai is not None and openai.install == "pip install mem7-openai" == openai.install_alone
    assert catalogue.providing("graph_store", "qdrant") is None
    assert [(p.distribution, k) for p, k in catalogue.other_kinds("graph_store", "qdrant")] == [("mem7-qdrant", "vector_store")]
    assert "flat" in catalogue.names("graph_store") and "qdrant" not in catalogue.names("graph_store")


@pytest.mark.parametrize(("text", "problem"), [
    ('mem7-x = { entry_point = "x" }', "names no provider"),
    ('mem7-x = { entry_point = "x", vector_stor = ["x"] }', "unknown field(s) ['vector_stor']"),
    ('mem7-x = { vector_store = ["x"] }', "entry_point must be a non-empty string"),
    ('mem7-x = { entry_point = "x", extra = "", vector_store = ["x"] }', "extra must be a non-empty string"),
    ('mem7-x = { entry_point = "x", vector_store = [] }', "vector_store must be a non-empty list"),
    ('mem7-x = "x"', "expected an inline table"),
])
def test_a_bad_line_is_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="mem7-x") as info:
        catalogue.parse(text)
    assert problem in str(info.value)


# ------------------------------------------------------------ the missing-provider error uses it
@pytest.mark.parametrize(("kind", "name", "installed", "failed", "blocked", "hint"), [
    ("vector_store", "postgres", ["flat"], {}, (), "Try: pip install 'mem7[pgvector]' (or: pip install mem7-pgvector)"),
    ("llm", "ollama", [], {}, (), "Try: pip install mem7-openai"),  # installed by plain `pip install mem7`: no extra
    ("vector_store", "qdrant", ["flat"], {}, ("qdrant",), "It comes from mem7-qdrant, which MEM7_DISABLE_PLUGINS blocks"),
    ("vector_store", "qdrant", ["flat"], {"qdrant": "ImportError: x"}, (),
     "It comes from mem7-qdrant, which is installed but failed to load"),
    ("graph_store", "pgvector", ["flat"], {}, (),
     "mem7-pgvector provides 'pgvector' as a vector_store and a history_store, not as a graph_store: "
     "check the config section it is under"),
    ("vector_store", "qdrnt", ["flat"], {}, (), "Did you mean 'qdrant' (pip install 'mem7[qdrant]')? "),
    ("vector_store", "flatt", ["flat"], {}, (), "Did you mean 'flat'? "),  # installed: no command
    ("vector_store", "vectr0n", ["flat"], {}, (), "No plugin of mem7's own provides 'vectr0n'"),
])
def test_the_missing_provider_hint(kind: str, name: str, installed: list[str], failed: dict[str, str],
                                   blocked: tuple[str, ...], hint: str) -> None:
    from mem7_core.errors import ProviderNotFoundError

    msg = str(ProviderNotFoundError(kind, name, installed, failed, blocked))
    head = f"No {kind} provider named {name!r}. Installed: {', '.join(installed) or 'none'}. "
    assert msg.startswith(head + hint), msg
    dists = {p.distribution for p in catalogue.first_party()}
    assert f"mem7-{name}" not in msg or f"mem7-{name}" in dists, msg  # never a guessed distribution
