"""mem7-chroma beyond the conformance suite: one process per embedded path (a second process is
refused, and sees the first one's acknowledged writes once it has closed), processes sharing a real
Chroma server, the ``where`` clauses sent to Chroma, and config errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import chromadb
import pytest
from pydantic import ValidationError

from mem7_chroma import ChromaVectorStore
from mem7_chroma.store import narrow, point_id, where_of
from mem7_core.errors import ConfigError
from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord

_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from mem7_chroma import ChromaVectorStore
    from mem7_core.models import VectorRecord

    async def main():
        cfg = ChromaVectorStore.Config.model_validate(json.loads(sys.argv[1]))
        store = ChromaVectorStore(cfg)
        await store.insert([VectorRecord(id=sys.argv[2], vector=[1.0, 0.0, 0.0], payload={"data": "from child", "user_id": "u"})])
        print("written", flush=True)
        sys.stdin.readline()  # hold the store open until told
        await store.aclose()

    asyncio.run(main())
    """
)


def _child(cfg: dict[str, object], mem7_id: str) -> subprocess.Popen[str]:
    import json

    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(cfg), mem7_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "written":
        proc.kill()
        raise AssertionError(f"child failed: {line} {proc.communicate()[1][-2000:]}")
    return proc


def _finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err[-2000:]


def _store(**cfg: object) -> ChromaVectorStore:
    return ChromaVectorStore(ChromaVectorStore.Config.model_validate(cfg))


async def test_second_process_on_an_embedded_path_is_refused_then_sees_the_writes(tmp_path: Path) -> None:
    cfg = {"path": str(tmp_path / "db")}
    proc = _child(cfg, "child-1")
    try:
        store = _store(**cfg)
        with pytest.raises(ConfigError, match=r"another process.*host/port"):
            await store.list(scope=Scope(user_id="u"))
        await store.aclose()
    finally:
        _finish(proc)
    store = _store(**cfg)  # the child closed it: its acknowledged write is on disk
    try:
        assert [(r.id, r.payload["data"]) for r in await store.list(scope=Scope(user_id="u"))] == [
            ("child-1", "from child")
        ]
    finally:
        await store.aclose()


async def test_stores_of_one_process_share_an_embedded_path(tmp_path: Path) -> None:
    a, b = _store(path=str(tmp_path / "db")), _store(path=str(tmp_path / "db"))
    try:
        await a.insert([VectorRecord(id="x", vector=[0.0, 1.0], payload={"user_id": "u"})])
        assert [r.id for r in await b.get(["x"])] == ["x"]
        await a.aclose()
        await b.delete(["x"])  # still open after the other one closed
        assert await b.get(["x"]) == []
    finally:
        await a.aclose()
        await b.aclose()


async def test_processes_share_a_chroma_server(chroma_server) -> None:
    cfg = {"host": chroma_server.host, "port": chroma_server.port, "collection_name": f"mp-{uuid.uuid4().hex[:10]}"}
    store = _store(**cfg)
    try:
        await store.insert([VectorRecord(id="parent", vector=[0.0, 1.0, 0.0], payload={"data": "p", "user_id": "u"})])
        proc = _child(cfg, "child-2")  # another process, open at the same time
        try:
            hits = await store.search([1.0, 0.0, 0.0], scope=Scope(user_id="u"), limit=2)
            assert [h.id for h in hits] == ["child-2", "parent"]
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        finally:
            _finish(proc)
    finally:
        await store.reset()
        await store.aclose()


def test_shared_by_processes_names_the_embedded_limit() -> None:
    assert "one process" in (ChromaVectorStore.shared_by_processes(ChromaVectorStore.Config(path="/x")) or "")
    assert ChromaVectorStore.shared_by_processes(ChromaVectorStore.Config(host="localhost")) is None


@pytest.mark.parametrize("cfg", [{}, {"path": "/x", "host": "h"}, {"path": " "}])
def test_config_needs_exactly_one_place(cfg: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="path"):
        ChromaVectorStore.Config.model_validate(cfg)


def test_config_rejects_a_collection_name_chroma_would_refuse() -> None:
    with pytest.raises(ValidationError, match="collection_name"):
        ChromaVectorStore.Config.model_validate({"path": "/x", "collection_name": "ab"})


async def test_a_collection_with_another_distance_is_refused(tmp_path: Path) -> None:
    raw = chromadb.PersistentClient(path=str(tmp_path / "db"), settings=chromadb.Settings(anonymized_telemetry=False))
    raw.create_collection("mem7_memories", configuration={"hnsw": {"space": "l2"}}, embedding_function=None)
    raw.close()
    store = _store(path=str(tmp_path / "db"))
    try:
        with pytest.raises(ConfigError, match="cosine"):
            await store.count(scope=Scope())
    finally:
        await store.aclose()


def test_where_clauses_push_down_scope_and_string_equality() -> None:
    f = parse_filters({"category": "food", "n": {"gt": 3}, "OR": [{"tag": {"in": ["a", "b"]}}, {"tag": "c"}]})
    assert where_of(Scope(user_id="u", run_id="r"), f) == {
        "$and": [
            {"p.user_id": {"$eq": "u"}},
            {"p.run_id": {"$eq": "r"}},
            {
                "$and": [
                    {"p.category": {"$eq": "food"}},
                    {"$or": [{"p.tag": {"$in": ["a", "b"]}}, {"p.tag": {"$eq": "c"}}]},
                ]
            },
        ]
    }
    # not narrowed (answered by the store's own check): NOT, numbers, an OR with an untranslatable branch
    assert narrow(parse_filters({"NOT": [{"category": "food"}]})) is None
    assert narrow(parse_filters({"n": 3})) is None
    assert narrow(parse_filters({"OR": [{"a": "x"}, {"b": {"contains": "y"}}]})) is None
    assert where_of(Scope(), None) is None


async def test_replaced_payload_leaves_no_stale_filter_field(tmp_path: Path) -> None:
    """Chroma merges metadata on upsert/update: the store must drop the fields of keys the new
    payload no longer has (else the narrowing fields would drift from the payload)."""
    store = _store(path=str(tmp_path / "db"))
    try:
        await store.insert([VectorRecord(id="r", vector=[1.0, 0.0], payload={"user_id": "u", "tag": "old", "x": "1"})])
        await store.insert([VectorRecord(id="r", vector=[1.0, 0.0], payload={"user_id": "u", "x": "2"})])

        def fields() -> list[str]:
            return sorted(store._collection.get(ids=[point_id("r")], include=["metadatas"])["metadatas"][0])

        assert fields() == ["mem7", "p.user_id", "p.x"]
        await store.update("r", payload={"user_id": "u"})
        assert fields() == ["mem7", "p.user_id"]
        assert await store.list(scope=Scope(user_id="u"), filters=parse_filters({"tag": "old"})) == []
    finally:
        await store.aclose()
