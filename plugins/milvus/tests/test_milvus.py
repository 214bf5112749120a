"""mem7-milvus beyond the conformance suite: one process per Milvus Lite path (a second process is
refused, and sees the first one's acknowledged writes once it has gone, even when it was killed),
processes sharing a Milvus server, the expressions sent to Milvus (and that Milvus answers them as
the reference does), and config errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from pymilvus import DataType, MilvusClient

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.filters import evaluate, parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.providers import EmbeddingSpace
from mem7_milvus import MilvusVectorStore
from mem7_milvus._filters import project, translate, where

_CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from mem7_milvus import MilvusVectorStore
    from mem7_core.models import VectorRecord

    async def main():
        cfg = MilvusVectorStore.Config.model_validate(json.loads(sys.argv[1]))
        store = MilvusVectorStore(cfg)
        await store.insert([VectorRecord(id=sys.argv[2], vector=[1.0, 0.0, 0.0], payload={"data": "from child", "user_id": "u"})])
        print("written", flush=True)
        if sys.stdin.readline().strip() == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: only what was acknowledged
        await store.aclose()

    asyncio.run(main())
    """
)


def _child(cfg: dict[str, object], mem7_id: str) -> subprocess.Popen[str]:
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


def _finish(proc: subprocess.Popen[str], how: str = "close") -> None:
    _, err = proc.communicate(how + "\n", timeout=60)
    if how == "kill":
        assert proc.returncode == -9, err[-2000:]
    else:
        assert proc.returncode == 0, err[-2000:]


def _store(**cfg: object) -> MilvusVectorStore:
    return MilvusVectorStore(MilvusVectorStore.Config.model_validate(cfg))


async def _listed(store: MilvusVectorStore) -> list[tuple[str, str]]:
    return [(r.id, r.payload["data"]) for r in await store.list(scope=Scope(user_id="u"))]


# ------------------------------------------------------------------ processes
async def test_second_process_on_a_lite_path_is_refused_then_sees_the_writes(tmp_path: Path) -> None:
    cfg = {"uri": str(tmp_path / "m.db")}
    proc = _child(cfg, "child-1")
    try:
        store = _store(**cfg)
        with pytest.raises(ConfigError, match=r"another process.*Milvus server"):
            await store.list(scope=Scope(user_id="u"))
        await store.aclose()
    finally:
        _finish(proc)
    store = _store(**cfg)  # the child closed it: its acknowledged write is on disk
    try:
        assert await _listed(store) == [("child-1", "from child")]
    finally:
        await store.aclose()


async def test_an_acknowledged_write_survives_the_writer_being_killed(tmp_path: Path) -> None:
    cfg = {"uri": str(tmp_path / "m.db")}
    _finish(_child(cfg, "killed-1"), "kill")
    store = _store(**cfg)
    try:
        assert await _listed(store) == [("killed-1", "from child")]
    finally:
        await store.aclose()


async def test_stores_of_one_process_share_a_lite_path(tmp_path: Path) -> None:
    a, b = _store(uri=str(tmp_path / "m.db")), _store(uri=str(tmp_path / "m.db"))
    try:
        await a.insert([VectorRecord(id="x", vector=[0.0, 1.0], payload={"user_id": "u"})])
        assert [r.id for r in await b.get(["x"])] == ["x"]
        await a.aclose()
        await b.delete(["x"])  # still open after the other one closed
        assert await b.get(["x"]) == []
    finally:
        await a.aclose()
        await b.aclose()


async def test_processes_share_a_milvus_server(milvus_server) -> None:
    cfg = {"uri": milvus_server.uri, "collection_name": f"mp_{uuid.uuid4().hex[:10]}"}
    store = _store(**cfg)
    try:
        await store.insert([VectorRecord(id="parent", vector=[0.0, 1.0, 0.0], payload={"data": "p", "user_id": "u"})])
        proc = _child(cfg, "child-2")  # another process, open at the same time
        try:
            hits = await store.search([1.0, 0.0, 0.0], scope=Scope(user_id="u"), limit=2)
            assert [h.id for h in hits] == ["child-2", "parent"]
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        finally:
            _finish(proc, "kill")
        assert sorted(await _listed(store)) == [("child-2", "from child"), ("parent", "p")]
    finally:
        await store.reset()
        await store.aclose()


