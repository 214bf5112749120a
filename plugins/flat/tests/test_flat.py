"""Flat-store specifics: registration, config, persistence and recovery, compaction, growth, scoping."""

from __future__ import annotations

import asyncio
import threading
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from mem7_core.errors import MemoryNotFoundError
from mem7_core.filters import evaluate, parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.plugins import PluginRegistry
from mem7_flat import FlatVectorStore

DIMS = 16


def make(path: Path | None = None, **cfg: object) -> FlatVectorStore:
    return FlatVectorStore(FlatVectorStore.Config.model_validate({"path": None if path is None else str(path), **cfg}))


def unit(rng: np.random.Generator, n: int, dims: int = DIMS) -> np.ndarray:
    m = rng.standard_normal((n, dims)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def rec(i: int, vec: np.ndarray, user: str = "u1", **extra: object) -> VectorRecord:
    payload = {"data": f"m{i}", "created_at": f"2024-01-01T00:00:{i % 60:02d}.{i:06d}+00:00", "user_id": user}
    payload.update(extra)
    return VectorRecord(id=f"id-{i:05d}", vector=vec.tolist(), payload=payload)


def coll_dir(store: FlatVectorStore) -> Path:
    assert store._db is not None
    return store._db.dir


def crash(store: FlatVectorStore) -> None:
    """Drop the store as a dying process would: its connections gone, nothing else done."""
    assert store._db is not None and store._wdb is not None
    store._db.close()
    store._wdb.close()  # its writer thread is idle between calls


async def brute_force(records: dict[str, VectorRecord], q: np.ndarray, scope: Scope, k: int, filters=None) -> list[str]:
    node = parse_filters(filters) if filters else None
    cands = [r for r in records.values() if scope.matches(r.payload) and evaluate(node, r.payload)]
    scores = [(float(np.dot(np.asarray(r.vector, dtype=np.float32), q)), r.id) for r in cands]
    scores.sort(key=lambda t: -t[0])
    return [i for _, i in scores[:k]]


# ------------------------------------------------------------------------------------ plugin, config
def test_registered_through_the_hook() -> None:
    import mem7_flat.plugin

    reg = PluginRegistry(discover=False, builtins=False)
    assert reg.register_plugin(mem7_flat.plugin, name="flat")
    assert reg.get("vector_store", "flat") is FlatVectorStore


def test_entry_point_declared() -> None:
    eps = [ep for ep in entry_points(group="mem7") if ep.name == "flat"]
    assert eps and eps[0].value == "mem7_flat.plugin"


def test_config() -> None:
    cfg = FlatVectorStore.Config()
    assert cfg.collection_name == "mem7_memories" and cfg.path is None and cfg.dims is None
    assert FlatVectorStore.Config.model_validate({"embedding_model_dims": 384}).dims == 384
    assert FlatVectorStore.Config.model_validate({"path": "~/x"}).path == str(Path("~/x").expanduser())
    with pytest.raises(ValidationError, match="collection_name"):
        FlatVectorStore.Config.model_validate({"collection_name": "../escape"})
    with pytest.raises(ValidationError, match="bogus"):
        FlatVectorStore.Config.model_validate({"bogus": 1})
    with pytest.raises(ValidationError, match="compaction_threshold"):
        FlatVectorStore.Config.model_validate({"compaction_threshold": 0})
    store = FlatVectorStore.from_config({"dims": 4})
    assert isinstance(store, FlatVectorStore) and not store.capabilities.persistent


async def test_capabilities_follow_path(tmp_path: Path) -> None:
    assert not make().capabilities.persistent
    store = make(tmp_path)
    assert store.capabilities.persistent and store.capabilities.logical
    assert {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains", "exists"} <= set(
        store.capabilities.filter_operators
    )
    await store.aclose()


# ------------------------------------------------------------------------------------ validation
async def test_dims_checks() -> None:
    store = make()
    await store.insert([VectorRecord("a", [1.0, 0.0, 0.0], {"user_id": "u"})])
    assert store.stats()["dims"] == 3
    with pytest.raises(ValueError, match="dims"):
        await store.insert([VectorRecord("b", [1.0, 0.0], {"user_id": "u"})])
    with pytest.raises(ValueError, match="dims"):
        await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1)
    with pytest.raises(ValueError, match="dims"):
        await store.update("a", vector=[1.0])
    with pytest.raises(ValueError, match="finite"):
        await store.insert([VectorRecord("c", [float("nan"), 0.0, 0.0], {"user_id": "u"})])
    with pytest.raises(ValueError, match="no vector"):
        await store.insert([VectorRecord("d", None, {"user_id": "u"})])
    await store.insert([VectorRecord("zero", [0.0, 0.0, 0.0], {"user_id": "u"})])  # allowed, scores 0
    hits = await store.search([1.0, 0.0, 0.0], scope=Scope(user_id="u"), limit=5)
    assert [h.id for h in hits] == ["a", "zero"] and hits[1].score == 0.0
    assert len(store) == 2
    fixed = make(dims=4)
    with pytest.raises(ValueError, match="dims"):
        await fixed.insert([VectorRecord("a", [1.0, 0.0, 0.0], {})])


