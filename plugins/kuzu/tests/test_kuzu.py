"""Kuzu-specific behaviour: engine selection, path and lock errors, transactions, concurrency,
registration, and the conformance suite on ladybug (in a subprocess).

kuzu and ladybug crash when loaded into one process, so anything touching ladybug runs in a child
interpreter; this process only ever loads kuzu.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import Scope
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import Entity, GraphRelation
from mem7_kuzu import KuzuGraphStore
from mem7_kuzu._worker import Session

ROOT = Path(__file__).resolve().parents[3]
U1 = Scope(user_id="u1")
NOW = "2024-01-01T00:00:00.000000+00:00"


def _store(path: str | Path, **cfg: object) -> KuzuGraphStore:
    return KuzuGraphStore(KuzuGraphStore.Config.model_validate({"path": str(path), "max_num_threads": 2, **cfg}))


def _vec(i: int, dims: int = 8) -> list[float]:
    v = [0.0] * dims
    v[i % dims] = 1.0
    return v


def _python(code: str, *, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _have_ladybug() -> bool:
    from importlib.util import find_spec

    return find_spec("ladybug") is not None


# ------------------------------------------------------------------------------------- config
def test_config_defaults_and_db_alias() -> None:
    cfg = KuzuGraphStore.Config()
    assert (cfg.path, cfg.engine, cfg.buffer_pool_size) == (
        "mem7_graph.kuzu",
        "kuzu",
        0,
    )
    assert KuzuGraphStore.Config.model_validate({"db": "/tmp/x.kuzu"}).path == "/tmp/x.kuzu"


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"engine": "neo4j"}, "engine"),
        ({"path": "  "}, "path"),
        ({"buffer_pool_size": -1}, "buffer_pool_size"),
        ({"pth": "x"}, "pth"),
    ],
)
def test_bad_config_names_the_field(section: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        KuzuGraphStore.Config.model_validate(section)
    assert field in str(info.value)


async def test_registered_through_the_entry_point() -> None:
    registry = PluginRegistry()
    assert registry.get("graph_store", "kuzu") is KuzuGraphStore
    store = registry.create("graph_store", "kuzu", {"path": ":memory:"})
    assert isinstance(store, KuzuGraphStore) and store.config.path == ":memory:"
    await store.upsert(U1, [Entity("alice", embedding=_vec(0))], [], now=NOW)
    assert await store.entity_count(U1) == 1
    await store.aclose()


# ------------------------------------------------------------------------------------- paths
async def test_path_is_a_directory(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ConfigError, match="is a directory") as info:
        await store.entity_count(U1)
    assert str(tmp_path) in str(info.value)
    await store.aclose()


async def test_parent_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = _store(blocker / "graph.kuzu")
    with pytest.raises(ConfigError, match="path"):
        await store.entity_count(U1)
    await store.aclose()


async def test_not_a_database_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.kuzu"
    junk.write_bytes(b"not a database" * 500)
    store = _store(junk)
    with pytest.raises(ConfigError, match="cannot open path") as info:
        await store.entity_count(U1)
    assert str(junk) in str(info.value)
    await store.aclose()
    assert junk.read_bytes() == b"not a database" * 500  # left untouched


async def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "graph.kuzu"
    store = _store(path)
    await store.upsert(U1, [Entity("alice", embedding=_vec(0))], [], now=NOW)
    await store.aclose()
    assert path.is_file()


@pytest.fixture
def locked_path(tmp_path: Path) -> Iterator[Path]:
    """A database file held open by another process until the test ends."""
    path = tmp_path / "locked.kuzu"
    code = "import kuzu, sys; d = kuzu.Database(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield path
        holder.communicate("", timeout=30)


async def test_database_locked_by_another_process(locked_path: Path) -> None:
    store = _store(locked_path)
    with pytest.raises(ProviderError, match="locked by another process") as info:
        await store.entity_count(U1)
    assert info.value.provider == "kuzu"
    assert str(locked_path) in str(info.value)
    await store.aclose()


async def test_lock_released_by_the_other_process(tmp_path: Path) -> None:
    path = tmp_path / "g.kuzu"
    proc = _python(f"import kuzu; kuzu.Database({str(path)!r}).close()")
    assert proc.returncode == 0, proc.stderr
    store = _store(path)
    assert await store.entity_count(U1) == 0
    await store.aclose()


# ------------------------------------------------------------------------------------- lifecycle
async def test_closed_store_refuses_calls_and_aclose_is_idempotent(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path / "g.kuzu")
    await store.upsert(U1, [Entity("alice", embedding=_vec(0))], [], now=NOW)
    await store.aclose()
    await store.aclose()
    with pytest.raises(ProviderError, match="closed"):
        await store.entity_count(U1)
    never_opened = _store(tmp_path / "unused.kuzu")
    await never_opened.aclose()
    assert not (tmp_path / "unused.kuzu").exists()


async def test_jobs_run_off_the_event_loop_thread(tmp_path: Path) -> None:
    store = _store(tmp_path / "g.kuzu")
    loop_thread = threading.get_ident()
    ident = await store._worker.call(lambda s: threading.get_ident())
    assert ident != loop_thread
    await store.aclose()


async def test_failing_query_rolls_back_the_whole_call(tmp_path: Path) -> None:
    """A job whose second statement fails leaves nothing of its first one (one transaction)."""
    store = _store(tmp_path / "g.kuzu")
    await store.upsert(U1, [Entity("alice", embedding=_vec(0))], [], now=NOW)

    def job(s: Session) -> None:
        s.run("MATCH (e:Mem7Entity) SET e.mentions = e.mentions + 100")
        s.run("MATCH (e:Mem7Entity) RETURN e.no_such_property")

    with pytest.raises(ProviderError, match=r"\[kuzu\] query failed"):
        await store._worker.call(job, transaction=True)

    def raising(s: Session) -> None:
        s.run("MATCH (e:Mem7Entity) SET e.mentions = e.mentions + 100")
        raise ValueError("refused by the caller")

    with pytest.raises(ValueError, match="refused"):
        await store._worker.call(raising, transaction=True)
    # Still one mention: both jobs were rolled back, and the store keeps working.
    rows = await store._worker.call(lambda s: s.rows("MATCH (e:Mem7Entity) RETURN e.mentions"))
    assert rows == [[1]]
    await store.aclose()


async def test_embedding_validation(tmp_path: Path) -> None:
    store = _store(tmp_path / "g.kuzu")
    bad_embeddings: list[Any] = [[], [float("nan")] * 8, [[1.0, 2.0]], ["x"] * 8]
    for bad in bad_embeddings:
        with pytest.raises(ValueError, match="'alice'"):
            await store.upsert(U1, [Entity("alice", embedding=bad)], [], now=NOW)
    await store.upsert(U1, [Entity("alice", embedding=_vec(0))], [], now=NOW)
    with pytest.raises(ValueError, match="dimensions"):
        await store.search(U1, [[1.0, 0.0, 0.0]], threshold=0.5, limit=5)
    with pytest.raises(ValueError, match="equal-length"):
        await store.search(U1, [_vec(0), [1.0]], threshold=0.5, limit=5)
    assert await store.entity_count(U1) == 1
    await store.aclose()


# ------------------------------------------------------------------------------------- one file, many stores
async def test_stores_on_one_path_share_the_database(tmp_path: Path) -> None:
    """Two Database objects on one file lose each other's writes; two stores must not."""
    path = tmp_path / "g.kuzu"
    a, b = _store(path), _store(str(tmp_path / "." / "g.kuzu"))
    await a.upsert(
        U1,
        [Entity("alice", embedding=_vec(0)), Entity("bob", embedding=_vec(1))],
        [],
        now=NOW,
    )
    await b.upsert(U1, [], [GraphRelation("alice", "knows", "bob")], now=NOW)  # b sees a's entities
    assert [r.triple for r in await a.get_all(U1)] == [("alice", "knows", "bob")]
    await a.aclose()
    assert await b.entity_count(U1) == 2  # closing one store leaves the other working
    await b.upsert(U1, [Entity("carol", embedding=_vec(2))], [], now=NOW)
    await b.aclose()
    c = _store(path)
    assert await c.entity_count(U1) == 3  # every write of both stores reached the file
    await c.aclose()