def test_shared_by_processes_names_the_lite_limit() -> None:
    assert "one process" in (MilvusVectorStore.shared_by_processes(MilvusVectorStore.Config(uri="/x/m.db")) or "")
    assert MilvusVectorStore.shared_by_processes(MilvusVectorStore.Config(uri="http://localhost:19530")) is None


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"uri": "/data/milvus"}, "uri"),
        ({"uri": " "}, "uri"),
        ({"collection_name": "9lives"}, "collection_name"),
        ({"collection_name": "with-dash"}, "collection_name"),
        ({"db_name": "a b"}, "db_name"),
        ({"index_type": "DISKANN"}, "index_type"),
        ({"urii": "x.db"}, "urii"),
    ],
)
def test_bad_config_names_the_field(cfg: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        MilvusVectorStore.Config.model_validate(cfg)


def test_a_lite_uri_is_made_absolute_and_a_server_uri_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert MilvusVectorStore.Config(uri="m.db").uri == str(tmp_path / "m.db")
    assert MilvusVectorStore.Config(uri="https://x.zillizcloud.com:443").uri == "https://x.zillizcloud.com:443"


def test_the_token_stays_out_of_reprs() -> None:
    cfg = MilvusVectorStore.Config(uri="http://localhost:19530", token="root:Milvus")
    assert "Milvus'" not in repr(cfg) and "root:" not in repr(cfg)


async def test_a_foreign_collection_is_refused(tmp_path: Path) -> None:
    raw = MilvusClient(str(tmp_path / "m.db"))
    schema = raw.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    index = raw.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    raw.create_collection("mem7_memories", schema=schema, index_params=index)
    raw.close()
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(tmp_path / "m.db"))
    store = _store(uri=str(tmp_path / "m.db"))
    try:
        with pytest.raises(ConfigError, match="not made by mem7"):
            await store.count(scope=Scope())
    finally:
        await store.aclose()


async def test_a_vector_of_other_dims_is_refused_naming_both(tmp_path: Path) -> None:
    store = _store(uri=str(tmp_path / "m.db"))
    try:
        await store.insert([VectorRecord(id="a", vector=[1.0, 0.0], payload={"user_id": "u"})])
        with pytest.raises(ValueError, match=r"3 dims.*2-dim"):
            await store.insert([VectorRecord(id="b", vector=[1.0, 0.0, 0.0], payload={"user_id": "u"})])
        with pytest.raises(ValueError, match=r"3 dims.*holds 2"):
            await store.search([1.0, 0.0, 0.0], scope=Scope(user_id="u"), limit=1)
    finally:
        await store.aclose()


async def test_configured_dims_declare_the_space_before_any_write(tmp_path: Path) -> None:
    store = _store(uri=str(tmp_path / "m.db"), dims=4)
    try:
        store.record_embedder(EmbeddingSpace(dims=4, provider="p", model="m"))
        assert await store.count(scope=Scope()) == 0  # a read creates the declared collection
        assert await store.embedding_space() == EmbeddingSpace(dims=4, provider="p", model="m")
    finally:
        await store.aclose()


# ------------------------------------------------------------------ expressions
def test_scope_and_exact_filters_become_milvus_expressions() -> None:
    f = parse_filters({"category": "food", "n": {"gt": 3}, "OR": [{"tag": {"in": ["a", "b"]}}, {"tag": "c"}]})
    got = where(Scope(user_id="u", run_id="r"), f)
    assert got.expr == (
        '((user_id == "u" and run_id == "r") and (payload["category"] == "food" and payload["n"] > 3 and '
        '((payload["tag"] == "a" or payload["tag"] == "b") or payload["tag"] == "c")))'
    )
    assert not got.exact  # numbers: Milvus Lite 3 counts true as 1, so re-checked
    assert where(Scope(user_id="u"), parse_filters({"t": {"contains": "ab"}})) == type(got)(
        '(user_id == "u" and (payload["t"] like "%ab%" or json_contains(payload["t"], "ab")))', True
    )
    assert where(Scope(), None).expr == ""


