"""Shared helpers of the reliability tests (issue 7): engines on the fast offline stack, store and
history snapshots, and the store/history consistency check every group relies on.

The stack: ``hash`` embedder, ``flat`` vector store (in memory, or persisted under a directory),
SQLite history (in memory, or a file beside the vectors), no LLM unless one is passed in.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mem7_core import AsyncMemory
from mem7_core.models import Scope
from mem7_core.providers.tasks import AGENT_FACT_EXTRACTION_MARKER, FACT_EXTRACTION_MARKER, UPDATE_MEMORY_MARKER
from mem7_core.testing.fakes import rule_based_reply

ENV_VARS = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG", "CO_API_KEY", "COHERE_API_KEY",
    "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "GROQ_API_KEY",
)


def config(data_dir: str | Path | None = None, **over: Any) -> dict[str, Any]:
    """The offline stack; with ``data_dir``, vectors and history persist under it."""
    if data_dir is None:
        vectors: dict[str, Any] = {"provider": "flat"}
        history: dict[str, Any] = {"provider": "sqlite", "config": {"path": ":memory:"}}
    else:
        data = Path(data_dir)
        vectors = {"provider": "flat", "config": {"path": str(data / "vectors")}}
        history = {"provider": "sqlite", "config": {"path": str(data / "history.db")}}
    return {"llm": None, "embedder": {"provider": "hash"}, "vector_store": vectors, "history_store": history, **over}


def engine(data_dir: str | Path | None = None, *, llm: Any = None, vector_store: Any = None, **over: Any) -> AsyncMemory:
    return AsyncMemory(config(data_dir, **over), llm=llm, vector_store=vector_store)


# ------------------------------------------------------------------------------ LLM scripts
def system_of(messages: Sequence[dict[str, Any]]) -> str:
    for m in messages:
        if m.get("role") == "system" and isinstance(m.get("content"), str):
            return m["content"]
    return ""


def user_of(messages: Sequence[dict[str, Any]]) -> str:
    return "\n".join(m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str))


def router(*, facts: Any = None, decisions: Any = None):
    """A ScriptedLLM script answering extraction with ``facts`` and the update decision with
    ``decisions`` (a reply, or a function of the messages); the rule-based model answers the rest."""

    def pick(answer: Any, messages: Sequence[dict[str, Any]]) -> Any:
        return answer(messages) if callable(answer) else answer

    def reply(messages: Sequence[dict[str, Any]]) -> Any:
        system = system_of(messages)
        if facts is not None and system.startswith((FACT_EXTRACTION_MARKER, AGENT_FACT_EXTRACTION_MARKER)):
            return pick(facts, messages)
        if decisions is not None and system.startswith(UPDATE_MEMORY_MARKER):
            return pick(decisions, messages)
        return rule_based_reply(messages)

    return reply


# ------------------------------------------------------------------------------ snapshots
async def records(mem: AsyncMemory) -> dict[str, dict[str, Any]]:
    """Every stored memory (all scopes): id -> payload."""
    return {r.id: r.payload for r in await mem.vector_store.list(scope=Scope())}


async def snapshot(mem: AsyncMemory) -> list[tuple[str, str, tuple[float, ...]]]:
    """Every record with payload and (rounded) vector, for before/after equality."""
    listed = await mem.vector_store.list(scope=Scope())
    full = await mem.vector_store.get([r.id for r in listed])
    return sorted(
        (r.id, json.dumps(r.payload, sort_keys=True), tuple(round(float(x), 5) for x in r.vector or ()))
        for r in full
    )


_ROWS = "SELECT id, memory_id, event, old_memory, new_memory FROM history ORDER BY rowid"


async def history_rows(mem: AsyncMemory) -> list[tuple[Any, ...]]:
    """Every history row (id, memory_id, event, old, new) in insertion order."""
    store = getattr(mem.vector_store, "_db", None)
    if mem._atomic and store is not None:  # history in the flat store's own database
        if not store.file.exists():
            return []
        with sqlite3.connect(str(store.file)) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'history'").fetchone() is None:
                return []  # created, schema not yet written when its process died
            return conn.execute(_ROWS).fetchall()
    return await mem.history_store._call(lambda c: c.execute(_ROWS).fetchall())  # type: ignore[attr-defined]


def consistency_problems(stored: dict[str, dict[str, Any]], rows: Sequence[tuple[Any, ...]]) -> list[str]:
    """What is wrong between a store's records and the history rows (empty when consistent).

    - every stored id has an ADD event, and its latest event is not a DELETE;
    - the latest event's new text is the stored text;
    - every memory whose events have an ADD and no DELETE is stored;
    - a memory's events are lives, each an ADD, UPDATEs, then maybe a DELETE: no second ADD
      without a DELETE before it, nothing but an ADD after a DELETE (a memory restored by
      ``import_memories`` after its deletion starts a new life under the same id).
    """
    problems: list[str] = []
    by_memory: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_memory.setdefault(row[1], []).append(row)
    for mem_id, payload in stored.items():
        events = by_memory.get(mem_id, [])
        kinds = [e[2] for e in events]
        if "ADD" not in kinds:
            problems.append(f"stored memory {mem_id} has no ADD event (events: {kinds})")
            continue
        if kinds[-1] == "DELETE":
            problems.append(f"stored memory {mem_id} is DELETEd in history")
        elif events[-1][4] != payload.get("data"):
            problems.append(f"memory {mem_id}: history says {events[-1][4]!r}, store says {payload.get('data')!r}")
    for mem_id, events in by_memory.items():
        kinds = [e[2] for e in events]
        for before, kind in itertools.pairwise(kinds):
            if kind == "ADD" and before != "DELETE":
                problems.append(f"memory {mem_id} has a second ADD event without a DELETE before it: {kinds}")
            elif before == "DELETE" and kind != "ADD":
                problems.append(f"memory {mem_id} has events after its DELETE: {kinds}")
        if "ADD" in kinds and kinds[-1] != "DELETE" and mem_id not in stored:
            problems.append(f"memory {mem_id} was ADDed and never DELETEd but is not stored ({kinds})")
    return problems


async def assert_consistent(mem: AsyncMemory) -> None:
    problems = consistency_problems(await records(mem), await history_rows(mem))
    assert not problems, "store and history disagree:\n" + "\n".join(problems[:20])
