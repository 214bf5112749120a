"""Every provider kind has a conformance suite, and every plugin's tests run the suite of each kind
it provides (datasette's documentation meta-tests are the model: the rule is checked, not trusted).

Rules:

1. Each kind of :data:`mem7_core.providers.base.PROVIDER_KINDS` maps to a suite exported by
   :mod:`mem7_core.testing` (``SUITES``) or is listed in ``EXEMPT`` with the reason (none is today);
   every ``*Conformance`` the kit exports maps to a kind. A new kind, or a new suite, must be added here.
2. Every plugin (each ``plugins/*/`` distribution with a ``mem7`` entry point, the tutorial's
   ``docs/example-plugin``, and the core's own registrations tested under ``tests/``) has, in its
   ``tests/``, a class subclassing the suite of each kind it registers. What a plugin registers is
   read by importing its entry-point modules and calling their ``mem7_register_*`` hooks with a
   recording ``register``; the subclasses are found by parsing its test files with ``ast``
   (following base classes defined in those files and ``import ... as`` aliases). A provider class
   declaring a capability with its own suite (``CAPABILITY_SUITES``: a vector store whose class
   ``capabilities.keyword_search`` is true) needs a subclass of that suite as well.
   The core registers several providers of one kind (the decay and context scorers), so for the
   core each registered class must also be named in a test file subclassing its kind's suite.
3. An exempt kind stays exempt only while no plugin under ``plugins/`` provides it.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import mem7_core.testing
from mem7_core.hookspecs import REGISTRATION_HOOKS
from mem7_core.providers.base import PROVIDER_KINDS

ROOT = Path(__file__).resolve().parent.parent

#: The suite a provider of each kind subclasses, by its name in ``mem7_core.testing``.
SUITES: dict[str, str] = {
    "llm": "LLMConformance",
    "embedder": "EmbedderConformance",
    "vector_store": "VectorStoreConformance",
    "graph_store": "GraphStoreConformance",
    "reranker": "RerankerConformance",
    "history_store": "HistoryConformance",
    "scorer": "ScorerConformance",
}

#: Suites of an optional capability: name -> (kind, flag of the provider class's ``capabilities``).
#: A provider class declaring the flag (on the class, as registered) must run that suite too.
CAPABILITY_SUITES: dict[str, tuple[str, str]] = {
    "KeywordSearchConformance": ("vector_store", "keyword_search"),
}

#: Kinds with no suite, and why.
EXEMPT: dict[str, str] = {}


@dataclass(frozen=True)
class PluginUnderTest:
    name: str
    modules: tuple[str, ...]
    tests: Path


def _entry_point_modules(pyproject: Path) -> tuple[str, ...]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    group = data.get("project", {}).get("entry-points", {}).get("mem7", {})
    return tuple(value.split(":", 1)[0] for value in group.values())


def plugins_under_test() -> list[PluginUnderTest]:
    found = [
        PluginUnderTest(f"plugins/{d.name}", _entry_point_modules(d / "pyproject.toml"), d / "tests")
        for d in sorted((ROOT / "plugins").iterdir())
        if (d / "pyproject.toml").is_file()
    ]
    example = ROOT / "docs" / "example-plugin"
    found.append(PluginUnderTest("docs/example-plugin", _entry_point_modules(example / "pyproject.toml"),
                                 example / "tests"))
    # The core's own registrations: built-ins (SQLite history, scorers) and the testing kit's ``hash``.
    found.append(PluginUnderTest("mem7-core", ("mem7_core.builtin", *_entry_point_modules(ROOT / "pyproject.toml")),
                                 ROOT / "tests"))
    return found


PLUGINS = plugins_under_test()


def registered_classes(modules: tuple[str, ...]) -> dict[str, list[type]]:
    """Provider classes by kind, as the modules' ``mem7_register_*`` hooks register them."""
    out: dict[str, list[type]] = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        for kind, hook_name in REGISTRATION_HOOKS.items():
            hook = getattr(module, hook_name, None)
            if hook is None:
                continue
            got: list[Any] = []
            hook(register=got.append)
            out.setdefault(kind, []).extend(got)
    return {kind: classes for kind, classes in out.items() if classes}


