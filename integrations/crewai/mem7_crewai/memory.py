"""``Mem7Memory``: a CrewAI ``Memory`` whose memories live in a mem7 scope.

CrewAI 1.x has one memory class, ``crewai.memory.Memory``; a crew or an agent takes any instance of
it (``Crew(memory=...)``, ``Agent(memory=...)``) and calls a few of its methods:

- before a task, ``recall(task description, limit=5)``; the matches are appended to the task
  prompt as "Relevant memories";
- after a task, ``extract_memories(task and result)`` then ``remember_many(...)`` in the
  background; ``drain_writes()`` waits for those saves (``recall`` first, and the crew at the end of
  ``kickoff``);
- the "Search memory" / "Save to memory" tools an agent with memory gets call ``recall`` and
  ``remember`` / ``remember_many``;
- ``crew.reset_memories("memory")`` calls ``reset_all()``.

``Mem7Memory`` overrides those (and ``forget``, ``update``, ``list_records``) to call a mem7
``Memory`` in one scope (``user_id`` / ``agent_id`` / ``run_id``): mem7 extracts, deduplicates and
reconciles the facts at ``add`` time, so ``extract_memories`` hands the text through unchanged, and
CrewAI's own LLM analysis, embedder and LanceDB storage are never built.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from crewai.memory.types import MemoryMatch, MemoryRecord
from crewai.memory.unified_memory import Memory as CrewMemory
from pydantic import ConfigDict, PrivateAttr

from mem7_core import Memory, MemoryItem
from mem7_core.frameworks import check_scope, check_sync_memory, scope_ids
from mem7_core.models import RESERVED_PAYLOAD_KEYS

__all__ = ["Mem7Memory"]

_WHERE = "Mem7Memory"
_PAGE = 200  # memories read per get_all call (forget's batches, the first try of _all)
# Metadata keys this class writes and reads back into CrewAI's record fields.
_CATEGORIES, _IMPORTANCE, _SOURCE, _PRIVATE, _ROLE = "categories", "importance", "source", "private", "agent_role"
_OWN_KEYS = frozenset({_CATEGORIES, _IMPORTANCE, _SOURCE, _PRIVATE})


def _check_scope_path(method: str, name: str, value: str | None) -> None:
    """CrewAI's hierarchical scope paths have no mem7 counterpart: only the root is accepted."""
    if value is not None and value.strip() not in ("", "/"):
        raise ValueError(
            f"{_WHERE}.{method}(): {name}={value!r} is a CrewAI scope path; mem7 scopes memories by "
            "user_id / agent_id / run_id instead. Leave it unset, and make one Mem7Memory per scope "
            "(e.g. Mem7Memory(memory, user_id='alice'))"
        )


def _instant(value: str | None) -> datetime:
    if value:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
    return datetime.now()


