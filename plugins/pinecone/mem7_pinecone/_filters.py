"""How a mem7 record is kept in Pinecone's metadata, and mem7's filters in Pinecone's filter language.

Pinecone metadata holds strings, numbers (64-bit floats), booleans and lists of strings, no nulls and
no nested objects, 40 KB per record. A record's metadata is:

- ``mem7``: ``{"id": mem7 id, "payload": payload}`` as JSON, what the store reads back;
- ``mem7_v``: ``1`` on every record (the "everything" filter a paged fetch needs);
- ``mem7_keys``: the payload's top-level keys (so ``exists`` is exact for every key);
- ``p.<key>``: each top-level scalar the filter language can compare exactly: a string of at most
  :data:`MAX_INDEXED_BYTES` bytes, a boolean, a finite number within +-2**53 (exact as a float);
- ``l.<key>``: each top-level list of such strings;
- ``t.<key>``: the engine's times (``created_at``, ``updated_at``, ``last_accessed_at``) in their
  canonical form as epoch seconds, so their ranges run in Pinecone, whose ranges are numeric only
  (canonical times order as instants, and epoch floats keep microseconds apart and in order);
- ``mem7_raw``: the keys whose values are present but not indexed (null, objects, other lists, long
  strings, big numbers), so a condition on such a key can still find the record.

:func:`where` translates the scope and a parsed filter into a Pinecone filter that every matching
record passes, exactly where the two languages agree (see :func:`narrow`) and more broadly where they
do not; the store re-checks every candidate against the JSON payload with mem7's reference
semantics (:func:`mem7_core.filters.evaluate`), so answers are exact either way.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mem7_core.filters import TIME_KEYS, And, Condition, Filter, Not
from mem7_core.ids import iso
from mem7_core.models import Scope

ID_NAMESPACE = uuid.UUID("2f6a0c8e-51d4-5b7e-8c3a-9e1f4d7b6a20")
META_KEY = "mem7"
VERSION_KEY = "mem7_v"
KEYS_KEY = "mem7_keys"
RAW_KEY = "mem7_raw"
SCALAR = "p."
LIST = "l."
TIME = "t."
MAX_INDEXED_BYTES = 1024
"""Longer strings stay in the JSON only (Pinecone's 40 KB of metadata per record is shared)."""
MAX_EXACT_INT = 2**53
EVERYTHING: dict[str, Any] = {VERSION_KEY: {"$eq": 1}}
_FIELD = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def point_id(mem7_id: str) -> str:
    """The Pinecone id of a mem7 id (Pinecone ids are ASCII without NUL, at most 512 bytes; a uuid5
    maps any mem7 id, hostile ones included, onto one)."""
    return str(uuid.uuid5(ID_NAMESPACE, mem7_id))


def _indexable_key(key: str) -> bool:
    return bool(_FIELD.match(key))


def _short(value: str) -> bool:
    return len(value.encode("utf-8", "surrogatepass")) <= MAX_INDEXED_BYTES


def _scalar(value: Any) -> bool:
    """A value Pinecone compares exactly as mem7 does (a short string, a bool, an exact number)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, int):
        return abs(value) <= MAX_EXACT_INT
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= MAX_EXACT_INT
    return False


def _epoch(value: Any) -> float | None:
    """Epoch seconds of a time in mem7's canonical form (``iso``), ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None or iso(dt) != value:
        return None
    return dt.timestamp()


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and _short(v) for v in value)


def encode(mem7_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Pinecone metadata of one record."""
    meta: dict[str, Any] = {
        META_KEY: json.dumps({"id": mem7_id, "payload": dict(payload)}, ensure_ascii=True),
        VERSION_KEY: 1,
    }
    keys = [str(k) for k in payload]
    if keys:
        meta[KEYS_KEY] = keys
    raw: list[str] = []
    for key, value in payload.items():
        if not _indexable_key(key):
            continue  # conditions on it narrow nothing (see narrow): no need to list it
        if _scalar(value):
            meta[SCALAR + key] = value
        elif _string_list(value):
            meta[LIST + key] = list(value)
        else:
            raw.append(key)
    for key in sorted(TIME_KEYS & payload.keys()):
        seconds = _epoch(payload[key])
        if seconds is not None:
            meta[TIME + key] = seconds
        elif key not in raw:
            raw.append(key)  # a time not in canonical form: its ranges are re-checked, never lost
    if raw:
        meta[RAW_KEY] = raw
    return meta


def decode(meta: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``(mem7 id, payload)`` of a record's metadata.

    :raises ValueError: when the metadata is not a mem7 record's.
    """
    if not meta or not isinstance(meta.get(META_KEY), str):
        raise ValueError(f"metadata without a {META_KEY!r} field: not a mem7 record")
    body = json.loads(meta[META_KEY])
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("payload"), dict):
        raise ValueError(f"the {META_KEY!r} field is not a mem7 record")
    return body["id"], body["payload"]