async def test_reset_forgets_inferred_dims() -> None:
    store = make()
    await store.insert([VectorRecord("a", [1.0, 0.0, 0.0], {})])
    await store.reset()
    await store.insert([VectorRecord("a", [1.0, 0.0], {})])
    assert store.stats()["dims"] == 2


async def test_non_json_payload_rejected_before_anything_changes(tmp_path: Path) -> None:
    store = make(tmp_path)
    await store.insert([VectorRecord("ok", [1.0, 0.0], {"user_id": "u"})])
    with pytest.raises(TypeError, match="JSON"):
        await store.insert([VectorRecord("ok", [0.0, 1.0], {"user_id": "u"}), VectorRecord("bad", [1.0, 1.0], {"x": {1, 2}})])
    with pytest.raises(TypeError, match="JSON"):
        await store.update("ok", payload={"x": object()})
    assert [r.payload for r in await store.get(["ok", "bad"])] == [{"user_id": "u"}]
    crash(store)
    again = make(tmp_path)
    assert [r.id for r in await again.get(["ok", "bad"])] == ["ok"]
    await again.aclose()


async def test_update_unknown_raises_without_logging(tmp_path: Path) -> None:
    store = make(tmp_path)
    with pytest.raises(MemoryNotFoundError):
        await store.update("nope", payload={})
    assert store.stats()["seq"] == 0 and len(store) == 0  # nothing logged
    await store.aclose()


# ------------------------------------------------------------------------------------ growth
@pytest.mark.parametrize("batch", [1, 7, 1000])
async def test_growth_beyond_initial_capacity(batch: int) -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng, 1000)
    store = make(initial_capacity=2)
    records = {}
    for start in range(0, 1000, batch):
        chunk = [rec(i, vecs[i], user=f"u{i % 3}") for i in range(start, min(start + batch, 1000))]
        await store.insert(chunk)
        records.update((r.id, r) for r in chunk)
    stats = store.stats()
    assert stats["records"] == 1000 and stats["capacity"] >= 1000
    assert stats["capacity"] < 4000  # amortised doubling, not one row at a time nor wildly over
    got = await store.get(list(records))
    assert [g.id for g in got] == list(records)
    np.testing.assert_allclose(np.asarray([g.vector for g in got]), vecs, atol=1e-6)
    q = unit(rng, 1)[0]
    for user in ("u0", "u1", "u2"):
        scope = Scope(user_id=user)
        hits = await store.search(q.tolist(), scope=scope, limit=10)
        assert [h.id for h in hits] == await brute_force(records, q, scope, 10)
        assert await store.count(scope=scope) == sum(1 for r in records.values() if r.payload["user_id"] == user)


