"""mem7-faiss beyond the conformance suite: processes sharing one directory, readers that write
nothing, the cache caught up from the change log (and rebuilt when pruned past), filter widening,
and configuration errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mem7_core import AsyncMemory, MemoryConfig
from mem7_core.errors import ConfigError
from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_faiss import FaissVectorStore


def _store(path: Path, **cfg: Any) -> FaissVectorStore:
    return FaissVectorStore(FaissVectorStore.Config.model_validate({"path": str(path), "fsync": False, **cfg}))


def _rec(id_: str, vec: list[float], **payload: Any) -> VectorRecord:
    return VectorRecord(id_, vec, {"user_id": "u", "data": id_, **payload})


# ------------------------------------------------------------------------------------ processes
WRITER = """
import asyncio, sys
from mem7_core.models import VectorRecord
from mem7_faiss import FaissVectorStore
path, tag = sys.argv[1], sys.argv[2]
async def main():
    store = FaissVectorStore(FaissVectorStore.Config(path=path, fsync=False))
    for b in range(10):
        await store.insert([
            VectorRecord(f"{tag}-{b}-{i}", [1.0, float(b), float(i), 0.5], {"user_id": "u", "data": tag, "b": b})
            for i in range(5)
        ])
        await store.rehearse(["shared"], f"2025-01-01T00:00:{b:02d}+00:00")
        await store.rehearse(["shared"], f"2025-01-01T00:01:{b:02d}+00:00")
    await store.delete([f"{tag}-0-0"])
    await store.aclose()