@pytest.mark.parametrize(
    "filters",
    [
        {"NOT": [{"a": "x"}]},
        {"a": {"ne": "x"}},
        {"a": {"nin": ["x"]}},
        {"a": "*"},
        {"a": {"icontains": "x"}},
        {"a": 'say "hi"'},
        {"a": "back\\slash"},
        {"a": {"contains": "50%"}},
        {"a b": "x"},
        {"a": 2**60},
        {"OR": [{"a": "x"}, {"b": {"icontains": "y"}}]},
    ],
)
def test_what_engines_answer_differently_is_not_pushed_down(filters: dict[str, object]) -> None:
    assert translate(parse_filters(filters)) == type(translate(None))("TRUE", False)


def test_hostile_scope_ids_are_not_written_into_expressions() -> None:
    got = where(Scope(user_id='u" or user_id != "'), None)
    assert got.expr == "" and not got.exact  # the whole collection, re-checked by Scope.matches


def test_the_projection_keeps_what_milvus_json_can_hold() -> None:
    assert project({"a": 2**70, "b": -float("inf"), "c": float("nan"), "d": [1, float("nan"), "x"], "e": {"f": True}}) == {
        "a": 1.7976931348623157e308,
        "b": -1.7976931348623157e308,
        "d": [1, "x"],
        "e": {"f": True},
    }


_PAYLOADS = [
    {"k": v}
    for v in [3, 3.0, 3.5, True, False, 1, 0, "3", "abc", "B", None, ["x", 3, True, "abc"], {"a": 1}, 2**62, "é", "", 2**70]
] + [{}]
_EXACT_CASES = [
    {"k": 3}, {"k": 1}, {"k": "abc"}, {"k": {"in": ["abc", "B"]}}, {"k": {"gt": 2}}, {"k": {"gte": 0}},
    {"k": {"lt": 2.5}}, {"k": {"gt": "a"}}, {"k": {"lte": "B"}}, {"k": {"gte": ""}}, {"k": {"contains": "b"}},
    {"k": {"contains": "x"}}, {"k": {"gt": 2**52}}, {"OR": [{"k": "é"}, {"k": {"lt": -1}}]},
]


@pytest.mark.parametrize("filters", _EXACT_CASES, ids=[json.dumps(c) for c in _EXACT_CASES])
def test_milvus_answers_pushed_expressions_with_every_match(tmp_path: Path, filters: dict[str, object]) -> None:
    """What Milvus returns for a pushed-down expression holds every record the reference accepts
    (and, for an exact translation, nothing else), on the JSON projection the store writes."""
    client = MilvusClient(str(tmp_path / "m.db"))
    try:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        schema.add_field("payload", DataType.JSON)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="COSINE")
        client.create_collection("t", schema=schema, consistency_level="Strong")
        client.create_index("t", index, sync=False)  # (sync: pymilvus polls the new index every 0.5 s)
        client.load_collection("t")
        client.insert("t", [{"pk": i, "vector": [1.0, 0.5], "payload": project(p)} for i, p in enumerate(_PAYLOADS)])
        node = parse_filters(filters)
        t = translate(node)
        assert t.expr != "TRUE"
        got = {r["pk"] for r in client.query("t", filter=t.expr, output_fields=["pk"], limit=1000)}
        want = {i for i, p in enumerate(_PAYLOADS) if evaluate(node, p)}
        assert want <= got
        if t.exact:
            assert got == want
    finally:
        client.close()
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(tmp_path / "m.db"))


