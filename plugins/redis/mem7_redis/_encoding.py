"""How a mem7 record lives in a Redis hash, and how scopes and filters become FT.SEARCH queries.

One hash per record, at ``<collection>:m:<id>``, indexed by the collection's search index
(``FT.CREATE ... ON HASH PREFIX 1 <collection>:m:``):

=============  ======================================================================
field          holds
=============  ======================================================================
``mid``        the mem7 id
``p``          the whole payload as JSON: what every read returns
``v``          the vector, FLOAT32 bytes (the index's ``VECTOR`` field, cosine)
``f``          the *filter tokens* (a ``TAG`` field): 128-bit BLAKE2b digests, in hex, of what
               the payload says: ``key present``, ``key == value`` (typed: ``1`` and ``1.0`` are
               one token, ``True`` and ``1`` two), ``key holds a string``, ``key's list holds
               value`` and ``key's list holds a string that casefolds to value``
``w``          the *word tokens* (a ``TAG`` field): a digest of each distinct word of
               ``payload["data"]`` as mem7's tokeniser splits it (keyword search)
``kl``/``kla`` how many words the text has, function words left out / in (keyword search)
``t_<key>``    for the engine's times (``created_at``, ``updated_at``, ``last_accessed_at``) in
               their canonical form (:func:`mem7_core.ids.iso`): microseconds since the epoch (a
               ``NUMERIC`` field), so a time range is an index range
=============  ======================================================================

Digests keep every value out of the query language: no escaping, no tokenising, no case folding
by Redis, any length, any characters. Scope ids are ``key == value`` tokens, so the scope is
always matched in the index, exactly.

:func:`translate` turns a parsed filter into a query every matching record passes, and says whether
the query is *exact* (it matches exactly the records the filter does): ``eq``, ``ne``, ``in``,
``nin``, ``exists``, ``contains`` of a non-string, and AND/OR/NOT of exact parts are; substring
``contains``/``icontains`` narrow to the records holding a string (or a matching list item), and
time ranges to the records in range or holding a time not in canonical form. Every record read is
re-checked with :func:`mem7_core.filters.evaluate` anyway, so an inexact query only costs reads.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mem7_core.filters import TIME_KEYS, And, Condition, Filter, Not, Or, equality_key
from mem7_core.models import Scope
from mem7_core.providers.keywords import STOPWORDS, tokenize

FILTER_FIELD = "f"
WORD_FIELD = "w"
VECTOR_FIELD = "v"
PAYLOAD_FIELD = "p"
ID_FIELD = "mid"
LENGTH_FIELD = "kl"
"""Words of the text, function words left out (keyword search with ``keyword_stopwords: true``)."""
LENGTH_ALL_FIELD = "kla"
"""Words of the text, all of them (keyword search with ``keyword_stopwords: false``)."""
TIME_FIELDS: dict[str, str] = {key: f"t_{key}" for key in sorted(TIME_KEYS)}
"""The ``NUMERIC`` field of each engine time."""
_MAX_EXACT = 2**53
"""Microsecond counts a double holds exactly (years 1685 to 2255)."""


def token(*parts: str) -> str:
    """The 128-bit BLAKE2b digest (hex) of ``parts``, each length-prefixed (no two part lists meet)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        raw = part.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    return h.hexdigest()


NEVER = token("never")
"""A token no record holds: the query of a condition that matches nothing (``in []``, ``eq NaN``)."""




def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def present_token(key: str) -> str:
    return token("k", key)


def equal_token(key: str, value: str) -> str:
    """``key == value`` for a :func:`~mem7_core.filters.equality_key` form."""
    return token("e", key, value)


def string_token(key: str) -> str:
    return token("S", key)


def item_token(key: str, value: str) -> str:
    """``key``'s list holds an item equal to ``value`` (a :func:`~mem7_core.filters.equality_key` form)."""
    return token("l", key, value)


def folded_item_token(key: str, folded: str) -> str:
    """``key``'s list holds a string whose ``casefold()`` is ``folded``."""
    return token("i", key, folded)


def odd_time_token(key: str) -> str:
    """``key`` (an engine time) is present but not a canonical time: not in its ``NUMERIC`` field."""
    return token("O", key)