class Mem7Memory(CrewMemory):
    """A ``crewai.memory.Memory`` backed by a mem7 ``Memory`` and one scope.

    :param memory: a mem7 ``Memory`` (sync: CrewAI calls its memory synchronously, from its own
        threads). The caller owns it: :meth:`close` leaves it open.
    :param user_id: the scope the crew's memories are stored in and searched from (at least one of
        ``user_id``, ``agent_id``, ``run_id``).
    :param infer: ``True``: mem7's LLM extracts facts from what CrewAI saves and reconciles them with
        what is stored (a fact already known is not stored twice); ``False``: each text is stored
        verbatim. Without an LLM configured, mem7 stores verbatim either way.
    :param threshold: leave out memories scoring below it in ``recall`` (mem7's ``search``).
    :param metadata: stored with every memory this instance saves.
    :param read_only: CrewAI's flag: nothing is saved (``remember`` returns ``None``), and agents
        get only the "Search memory" tool. ``forget`` / ``reset`` still delete, as in CrewAI.

    CrewAI's ``scope=`` / ``root_scope=`` paths are not mapped (a path other than ``/`` is a
    ``ValueError``); CrewAI's ``categories``, ``importance``, ``source`` and ``private`` are stored as
    mem7 metadata and honoured by ``recall`` and ``forget``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    infer: bool = True
    threshold: float | None = None
    metadata: dict[str, Any] = {}  # noqa: RUF012 (pydantic copies field defaults)

    _engine: Memory = PrivateAttr()

    def __init__(self, memory: Memory, /, **data: Any) -> None:
        check_sync_memory(_WHERE, memory, why="CrewAI calls its memory synchronously from its own threads")
        check_scope(_WHERE, data.get("user_id"), data.get("agent_id"), data.get("run_id"))
        for name in ("root_scope", "storage", "embedder", "llm"):
            if name in data:
                raise ValueError(
                    f"{_WHERE}: {name}= is CrewAI's own memory pipeline, which mem7 replaces; leave it "
                    "out (configure the LLM, embedder and store in the mem7 Memory's config)"
                )
        reserved = sorted(set(data.get("metadata") or {}) & RESERVED_PAYLOAD_KEYS)
        if reserved:
            raise ValueError(
                f"{_WHERE}: metadata key(s) {reserved} are reserved by mem7; rename them "
                "(scope ids are the user_id / agent_id / run_id arguments)"
            )
        super().__init__(**data)
        self._engine = memory

    def model_post_init(self, context: Any, /) -> None:
        """Build nothing of CrewAI's pipeline (its LLM, embedder and LanceDB store are not used)."""

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Mem7Memory:
        """A copy (CrewAI copies agents and crews) shares the mem7 engine and the save queue (so
        ``drain_writes`` on either waits for both); only the metadata is copied."""
        return self.model_copy(update={"metadata": copy.deepcopy(self.metadata, memo)})

    # ------------------------------------------------------------------------------ the scope
    @property
    def engine(self) -> Memory:
        """The mem7 ``Memory`` this instance reads and writes."""
        return self._engine

    @property
    def scope_ids(self) -> dict[str, str]:
        """The mem7 scope: ``{"user_id": ...}`` and/or ``agent_id`` / ``run_id``."""
        return scope_ids(self.user_id, self.agent_id, self.run_id)

    def _record(self, item: MemoryItem) -> MemoryRecord:
        meta = dict(item.get("metadata") or {})
        categories = meta.get(_CATEGORIES)
        importance = meta.get(_IMPORTANCE)
        return MemoryRecord(
            id=item["id"],
            content=item["memory"],
            categories=[str(c) for c in categories] if isinstance(categories, list) else [],
            metadata={k: v for k, v in meta.items() if k not in _OWN_KEYS},
            importance=importance if isinstance(importance, (int, float)) and 0 <= importance <= 1
            else self.default_importance,
            created_at=_instant(item.get("created_at")),
            last_accessed=_instant(item.get("last_accessed_at") or item.get("updated_at") or item.get("created_at")),
            source=meta.get(_SOURCE) if isinstance(meta.get(_SOURCE), str) else None,
            private=meta.get(_PRIVATE) is True,
        )

    def _add(
        self,
        contents: list[str],
        categories: list[str] | None,
        metadata: Mapping[str, Any] | None,
        importance: float | None,
        source: str | None,
        private: bool,
        agent_role: str | None,
    ) -> list[MemoryRecord]:
        if not contents or not all(isinstance(c, str) and c.strip() for c in contents):
            raise ValueError(f"{_WHERE}: contents must be non-empty strings, got {contents!r}")
        meta: dict[str, Any] = {**self.metadata, **(metadata or {})}
        if categories:
            meta[_CATEGORIES] = list(categories)
        if importance is not None:
            meta[_IMPORTANCE] = importance
        if source is not None:
            meta[_SOURCE] = source
        if private:
            meta[_PRIVATE] = True
        if agent_role:
            meta[_ROLE] = agent_role
        messages = [{"role": "user", "content": c} for c in contents]
        result = self._engine.add(messages, **self.scope_ids, infer=self.infer, metadata=meta or None)
        records = []
        for action in result["results"]:
            if action["event"] in ("ADD", "UPDATE"):
                item = self._engine.get(action["id"], **self.scope_ids)
                if item is not None:
                    records.append(self._record(item))
        return records

    # ------------------------------------------------------------------------------ saving
    def extract_memories(self, content: str) -> list[str]:
        """``[content]``: mem7 extracts the facts itself when CrewAI saves them (``infer=True``)."""
        return [content] if content.strip() else []

    def remember(
        self,
        content: str,
        scope: str | None = None,
        categories: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
        source: str | None = None,
        private: bool = False,
        agent_role: str | None = None,
        root_scope: str | None = None,
    ) -> MemoryRecord | None:
        """Add ``content`` to mem7 now; the first memory it added or updated (``None`` when read-only).

        When mem7 finds nothing new (the fact is already stored), the record is the stored memory
        closest to ``content``.
        """
        _check_scope_path("remember", "scope", scope)
        _check_scope_path("remember", "root_scope", root_scope)
        if self.read_only:
            return None
        future = self._submit_save(self._add, [content], categories, metadata, importance, source, private, agent_role)
        records: list[MemoryRecord] = future.result()
        if records:
            return records[0]
        found = self.recall(content, limit=1, include_private=True)
        return found[0].record if found else None

    def remember_many(
        self,
        contents: list[str],
        scope: str | None = None,
        categories: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
        source: str | None = None,
        private: bool = False,
        agent_role: str | None = None,
        root_scope: str | None = None,
    ) -> list[MemoryRecord]:
        """Add ``contents`` to mem7 in one ``add`` call, in the background as CrewAI does (returns
        ``[]``); ``recall`` and ``drain_writes`` wait for it. A failure is reported as CrewAI's
        ``MemorySaveFailedEvent``; as in CrewAI, it does not fail the task."""
        _check_scope_path("remember_many", "scope", scope)
        _check_scope_path("remember_many", "root_scope", root_scope)
        if not contents or self.read_only:
            return []
        self._submit_save(self._add, list(contents), categories, metadata, importance, source, private, agent_role)
        return []

    # ------------------------------------------------------------------------------ reading
    def recall(
        self,
        query: str,
        scope: str | None = None,
        categories: list[str] | None = None,
        limit: int = 10,
        depth: Literal["shallow", "deep"] = "deep",
        source: str | None = None,
        include_private: bool = False,
    ) -> list[MemoryMatch]:
        """mem7's ``search`` in this scope, best first (``depth`` is not used: mem7's hybrid
        retrieval is the same either way). A private memory is returned only to its ``source``, or
        with ``include_private=True``."""
        _check_scope_path("recall", "scope", scope)
        self.drain_writes()
        clauses: list[dict[str, Any]] = []
        if categories:
            clauses.append({"OR": [{_CATEGORIES: {"contains": c}} for c in categories]})
        if not include_private:
            public: dict[str, Any] = {_PRIVATE: {"ne": True}}
            clauses.append({"OR": [public, {_SOURCE: source}]} if source is not None else public)
        filters = {"AND": clauses} if clauses else None
        found = self._engine.search(query, **self.scope_ids, limit=limit, threshold=self.threshold, filters=filters)
        return [
            MemoryMatch(record=self._record(item), score=float(item.get("score", 0.0)), match_reasons=["mem7"])
            for item in found["results"]
        ]

    def list_records(self, scope: str | None = None, limit: int = 200, offset: int = 0) -> list[MemoryRecord]:
        """The scope's memories, newest first."""
        _check_scope_path("list_records", "scope", scope)
        self.drain_writes()
        items = sorted(self._all(None, offset + limit), key=lambda i: i.get("created_at") or "", reverse=True)
        return [self._record(item) for item in items[offset:offset + limit]]

    # ------------------------------------------------------------------------------ changing
    def update(
        self,
        record_id: str,
        content: str | None = None,
        scope: str | None = None,
        categories: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
    ) -> MemoryRecord:
        """mem7's ``update`` of one memory of this scope (``ValueError`` when it is not there)."""
        _check_scope_path("update", "scope", scope)
        item = self._engine.get(record_id, **self.scope_ids)
        if item is None:
            raise ValueError(f"Record not found: {record_id} (in {self.scope_ids})")
        if self.read_only:
            return self._record(item)
        meta: dict[str, Any] | None = None
        if metadata is not None or categories is not None or importance is not None:
            meta = dict(item.get("metadata") or {})
            if metadata is not None:
                meta = {**{k: v for k, v in meta.items() if k in _OWN_KEYS}, **metadata}
            if categories is not None:
                meta[_CATEGORIES] = list(categories)
            if importance is not None:
                meta[_IMPORTANCE] = importance
        text = content if content is not None else item["memory"]  # mem7's update always takes the text
        self._engine.update(record_id, text, metadata=meta, **self.scope_ids)
        updated = self._engine.get(record_id, **self.scope_ids)
        if updated is None:
            raise ValueError(f"Record not found: {record_id} (deleted while it was updated)")
        return self._record(updated)

    def forget(
        self,
        scope: str | None = None,
        categories: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
        record_ids: list[str] | None = None,
    ) -> int:
        """Delete this scope's memories matching every criterion given (all of them when none is);
        returns how many were deleted. Ids of other scopes are not touched."""
        _check_scope_path("forget", "scope", scope)
        self.drain_writes()
        if record_ids is not None:
            ids = [i for i in dict.fromkeys(record_ids) if self._engine.get(i, **self.scope_ids) is not None]
            if categories is not None or older_than is not None or metadata_filter is not None:
                matching = {item["id"] for item in self._all(self._filters(categories, older_than, metadata_filter))}
                ids = [i for i in ids if i in matching]
            for memory_id in ids:
                self._engine.delete(memory_id, **self.scope_ids)
            return len(ids)
        deleted = 0
        filters = self._filters(categories, older_than, metadata_filter)
        while batch := self._engine.get_all(**self.scope_ids, filters=filters, limit=_PAGE)["results"]:
            for item in batch:
                self._engine.delete(item["id"], **self.scope_ids)
            deleted += len(batch)
        return deleted

    @staticmethod
    def _filters(
        categories: list[str] | None, older_than: datetime | None, metadata_filter: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        clauses: list[Mapping[str, Any]] = []
        if categories:
            clauses.append({"OR": [{_CATEGORIES: {"contains": c}} for c in categories]})
        if older_than is not None:
            clauses.append({"created_at": {"lt": older_than}})
        if metadata_filter:
            clauses.append(metadata_filter)
        return {"AND": clauses} if clauses else None

    def _all(self, filters: Mapping[str, Any] | None, at_least: int = _PAGE) -> list[MemoryItem]:
        """Every memory of the scope passing ``filters`` (``get_all`` has no offset: asked for more
        until fewer come back)."""
        want = max(at_least, _PAGE)
        while True:
            items = self._engine.get_all(**self.scope_ids, filters=filters, limit=want)["results"]
            if len(items) < want:
                return items
            want *= 4

    def reset(self, scope: str | None = None) -> None:
        """Delete every memory of this scope (mem7's ``delete_all``); other scopes keep theirs."""
        _check_scope_path("reset", "scope", scope)
        with self._reset_lock:
            self.drain_writes()
            self._engine.delete_all(**self.scope_ids)

    def reset_all(self) -> None:
        """What ``crew.reset_memories("memory")`` calls: the same as :meth:`reset`. The backing
        store of this instance is its mem7 scope; other users' memories are never wiped."""
        self.reset()

    # ------------------------------------------------------------------------------ not mapped
    def _no_paths(self, method: str) -> Any:
        raise NotImplementedError(
            f"{_WHERE}.{method}(): CrewAI scope paths are not mapped to mem7 (it scopes memories by "
            "user_id / agent_id / run_id); use list_records(), or the mem7 engine's get_all()"
        )

    def list_scopes(self, path: str | None = None) -> list[str]:
        return self._no_paths("list_scopes")  # type: ignore[no-any-return]

    def info(self, path: str | None = None) -> Any:
        return self._no_paths("info")

    def tree(self, path: str | None = None, max_depth: int = 3) -> str:
        return self._no_paths("tree")  # type: ignore[no-any-return]

    def list_categories(self, path: str | None = None) -> dict[str, int]:
        return self._no_paths("list_categories")  # type: ignore[no-any-return]

    def close(self) -> None:
        """Wait for pending saves and stop the save thread; the mem7 engine stays open (its owner
        closes it)."""
        self.drain_writes()
        self._save_pool.shutdown(wait=True)

