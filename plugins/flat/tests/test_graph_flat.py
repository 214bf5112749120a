"""FlatGraphStore specifics: registration, config, validation, scope-local search, persistence and recovery."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from mem7_core.errors import ConfigError
from mem7_core.models import Scope, VectorRecord
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import Entity, GraphRelation
from mem7_flat import FlatVectorStore
from mem7_flat.graph import FlatGraphStore

DIMS = 8
U1 = Scope(user_id="u1")
U2 = Scope(user_id="u2")


def make(path: Path | None = None, **cfg: object) -> FlatGraphStore:
    return FlatGraphStore(FlatGraphStore.Config.model_validate({"path": None if path is None else str(path), **cfg}))


def axis(i: int, dims: int = DIMS) -> list[float]:
    v = [0.0] * dims
    v[i] = 1.0
    return v


def ts(i: int) -> str:
    return f"2024-01-01T00:00:{i:02d}+00:00"


def rel(s: str, r: str, d: str) -> GraphRelation:
    return GraphRelation(s, r, d)


async def put(
    store: FlatGraphStore, scope: Scope, s: str, r: str, d: str, now: int = 1, vs: int = 0, vd: int = 1
) -> None:
    await store.upsert(
        scope, [Entity(s, embedding=axis(vs)), Entity(d, embedding=axis(vd))], [rel(s, r, d)], now=ts(now)
    )


def graph_dir(store: FlatGraphStore) -> Path:
    assert store._persist is not None
    return store._persist.dir


def crash(store: FlatGraphStore) -> None:
    """Drop the store as a dying process would: the log file closed, no snapshot written."""
    assert store._persist is not None
    store._persist.close()


def view(rels: list[GraphRelation]) -> list[tuple[tuple[str, str, str], int, str | None]]:
    return [(r.triple, r.mentions, r.updated_at) for r in rels]


# ------------------------------------------------------------------------------------ plugin, config
def test_registered_through_the_hook() -> None:
    import mem7_flat.plugin

    reg = PluginRegistry(discover=False, builtins=False)
    assert reg.register_plugin(mem7_flat.plugin, name="flat")
    assert reg.get("graph_store", "flat") is FlatGraphStore
    assert reg.get("vector_store", "flat") is FlatVectorStore
    store = reg.create("graph_store", "flat", {"collection_name": "g1"})
    assert isinstance(store, FlatGraphStore) and store.config.collection_name == "g1"


def test_config() -> None:
    cfg = FlatGraphStore.Config()
    assert cfg.path is None and cfg.collection_name == "mem7_graph" and cfg.fsync
    assert FlatGraphStore.Config.model_validate({"path": "~/g"}).path == str(Path("~/g").expanduser())
    with pytest.raises(ValidationError, match="bogus"):
        FlatGraphStore.Config.model_validate({"bogus": 1})
    with pytest.raises(ValidationError, match="collection_name"):
        FlatGraphStore.Config.model_validate({"collection_name": "../escape"})
    with pytest.raises(ValidationError, match="snapshot_every"):
        FlatGraphStore.Config.model_validate({"snapshot_every": 0})


async def test_capabilities_follow_path(tmp_path: Path) -> None:
    assert not make().capabilities.persistent
    assert not FlatGraphStore.capabilities.persistent
    store = make(tmp_path)
    assert store.capabilities.persistent
    await store.aclose()


def test_bad_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"graph_store\.config\.path"):
        make(blocker)
    with pytest.raises(ConfigError, match="cannot use path"):
        make(blocker / "below")


# ------------------------------------------------------------------------------------ validation
async def test_embedding_checks_name_the_entity() -> None:
    store = make()
    await put(store, U1, "alice", "knows", "bob")
    with pytest.raises(ValueError, match=r"'carol'.*3 dims, the graph has 8"):
        await store.upsert(U1, [Entity("carol", embedding=[1.0, 0.0, 0.0])], [], now=ts(2))
    with pytest.raises(ValueError, match=r"'carol'.*finite"):
        await store.upsert(U1, [Entity("carol", embedding=[float("nan")] * DIMS)], [], now=ts(2))
    with pytest.raises(ValueError, match=r"'carol'.*sequence of numbers"):
        await store.upsert(U1, [Entity("carol", embedding=["x"] * DIMS)], [], now=ts(2))  # type: ignore[list-item]
    with pytest.raises(ValueError, match="query embedding 1 has 3 dims"):
        await store.search(U1, [axis(0), [1.0, 0.0, 0.0]], threshold=0.5, limit=5)
    with pytest.raises(ValueError, match="relation relationship must be a string"):
        await store.upsert(U1, [], [GraphRelation("alice", 3, "bob")], now=ts(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="entity name must be a string"):
        await store.upsert(U1, [Entity(None, embedding=axis(0))], [], now=ts(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'ghost'.*neither given nor stored"):
        await store.upsert(U1, [], [rel("alice", "knows", "ghost")], now=ts(2))
    with pytest.raises(ValueError, match=r"new entity 'ghost' has no embedding"):
        await store.upsert(U1, [Entity("ghost")], [], now=ts(2))
    with pytest.raises(ValueError, match="user_id, agent_id or run_id"):
        await store.upsert(Scope(), [Entity("x", embedding=axis(0))], [], now=ts(2))
    with pytest.raises(ValueError, match="reset"):
        await store.delete_all(Scope())
    assert view(await store.get_all(U1)) == [(("alice", "knows", "bob"), 1, ts(1))]
    assert store.stats()["entities"] == 2


async def test_dims_come_from_the_first_embedding_and_reset_forgets_them() -> None:
    store = make()
    assert await store.search(U1, [axis(0)], threshold=0.0, limit=5) == []  # empty: no dims yet
    await store.upsert(U1, [Entity("a", embedding=[1.0, 0.0, 0.0])], [], now=ts(1))
    assert store.stats()["dims"] == 3
    await store.reset()
    assert store.stats()["dims"] is None
    await put(store, U1, "a", "r", "b")
    assert store.stats()["dims"] == DIMS


async def test_zero_query_or_embedding_scores_zero() -> None:
    store = make()
    await store.upsert(
        U1, [Entity("z", embedding=[0.0] * DIMS), Entity("a", embedding=axis(0))], [rel("z", "r", "a")], now=ts(1)
    )
    (hit,) = await store.search(U1, [[0.0] * DIMS], threshold=0.0, limit=5)
    assert hit.triple == ("z", "r", "a") and hit.score == 0.0
    assert await store.search(U1, [[0.0] * DIMS], threshold=0.01, limit=5) == []


async def test_search_reads_only_matching_scope_graphs() -> None:
    store = make()
    for i in range(5):
        await put(store, Scope(user_id=f"other{i}"), "alice", "likes", "tea")
    await put(store, U1, "alice", "likes", "jazz")
    await put(store, Scope(user_id="u1", agent_id="a"), "alice", "likes", "vim")
    # Poison every other tenant's matrix: a search that touched one would fail.
    for key, g in store._graphs.items():
        if key[0] != "u1":
            g.mat = None  # type: ignore[assignment]
    got = await store.search(U1, [axis(0)], threshold=0.9, limit=10)
    assert sorted(r.destination for r in got) == ["jazz", "vim"]
    assert await store.entity_count(U1) == 4
    assert [r.destination for r in await store.get_all(Scope(user_id="u1", agent_id="a"))] == ["vim"]
    await store.delete_all(U1)
    assert store.stats()["scopes"] == 5
    assert store._keys_by["user_id"].keys() == {f"other{i}" for i in range(5)}
    assert store._keys_by["agent_id"] == {}


def test_threads_write_and_read_concurrently() -> None:
    """The sync facade may call one store from several threads, each with its own event loop."""
    store = make()
    for i in range(5):  # every rehearsed triple exists before the threads start
        asyncio.run(put(store, U1, "alice", "knows", f"p{i}", now=0))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def run() -> None:
            for i in range(30):
                await put(store, U1, "alice", "knows", f"p{i % 5}", now=i % 60)
                await store.search(U1, [axis(0)], threshold=0.5, limit=10)
                await store.rehearse(U1, [rel("alice", "knows", f"p{(i + n) % 5}")], now=ts(59))

        try:
            asyncio.run(run())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = asyncio.run(store.get_all(U1))
    # 5 creations, then 4 threads x 30 upserts + 4 x 30 rehearsals over those 5 triples.
    assert sum(r.mentions for r in got) == 245 and len(got) == 5
    assert asyncio.run(store.entity_count(U1)) == 6


# ------------------------------------------------------------------------------------ persistence
async def test_round_trip_through_snapshot_and_log(tmp_path: Path) -> None:
    store = make(tmp_path)
    await put(store, U1, "alice", "knows", "bob", now=1)
    await put(store, U1, "alice", "knows", "bob", now=2)
    await store.upsert(U1, [Entity("lonely", "Person", axis(3))], [], now=ts(3))
    await store.aclose()  # snapshot: generation 1
    assert store.stats()["generation"] == 1
    await store.invalidate(U1, [rel("alice", "knows", "bob")], now=ts(4))
    await put(store, U2, "x", "r", "y", now=5)
    crash(store)  # the last two mutations are only in the log
    again = make(tmp_path)
    assert again.stats() | {"log_records": None} == {
        "scopes": 2,
        "entities": 5,
        "relations": 2,
        "dims": DIMS,
        "persistent": True,
        "generation": 1,
        "log_records": None,
    }
    assert await again.get_all(U1) == []
    assert view(await again.get_all(U2)) == [(("x", "r", "y"), 1, ts(5))]
    out = await again.upsert(U1, [], [rel("alice", "knows", "bob"), rel("lonely", "is", "alice")], now=ts(6))
    assert view(out) == [(("alice", "knows", "bob"), 3, ts(6)), (("lonely", "is", "alice"), 1, ts(6))]
    (hit,) = await again.search(U1, [axis(3)], threshold=0.9, limit=5)
    assert hit.triple == ("lonely", "is", "alice")
    await again.aclose()


async def test_noop_changes_are_not_logged(tmp_path: Path) -> None:
    store = make(tmp_path)
    await put(store, U1, "a", "r", "b")
    wal = graph_dir(store) / "wal-0.jsonl"
    size = wal.stat().st_size
    assert await store.invalidate(U1, [rel("a", "r", "zzz")], now=ts(2)) == 0
    await store.rehearse(U2, [rel("a", "r", "b")], now=ts(2))
    await store.delete_all(U2)
    await store.upsert(U1, [], [], now=ts(2))
    assert wal.stat().st_size == size
    await store.invalidate(U1, [rel("a", "r", "b")], now=ts(3))
    assert await store.invalidate(U1, [rel("a", "r", "b")], now=ts(4)) == 0
    assert wal.read_bytes().count(b"\n") == 2
    await store.aclose()


async def test_torn_log_tail_is_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make(tmp_path)
    for i in range(5):
        await put(store, U1, "alice", f"r{i}", "bob", now=i)
    crash(store)
    wal = graph_dir(store) / "wal-0.jsonl"
    data = wal.read_bytes()
    torn = json.dumps({"up": [["u1", None, None], [], [["alice", "r9", "bob"]], ts(9)]}).encode()
    wal.write_bytes(data + torn[: len(torn) // 2])  # a crash mid-write of a sixth mutation
    with caplog.at_level(logging.WARNING, logger="mem7.flat"):
        again = make(tmp_path)
    assert "torn" in caplog.text
    assert [r.relationship for r in await again.get_all(U1)] == [f"r{i}" for i in range(5)]
    assert wal.read_bytes() == data
    await put(again, U1, "alice", "r5", "bob", now=10)  # appends start on a clean line
    crash(again)
    third = make(tmp_path)
    assert len(await third.get_all(U1)) == 6
    await third.aclose()


async def test_corrupt_middle_record_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make(tmp_path)
    await put(store, U1, "alice", "r0", "bob", now=0)
    await put(store, U1, "alice", "r1", "bob", now=1)
    await put(store, U1, "alice", "r2", "bob", now=2)
    await store.upsert(U1, [], [rel("alice", "r3", "bob")], now=ts(3))
    crash(store)
    wal = graph_dir(store) / "wal-0.jsonl"
    lines = wal.read_bytes().split(b"\n")
    lines[1] = b"{garbage"
    lines[2] = json.dumps({"what": 1}).encode()  # parseable but meaningless
    wal.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="mem7.flat"):
        again = make(tmp_path)
    assert "unreadable" in caplog.text and "malformed graph log record" in caplog.text
    assert [r.relationship for r in await again.get_all(U1)] == ["r0", "r3"]


async def test_crash_during_snapshot_leaves_previous_generation(tmp_path: Path) -> None:
    store = make(tmp_path)
    await put(store, U1, "alice", "knows", "bob", now=1)
    await store.aclose()  # generation 1
    await put(store, U1, "alice", "likes", "tea", now=2)
    crash(store)
    d = graph_dir(store)
    (d / "snapshot-2.npy").write_bytes(b"partial")
    (d / "snapshot-2.json.tmp").write_text("{")
    (d / "manifest.json.tmp").write_text("{")
    again = make(tmp_path)
    assert again.stats()["generation"] == 1
    assert [r.triple for r in await again.get_all(U1)] == [("alice", "knows", "bob"), ("alice", "likes", "tea")]
    assert sorted(p.name for p in d.iterdir()) == ["manifest.json", "snapshot-1.json", "snapshot-1.npy", "wal-1.jsonl"]
    await again.aclose()


async def test_snapshot_every_bounds_the_log(tmp_path: Path) -> None:
    store = make(tmp_path, snapshot_every=4)
    for i in range(10):
        await put(store, U1, "alice", f"r{i}", "bob", now=i)
    stats = store.stats()
    assert stats["generation"] == 2 and stats["log_records"] == 2
    crash(store)
    again = make(tmp_path)
    assert len(await again.get_all(U1)) == 10
    await again.aclose()


async def test_reset_persists(tmp_path: Path) -> None:
    store = make(tmp_path)
    await put(store, U1, "a", "r", "b")
    await store.reset()
    crash(store)
    again = make(tmp_path)
    assert again.stats()["entities"] == 0 and again.stats()["dims"] is None
    await again.upsert(U1, [Entity("a", embedding=[1.0, 0.0])], [], now=ts(1))  # other dims are fine after reset
    await again.aclose()


async def test_shares_a_directory_with_the_vector_store(tmp_path: Path) -> None:
    vectors = FlatVectorStore(FlatVectorStore.Config(path=str(tmp_path)))
    graph = make(tmp_path)
    await vectors.insert([VectorRecord("m1", axis(0), {"data": "x", "user_id": "u1"})])
    await put(graph, U1, "alice", "knows", "bob")
    await vectors.aclose()
    await graph.aclose()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mem7_graph", "mem7_memories"]
    vectors2 = FlatVectorStore(FlatVectorStore.Config(path=str(tmp_path)))
    graph2 = make(tmp_path)
    assert len(vectors2) == 1
    assert len(await graph2.get_all(U1)) == 1
    await vectors2.aclose()
    await graph2.aclose()


async def test_hostile_text_round_trips_through_the_log(tmp_path: Path) -> None:
    names = ["it's", 'q"uote', "new\nline", "ключ-🚀", "\\", "}) DETACH DELETE n //"]
    store = make(tmp_path)
    scope = Scope(user_id='u"1\n', agent_id="🚀")
    ents = [Entity(n, f"type {n}", axis(i)) for i, n in enumerate(names)]
    rels = [rel(names[i], names[-1 - i], names[(i + 1) % len(names)]) for i in range(len(names))]
    await store.upsert(scope, ents, rels, now=ts(1))
    crash(store)
    again = make(tmp_path)
    assert sorted(r.triple for r in await again.get_all(scope)) == sorted(r.triple for r in rels)
    await again.aclose()  # snapshot
    third = make(tmp_path)
    assert sorted(r.triple for r in await third.get_all(scope)) == sorted(r.triple for r in rels)
    assert await third.entity_count(Scope(agent_id="🚀")) == len(names)
    await third.aclose()


def test_snapshot_rows_are_entities(tmp_path: Path) -> None:
    """The snapshot is one normalised embedding row per entity, aligned with its JSON payload."""

    async def run() -> None:
        store = make(tmp_path)
        await store.upsert(
            U1,
            [Entity("a", embedding=[3.0] + [0.0] * 7), Entity("b", embedding=axis(1))],
            [rel("a", "r", "b")],
            now=ts(1),
        )
        await store.aclose()

    asyncio.run(run())
    d = tmp_path / "mem7_graph"
    mat = np.load(d / "snapshot-1.npy")
    payloads = json.loads((d / "snapshot-1.json").read_text())["payloads"]
    assert mat.shape == (2, DIMS)
    assert np.allclose(np.linalg.norm(mat, axis=1), 1.0)
    assert [p["n"] for p in payloads] == ["a", "b"]
    assert payloads[0]["r"] == [["a", "r", "b", True, 1, ts(1), ts(1), None]]
