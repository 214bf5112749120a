"""mem7 filter trees and scopes -> Milvus boolean expressions.

A record is stored with the scope ids as VARCHAR fields (``user_id``, ``agent_id``, ``run_id``:
the id when the payload holds a string there, ``""`` otherwise) and a filterable copy of its payload
in the JSON field ``payload`` (:func:`project`). The exact payload is kept as text in ``doc``.

:func:`translate` gives an expression that every record passing the filter passes (a superset:
``exact`` says whether it is also a subset). The store sends it to Milvus and re-checks every
candidate with :func:`mem7_core.filters.evaluate`, fetching more until it has ``limit`` hits, so
no condition is ever dropped or approximated in an answer. The translation only uses what answers
alike in every Milvus engine (Milvus Lite 2.5 (the C++ core of Milvus 2.5), Milvus Lite 3 (pure
Python) and Milvus servers), where the engines differ on everything else (``1 == true``, ``!=`` on
a missing key, ``not``, ``exists``, ``in`` on JSON, escapes in string literals):

- exact: ``eq``/``in`` with strings, and with numbers (not bools) below 2**53; ``gt``/``gte``/
  ``lt``/``lte`` with such a number or a string (UTF-8 byte order is code point order);
  ``contains`` with a non-empty string (``like "%s%"`` on strings, ``json_contains`` on lists);
- narrowed by the engine but not exact (Milvus Lite 3 counts ``true`` as 1): numbers;
- not pushed down (the whole scope is re-checked): ``ne``, ``nin``, ``exists``, ``icontains``,
  ``NOT``, keys outside ``[A-Za-z0-9_-]``, and strings holding ``"``, ``\\``, control characters,
  or (for ``contains``) ``%`` and ``_``.

Numbers the JSON field cannot hold exactly (integers beyond 64 bits, infinities) are projected to
the largest finite double of their sign, NaN is left out: a range against a pushed-down bound
(below 2**53) answers alike for them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from mem7_core.filters import And, Condition, Filter, Not, Or
from mem7_core.models import SCOPE_KEYS, Scope

TRUE = "TRUE"
"""No condition (the translation of what is not pushed down)."""
FALSE = "FALSE"
"""Nothing can match."""

_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_EXACT_FLOAT = 2.0**53
_MAX_IN = 64
_INT64 = 2**63
_BIG = 1.7976931348623157e308


@dataclass(frozen=True, slots=True)
class Translation:
    """``expr`` is :data:`TRUE`, :data:`FALSE` or a Milvus boolean expression."""

    expr: str
    exact: bool


def literal(value: str) -> str | None:
    """``value`` as a Milvus string literal, or ``None`` when it cannot be written alike for every
    engine (quotes, backslashes and control characters are escaped differently by each)."""
    if any(c in value for c in '"\\') or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        return None
    return f'"{value}"'


def _number(value: Any) -> str | None:
    """A number Milvus compares exactly (finite, below 2**53), as a literal; else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if abs(value) >= _EXACT_FLOAT:
        return None
    return repr(float(value)) if isinstance(value, float) else str(value)


def _field(key: str) -> str | None:
    return f'payload["{key}"]' if _KEY.match(key) else None


def _or(parts: list[str]) -> str:
    out: list[str] = []
    for p in parts:
        if p == TRUE:
            return TRUE
        if p != FALSE:
            out.append(p)
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else "(" + " or ".join(out) + ")"


def _and(parts: list[str]) -> str:
    out: list[str] = []
    for p in parts:
        if p == FALSE:
            return FALSE
        if p != TRUE:
            out.append(p)
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else "(" + " and ".join(out) + ")"


def _equals(field: str, want: Any) -> tuple[str, bool]:
    if isinstance(want, str):
        lit = literal(want)
        return (TRUE, False) if lit is None else (f"{field} == {lit}", True)
    num = _number(want)
    if num is not None:
        return f"{field} == {num}", False  # Milvus Lite 3 also counts true as 1
    return TRUE, False


def _leaf(cond: Condition) -> tuple[str, bool]:
    field = _field(cond.key)
    if field is None:
        return TRUE, False
    op, want = cond.op, cond.value
    if op == "eq":
        return _equals(field, want)
    if op == "in":
        if len(want) > _MAX_IN:
            return TRUE, False
        parts = [_equals(field, w) for w in want]
        return _or([p for p, _ in parts]), all(e for _, e in parts)
    if op in ("gt", "gte", "lt", "lte"):
        sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        if isinstance(want, str):
            lit = literal(want)
            return (TRUE, False) if lit is None else (f"{field} {sign} {lit}", True)
        num = _number(want)
        return (TRUE, False) if num is None else (f"{field} {sign} {num}", False)
    if op == "contains" and isinstance(want, str) and want:
        lit = literal(want)
        if lit is None or "%" in want or "_" in want:
            return TRUE, False
        return f'({field} like "%{want}%" or json_contains({field}, {lit}))', True
    return TRUE, False  # ne, nin, exists, icontains, contains of a non-string: re-checked only


def _approx(node: Filter) -> tuple[str, bool]:
    if isinstance(node, Condition):
        return _leaf(node)
    if isinstance(node, Not):
        return TRUE, False  # no NOT in Milvus Lite 2.5's JSON expressions: re-checked only
    parts = [_approx(child) for child in node.children]
    exprs = [p for p, _ in parts]
    exact = all(e for _, e in parts)
    if isinstance(node, And):
        return _and(exprs), exact
    assert isinstance(node, Or)
    return _or(exprs), exact


def translate(node: Filter | None) -> Translation:
    """The Milvus expression for a parsed mem7 filter (a superset), and whether it is exact."""
    if node is None:
        return Translation(TRUE, True)
    expr, exact = _approx(node)
    return Translation(expr, exact)


def scope_expr(scope: Scope) -> Translation:
    """The scope ids on their VARCHAR fields (exact unless an id cannot be written as a literal)."""
    parts: list[str] = []
    exact = True
    for key, value in scope.items():
        lit = literal(value)
        if lit is None:
            exact = False
        else:
            parts.append(f"{key} == {lit}")
    return Translation(_and(parts), exact)


def where(scope: Scope, node: Filter | None) -> Translation:
    """Scope AND filter, as one expression (``""`` for no condition, :data:`FALSE` when nothing
    can match: not an expression, the caller answers without asking Milvus)."""
    s, f = scope_expr(scope), translate(node)
    expr = _and([s.expr, f.expr])
    return Translation("" if expr == TRUE else expr, s.exact and f.exact)


def scope_fields(payload: dict[str, Any]) -> dict[str, str]:
    """The VARCHAR scope fields of a record: the id when the payload holds a string, else ``""``."""
    return {k: (v if isinstance(v := payload.get(k), str) else "") for k in SCOPE_KEYS}


def project(value: Any) -> Any:
    """The filterable copy of a payload value for the JSON field (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): project(v) for k, v in value.items() if not _is_nan(v)}
    if isinstance(value, (list, tuple)):
        return [project(v) for v in value if not _is_nan(v)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return value
        return _BIG if value > 0 else -_BIG
    if isinstance(value, float):
        if math.isinf(value):
            return _BIG if value > 0 else -_BIG
        return value
    return str(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
