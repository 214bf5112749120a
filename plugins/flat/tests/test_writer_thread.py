"""The persisted flat stores write on their own thread (mem7_core.providers.blocking, issue 17).

A slow disk is simulated by a sleep inside the write transaction (or the graph's log append), on
the writer thread: the event loop must keep ticking, reads must go on (seeing the store as it was
before the write), a cancelled caller must leave the write whole, and a write a reader saw
committed first must not be reported as another process's change.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mem7_core.models import Scope, VectorRecord
from mem7_core.providers import Entity, GraphRelation, WriteBatch
from mem7_core.testing.loop import heartbeat_max_gap
from mem7_flat import FlatVectorStore
from mem7_flat._db import StoreDB
from mem7_flat._persist import Persistence
from mem7_flat.graph import FlatGraphStore

pytestmark = pytest.mark.asyncio

SLOW_S = 0.25
DIMS = 8
SCOPE = Scope(user_id="u")


def _store(path: Path | None) -> FlatVectorStore:
    return FlatVectorStore(FlatVectorStore.Config.model_validate({"path": None if path is None else str(path)}))


def rec(i: int, user: str = "u") -> VectorRecord:
    v = np.zeros(DIMS, dtype=np.float32)
    v[i % DIMS] = 1.0
    v[(i + 1) % DIMS] = 0.5
    return VectorRecord(id=f"m{i}", vector=v.tolist(), payload={"user_id": user, "data": f"memory {i}"})


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every write transaction sleeps SLOW_S right before its COMMIT (where a slow fsync would
    take its time); returns the names of the threads it ran on."""
    threads: list[str] = []
    real = StoreDB.transaction

    @contextmanager
    def slow(self: StoreDB) -> Iterator[Any]:
        with real(self) as conn:
            yield conn
            threads.append(threading.current_thread().name)
            time.sleep(SLOW_S)

    monkeypatch.setattr(StoreDB, "transaction", slow)
    return threads


async def test_the_loop_keeps_ticking_during_a_slow_write(tmp_path: Path, slow_disk: list[str]) -> None:
    store = _store(tmp_path)
    await store.insert([rec(0)])  # the first write opens everything
    slow_disk.clear()
    t0 = time.perf_counter()
    _, gap = await heartbeat_max_gap(store.commit(WriteBatch(inserts=[rec(1)], expected={"m1": None})))
    assert time.perf_counter() - t0 >= SLOW_S * 0.9
    assert gap < 0.1, f"the event loop stalled {gap * 1e3:.0f} ms during the write"
    assert slow_disk and all(name.startswith("mem7-flat") for name in slow_disk), slow_disk
    assert await store.count(scope=SCOPE) == 2
    await store.aclose()


async def test_in_memory_writes_stay_inline(slow_disk: list[str]) -> None:
    store = _store(None)
    await store.insert([rec(0)])
    assert store._runner is None and not slow_disk  # no database, no transaction, no thread
    assert await store.count(scope=SCOPE) == 1


async def test_reads_go_on_during_a_write_and_see_it_once_it_returned(tmp_path: Path, slow_disk: list[str]) -> None:
    store = _store(tmp_path)
    await store.insert([rec(0)])
    write = asyncio.create_task(store.insert([rec(1)]))
    await asyncio.sleep(SLOW_S / 5)  # the write is in its transaction now
    t0 = time.perf_counter()
    hits = await store.search(rec(1).vector, scope=SCOPE, limit=5)  # type: ignore[arg-type]
    count = await store.count(scope=SCOPE)
    assert time.perf_counter() - t0 < 0.05, "a read waited for the write"
    assert not write.done()
    assert [h.id for h in hits] == ["m0"] and count == 1  # before the write
    await write
    assert await store.count(scope=SCOPE) == 2
    assert (await store.search(rec(1).vector, scope=SCOPE, limit=1))[0].id == "m1"  # type: ignore[arg-type]
    await store.aclose()


async def test_writes_keep_their_order(tmp_path: Path) -> None:
    store = _store(tmp_path)
    await store.insert([rec(0)])
    payloads = [{"user_id": "u", "data": f"version {k}"} for k in range(30)]
    await asyncio.gather(*(store.update("m0", payload=p) for p in payloads))
    assert (await store.get(["m0"]))[0].payload["data"] == "version 29"
    await store.aclose()
    again = _store(tmp_path)
    assert (await again.get(["m0"]))[0].payload["data"] == "version 29"
    await again.aclose()


async def test_errors_keep_their_type_and_nothing_is_written(tmp_path: Path) -> None:
    from mem7_core.errors import MemoryNotFoundError, StoreConflictError

    store = _store(tmp_path)
    await store.insert([rec(0)])
    with pytest.raises(MemoryNotFoundError):
        await store.update("nope", payload={"user_id": "u", "data": "x"})
    with pytest.raises(StoreConflictError):
        await store.commit(WriteBatch(inserts=[rec(1)], expected={"m0": None}))  # m0 exists
    assert store._inflight is None
    assert [r.id for r in await store.list(scope=SCOPE)] == ["m0"]
    await store.aclose()


async def test_a_cancelled_write_lands_whole_and_drops_the_keyword_caches(tmp_path: Path, slow_disk: list[str]) -> None:
    store = _store(tmp_path)
    await store.insert([rec(0)])
    cursor = (await store.changes_since(None)).cursor
    write = asyncio.create_task(store.commit(WriteBatch(inserts=[rec(1), rec(2)], expected={"m1": None, "m2": None})))
    await asyncio.sleep(SLOW_S / 5)
    t0 = time.perf_counter()
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert time.perf_counter() - t0 < 0.1
    await store.aclose()  # waits for the write still running in its thread
    assert await store.count(scope=SCOPE) == 3  # committed whole, and the cache followed
    # The engine never learnt of it (its caller was cancelled): readers of the feed must rebuild.
    assert (await store.changes_since(cursor)).changes is None
    other = _store(tmp_path)
    assert sorted(r.id for r in await other.list(scope=SCOPE)) == ["m0", "m1", "m2"]
    await other.aclose()
    await store.aclose()


