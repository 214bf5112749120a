"""Group 3 — concurrency: 64 concurrent adds on one scope and on 64 scopes (async), 8 threads on
the sync facade, and a mix of adds / updates / deletes: no exception, no lost memory, history
consistent with the store — with the in-memory flat store and SQLite in memory, and with each
persisted store of ``_stores.STORES`` (flat, qdrant local, upstash over its loopback emulator,
pgvector on a real PostgreSQL) beside a SQLite file, reopened afterwards. And store and history stay
consistent when a write fails half-way (fault-injecting wrappers around the vector store and the
history store), also when many adds fail at random while others succeed.

Single-failure compensation for each write step is pinned in tests/test_engine_add.py
(test_insert_failure_leaves_store_and_history_unchanged, test_failure_mid_plan_undoes_previous_writes,
test_update_failure_after_applying_is_undone).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _kit import assert_consistent, config, engine, history_rows, records
from _stores import STORES

from mem7_core import AsyncMemory, Memory
from mem7_core.errors import MemoryNotFoundError, ProviderError
from mem7_core.history.sqlite import SQLiteHistoryStore
from mem7_core.testing.fakes import ScriptedLLM
from mem7_flat import FlatVectorStore

N = 64


@pytest.fixture(params=["memory", "persisted"])
def data_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    """None: flat in memory + SQLite :memory:; a directory: persisted flat + SQLite file."""
    return None if request.param == "memory" else tmp_path / "data"


async def _reopened_check(data_dir: Path | dict[str, Any] | None, expected: int) -> None:
    """With persistence: a new engine on the same data (a directory, or a ``stack`` config) sees
    the same consistent state."""
    if data_dir is None:
        return
    again = AsyncMemory(data_dir) if isinstance(data_dir, dict) else engine(data_dir)
    async with again:
        await assert_consistent(again)
        assert len(await records(again)) == expected


@pytest.fixture(params=["flat-memory", *STORES])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any] | None:
    """``None``: flat in memory + SQLite :memory:; otherwise the config of a persisted store
    (``_stores.STORES``) with a SQLite history file, reopened by ``_reopened_check``."""
    if request.param == "flat-memory":
        return None
    history = {"provider": "sqlite", "config": {"path": str(tmp_path / "history.db")}}
    return config(vector_store=STORES[request.param](tmp_path, request), history_store=history)


def _engine(stack: dict[str, Any] | None, **kwargs: Any) -> AsyncMemory:
    return engine(None, **kwargs) if stack is None else AsyncMemory(stack, **kwargs)


# ----------------------------------------------------------------------------------- async adds
async def test_64_concurrent_adds_on_one_scope(stack):
    llm = ScriptedLLM(delay=0.005)  # rule-based model; LLM calls of all adds overlap
    async with _engine(stack, llm=llm) as mem:
        await mem.add("I keep a diary", user_id="u", infer=False)

        async def one(i: int) -> Any:
            if i % 4 == 3:  # a quarter verbatim, the rest inferred; searches interleaved
                await mem.search("locker code", user_id="u", limit=5)
                return await mem.add(f"Verbatim note number {i:04d}", user_id="u", infer=False)
            return await mem.add(f"My locker code is {i:04d}", user_id="u")

        outs = await asyncio.gather(*(one(i) for i in range(N)))
        added = [r for out in outs for r in out["results"]]
        assert [r["event"] for r in added] == ["ADD"] * N
        assert len({r["id"] for r in added}) == N
        stored = {i["id"]: i["memory"] for i in (await mem.get_all(user_id="u", limit=1000))["results"]}
        assert len(stored) == N + 1
        for r in added:
            assert stored[r["id"]] == r["memory"], "an add returned an id that is not stored"
        await assert_consistent(mem)
    await _reopened_check(stack, N + 1)


async def test_64_concurrent_adds_on_different_scopes(stack):
    def scope(i: int) -> dict[str, str]:
        out = {"user_id": f"user{i % 32}"}
        if i >= 32:
            out["agent_id"] = f"agent{i}"
        if i % 3 == 0:
            out["run_id"] = f"run{i}"
        return out

    llm = ScriptedLLM(delay=0.005)
    async with _engine(stack, llm=llm) as mem:
        outs = await asyncio.gather(*(mem.add(f"My lucky number is {i}", **scope(i)) for i in range(N)))
        assert [len(out["results"]) for out in outs] == [1] * N
        for i, out in enumerate(outs):
            got = (await mem.get_all(**scope(i), limit=1000))["results"]
            mine = [g["memory"] for g in got if g["id"] == out["results"][0]["id"]]
            assert mine == [f"My lucky number is {i}"]
            if "agent_id" in scope(i):  # exactly its own memory, nobody else's
                assert [g["memory"] for g in got] == [f"My lucky number is {i}"]
        assert len(await records(mem)) == N
        await assert_consistent(mem)
    await _reopened_check(stack, N)


async def test_concurrent_adds_updates_and_deletes_keep_history_consistent(stack):
    async with _engine(stack, llm=ScriptedLLM(delay=0.002)) as mem:
        seeded = [(await mem.add(f"Seed fact number {i}", user_id="u", infer=False))["results"][0]["id"] for i in range(32)]
        await mem.add(["other a", "other b"], user_id="v", infer=False)
        rng = random.Random(7)

        async def op(i: int) -> None:
            target = rng.choice(seeded)
            try:
                if i % 4 == 0:
                    await mem.update(target, f"Seed fact rewritten by {i}")
                elif i % 4 == 1:
                    await mem.delete(target)
                elif i % 4 == 2:
                    await mem.add(f"Fresh fact number {i}", user_id="u")
                else:
                    await mem.search("seed fact", user_id="u", limit=10)
            except MemoryNotFoundError:
                pass  # deleted by another task first: the one allowed failure

        await asyncio.gather(*(op(i) for i in range(N)), mem.delete_all(user_id="v"))
        await assert_consistent(mem)
        assert (await mem.get_all(user_id="v"))["results"] == []
        for mem_id in seeded:  # every seed is either still there or has its DELETE in history
            events = [e["event"] for e in await mem.history(mem_id)]
            assert (await mem.get(mem_id) is None) == (events[-1] == "DELETE")
        expected = len(await records(mem))
    await _reopened_check(stack, expected)


# ----------------------------------------------------------------------------------- sync facade
def test_8_threads_on_the_sync_facade(data_dir):
    with Memory(config(data_dir), llm=ScriptedLLM(delay=0.002)) as m:
        barrier = threading.Barrier(8)

        def work(t: int) -> list[str]:
            barrier.wait()
            ids = []
            for k in range(4):
                out = m.add(f"Thread {t} owns bicycle number {k}", user_id=f"t{t}")
                ids += [r["id"] for r in out["results"]]
                ids += [r["id"] for r in m.add(f"shared note {t}-{k}", user_id="shared", infer=False)["results"]]
                m.search("bicycle", user_id=f"t{t}", limit=3)
            m.update(ids[0], f"Thread {t} sold bicycle number 0")
            m.delete(ids[1])
            return ids

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))
        assert all(len(ids) == 8 for ids in results)
        for t, ids in enumerate(results):
            mine = sorted(i["memory"] for i in m.get_all(user_id=f"t{t}")["results"])
            assert mine == sorted([f"Thread {t} sold bicycle number 0"] + [f"Thread {t} owns bicycle number {k}" for k in (1, 2, 3)])
            assert m.get(ids[1]) is None
        assert len(m.get_all(user_id="shared", limit=1000)["results"]) == 8 * 4 - 8
        m._call(assert_consistent(m.engine))
    if data_dir is not None:
        asyncio.run(_reopened_check(data_dir, 8 * 4 + 8 * 4 - 8))


# ---------------------------------------------------------------------------------- faults
class FaultyStore:
    """Wraps any vector store; writes fail (before or after applying) as ``plan`` decides."""

    def __init__(self, inner: Any, plan: Any) -> None:
        self._inner = inner
        self._plan = plan  # (op) -> None | "before" | "after"
        self.failures = 0
        self.undo_failures_possible = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _do(self, op: str, call: Any) -> None:
        mode = self._plan(op)
        if mode is not None and op == "delete":
            self.undo_failures_possible += 1  # (a failing delete may be an insert's undo)
        if mode == "before":
            self.failures += 1
            raise ProviderError("vector_store:faulty", f"{op} failed before applying")
        await call()
        if mode == "after":
            self.failures += 1
            raise ProviderError("vector_store:faulty", f"{op} timed out after applying")

    async def insert(self, records: Sequence[Any]) -> None:
        await self._do("insert", lambda: self._inner.insert(records))

    async def update(self, id: str, *, vector: Any = None, payload: Any = None) -> None:
        await self._do("update", lambda: self._inner.update(id, vector=vector, payload=payload))

    async def delete(self, ids: Sequence[str]) -> None:
        await self._do("delete", lambda: self._inner.delete(ids))


class FaultyHistory(SQLiteHistoryStore):
    """SQLite history whose ``add_events`` fails as ``plan`` decides: before writing, or after the
    batch committed (a server database that timed out on the acknowledgement)."""

    plan: Any = staticmethod(lambda op: None)

    async def add_events(self, events: Sequence[Any]) -> None:
        mode = self.plan("add_events")
        if mode == "before":
            raise ProviderError("history_store:faulty", "add_events failed before writing")
        await super().add_events(events)
        if mode == "after":
            raise ProviderError("history_store:faulty", "add_events timed out after committing")


def _stores(data_dir: Path | None, store_plan: Any, history_plan: Any) -> tuple[FaultyStore, FaultyHistory]:
    flat = FlatVectorStore(FlatVectorStore.Config(path=None if data_dir is None else str(data_dir / "vectors")))
    hist = FaultyHistory(FaultyHistory.Config(path=":memory:" if data_dir is None else str(data_dir / "history.db")))
    hist.plan = history_plan
    return FaultyStore(flat, store_plan), hist


@pytest.mark.parametrize("where", ["insert", "update", "delete", "add_events"])
@pytest.mark.parametrize("mode", ["before", "after"])
async def test_write_failing_half_way_leaves_store_and_history_consistent(data_dir, where, mode):
    armed = {"on": False}

    def plan(op: str) -> str | None:
        if armed["on"] and op == where:
            armed["on"] = False
            return mode
        return None

    store, hist = _stores(data_dir, plan, plan)
    mem = AsyncMemory(config(data_dir), llm=ScriptedLLM(), vector_store=store, history_store=hist)
    try:
        seeded = [(await mem.add(f"Seed fact number {i}", user_id="u", infer=False))["results"][0]["id"] for i in range(3)]
        before_records, before_rows = await records(mem), await history_rows(mem)
        armed["on"] = True
        with pytest.raises(ProviderError, match="faulty"):
            if where == "update":
                await mem.update(seeded[0], "Seed fact rewritten")
            elif where == "delete":
                await mem.delete(seeded[1])
            else:
                await mem.add("I own a red kayak. I play chess.", user_id="u")
        assert await records(mem) == before_records, "the failed write left vectors behind"
        assert await history_rows(mem) == before_rows, "the failed write left history behind"
        await assert_consistent(mem)
    finally:
        await mem.aclose()
        await store._inner.aclose()
    await _reopened_check(data_dir, 3)


async def test_random_faults_under_64_concurrent_adds(data_dir):
    rng = random.Random(1234)

    def plan(op: str) -> str | None:
        r = rng.random()
        return "before" if r < 0.12 else "after" if r < 0.24 else None

    store, hist = _stores(data_dir, plan, plan)
    mem = AsyncMemory(config(data_dir), llm=ScriptedLLM(delay=0.002), vector_store=store, history_store=hist)
    try:
        for i in range(8):
            try:
                await mem.add(f"Seed fact number {i}", user_id="u", infer=False)
            except ProviderError:
                pass

        async def one(i: int) -> tuple[int, Any]:
            try:
                if i % 2:
                    return i, await mem.add(f"My locker code is {i:04d}", user_id="u")
                return i, await mem.add(f"Verbatim note number {i:04d}", user_id="u", infer=False)
            except ProviderError as exc:
                assert "faulty" in str(exc)
                return i, None

        outs = await asyncio.gather(*(one(i) for i in range(N)))
        ok = [(i, out) for i, out in outs if out is not None]
        failed = [i for i, out in outs if out is None]
        assert ok and failed, "the fault rate should give both outcomes"
        stored = {i["id"]: i["memory"] for i in (await mem.get_all(user_id="u", limit=1000))["results"]}
        for _, out in ok:
            for r in out["results"]:
                assert stored.get(r["id"]) == r["memory"], "a successful add lost its memory"
        # A failed add left nothing behind, unless its undo failed too (then history says so).
        texts = set(stored.values())
        leftovers = [i for i in failed if {f"My locker code is {i:04d}", f"Verbatim note number {i:04d}"} & texts]
        assert len(leftovers) <= store.undo_failures_possible
        await assert_consistent(mem)
        count = len(stored)
    finally:
        await mem.aclose()
        await store._inner.aclose()
    await _reopened_check(data_dir, count)


@pytest.mark.parametrize(
    "faults",
    [
        {"insert": "after", "delete": "before"},  # the insert landed, its undo failed
        {"delete": "after", "insert": "before"},  # the delete landed, its restore failed
        {"update": ["after", "before"]},  # the update landed, its undo failed
    ],
    ids=["insert-then-undo-fails", "delete-then-restore-fails", "update-then-undo-fails"],
)
async def test_failed_undo_keeps_history_describing_the_store(data_dir, faults):
    """Double fault: the write fails after landing and its undo fails as well. The call still
    raises, and the history keeps the events of the changes that stuck, so it agrees with the store."""
    queue = {op: list(m) if isinstance(m, list) else [m] for op, m in faults.items()}
    armed = {"on": False}

    def plan(op: str) -> str | None:
        if armed["on"] and queue.get(op):
            return queue[op].pop(0)
        return None

    store, hist = _stores(data_dir, plan, lambda op: None)
    mem = AsyncMemory(config(data_dir), llm=ScriptedLLM(), vector_store=store, history_store=hist)
    try:
        seeded = [(await mem.add(f"Seed fact number {i}", user_id="u", infer=False))["results"][0]["id"] for i in range(3)]
        armed["on"] = True
        with pytest.raises(ProviderError, match="faulty"):
            if "update" in faults:
                await mem.update(seeded[0], "Seed fact rewritten")
            elif "insert" in faults and faults["insert"] == "after":
                await mem.add("I own a red kayak", user_id="u", infer=False)
            else:
                await mem.delete(seeded[1])
        armed["on"] = False
        await assert_consistent(mem)
        count = len(await records(mem))
    finally:
        await mem.aclose()
        await store._inner.aclose()
    await _reopened_check(data_dir, count)


def test_consistency_check_accepts_a_restore_after_delete_and_nothing_looser():
    """The checker every group relies on: ADD, DELETE, ADD (a restore) is a consistent life; a
    second ADD with no DELETE between, or an UPDATE after a DELETE, is not."""
    from _kit import consistency_problems

    def rows(*kinds: str) -> list[tuple[Any, ...]]:
        return [(f"e{i}", "m", k, None, "text") for i, k in enumerate(kinds)]

    stored = {"m": {"data": "text"}}
    assert consistency_problems(stored, rows("ADD", "DELETE", "ADD")) == []
    assert consistency_problems({}, rows("ADD", "DELETE", "ADD", "DELETE")) == []
    assert consistency_problems(stored, rows("ADD", "ADD")) != []
    assert consistency_problems({}, rows("ADD", "DELETE", "UPDATE")) != []
    assert consistency_problems({}, rows("ADD", "DELETE", "ADD")) != []  # restored, but not stored