# ------------------------------------------------------------------------------------ scoping
async def test_search_reads_only_its_scope_rows() -> None:
    rng = np.random.default_rng(2)
    store = make()
    records = []
    for i in range(600):
        user = f"user-{i % 6}"
        agent = "rare" if i % 100 == 0 else f"agent-{i % 4}"
        records.append(rec(i, unit(rng, 1)[0], user=user, agent_id=agent))
    await store.insert(records)
    assert store.stats()["segments"] == 6

    scored: list[tuple[str | None, int]] = []  # (user of the block read, columns multiplied)
    original = store._scores

    def spy(seg, cols, q):  # type: ignore[no-untyped-def]
        scored.append((seg.user, seg.n))
        return original(seg, cols, q)

    store._scores = spy  # type: ignore[method-assign]
    await store.search(unit(rng, 1)[0].tolist(), scope=Scope(user_id="user-1"), limit=5)
    assert scored == [("user-1", 100)]
    assert store._last_scanned == 100
    # user + agent: the user's block only, narrowed by a mask to its 2 "rare" rows.
    scored.clear()
    hits = await store.search(unit(rng, 1)[0].tolist(), scope=Scope(user_id="user-0", agent_id="rare"), limit=5)
    expected = [r for r in records if r.payload["user_id"] == "user-0" and r.payload["agent_id"] == "rare"]
    assert len(expected) == 2 and scored == [("user-0", 100)] and store._last_scanned == 2
    assert {h.id for h in hits} == {r.id for r in expected}
    # agent only: just the blocks that hold that agent (i = 0, 100, ..., 500 -> users 0, 4, 2).
    scored.clear()
    hits = await store.search(unit(rng, 1)[0].tolist(), scope=Scope(agent_id="rare"), limit=10)
    assert sorted(u for u, _ in scored) == ["user-0", "user-2", "user-4"]
    assert {h.id for h in hits} == {r.id for r in records if r.payload["agent_id"] == "rare"}
    # An unknown scope value reads nothing at all.
    scored.clear()
    assert await store.search(unit(rng, 1)[0].tolist(), scope=Scope(user_id="nobody"), limit=5) == []
    assert await store.search(unit(rng, 1)[0].tolist(), scope=Scope(user_id="user-1", run_id="nope"), limit=5) == []
    assert scored == [] and store._last_scanned == 0


def _users_in(store: FlatVectorStore, scope: Scope) -> set[str]:
    return {seg.payloads[c]["user_id"] for seg, c in store._refs(scope)}  # type: ignore[index]


async def test_scope_index_survives_deletes_moves_and_compaction() -> None:
    rng = np.random.default_rng(3)
    store = make(compaction_threshold=0.1)
    recs = {f"id-{i:05d}": rec(i, unit(rng, 1)[0], user=f"u{i % 4}") for i in range(400)}
    await store.insert(list(recs.values()))
    for i in range(0, 400, 3):  # move a third of u* to other users through payload updates
        r = recs[f"id-{i:05d}"]
        new = {**r.payload, "user_id": f"u{(i + 1) % 4}"}
        await store.update(r.id, payload=new)
        recs[r.id] = VectorRecord(r.id, r.vector, new)
    gone = [f"id-{i:05d}" for i in range(1, 400, 5)]
    await store.delete(gone)
    for g in gone:
        recs.pop(g)
    stats = store.stats()
    assert stats["tombstones"] < stats["rows"] * 0.1 + 32 * stats["segments"]  # compacted per user block
    q = unit(rng, 1)[0]
    for u in range(4):
        scope = Scope(user_id=f"u{u}")
        assert [h.id for h in await store.search(q.tolist(), scope=scope, limit=20)] == await brute_force(recs, q, scope, 20)
        want = sorted((r for r in recs.values() if r.payload["user_id"] == f"u{u}"), key=lambda r: (r.payload["created_at"], r.id))
        assert [r.id for r in await store.list(scope=scope)] == [r.id for r in want]
        assert _users_in(store, scope) == {f"u{u}"}