async def test_a_write_a_reader_saw_committed_first_is_not_reported_as_foreign(tmp_path: Path) -> None:
    """The window between the writer thread's COMMIT and its cache update: a read catching up
    then applies the write from the change log, as this process's own (no feed entry), and the
    writer leaves the cache alone."""
    store = _store(tmp_path)
    await store.insert([rec(0)])
    cursor = (await store.changes_since(None)).cursor
    assert store._wdb is not None
    committed, release = threading.Event(), threading.Event()
    real = store._wdb.transaction

    @contextmanager
    def held_after_commit() -> Iterator[Any]:
        with real() as conn:
            yield conn
        committed.set()
        release.wait(5)

    store._wdb.transaction = held_after_commit  # type: ignore[method-assign]
    write = asyncio.create_task(store.insert([rec(1)]))
    assert await asyncio.to_thread(committed.wait, 5)
    assert store._inflight is not None and not store._inflight.applied
    assert await store.count(scope=SCOPE) == 2  # applied by this read, from the log
    assert store._inflight.applied
    assert (await store.changes_since(cursor)).changes == []  # not another writer's change
    release.set()
    await write
    assert store._inflight is None
    assert await store.count(scope=SCOPE) == 2 and store.stats()["rows"] == 2  # not applied twice
    store._wdb.transaction = real  # type: ignore[method-assign]
    await store.insert([rec(3)])
    assert (await store.changes_since(cursor)).changes == []
    await store.aclose()


async def test_another_process_write_is_still_reported(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)
    await a.insert([rec(0)])
    cursor = (await a.changes_since(None)).cursor
    await b.insert([rec(1)])
    await a.insert([rec(2)])  # a's write catches up with b's first, inside its transaction
    batch = await a.changes_since(cursor)
    assert batch.changes is not None and [c.id for c in batch.changes] == ["m1"]
    await a.aclose()
    await b.aclose()


# ------------------------------------------------------------------------------------ graph
def _graph(path: Path) -> FlatGraphStore:
    return FlatGraphStore(FlatGraphStore.Config(path=str(path)))


def _ent(name: str, k: int) -> Entity:
    v = [0.0] * DIMS
    v[k % DIMS] = 1.0
    return Entity(name=name, type="person", embedding=v)


async def test_graph_mutations_leave_the_loop_ticking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _graph(tmp_path)
    scope = Scope(user_id="u")
    real = Persistence.append
    threads: list[str] = []

    def slow(self: Persistence, record: dict[str, Any]) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(SLOW_S)
        real(self, record)

    monkeypatch.setattr(Persistence, "append", slow)
    rel = GraphRelation(source="alice", relationship="knows", destination="bob")
    up = asyncio.create_task(g.upsert(scope, [_ent("alice", 0), _ent("bob", 1)], [rel], now="2026-01-01T00:00:00Z"))
    _, gap = await heartbeat_max_gap(up)
    assert gap < 0.1, f"the event loop stalled {gap * 1e3:.0f} ms during the graph write"
    assert threads and all(t.startswith("mem7-flat-graph") for t in threads)
    # a search during a slow mutation answers at once, with the graph as it was
    inv = asyncio.create_task(g.invalidate(scope, [rel], now="2026-01-02T00:00:00Z"))
    await asyncio.sleep(SLOW_S / 5)
    t0 = time.perf_counter()
    assert [r.triple for r in await g.get_all(scope)] == [("alice", "knows", "bob")]
    assert time.perf_counter() - t0 < 0.05
    assert await inv == 1
    assert await g.get_all(scope) == []
    await g.aclose()
    monkeypatch.undo()
    again = _graph(tmp_path)
    assert await again.get_all(scope) == [] and await again.entity_count(scope) == 2
    await again.aclose()


async def test_a_history_write_under_the_store_lock_does_not_deadlock_with_the_writer(tmp_path: Path) -> None:
    """The history writes on the read connection under the store's lock; the writer thread takes
    SQLite's write lock first and the store's lock second. The writer yields (rolls back, retries)
    instead of both waiting for each other until the busy timeout."""
    from mem7_core.testing.history import make_event

    store = FlatVectorStore(FlatVectorStore.Config.model_validate({"path": str(tmp_path), "busy_timeout_ms": 3000}))
    history = store.own_history()
    assert history is not None
    await store.insert([rec(0)])
    assert store._wdb is not None
    began, locked = threading.Event(), threading.Event()
    real = store._wdb.transaction

    @contextmanager
    def staged() -> Iterator[Any]:
        with real() as conn:  # SQLite's write lock taken
            began.set()
            locked.wait(5)  # ... until the loop thread holds the store's lock
            yield conn

    store._wdb.transaction = staged  # type: ignore[method-assign]
    t0 = time.perf_counter()
    write = asyncio.create_task(store.insert([rec(1)]))
    assert await asyncio.to_thread(began.wait, 5)
    store._lock.acquire()
    try:
        locked.set()
        await history.add_events([make_event("m0", new="memory 0")])  # needs SQLite's write lock
    finally:
        store._lock.release()
    await write
    assert time.perf_counter() - t0 < 1.5
    assert await store.count(scope=SCOPE) == 2
    assert [e.memory_id for e in await history.get("m0")] == ["m0"]
    await store.aclose()
