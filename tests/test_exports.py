"""mem7_core's public names: the literal ``__all__`` stays in step with the lazy-import table."""

from __future__ import annotations

import ast
from pathlib import Path

import mem7_core


def test_all_is_exactly_the_lazy_exports() -> None:
    assert sorted(mem7_core.__all__) == sorted(mem7_core._EXPORTS)
    assert len(set(mem7_core.__all__)) == len(mem7_core.__all__)


def test_type_checking_block_names_all() -> None:
    tree = ast.parse(Path(mem7_core.__file__).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.ImportFrom):
                    names.update(a.asname or a.name for a in stmt.names)
    assert names == set(mem7_core.__all__)


def test_every_export_resolves() -> None:
    for name in mem7_core.__all__:
        assert getattr(mem7_core, name) is not None