def registered(modules: tuple[str, ...]) -> dict[str, list[str]]:
    """Provider class names by kind, as the modules' ``mem7_register_*`` hooks register them."""
    return {kind: [f"{c.__module__}.{c.__qualname__}" for c in classes]
            for kind, classes in registered_classes(modules).items()}


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def _test_files(tests: Path) -> Iterator[Path]:
    if tests.is_dir():
        yield from sorted(p for p in tests.rglob("*.py") if "__pycache__" not in p.parts)


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # mem7_core.testing.RerankerConformance, testing.X
        return node.attr
    if isinstance(node, ast.Subscript):  # Generic-style bases
        return _base_name(node.value)
    return None


def suites_subclassed(tests: Path) -> dict[str, list[str]]:
    """Suite names subclassed in ``tests``, with the ``file::Class`` names that do it."""
    suite_names = set(SUITES.values()) | set(CAPABILITY_SUITES)
    bases: dict[str, set[str]] = {}  # every class of the tests, by name, and its base names
    where: dict[str, str] = {}
    for path in _test_files(tests):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mem7_core.testing"):
                for alias in node.names:
                    if alias.name in suite_names:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {_base_name(b) for b in node.bases} - {None}
                key = f"{_shown(path)}::{node.name}"
                bases[key] = {aliases.get(n, n) for n in names if n is not None}
                where.setdefault(node.name, key)

    def reaches(key: str, seen: frozenset[str] = frozenset()) -> set[str]:
        out: set[str] = set()
        for base in bases.get(key, set()):
            if base in suite_names:
                out.add(base)
            elif base in where and where[base] not in seen:  # a base class defined in the tests
                out |= reaches(where[base], seen | {key})
        return out

    found: dict[str, list[str]] = {}
    for key in bases:
        for suite in reaches(key):
            found.setdefault(suite, []).append(key)
    return found


# ------------------------------------------------------------------------------------------ rule 1
def test_every_provider_kind_has_a_suite_or_a_stated_exemption() -> None:
    assert set(SUITES) | set(EXEMPT) == set(PROVIDER_KINDS), (
        f"kinds without a suite or exemption: {sorted(set(PROVIDER_KINDS) - set(SUITES) - set(EXEMPT))}; "
        f"unknown kinds listed: {sorted((set(SUITES) | set(EXEMPT)) - set(PROVIDER_KINDS))}"
    )
    assert not set(SUITES) & set(EXEMPT), "a kind is both given a suite and exempted"
    for kind, reason in EXEMPT.items():
        assert reason.strip(), f"exemption of {kind!r} gives no reason"
    for kind, name in SUITES.items():
        assert name in mem7_core.testing.__all__, f"{kind}: mem7_core.testing does not export {name}"
        suite = getattr(mem7_core.testing, name)
        assert isinstance(suite, type) and suite.__module__.startswith("mem7_core.testing."), (kind, suite)
        assert any(attr.startswith("test_") for attr in dir(suite)), f"{name} has no tests"


def test_every_exported_suite_is_mapped_to_a_kind() -> None:
    exported = {n for n in mem7_core.testing.__all__ if n.endswith("Conformance")}
    mapped = set(SUITES.values()) | set(CAPABILITY_SUITES)
    assert exported == mapped, (
        f"suites not mapped to a kind or capability: {sorted(exported - mapped)}; "
        f"mapped but not exported: {sorted(mapped - exported)}"
    )
    for name, (kind, _flag) in CAPABILITY_SUITES.items():
        assert kind in SUITES, f"{name}: capability of {kind!r}, which has no suite"


# ------------------------------------------------------------------------------------------ rule 2
def test_plugins_are_found() -> None:
    names = {p.name for p in PLUGINS}
    assert {"plugins/cohere", "plugins/llm-rerank", "plugins/flat", "plugins/openai", "mem7-core"} <= names
    providing = [p.name for p in PLUGINS if p.modules]
    assert len(providing) >= 10, providing


