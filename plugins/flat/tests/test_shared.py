"""The persisted flat store as a store of record shared by processes (issue 14).

- its own history passes the history conformance suite, and commits with the vectors atomically;
- a directory written by the format-1 code (snapshot + JSON-lines log + history.db) is migrated on
  first open, by any kind of operation, once;
- two engines (two store instances, as two processes would have) on one directory see each other's
  writes on their next operation, keyword indexes included (through ``changes_since``);
- a process that only reads leaves every file of the directory byte-identical.

Engines in other OS processes are exercised by tests/reliability (CLI, server, kill -9).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mem7_core import AsyncMemory, MemoryConfig
from mem7_core.errors import MemoryNotFoundError
from mem7_core.models import HistoryEvent, Scope, VectorRecord
from mem7_core.providers import HistoryStore, WriteBatch
from mem7_core.testing import HistoryConformance
from mem7_flat import FlatVectorStore
from mem7_flat.history import FlatHistoryStore

FORMAT1 = Path(__file__).with_name("data") / "format1_datadir"
"""Written by mem7-flat 0.1.0 before the shared store (the code at commit ca4a623): hash embedder
(32 dims), six adds, an update, a delete, snapshots every 3 writes, a log tail, history.db."""


def _store(path: Path, **cfg: Any) -> FlatVectorStore:
    return FlatVectorStore(FlatVectorStore.Config.model_validate({"path": str(path), **cfg}))


def _config(data: Path, **over: Any) -> MemoryConfig:
    return MemoryConfig.embedded(data, llm=None, embedder={"provider": "hash", "config": {"dims": 32}}, **over)


_HASH_FILES = """
import hashlib, json, sys
from pathlib import Path
d = Path(sys.argv[1])
print(json.dumps({str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}))
"""


def _files(directory: Path) -> dict[str, str]:
    """Every file's hash, read by another process: opening and closing a database file in a
    process that holds a SQLite connection to it drops that connection's POSIX locks."""
    out = subprocess.run([sys.executable, "-c", _HASH_FILES, str(directory)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _event(memory_id: str, event: str = "ADD", text: str = "x") -> HistoryEvent:
    from mem7_core.ids import uuid7

    return HistoryEvent(
        id=uuid7(), memory_id=memory_id, old_memory=None, new_memory=text, event=event,  # type: ignore[arg-type]
        created_at="2025-01-01T00:00:00+00:00", updated_at="2025-01-01T00:00:00+00:00",
        is_deleted=event == "DELETE", actor_id=None, role=None,
    )


# ------------------------------------------------------------------------------------ own history
class TestFlatOwnHistory(HistoryConformance):
    supports_persistence = True

    @pytest.fixture
    async def history_store(self, tmp_path: Path):
        store = _store(tmp_path / "vectors")
        history = store.own_history()
        assert history is not None
        history._owner = store  # type: ignore[attr-defined]  # keep the store alive with it
        yield history
        await store.aclose()

    async def reopen(self, store: HistoryStore) -> HistoryStore:
        assert isinstance(store, FlatHistoryStore)
        owner: FlatVectorStore = store._owner  # type: ignore[attr-defined]
        await owner.aclose()
        again = FlatVectorStore(owner.config)
        history = again.own_history()
        assert history is not None
        history._owner = again  # type: ignore[attr-defined]
        return history


def test_in_memory_store_has_no_own_history() -> None:
    store = FlatVectorStore()
    assert store.own_history() is None
    assert not store.capabilities.atomic_history and not store.capabilities.change_feed


async def test_commit_is_all_or_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    history = store.own_history()
    assert history is not None
    await store.commit(WriteBatch(inserts=[VectorRecord("a", [1.0, 0.0], {"user_id": "u", "data": "a"})], events=[_event("a")]))
    with pytest.raises(MemoryNotFoundError):
        await store.commit(
            WriteBatch(
                inserts=[VectorRecord("b", [0.0, 1.0], {"user_id": "u", "data": "b"})],
                updates=[VectorRecord("missing", None, {"user_id": "u"})],  # type: ignore[arg-type]
                deletes=["a"],
                events=[_event("b"), _event("a", "DELETE")],
            )
        )
    # Nothing of the failed batch: not the insert, not the delete, not its events, in this
    # instance and in a fresh one.
    for s in (store, _store(tmp_path)):
        assert [r.id for r in await s.get(["a", "b"])] == ["a"]
    assert [e.event for e in await history.get("a")] == ["ADD"] and await history.get("b") == []


async def test_rehearse_is_one_atomic_increment_per_call(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)
    await a.insert([VectorRecord("m", [1.0, 0.0], {"user_id": "u", "data": "old", "access_count": 0})])
    await b.update("m", payload={"user_id": "u", "data": "new words", "access_count": 0})  # another process edits
    await a.rehearse(["m", "gone"], "2025-01-01T00:00:00+00:00")  # a's cache still had "old"
    await b.rehearse(["m"], "2025-01-02T00:00:00+00:00")
    for s in (a, b, _store(tmp_path)):
        (rec,) = await s.get(["m"])
        assert rec.payload["data"] == "new words"  # the rehearsal did not undo b's edit
        assert rec.payload["access_count"] == 2 and rec.payload["last_accessed_at"] == "2025-01-02T00:00:00+00:00"


# ------------------------------------------------------------------------------------ two instances
async def test_second_instance_sees_every_write_on_its_next_operation(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    a, b = _store(tmp_path), _store(tmp_path)
    vecs = rng.standard_normal((50, 8)).astype(np.float32)
    await a.insert([VectorRecord(f"m{i}", vecs[i].tolist(), {"user_id": f"u{i % 3}", "data": f"t{i}"}) for i in range(50)])
    assert len(b) == 50 and await b.count(scope=Scope(user_id="u1")) == 17
    hits_a = await a.search(vecs[7].tolist(), scope=Scope(user_id="u1"), limit=5)
    hits_b = await b.search(vecs[7].tolist(), scope=Scope(user_id="u1"), limit=5)
    assert [(h.id, round(h.score, 6)) for h in hits_a] == [(h.id, round(h.score, 6)) for h in hits_b]
    await b.update("m7", payload={"user_id": "u2", "data": "moved"})  # moves scope
    await b.delete(["m1", "m4"])
    assert await a.count(scope=Scope(user_id="u1")) == 14
    assert [r.payload["data"] for r in await a.get(["m7"])] == ["moved"]
    await a.reset()
    assert len(b) == 0 and await b.list(scope=Scope()) == []
    await b.insert([VectorRecord("after", [1.0] * 8, {"user_id": "u"})])
    assert [r.id for r in await a.list(scope=Scope())] == ["after"]


async def test_changes_since_reports_only_other_writers(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)
    start = await a.changes_since(None)
    assert start.changes == []
    await a.insert([VectorRecord("own", [1.0, 0.0], {"user_id": "u", "data": "own"})])
    await b.insert([VectorRecord("x", [0.0, 1.0], {"user_id": "u", "data": "one"})])
    await b.update("x", payload={"user_id": "u", "data": "two"})
    await b.delete(["own"])
    batch = await a.changes_since(start.cursor)
    assert batch.changes is not None
    seen = [(c.id, None if c.old is None else c.old["data"], None if c.new is None else c.new["data"]) for c in batch.changes]
    # b's three writes, read in one catch-up (the put superseded by the update is folded into it)
    assert seen == [("x", None, "two"), ("own", "own", None)]
    assert (await a.changes_since(batch.cursor)).changes == []
    await b.reset()
    assert (await a.changes_since(batch.cursor)).changes is None  # every cache must be dropped


async def test_two_engines_keyword_index_follows_the_other_engine(tmp_path: Path) -> None:
    cfg = _config(tmp_path, retrieval={"mode": "bm25"})
    async with AsyncMemory(cfg) as a, AsyncMemory(cfg) as b:
        added = await a.add("I keep bees on the balcony", user_id="u", infer=False)
        mid = added["results"][0]["id"]
        await a.add("I collect old maps of Lisbon", user_id="u", infer=False)
        assert [r["memory"] for r in (await b.search("bees", user_id="u"))["results"]] == ["I keep bees on the balcony"]
        built = b.retriever.indexes.builds  # type: ignore[union-attr]
        await a.update(mid, "I keep chickens in the garden")
        got_b = (await b.search("chickens garden", user_id="u"))["results"]
        got_a = (await a.search("chickens garden", user_id="u"))["results"]
        assert [r["id"] for r in got_b] == [r["id"] for r in got_a] == [mid]
        assert [r["score"] for r in got_b] == [r["score"] for r in got_a]
        assert (await b.search("bees", user_id="u"))["results"] == []  # old keywords gone in b too
        assert b.retriever.indexes.builds == built  # type: ignore[union-attr]  # caught up, not rebuilt
        assert b.retriever.indexes.caught_up >= 1  # type: ignore[union-attr]
        await b.delete(mid)
        assert (await a.search("chickens", user_id="u"))["results"] == []
        assert (await a.history(mid))[-1]["event"] == "DELETE"


async def test_history_and_store_commit_together_through_the_engine(tmp_path: Path) -> None:
    async with AsyncMemory(_config(tmp_path)) as mem:
        assert mem._atomic and isinstance(mem.history_store, FlatHistoryStore)
        r = await mem.add("first fact", user_id="u", infer=False)
        mid = r["results"][0]["id"]
        await mem.update(mid, "second fact")
        await mem.delete(mid)
        assert [e["event"] for e in await mem.history(mid)] == ["ADD", "UPDATE", "DELETE"]
    db = tmp_path / "vectors" / "mem7_memories" / "mem7.db"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["mem7.db"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM history").fetchone() == (3,)


# ------------------------------------------------------------------------------------ readers
READER = """
import asyncio, json, sys
from mem7_core import AsyncMemory, MemoryConfig
cfg = MemoryConfig.embedded(sys.argv[1], llm=None, embedder={"provider": "hash", "config": {"dims": 32}})
async def main():
    async with AsyncMemory(cfg) as mem:
        out = await mem.get_all(user_id="alice")
        hits = await mem.search("Lisbon", user_id="alice")
        hist = await mem.history(out["results"][0]["id"]) if out["results"] else []
        print(json.dumps([len(out["results"]), len(hits["results"]), len(hist)]))
asyncio.run(main())
"""


def _read_in_a_process(data: Path) -> list[int]:
    out = subprocess.run([sys.executable, "-c", READER, str(data)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


async def _two_memories(data: Path) -> Path:
    """``data``, a data dir holding two memories of alice's (Lisbon, maps), closed."""
    async with AsyncMemory(_config(data)) as mem:
        await mem.add("I live in Lisbon", user_id="alice", infer=False)
        await mem.add("I like maps", user_id="alice", infer=False)
    return data


async def test_a_reader_process_leaves_the_files_byte_identical(tmp_path: Path) -> None:
    data = await _two_memories(tmp_path / "data")
    before = _files(data)
    assert _read_in_a_process(data) == [2, 2, 1]
    assert _files(data) == before
    # with a writer still open (its connection, WAL and shared memory files present)
    async with AsyncMemory(_config(data)) as writer:
        await writer.add("I surf", user_id="alice", infer=False)
        during = _files(data)
        assert _read_in_a_process(data) == [3, 3, 1]
        # The database and its WAL are untouched. The -shm file is SQLite's shared-memory index
        # (read marks and locks, rebuilt from the WAL, deleted on the last close): every reader
        # of a WAL database takes a read mark in it, by design, so it is not compared.
        after = _files(data)
        assert {k: v for k, v in after.items() if not k.endswith("-shm")} == {k: v for k, v in during.items() if not k.endswith("-shm")}
        assert after.keys() == during.keys()


READ_ONLY_READER = """
import asyncio, json, sys
from mem7_core import AsyncMemory, MemoryConfig
from mem7_core.errors import ConfigError, StorageError
def cfg(ok):
    return MemoryConfig.embedded(sys.argv[1], llm=None, embedder={"provider": "hash", "config": {"dims": 32}},
                                 vector_store={"config": {"read_only_ok": ok}})
async def main():
    try:
        AsyncMemory(cfg(False))
    except ConfigError as exc:
        refused = str(exc)
    async with AsyncMemory(cfg(True)) as mem:
        out = await mem.get_all(user_id="alice")
        hits = await mem.search("Lisbon", user_id="alice")
        hist = await mem.history(out["results"][0]["id"])
        try:
            await mem.add("I surf", user_id="alice", infer=False)
        except StorageError as exc:
            failed = [exc.store, str(exc)]
    print(json.dumps([len(out["results"]), len(hits["results"]), len(hist), refused, failed]))
asyncio.run(main())
"""


def _unprivileged() -> list[str]:
    """A command prefix under which a directory without write permission cannot be written: as
    root, ``setpriv`` drops the capabilities that override file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): no directory is read-only to this process")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


async def test_read_only_ok_reads_a_directory_it_cannot_write(tmp_path: Path) -> None:
    # User trial: `mem7 list` on a data dir the user may not write was refused (issue 16's check
    # at open), though it writes nothing. With read_only_ok it reads; a write fails naming the store.
    data = await _two_memories(tmp_path / "data")
    before = _files(data)
    modes = {p: p.stat().st_mode for p in [data, *data.rglob("*")]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        def read() -> list[Any]:
            out = subprocess.run([*_unprivileged(), sys.executable, "-c", READ_ONLY_READER, str(data)],
                                 capture_output=True, text=True, timeout=120, check=False)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)

        # no writer about: only mem7.db in a read-only directory (SQLite reads it as immutable)
        assert _files(data).keys() == {"vectors/mem7_memories/mem7.db"}
        results, hits, hist, refused, (store, failed) = read()
        assert (results, hits, hist) == (2, 2, 1)
        assert "vector_store.config.path" in refused and "Read-only" in refused
        assert store == "vector_store:flat" and "Read-only" in failed
        assert _files(data) == before
        # a writer that could still write (its files open) commits; the reader sees it (mode=ro)
        for p in modes:
            p.chmod(modes[p])
        async with AsyncMemory(_config(data)) as writer:
            await writer.add("I swim in Lisbon", user_id="alice", infer=False)
            for p in [data, *data.rglob("*")]:
                p.chmod(0o555 if p.is_dir() else 0o444)
            assert read()[0] == 3
    finally:
        for p in [data, *data.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


async def test_a_reader_that_never_closes_exits_without_a_warning(tmp_path: Path) -> None:
    # User trial: a script reading with Memory() and not closing it (as mem0's docs do) printed
    # "closing <FlatVectorStore vector_store:flat> failed: can't register atexit after shutdown" at
    # exit: closing started the writer thread, never used, to close a connection never opened.
    data = await _two_memories(tmp_path / "data")
    script = (
        "import sys\nfrom mem7_core import Memory, MemoryConfig\n"
        "m = Memory(MemoryConfig.embedded(sys.argv[1], llm=None, embedder={'provider': 'hash', 'config': {'dims': 32}}))\n"
        "print(len(m.get_all(user_id='alice')['results']))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(data)], capture_output=True, text=True, timeout=120, check=False)
    assert (out.returncode, out.stdout, out.stderr) == (0, "2\n", "")


def test_a_reader_on_an_empty_directory_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "empty"
    data.mkdir()
    assert _read_in_a_process(data) == [0, 0, 0]
    assert list(data.rglob("*")) == []


# ------------------------------------------------------------------------------------ migration
async def test_format1_directory_is_migrated_on_first_open(tmp_path: Path) -> None:
    data = tmp_path / "old"
    shutil.copytree(FORMAT1, data)
    ids = json.loads((data / "ids.json").read_text())
    old_history = hashlib.sha256((data / "history.db").read_bytes()).hexdigest()
    async with AsyncMemory(_config(data)) as mem:
        alice = {r["id"]: r["memory"] for r in (await mem.get_all(user_id="alice"))["results"]}
        bob = {r["id"]: r["memory"] for r in (await mem.get_all(user_id="bob"))["results"]}
        assert alice == {ids["I live in Lisbon"]: "I live in Lisbon", ids["My sister is called Ana"]: "My sister is called Ana",
                         ids["I drive a blue car"]: "I drive a red car"}  # the update, from the log tail
        assert bob == {ids["I am allergic to nuts"]: "I am allergic to nuts", ids["Coffee with oat milk"]: "Coffee with oat milk"}
        assert ids["I surf every weekend"] not in bob  # the delete, from the log tail
        assert [e["event"] for e in await mem.history(ids["I drive a blue car"])] == ["ADD", "UPDATE"]
        assert [e["event"] for e in await mem.history(ids["I surf every weekend"])] == ["ADD", "DELETE"]
        hits = (await mem.search("Lisbon", user_id="alice"))["results"]
        assert hits[0]["id"] == ids["I live in Lisbon"]
        new = (await mem.add("I moved to Porto", user_id="alice", infer=False))["results"][0]["id"]
    coll = data / "vectors" / "mem7_memories"
    assert sorted(p.name for p in coll.iterdir()) == ["format1", "mem7.db"]  # old files kept aside
    assert sorted(p.name for p in (coll / "format1").iterdir()) == ["manifest.json", "snapshot-2.json", "snapshot-2.npy", "wal-2.jsonl"]
    assert hashlib.sha256((data / "history.db").read_bytes()).hexdigest() == old_history  # left as it was
    async with AsyncMemory(_config(data)) as again:  # a second open migrates nothing twice
        assert len((await again.get_all(user_id="alice"))["results"]) == 4
        assert [e["event"] for e in await again.history(ids["I drive a blue car"])] == ["ADD", "UPDATE"]
        assert [e["event"] for e in await again.history(new)] == ["ADD"]


def test_format1_directory_migrated_by_a_reader_process(tmp_path: Path) -> None:
    data = tmp_path / "old"
    shutil.copytree(FORMAT1, data)
    assert _read_in_a_process(data) == [3, 3, 1]  # list, search, history: all there on first open
    assert (data / "vectors" / "mem7_memories" / "mem7.db").is_file()
    before = _files(data)
    assert _read_in_a_process(data) == [3, 3, 1]
    assert _files(data) == before  # migration happened once; now a reader writes nothing


async def test_a_reader_behind_the_pruned_change_log_reloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mem7_flat._db as db_module

    monkeypatch.setattr(db_module, "KEEP_CHANGES", 10)
    monkeypatch.setattr(db_module, "_PRUNE_EVERY", 5)
    a, b = _store(tmp_path), _store(tmp_path)
    await a.insert([VectorRecord("first", [1.0, 0.0], {"user_id": "u", "data": "first"})])
    cursor = (await b.changes_since(None)).cursor
    assert len(b) == 1
    for i in range(40):
        await a.insert([VectorRecord(f"m{i}", [1.0, float(i)], {"user_id": "u", "data": f"m{i}"})])
    await a.delete(["first"])
    assert b._db is not None and b._db.conn is not None
    assert int(b._db.meta("floor") or 0) > 1  # entries b never read are gone
    assert (await b.changes_since(cursor)).changes is None  # so b reloaded, and says so
    assert len(b) == 40 and await b.get(["first"]) == []
    assert sorted(r.id for r in await b.list(scope=Scope(user_id="u"))) == sorted(f"m{i}" for i in range(40))


async def test_auto_history_falls_back_to_sqlite_for_an_in_memory_store(tmp_path: Path) -> None:
    from mem7_core.history.sqlite import SQLiteHistoryStore

    cfg = {"llm": None, "embedder": {"provider": "hash"}, "vector_store": {"provider": "flat"},
           "history_store": {"provider": "auto", "config": {"path": str(tmp_path / "h.db")}}}
    async with AsyncMemory(cfg) as mem:
        assert not mem._atomic and isinstance(mem.history_store, SQLiteHistoryStore)
        mid = (await mem.add("kept in sqlite", user_id="u", infer=False))["results"][0]["id"]
        assert [e["event"] for e in await mem.history(mid)] == ["ADD"]
    assert (tmp_path / "h.db").is_file()
