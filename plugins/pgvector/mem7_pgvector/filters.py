"""mem7 filters as parameterised SQL over the JSONB ``payload`` column, with the reference semantics.

:func:`compile_filter` turns a parsed filter (:mod:`mem7_core.filters`) into a
:class:`psycopg.sql.Composed` boolean expression plus its parameters. Every key and value is a bind
parameter; only the expression's shape is SQL text.

Each condition compiles to an expression that is never NULL, so ``NOT`` and ``OR`` keep two-valued
logic exactly as :func:`mem7_core.filters.evaluate` does. With ``v = payload -> key``:

========== ==================================================================================
exists     ``payload ? key``
eq         ``payload @> {key: w}`` (JSONB containment of a scalar is equality: numeric-aware,
           ``true`` never equals ``1``, a list never equals a scalar; ``null`` matches JSON null)
ne         ``NOT (payload @> {key: w})``: holds when the key is absent
in / nin   ``payload @> ANY(ARRAY[{key: w1}, ...])`` / its negation
gt ... lte numbers: ``CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric > w END``;
           strings: ``CASE WHEN jsonb_typeof(v) = 'string' THEN (payload ->> key) COLLATE "C" > w``
           (code-point order, as Python compares str); any other pairing is false. On
           ``created_at`` the indexed column is compared too (the same string), so a time range
           (bounds arrive in the stored UTC form) is an index range scan
contains   ``payload @> {key: [w]}`` (list membership) ``OR`` ``strpos(payload ->> key, w) > 0``
           when the stored value is a string and ``w`` is one (no LIKE, so ``%`` and ``_`` are
           literal)
icontains  the same with ``casefold(... COLLATE pg_unicode_fast)`` on both sides (full Unicode case
           folding, PostgreSQL 18+), list members compared for equality after folding
========== ==================================================================================

Numbers travel as JSON text written by :func:`mem7_pgvector._common.render_float` on both sides
(stored payloads and filter values), so a float compares with ints and floats exactly as in
Python. ``CASE`` guards every cast: PostgreSQL does not promise to evaluate ``AND`` left to right.

A condition that SQL cannot express with the reference semantics raises :class:`NotPushable`:
``eq``/``ne``/``in``/``nin`` against a list or dict value (Python's ``[True] == [1]`` holds;
JSONB's does not), non-finite floats, and ``icontains`` on a server without ``casefold``. The store
then evaluates those parts itself with :func:`mem7_core.filters.evaluate` (see :func:`split`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from mem7_core.filters import And, Condition, Filter, Not

from ._common import dumps, numeric


class NotPushable(Exception):
    """This condition cannot be written in SQL with the reference semantics."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the server supports: ``casefold`` (PostgreSQL 18, UTF-8 database)."""

    casefold: bool = True


_SCALARS = (str, int, float, bool, type(None))


def _scalar(value: Any) -> bool:
    return isinstance(value, _SCALARS)


def _doc(key: str, value: Any) -> str:
    try:
        return dumps({key: value})
    except (TypeError, ValueError) as exc:  # NaN, NUL characters...: let Python evaluate it
        raise NotPushable(str(exc)) from None


_P = sql.Placeholder()


