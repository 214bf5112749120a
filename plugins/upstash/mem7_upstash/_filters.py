"""Scope and mem7 filters translated to Upstash's metadata filter language, as a *pre-filter*.

Upstash's filter language (``country = 'Turkey' AND population > 1000000``, ``IN``, ``GLOB``,
``CONTAINS``, ``HAS FIELD``...) is close to mem7's, but not the same, and parts of it are not
documented: what ``!=`` does on a missing key or on a value of another type, whether ``1`` also
matches ``true`` (older docs: "boolean literals are represented as 1 or 0"), how a quote or a
backslash is escaped inside a string literal. So the translation never claims more than the
documentation says. It produces a filter that is a **superset** of the mem7 filter: every record
the mem7 filter accepts passes the Upstash filter. The store then checks each returned record with
:func:`mem7_core.filters.evaluate` (the reference semantics), so answers are exact, and the
Upstash filter only narrows what travels over the wire.

What is pushed down (``k`` a plain identifier key, see :func:`identifier`):

==============================  =====================================================
mem7                            Upstash
==============================  =====================================================
scope ids, ``eq`` string         ``k = 'v'`` (``k GLOB 'v'`` with ``?`` for awkward chars)
``eq`` number / bool             ``k = 1.5`` / ``k = true``
``in``                           ``k IN ('a', 'b')`` OR the ``eq`` forms; ``in []`` is false
``gt`` ``gte`` ``lt`` ``lte``    ``k > 3`` ... for numbers (Upstash orders numbers only)
``contains`` string              ``(k CONTAINS 'v' OR k GLOB '*v*')``
``"*"`` (exists)                 ``HAS FIELD k``; ``NOT`` of it: ``HAS NOT FIELD k``
``NOT`` of ``ne`` / ``nin``       the ``eq`` / ``in`` forms
everything else needing the key  ``HAS FIELD k`` (``icontains``, string ordering...)
``ne``, ``nin``, other ``NOT``    nothing (Upstash's negations are undocumented on missing
                                 keys and on other types, so they cannot be trusted)
==============================  =====================================================

String literals are never escaped: a value containing a backslash, a control character or both
kinds of quote is matched with ``GLOB`` where those characters become ``?`` (any one character),
and the other quote kind delimits the literal otherwise. The emitted filter therefore contains no
backslash and never its own delimiter, which reads the same whatever escape convention the server
uses. GLOB metacharacters of a value are matched literally with ``[*]`` and ``[?]``; ``[``, ``]``
become ``?``. Keys that are not plain identifiers (dots, brackets, spaces, keywords...) cannot be
named in Upstash's syntax at all and are evaluated client-side only.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mem7_core.filters import And, Condition, Filter, Not, Or
from mem7_core.models import Scope

MAX_IN_VALUES = 64
"""``in`` lists longer than this become ``HAS FIELD k`` (Upstash rejects very long filters)."""
MAX_FILTER_CHARS = 4000
"""A rendered filter longer than this is replaced by the scope part alone."""

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "GLOB", "CONTAINS", "HAS", "FIELD", "TRUE", "FALSE"})
_COMPARE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


# ------------------------------------------------------------------------------------- expressions
@dataclass(frozen=True, slots=True)
class Expr:
    """A pre-filter: constant (``const`` True/False) or filter text.

    ``exact`` is True when the text accepts exactly the records the mem7 filter accepts, under
    Upstash's documented semantics (the store then needs no over-fetch).
    """

    text: str = ""
    const: bool | None = None
    exact: bool = True
    junction: str = ""  # "AND" / "OR" for a compound text, "" for an atom

    @property
    def is_false(self) -> bool:
        return self.const is False

    @property
    def is_true(self) -> bool:
        return self.const is True


TRUE = Expr(const=True, exact=True)
UNKNOWN = Expr(const=True, exact=False)  # nothing pushed down: the store checks everything
FALSE = Expr(const=False, exact=True)


def _atom(text: str, exact: bool) -> Expr:
    return Expr(text=text, exact=exact)


def _group(e: Expr, junction: str) -> str:
    return f"({e.text})" if e.junction and e.junction != junction else e.text


def conj(parts: Iterable[Expr]) -> Expr:
    kept: list[Expr] = []
    exact = True
    for p in parts:
        if p.is_false:
            return FALSE
        exact = exact and p.exact
        if not p.is_true:
            kept.append(p)
    if not kept:
        return TRUE if exact else UNKNOWN
    if len(kept) == 1:
        return Expr(kept[0].text, None, exact, kept[0].junction)
    return Expr(" AND ".join(_group(p, "AND") for p in kept), None, exact, "AND")


def disj(parts: Iterable[Expr]) -> Expr:
    kept: list[Expr] = []
    exact = True
    for p in parts:
        if p.is_true:
            return p
        exact = exact and p.exact
        if not p.is_false:
            kept.append(p)
    if not kept:
        return FALSE
    unique = list(dict.fromkeys(kept))
    if len(unique) == 1:
        return Expr(unique[0].text, None, exact, unique[0].junction)
    return Expr(" OR ".join(_group(p, "OR") for p in unique), None, exact, "OR")


# ------------------------------------------------------------------------------------- literals
def identifier(key: Any) -> str | None:
    """``key`` when Upstash's syntax can name it as a top-level metadata key, else None."""
    if isinstance(key, str) and _IDENT.match(key) and key.upper() not in _KEYWORDS:
        return key
    return None


def _awkward(c: str) -> bool:
    """Characters never put into a literal: backslash (escape conventions are undocumented),
    control characters and lone surrogates."""
    return c == "\\" or unicodedata.category(c) in ("Cc", "Cs")