@pytest.mark.parametrize("plugin", PLUGINS, ids=[p.name for p in PLUGINS])
def test_plugin_tests_subclass_the_suite_of_every_kind_it_provides(plugin: PluginUnderTest) -> None:
    classes = registered_classes(plugin.modules)
    provided = registered(plugin.modules)
    if not plugin.modules:
        assert provided == {}
        pytest.skip(f"{plugin.name} has no mem7 entry point: it provides no provider")
    assert provided, f"{plugin.name}: its entry-point modules {plugin.modules} register no provider"
    subclassed = suites_subclassed(plugin.tests)
    missing = [
        f"{kind} ({', '.join(classes)}): no subclass of mem7_core.testing.{SUITES[kind]} in "
        f"{_shown(plugin.tests)}/"
        for kind, classes in sorted(provided.items())
        if kind in SUITES and SUITES[kind] not in subclassed
    ]
    for suite, (kind, flag) in sorted(CAPABILITY_SUITES.items()):
        declaring = [f"{c.__module__}.{c.__qualname__}" for c in classes.get(kind, [])
                     if getattr(getattr(c, "capabilities", None), flag, False)]
        if declaring and suite not in subclassed:
            missing.append(f"{kind} capability {flag} ({', '.join(declaring)}): no subclass of "
                           f"mem7_core.testing.{suite} in {_shown(plugin.tests)}/")
    assert not missing, f"{plugin.name} provides kinds its tests do not run the conformance suite of:\n  " + \
        "\n  ".join(missing)


def names_in_suite_files(tests: Path) -> dict[str, set[str]]:
    """Per suite, the names used (imported, called, referenced) in the test files subclassing it."""
    subclassed = suites_subclassed(tests)
    names_by_file: dict[str, set[str]] = {}
    for path in _test_files(tests):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.ImportFrom):
                names.update(alias.name for alias in node.names)
        names_by_file[_shown(path)] = names
    out: dict[str, set[str]] = {}
    for suite, keys in subclassed.items():
        for key in keys:
            out.setdefault(suite, set()).update(names_by_file[key.rsplit("::", 1)[0]])
    return out


def test_each_core_provider_runs_its_suite() -> None:
    """The core registers two scorers: one subclass of the scorer suite must not cover both."""
    [core] = [p for p in PLUGINS if p.name == "mem7-core"]
    named = names_in_suite_files(core.tests)
    missing = [
        f"{kind}: {cls.__module__}.{cls.__qualname__} is named in no test file subclassing "
        f"mem7_core.testing.{SUITES[kind]}"
        for kind, classes in sorted(registered_classes(core.modules).items())
        if kind in SUITES
        for cls in classes
        if cls.__name__ not in named.get(SUITES[kind], set())
    ]
    assert "scorer" in registered(core.modules), "the core's built-in scorers are not registered"
    assert not missing, "\n  ".join(["core providers without their conformance tests:", *missing])


# ------------------------------------------------------------------------------------------ rule 3
def test_exempt_kinds_are_provided_by_no_plugin() -> None:
    offenders = {
        f"{plugin.name}: {kind}": classes
        for plugin in PLUGINS
        if plugin.name.startswith("plugins/")
        for kind, classes in registered(plugin.modules).items()
        if kind in EXEMPT
    }
    assert not offenders, f"plugins now provide exempt kinds; write their conformance suite: {offenders}"


# ------------------------------------------------------------------------------------------ the checker
def test_the_checker_sees_a_missing_suite(tmp_path: Path) -> None:
    """The ast reading finds direct, aliased, attribute and indirect subclasses, and nothing else."""
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_a.py").write_text(
        "from mem7_core.testing import RerankerConformance as RC, LLMConformance\n"
        "import mem7_core.testing\n"
        "class Base(RC):\n    pass\n"
        "class TestIndirect(Base):\n    pass\n"
        "class TestAttr(mem7_core.testing.EmbedderConformance):\n    pass\n"
        "class TestUnrelated(object):\n    pass\n"
    )
    found = suites_subclassed(tests)
    assert set(found) == {"RerankerConformance", "EmbedderConformance"}
    assert sorted(k.rsplit("::", 1)[1] for k in found["RerankerConformance"]) == ["Base", "TestIndirect"]
    assert [k.rsplit("::", 1)[1] for k in found["EmbedderConformance"]] == ["TestAttr"]
    (tests / "test_b.py").write_text(
        "from mem7_core.testing import ScorerConformance\nfrom x import DecayScorer\n"
        "class TestDecay(ScorerConformance):\n    def scorer(self):\n        return DecayScorer()\n"
    )
    named = names_in_suite_files(tests)
    assert "DecayScorer" in named["ScorerConformance"] and "ContextScorer" not in named["ScorerConformance"]
    assert "DecayScorer" not in named["RerankerConformance"]
