"""The engine's stages on their own (engine/scoring.py, engine/reconcile.py, engine/unit_of_work.py)
and the map of them in docs/architecture.md."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.engine.inference import Fact, Plan
from mem7_core.engine.reconcile import changes_of, reconcile, to_read
from mem7_core.engine.unit_of_work import Changes, UnitOfWork
from mem7_core.models import Scope, VectorRecord
from mem7_core.providers import QueryContext, ScoredHit, Scorer

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    "retrieval": {"mode": "dense"},
}


class Broken(Scorer):
    name = "broken"

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        raise RuntimeError("boom")


class Halve(Scorer):
    name = "halve"

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        for h in hits:
            h.score /= 2


async def test_a_failing_scorer_is_logged_and_skipped_on_memories_as_on_relations(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One scorer stage, one error policy: the memories' path used to raise where the graph's logged."""
    async with AsyncMemory(BASE, scorers=[Broken(), Halve()], clock=lambda: T0) as mem:
        await mem.add("I like green tea", user_id="u", infer=False)
        with caplog.at_level(logging.WARNING, logger="mem7.engine"):
            found = await mem.search("green tea", user_id="u")
        (hit,) = found["results"]
        vector = await mem.embedder.embed(["green tea"], purpose="search")
        stored = await mem.vector_store.search(vector[0], scope=Scope(user_id="u"), limit=1)
        assert hit["score"] == pytest.approx(stored[0].score / 2), "the scorer after the broken one still ran"
        assert any("scorer 'broken' failed on memories" in r.getMessage() for r in caplog.records)


def _rec(mem_id: str, text: str, user: str = "u") -> VectorRecord:
    return VectorRecord(id=mem_id, vector=[1.0, 0.0], payload={"data": text, "user_id": user, "access_count": 2})


def test_reconcile_turns_a_stale_update_into_an_add_and_skips_a_stale_delete() -> None:
    scope = Scope(user_id="u")
    plan = Plan(
        adds=[], updates=[("a", "likes green tea a lot", 0)], deletes=["b"], seen={"a": "likes tea", "b": "hates tea"}
    )
    current = {"a": _rec("a", "likes coffee now"), "b": _rec("b", "hates tea", user="someone-else")}
    assert to_read(plan, {}) == ["a", "b"]
    effects = reconcile(plan, scope, current, {})
    assert effects.updates == [] and effects.adds == [("likes green tea a lot", 0)]
    assert effects.deletes == [], "b moved to another scope: not deleted"


def test_reconcile_keeps_a_concurrent_add_of_the_same_words_once() -> None:
    scope = Scope(user_id="u")
    plan = Plan(adds=[("Likes green tea", 0)])
    fresh = {"likes green tea": "m1"}
    assert to_read(plan, fresh) == ["m1"]
    effects = reconcile(plan, scope, {"m1": _rec("m1", "likes green tea")}, fresh)
    assert effects.adds == []


def test_changes_of_builds_records_events_and_results_in_order() -> None:
    scope = Scope(user_id="u")
    plan = Plan(adds=[("new fact", 0)], updates=[("a", "merged", 1)], deletes=["b"], seen={"a": "old", "b": "gone"})
    current = {"a": _rec("a", "old"), "b": _rec("b", "gone")}
    effects = reconcile(plan, scope, current, {})
    changes, results = changes_of(
        effects,
        current,
        {"new fact": [0.0, 1.0], "merged": [1.0, 1.0]},
        scope=scope,
        meta={"k": 1},
        facts=[Fact("new fact", "preference"), Fact("merged", "factual")],
        forced_type=None,
        now="2025-01-01T00:00:00+00:00",
    )
    assert [r.event for r in results] == ["ADD", "UPDATE", "DELETE"]
    assert [e.event for e in changes.events] == ["ADD", "UPDATE", "DELETE"]
    assert changes.inserts[0].payload["memory_type"] == "preference" and changes.inserts[0].payload["k"] == 1
    old, new = changes.changes[0]
    assert old is current["a"] and new.payload["data"] == "merged" and new.payload["access_count"] == 3
    assert new.payload["memory_type"] == "factual", "an UPDATE from a fact takes its category"
    assert changes.removes == [current["b"]]
    assert changes.batch().expected == {
        changes.inserts[0].id: None,
        "a": current["a"].payload,
        "b": current["b"].payload,
    }


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, bool | None]] = []

    def write_started(self, changes: Changes) -> None:
        self.seen.append(("started", len(changes.inserts), None))

    def write_committed(self, changes: Changes) -> None:
        self.seen.append(("committed", len(changes.inserts), None))

    def write_failed(self, changes: Changes, *, partial: bool) -> None:
        self.seen.append(("failed", len(changes.inserts), partial))


async def test_the_unit_of_work_publishes_commits_and_failures_to_its_listeners() -> None:
    async with AsyncMemory(BASE, clock=lambda: T0) as mem:
        uow = UnitOfWork(mem.vector_store, mem.history_store, mem.embedder, atomic=False)
        rec = Recorder()
        uow.listen(rec)
        record = VectorRecord(
            id="0193d1a0-0000-7000-8000-000000000001",
            vector=[0.1] * mem.embedder.dims,
            payload={"data": "x", "user_id": "u"},
        )
        await uow.commit(Changes(inserts=[record]))
        assert rec.seen == [("started", 1, None), ("committed", 1, None)]
        assert [r.id for r in await mem.vector_store.get([record.id])] == [record.id]

        broken = VectorRecord(
            id="0193d1a0-0000-7000-8000-000000000002", vector=None, payload={"data": "y", "user_id": "u"}
        )
        with pytest.raises(ValueError):
            await uow.commit(Changes(inserts=[broken]))
        assert rec.seen[-1] == ("failed", 1, True)
        assert await mem.vector_store.get([broken.id]) == []


def test_every_engine_module_is_on_the_architecture_map() -> None:
    """docs/architecture.md names every module of the engine (a new stage gets a line there)."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    engine = ROOT / "mem7_core" / "engine"
    missing = [p.name for p in sorted(engine.glob("*.py")) if p.name != "__init__.py" and f"engine/{p.name}" not in doc]
    assert not missing, f"add these to docs/architecture.md's module table: {missing}"