def filter_tokens(payload: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in payload.items():
        out.append(present_token(key))
        c = equality_key(value)
        if c is not None:
            out.append(equal_token(key, c))
        if isinstance(value, str):
            out.append(string_token(key))
        elif isinstance(value, list):
            for item in value:
                ci = equality_key(item)
                if ci is not None:
                    out.append(item_token(key, ci))
                if isinstance(item, str):
                    out.append(folded_item_token(key, item.casefold()))
        if key in TIME_FIELDS and time_micros(value) is None:
            out.append(odd_time_token(key))
    return list(dict.fromkeys(out))


def time_micros(value: Any) -> int | None:
    """Microseconds since the epoch of a canonical engine time (``None``: not one, so its string
    order may differ from its time order and it is left to :func:`~mem7_core.filters.evaluate`)."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None or dt.astimezone(UTC).isoformat() != value:
        return None
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros if abs(micros) < _MAX_EXACT else None


def text_of(payload: Mapping[str, Any]) -> str:
    """The text keyword search sees: ``payload["data"]``, as the engine's index reads it."""
    return str(payload.get("data") or "")


def word_token(word: str) -> str:
    return token("w", word)


def pack_vector(vector: Sequence[float]) -> bytes:
    import array

    return array.array("f", vector).tobytes()


def unpack_vector(raw: bytes) -> list[float]:
    import array

    out = array.array("f")
    out.frombytes(raw)
    return [float(x) for x in out]


def encode(mem7_id: str, payload: Mapping[str, Any], vector: bytes) -> dict[str, Any]:
    """The hash fields of one record (``vector`` already packed)."""
    words = tokenize(text_of(payload), stopwords=False)
    fields: dict[str, Any] = {
        ID_FIELD: mem7_id,
        PAYLOAD_FIELD: json.dumps(payload, ensure_ascii=True, separators=(",", ":")),
        VECTOR_FIELD: vector,
        FILTER_FIELD: ",".join(filter_tokens(payload)),
        WORD_FIELD: ",".join(word_token(w) for w in dict.fromkeys(words)),
        LENGTH_FIELD: sum(1 for w in words if w not in STOPWORDS),
        LENGTH_ALL_FIELD: len(words),
    }
    for key, field in TIME_FIELDS.items():
        micros = time_micros(payload.get(key))
        if micros is not None:
            fields[field] = micros
    return fields


def decode_payload(raw: bytes | str) -> dict[str, Any]:
    payload = json.loads(raw)
    if not isinstance(payload, dict):
        raise ValueError("the stored payload is not a JSON object")
    return payload


# ------------------------------------------------------------------ queries
def tags(field: str, tokens: Iterable[str]) -> str:
    return f"@{field}:{{{'|'.join(tokens)}}}"


def scope_query(scope: Scope) -> str:
    """The query of ``scope`` (``*``: every record)."""
    parts = [tags(FILTER_FIELD, [equal_token(k, "s" + v)]) for k, v in scope.items()]
    return " ".join(parts) if parts else "*"


def _never() -> tuple[str, bool]:
    return tags(FILTER_FIELD, [NEVER]), True


def _condition(node: Condition) -> tuple[str | None, bool]:
    key, op, want = node.key, node.op, node.value
    if op == "exists":
        return tags(FILTER_FIELD, [present_token(key)]), True
    if op in ("eq", "ne"):
        if _is_nan(want):
            q, exact = _never()
        else:
            c = equality_key(want)
            if c is None:
                return None, False  # a list or dict: compared in Python
            q, exact = tags(FILTER_FIELD, [equal_token(key, c)]), True
        return (q, exact) if op == "eq" else (f"-({q})", exact)
    if op in ("in", "nin"):
        found: list[str] = []
        for w in want:
            if _is_nan(w):
                continue
            c = equality_key(w)
            if c is None:
                return None, False
            found.append(equal_token(key, c))
        q, exact = (tags(FILTER_FIELD, dict.fromkeys(found)), True) if found else _never()
        return (q, exact) if op == "in" else (f"-({q})", exact)
    if op == "contains":
        if _is_nan(want):
            return _never()
        c = equality_key(want)
        if c is None:
            return None, False
        if isinstance(want, str):  # a substring of a string value, or a list item
            return tags(FILTER_FIELD, [item_token(key, c), string_token(key)]), False
        return tags(FILTER_FIELD, [item_token(key, c)]), True  # strings never contain a non-string
    if op == "icontains" and isinstance(want, str):
        return tags(FILTER_FIELD, [folded_item_token(key, want.casefold()), string_token(key)]), False
    if op in ("gt", "gte", "lt", "lte") and key in TIME_FIELDS:
        bound = time_micros(want)
        if bound is None:
            return None, False
        lo, hi = {
            "gt": (f"({bound}", "+inf"),
            "gte": (str(bound), "+inf"),
            "lt": ("-inf", f"({bound}"),
            "lte": ("-inf", str(bound)),
        }[op]
        ranged = f"@{TIME_FIELDS[key]}:[{lo} {hi}]"
        return f"{ranged} | {tags(FILTER_FIELD, [odd_time_token(key)])}", False
    return None, False


def translate(node: Filter | None) -> tuple[str | None, bool]:
    """``(query, exact)``: a query every record passing ``node`` passes (``None``: none narrows),
    and whether it passes exactly those."""
    if node is None:
        return None, True
    if isinstance(node, Condition):
        return _condition(node)
    if isinstance(node, Not):
        q, exact = translate(node.child)
        if q is None or not exact:
            return None, False
        return f"-({q})", True
    parts = [translate(c) for c in node.children]
    if isinstance(node, Or):
        if any(q is None for q, _ in parts):
            return None, False
        return " | ".join(f"({q})" for q, _ in parts), all(e for _, e in parts)
    assert isinstance(node, And)
    kept = [f"({q})" for q, _ in parts if q is not None]
    exact = all(q is not None and e for q, e in parts)
    return (" ".join(kept) if kept else None), exact


def query_of(scope: Scope, node: Filter | None) -> tuple[str, bool]:
    """The scope's query ANDed with the narrowing of ``node``, and whether it is exact."""
    base = scope_query(scope)
    extra, exact = translate(node)
    if extra is None:
        return base, exact
    return (f"({extra})" if base == "*" else f"{base} ({extra})"), exact
