"""Group commit (engine/commit_queue.py): the adds of one scope that wait for its lock while another
commits are committed together, each reconciled against the store and its round's earlier writes.

Each test holds the first commit at a gate (the history write, or the flat store's transaction with
a data dir), queues adds behind it, then opens the gate: the adds queued meanwhile form one round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mem7_core.engine.memory import AsyncMemory
from mem7_core.errors import ProviderError
from mem7_core.history.sqlite import SQLiteHistoryStore
from mem7_core.models import HistoryEvent, Scope
from mem7_core.providers import WriteBatch
from mem7_core.testing.fakes import ScriptedLLM
from mem7_flat import FlatVectorStore

from ._kit import assert_consistent, config, records, router, user_of


class Gate:
    """Counts commits (events per commit) and holds the next one until opened."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self.armed: asyncio.Event | None = None
        self.reached = asyncio.Event()
        self.poison: str | None = None

    def arm(self) -> asyncio.Event:
        self.armed, self.reached = asyncio.Event(), asyncio.Event()
        return self.armed

    async def passing(self, events: Sequence[HistoryEvent]) -> None:
        texts = [e.new_memory or "" for e in events]
        self.commits.append(texts)
        gate, self.armed = self.armed, None
        if gate is not None:
            self.reached.set()
            await gate.wait()
        if self.poison is not None and any(self.poison in t for t in texts):
            raise ProviderError("history_store:gated", "faulty write (test)")


class GatedHistory(SQLiteHistoryStore):
    def __init__(self, gate: Gate) -> None:
        super().__init__(SQLiteHistoryStore.Config(path=":memory:"))
        self.gate = gate

    async def add_events(self, events: Sequence[HistoryEvent]) -> None:
        await self.gate.passing(events)
        await super().add_events(events)


class GatedFlat(FlatVectorStore):
    """The flat store with a path: history and vectors in one transaction (the atomic path)."""

    gate: Gate

    async def commit(self, batch: WriteBatch) -> None:
        await self.gate.passing(batch.events)
        await super().commit(batch)