# ------------------------------------------------------------------------------------ compaction
async def test_compaction_preserves_results() -> None:
    rng = np.random.default_rng(4)
    store = make(compaction_threshold=0.9)  # no automatic compaction: compare before/after by hand
    recs = {r.id: r for r in (rec(i, unit(rng, 1)[0], user=f"u{i % 2}", n=i, agent_id=f"a{i % 3}") for i in range(300))}
    await store.insert(list(recs.values()))
    drop = [f"id-{i:05d}" for i in rng.choice(300, size=200, replace=False).tolist()]
    await store.delete(drop)
    for d in drop:
        recs.pop(d)
    assert store.stats()["tombstones"] == 200
    queries = unit(rng, 5)
    filters = [None, {"n": {"gte": 150}}, {"OR": [{"agent_id": "a1"}, {"n": {"lt": 20}}]}]
    scopes = [Scope(user_id="u0"), Scope(user_id="u1", agent_id="a2"), Scope()]

    async def answers() -> list[object]:
        out: list[object] = []
        for scope in scopes:
            out.append([r.id for r in await store.list(scope=scope)])
            for f in filters:
                node = parse_filters(f)
                for q in queries:
                    out.append([(h.id, round(h.score, 5)) for h in await store.search(q.tolist(), scope=scope, limit=7, filters=node)])
        return out

    before = await answers()
    store._compact()
    assert store.stats()["tombstones"] == 0 and store.stats()["rows"] == 100
    assert await answers() == before
    for q in queries:
        assert [h.id for h in await store.search(q.tolist(), scope=Scope(user_id="u0"), limit=7)] == await brute_force(
            recs, q, Scope(user_id="u0"), 7
        )


async def test_automatic_compaction() -> None:
    rng = np.random.default_rng(5)
    store = make(compaction_threshold=0.25)
    await store.insert([rec(i, unit(rng, 1)[0]) for i in range(200)])
    await store.delete([f"id-{i:05d}" for i in range(100)])
    stats = store.stats()
    assert stats["records"] == 100 and stats["tombstones"] == 0 and stats["rows"] == 100