# ------------------------------------------------------------------------------------ filters
def _or(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"$or": list(clauses)}


def _and(clauses: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return dict(clauses[0]) if len(clauses) == 1 else {"$and": list(clauses)}


def _raw(key: str) -> dict[str, Any]:
    return {RAW_KEY: {"$in": [key]}}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and _scalar(value)


def _in_values(values: Sequence[Any]) -> bool:
    """``$in``/``$nin`` take strings and numbers (documented); bools and the rest narrow nothing."""
    return bool(values) and all((isinstance(v, str) and _short(v)) or _number(v) for v in values)


def _condition(cond: Condition, negated: bool) -> dict[str, Any] | None:
    """``cond`` (or ``NOT cond``) as a Pinecone clause every matching record passes, or ``None``."""
    key, value = cond.key, cond.value
    op: str = cond.op
    if op == "exists":
        if negated:  # the key is absent: not among the record's keys
            return _or({KEYS_KEY: {"$nin": [key]}}, {KEYS_KEY: {"$exists": False}})
        return {KEYS_KEY: {"$in": [key]}}
    if not _indexable_key(key):
        return None
    field = SCALAR + key
    if negated:  # NOT eq = ne and NOT in = nin in mem7's semantics (an absent key fails eq, passes ne)
        op = {"eq": "ne", "ne": "eq", "in": "nin", "nin": "in"}.get(op, "")
    if op == "eq" and _scalar(value):
        # a stored value that is not indexed (mem7_raw) may still be equal: let the re-check decide
        return _or({field: {"$eq": value}}, _raw(key))
    if op == "ne" and _scalar(value):
        return _or({field: {"$ne": value}}, {field: {"$exists": False}})
    if op == "in" and isinstance(value, (list, tuple)) and _in_values(value):
        return _or({field: {"$in": list(value)}}, _raw(key))
    if op == "nin" and isinstance(value, (list, tuple)) and _in_values(value):
        return _or({field: {"$nin": list(value)}}, {field: {"$exists": False}})
    seconds = _epoch(value) if key in TIME_KEYS and op in ("gt", "gte", "lt", "lte") else None
    if seconds is not None:  # the engine's times, as the epoch seconds kept beside them
        return _or({TIME + key: {f"${op}": seconds}}, _raw(key))
    if op in ("gt", "gte", "lt", "lte") and _number(value):  # Pinecone's ranges are numeric only
        return _or({field: {f"${op}": value}}, _raw(key))
    if op == "contains" and isinstance(value, str) and _short(value):
        # a list holding it (exact), or a string (a substring: re-checked), or an unindexed value
        return _or({LIST + key: {"$in": [value]}}, {field: {"$exists": True}}, _raw(key))
    return None  # string ranges, icontains, unindexable values: the re-check decides


def narrow(node: Filter | None, negated: bool = False) -> dict[str, Any] | None:
    """A Pinecone filter every record passing ``node`` (or ``NOT node`` when ``negated``) passes.

    ``None`` means no narrowing. Conditions translate as :func:`_condition` says; ``NOT`` is pushed
    down (De Morgan); an AND keeps the children that translate, an OR needs all of them.
    """
    if node is None:
        return None
    if isinstance(node, Condition):
        return _condition(node, negated)
    if isinstance(node, Not):
        return narrow(node.child, not negated)
    parts = [narrow(c, negated) for c in node.children]
    conjunction = isinstance(node, And) != negated  # NOT (a OR b) = NOT a AND NOT b
    if conjunction:
        return _and([p for p in parts if p is not None])
    if any(p is None for p in parts):
        return None
    return {"$or": parts} if len(parts) > 1 else parts[0]


def where(scope: Scope, node: Filter | None) -> dict[str, Any]:
    """The scope ids (exact) ANDed with the narrowing of ``node``; never empty."""
    clauses: list[dict[str, Any]] = [EVERYTHING]
    for key, value in scope.items():
        if _indexable_key(key) and _scalar(value):
            clauses.append({SCALAR + key: {"$eq": value}})
    extra = narrow(node)
    if extra is not None:
        clauses.append(extra)
    return _and(clauses) or dict(EVERYTHING)


__all__ = ["EVERYTHING", "decode", "encode", "narrow", "point_id", "where"]
