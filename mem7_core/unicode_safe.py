"""Valid Unicode at every edge: lone surrogates refused on the way in, escaped on the way out.

A Python ``str`` may hold UTF-16 surrogate code points (U+D800..U+DFFF) that no UTF-8 encoder
accepts: ``json.loads('"\\ud800"')`` makes one, so do undecodable bytes in ``sys.argv``
(``surrogateescape``). Stored, such a string breaks every later JSON response, export line or
terminal print of its scope. So:

- **in**: every text, metadata key and value (nested), filter, scope id and import item is checked;
  a surrogate is refused with a ``ValueError`` naming the field (:func:`check_str`,
  :func:`check_tree`), which the REST server answers with 422, the CLI with exit 2, MCP with a
  tool error;
- **out**: anything already stored that cannot be encoded (written by an older version, or by
  another program straight into the vector store) is still readable: each surrogate is written as
  its Python/JSON-style escape, ``\\ud800`` (a backslash, ``u`` and four hex digits; UTF-8's
  ``backslashreplace``), by :func:`scrub`. The escape is plain text, so exporting such a memory
  and importing the file again stores the escaped text, and the store stays valid Unicode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_SCRUB_DEPTH = 200
"""Deeper structures than this are not walked by :func:`scrub` (nothing mem7 stores nests so deep)."""


def surrogate_at(value: str) -> int | None:
    """The index of the first surrogate code point in ``value``, or ``None``."""
    match = _SURROGATE.search(value)
    return match.start() if match else None


def check_str(value: Any, field: str) -> Any:
    """``value`` unchanged, unless it is a string holding a surrogate.

    :raises ValueError: ``"<field> is not valid Unicode: lone surrogate U+D800 at index 3; ..."``.
    """
    if isinstance(value, str):
        at = surrogate_at(value)
        if at is not None:
            raise ValueError(
                f"{field} is not valid Unicode: lone surrogate U+{ord(value[at]):04X} at index {at}; "
                "send text as UTF-8 (in JSON, a \\uD800-\\uDFFF escape must be half of a valid pair)"
            )
    return value


def check_tree(value: Any, field: str, error: type[ValueError] = ValueError) -> None:
    """Refuse a surrogate anywhere in ``value``: dict keys and values, list items, nested.

    Walked without recursion (depth is limited elsewhere). The error names the path, e.g.
    ``metadata['tags'][2]``.

    :raises ValueError: (or ``error``) naming where the surrogate is.
    """
    # Each entry: (node, its key in its parent, the parent's entry); a path is only built on error,
    # so a deeply nested hostile value costs linear time.
    todo: list[tuple[Any, Any, Any]] = [(value, None, None)]
    while todo:
        entry = todo.pop()
        node = entry[0]
        if isinstance(node, str):
            if surrogate_at(node) is not None:
                where = _path(field, entry)
                _refuse(node, field if where == field else f"{field} value at {where}", error)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                if isinstance(k, str) and surrogate_at(k) is not None:
                    _refuse(k, f"{field} key {_show(k)} at {_path(field, entry)}", error)
                todo.append((v, _show(k), entry))
        elif isinstance(node, (list, tuple)):
            todo.extend((v, str(i), entry) for i, v in enumerate(node))


def _path(field: str, entry: tuple[Any, Any, Any]) -> str:
    keys: list[str] = []
    while entry[2] is not None:
        keys.append(entry[1])
        entry = entry[2]
    return field + "".join(f"[{k}]" for k in reversed(keys))


def _refuse(value: str, label: str, error: type[ValueError]) -> None:
    try:
        check_str(value, label)
    except ValueError as exc:
        raise error(str(exc)) from None


def _show(key: Any) -> str:
    return ascii(key)  # never itself unencodable


def escape(value: str) -> str:
    """``value`` with each surrogate written as ``\\udXXX`` (valid UTF-8 text)."""
    if surrogate_at(value) is None:
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def scrub(value: Any) -> Any:
    """``value`` (a JSON-like tree) with every surrogate in every string and key escaped.

    Returns ``value`` itself when nothing needs escaping (the usual case, checked at C speed).
    """
    try:
        blob = json.dumps(value, ensure_ascii=False, default=str, check_circular=False)
    except (TypeError, ValueError, RecursionError):
        return _walk(value, 0)
    if _SURROGATE.search(blob) is None:
        return value
    return _walk(value, 0)


def _walk(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return escape(value)
    if depth > MAX_SCRUB_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {escape(k) if isinstance(k, str) else k: _walk(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_walk(v, depth + 1) for v in value)
    return value


__all__ = ["check_str", "check_tree", "escape", "scrub", "surrogate_at"]