def string_literal(value: str) -> str | None:
    """``value`` quoted so that it needs no escape at all, or None when that is impossible."""
    if any(_awkward(c) for c in value):
        return None
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def glob_literal(value: str, *, prefix: str = "", suffix: str = "") -> tuple[str, bool]:
    """A quoted GLOB pattern matching ``value`` (between ``prefix`` and ``suffix`` wildcards).

    Returns the literal and whether it is exact: characters that cannot appear literally (see the
    module docstring) become ``?``, which makes the pattern a superset.
    """
    quote = "'" if ("'" not in value or '"' in value) else '"'
    out: list[str] = []
    exact = True
    for c in value:
        if c == "*":
            out.append("[*]")
        elif c == "?":
            out.append("[?]")
        elif c in "[]" or c == quote or _awkward(c):
            out.append("?")
            exact = False
        else:
            out.append(c)
    return f"{quote}{prefix}{''.join(out)}{suffix}{quote}", exact


def number_literal(value: Any) -> str | None:
    """A plain decimal literal (no exponent, which Upstash does not accept) or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return None
    return format(Decimal(repr(value)), "f")


# ------------------------------------------------------------------------------------- conditions
def _has(k: str) -> Expr:
    return _atom(f"HAS FIELD {k}", exact=False)


def _eq(k: str, value: Any) -> Expr:
    if isinstance(value, str):
        lit = string_literal(value)
        if lit is not None:
            return _atom(f"{k} = {lit}", exact=True)
        pattern, _ = glob_literal(value)
        return _atom(f"{k} GLOB {pattern}", exact=False)
    if isinstance(value, bool):
        return _atom(f"{k} = {'true' if value else 'false'}", exact=False)
    num = number_literal(value)
    if num is not None:
        return _atom(f"{k} = {num}", exact=False)
    return _has(k)  # null, lists, objects, NaN: Upstash has no literal for them


def _in(k: str, values: tuple[Any, ...]) -> Expr:
    if not values:
        return FALSE
    if len(values) > MAX_IN_VALUES:
        return _has(k)
    literals: list[str] = []
    others: list[Expr] = []
    for v in values:
        lit = string_literal(v) if isinstance(v, str) else None
        if lit is not None:
            literals.append(lit)
        else:
            others.append(_eq(k, v))
    parts: list[Expr] = []
    if literals:
        unique = list(dict.fromkeys(literals))
        parts.append(_atom(f"{k} IN ({', '.join(unique)})", exact=True))
    return disj(parts + others)


def _condition(c: Condition, negated: bool) -> Expr:
    k = identifier(c.key)
    op, value = c.op, c.value
    if negated:
        if k is None:
            return UNKNOWN
        if op == "exists":
            return _atom(f"HAS NOT FIELD {k}", exact=True)
        if op == "ne":
            return _eq(k, value)
        if op == "nin":
            return _in(k, tuple(value))
        return UNKNOWN
    if op == "in" and not value:
        return FALSE  # whatever the key: nothing is in an empty list
    if k is None or op in ("ne", "nin"):
        return UNKNOWN
    if op == "exists":
        return _atom(f"HAS FIELD {k}", exact=True)
    if op == "eq":
        return _eq(k, value)
    if op == "in":
        return _in(k, tuple(value))
    if op in _COMPARE:
        num = number_literal(value)
        if num is None:
            return _has(k)  # string ordering: Upstash orders numbers only
        return _atom(f"{k} {_COMPARE[op]} {num}", exact=False)
    if op == "contains":
        if not isinstance(value, str):
            return _has(k)
        lit = string_literal(value)
        if lit is None:
            return _has(k)  # CONTAINS has no wildcard form for array elements
        pattern, exact = glob_literal(value, prefix="*", suffix="*")
        return disj([_atom(f"{k} CONTAINS {lit}", exact=True), _atom(f"{k} GLOB {pattern}", exact=exact)])
    return _has(k)  # icontains: Upstash has no case-insensitive operator


def pushdown(node: Filter | None, negated: bool = False) -> Expr:
    """A pre-filter accepting every record ``node`` accepts (``negated``: that ``not node`` accepts)."""
    if node is None:
        return TRUE
    if isinstance(node, Condition):
        return _condition(node, negated)
    if isinstance(node, Not):
        return pushdown(node.child, not negated)
    children = [pushdown(c, negated) for c in node.children]
    if isinstance(node, And):
        return disj(children) if negated else conj(children)
    assert isinstance(node, Or)
    return conj(children) if negated else disj(children)


def scope_expr(scope: Scope) -> Expr:
    return conj(_eq(k, v) for k, v in scope.items())


@dataclass(frozen=True, slots=True)
class Pushdown:
    """What a read sends to Upstash."""

    filter: str
    """The filter string ("" for none)."""
    never: bool
    """True when nothing can match (the read is answered without a request)."""
    exact: bool
    """True when the server's answer needs no over-fetch (it is still checked record by record)."""


def translate(scope: Scope, node: Filter | None) -> Pushdown:
    """The pre-filter for a read of ``scope`` with ``node``."""
    scope_part = scope_expr(scope)
    expr = conj([scope_part, pushdown(node)])
    if expr.is_false:
        return Pushdown("", True, True)
    if len(expr.text) > MAX_FILTER_CHARS:
        expr = Expr(scope_part.text, scope_part.const, False, scope_part.junction)
    return Pushdown(expr.text, False, expr.exact)


__all__ = [
    "MAX_FILTER_CHARS",
    "MAX_IN_VALUES",
    "Pushdown",
    "glob_literal",
    "identifier",
    "number_literal",
    "pushdown",
    "scope_expr",
    "string_literal",
    "translate",
]
