"""The first stage of every operation: the caller's arguments checked and made typed.

Nothing here touches a provider. A bad argument raises an error naming the field and the fix
(``ValueError``, :class:`ScopeError`, :class:`FilterError`) before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import FilterError, ScopeError
from ..filters import Filter, keys_of, parse_filters, split_scope
from ..models import MEMORY_TYPES, SCOPE_KEYS, Scope, memory_type_of
from ..unicode_safe import check_str, check_tree

MAX_FILTER_DEPTH = 64
"""How deep a filter may nest (AND / OR / NOT inside each other): parsing it recurses."""


def memory_type(value: str | None) -> str | None:
    """A caller's ``memory_type`` (``procedural_memory`` accepted), or ``None``."""
    try:
        return memory_type_of(value)
    except ValueError:
        raise ValueError(f"memory_type must be one of {', '.join(MEMORY_TYPES)} (or None), got {value!r}") from None


def non_empty_text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    checked: str = check_str(value, field)
    return checked


def positive_int(value: Any, field: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field} must be a positive integer, got {value!r}")
    return value


def limit_or_top_k(limit: Any, top_k: Any, *, default: int = 100, none_is_all: bool = False) -> int | None:
    """The caller's ``limit``, or ``top_k`` (mem0's name for it) when that is given and ``limit`` is
    left at its ``default``; checked as a positive integer. ``none_is_all``: ``limit=None`` means no
    limit (the original mem7's ``get_all``) and is returned as ``None``.

    :raises ValueError: not a positive integer, or both given with different values.
    """
    if top_k is None:
        return None if limit is None and none_is_all else positive_int(limit)
    top = positive_int(top_k, "top_k")
    if limit != default and limit != top:
        raise ValueError(f"limit={limit!r} and top_k={top!r} are one argument (top_k is mem0's name); pass one")
    return top


def memory_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"memory_id must be a non-empty string, got {value!r}")
    checked: str = check_str(value, "memory_id")
    return checked


def check_filter_depth(filters: Mapping[str, Any] | None) -> None:
    """Refuse a filter nested deeper than :data:`MAX_FILTER_DEPTH` before it is parsed, so a
    hostile one (a REST body nested a thousand times) is a ``FilterError``, not a ``RecursionError``.
    Walked without recursion."""
    todo: list[tuple[Any, int]] = [(filters, 0)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(f"filters nest deeper than {MAX_FILTER_DEPTH} levels; flatten the AND / OR / NOT groups")
        todo.extend((child, depth + 1) for child in children)


def scope_of(
    user_id: str | None,
    agent_id: str | None,
    run_id: str | None,
    filters: Mapping[str, Any] | None = None,
    *,
    required: bool = True,
    operation: str = "this operation",
) -> tuple[Scope, Filter | None]:
    """The caller's scope (arguments plus scope ids given in ``filters``) and the parsed rest.

    :raises ScopeError: when no id is given (and one is required) or arguments and filters disagree.
    :raises FilterError: when the filter is malformed.
    """
    if filters is not None and not isinstance(filters, Mapping):
        raise FilterError(f"filters must be a dict, got {type(filters).__name__}")
    check_filter_depth(filters)
    check_tree(filters, "filters", FilterError)
    from_filters, rest = split_scope(filters, SCOPE_KEYS)
    ids: dict[str, str | None] = {}
    for key, given in zip(SCOPE_KEYS, (user_id, agent_id, run_id)):
        in_filter = from_filters.get(key)
        if given is not None and in_filter is not None and given != in_filter:
            raise ScopeError(f"{key} is {given!r} but filters say {in_filter!r}; pass one of them")
        value = check_str(given if given is not None else in_filter, key)
        # Here, at the caller's input, not in Scope itself: Scope is also built from stored records
        # (scope_of_payload), and a memory an older version stored under a blank id stays reachable.
        if isinstance(value, str) and value and not value.strip():
            raise ScopeError(f"{key} must be a non-empty string, got {value!r} (only whitespace): "
                             f"pass the id it stands for, or leave {key} out")
        ids[key] = value
    try:
        scope = Scope(**ids)
    except ValueError as exc:
        raise ScopeError(str(exc)) from exc
    node = parse_filters(rest)
    if required and scope.is_empty:
        nested = sorted(keys_of(node) & set(SCOPE_KEYS))  # e.g. {"AND": [{"user_id": "alice"}, ...]}
        hint = (
            f"; {' and '.join(nested)} in filters counts as scope only as a plain value at its top level, "
            f"e.g. filters={{{nested[0]!r}: 'alice', ...}}"
            if nested
            else ""
        )
        raise ScopeError(
            f"{operation} needs at least one of user_id, agent_id or run_id "
            f"(e.g. user_id='alice'); reset() wipes everything{hint}"
        )
    return scope, node


def scope_of_payload(payload: Mapping[str, Any]) -> Scope:
    """The scope a stored memory belongs to."""
    return Scope(**{k: payload.get(k) for k in SCOPE_KEYS})


__all__ = [
    "MAX_FILTER_DEPTH",
    "check_filter_depth",
    "limit_or_top_k",
    "memory_id",
    "memory_type",
    "non_empty_text",
    "positive_int",
    "scope_of",
    "scope_of_payload",
]
