"""How a mem7 record becomes a Qdrant point, and the index fields that make filters exact.

A point's payload is the record's payload, verbatim, plus one reserved key, ``_mem7``::

    {
      "data": "...", "user_id": "u1", "tags": ["a", "b"], ...        # the record's own payload
      "_mem7": {
        "id": "<the mem7 id>",                                       # Qdrant ids must be UUIDs
        "k": ["4:tags", ...],                                        # keys present       -> "*"
        "y": ["4:tags=l", "4:data=s", "1:n=n", ...],                 # key types          -> narrowing
        "t": ["4:tags=h:<digest>", "7:user_id=s:u1", ...],           # whole-value tokens -> eq/ne/in/nin
        "m": ["4:tags=s:a", "4:tags=s:b"],                           # list-element tokens -> contains
        "n": [{"k": "1:n", "v": 2.5}],                               # numbers            -> gt/gte/lt/lte
        "o": 3408134400000000                                        # created_at order key -> list()
      }
    }

Why not filter on the payload keys themselves: Qdrant matches a condition against *any element*
of a list value (mem7's ``eq`` compares the whole value), cross-matches ``true`` and ``1`` in
places, has no "key present even when null or []" test, and cannot address every key (a key
containing ``"`` cannot be written in a Qdrant key path). The tokens below are derived so that
plain keyword matches on them are exactly mem7's reference semantics
(:func:`mem7_core.filters.evaluate`):

- a key token is ``"<len>:<key>"`` (self-delimiting, so any key is safe), or ``"#<digest>"`` for
  keys longer than 64 characters;
- a value token encodes the value the way mem7's ``==`` sees it: ``z`` (null), ``b:1``/``b:0``
  (bools never equal numbers), ``n:<canonical number>`` (``1`` and ``1.0`` give ``n:1``),
  ``s:<text>`` (or ``h:<digest>`` past 64 characters), ``h:<digest>`` of a canonical form for lists
  and objects (where, as in Python, ``[True] == [1]``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

RESERVED_KEY = "_mem7"
"""The one top-level payload key mem7-qdrant uses for itself; records may not use it."""

ID_NAMESPACE = uuid.UUID("6d656d37-7164-4000-8000-706f696e7473")
"""uuid5 namespace mapping mem7 ids to Qdrant point ids (fixed forever: changing it orphans data)."""

INDEX_FIELDS = ("k", "y", "t", "m", "n", "o")
"""Sub-keys of ``_mem7`` that only serve filtering and ordering (never returned to callers)."""

_LONG = 64
_INT64 = 2**63
_MAX_INT_TOKEN = 2**1100  # beyond any float: such an int equals no JSON payload value


class Unmatchable(Exception):
    """A filter value that equals no JSON payload value (NaN, a tuple, a set...)."""


def point_id(mem7_id: str) -> str:
    """The Qdrant point id of a mem7 id: a deterministic uuid5 (Qdrant accepts UUIDs and ints only)."""
    return str(uuid.uuid5(ID_NAMESPACE, mem7_id))


def _digest(text: str) -> str:
    raw = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def key_token(key: str) -> str:
    return f"{len(key)}:{key}" if len(key) <= _LONG else "#" + _digest(key)


def _number(v: float) -> str:
    if isinstance(v, float):
        if v.is_integer():
            return str(int(v))
        return repr(v)  # finite non-integral floats: repr round-trips, so equal <=> same text
    return str(v)


def scalar_token(v: Any) -> str:
    """The token of a scalar as mem7's ``_eq`` compares it at the top level.

    :raises Unmatchable: for values no stored scalar can equal (NaN, huge ints, non-JSON types).
    """
    if v is None:
        return "z"
    if isinstance(v, bool):
        return "b:1" if v else "b:0"
    if isinstance(v, int):
        if abs(v) > _MAX_INT_TOKEN:
            raise Unmatchable
        return "n:" + _number(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise Unmatchable  # payloads hold finite numbers only
        return "n:" + _number(v)
    if isinstance(v, str):
        return "s:" + v if len(v) <= _LONG else "h:" + _digest("s" + v)
    raise Unmatchable


def _canonical(v: Any) -> str:
    """A text equal for two values exactly when Python's ``==`` says they are equal (JSON values).

    Nested bools are numbers here, as in Python (``[True] == [1]``); only the top level of mem7's
    ``_eq`` separates bools from numbers.
    """
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            raise Unmatchable
        if isinstance(v, int) and abs(v) > _MAX_INT_TOKEN:
            raise Unmatchable
        return _number(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ",".join(_canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise Unmatchable
        return "{" + ",".join(json.dumps(k) + ":" + _canonical(v[k]) for k in sorted(v)) + "}"
    raise Unmatchable  # tuples, sets, objects: never equal to a JSON list/dict


def value_token(v: Any) -> str:
    """The token of a whole value (scalar or list/object), for ``eq``/``ne``/``in``/``nin``.

    :raises Unmatchable: when no JSON payload value equals ``v``.
    """
    if isinstance(v, (list, dict)):
        return "h:" + _digest("c" + _canonical(v))
    return scalar_token(v)


# ------------------------------------------------------------------------------------ order key
_CANONICAL_TS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{6}))?\+00:00\Z"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def order_key(created_at: Any) -> int | None:
    """An integer whose order is the string order of ``created_at``, for mem7's own timestamps.

    Defined only for ``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`` (what ``datetime.isoformat()`` gives in
    UTC). Among such strings, string order is time order, with ``...:SS+00:00`` sorting before
    ``...:SS.000000+00:00``; the key keeps that (``2 * microseconds + has_fraction``), and equal keys
    mean equal strings. Anything else gets ``None`` and is ordered client-side.
    """
    if not isinstance(created_at, str):
        return None
    m = _CANONICAL_TS.match(created_at)
    if m is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        dt = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    delta = dt - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + int(m.group(7) or 0)
    return 2 * micros + (m.group(7) is not None)


# ------------------------------------------------------------------------------------ payloads
def _check_json(value: Any, where: str) -> Any:
    """A deep copy of ``value`` as plain JSON types; raises ``TypeError`` naming what is wrong."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise TypeError(f"qdrant: {where} is an integer outside 64 bits ({value}); Qdrant stores i64/f64 only")
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise TypeError(f"qdrant: {where} is {value!r}; payloads must be JSON (finite numbers)")
        return float(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TypeError(f"qdrant: {where} is not valid Unicode text (lone surrogate)") from None
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_check_json(x, f"{where}[{i}]") for i, x in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, x in value.items():
            if not isinstance(k, str):
                raise TypeError(f"qdrant: {where} has a non-string key {k!r}; payloads must be JSON")
            out[_check_json(k, f"key of {where}")] = _check_json(x, f"{where}[{k!r}]")
        return out
    raise TypeError(f"qdrant: {where} is a {type(value).__name__}; payloads must be JSON-serialisable")


def clean_payload(payload: Any) -> dict[str, Any]:
    """Validate a record payload and copy it (so no caller object is aliased)."""
    if not isinstance(payload, Mapping):
        raise TypeError(f"qdrant: a payload must be a dict, got {type(payload).__name__}")
    if RESERVED_KEY in payload:
        raise ValueError(f"qdrant: the payload key {RESERVED_KEY!r} is reserved by mem7-qdrant")
    return _check_json(payload, "payload")  # type: ignore[no-any-return]


def index_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The ``_mem7`` filter fields of a (clean) payload (see the module docstring)."""
    keys: list[str] = []
    types: list[str] = []
    tokens: list[str] = []
    members: list[str] = []
    numbers: list[dict[str, Any]] = []
    for key, value in payload.items():
        kt = key_token(key)
        keys.append(kt)
        tokens.append(f"{kt}={value_token(value)}")
        if isinstance(value, str):
            types.append(f"{kt}=s")
        elif isinstance(value, list):
            types.append(f"{kt}=l")
            seen: set[str] = set()
            for element in value:
                if isinstance(element, (list, dict)):
                    continue  # contains takes a scalar: such elements never match
                tok = f"{kt}={scalar_token(element)}"
                if tok not in seen:
                    seen.add(tok)
                    members.append(tok)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            types.append(f"{kt}=n")
            numbers.append({"k": kt, "v": value})
    fields: dict[str, Any] = {"k": keys, "y": types, "t": tokens, "m": members, "n": numbers}
    o = order_key(payload.get("created_at"))
    if o is not None:
        fields["o"] = o
    return fields


def encode_payload(mem7_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Qdrant payload of a record: its (clean) payload plus the ``_mem7`` fields."""
    return {**payload, RESERVED_KEY: {"id": mem7_id, **index_fields(payload)}}


def decode_payload(stored: Mapping[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """``(mem7 id, record payload)`` of a stored point payload."""
    if not stored:
        return None, {}
    payload = dict(stored)
    meta = payload.pop(RESERVED_KEY, None)
    mem7_id = meta.get("id") if isinstance(meta, dict) else None
    return (mem7_id if isinstance(mem7_id, str) else None), payload


def sort_key(payload: Mapping[str, Any], mem7_id: str) -> tuple[str, str]:
    """``list()`` order: ``created_at`` as a string, then id (the VectorStore contract)."""
    created = payload.get("created_at")
    return (str(created or ""), mem7_id)