async def test_reopen_while_the_previous_store_is_closing(tmp_path: Path) -> None:
    path = tmp_path / "g.kuzu"
    a = _store(path)
    await a.upsert(U1, [Entity(f"e{i}", embedding=_vec(i)) for i in range(5)], [], now=NOW)
    closing = asyncio.create_task(a.aclose())
    await asyncio.sleep(0)  # a has released its lease and is closing the database
    b = _store(path)
    assert b._worker._entry is not a._worker._entry  # a new database, opened after a's closed
    assert await b.entity_count(U1) == 5
    await closing
    await b.upsert(U1, [Entity("late", embedding=_vec(6))], [], now=NOW)
    await b.aclose()
    c = _store(path)
    assert await c.entity_count(U1) == 6
    await c.aclose()


async def test_embedding_cache_follows_writes_from_every_store_on_the_file(tmp_path: Path) -> None:
    """A caching store's search sees what a non-caching store on the same file wrote or deleted."""
    path = tmp_path / "g.kuzu"
    cached, plain = _store(path), _store(path, cache_embeddings=False)
    u2 = Scope(user_id="u2")
    await plain.upsert(U1, [Entity("alice", embedding=_vec(0)), Entity("tea", embedding=_vec(1))], [], now=NOW)
    await plain.upsert(U1, [], [GraphRelation("alice", "likes", "tea")], now=NOW)
    assert [r.triple for r in await cached.search(U1, [_vec(0)], threshold=0.9, limit=5)] == [
        ("alice", "likes", "tea")
    ]  # this search loaded the cache
    # a new entity, a replaced embedding, and another user, all written by the other store
    await plain.upsert(U1, [Entity("bob", embedding=_vec(2))], [GraphRelation("bob", "knows", "alice")], now=NOW)
    await plain.upsert(U1, [Entity("alice", embedding=_vec(3))], [], now=NOW)
    await plain.upsert(u2, [Entity("alice", embedding=_vec(0)), Entity("x", embedding=_vec(1))], [], now=NOW)
    await plain.upsert(u2, [], [GraphRelation("alice", "r", "x")], now=NOW)
    for store in (cached, plain):
        assert [r.triple for r in await store.search(U1, [_vec(2)], threshold=0.9, limit=5)] == [
            ("bob", "knows", "alice")
        ]
        assert await store.search(U1, [_vec(0)], threshold=0.9, limit=5) == []
        assert len(await store.search(U1, [_vec(3)], threshold=0.9, limit=5)) == 2
        assert [r.triple for r in await store.search(u2, [_vec(0)], threshold=0.9, limit=5)] == [("alice", "r", "x")]
    await plain.delete_all(u2)
    assert await cached.search(u2, [_vec(0)], threshold=0.0, limit=5) == []
    await plain.reset()
    assert await cached.search(U1, [_vec(2)], threshold=-1.0, limit=5) == []
    await plain.upsert(U1, [Entity("new", embedding=_vec(4))], [], now=NOW)
    await plain.upsert(U1, [Entity("z", embedding=_vec(5))], [GraphRelation("new", "r", "z")], now=NOW)
    assert [r.triple for r in await cached.search(U1, [_vec(4)], threshold=0.9, limit=5)] == [("new", "r", "z")]
    await cached.aclose()
    await plain.aclose()


