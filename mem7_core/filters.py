"""The metadata filter language (spec §7): parsed once into a small tree every store can translate.

A filter is a dict::

    {"k": v}                                   equality
    {"k": "*"}                                 key present
    {"k": {"gte": 3, "lt": 9}}                 operators on one key are ANDed
    {"AND": [...]}, {"OR": [...]}, {"NOT": [...]}      NOT: none of its filters holds

Operators: eq ne gt gte lt lte in nin contains icontains. An unknown operator is a
:class:`~mem7_core.errors.FilterError`, never silently "true".

:func:`parse_filters` gives the tree; :func:`evaluate` is the reference semantics in Python that
the conformance suite holds every store to. Stores that push filters down translate the tree
(:class:`And`, :class:`Or`, :class:`Not`, :class:`Condition`) into their own language.

Semantics, exactly:

- A key absent from the payload fails every operator except ``ne`` and ``nin`` (which hold).
- ``eq``/``ne``/``in``/``nin`` compare with ``==``, but a bool never equals a number.
- ``gt``/``gte``/``lt``/``lte`` compare numbers with numbers and strings with strings; any other
  pairing is false (no TypeError, no coercion).
- ``contains``: substring when the stored value is a string, membership when it is a list.
- ``icontains``: case-insensitive (``casefold``) substring, or membership for lists of strings.
- ``"*"`` as a plain value means "the key is present" (with any value, even null).
- ``{"NOT": [a, b]}`` holds when none of ``a``, ``b`` holds: not (a or b), as in mem0 and the
  original mem7 (``{"NOT": [{"category": "archived"}, {"status": "deleted"}]}`` excludes both).
- On the engine's times (:data:`TIME_KEYS`) the values of ``eq ne gt gte lt lte in nin`` are
  instants: any form :func:`~mem7_core.ids.parse_instant` accepts (an ISO-8601 string with any
  offset, naive = UTC, date-only = midnight UTC, a ``datetime``, Unix epoch seconds), normalised
  here, at parse time, to the stored canonical form (``iso``: UTC, ``+00:00``). Canonical times
  order as strings exactly as instants, so every store compares them as plain strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .errors import FilterError
from .ids import iso, parse_instant

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains", "exists"]
OPERATORS: frozenset[str] = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains"}
)
"""The operators a user may write. ``exists`` is internal: it is what ``"*"`` parses to."""
ALL_OPERATORS: frozenset[str] = OPERATORS | {"exists"}
LOGICAL_KEYS = ("AND", "OR", "NOT")
TIME_KEYS: frozenset[str] = frozenset({"created_at", "updated_at", "last_accessed_at"})
"""Payload keys holding the engine's times (canonical UTC ISO-8601): filter values on them are instants."""
_INSTANT_OPERATORS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte"})


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    op: Operator
    value: Any = None


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of its child; ``{"NOT": [a, b]}`` parses to ``Not(Or(a, b))``: none of them holds."""

    child: Filter


Filter: TypeAlias = Condition | And | Or | Not


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_scalar(key: str, op: str, value: Any) -> None:
    if op in ("gt", "gte", "lt", "lte"):
        if not (_is_number(value) or isinstance(value, str)):
            raise FilterError(
                f"Filter on {key!r}: {op!r} needs a number or a string, got {type(value).__name__}"
            )
    elif op in ("in", "nin"):
        if not isinstance(value, (list, tuple)):
            raise FilterError(f"Filter on {key!r}: {op!r} needs a list, got {type(value).__name__}")
    elif op == "icontains":
        if not isinstance(value, str):
            raise FilterError(f"Filter on {key!r}: 'icontains' needs a string, got {type(value).__name__}")
    elif op == "contains":
        if isinstance(value, (dict, list, tuple)):
            raise FilterError(f"Filter on {key!r}: 'contains' needs a scalar, got {type(value).__name__}")


def _instant(key: str, op: str, value: Any) -> str:
    try:
        return iso(parse_instant(value, f"Filter on {key!r}: the {op!r} value"))
    except ValueError as exc:
        raise FilterError(str(exc)) from None


def _time_value(key: str, op: str, value: Any) -> Any:
    """A value compared with an engine time, as the canonical string it is stored as."""
    if op in _INSTANT_OPERATORS:
        return _instant(key, op, value)
    if op in ("in", "nin") and isinstance(value, (list, tuple)):
        return [_instant(key, op, v) for v in value]
    return value


def _parse_key(key: str, spec: Any) -> Filter:
    if not isinstance(key, str) or not key:
        raise FilterError(f"Filter keys must be non-empty strings, got {key!r}")
    if isinstance(spec, Mapping):
        if not spec:
            raise FilterError(f"Filter on {key!r} has an empty operator dict; use {{{key!r}: value}} for equality")
        conds: list[Filter] = []
        for op, value in spec.items():
            if op not in OPERATORS:
                raise FilterError(
                    f"Unknown filter operator {op!r} on {key!r}. "
                    f"Use one of: {', '.join(sorted(OPERATORS))}"
                )
            if key in TIME_KEYS:
                value = _time_value(key, op, value)
            _check_scalar(key, op, value)
            if op in ("in", "nin"):
                value = tuple(value)
            conds.append(Condition(key, op, value))
        return conds[0] if len(conds) == 1 else And(tuple(conds))
    if spec == "*":
        return Condition(key, "exists")
    if isinstance(spec, (list, tuple)):
        raise FilterError(
            f"Filter on {key!r} is a list; write {{{key!r}: {{'in': [...]}}}} to match any of several values"
        )
    return Condition(key, "eq", _time_value(key, "eq", spec) if key in TIME_KEYS else spec)


def parse_filters(filters: Mapping[str, Any] | None) -> Filter | None:
    """Parse a filter dict into a tree; ``None`` or ``{}`` gives ``None`` (no filter).

    :raises FilterError: naming the key and the problem.
    """
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise FilterError(f"filters must be a dict, got {type(filters).__name__}")
    parts: list[Filter] = []
    for key, spec in filters.items():
        if key in LOGICAL_KEYS:
            if isinstance(spec, Mapping):
                spec = [spec]
            if not isinstance(spec, (list, tuple)) or not spec:
                raise FilterError(f"{key} needs a non-empty list of filter dicts")
            children = []
            for child in spec:
                parsed = parse_filters(child)
                if parsed is None:
                    raise FilterError(f"{key} contains an empty filter")
                children.append(parsed)
            if key == "AND":
                parts.append(children[0] if len(children) == 1 else And(tuple(children)))
            elif key == "OR":
                parts.append(children[0] if len(children) == 1 else Or(tuple(children)))
            else:
                parts.append(Not(children[0] if len(children) == 1 else Or(tuple(children))))
        elif isinstance(key, str) and key.upper() in LOGICAL_KEYS:
            raise FilterError(f"Logical filter keys are upper case: write {key.upper()!r}, not {key!r}")
        else:
            parts.append(_parse_key(key, spec))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def keys_of(node: Filter | None) -> set[str]:
    """Every payload key a filter reads."""
    if node is None:
        return set()
    if isinstance(node, Condition):
        return {node.key}
    if isinstance(node, Not):
        return keys_of(node.child)
    out: set[str] = set()
    for child in node.children:
        out |= keys_of(child)
    return out


_MISSING = object()


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def equality_key(value: Any) -> str | None:
    """A scalar as this module's ``eq`` sees it, as text: two scalars are equal here exactly when their
    keys are (``None`` for what equals nothing: NaN, or a value that is not a scalar).

    For stores that push ``eq`` / ``in`` down as exact matches on stored text or hashes: a bool is
    never a number, ``1`` and ``1.0`` are one number (an integral float is written as the int it
    equals), strings are themselves. The text is stable: stores persist it.
    """
    if value is None:
        return "z"
    if isinstance(value, bool):
        return "b1" if value else "b0"
    if isinstance(value, int):
        return f"n{value}"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value) or not value.is_integer():
            return f"n{value!r}"
        return f"n{int(value)}"
    if isinstance(value, str):
        return "s" + value
    return None


def _ordered(a: Any, b: Any) -> bool:
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def match_condition(cond: Condition, payload: Mapping[str, Any]) -> bool:
    """The reference semantics of one condition (see the module docstring)."""
    value = payload.get(cond.key, _MISSING)
    op, want = cond.op, cond.value
    if op == "exists":
        return value is not _MISSING
    if value is _MISSING:
        return op in ("ne", "nin")
    if op == "eq":
        return _eq(value, want)
    if op == "ne":
        return not _eq(value, want)
    if op == "in":
        return any(_eq(value, w) for w in want)
    if op == "nin":
        return not any(_eq(value, w) for w in want)
    if op in ("gt", "gte", "lt", "lte"):
        if not _ordered(value, want):
            return False
        if op == "gt":
            return bool(value > want)
        if op == "gte":
            return bool(value >= want)
        if op == "lt":
            return bool(value < want)
        return bool(value <= want)
    if op == "contains":
        if isinstance(value, str):
            return isinstance(want, str) and want in value
        if isinstance(value, (list, tuple)):
            return any(_eq(v, want) for v in value)
        return False
    if op == "icontains":
        needle = want.casefold()
        if isinstance(value, str):
            return needle in value.casefold()
        if isinstance(value, (list, tuple)):
            return any(isinstance(v, str) and v.casefold() == needle for v in value)
        return False
    raise FilterError(f"Unknown filter operator {op!r}")  # unreachable after parse


def evaluate(node: Filter | None, payload: Mapping[str, Any]) -> bool:
    """True when ``payload`` passes the filter (``None`` passes everything)."""
    if node is None:
        return True
    if isinstance(node, Condition):
        return match_condition(node, payload)
    if isinstance(node, And):
        return all(evaluate(c, payload) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, payload) for c in node.children)
    return not evaluate(node.child, payload)


def split_scope(filters: Mapping[str, Any] | None, scope_keys: Sequence[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Take top-level plain-equality scope ids out of a filter dict (mem0 passes scope that way).

    Returns ``(scope ids, remaining filters)``. Scope ids nested in OR/NOT stay filters, so they can
    only narrow the result, never widen it: the scope is always ANDed on top.
    """
    if not filters:
        return {}, {}
    scope: dict[str, str] = {}
    rest: dict[str, Any] = {}
    for key, value in filters.items():
        if key in scope_keys and isinstance(value, str) and value != "*":
            scope[key] = value
        else:
            rest[key] = value
    return scope, rest


def operators_of(node: Filter | None) -> set[str]:
    """Every operator a filter uses, plus ``"AND"``/``"OR"``/``"NOT"`` for the logical nodes.

    The engine compares this with a store's declared capabilities to decide whether the store can
    evaluate the filter itself or the engine must.
    """
    if node is None:
        return set()
    if isinstance(node, Condition):
        return {node.op}
    if isinstance(node, Not):
        return {"NOT"} | operators_of(node.child)
    out = {"AND" if isinstance(node, And) else "OR"}
    for child in node.children:
        out |= operators_of(child)
    return out