asyncio.run(main())
"""


async def test_two_processes_write_one_directory_and_see_each_other(tmp_path: Path) -> None:
    """Two writer processes and this one share the directory: no write is lost (inserts, deletes,
    rehearsals are read-modify-writes under the database's write lock), and this process's open
    store sees all of it on its next operation, with its FAISS cache caught up, not rebuilt."""
    here = _store(tmp_path)
    await here.insert([_rec("shared", [0.0, 0.0, 0.0, 1.0], access_count=0)])
    reloads = 0
    real_reload = here._reload

    def counting_reload() -> None:
        nonlocal reloads
        reloads += 1
        real_reload()

    here._reload = counting_reload  # type: ignore[method-assign]
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(tmp_path), tag) for tag in ("p1", "p2")
    ]
    assert [await asyncio.wait_for(p.wait(), 120) for p in procs] == [0, 0]

    ids = {r.id for r in await here.list(scope=Scope(user_id="u"))}
    expected = {"shared"} | {f"{t}-{b}-{i}" for t in ("p1", "p2") for b in range(10) for i in range(5)}
    assert ids == expected - {"p1-0-0", "p2-0-0"}
    (shared,) = await here.get(["shared"])
    assert shared.payload["access_count"] == 40  # 2 processes x 20 rehearsals, none lost
    hits = await here.search([1.0, 9.0, 4.0, 0.5], scope=Scope(user_id="u"), limit=2)
    assert {h.id for h in hits} == {"p1-9-4", "p2-9-4"}
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    hits = await here.search([1.0, 9.0, 4.0, 0.5], scope=Scope(user_id="u"), limit=1, filters=parse_filters({"data": "p2"}))
    assert [h.id for h in hits] == ["p2-9-4"]
    assert reloads == 0 and here.stats()["records"] == len(expected) - 2
    await here.aclose()


async def test_changes_since_reports_only_other_writers(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)
    start = await a.changes_since(None)
    assert start.changes == []
    await a.insert([_rec("own", [1.0, 0.0])])
    await b.insert([_rec("x", [0.0, 1.0], data="one")])
    await b.update("x", payload={"user_id": "u", "data": "two"})
    await b.delete(["own"])
    await a.rehearse(["x"], "2025-01-01T00:00:00+00:00")  # a's own write last: not news for a
    batch = await a.changes_since(start.cursor)
    assert batch.changes is not None
    seen = [(c.id, None if c.old is None else c.old["data"], None if c.new is None else c.new["data"]) for c in batch.changes]
    assert seen == [("x", None, "two"), ("own", "own", None)]
    assert (await a.changes_since(batch.cursor)).changes == []
    b_seen = await b.changes_since(None)
    await a.insert([_rec("later", [1.0, 1.0])])
    later = await b.changes_since(b_seen.cursor)
    assert [(c.id, c.old) for c in later.changes or []] == [("later", None)]
    await b.reset()
    assert (await a.changes_since(batch.cursor)).changes is None  # every cache must be dropped
    await a.aclose()
    await b.aclose()


async def test_a_cancelled_write_that_lands_drops_the_feed_readers_caches(tmp_path: Path) -> None:
    """The caller of a write was cancelled while the write waited for another process's lock: the
    write still commits (it is not interrupted half-way), the engine never updated its caches for
    it, and it is this process's own write (not in the feed): the feed must say "rebuild"."""
    import sqlite3

    store = _store(tmp_path)
    await store.insert([_rec("first", [1.0, 0.0])])
    cursor = (await store.changes_since(None)).cursor
    blocker = sqlite3.connect(tmp_path / "mem7_memories" / "mem7.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    task = asyncio.create_task(store.insert([_rec("late", [0.0, 1.0])]))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    blocker.execute("COMMIT")
    blocker.close()
    await store._runner.run(lambda: None)  # the write's job has finished
    assert [r.id for r in await store.get(["late"])] == ["late"]
    assert (await store.changes_since(cursor)).changes is None
    await store.aclose()


async def test_two_engines_keyword_index_follows_the_other_engine(tmp_path: Path) -> None:
    cfg = MemoryConfig.embedded(
        tmp_path,
        llm=None,
        embedder={"provider": "hash", "config": {"dims": 32}},
        vector_store={"provider": "faiss", "config": {"path": str(tmp_path / "faiss"), "fsync": False}},
        retrieval={"mode": "bm25"},
    )
    async with AsyncMemory(cfg) as a, AsyncMemory(cfg) as b:
        added = await a.add("I keep bees on the balcony", user_id="u", infer=False)
        mid = added["results"][0]["id"]
        await a.add("I collect old maps of Lisbon", user_id="u", infer=False)
        assert [r["memory"] for r in (await b.search("bees", user_id="u"))["results"]] == ["I keep bees on the balcony"]
        built = b.retriever.indexes.builds  # type: ignore[union-attr]
        await a.update(mid, "I keep chickens in the garden")
        got_b = (await b.search("chickens garden", user_id="u"))["results"]
        assert [r["id"] for r in got_b] == [mid]
        assert (await b.search("bees", user_id="u"))["results"] == []  # old keywords gone in b too
        assert b.retriever.indexes.builds == built  # type: ignore[union-attr]  # caught up, not rebuilt
        await b.delete(mid)
        assert (await a.search("chickens", user_id="u"))["results"] == []


READER = """
import asyncio, json, sys
from mem7_core.models import Scope
from mem7_faiss import FaissVectorStore
async def main():
    store = FaissVectorStore(FaissVectorStore.Config(path=sys.argv[1]))
    listed = await store.list(scope=Scope(user_id="u"))
    hits = await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=5)
    space = await store.embedding_space()
    await store.aclose()
    print(json.dumps([len(listed), [h.id for h in hits], None if space is None else space.dims]))
asyncio.run(main())
"""

_HASH_FILES = """
import hashlib, json, sys
from pathlib import Path
d = Path(sys.argv[1])
print(json.dumps({str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}))
"""


def _run(script: str, path: Path) -> Any:
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def _files(path: Path) -> dict[str, str]:
    """Hashes of every file, read by another process (closing a file this process has open in
    SQLite would drop its locks), without SQLite's shared-memory index (every WAL reader takes a
    read mark in it, by design)."""
    return {k: v for k, v in _run(_HASH_FILES, path).items() if not k.endswith("-shm")}


async def test_a_reader_process_writes_nothing(tmp_path: Path) -> None:
    writer = _store(tmp_path)
    await writer.insert([_rec("a", [1.0, 0.0]), _rec("b", [0.0, 1.0])])
    before = _files(tmp_path)
    assert _run(READER, tmp_path) == [2, ["a", "b"], 2]
    assert _files(tmp_path) == before
    await writer.aclose()
    assert _run(READER, tmp_path) == [2, ["a", "b"], 2]


def test_a_reader_on_an_empty_directory_creates_nothing(tmp_path: Path) -> None:
    assert _run(READER, tmp_path) == [0, [], None]
    assert list(tmp_path.rglob("*")) == []


async def test_a_store_behind_the_pruned_change_log_rebuilds_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mem7_faiss._db as db_module

    monkeypatch.setattr(db_module, "KEEP_CHANGES", 10)
    monkeypatch.setattr(db_module, "_PRUNE_EVERY", 5)
    a, b = _store(tmp_path), _store(tmp_path)
    await a.insert([_rec("first", [1.0, 0.0])])
    assert await b.count(scope=Scope(user_id="u")) == 1
    for i in range(40):
        await a.insert([_rec(f"m{i}", [1.0, float(i)])])
    await a.delete(["first"])
    assert b._db.conn is not None and int(b._db.meta("floor") or 0) > 1  # entries b never read are gone
    assert sorted(r.id for r in await b.list(scope=Scope(user_id="u"))) == sorted(f"m{i}" for i in range(40))
    assert await b.get(["first"]) == []
    await a.aclose()
    await b.aclose()


async def test_filters_widen_past_the_first_candidates(tmp_path: Path) -> None:
    """Only the three rows least like the query pass the filter: the store widens its FAISS ``k``
    until it has them (a store that filtered only its first candidates would return fewer)."""
    store = _store(tmp_path)
    rng = np.random.default_rng(7)
    q = np.array([1.0, 0.0, 0.0, 0.0])
    recs = []
    for i in range(600):
        v = q + rng.normal(0, 0.05, 4)
        recs.append(_rec(f"near{i}", v.tolist(), kind="near"))
    for i in range(3):
        recs.append(_rec(f"far{i}", [-1.0, float(i), 0.0, 0.0], kind="far"))
    await store.insert(recs)
    hits = await store.search(q.tolist(), scope=Scope(user_id="u"), limit=5, filters=parse_filters({"kind": "far"}))
    assert sorted(h.id for h in hits) == ["far0", "far1", "far2"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    await store.aclose()


async def test_agent_scope_across_users_reads_only_that_agent(tmp_path: Path) -> None:
    store = _store(tmp_path)
    await store.insert(
        [
            VectorRecord("a1", [1.0, 0.0], {"user_id": "u1", "agent_id": "bot"}),
            VectorRecord("a2", [1.0, 0.1], {"user_id": "u2", "agent_id": "bot"}),
            VectorRecord("x", [1.0, 0.0], {"user_id": "u1", "agent_id": "other"}),
            VectorRecord("y", [1.0, 0.0], {"agent_id": "bot", "run_id": "r"}),
        ]
    )
    hits = await store.search([1.0, 0.0], scope=Scope(agent_id="bot"), limit=10)
    assert sorted(h.id for h in hits) == ["a1", "a2", "y"]
    assert [h.id for h in await store.search([1.0, 0.0], scope=Scope(agent_id="bot", run_id="r"), limit=10)] == ["y"]
    assert await store.count(scope=Scope(user_id="u1", agent_id="bot")) == 1
    await store.delete(["a1", "a2", "x", "y"])
    assert store.stats()["indexes"] == 0  # emptied users' indexes are dropped
    await store.aclose()


async def test_a_search_runs_on_omp_threads_and_restores_the_setting(tmp_path: Path) -> None:
    import faiss

    seen: list[int] = []
    store = _store(tmp_path, omp_threads=1)
    await store.insert([_rec("a", [1.0, 0.0])])
    real_knn = store._knn

    def spying_knn(*args: Any) -> Any:
        seen.append(faiss.omp_get_max_threads())
        return real_knn(*args)

    store._knn = spying_knn  # type: ignore[method-assign]
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        assert [h.id for h in await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1)] == ["a"]
        assert faiss.omp_get_max_threads() == 2  # restored
        store.config.omp_threads = None
        await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1)
    finally:
        faiss.omp_set_num_threads(before)
    assert seen == [1, 2]
    await store.aclose()


def test_the_plugin_module_does_not_load_faiss_until_a_store_is_built() -> None:
    """The registry may import every plugin to list providers: faiss (its OpenMP and OpenBLAS)
    must not land in a process that uses another store."""
    code = (
        "import sys, mem7_faiss.plugin; a = 'faiss' in sys.modules; import tempfile; "
        "from mem7_faiss import FaissVectorStore as S; S(S.Config(path=tempfile.mkdtemp())); "
        "print(a, 'faiss' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "True"]


# ------------------------------------------------------------------------------------ config
def test_path_is_required() -> None:
    with pytest.raises(ConfigError, match=r"vector_store.config.path"):
        FaissVectorStore(FaissVectorStore.Config())


def test_a_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match=r"set vector_store.config.path to a writable directory"):
        _store(target)


async def test_configured_dims_must_match_the_stored_vectors(tmp_path: Path) -> None:
    store = _store(tmp_path)
    await store.insert([_rec("a", [1.0, 0.0, 0.0])])
    await store.aclose()
    other = _store(tmp_path, dims=4)
    with pytest.raises(ConfigError, match=r"use dims: 3"):
        await other.count(scope=Scope())
    with pytest.raises(ValueError, match=r"2 dims, the collection has 3"):
        await _store(tmp_path).insert([_rec("b", [1.0, 0.0])])
