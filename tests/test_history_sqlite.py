"""SQLiteHistoryStore: the shared conformance suite (file and in-memory) plus SQLite specifics."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.history.sqlite import SQLiteHistoryStore
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import HistoryStore
from mem7_core.testing import HistoryConformance
from mem7_core.testing.history import make_event, write_events_worker


def _store(path: Path | str, **cfg: object) -> SQLiteHistoryStore:
    return SQLiteHistoryStore(SQLiteHistoryStore.Config.model_validate({"path": str(path), **cfg}))


class TestSQLiteFile(HistoryConformance):
    supports_persistence = True

    @pytest.fixture
    async def history_store(self, tmp_path):
        store = _store(tmp_path / "nested" / "dir" / "history.db")
        yield store
        await store.aclose()

    async def reopen(self, store: HistoryStore) -> HistoryStore:
        assert isinstance(store, SQLiteHistoryStore)
        await store.aclose()
        return _store(store.path)


class TestSQLiteMemory(HistoryConformance):
    @pytest.fixture
    async def history_store(self):
        store = _store(":memory:")
        yield store
        await store.aclose()


# ------------------------------------------------------------------------------- config / opening
def test_registered_as_builtin():
    registry = PluginRegistry(discover=False)
    assert registry.get("history_store", "sqlite") is SQLiteHistoryStore
    store = registry.create("history_store", "sqlite", {"path": ":memory:"})
    assert isinstance(store, SQLiteHistoryStore)


def test_config_defaults_and_validation():
    cfg = SQLiteHistoryStore.Config()
    assert cfg.path == "mem7_history.db"
    assert cfg.busy_timeout_ms == 5000
    with pytest.raises(ValidationError, match="busy_timeout_ms"):
        SQLiteHistoryStore.Config(busy_timeout_ms=-1)
    with pytest.raises(ValidationError, match="path"):
        SQLiteHistoryStore.Config(path="  ")
    with pytest.raises(ValidationError, match="nope"):
        SQLiteHistoryStore.Config.model_validate({"nope": 1})


def test_construction_touches_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "h.db"
    store = _store(target)
    assert not (tmp_path / "a").exists()
    asyncio.run(store.aclose())
    assert not (tmp_path / "a").exists()


OLD_SCHEMA = (  # the history table as mem7 created it before add(timestamp=...): no stated_at
    "CREATE TABLE history (id TEXT PRIMARY KEY, memory_id TEXT NOT NULL, old_memory TEXT, new_memory TEXT, "
    "event TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, "
    "actor_id TEXT, role TEXT)"
)


async def test_a_database_without_stated_at_is_migrated_in_place(tmp_path):
    target = tmp_path / "old.db"
    conn = sqlite3.connect(target)
    conn.execute(OLD_SCHEMA)
    conn.execute(
        "INSERT INTO history VALUES ('e-old', 'm', NULL, 'likes tea', 'ADD', '2024-01-01T00:00:00+00:00', "
        "NULL, 0, 'alice', 'user')"
    )
    conn.commit()
    conn.close()
    store = _store(target)
    try:
        new = make_event("m", "UPDATE", old="likes tea", new="likes green tea", stated_at="2023-05-08T13:56:00+00:00")
        await store.add_events([new])
        got = await store.get("m")
    finally:
        await store.aclose()
    assert [(e.id, e.actor_id, e.stated_at) for e in got] == [
        ("e-old", "alice", None),
        (new.id, None, "2023-05-08T13:56:00+00:00"),
    ]
    conn = sqlite3.connect(target)
    try:
        assert [r[1] for r in conn.execute("PRAGMA table_info(history)")][-1] == "stated_at"
    finally:
        conn.close()
    reopened = _store(target)  # a second open finds nothing to add
    try:
        assert [e.stated_at for e in await reopened.get("m")] == [None, "2023-05-08T13:56:00+00:00"]
    finally:
        await reopened.aclose()


async def test_creates_parent_dirs_wal_index(tmp_path):
    target = tmp_path / "x" / "y" / "h.db"
    store = _store(target)
    await store.add_events([make_event("m")])
    await store.aclose()
    assert target.is_file()
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = [r[1] for r in conn.execute("PRAGMA table_info(history)")]
        assert cols == [
            "id", "memory_id", "old_memory", "new_memory", "event",
            "created_at", "updated_at", "is_deleted", "actor_id", "role", "stated_at",
        ]
        indexed = {
            r[2] for name, in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
            for r in conn.execute(f"PRAGMA index_info({name!r})")
        }
        assert "memory_id" in indexed
        assert conn.execute("SELECT is_deleted FROM history").fetchone()[0] == 0
    finally:
        conn.close()


async def test_busy_timeout_applied(tmp_path):
    store = _store(tmp_path / "h.db", busy_timeout_ms=1234)
    await store.get("m")
    assert store._conn is not None
    assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    await store.aclose()


async def test_unwritable_path_is_config_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    store = _store(blocker / "sub" / "h.db")
    with pytest.raises(ConfigError, match=r"file.txt"):
        await store.add_events([make_event("m")])
    await store.aclose()


async def test_directory_path_is_config_error(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(ConfigError, match="directory"):
        await store.get("m")


async def test_not_a_database_is_config_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all, just some bytes" * 100)
    store = _store(junk)
    with pytest.raises(ConfigError, match=r"junk.db"):
        await store.get("m")
    await store.aclose()


async def test_duplicate_id_raises_provider_error(tmp_path):
    store = _store(tmp_path / "h.db")
    e = make_event("m")
    await store.add_events([e])
    with pytest.raises(ProviderError, match="sqlite"):
        await store.add_events([e])
    await store.aclose()


async def test_reads_mem0_shaped_table(tmp_path):
    """A file written by mem0 (same table and columns) is readable as is."""
    target = tmp_path / "mem0.db"
    conn = sqlite3.connect(target)
    conn.execute(
        "CREATE TABLE history (id TEXT PRIMARY KEY, memory_id TEXT, old_memory TEXT, new_memory TEXT,"
        " event TEXT, created_at DATETIME, updated_at DATETIME, is_deleted INTEGER, actor_id TEXT, role TEXT)"
    )
    conn.execute(
        "INSERT INTO history VALUES ('e1', 'm', NULL, 'hello', 'ADD', '2024-01-01T00:00:00', NULL, 0, NULL, NULL)"
    )
    conn.commit()
    conn.close()
    store = _store(target)
    [event] = await store.get("m")
    assert (event.id, event.new_memory, event.is_deleted) == ("e1", "hello", False)
    await store.aclose()


async def test_store_usable_again_after_aclose(tmp_path):
    store = _store(tmp_path / "h.db")
    e = make_event("m")
    await store.add_events([e])
    await store.aclose()
    assert [x.id for x in await store.get("m")] == [e.id]
    await store.aclose()


# ------------------------------------------------------------------------------- concurrency
def test_threads_with_separate_instances(tmp_path):
    path = tmp_path / "shared.db"
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        async def run() -> None:
            store = _store(path)
            try:
                barrier.wait()
                for i in range(100):
                    await store.add_events([make_event(f"m{t % 3}", id=f"t{t}-{i}", actor_id=f"t{t}")])
            finally:
                await store.aclose()

        try:
            asyncio.run(run())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 800
        per_thread = dict(conn.execute("SELECT actor_id, COUNT(*) FROM history GROUP BY actor_id").fetchall())
        assert per_thread == {f"t{t}": 100 for t in range(8)}
    finally:
        conn.close()


async def test_several_instances_in_one_loop(tmp_path):
    path = tmp_path / "h.db"
    stores = [_store(path) for _ in range(4)]
    events = [[make_event("m", id=f"s{s}-{i}") for i in range(25)] for s in range(4)]
    await asyncio.gather(*(st.add_events([e]) for st, evs in zip(stores, events) for e in evs))
    got = await stores[0].get("m")
    assert len(got) == 100
    for st in stores:
        await st.aclose()


def test_two_processes_same_file(tmp_path):
    path = tmp_path / "procs.db"
    ctx = multiprocessing.get_context("spawn")
    provider = f"{SQLiteHistoryStore.__module__}:{SQLiteHistoryStore.__name__}"
    procs = [
        ctx.Process(target=write_events_worker, args=(provider, {"path": str(path)}, "shared", 150, f"p{n}"))
        for n in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 300
        per_proc = dict(conn.execute("SELECT actor_id, COUNT(*) FROM history GROUP BY actor_id").fetchall())
        assert per_proc == {"p0": 150, "p1": 150}
    finally:
        conn.close()


def test_worker_helper_in_process(tmp_path):
    path = tmp_path / "w.db"
    write_events_worker("mem7_core.history.sqlite:SQLiteHistoryStore", {"path": str(path)}, "m", 3, "w")
    store = _store(path)

    async def read() -> list[str]:
        try:
            return [e.id for e in await store.get("m")]
        finally:
            await store.aclose()

    assert asyncio.run(read()) == ["w-0", "w-1", "w-2"]


def test_sync_memory_left_open_exits_without_a_closing_error(tmp_path):
    """A sync ``Memory`` never closed is closed by its finalizer at interpreter exit, when no new
    worker thread may start: the history store must still close cleanly, with nothing logged."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import logging
        logging.basicConfig(level=logging.WARNING)
        from mem7_core import Memory
        m = Memory({{"llm": None, "embedder": {{"provider": "hash"}}, "vector_store": {{"provider": "flat"}},
                    "history_store": {{"provider": "sqlite", "config": {{"path": {str(tmp_path / "h.db")!r}}}}}}})
        m.add("hello there", user_id="u", infer=False)
        print("added")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "added"
    assert done.stderr == ""
