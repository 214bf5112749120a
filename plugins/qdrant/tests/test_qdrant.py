"""mem7-qdrant specifics: registration, config, literal matching of hostile input, batching,
ordering, dims, persistence, and server mode (retries, timeouts, errors, indexes, request shapes)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from qdrant_client import AsyncQdrantClient, models

from mem7_core.errors import MemoryNotFoundError, ProviderError
from mem7_core.filters import ALL_OPERATORS, evaluate, parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.plugins import PluginRegistry
from mem7_core.providers import VectorStoreCapabilities
from mem7_qdrant import PUSHED_DOWN, QdrantVectorStore
from mem7_qdrant._encoding import RESERVED_KEY, point_id

DIMS = 4


def make(**cfg: Any) -> QdrantVectorStore:
    return QdrantVectorStore(QdrantVectorStore.Config.model_validate(cfg))


def every_operator(store: QdrantVectorStore) -> QdrantVectorStore:
    store.capabilities = VectorStoreCapabilities(filter_operators=ALL_OPERATORS)  # type: ignore[misc]
    return store


def vec(i: int) -> list[float]:
    rng = random.Random(f"qdrant-{i}")
    return [rng.gauss(0.0, 1.0) for _ in range(DIMS)]


def rec(i: int, user: str = "u1", created: str | None = "auto", **payload: Any) -> VectorRecord:
    body: dict[str, Any] = {"data": f"m{i}", "user_id": user}
    if created == "auto":
        body["created_at"] = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}+00:00"
    elif created is not None:
        body["created_at"] = created
    body.update(payload)
    return VectorRecord(id=f"id-{i:04d}", vector=vec(i), payload=body)


def order_of(records: list[VectorRecord]) -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (str(r.payload.get("created_at") or ""), r.id))]


class Recorder:
    """Wraps a client and counts its calls (and the size of what each carried)."""

    def __init__(self, inner: AsyncQdrantClient) -> None:
        self.inner = inner
        self.calls: list[tuple[str, int]] = []
        self.read = 0  # points returned by scroll()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            size = 0
            for key in ("points", "ids", "points_selector"):
                value = kwargs.get(key)
                if isinstance(value, models.PointIdsList):
                    value = value.points
                if isinstance(value, list):
                    size = len(value)
            self.calls.append((name, size))
            result = await attr(*args, **kwargs)
            if name == "scroll":
                self.read += len(result[0])
            return result

        return wrapped

    def sizes(self, name: str) -> list[int]:
        return [n for c, n in self.calls if c == name]


# ====================================================================== plugin, config
def test_registered_through_the_hook() -> None:
    import mem7_qdrant.plugin

    reg = PluginRegistry(discover=False, builtins=False)
    assert reg.register_plugin(mem7_qdrant.plugin, name="qdrant")
    assert reg.get("vector_store", "qdrant") is QdrantVectorStore


def test_entry_point_declared() -> None:
    eps = [ep for ep in entry_points(group="mem7") if ep.name == "qdrant"]
    assert eps and eps[0].value == "mem7_qdrant.plugin"


def test_config_defaults_and_aliases(fast_tmp: Path) -> None:
    cfg = QdrantVectorStore.Config()
    assert cfg.mode == "memory" and cfg.collection_name == "mem7_memories" and cfg.dims is None
    assert QdrantVectorStore.Config.model_validate({"embedding_model_dims": 384}).dims == 384
    assert QdrantVectorStore.Config.model_validate({"dims": 8}).dims == 8
    assert QdrantVectorStore.Config.model_validate({"path": "~/q"}).path == str(Path("~/q").expanduser())
    assert QdrantVectorStore.Config.model_validate({"location": ":memory:"}).mode == "memory"
    loc = QdrantVectorStore.Config.model_validate({"location": "http://db:6333"})
    assert loc.mode == "server" and loc.url == "http://db:6333" and loc.location is None
    assert QdrantVectorStore.Config.model_validate({"host": "db", "port": 7000}).mode == "server"
    store = QdrantVectorStore.from_config({"dims": 4})
    assert isinstance(store, QdrantVectorStore) and not store.capabilities.persistent
    assert make(path=str(fast_tmp)).capabilities.persistent
    assert make(url="http://127.0.0.1:1").capabilities.persistent
    assert set(store.capabilities.filter_operators) == set(PUSHED_DOWN)
    assert {"contains", "icontains"}.isdisjoint(store.capabilities.filter_operators)


@pytest.mark.parametrize(
    ("cfg", "names"),
    [
        ({"bogus": 1}, ["bogus"]),
        ({"url": "http://a:6333", "path": "/tmp/x"}, ["url", "path"]),
        ({"host": "a", "location": ":memory:"}, ["host", "location"]),
        ({"url": "http://a", "location": "http://b"}, ["url", "location"]),
        ({"location": "memory"}, ["location"]),
        ({"url": "db:6333"}, ["url"]),
        ({"api_key": "k"}, ["api_key"]),
        ({"path": "  "}, ["path"]),
        ({"collection_name": "../escape"}, ["collection_name"]),
        ({"collection_name": ""}, ["collection_name"]),
        ({"dims": 0}, ["dims"]),
        ({"embedding_model_dims": -1}, ["embedding_model_dims"]),
        ({"batch_size": 0}, ["batch_size"]),
        ({"timeout": 0}, ["timeout"]),
        ({"max_retries": -1}, ["max_retries"]),
        ({"max_retries": 1000}, ["max_retries"]),
        ({"port": 70000}, ["port"]),
    ],
)
def test_config_errors_name_the_field(cfg: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(ValidationError) as err:
        QdrantVectorStore.Config.model_validate(cfg)
    for name in names:
        assert name in str(err.value)


def test_api_key_is_never_shown() -> None:
    cfg = QdrantVectorStore.Config.model_validate({"url": "https://q.example:6333", "api_key": "sekrit-123"})
    store = QdrantVectorStore(cfg)
    assert "sekrit" not in repr(cfg) and "sekrit" not in repr(store) and "sekrit" not in str(cfg.model_dump())


# ====================================================================== hostile input
HOSTILE_KEYS = [
    'say "hi"', "a.b", "a[]", "a[0]", "_mem7x", "$where", "", " ", "k" * 65, "k" * 200,
    "ключ-🚀", "1:a", "a=s:b", "user_id.x", "#hash", "n", "back\\slash", "new\nline",
]
HOSTILE_VALUES = [
    "it's", 'say "hi"', "a=s:b", "s:x", "h:abc", "z", "b:1", "n:1", "1:a=s:b", "", " ",
    "%", "_", "*", "v" * 64, "v" * 65, "v" * 500, "ÉLAN", "élan", "Straße", "🚀", "\x00nul",
]


async def test_hostile_keys_and_values_are_matched_literally() -> None:
    store = every_operator(make(dims=DIMS))
    recs = []
    i = 0
    for key in HOSTILE_KEYS:
        for value in (HOSTILE_VALUES[i % len(HOSTILE_VALUES)], HOSTILE_VALUES[(i + 7) % len(HOSTILE_VALUES)]):
            recs.append(VectorRecord(f"h{i:03d}", vec(i), {"user_id": "u1", "created_at": f"t{i:03d}", key: value, "tags": [value, key]}))
            i += 1
    # Values that would collide under a naive "key=value" encoding.
    recs.append(VectorRecord("c1", vec(1), {"user_id": "u1", "created_at": "c1", "a": "b=c"}))
    recs.append(VectorRecord("c2", vec(2), {"user_id": "u1", "created_at": "c2", "a=b": "c"}))
    recs.append(VectorRecord("c3", vec(3), {"user_id": "u1", "created_at": "c3", "a=s:b": "c", "a": "x"}))
    await store.insert(recs)
    got = await store.get([r.id for r in recs])
    assert [g.payload for g in got] == [r.payload for r in recs]
    u1 = Scope(user_id="u1")
    checked = 0
    for r in recs:
        for key, value in r.payload.items():
            if key in ("user_id", "created_at", "tags") or not key:
                continue
            for flt in ({key: {"eq": value}}, {key: "*"}, {key: {"in": [value, "zz"]}}, {key: {"ne": value}},
                        {"tags": {"contains": value}}, {key: {"contains": value}}, {key: {"icontains": str(value).upper()}}):
                node = parse_filters(flt)
                want = [x.id for x in sorted(recs, key=lambda x: (x.payload["created_at"], x.id)) if evaluate(node, x.payload)]
                assert [x.id for x in await store.list(scope=u1, filters=node)] == want, flt
                if checked % 3 == 0:  # search shares the translation; a third of the cases keeps it quick
                    assert sorted(h.id for h in await store.search(vec(0), scope=u1, limit=100, filters=node)) == sorted(want), flt
                checked += 1
    assert checked > 200
    # Literal, not pattern, matching: none of these select anything.
    for flt in ({"a": "b=s:c"}, {"a": "*x"}, {"a": "%"}, {"a=b": "*c"}):
        assert await store.list(scope=u1, filters=parse_filters(flt)) == []


async def test_hostile_ids_round_trip_and_collide_nowhere() -> None:
    store = make()
    ids = ["x", "X", " x", "x ", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-00000000000A",
           "00000000-0000-0000-0000-00000000000a", "7", "07", "' OR 1=1 --", "🚀" * 40, "a" * 5000]
    await store.insert([VectorRecord(i, vec(n), {"user_id": "u1", "created_at": f"{n:03d}"}) for n, i in enumerate(ids)])
    assert [r.id for r in await store.get(list(reversed(ids)))] == list(reversed(ids))
    assert await store.count(scope=Scope(user_id="u1")) == len(ids)
    assert len({point_id(i) for i in ids}) == len(ids)
    await store.delete(["X", "07"])
    assert sorted(r.id for r in await store.list(scope=Scope(user_id="u1"))) == sorted(set(ids) - {"X", "07"})


async def test_reserved_key_and_non_json_payloads_are_rejected_before_writing() -> None:
    store = make(dims=2)
    await store.insert([VectorRecord("ok", [1.0, 0.0], {"user_id": "u"})])
    bad_payloads = [
        ({RESERVED_KEY: 1}, ValueError, "reserved"),
        ({"x": {1, 2}}, TypeError, "JSON"),
        ({"x": float("nan")}, TypeError, "finite"),
        ({"x": [float("inf")]}, TypeError, "finite"),
        ({"x": 2**64}, TypeError, "64 bits"),
        ({"x": {1: "a"}}, TypeError, "non-string key"),
        ({"x": "\ud800"}, TypeError, "Unicode"),
    ]
    for payload, exc, match in bad_payloads:
        with pytest.raises(exc, match=match):
            await store.insert([VectorRecord("ok", [0.0, 1.0], {"user_id": "u"}), VectorRecord("bad", [1.0, 1.0], payload)])
        with pytest.raises(exc, match=match):
            await store.update("ok", payload=payload)
    (got,) = await store.get(["ok", "bad"])
    assert got.payload == {"user_id": "u"} and got.vector is not None and got.vector[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no vector"):
        await store.insert([VectorRecord("nv", None, {})])
    with pytest.raises(ValueError, match="finite"):
        await store.insert([VectorRecord("nan", [float("nan"), 1.0], {})])
    with pytest.raises(ValueError, match="non-empty"):
        await store.insert([VectorRecord("", [1.0, 1.0], {})])
    # Tuples are stored as lists (JSON); big-but-64-bit ints keep their exact value.
    await store.insert([VectorRecord("tp", [1.0, 1.0], {"t": (1, "a"), "big": 2**62 + 1})])
    (tp,) = await store.get(["tp"])
    assert tp.payload == {"t": [1, "a"], "big": 2**62 + 1}


# ====================================================================== filters: value corners
async def test_whole_value_equality_and_number_corners() -> None:
    store = every_operator(make(dims=DIMS))
    values: list[Any] = [
        [1, 2], [1.0, 2.0], [True], [1], [[1, 2]], {"a": 1}, {"a": True}, {"a": [1, {"b": None}]}, [], {},
        0, 0.0, -0.0, False, None, 1e300, 2**53, 2**53 + 1, 2**62, -(2**62), 9007199254740993.0, 0.1, 1e-300,
        "1", "", "x" * 80,
    ]
    recs = [VectorRecord(f"v{i:02d}", vec(i), {"user_id": "u1", "created_at": f"{i:02d}", "k": v}) for i, v in enumerate(values)]
    await store.insert(recs)
    u1 = Scope(user_id="u1")
    wants: list[Any] = [*values, (1, 2), 1e400, float("nan"), 2**1200, -(2**1200), [float("nan")], {1: 2}]
    filters: list[dict[str, Any]] = []
    for w in wants:
        filters += [{"k": {"eq": w}}, {"k": {"ne": w}}, {"k": {"in": [w, "other"]}}, {"k": {"nin": [w]}}]
        if not isinstance(w, (list, dict, tuple)):
            filters.append({"k": {"contains": w}})
        if (isinstance(w, (int, float)) and not isinstance(w, bool)) or isinstance(w, str):
            filters += [{"k": {op: w}} for op in ("gt", "gte", "lt", "lte")]
    for w in (2**53 - 1, 2**53, 2**53 + 1, 2**62, 2**62 + 1, -(2**62) - 1, 1e16, 9007199254740993.0, float("inf"), float("-inf")):
        filters += [{"k": {op: w}} for op in ("gt", "gte", "lt", "lte")]
    for flt in filters:
        node = parse_filters(flt)
        want = [r.id for r in recs if evaluate(node, r.payload)]
        assert [r.id for r in await store.list(scope=u1, filters=node)] == want, flt
        assert sorted(h.id for h in await store.search(vec(0), scope=u1, limit=100, filters=node)) == sorted(want), flt


async def test_residual_search_pages_until_limit() -> None:
    """A filter Qdrant can only narrow (substring) still yields `limit` best hits, in score order."""
    store = every_operator(make(dims=DIMS))
    recs = [VectorRecord(f"r{i:03d}", vec(i), {"user_id": "u1", "s": "needle" if i % 17 == 0 else "hay"}) for i in range(300)]
    await store.insert(recs)
    node = parse_filters({"s": {"contains": "eedl"}})
    hits = await store.search(vec(0), scope=Scope(user_id="u1"), limit=5, filters=node)
    everything = await store.search(vec(0), scope=Scope(user_id="u1"), limit=300)
    assert [h.id for h in hits] == [h.id for h in everything if evaluate(node, h.payload)][:5]


async def test_scope_is_exact_even_for_list_valued_scope_fields() -> None:
    store = make(dims=DIMS)
    await store.insert([
        VectorRecord("list", vec(1), {"user_id": ["u1", "u2"]}),
        VectorRecord("str", vec(2), {"user_id": "u1"}),
        VectorRecord("num", vec(3), {"user_id": 1}),
    ])
    assert [r.id for r in await store.list(scope=Scope(user_id="u1"))] == ["str"]
    assert [h.id for h in await store.search(vec(1), scope=Scope(user_id="u1"), limit=10)] == ["str"]
    assert await store.count(scope=Scope(user_id="u1")) == 1
    assert await store.count(scope=Scope(user_id="u2")) == 0
    assert await store.count(scope=Scope()) == 3


# ====================================================================== list ordering
async def test_list_limit_with_ties_foreign_and_missing_timestamps() -> None:
    store = make(dims=DIMS)
    stamps = [
        "2024-01-01T00:00:01+00:00", "2024-01-01T00:00:01.000000+00:00", "2024-01-01T00:00:01.000001+00:00",
        "2024-01-01T00:00:00.999999+00:00", "2024-01-01T00:00:01+00:00", "2024-01-01T00:00:01+00:00",
        "2024-01-01T01:00:01+01:00", "2024-01-01 00:00:01", "2024-01-01T00:00:01Z", None, "", 0, 12,
        "1969-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999+00:00",
        "2024-02-30T00:00:00+00:00", "2024-01-01T00:00:01.000001+00:00", "٢٠٢٤-01-01T00:00:01+00:00",
    ]
    recs = []
    for i, stamp in enumerate(stamps):
        payload: dict[str, Any] = {"user_id": "u1", "n": i}
        if stamp is not None:
            payload["created_at"] = stamp
        recs.append(VectorRecord(f"o{(i * 7) % 19:02d}", vec(i), payload))
    await store.insert(recs)
    want = order_of(recs)
    u1 = Scope(user_id="u1")
    for limit in range(1, len(recs) + 2):
        assert [r.id for r in await store.list(scope=u1, limit=limit)] == want[:limit], limit
    node = parse_filters({"n": {"gte": 3}})
    want_f = order_of([r for r in recs if r.payload["n"] >= 3])
    for limit in (1, 2, 5, 50):
        assert [r.id for r in await store.list(scope=u1, filters=node, limit=limit)] == want_f[:limit]


async def test_list_with_limit_reads_only_what_it_needs() -> None:
    store = make(dims=DIMS)
    recs = [rec(i, user="u1") for i in range(1500)]
    await store.insert(recs)
    spy = Recorder(store._get_client())
    store._client = spy  # type: ignore[assignment]
    got = await store.list(scope=Scope(user_id="u1"), limit=3)
    assert [r.id for r in got] == order_of(recs)[:3]
    assert spy.read <= 4  # the first 3 by the order key (+ the tie with the 3rd), not the 1500 in scope
    spy.calls.clear()
    spy.read = 0
    assert len(await store.list(scope=Scope(user_id="u1"))) == 1500
    assert [n for n, _ in spy.calls].count("scroll") == 2 and spy.read == 1500  # no limit: pages of 1000


# ====================================================================== batching
async def test_writes_and_reads_are_batched() -> None:
    store = make(dims=DIMS, batch_size=256)
    await store.insert([rec(0)])  # create the collection
    spy = Recorder(store._get_client())
    store._client = spy  # type: ignore[assignment]
    recs = [rec(i, user=f"u{i % 3}") for i in range(1000)]
    await store.insert(recs)
    assert spy.sizes("upsert") == [256, 256, 256, 232]
    got = await store.get([r.id for r in recs[:600]])
    assert len(got) == 600 and spy.sizes("retrieve") == [256, 256, 88]
    await store.delete([r.id for r in recs[:600]])
    assert spy.sizes("delete") == [256, 256, 88]
    assert await store.count(scope=Scope()) == 400
    # A repeated id inside one insert is written once (the last one wins).
    spy.calls.clear()
    await store.insert([rec(5000, n=1), rec(5000, n=2)])
    assert spy.sizes("upsert") == [1]
    (last,) = await store.get(["id-5000"])
    assert last.payload["n"] == 2


async def test_get_hands_out_independent_copies() -> None:
    store = make(dims=DIMS)
    await store.insert([rec(1, tags=["a"])])
    a, b = await store.get(["id-0001", "id-0001"])
    a.payload["tags"].append("x")
    assert b.payload["tags"] == ["a"]
    (c,) = await store.get(["id-0001"])
    assert c.payload["tags"] == ["a"]


# ====================================================================== dims, collection
async def test_dims_checks_and_reset_forgets_inferred_dims() -> None:
    store = make()
    await store.insert([VectorRecord("a", [1.0, 0.0, 0.0], {"user_id": "u"})])
    with pytest.raises(ValueError, match="dims"):
        await store.insert([VectorRecord("b", [1.0, 0.0], {"user_id": "u"})])
    with pytest.raises(ValueError, match="dims"):
        await store.insert([VectorRecord("b", [1.0, 0.0, 0.0], {}), VectorRecord("c", [1.0, 0.0], {})])
    with pytest.raises(ValueError, match="dims"):
        await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1)
    with pytest.raises(ValueError, match="dims"):
        await store.update("a", vector=[1.0])
    await store.insert([VectorRecord("zero", [0.0, 0.0, 0.0], {"user_id": "u"})])
    hits = await store.search([1.0, 0.0, 0.0], scope=Scope(user_id="u"), limit=5)
    assert [h.id for h in hits] == ["a", "zero"] and hits[1].score == pytest.approx(0.0)
    await store.reset()
    assert await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1) == []
    await store.insert([VectorRecord("a", [1.0, 0.0], {"user_id": "u"})])
    assert [r.id for r in await store.get(["a"])] == ["a"]


async def test_reads_before_any_write_do_not_create_the_collection(fast_tmp: Path) -> None:
    store = make(path=str(fast_tmp))
    assert await store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=3) == []
    assert await store.list(scope=Scope(user_id="u")) == [] and await store.count(scope=Scope()) == 0
    assert await store.get(["x"]) == []
    await store.delete(["x"])
    with pytest.raises(MemoryNotFoundError):
        await store.update("x", payload={})
    client = store._get_client()
    assert not await client.collection_exists("mem7_memories")
    await store.aclose()


async def test_incompatible_existing_collection(fast_tmp: Path) -> None:
    raw = AsyncQdrantClient(path=str(fast_tmp))
    await raw.create_collection("dot", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    await raw.create_collection("named", vectors_config={"v": models.VectorParams(size=3, distance=models.Distance.COSINE)})
    await raw.create_collection("three", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE))
    await raw.close()
    for name, match in (("dot", "Cosine"), ("named", "named vectors")):
        store = make(path=str(fast_tmp), collection_name=name)
        with pytest.raises(ProviderError, match=match) as err:
            await store.count(scope=Scope())
        assert err.value.provider == "qdrant"
        await store.aclose()
    store = make(path=str(fast_tmp), collection_name="three", dims=4)
    with pytest.raises(ProviderError, match=r"dims \(embedding_model_dims\) is 4 .*use dims: 3"):
        await store.insert([VectorRecord("a", [1.0, 0.0, 0.0, 0.0], {})])
    await store.aclose()
    store = make(path=str(fast_tmp), collection_name="three")  # adopts 3 dims
    with pytest.raises(ValueError, match="3 dims"):
        await store.insert([VectorRecord("a", [1.0, 0.0, 0.0, 0.0], {})])
    await store.insert([VectorRecord("a", [1.0, 0.0, 0.0], {"user_id": "u"})])
    assert await store.count(scope=Scope(user_id="u")) == 1
    await store.aclose()


async def test_path_is_locked_while_open(fast_tmp: Path) -> None:
    first = make(path=str(fast_tmp), dims=2)
    await first.insert([VectorRecord("a", [1.0, 0.0], {"user_id": "u"})])
    second = make(path=str(fast_tmp), dims=2)
    with pytest.raises(ProviderError, match="qdrant") as err:
        await second.count(scope=Scope())
    assert "already accessed" in str(err.value)
    await first.aclose()
    assert await second.count(scope=Scope(user_id="u")) == 1
    await second.aclose()


async def test_persistence_round_trip_with_filters_and_order(fast_tmp: Path) -> None:
    store = make(path=str(fast_tmp), batch_size=100)
    recs = [rec(i, user=f"u{i % 3}", n=i, tags=[f"t{i % 4}"]) for i in range(240)]
    await store.insert(recs)
    await store.delete([r.id for r in recs[:20]])
    await store.update(recs[30].id, payload={**recs[30].payload, "n": -1})
    queries = [vec(1000 + i) for i in range(3)]
    node = parse_filters({"OR": [{"n": {"lt": 50}}, {"tags": {"contains": "t1"}}]})

    async def answers(s: QdrantVectorStore) -> list[Any]:
        out: list[Any] = []
        for u in range(3):
            scope = Scope(user_id=f"u{u}")
            out.append([(r.id, r.payload) for r in await s.list(scope=scope, limit=25)])
            out.append([r.id for r in await s.list(scope=scope, filters=parse_filters({"n": {"gte": 100}}))])
            for q in queries:
                out.append([(h.id, round(h.score, 5)) for h in await s.search(q, scope=scope, limit=7)])
            out.append(await s.count(scope=scope))
        return out

    before = await answers(store)
    await store.aclose()
    again = make(path=str(fast_tmp))
    assert await answers(again) == before
    assert again.capabilities.persistent
    both = every_operator(again)
    want = [r.id for r in recs[20:] if evaluate(node, {**r.payload, **({"n": -1} if r.id == recs[30].id else {})}) and r.payload["user_id"] == "u1"]
    assert sorted(h.id for h in await both.search(queries[0], scope=Scope(user_id="u1"), limit=500, filters=node)) == sorted(want)
    await again.aclose()


# ====================================================================== server mode
def server(url: str, **cfg: Any) -> QdrantVectorStore:
    base = {"url": url, "timeout": 0.5, "max_retries": 2, "retry_backoff": 0.01}
    return make(**{**base, **cfg})


async def test_unreachable_server_fails_after_bounded_retries(closed_port: int, caplog: pytest.LogCaptureFixture) -> None:
    store = server(f"http://127.0.0.1:{closed_port}", max_retries=2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mem7.qdrant"), pytest.raises(ProviderError) as err:
        await store.insert([VectorRecord("a", [1.0, 0.0], {"user_id": "u"})])
    assert time.monotonic() - started < 5
    assert err.value.provider == "qdrant" and err.value.retryable
    assert str(err.value).startswith("[qdrant]") and "after 3 attempts" in str(err.value)
    assert f"127.0.0.1:{closed_port}" in str(err.value)
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2
    for call in (store.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1), store.get(["a"]), store.count(scope=Scope())):
        with pytest.raises(ProviderError):
            await call
    await store.aclose()
    await store.aclose()


async def test_silent_server_times_out_per_attempt(blackhole_port: int) -> None:
    store = server(f"http://127.0.0.1:{blackhole_port}", timeout=0.2, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timed out") as err:
        await store.count(scope=Scope())
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 3, elapsed  # two attempts of 0.2 s each, not the client's whole-second default
    assert err.value.retryable and "after 2 attempts" in str(err.value)
    await store.aclose()


async def test_no_retries_when_disabled(closed_port: int) -> None:
    store = server(f"http://127.0.0.1:{closed_port}", max_retries=0)
    with pytest.raises(ProviderError) as err:
        await store.count(scope=Scope())
    assert "failed after" not in str(err.value) and "All connection attempts failed" in str(err.value)
    await store.aclose()


async def test_transient_statuses_are_retried_then_succeed(fake_qdrant: Any) -> None:
    store = server(fake_qdrant.url, max_retries=3)
    fake_qdrant.fail_next(503)
    fake_qdrant.fail_next(429, headers={"Retry-After": "0"})
    fake_qdrant.fail_next(502)
    assert await store.count(scope=Scope()) == 0  # collection absent: nothing to count
    assert [r.path for r in fake_qdrant.requests] == ["/collections/mem7_memories/exists"] * 4
    await store.aclose()


async def test_bad_request_is_not_retried_and_names_the_provider(fake_qdrant: Any) -> None:
    store = server(fake_qdrant.url, max_retries=3)
    fake_qdrant.fail_next(400)
    with pytest.raises(ProviderError, match=r"\[qdrant\].*HTTP 400.*scripted failure 400") as err:
        await store.count(scope=Scope())
    assert not err.value.retryable and len(fake_qdrant.requests) == 1
    fake_qdrant.fail_next(503, times=5)
    with pytest.raises(ProviderError, match=r"after 4 attempts.*HTTP 503"):
        await store.count(scope=Scope())
    assert len(fake_qdrant.requests) == 5
    await store.aclose()


async def test_server_mode_requests(fake_qdrant: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # qdrant-client warns about an api key over plain http
        store = server(fake_qdrant.url, api_key="sekrit", batch_size=2, dims=2, on_disk=True)
        await store.insert([VectorRecord(f"m{i}", [1.0, float(i)], {"user_id": "u1", "created_at": "2024-01-01T00:00:00+00:00", "tags": ["a"]}) for i in range(5)])
    assert all(r.headers.get("api-key") == "sekrit" for r in fake_qdrant.requests)
    (create,) = fake_qdrant.calls("PUT", "/collections/mem7_memories")
    assert create.body["vectors"] == {"size": 2, "distance": "Cosine", "on_disk": True}
    indexes = {r.body["field_name"]: r.body["field_schema"] for r in fake_qdrant.calls("PUT", "/collections/mem7_memories/index")}
    assert indexes["user_id"] == {"type": "keyword", "is_tenant": True}
    assert indexes["agent_id"] == "keyword" and indexes["run_id"] == "keyword"
    assert indexes[f"{RESERVED_KEY}.o"]["type"] == "integer" and indexes[f"{RESERVED_KEY}.o"]["range"] is True
    upserts = fake_qdrant.calls("PUT", "/collections/mem7_memories/points")
    assert [len(r.body["points"]) for r in upserts] == [2, 2, 1]
    first = upserts[0].body["points"][0]
    assert first["id"] == point_id("m0") and first["payload"][RESERVED_KEY]["id"] == "m0"
    assert first["payload"]["tags"] == ["a"] and "8:tags=s:a" not in first["payload"]  # derived fields stay under _mem7
    assert "7:user_id=s:u1" in first["payload"][RESERVED_KEY]["t"] and "4:tags=s:a" in first["payload"][RESERVED_KEY]["m"]

    hits = await store.search([1.0, 0.0], scope=Scope(user_id="u1"), limit=3, filters=parse_filters({"tags": {"nin": ["b"]}, "n": {"gt": 1}}))
    assert [h.id for h in hits] == ["m0", "m1", "m2"] and all(RESERVED_KEY not in h.payload for h in hits)
    (query,) = fake_qdrant.calls("POST", "/collections/mem7_memories/points/query")
    must = query.body["filter"]["must"]
    assert must[0] == {"key": "user_id", "match": {"value": "u1"}}
    assert must[1] == {"key": f"{RESERVED_KEY}.t", "match": {"value": "7:user_id=s:u1"}}
    inner = must[2]["must"]
    assert inner[0] == {"must_not": [{"key": f"{RESERVED_KEY}.t", "match": {"value": "4:tags=s:b"}}]}
    assert inner[1]["nested"]["key"] == f"{RESERVED_KEY}.n" and inner[1]["nested"]["filter"]["must"][1]["range"] == {"gt": 1.0}
    assert query.body["limit"] == 3 and query.body["with_vector"] is False

    with pytest.raises(MemoryNotFoundError):
        await store.update("missing", payload={"user_id": "u1"})
    await store.update("m1", vector=[0.0, 1.0], payload={"user_id": "u1", "v": 2})
    (batch,) = fake_qdrant.calls("POST", "/collections/mem7_memories/points/batch")[-1:]
    assert [next(iter(op)) for op in batch.body["operations"]] == ["update_vectors", "overwrite_payload"]
    assert fake_qdrant.points[point_id("m1")]["payload"][RESERVED_KEY]["id"] == "m1"
    (got,) = await store.get(["m1"])
    assert got.payload == {"user_id": "u1", "v": 2}
    await store.delete(["m0", "m1", "m2"])
    assert [r.body["points"] for r in fake_qdrant.calls("POST", "/collections/mem7_memories/points/delete")] == [
        [point_id("m0"), point_id("m1")], [point_id("m2")]
    ]
    await store.reset()
    assert fake_qdrant.calls("DELETE", "/collections/mem7_memories")
    await store.aclose()


async def test_existing_indexes_are_not_recreated_and_creation_can_be_disabled(fake_qdrant: Any) -> None:
    store = server(fake_qdrant.url, dims=2, create_payload_indexes=False)
    await store.insert([VectorRecord("a", [1.0, 0.0], {"user_id": "u"})])
    assert fake_qdrant.calls("PUT", "/collections/mem7_memories/index") == []
    assert not store._can_order  # without the order index, list() reads the scope and sorts
    assert [r.id for r in await store.list(scope=Scope(user_id="u"), limit=1)] == ["a"]
    await store.aclose()
    indexed = server(fake_qdrant.url, dims=2, collection_name="other", index_filter_fields=True, exact_search=True, hnsw_ef=64)
    await indexed.insert([VectorRecord("a", [1.0, 0.0], {"user_id": "u"})])
    fields = {r.body["field_name"] for r in fake_qdrant.calls("PUT", "/collections/other/index")}
    assert {f"{RESERVED_KEY}.t", f"{RESERVED_KEY}.m", f"{RESERVED_KEY}.n[].v"} <= fields
    await indexed.search([1.0, 0.0], scope=Scope(user_id="u"), limit=1)
    assert fake_qdrant.calls("POST", "/collections/other/points/query")[-1].body["params"] == {"hnsw_ef": 64, "exact": True}
    await indexed.aclose()


async def test_existing_collection_is_adopted_and_missing_indexes_added(fake_qdrant: Any) -> None:
    fake_qdrant.collections.add("mem7_memories")
    fake_qdrant.dims["mem7_memories"] = 3
    fake_qdrant.schemas["mem7_memories"] = {"user_id": {"data_type": "keyword", "points": 0}}
    store = server(fake_qdrant.url)
    assert await store.count(scope=Scope(user_id="u")) == 0
    created = [r.body["field_name"] for r in fake_qdrant.calls("PUT", "/collections/mem7_memories/index")]
    assert sorted(created) == sorted(["agent_id", "run_id", f"{RESERVED_KEY}.o"])
    assert fake_qdrant.calls("PUT", "/collections/mem7_memories") == []
    with pytest.raises(ValueError, match="3 dims"):
        await store.insert([VectorRecord("a", [1.0, 0.0], {})])
    await store.aclose()
    # Config dims that disagree with the collection: a ProviderError naming both.
    with pytest.raises(ProviderError, match=r"is 2 but collection .* holds 3-dimensional vectors; use dims: 3"):
        await server(fake_qdrant.url, dims=2).count(scope=Scope())


async def test_collection_created_meanwhile_is_adopted(fake_qdrant: Any) -> None:
    fake_qdrant.race_create = True
    store = server(fake_qdrant.url)
    await store.insert([VectorRecord("a", [1.0, 0.0, 0.0], {"user_id": "u"})])
    assert fake_qdrant.calls("GET", "/collections/mem7_memories")  # read back after the 409
    assert len(fake_qdrant.calls("PUT", "/collections/mem7_memories/points")) == 1
    await store.aclose()


async def test_cancellation_is_not_swallowed(blackhole_port: int) -> None:
    store = server(f"http://127.0.0.1:{blackhole_port}", timeout=5, max_retries=3)
    task = asyncio.create_task(store.count(scope=Scope()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.aclose()