def the_facts(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Extraction: the user's text is the fact."""
    return {"facts": [user_of(messages).removeprefix("user: ").strip()]}


def all_added(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    facts = [line[2:] for line in user_of(messages).splitlines() if line.startswith("- ")]
    return {"memory": [{"id": str(100 + i), "text": f, "event": "ADD"} for i, f in enumerate(facts)]}


@pytest.fixture(params=["compensating", "atomic"])
async def setup(request: pytest.FixtureRequest, tmp_path: Path):
    """(make engine(llm=the default script) -> AsyncMemory, gate): history in its own SQLite, or in
    the flat store's file (the atomic path). Engines are closed after the test."""
    gate = Gate()
    engines: list[AsyncMemory] = []

    def make(llm: Any = None) -> AsyncMemory:
        llm = llm or ScriptedLLM(router(facts=the_facts, decisions=all_added))
        if request.param == "compensating":
            mem = AsyncMemory(config(), llm=llm, history_store=GatedHistory(gate))
        else:
            cfg = config(tmp_path, history_store={"provider": "auto"})
            store = GatedFlat(FlatVectorStore.Config(**cfg["vector_store"]["config"]))
            store.gate = gate
            mem = AsyncMemory(cfg, llm=llm, vector_store=store)
            assert mem._atomic
        engines.append(mem)
        return mem

    yield make, gate
    for mem in engines:
        await mem.aclose()


async def _queued(mem: AsyncMemory, n: int) -> None:
    """Until ``n`` commit steps wait in the queue behind the held one (at most ~5 s)."""
    commits = mem._write_path.commits
    for _ in range(500):
        if sum(len(q) for q in commits._queues.values()) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{n} adds never queued: {[len(q) for q in commits._queues.values()]}")


async def _hold_first_commit(mem: AsyncMemory, gate: Gate) -> tuple[asyncio.Event, asyncio.Task[Any]]:
    opened = gate.arm()
    first = asyncio.create_task(mem.add("Seed note kept first", user_id="u", infer=False))
    await asyncio.wait_for(gate.reached.wait(), 5)
    return opened, first


async def test_adds_queued_behind_a_commit_are_committed_together(setup) -> None:
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    texts = [f"Owns a bicycle numbered {i:03d}" for i in range(10)]
    adds = [asyncio.create_task(mem.add(t, user_id="u")) for t in texts]
    await _queued(mem, len(texts))
    opened.set()
    await first
    results = await asyncio.gather(*adds)
    # one commit for the held add, one for the ten queued behind it (one by one without grouping)
    assert [len(c) for c in gate.commits] == [1, 10]
    for text, result in zip(texts, results):
        assert [(r["event"], r["memory"]) for r in result["results"]] == [("ADD", text)]
    stored = sorted(p["data"] for p in (await records(mem)).values())
    assert stored == sorted([*texts, "Seed note kept first"])
    await assert_consistent(mem)


async def test_a_fact_two_adds_of_one_round_extract_is_stored_once(setup) -> None:
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    adds = [asyncio.create_task(mem.add("Drinks green tea every morning", user_id="u")) for _ in range(2)]
    await _queued(mem, 2)
    opened.set()
    await first
    results = await asyncio.gather(*adds)
    assert [len(c) for c in gate.commits] == [1, 1]  # one round, and only one of the two wrote
    assert sorted(len(r["results"]) for r in results) == [0, 1]
    stored = [p["data"] for p in (await records(mem)).values()]
    assert stored.count("Drinks green tea every morning") == 1
    await assert_consistent(mem)


async def test_two_updates_of_one_memory_in_a_round_apply_as_if_one_after_the_other(setup) -> None:
    make, gate = setup

    def update_zero(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        facts = [line[2:] for line in user_of(messages).splitlines() if line.startswith("- ")]
        return {"memory": [{"id": "0", "text": facts[0], "event": "UPDATE"}]}

    mem = make(ScriptedLLM(router(facts=the_facts, decisions=update_zero)))
    seeded = await mem.add("Lives in Paris with two cats", user_id="u", infer=False)
    paris = seeded["results"][0]["id"]
    opened, first = await _hold_first_commit(mem, gate)
    lyon = asyncio.create_task(mem.add("Lives in Lyon with two cats", user_id="u"))
    await _queued(mem, 1)  # Lyon's step queued before Berlin's
    berlin = asyncio.create_task(mem.add("Lives in Berlin with two cats", user_id="u"))
    await _queued(mem, 2)
    opened.set()
    await first
    lyon_r, berlin_r = await lyon, await berlin
    assert [len(c) for c in gate.commits[-2:]] == [1, 2]  # the held add; then both in one round
    # Lyon rewrote Paris; Berlin's UPDATE found its memory changed since its LLM saw it: added
    assert [(r["event"], r["id"]) for r in lyon_r["results"]] == [("UPDATE", paris)]
    assert [r["event"] for r in berlin_r["results"]] == ["ADD"]
    by_text = {p["data"]: i for i, p in (await records(mem)).items()}
    assert by_text["Lives in Lyon with two cats"] == paris
    assert "Lives in Berlin with two cats" in by_text
    assert "Lives in Paris with two cats" not in by_text
    assert [(e["event"], e["new_memory"]) for e in await mem.history(paris)] == [
        ("ADD", "Lives in Paris with two cats"),
        ("UPDATE", "Lives in Lyon with two cats"),
    ]
    await assert_consistent(mem)


async def test_one_failing_add_does_not_fail_the_others_of_its_round(setup) -> None:
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    texts = [f"Plays chess on board {i}" for i in range(4)] + ["POISON pill fact"]
    adds = [asyncio.create_task(mem.add(t, user_id="u")) for t in texts]
    await _queued(mem, len(texts))
    gate.poison = "POISON"
    opened.set()
    await first
    outs = await asyncio.gather(*adds, return_exceptions=True)
    assert isinstance(outs[-1], ProviderError) and "faulty write" in str(outs[-1])
    for text, out in zip(texts[:-1], outs[:-1]):
        assert not isinstance(out, BaseException), out
        assert [r["memory"] for r in out["results"]] == [text]
    # the round's one commit failed (nothing written), then each add went on its own
    assert [len(c) for c in gate.commits] == [1, 5, 1, 1, 1, 1, 1]
    stored = sorted(p["data"] for p in (await records(mem)).values())
    assert stored == sorted([*texts[:-1], "Seed note kept first"])
    await assert_consistent(mem)


@pytest.mark.parametrize("across", [False, True], ids=["queued-for-its-scope", "waiting-for-the-group"])
async def test_an_add_cancelled_while_it_waits_to_commit_writes_nothing(setup, across: bool) -> None:
    """Inferred adds of one scope queued for its lock (engine/commit_queue.py), or verbatim adds of
    three scopes waiting for the commit group being written (engine/unit_of_work.py): the one
    cancelled meanwhile writes nothing, the others are written together."""
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    texts = ["Collects blue stamps", "Collects red stamps", "Collects green stamps"]
    if across:
        adds = [asyncio.create_task(mem.add(t, user_id=f"agent-{i}", infer=False)) for i, t in enumerate(texts)]
        await _group_waiting(mem, 3)
    else:
        adds = [asyncio.create_task(mem.add(t, user_id="u")) for t in texts]
        await _queued(mem, 3)
    adds[1].cancel()
    opened.set()
    await first
    outs = await asyncio.gather(*adds, return_exceptions=True)
    assert isinstance(outs[1], asyncio.CancelledError)
    stored = sorted(p["data"] for p in (await records(mem)).values())
    assert stored == sorted(["Collects blue stamps", "Collects green stamps", "Seed note kept first"])
    assert [len(c) for c in gate.commits] == [1, 2]
    await assert_consistent(mem)


async def test_a_round_is_written_whole_when_the_add_leading_it_is_cancelled(setup) -> None:
    """The add holding the lock is cancelled while its round (itself and two others) is being
    written: the write goes on for everyone in it; the cancelled caller gets CancelledError, its
    write landed. (A round of one is cancelled as any single write is.)"""
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    waiting = [asyncio.create_task(mem.add(f"Speaks language number {i}", user_id="u")) for i in range(3)]
    await _queued(mem, 3)
    second = gate.arm()  # the next commit, the round of the three, is held too
    opened.set()
    await first
    await asyncio.wait_for(gate.reached.wait(), 5)
    leader = next(t for t in waiting if not t.done())  # the first queued leads the round
    leader.cancel()
    await asyncio.sleep(0.01)
    assert not leader.done()  # held until the round is written
    second.set()
    outs = await asyncio.gather(*waiting, return_exceptions=True)
    assert sum(isinstance(o, asyncio.CancelledError) for o in outs) == 1
    stored = sorted(p["data"] for p in (await records(mem)).values())
    assert stored == sorted(["Seed note kept first", *(f"Speaks language number {i}" for i in range(3))])
    assert [len(c) for c in gate.commits] == [1, 3]
    await mem.add("Written after it all", user_id="u", infer=False)  # the scope's lock is free again
    assert len(await mem.vector_store.list(scope=Scope(user_id="u"))) == 5
    assert len(mem._write_path.commits) == 0  # no queue left behind
    await assert_consistent(mem)


# ---------------------------------------------------------------------- across scopes (unit_of_work.py)
async def _group_waiting(mem: AsyncMemory, n: int) -> None:
    """Until ``n`` commits of other scopes wait for the one being written (at most ~5 s)."""
    uow = mem._write_path.uow
    for _ in range(500):
        if uow._group is not None and len(uow._group.waiting) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{n} commits never waited")


async def test_commits_of_other_scopes_that_come_meanwhile_are_written_together(setup) -> None:
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)  # user u's commit, held
    texts = [f"Keeps a kayak numbered {i}" for i in range(6)]
    adds = [asyncio.create_task(mem.add(t, user_id=f"agent-{i}")) for i, t in enumerate(texts)]  # six scopes
    await _group_waiting(mem, len(texts))
    opened.set()
    await first
    results = await asyncio.gather(*adds)
    # one commit for the held add, one for the six that came meanwhile (six one by one without it)
    assert [len(c) for c in gate.commits] == [1, 6]
    for i, (text, result) in enumerate(zip(texts, results)):
        assert [(r["event"], r["memory"]) for r in result["results"]] == [("ADD", text)]
        assert [m["memory"] for m in (await mem.get_all(user_id=f"agent-{i}"))["results"]] == [text]
    await assert_consistent(mem)
    await mem.add("Written after it all", user_id="agent-0", infer=False)  # nothing left waiting
    assert len(gate.commits) == 3


async def test_one_failing_commit_does_not_fail_the_other_scopes_written_with_it(setup) -> None:
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    texts = [f"Repairs clock number {i}" for i in range(3)] + ["POISON in this one"]
    adds = [asyncio.create_task(mem.add(t, user_id=f"agent-{i}", infer=False)) for i, t in enumerate(texts)]
    await _group_waiting(mem, len(texts))
    gate.poison = "POISON"
    opened.set()
    await first
    outs = await asyncio.gather(*adds, return_exceptions=True)
    assert isinstance(outs[-1], ProviderError) and "faulty write" in str(outs[-1])
    assert all(not isinstance(o, BaseException) for o in outs[:-1]), outs
    # the group's one commit failed (nothing written), then each went alone
    assert [len(c) for c in gate.commits] == [1, 4, 1, 1, 1, 1]
    stored = sorted(p["data"] for p in (await records(mem)).values())
    assert stored == sorted([*texts[:-1], "Seed note kept first"])
    await assert_consistent(mem)


async def test_a_group_is_written_whole_when_a_caller_in_it_is_cancelled(setup) -> None:
    """Cancelled while its group is being written: the write goes on for everyone in it; the
    cancelled caller gets CancelledError once it is written, and its memory is stored."""
    make, gate = setup
    mem = make()
    opened, first = await _hold_first_commit(mem, gate)
    texts = [f"Sings in choir number {i}" for i in range(3)]
    adds = [asyncio.create_task(mem.add(t, user_id=f"agent-{i}", infer=False)) for i, t in enumerate(texts)]
    await _group_waiting(mem, 3)
    second = gate.arm()  # the group of the three is held too
    opened.set()
    await first
    await asyncio.wait_for(gate.reached.wait(), 5)
    adds[0].cancel()
    await asyncio.sleep(0.01)
    assert not adds[0].done()  # held until the group is written
    second.set()
    outs = await asyncio.gather(*adds, return_exceptions=True)
    assert isinstance(outs[0], asyncio.CancelledError)
    stored = sorted(p["data"] for p in (await records(mem)).values())
    assert stored == sorted([*texts, "Seed note kept first"])
    assert [len(c) for c in gate.commits] == [1, 3]
    await assert_consistent(mem)


async def test_two_commits_of_one_record_under_two_scope_keys_are_not_written_as_one(setup) -> None:
    """``update(id)`` holds the lock of the memory's own scope (user u, agent a); ``delete_all(user_id=u)``
    the lock of u alone, and reaches the same memory. Both read it before either writes. Written in
    one group, the delete's check against what it read would pass within the group's single
    transaction and its history would name the text before the update; kept apart, the delete finds
    the memory changed, reads it again, and its DELETE event names the updated text."""
    make, gate = setup
    mem = make()
    if not mem._atomic:
        pytest.skip("the compensating path checks no expected record state (nothing to conflict)")
    added = await mem.add("Parks the van on level two", user_id="u", agent_id="a", infer=False)
    mem_id = added["results"][0]["id"]
    opened = gate.arm()  # a third scope's commit, held
    first = asyncio.create_task(mem.add("Seed note kept first", user_id="someone-else", infer=False))
    await asyncio.wait_for(gate.reached.wait(), 5)
    update = asyncio.create_task(mem.update(mem_id, "Parks the van on level three"))
    await _group_waiting(mem, 1)
    wipe = asyncio.create_task(mem.delete_all(user_id="u"))
    await _group_waiting(mem, 2)
    opened.set()
    await first
    await update
    assert (await wipe)["message"] == "Deleted 1 memory"
    assert await mem.get(mem_id) is None
    events = [(e["event"], e["old_memory"], e["new_memory"]) for e in await mem.history(mem_id)]
    assert events == [
        ("ADD", None, "Parks the van on level two"),
        ("UPDATE", "Parks the van on level two", "Parks the van on level three"),
        ("DELETE", "Parks the van on level three", None),
    ]
    await assert_consistent(mem)
