"""``Mem7Store``: a LangGraph ``BaseStore`` whose items are mem7 memories.

Namespaces → mem7 scopes
    A namespace starts with one to three ``(kind, id)`` pairs naming the scope, in any order:
    ``("users", <user_id>)``, ``("agents", <agent_id>)``, ``("runs", <run_id>)``. Any labels after
    them are a sub-namespace inside that scope. So ``("users", "alice")`` is ``user_id="alice"``,
    ``("users", "alice", "agents", "bot", "prefs")`` is ``user_id="alice", agent_id="bot"`` with the
    sub-namespace ``prefs``. A namespace that does not start with a pair cannot be mapped and is
    refused with :class:`NamespaceScopeError` (a LangGraph ``InvalidNamespaceError``).

Items → memories
    An item is one memory with a deterministic id (a UUID5 of namespace and key), so ``put``
    replaces it and ``get`` reads it back by id. The memory's text is what mem7 embeds and searches:
    the value's ``index`` fields (``put(..., index=[...])`` or the store's ``index_fields``), else
    the whole value as JSON. The value's top-level fields are stored as metadata ``value_<field>``
    (so mem7's metadata filters reach them), beside ``lg_ns`` (the namespace), ``lg_prefixes``
    (its prefixes, for prefix search) and ``lg_key``. Memories written another way (``add``) have
    none of these and are invisible to the store.

Search filters
    LangGraph's filter shape, ``{"field": value}`` or ``{"field": {"$eq"|"$ne"|"$gt"|"$gte"|
    "$lt"|"$lte"|"$in"|"$nin": ...}}`` on top-level value fields, becomes mem7's metadata filter
    on ``value_<field>``. A nested-object match (a dict without ``$`` operators) is refused: mem7
    filters compare top-level fields.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.base.embed import get_text_at_path

from mem7_core import MemoryNotFoundError
from mem7_core.frameworks import MemoryLike

from ._engine import Engine

__all__ = ["SCOPE_KINDS", "Mem7Store", "NamespaceScopeError", "namespace_scope"]

SCOPE_KINDS: dict[str, str] = {"users": "user_id", "agents": "agent_id", "runs": "run_id"}
"""The namespace labels that name a mem7 scope id, and the scope field each one sets."""

VALUE_PREFIX = "value_"
_NS_KEY, _PREFIXES_KEY, _KEY_KEY = "lg_ns", "lg_prefixes", "lg_key"
_ID_NAMESPACE = uuid.UUID("6f1f3a52-8d1e-5b7c-9a55-6d656d376c67")  # fixed: ids are stable across processes
_OPS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$in": "in", "$nin": "nin"}


class NamespaceScopeError(InvalidNamespaceError):
    """A namespace (or search prefix) that names no mem7 scope."""


def namespace_scope(namespace: Sequence[str], *, what: str = "namespace") -> tuple[dict[str, str], tuple[str, ...]]:
    """The mem7 scope a namespace names, and the labels after the scope pairs.

    >>> namespace_scope(("users", "alice", "prefs"))
    ({'user_id': 'alice'}, ('prefs',))

    :raises NamespaceScopeError: the namespace does not start with a ``(kind, id)`` pair.
    """
    ns = tuple(namespace)
    scope: dict[str, str] = {}
    i = 0
    while i + 1 < len(ns) and ns[i] in SCOPE_KINDS:
        field = SCOPE_KINDS[ns[i]]
        if field in scope:
            raise NamespaceScopeError(f"{what} {ns!r} names {ns[i]!r} twice; give each of users/agents/runs once")
        if not ns[i + 1]:
            raise NamespaceScopeError(f"{what} {ns!r}: the id after {ns[i]!r} is empty")
        scope[field] = ns[i + 1]
        i += 2
    if not scope:
        raise NamespaceScopeError(
            f"{what} {ns!r} cannot be mapped to a mem7 scope: it must start with ('users', <user_id>), "
            "('agents', <agent_id>) or ('runs', <run_id>), e.g. ('users', 'alice') or "
            "('users', 'alice', 'memories')"
        )
    return scope, ns[i:]


def _joined(ns: Sequence[str]) -> str:
    return ".".join(ns)  # LangGraph labels cannot contain a period, so this is unambiguous


def _memory_id(namespace: tuple[str, ...], key: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, json.dumps([list(namespace), key])))


def _map_filter(filter: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, cond in (filter or {}).items():
        if not isinstance(field, str) or not field:
            raise ValueError(f"filter keys must be non-empty value field names, got {field!r}")
        if isinstance(cond, Mapping):
            unknown = [k for k in cond if k not in _OPS]
            if unknown or not cond:
                raise ValueError(
                    f"filter[{field!r}] = {dict(cond)!r}: mem7 filters compare top-level value fields with "
                    f"{', '.join(_OPS)}; a nested-object match is not supported (store the nested field at the "
                    "top level of the value, or filter with an operator dict)"
                )
            out[VALUE_PREFIX + field] = {_OPS[k]: v for k, v in cond.items()}
        else:
            out[VALUE_PREFIX + field] = {"eq": cond}
    return out


def _when(text: str | None) -> datetime:
    return datetime.fromisoformat(text) if text else datetime.now(UTC)


def _is_store_item(memory: Mapping[str, Any]) -> bool:
    meta = memory.get("metadata") or {}
    return isinstance(meta.get(_NS_KEY), list) and isinstance(meta.get(_KEY_KEY), str)


def _value_of(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len(VALUE_PREFIX):]: v for k, v in meta.items() if k.startswith(VALUE_PREFIX)}


def _item(memory: Mapping[str, Any]) -> Item:
    meta = memory.get("metadata") or {}
    return Item(value=_value_of(meta), key=meta[_KEY_KEY], namespace=tuple(meta[_NS_KEY]),
                created_at=_when(memory.get("created_at")), updated_at=_when(memory.get("updated_at")))


def _search_item(memory: Mapping[str, Any]) -> SearchItem:
    meta = memory.get("metadata") or {}
    score = memory.get("score")
    return SearchItem(namespace=tuple(meta[_NS_KEY]), key=meta[_KEY_KEY], value=_value_of(meta),
                      created_at=_when(memory.get("created_at")), updated_at=_when(memory.get("updated_at")),
                      score=float(score) if score is not None else None)


def _matches(ns: tuple[str, ...], cond: MatchCondition) -> bool:
    path = tuple(cond.path)
    if len(ns) < len(path):
        return False
    pairs = zip(ns, path) if cond.match_type == "prefix" else zip(reversed(ns), reversed(path))
    return all(p == "*" or k == p for k, p in pairs)


class Mem7Store(BaseStore):
    """A LangGraph store over a mem7 engine (see the module docstring for the mapping).

    :param memory: a ``mem7_core.Memory`` (sync and async calls) or ``mem7_core.AsyncMemory``
        (async calls only: ``abatch``, ``aget``, ``aput``, ``asearch``, ...).
    :param index_fields: the value fields (LangGraph paths, e.g. ``"content"``, ``"a.b"``) whose
        text is embedded when ``put`` is given no ``index``; ``None`` embeds the whole value as JSON.
    """

    def __init__(self, memory: MemoryLike, *, index_fields: Sequence[str] | None = None) -> None:
        self._engine = Engine(memory, owner="Mem7Store")
        if isinstance(index_fields, str):
            raise TypeError(f"index_fields must be a list of field paths, got the string {index_fields!r}")
        self.index_fields = list(index_fields) if index_fields is not None else None

    @property
    def memory(self) -> MemoryLike:
        return self._engine.memory

    # ------------------------------------------------------------------------------ batches
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return self._engine.run_sync(self.abatch(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        results: list[Result] = []
        for op in ops:  # in order: a put then a get of the same key in one batch sees the put
            if isinstance(op, GetOp):
                results.append(await self._get(op))
            elif isinstance(op, PutOp):
                await self._put(op)
                results.append(None)
            elif isinstance(op, SearchOp):
                results.append(await self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(await self._list_namespaces(op))
            else:
                raise TypeError(f"Mem7Store: unknown operation {type(op).__name__}")
        return results

    # ------------------------------------------------------------------------------ operations
    async def _get(self, op: GetOp) -> Item | None:
        scope, _ = namespace_scope(op.namespace)
        found = await self._engine.get(_memory_id(tuple(op.namespace), op.key), scope)
        if found is None or not _is_store_item(found):
            return None
        return _item(found)

    def _text(self, value: Mapping[str, Any], index: Any) -> str:
        fields = self.index_fields if index is None else (index or None)  # index=False: the whole value
        parts: list[str] = []
        for path in fields or []:
            parts += [t for t in get_text_at_path(dict(value), path) if t.strip()]
        text = "\n".join(parts) if parts else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return text if text.strip() and text != "{}" else "(empty)"

    async def _put(self, op: PutOp) -> None:
        ns = tuple(op.namespace)
        scope, _ = namespace_scope(ns)
        memory_id = _memory_id(ns, op.key)
        if op.value is None:
            try:
                await self._engine.delete(memory_id, scope)
            except MemoryNotFoundError:
                pass  # deleting what is not there is a no-op, as in LangGraph's stores
            return
        if not isinstance(op.value, Mapping):
            raise TypeError(f"put value for key {op.key!r} must be a dict, got {type(op.value).__name__}")
        bad = [k for k in op.value if not isinstance(k, str) or not k]
        if bad:
            raise ValueError(f"put value for key {op.key!r}: field names must be non-empty strings, got {bad!r}")
        now = datetime.now(UTC).isoformat()
        old = await self._engine.get(memory_id, scope)
        created = old.get("created_at") if old is not None else None
        metadata: dict[str, Any] = {
            _NS_KEY: list(ns),
            _PREFIXES_KEY: [_joined(ns[:n]) for n in range(1, len(ns) + 1)],
            _KEY_KEY: op.key,
            **{VALUE_PREFIX + k: v for k, v in op.value.items()},
        }
        await self._engine.import_one({
            "id": memory_id, "memory": self._text(op.value, op.index), **scope, "metadata": metadata,
            "created_at": created or now, "updated_at": now,
        })

    async def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        scope, _ = namespace_scope(prefix, what="namespace_prefix")
        if op.limit < 1 or op.offset < 0:
            raise ValueError(f"search limit must be >= 1 and offset >= 0, got limit={op.limit}, offset={op.offset}")
        filters = {_PREFIXES_KEY: {"contains": _joined(prefix)}, **_map_filter(op.filter)}
        want = op.offset + op.limit
        if op.query:
            found = await self._engine.search(op.query, scope, limit=want, filters=filters)
        else:
            found = await self._engine.get_all(scope, limit=want, filters=filters)
        return [_search_item(m) for m in found if _is_store_item(m)][op.offset:want]

    async def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        seen: set[tuple[str, ...]] = set()
        for memory in await self._engine.export_all():
            if not _is_store_item(memory):
                continue
            ns = tuple(memory["metadata"][_NS_KEY])
            if op.match_conditions and not all(_matches(ns, c) for c in op.match_conditions):
                continue
            seen.add(ns[: op.max_depth] if op.max_depth is not None else ns)
        return sorted(seen)[op.offset: op.offset + op.limit]
