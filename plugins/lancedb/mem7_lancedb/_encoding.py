"""How a mem7 record becomes a LanceDB row, and how filters become exact SQL predicates.

A row holds the record's payload verbatim (``payload``, JSON) and columns derived from it that
let LanceDB evaluate mem7's filters with the reference semantics of
:func:`mem7_core.filters.evaluate`::

    id_hex    string         hex of the id's UTF-8 bytes (merge key; SQL-safe, reversible)
    vector    float32[dims]  the embedding
    user_id   string | null  token of payload["user_id"] when it is a string (same for agent_id, run_id)
    key_tokens   list<string>   one token per top-level payload key        -> "*" (exists)
    value_tokens list<string>   one token per (key, scalar value) pair      -> eq / ne / in / nin
    created_at string        payload["created_at"] as a string ("" when absent) -> list() order
    payload   string         the payload, JSON

A token is the hex BLAKE2b-128 digest of ``json.dumps([key, code])``, where ``code`` encodes a
scalar the way mem7's ``==`` sees it: ``z`` (null), ``b1``/``b0`` (bools never equal numbers),
``n<canonical number>`` (``1`` and ``1.0`` both give ``n1``), ``s<text>``. Lists and objects get
no value token (a filter value is always a scalar, and a scalar never equals a list). NaN gets
none either (it equals nothing). Every literal put into SQL is such a hex digest, or hex text:
no value a user wrote ever reaches the SQL text, so nothing needs escaping and nothing can be
injected. The store re-checks scope and filter on each returned row in Python, so even a digest
collision could not let a foreign row through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mem7_core.filters import And, Condition, Filter, Not, equality_key
from mem7_core.models import SCOPE_KEYS

PUSHED_DOWN: frozenset[str] = frozenset({"eq", "ne", "in", "nin", "exists"})
"""Operators LanceDB evaluates exactly here (token membership). Ranges (``gt``/``gte``/``lt``/``lte``)
and ``contains``/``icontains`` are evaluated in Python, exactly, over the rows the pushed-down
part selects."""


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def id_key(mem7_id: str) -> str:
    """The ``id_hex`` column of an id: hex of its UTF-8 bytes (lone surrogates kept)."""
    return mem7_id.encode("utf-8", "surrogatepass").hex()


def id_of(key: str) -> str:
    """The inverse of :func:`id_key`."""
    return bytes.fromhex(key).decode("utf-8", "surrogatepass")




def key_token(key: str) -> str:
    return _digest(json.dumps([key]))


def term_token(key: str, value: Any) -> str | None:
    """The token of ``key == value`` (``None``: no stored value can equal ``value``)."""
    code = equality_key(value)
    return None if code is None else _digest(json.dumps([key, code]))


def derived(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The columns derived from a payload (see the module docstring)."""
    terms = [t for k, v in payload.items() if (t := term_token(k, v)) is not None]
    row: dict[str, Any] = {
        "key_tokens": [key_token(k) for k in payload],
        "value_tokens": terms,
        "created_at": str(payload.get("created_at") or ""),
    }
    for k in SCOPE_KEYS:
        v = payload.get(k)
        row[k] = term_token(k, v) if isinstance(v, str) else None
    return row


def _lit(token: str) -> str:
    # Every token is lowercase hex (a digest or id_key): checked, so no SQL text can come from a value.
    if not token or any(c not in "0123456789abcdef" for c in token):
        raise AssertionError(f"not a hex token: {token!r}")
    return f"'{token}'"


def keys_in(ids: Sequence[str]) -> str:
    """``id_hex IN (...)`` for these ids."""
    return "id_hex IN (" + ", ".join(_lit(id_key(i)) for i in ids) + ")"


def scope_where(items: Sequence[tuple[str, str]]) -> list[str]:
    """One ``<scope column> = '<token>'`` predicate per scope id that is set."""
    out = []
    for k, v in items:
        token = term_token(k, v)
        assert token is not None  # scope ids are strings
        out.append(f"{k} = {_lit(token)}")
    return out


def _condition(cond: Condition) -> str | None:
    op, key, want = cond.op, cond.key, cond.value
    if op == "exists":
        return f"array_has(key_tokens, {_lit(key_token(key))})"
    if op in ("eq", "ne"):
        token = term_token(key, want)
        sql = "FALSE" if token is None else f"array_has(value_tokens, {_lit(token)})"
        return sql if op == "eq" else f"NOT ({sql})"
    if op in ("in", "nin"):
        tokens = sorted({t for w in want if (t := term_token(key, w)) is not None})
        sql = "FALSE" if not tokens else "array_has_any(value_tokens, [" + ", ".join(_lit(t) for t in tokens) + "])"
        return sql if op == "in" else f"NOT ({sql})"
    return None  # ranges, contains, icontains: evaluated in Python


def to_sql(node: Filter) -> str | None:
    """The whole filter as one exact SQL predicate, or ``None`` when some part cannot be."""
    if isinstance(node, Condition):
        return _condition(node)
    if isinstance(node, Not):
        inner = to_sql(node.child)
        return None if inner is None else f"NOT ({inner})"
    parts = [to_sql(c) for c in node.children]
    if any(p is None for p in parts):
        return None
    if not parts:
        return "TRUE" if isinstance(node, And) else "FALSE"
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(f"({p})" for p in parts) + ")"


def split(node: Filter | None) -> tuple[list[str], bool]:
    """``(SQL conjuncts, exact)``: the parts of the filter's top-level AND that LanceDB can evaluate
    exactly, and whether they are the whole filter (else the rows they select are a superset, to
    be filtered in Python)."""
    if node is None:
        return [], True
    if isinstance(node, And):
        sql: list[str] = []
        exact = True
        for child in node.children:
            part, child_exact = split(child)
            sql.extend(part)
            exact = exact and child_exact
        return sql, exact
    whole = to_sql(node)
    return ([whole], True) if whole is not None else ([], False)