def _condition(cond: Condition, params: list[Any], dialect: Dialect) -> sql.Composable:
    key, op, value = cond.key, cond.op, cond.value
    if "\x00" in key:
        raise NotPushable("NUL in key")
    if op == "exists":
        params.append(key)
        return sql.SQL("(payload ? {}::text)").format(_P)
    if op in ("eq", "ne"):
        if not _scalar(value):
            raise NotPushable(f"{op} with a {type(value).__name__} value")
        params.append(_doc(key, value))
        expr = sql.SQL("(payload @> {}::jsonb)").format(_P)
        return expr if op == "eq" else sql.SQL("(NOT {})").format(expr)
    if op in ("in", "nin"):
        values = list(value)
        if not all(_scalar(v) for v in values):
            raise NotPushable(f"{op} with a non-scalar member")
        params.append([_doc(key, v) for v in values])
        expr = sql.SQL("(payload @> ANY({}::jsonb[]))").format(_P)
        return expr if op == "in" else sql.SQL("(NOT {})").format(expr)
    if op in ("gt", "gte", "lt", "lte"):
        sym = sql.SQL({"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op])
        if isinstance(value, bool):  # parse_filters rejects it; be safe
            raise NotPushable("ordering against a bool")
        if isinstance(value, (int, float)):
            try:
                bound = numeric(value)
            except ValueError as exc:
                raise NotPushable(str(exc)) from None
            params += [key, key, bound]
            return sql.SQL(
                "(CASE WHEN jsonb_typeof(payload -> {}::text) = 'number' "
                "THEN (payload -> {}::text)::numeric {} {}::numeric ELSE false END)"
            ).format(_P, _P, sym, _P)
        if isinstance(value, str):
            if "\x00" in value:
                raise NotPushable("NUL in value")
            column = key == "created_at"
            if column:
                params.append(value)
            params += [key, key, value]
            compare = sql.SQL(
                "(CASE WHEN jsonb_typeof(payload -> {}::text) = 'string' "
                "THEN (payload ->> {}::text) COLLATE \"C\" {} {}::text ELSE false END)"
            ).format(_P, _P, sym, _P)
            if not column:
                return compare
            # The created_at column holds the same string whenever the payload's is one, so this
            # conjunct changes no answer; it lets a time range scan the (scope, created_at, id) index.
            return sql.SQL("(created_at COLLATE \"C\" {} {}::text AND {})").format(sym, _P, compare)
        raise NotPushable(f"{op} with a {type(value).__name__} value")
    if op == "contains":
        if not _scalar(value):
            raise NotPushable(f"contains with a {type(value).__name__} value")
        params.append(_doc(key, [value]))
        member = sql.SQL("(payload @> {}::jsonb)").format(_P)
        if not isinstance(value, str):
            return member
        if "\x00" in value:
            raise NotPushable("NUL in value")
        params += [key, key, value]
        return sql.SQL(
            "({} OR (CASE WHEN jsonb_typeof(payload -> {}::text) = 'string' "
            "THEN strpos(payload ->> {}::text, {}::text) > 0 ELSE false END))"
        ).format(member, _P, _P, _P)
    if op == "icontains":
        if not dialect.casefold:
            raise NotPushable("icontains needs casefold() (PostgreSQL 18+ with a UTF-8 database)")
        if not isinstance(value, str) or "\x00" in value:
            raise NotPushable("icontains needs a string")
        params += [key, key, value, key, value]
        return sql.SQL(
            "(CASE jsonb_typeof(payload -> {}::text) "
            "WHEN 'string' THEN strpos(casefold((payload ->> {}::text) COLLATE pg_unicode_fast), "
            "casefold({}::text COLLATE pg_unicode_fast)) > 0 "
            "WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(payload -> {}::text) AS e(v) "
            "WHERE jsonb_typeof(e.v) = 'string' "
            "AND casefold((e.v #>> '{{}}') COLLATE pg_unicode_fast) = casefold({}::text COLLATE pg_unicode_fast)) "
            "ELSE false END)"
        ).format(_P, _P, _P, _P, _P)
    raise NotPushable(f"unknown operator {op!r}")


def compile_filter(node: Filter, params: list[Any], dialect: Dialect = Dialect()) -> sql.Composable:
    """SQL for ``node`` (parameters appended to ``params``).

    :raises NotPushable: when any part cannot be expressed exactly (``params`` is then unusable).
    """
    if isinstance(node, Condition):
        return _condition(node, params, dialect)
    if isinstance(node, Not):
        return sql.SQL("(NOT {})").format(compile_filter(node.child, params, dialect))
    joiner = sql.SQL(" AND " if isinstance(node, And) else " OR ")
    parts = [compile_filter(child, params, dialect) for child in node.children]
    return sql.SQL("({})").format(joiner.join(parts))


def split(node: Filter | None, dialect: Dialect = Dialect()) -> tuple[sql.Composable | None, list[Any], Filter | None]:
    """Split a filter into SQL and a residual for Python: ``(where, params, residual)``.

    A top-level AND pushes down the children it can and keeps the others as the residual, so a
    search still narrows in SQL by everything expressible. Anything else is all or nothing.
    """
    if node is None:
        return None, [], None
    children: Sequence[Filter] = node.children if isinstance(node, And) else (node,)
    sql_parts: list[sql.Composable] = []
    params: list[Any] = []
    residual: list[Filter] = []
    for child in children:
        local: list[Any] = []
        try:
            part = compile_filter(child, local, dialect)
        except NotPushable:
            residual.append(child)
            continue
        sql_parts.append(part)
        params += local
    where = sql.SQL(" AND ").join(sql_parts) if sql_parts else None
    rest: Filter | None
    if not residual:
        rest = None
    elif len(residual) == 1:
        rest = residual[0]
    else:
        rest = And(tuple(residual))
    return where, params, rest


__all__ = ["Dialect", "NotPushable", "compile_filter", "split"]