# ------------------------------------------------------------------------------------ persistence
async def test_persistence_round_trip_1000(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    vecs = unit(rng, 1000)
    store = make(tmp_path, snapshot_every=100)
    recs = {}
    for start in range(0, 1000, 50):  # mix of batches and single inserts
        chunk = [rec(i, vecs[i], user=f"u{i % 5}", n=i, tags=[f"t{i % 7}"]) for i in range(start, start + 50)]
        if start % 200 == 0:
            for r in chunk:
                await store.insert([r])
        else:
            await store.insert(chunk)
        recs.update((r.id, r) for r in chunk)
    queries = unit(rng, 4)

    async def answers(s: FlatVectorStore) -> list[object]:
        out: list[object] = []
        for u in range(5):
            scope = Scope(user_id=f"u{u}")
            out.append([(r.id, r.payload) for r in await s.list(scope=scope)])
            for q in queries:
                out.append([(h.id, round(h.score, 5)) for h in await s.search(q.tolist(), scope=scope, limit=10)])
        return out

    before = await answers(store)
    vectors = np.asarray([g.vector for g in await store.get(list(recs))], dtype=np.float32)
    crash(store)  # the database alone must restore everything
    reopened = make(tmp_path)
    assert len(reopened) == 1000
    got = await reopened.get(list(recs))
    assert [g.id for g in got] == list(recs)
    assert all(g.payload == recs[g.id].payload for g in got)
    np.testing.assert_array_equal(np.asarray([g.vector for g in got], dtype=np.float32), vectors)
    assert await answers(reopened) == before
    await reopened.aclose()
    assert sorted(p.name for p in coll_dir(reopened).iterdir()) == ["mem7.db"]  # WAL checkpointed on last close
    third = make(tmp_path)
    assert await answers(third) == before
    await third.aclose()


async def test_dims_conflict_on_reopen(tmp_path: Path) -> None:
    store = make(tmp_path)
    await store.insert([VectorRecord("a", [1.0, 0.0, 0.0], {})])
    await store.aclose()
    with pytest.raises(ValueError, match="dims"):
        make(tmp_path, dims=4)
    assert make(tmp_path, dims=3).stats()["dims"] == 3
    assert make(tmp_path).stats()["dims"] == 3


async def test_collections_are_separate(tmp_path: Path) -> None:
    a = make(tmp_path, collection_name="a")
    b = make(tmp_path, collection_name="b")
    await a.insert([VectorRecord("x", [1.0, 0.0], {"user_id": "u"})])
    await a.aclose()
    await b.aclose()
    assert len(make(tmp_path, collection_name="a")) == 1
    assert len(make(tmp_path, collection_name="b")) == 0


async def test_usable_after_aclose(tmp_path: Path) -> None:
    store = make(tmp_path)
    await store.insert([VectorRecord("x", [1.0, 0.0], {"user_id": "u"})])
    await store.aclose()
    await store.insert([VectorRecord("y", [0.0, 1.0], {"user_id": "u"})])
    await store.aclose()
    assert len(make(tmp_path)) == 2


# ------------------------------------------------------------------------------------ threads
def test_threads_insert_and_search_concurrently(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    vecs = unit(rng, 800)
    store = make(tmp_path, snapshot_every=97, initial_capacity=8, compaction_threshold=0.2)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(t * 100, t * 100 + 100):
                asyncio.run(store.insert([rec(i, vecs[i], user=f"u{t % 2}")]))
                if i % 10 == 0:
                    asyncio.run(store.delete([f"id-{i:05d}"]))
                asyncio.run(store.search(vecs[i].tolist(), scope=Scope(user_id=f"u{t % 2}"), limit=3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(store) == 720
    crash(store)
    again = make(tmp_path)
    assert len(again) == 720
    assert asyncio.run(again.count(scope=Scope(user_id="u0"))) == 360


# ------------------------------------------------------------------------------------ layout
async def test_interleaved_users_each_get_one_contiguous_block() -> None:
    rng = np.random.default_rng(15)
    vecs = unit(rng, 4000)
    store = make()
    recs = {}
    for i in range(4000):  # users interleaved: every append follows another user's row
        r = rec(i, vecs[i], user=f"u{i % 4}")
        await store.insert([r])
        recs[r.id] = r
    stats = store.stats()
    assert stats["segments"] == 4 and stats["rows"] == 4000
    assert stats["capacity"] < 2 * 4000  # amortised doubling per block
    q = unit(rng, 1)[0]
    for u in range(4):
        scope = Scope(user_id=f"u{u}")
        seg = store._segs[f"u{u}"]
        assert seg.n == 1000 and seg.mat.flags.c_contiguous and seg.mat.shape[0] == DIMS  # columns = rows
        assert [h.id for h in await store.search(q.tolist(), scope=scope, limit=10)] == await brute_force(recs, q, scope, 10)
        mine = sorted((r for r in recs.values() if r.payload["user_id"] == f"u{u}"), key=lambda r: (r.payload["created_at"], r.id))
        assert [r.id for r in await store.list(scope=scope, limit=3)] == [r.id for r in mine[:3]]


def test_scores_of_a_column_subset_equal_a_gather() -> None:
    rng = np.random.default_rng(16)
    store = make()
    vecs = unit(rng, 3000)
    asyncio.run(store.insert([rec(i, v) for i, v in enumerate(vecs)]))
    seg = store._segs["u1"]
    q = unit(rng, 1)[0]
    np.testing.assert_allclose(store._scores(seg, None, q), vecs @ q, atol=1e-5)
    for cols in (np.arange(100, 1500), np.unique(rng.choice(3000, 300, replace=False)), np.array([5])):
        np.testing.assert_allclose(store._scores(seg, cols, q), vecs[cols] @ q, atol=1e-5)


async def test_many_small_tenants_reserve_little() -> None:
    rng = np.random.default_rng(18)
    store = make()
    vecs = unit(rng, 2000)
    for i in range(2000):
        await store.insert([rec(i, vecs[i], user=f"t{i % 1000}")])
    stats = store.stats()
    assert stats["segments"] == 1000 and stats["capacity"] <= 2 * 2000
    # Emptying a tenant frees its block at once.
    await store.delete(["id-00007", "id-01007"])
    assert "t7" not in store._segs and store.stats()["tombstones"] == 0
    assert await store.count(scope=Scope(user_id="t7")) == 0
    assert await store.search(vecs[7].tolist(), scope=Scope(user_id="t7"), limit=3) == []
    await store.insert([rec(7, vecs[7], user="t7")])
    (hit,) = await store.search(vecs[7].tolist(), scope=Scope(user_id="t7"), limit=3)
    assert hit.id == "id-00007" and hit.score == pytest.approx(1.0, abs=1e-5)


async def test_records_without_user_and_moves_between_users() -> None:
    rng = np.random.default_rng(19)
    store = make()
    vecs = unit(rng, 30)
    recs = {}
    for i in range(30):
        payload = {"data": f"m{i}", "created_at": f"2024-01-01T00:00:{i:02d}+00:00", "agent_id": f"a{i % 2}"}
        if i % 3:
            payload["user_id"] = f"u{i % 3}"
        recs[f"r{i}"] = VectorRecord(id=f"r{i}", vector=vecs[i].tolist(), payload=payload)
    await store.insert(list(recs.values()))
    moved = {**recs["r1"].payload, "user_id": "u9"}
    await store.update("r1", payload=moved)
    recs["r1"] = VectorRecord(id="r1", vector=recs["r1"].vector, payload=moved)
    await store.update("r0", payload={"data": "m0", "created_at": "2024-01-01T00:00:00+00:00", "agent_id": "a0",
                                      "user_id": "u1"})
    recs["r0"] = VectorRecord(id="r0", vector=recs["r0"].vector, payload={**recs["r0"].payload, "user_id": "u1"})
    q = unit(rng, 1)[0]
    for scope in (Scope(agent_id="a0"), Scope(agent_id="a1"), Scope(user_id="u9"), Scope(user_id="u1", agent_id="a0"), Scope()):
        assert [h.id for h in await store.search(q.tolist(), scope=scope, limit=30)] == await brute_force(recs, q, scope, 30)
        assert await store.count(scope=scope) == sum(1 for r in recs.values() if scope.matches(r.payload))


def test_blas_runs_on_one_thread_inside_searches_and_is_restored() -> None:
    from mem7_flat import _blas

    if not _blas.available():
        pytest.skip("numpy's BLAS is not an OpenBLAS this helper can steer")
    before = _blas.current_threads()
    seen: list[int | None] = []
    store = make()
    rng = np.random.default_rng(20)
    asyncio.run(store.insert([rec(i, v) for i, v in enumerate(unit(rng, 50))]))
    original = store._scores

    def spy(seg, cols, q):  # type: ignore[no-untyped-def]
        seen.append(_blas.current_threads())
        return original(seg, cols, q)

    store._scores = spy  # type: ignore[method-assign]
    asyncio.run(store.search(unit(rng, 1)[0].tolist(), scope=Scope(user_id="u1"), limit=3))
    assert seen == [1] and _blas.current_threads() == before
    store2 = make(blas_one_thread=False)
    asyncio.run(store2.insert([rec(i, v) for i, v in enumerate(unit(rng, 50))]))
    original2 = store2._scores
    store2._scores = lambda seg, cols, q: (seen.append(_blas.current_threads()), original2(seg, cols, q))[1]  # type: ignore[method-assign]
    asyncio.run(store2.search(unit(rng, 1)[0].tolist(), scope=Scope(user_id="u1"), limit=3))
    assert seen[-1] == before


async def test_search_many_reads_each_block_once_and_equals_single_searches() -> None:
    rng = np.random.default_rng(21)
    store = make()
    vecs = unit(rng, 300)
    recs = {}
    for i in range(300):
        r = rec(i, vecs[i], user=f"u{i % 3}", agent_id=f"a{i % 2}", n=i)
        recs[r.id] = r
    await store.insert(list(recs.values()))
    queries = [q.tolist() for q in unit(rng, 4)] + [vecs[7].tolist()]
    calls: list[tuple[str | None, tuple[int, ...]]] = []
    original = store._scores

    def spy(seg, cols, q):  # type: ignore[no-untyped-def]
        calls.append((seg.user, q.shape))
        return original(seg, cols, q)

    store._scores = spy  # type: ignore[method-assign]
    for scope, filters in ((Scope(user_id="u1"), None), (Scope(agent_id="a1"), None),
                           (Scope(user_id="u2", agent_id="a0"), {"n": {"gte": 100}})):
        node = parse_filters(filters) if filters else None
        calls.clear()
        batched = await store.search_many(queries, scope=scope, limit=5, filters=node)
        blocks = {u for u, _ in calls}
        assert len(calls) == len(blocks) and all(shape == (5, DIMS) for _, shape in calls)  # one product per block
        for q, hits in zip(queries, batched):
            want = await brute_force(recs, np.asarray(q, dtype=np.float32), scope, 5, filters)
            assert [h.id for h in hits] == want
            single = await store.search(q, scope=scope, limit=5, filters=node)
            assert [(h.id, round(h.score, 5)) for h in hits] == [(h.id, round(h.score, 5)) for h in single]
    assert await store.search_many(queries, scope=Scope(user_id="nobody"), limit=5) == [[]] * 5


@pytest.mark.parametrize("scope", [Scope(user_id="u1"), Scope(user_id="u1", agent_id="a1")], ids=["user", "user+agent"])
async def test_unfiltered_search_fast_path_matches_brute_force(scope: Scope) -> None:
    """The one-block, no-filter path (columns gathered by numpy): same ids, order and scores as a
    brute-force ranking, with tombstones in the block and a narrower scope masking columns."""
    rng = np.random.default_rng(11)
    store = make()
    recs = {r.id: r for r in (rec(i, v, agent_id=f"a{i % 3}") for i, v in enumerate(unit(rng, 300)))}
    await store.insert(list(recs.values()))
    gone = [f"id-{i:05d}" for i in range(0, 300, 7)]
    await store.delete(gone)
    for g in gone:
        del recs[g]
    q = unit(rng, 1)[0]
    hits = await store.search(q.tolist(), scope=scope, limit=12)
    assert [h.id for h in hits] == await brute_force(recs, q, scope, 12)
    for h in hits:
        assert h.score == pytest.approx(float(np.dot(np.asarray(recs[h.id].vector, dtype=np.float32), q)), abs=1e-5)
        assert h.payload == recs[h.id].payload


@pytest.mark.parametrize("extra", [{}, {"tags": ["x"], "meta": {"k": [1]}}], ids=["scalar payload", "nested payload"])
async def test_hits_and_gets_are_copies(extra: dict[str, object]) -> None:
    """Hits and get() hand out copies (shallow for scalar-only payloads, deep otherwise): changing
    them, nested values included, never changes what the store holds."""
    rng = np.random.default_rng(12)
    store = make()
    await store.insert([rec(i, v, **extra) for i, v in enumerate(unit(rng, 5))])
    q = unit(rng, 1)[0].tolist()
    for got in ((await store.search(q, scope=Scope(user_id="u1"), limit=5))[0], (await store.get(["id-00001"]))[0]):
        got.payload["data"] = "changed"
        if extra:
            got.payload["tags"].append("y")  # type: ignore[union-attr]
            got.payload["meta"]["k"].append(2)  # type: ignore[index]
        again = (await store.get([got.id]))[0].payload
        assert again["data"] != "changed"
        if extra:
            assert again["tags"] == ["x"] and again["meta"] == {"k": [1]}