async def test_cache_changes_apply_only_after_commit(tmp_path: Path) -> None:
    store = _store(tmp_path / "g.kuzu")
    applied: list[str] = []

    def failing(s: Session) -> None:
        s.after_commit(lambda: applied.append("failed job"))
        s.run("MATCH (e:Mem7Entity) RETURN e.no_such_property")

    with pytest.raises(ProviderError):
        await store._worker.call(failing, transaction=True)

    def refused(s: Session) -> None:
        s.after_commit(lambda: applied.append("refused job"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await store._worker.call(refused, transaction=True)
    await store._worker.call(lambda s: s.after_commit(lambda: applied.append("committed")), transaction=True)
    assert applied == ["committed"]
    await store.aclose()


def test_same_path_with_the_other_engine_is_refused(tmp_path: Path) -> None:
    """In a child process where neither engine is loaded yet (no database is opened)."""
    proc = _python(
        f"""
        from mem7_core.errors import ConfigError
        from mem7_kuzu import KuzuGraphStore
        path = {str(tmp_path / "g.kuzu")!r}
        a = KuzuGraphStore(KuzuGraphStore.Config(path=path))
        try:
            KuzuGraphStore(KuzuGraphStore.Config(path=path, engine="ladybug"))
        except ConfigError as exc:
            print("REFUSED:", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "already open in this process with engine 'kuzu'" in proc.stdout, proc.stdout


# ------------------------------------------------------------------------------------- concurrency
async def test_many_concurrent_tasks_do_not_corrupt_anything(tmp_path: Path) -> None:
    """Writers in 8 scopes, readers and invalidations, all interleaved on one store."""
    store = _store(tmp_path / "g.kuzu")
    users = [Scope(user_id=f"u{i}") for i in range(8)]
    rounds = 6

    async def writer(scope: Scope, r: int) -> None:
        entities = [Entity(f"e{k}", embedding=_vec(k)) for k in range(4)]
        relations = [GraphRelation(f"e{k}", "next", f"e{(k + 1) % 4}") for k in range(4)]
        relations.append(GraphRelation("e0", f"round_{r}", "e2"))
        await store.upsert(scope, entities, relations, now=f"2024-01-01T00:00:{r:02d}.000000+00:00")

    async def reader(scope: Scope) -> None:
        for rel in await store.search(scope, [_vec(0)], threshold=0.9, limit=100):
            assert rel.source == "e0" or rel.destination == "e0"
        await store.get_all(scope)

    tasks = []
    for r in range(rounds):
        for scope in users:
            tasks.append(writer(scope, r))
            tasks.append(reader(scope))
    await asyncio.gather(*tasks)
    await asyncio.gather(*(store.invalidate(s, [GraphRelation("e0", "round_0", "e2")], now=NOW) for s in users))

    for scope in users:
        assert await store.entity_count(scope) == 4
        rels = {r.triple: r.mentions for r in await store.get_all(scope)}
        expected = {(f"e{k}", "next", f"e{(k + 1) % 4}"): rounds for k in range(4)}
        expected.update({("e0", f"round_{r}", "e2"): 1 for r in range(1, rounds)})
        assert rels == expected
    assert await store.entity_count(Scope()) == 4 * len(users)
    await store.aclose()


# ------------------------------------------------------------------------------------- engines
def test_engine_refused_when_the_other_package_is_loaded() -> None:
    """Each direction in its own child process: the refused package must never get imported."""
    code = """
        import asyncio, sys
        import {loaded}
        from mem7_core.errors import ConfigError
        from mem7_kuzu import KuzuGraphStore
        try:
            KuzuGraphStore(KuzuGraphStore.Config(path=":memory:", engine="{wanted}"))
        except ConfigError as exc:
            assert "{wanted}" not in sys.modules, "refused engine was imported"
            print("REFUSED:", exc)
        else:
            print("NOT REFUSED")
    """
    pairs = [("kuzu", "ladybug")] + ([("ladybug", "kuzu")] if _have_ladybug() else [])
    for loaded, wanted in pairs:
        proc = _python(code.format(loaded=loaded, wanted=wanted))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("REFUSED:"), proc.stdout + proc.stderr
        assert f"engine '{wanted}'" in proc.stdout and f"'{loaded}' is already imported" in proc.stdout


def test_engine_check_also_runs_at_first_use() -> None:
    """A store built before the other engine got imported still refuses instead of crashing."""
    proc = _python(
        """
        import asyncio, sys
        from mem7_core.errors import ConfigError
        from mem7_core.models import Scope
        from mem7_kuzu import KuzuGraphStore
        store = KuzuGraphStore(KuzuGraphStore.Config(path=":memory:", engine="ladybug"))
        import kuzu
        async def main():
            try:
                await store.entity_count(Scope(user_id="u"))
            except ConfigError as exc:
                assert "ladybug" not in sys.modules
                print("REFUSED:", exc)
            finally:
                await store.aclose()
        asyncio.run(main())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("REFUSED:"), proc.stdout + proc.stderr


@pytest.mark.skipif(
    not _have_ladybug(),
    reason="ladybug is not installed (pip install 'mem7-kuzu[ladybug]')",
)
def test_conformance_suite_on_ladybug() -> None:
    """The whole conformance module, rerun in a child pytest with MEM7_KUZU_ENGINE=ladybug."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(Path(__file__).with_name("test_conformance.py")),
            "-q",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "MEM7_KUZU_ENGINE": "ladybug"},
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail


@pytest.mark.skipif(
    not _have_ladybug(),
    reason="ladybug is not installed (pip install 'mem7-kuzu[ladybug]')",
)
async def test_kuzu_file_is_refused_by_ladybug(tmp_path: Path) -> None:
    path = tmp_path / "written_by_kuzu.kuzu"
    store = _store(path)
    await store.upsert(U1, [Entity("alice", embedding=_vec(0))], [], now=NOW)
    await store.aclose()
    proc = _python(
        """
        import asyncio, sys
        from mem7_core.errors import ConfigError
        from mem7_core.models import Scope
        from mem7_kuzu import KuzuGraphStore
        async def main():
            store = KuzuGraphStore(KuzuGraphStore.Config(path=sys.argv[1], engine="ladybug"))
            try:
                await store.entity_count(Scope(user_id="u1"))
            except ConfigError as exc:
                print("REFUSED:", exc)
            else:
                print("OPENED")
            await store.aclose()
        asyncio.run(main())
        """.replace("sys.argv[1]", repr(str(path)))
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("REFUSED:") and "engine 'ladybug'" in proc.stdout, proc.stdout
