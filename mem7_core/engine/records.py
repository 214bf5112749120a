"""Payload layout: how a memory is stored in a vector store and turned back into an :class:`Item`.

A payload is flat: the engine's own keys (``RESERVED_PAYLOAD_KEYS``: text under ``data``, hash,
times, access count, type, actor, role, scope ids) beside the caller's metadata keys. Metadata may
not use a reserved key, so a filter key always means one thing and ``update()`` cannot move a
memory to another scope through metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..ids import text_hash
from ..models import RESERVED_PAYLOAD_KEYS, SCOPE_KEYS, Item, Scope
from ..unicode_safe import check_tree, scrub


def check_metadata(metadata: Mapping[str, Any] | None, *, field: str = "metadata") -> dict[str, Any]:
    """Validate caller metadata: a dict of string keys, none of them reserved.

    :raises ValueError: naming the key and why.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"{field} must be a dict, got {type(metadata).__name__}")
    check_tree(metadata, field)  # lone surrogates in keys or values: refused, naming where
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{field} keys must be non-empty strings, got {key!r}")
        if key in RESERVED_PAYLOAD_KEYS:
            hint = " (pass scope ids as arguments)" if key in SCOPE_KEYS else ""
            raise ValueError(f"{field} key {key!r} is reserved by mem7; rename it{hint}")
        _check_value(value, f"{field}[{key!r}]", 1)
        out[key] = value
    return out


MAX_METADATA_DEPTH = 32
"""How deep metadata values may nest (dicts in lists in dicts...): deeper is refused, not stored."""


def _check_value(value: Any, where: str, depth: int) -> None:
    """NaN and Infinity are not JSON, and very deep nesting overflows JSON encoders: stored, either
    would break every later read of the memory (a JSON response, a server-backed store), so both
    are refused on the way in, naming where."""
    field = where.split("[", 1)[0]
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{field} value at {where} is {value!r}; NaN and Infinity are not JSON numbers, use null or a string"
            )
        return
    if not isinstance(value, (Mapping, list, tuple)):
        # A datetime, bytes, a set, an object...: not JSON. Stored, it would fail the store's write
        # (or, in memory, every later JSON read of the scope), so it is refused here, naming where.
        raise ValueError(
            f"{field} value at {where} is of type {type(value).__name__}, not JSON; use a string, number, "
            "boolean, null, list or dict (a date as an ISO 8601 string)"
        )
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{field} value at {where[:80]}... nests deeper than {MAX_METADATA_DEPTH} levels; flatten it")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(
                    f"{field} key {k!r} at {where} is of type {type(k).__name__}; "
                    f"JSON object keys are strings, use {str(k)!r}"
                )
            _check_value(v, f"{where}[{k!r}]", depth + 1)
    else:
        for i, v in enumerate(value):
            _check_value(v, f"{where}[{i!r}]", depth + 1)


def new_payload(
    text: str,
    *,
    scope: Scope,
    now: str,
    metadata: Mapping[str, Any] | None = None,
    memory_type: str | None = None,
    role: str | None = None,
    actor_id: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = dict(metadata or {})
    payload.update(
        data=text,
        hash=text_hash(text),
        created_at=now,
        updated_at=now,
        access_count=0,
    )
    payload.update(scope.as_dict())
    if memory_type:
        payload["memory_type"] = memory_type
    if role:
        payload["role"] = role
    if actor_id:
        payload["actor_id"] = actor_id
    return payload


def item_from_payload(id: str, payload: Mapping[str, Any], score: float | None = None) -> Item:
    # Stored strings that are not valid Unicode (an older version, or another writer) are escaped
    # (``\\ud800``) so that every read of the scope can still be encoded: ``mem7_core.unicode_safe``.
    id, payload = scrub(id), scrub(payload)
    text = str(payload.get("data", ""))
    metadata = {k: v for k, v in payload.items() if k not in RESERVED_PAYLOAD_KEYS}
    return Item(
        id=id,
        memory=text,
        text=text,
        hash=str(payload.get("hash") or text_hash(text)),
        user_id=payload.get("user_id"),
        agent_id=payload.get("agent_id"),
        run_id=payload.get("run_id"),
        created_at=payload.get("created_at"),
        updated_at=payload.get("updated_at"),
        last_accessed_at=payload.get("last_accessed_at"),
        access_count=int(payload.get("access_count") or 0),
        metadata=metadata or None,
        score=score,
        actor_id=payload.get("actor_id"),
        role=payload.get("role"),
        memory_type=payload.get("memory_type"),
    )
