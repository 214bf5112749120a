"""Tolerant parsing of what LLMs return: code fences, prose around JSON, trailing commas, odd types.

Tolerant does not mean lax: what cannot be read raises :class:`ValueError` so the caller can retry
once and then fail cleanly with the store untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..unicode_safe import scrub

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _candidates(text: str) -> list[str]:
    out = [text]
    out.extend(m.group(1) for m in _FENCE.finditer(text))
    # The outermost {...} span, for prose around the JSON.
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        out.append(text[start : end + 1])
    return out


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in an LLM answer.

    :raises ValueError: when no JSON object can be read (empty body, truncated JSON, a list...).
    """
    if text is None or not str(text).strip():
        raise ValueError("the LLM returned an empty answer")
    text = str(text).strip()
    for cand in _candidates(text):
        cand = cand.strip()
        for attempt in (cand, _TRAILING_COMMA.sub(r"\1", cand)):
            try:
                value = json.loads(attempt)
            except (json.JSONDecodeError, ValueError):
                continue
            if isinstance(value, dict):
                return scrub(value)  # type: ignore[no-any-return]  # a model's lone surrogate: escaped
    snippet = text if len(text) <= 200 else text[:200] + "…"
    raise ValueError(f"no JSON object in the LLM answer: {snippet!r}")


def as_text(value: Any) -> str | None:
    """A string from whatever the LLM put there (numbers become strings, blanks become None)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return None
    s = str(value).strip()
    return s or None


def first_list(obj: dict[str, Any], keys: tuple[str, ...], what: str, *, required: bool = True) -> list[Any]:
    """The value of the first of ``keys`` present in ``obj``, as a list (null → ``[]``, one object
    → ``[object]``): models name the same list differently ("facts", "memories", ...).

    :param required: when none of ``keys`` is present, raise (True) or answer ``[]`` (False).
    :raises ValueError: the value is not a list, or (``required``) no key is present.
    """
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is None:
                return []
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return [value]
            raise ValueError(f"{what}: {key!r} must be a list, got {type(value).__name__}")
    if required:
        raise ValueError(f"{what}: expected a JSON object with key {keys[0]!r}, got keys {sorted(obj)}")
    return []