async def test_search_fetches_past_candidates_the_store_rejects(tmp_path: Path) -> None:
    """``icontains`` is not pushed down: Milvus ranks the whole scope, the store keeps fetching
    until ``limit`` records pass its own check."""
    store = _store(uri=str(tmp_path / "m.db"))
    try:
        records = [
            VectorRecord(id=f"r{i:03d}", vector=[1.0, i / 100], payload={"user_id": "u", "t": "Keep" if i >= 90 else "drop"})
            for i in range(100)
        ]
        await store.insert(records)
        hits = await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=3, filters=parse_filters({"t": {"icontains": "KEEP"}}))
        assert [h.id for h in hits] == ["r090", "r091", "r092"]
    finally:
        await store.aclose()


async def test_search_past_milvus_top_k_scores_the_rest_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When ``limit`` passing records are not among Milvus's top-k (its cap, made 8 here), the store
    scores every candidate itself, with the same cosine."""
    import mem7_milvus.store as ms

    monkeypatch.setattr(ms, "MAX_TOPK", 8)
    store = _store(uri=str(tmp_path / "m.db"))
    try:
        records = [
            VectorRecord(id=f"r{i:02d}", vector=[1.0, i / 10], payload={"user_id": "u", "t": "Keep" if i >= 25 else "drop"})
            for i in range(30)
        ]
        await store.insert(records)
        hits = await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=2, filters=parse_filters({"t": {"icontains": "keep"}}))
        assert [h.id for h in hits] == ["r25", "r26"]
        assert hits[0].score == pytest.approx(1 / (1 + 2.5**2) ** 0.5, abs=1e-4)
    finally:
        await store.aclose()


async def test_a_collection_dropped_by_another_client_is_made_again(milvus_server) -> None:
    cfg = {"uri": milvus_server.uri, "collection_name": f"gone_{uuid.uuid4().hex[:10]}"}
    a, b = _store(**cfg), _store(**cfg)
    try:
        await a.insert([VectorRecord(id="x", vector=[1.0, 0.0], payload={"user_id": "u"})])
        assert [r.id for r in await b.get(["x"])] == ["x"]
        await a.reset()  # drops the collection b has open
        assert await b.get(["x"]) == []
        await b.insert([VectorRecord(id="y", vector=[0.0, 1.0], payload={"user_id": "u"})])
        assert [r.id for r in await a.list(scope=Scope(user_id="u"))] == ["y"]
    finally:
        await a.reset()
        await a.aclose()
        await b.aclose()


def test_a_server_lost_after_connecting_reads_as_unreachable_too() -> None:
    # pymilvus may connect lazily or reuse a connection handler, so "Fail connecting" can come from
    # an operation rather than from MilvusClient(): it must read as the connect path does (seen on a
    # loaded CI machine, where the test below got "[milvus] MilvusException: ..." instead).
    from pymilvus.client.types import Status
    from pymilvus.exceptions import MilvusException

    store = MilvusVectorStore(MilvusVectorStore.Config(uri="http://127.0.0.1:9", collection_name="gone"))

    def lost() -> None:
        raise MilvusException(code=Status.CONNECT_FAILED, message="Fail connecting to server on 127.0.0.1:9, ...")

    def refused() -> None:
        raise MilvusException(code=Status.UNEXPECTED_ERROR, message="collection schema mismatch")

    with pytest.raises(ProviderError, match=r"milvus.*cannot open Milvus.*127\.0\.0\.1:9"):
        store._guarded(lost)
    with pytest.raises(ProviderError, match=r"MilvusException: .*schema mismatch") as info:
        store._guarded(refused)  # an answer the server gave stays itself
    assert "cannot open" not in str(info.value)


async def test_an_unreachable_server_is_a_provider_error_naming_milvus() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    store = _store(uri=f"http://127.0.0.1:{port}", timeout=1)
    try:
        with pytest.raises(ProviderError, match=r"milvus.*cannot open Milvus"):
            await store.count(scope=Scope())
    finally:
        await store.aclose()
