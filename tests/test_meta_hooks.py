"""Meta-tests of the plugin contract: every hookspec is documented, tabled, and exercised."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mem7_core import hookspecs
from mem7_core.hookspecs import REGISTRATION_HOOKS
from mem7_core.providers import PROVIDER_KINDS

ROOT = Path(__file__).resolve().parent.parent
HOOK_DOCS = ROOT / "docs" / "hooks.md"


def _hookspecs() -> dict[str, object]:
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(fn, "mem7_spec", None) is not None
    }


HOOKS = sorted(_hookspecs())


def test_there_are_hookspecs():
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_docstring_documents_register(name):
    doc = inspect.getdoc(_hookspecs()[name]) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert ":param register:" in doc, f"{name}'s docstring does not document register"


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_takes_only_register(name):
    assert list(inspect.signature(_hookspecs()[name]).parameters) == ["register"]


def test_registration_table_matches_hookspecs():
    assert set(REGISTRATION_HOOKS.values()) == set(HOOKS)
    assert len(set(REGISTRATION_HOOKS.values())) == len(REGISTRATION_HOOKS)
    assert set(REGISTRATION_HOOKS) == set(PROVIDER_KINDS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_documented(name):
    text = HOOK_DOCS.read_text(encoding="utf-8")
    assert re.search(rf"^#+ {re.escape(name)}\s*$", text, re.M), f"docs/hooks.md has no section for {name}"
    section = text.split(name, 1)[1]
    assert "register(" in section, f"docs/hooks.md shows no register() example for {name}"


def _test_files() -> list[Path]:
    here = Path(__file__).resolve()
    files = list((ROOT / "tests").rglob("*.py")) + list(ROOT.glob("plugins/*/tests/**/*.py"))
    return [f for f in files if f.resolve() != here]


@pytest.mark.parametrize("kind", sorted(REGISTRATION_HOOKS))
def test_every_hook_exercised_by_a_test(kind):
    hook = REGISTRATION_HOOKS[kind]
    for path in _test_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if hook in text or f'REGISTRATION_HOOKS["{kind}"]' in text:
            return
    pytest.fail(f"no test under tests/ or plugins/*/tests mentions {hook} (provider kind {kind!r})")


def _sections() -> dict[str, str]:
    """``## heading`` → the text up to the next heading of the same or a higher level."""
    text = HOOK_DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^(#{1,2}) +(\S.*?)\s*$", text, flags=re.M)
    return {parts[i + 1]: parts[i + 2] for i in range(1, len(parts) - 2, 3)}


@pytest.mark.parametrize("name", HOOKS)
def test_hook_section_shows_its_own_register_call(name):
    """The register() example must be in the hook's own section, not anywhere further down the page."""
    body = _sections().get(name)
    assert body is not None, f"docs/hooks.md has no '## {name}' section"
    assert "register(" in body, f"the '## {name}' section of docs/hooks.md shows no register() call"
    assert f"def {name}(" in body, f"the '## {name}' section shows no @hookimpl def {name}(register) example"


def test_docs_describe_no_hook_that_does_not_exist():
    """A hook renamed or removed in hookspecs.py must not live on in the docs."""
    documented = {h for h in _sections() if h.startswith("mem7_")}
    assert documented <= set(HOOKS), f"docs/hooks.md documents unknown hooks: {sorted(documented - set(HOOKS))}"
