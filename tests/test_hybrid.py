"""Hybrid retrieval through AsyncMemory: BM25 beside the vector search, fused, optionally expanded.

Engines run on the hash embedder (or a table of hand-made vectors), mem7-flat and SQLite in memory.
Expected scores are recomputed independently from :class:`BM25Index` and the vectors, so the
tests pin the documented score semantics, not just an order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from mem7_core import AsyncMemory
from mem7_core.config import MemoryConfig, RetrievalConfig, load_config
from mem7_core.errors import ConfigError
from mem7_core.filters import operators_of
from mem7_core.models import Scope
from mem7_core.providers import Embedder, VectorStoreCapabilities
from mem7_core.retrieval import BM25Index, calibrate_bm25, cosine, expand, lend_keywords, rrf
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM, hash_embedding
from mem7_flat import FlatVectorStore

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


def engine(*, vector_store: Any = None, embedder: Any = None, **over: Any) -> AsyncMemory:
    """An engine; neighbour expansion off unless ``retrieval`` says otherwise (these tests pin the
    fusion's scores; the expansion tests below turn it on, and the default is tested by itself)."""
    over["retrieval"] = {"expand": {"enabled": False}} | dict(over.get("retrieval") or {})
    return AsyncMemory({**BASE, **over}, llm=ScriptedLLM(), vector_store=vector_store, embedder=embedder)


async def seed(mem: AsyncMemory, text: str, *, user_id: str = "alice", **kw: Any) -> str:
    res = await mem.add(text, user_id=user_id, infer=False, **kw)
    return res["results"][0]["id"]


def texts(result: Any) -> list[str]:
    return [r["memory"] for r in result["results"]]


def scores(result: Any) -> dict[str, float]:
    return {r["memory"]: r["score"] for r in result["results"]}


class TableEmbedder(Embedder):
    """Hand-made vectors for known texts (anything else: the hash embedding)."""

    name = "table"

    def __init__(self, table: dict[str, list[float]], dims: int = 4) -> None:
        super().__init__(None)
        self.table = table
        self._dims = dims
        self.calls: list[tuple[str, list[str]]] = []

    @property
    def dims(self) -> int:
        return self._dims

    async def embed(self, texts_: Sequence[str], *, purpose: Any = "add") -> list[list[float]]:
        self.calls.append((purpose, list(texts_)))
        return [list(self.table[t]) if t in self.table else hash_embedding(t, self._dims) for t in texts_]


DOCS = [
    "the harbour ferry leaves at noon",
    "my sister adopted a grey kitten",
    "the kitten sleeps on the ferry",
    "noon is lunch time at the office",
    "grey clouds over the harbour today",
    "invoice XK-4471 was paid in March",
]


def expected_weighted(
    query: str,
    docs: Sequence[str],
    w: float = 0.5,
    *,
    links: Any = None,
    keyword_weight: float = 0.0,
) -> dict[str, float]:
    """The documented hybrid score of every doc: cosine + (1 − w) / w · min(1, BM25 / idf mass);
    with ``links`` (doc -> neighbours) and ``keyword_weight``, the keyword part in context
    (:func:`lend_keywords`)."""
    idx = BM25Index(stemmer="english")  # the default tokeniser stems
    for d in docs:
        idx.add(d, d)
    terms = idx.terms(query)
    bm25, mass = idx.score_terms(terms), idx.idf_mass(terms)
    kw = {d: calibrate_bm25(bm25.get(d, 0.0), mass) for d in docs}
    if keyword_weight:
        kw = dict.fromkeys(docs, 0.0) | lend_keywords(kw, links.__getitem__, weight=keyword_weight)
    q = hash_embedding(query, 384)
    return {d: cosine(q, hash_embedding(d, 384)) + (1 - w) / w * kw[d] for d in docs}


# ======================================================================================= config
def test_defaults_hybrid_weighted_stemmed_expanded_by_time():
    cfg = MemoryConfig().retrieval
    assert (cfg.mode, cfg.fusion, cfg.dense_weight, cfg.rrf_k, cfg.candidates) == ("hybrid", "weighted", 0.5, 60.0, 50)
    assert (cfg.k1, cfg.b, cfg.stopwords, cfg.stemmer) == (1.2, 0.75, True, "english")
    ex = cfg.expand
    assert (ex.enabled, ex.group_by, ex.max_gap_secs, ex.window, ex.weight) == (None, None, 1800.0, 2, 0.15)
    # null: expansion in weighted hybrid mode on the engine's index only
    assert cfg.expanding(False) and not cfg.expanding(True)
    assert not RetrievalConfig(mode="dense").expanding(False)
    assert not RetrievalConfig(mode="bm25").expanding(False)
    assert not RetrievalConfig(fusion="rrf").expanding(False)
    assert RetrievalConfig(mode="bm25", expand={"enabled": True}).expanding(True)
    assert not RetrievalConfig(expand={"enabled": False}).expanding(False)
    assert cfg.uses_index
    assert not RetrievalConfig(mode="dense").uses_index
    assert RetrievalConfig(mode="dense", expand={"enabled": True}).uses_index


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"mode": "sparse"}, "mode"),
        ({"fusion": "max"}, "fusion"),
        ({"dense_weight": 1.5}, "dense_weight"),
        ({"dense_weight": -0.1}, "dense_weight"),
        ({"rrf_k": 0}, "rrf_k"),
        ({"candidates": 0}, "candidates"),
        ({"k1": -1}, "k1"),
        ({"b": 1.5}, "b"),
        ({"max_scopes": 0}, "max_scopes"),
        ({"expand": {"window": 0}}, "window"),
        ({"expand": {"weight": 0}}, "weight"),
        ({"expand": {"weight": 2}}, "weight"),
        ({"expand": {"group_by": " "}}, "group_by"),
        ({"expand": {"enabled": True, "bogus": 1}}, "bogus"),
        ({"bm25_k1": 1.2}, "bm25_k1"),
    ],
)
def test_bad_retrieval_config_names_the_field(section, fragment):
    with pytest.raises(ConfigError) as info:
        load_config({"retrieval": section}, environ={})
    assert fragment in str(info.value)
    with pytest.raises(ValueError):
        engine(retrieval=section)


def test_retrieval_config_shapes():
    cfg = load_config({"retrieval": {"mode": "BM25", "fusion": " RRF "}}, environ={})
    assert cfg.retrieval.mode == "bm25" and cfg.retrieval.fusion == "rrf"
    cfg = load_config(None, environ={"MEM7_RETRIEVAL__MODE": "dense", "MEM7_RETRIEVAL__EXPAND__ENABLED": "true"})
    assert cfg.retrieval.mode == "dense" and cfg.retrieval.expand.enabled


async def test_dense_mode_has_no_index_and_returns_cosine():
    async with engine(retrieval={"mode": "dense"}) as mem:
        assert mem.retriever is None
        for d in DOCS:
            await seed(mem, d)
        r = await mem.search("grey kitten", user_id="alice", limit=3)
        q = hash_embedding("grey kitten", 384)
        for item in r["results"]:
            assert item["score"] == pytest.approx(cosine(q, hash_embedding(item["memory"], 384)), abs=1e-5)


# =================================================================================== semantics
@pytest.mark.parametrize("w", [0.5, 0.3])
async def test_hybrid_score_is_the_documented_weighted_sum(w):
    async with engine(retrieval={"dense_weight": w}) as mem:
        for d in DOCS:
            await seed(mem, d)
        for query in ("grey kitten", "harbour ferry at noon", "XK-4471", "something unrelated entirely"):
            r = await mem.search(query, user_id="alice")
            expected = expected_weighted(query, DOCS, w)
            got = scores(r)
            assert set(got) == set(DOCS)  # pool ≥ scope: every memory is a candidate
            assert got == pytest.approx(expected, abs=1e-5), query
            assert texts(r) == sorted(got, key=lambda t: -got[t])


async def test_keyword_hit_that_the_vectors_miss():
    # The query's vector points at the pasta memory; only BM25 knows the invoice number.
    table = {
        "invoice XK-4471 was paid in March": [0.0, 0.0, 1.0, 0.0],
        "we cooked pasta with friends": [1.0, 0.0, 0.0, 0.0],
        "the cat likes the sofa": [0.0, 1.0, 0.0, 0.0],
        "what happened to XK-4471": [0.9, 0.1, 0.2, 0.0],
    }
    query = "what happened to XK-4471"
    q = table[query]
    for mode, first in (("dense", "we cooked pasta with friends"), ("bm25", "invoice XK-4471 was paid in March")):
        async with engine(embedder=TableEmbedder(table), retrieval={"mode": mode}) as mem:
            for t in list(table)[:3]:
                await seed(mem, t)
            r = await mem.search(query, user_id="alice", limit=1)
            assert texts(r) == [first]
    async with engine(embedder=TableEmbedder(table)) as mem:
        for t in list(table)[:3]:
            await seed(mem, t)
        r = await mem.search(query, user_id="alice")
        got = scores(r)
        # "xk" and "4471" are the only query terms in the index; the invoice holds both, once each
        idx = BM25Index()
        for t in list(table)[:3]:
            idx.add(t, t)
        kw = calibrate_bm25(idx.score(query)["invoice XK-4471 was paid in March"], idx.idf_mass(idx.terms(query)))
        assert got["invoice XK-4471 was paid in March"] == pytest.approx(cosine(q, table["invoice XK-4471 was paid in March"]) + kw)
        # no query word: the score is the plain cosine
        assert got["we cooked pasta with friends"] == pytest.approx(cosine(q, table["we cooked pasta with friends"]))
        assert texts(r)[0] == "invoice XK-4471 was paid in March"


async def test_rrf_scores_are_reciprocal_ranks():
    async with engine(retrieval={"fusion": "rrf", "rrf_k": 10}) as mem:
        for d in DOCS:
            await seed(mem, d)
        query = "grey kitten on the ferry"
        r = await mem.search(query, user_id="alice")
        q = hash_embedding(query, 384)
        dense_rank = sorted(DOCS, key=lambda d: -cosine(q, hash_embedding(d, 384)))
        idx = BM25Index()
        for d in DOCS:
            idx.add(d, d)
        id_of = {i["memory"]: i["id"] for i in (await mem.get_all(user_id="alice"))["results"]}
        kw = idx.score(query)
        kw_rank = sorted(kw, key=lambda d: (-kw[d], id_of[d]))  # ties broken by id, as the engine does
        expected = rrf([dense_rank, kw_rank], k=10)
        assert scores(r) == pytest.approx(expected, abs=1e-9)
        assert len(kw_rank) < len(DOCS)  # some memories share no word: they score from one list only


async def test_bm25_mode_scores_and_skips_the_query_embedding():
    emb = HashEmbedder()
    async with engine(embedder=emb, retrieval={"mode": "bm25"}) as mem:
        for d in DOCS:
            await seed(mem, d)
        emb.calls.clear()
        r = await mem.search("grey kitten", user_id="alice")
        assert emb.calls == []  # keywords only: no embedding call at all
        idx = BM25Index()
        for d in DOCS:
            idx.add(d, d)
        mass = idx.idf_mass(idx.terms("grey kitten"))
        assert scores(r) == pytest.approx({d: calibrate_bm25(s, mass) for d, s in idx.score("grey kitten").items()})
        assert (await mem.search("zebra", user_id="alice"))["results"] == []


async def test_threshold_applies_to_the_fused_score():
    async with engine() as mem:
        for d in DOCS:
            await seed(mem, d)
        expected = expected_weighted("grey kitten", DOCS)
        cut = sorted(expected.values())[-3] - 1e-9
        r = await mem.search("grey kitten", user_id="alice", threshold=cut)
        assert len(r["results"]) == 3
        assert all(i["score"] >= cut for i in r["results"])


# ============================================================================ incremental index
async def test_index_follows_every_write_without_rebuilding():
    async with engine(retrieval={"mode": "bm25"}) as mem:
        a = await seed(mem, "the harbour ferry leaves at noon")
        await seed(mem, "bob has a kayak", user_id="bob")
        assert texts(await mem.search("ferry", user_id="alice")) == ["the harbour ferry leaves at noon"]
        indexes = mem.retriever.indexes
        assert indexes.builds == 1
        b = await seed(mem, "a second ferry to the island")  # add
        assert set(texts(await mem.search("ferry", user_id="alice"))) == {
            "the harbour ferry leaves at noon",
            "a second ferry to the island",
        }
        await mem.update(a, "the harbour bus leaves at noon")  # update: old words gone, new ones in
        assert texts(await mem.search("ferry", user_id="alice")) == ["a second ferry to the island"]
        assert texts(await mem.search("bus", user_id="alice")) == ["the harbour bus leaves at noon"]
        await mem.delete(b)  # delete
        assert texts(await mem.search("ferry", user_id="alice")) == []
        run = await seed(mem, "ferry tickets for the trip", run_id="trip")  # into a sub-scope of alice
        assert texts(await mem.search("ferry", user_id="alice")) == ["ferry tickets for the trip"]
        assert texts(await mem.search("ferry", user_id="alice", run_id="trip")) == ["ferry tickets for the trip"]
        assert indexes.builds == 2  # alice+trip was built once; alice never again
        await mem.add(["ferry one", "ferry two"], user_id="alice", run_id="trip", infer=False)
        assert len((await mem.search("ferry", user_id="alice", run_id="trip"))["results"]) == 3
        await mem.delete_all(user_id="alice", run_id="trip")  # delete_all
        assert texts(await mem.search("ferry", user_id="alice")) == []
        assert texts(await mem.search("ferry", user_id="alice", run_id="trip")) == []
        assert await mem.get(run) is None
        assert indexes.builds == 2
        # the index holds exactly what the store holds, as a rebuild would
        idx = indexes.cached(Scope(user_id="alice"))
        assert sorted(idx._docs) == sorted(i["id"] for i in (await mem.get_all(user_id="alice"))["results"])
        await mem.reset()  # reset drops every index
        assert texts(await mem.search("bus", user_id="alice")) == []
        assert texts(await mem.search("kayak", user_id="bob")) == []
        await seed(mem, "kayak again", user_id="bob")
        assert texts(await mem.search("kayak", user_id="bob")) == ["kayak again"]


async def test_index_is_built_lazily_from_a_persisted_store(tmp_path):
    cfg = {**BASE, "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "vec"), "fsync": False}}}
    async with AsyncMemory({**cfg, "retrieval": {"mode": "dense"}}) as mem:
        for d in DOCS:
            await seed(mem, d)
        await seed(mem, "bob's kitten is grey too", user_id="bob")
    async with AsyncMemory({**cfg, "retrieval": {"expand": {"enabled": False}}}) as mem:  # a new process
        assert mem.retriever.indexes.builds == 0
        r = await mem.search("XK-4471", user_id="alice", limit=1)
        assert texts(r) == ["invoice XK-4471 was paid in March"]
        assert scores(await mem.search("grey kitten", user_id="alice")) == pytest.approx(
            expected_weighted("grey kitten", DOCS), abs=1e-5
        )
        assert mem.retriever.indexes.builds == 1


async def test_least_recently_searched_scopes_are_dropped():
    async with engine(retrieval={"mode": "bm25", "max_scopes": 2}) as mem:
        for user in ("u1", "u2", "u3"):
            await seed(mem, f"note for {user}", user_id=user)
        for user in ("u1", "u2", "u1", "u3"):
            assert texts(await mem.search("note", user_id=user)) == [f"note for {user}"]
        indexes = mem.retriever.indexes
        assert len(indexes) == 2 and indexes.builds == 3
        assert indexes.cached(Scope(user_id="u2")) is None  # least recently searched
        await seed(mem, "another note for u2", user_id="u2")  # written while not cached: fine
        assert len((await mem.search("note", user_id="u2"))["results"]) == 2
        assert indexes.builds == 4


# ==================================================================================== isolation
async def test_keyword_hits_never_cross_scope():
    async with engine() as mem:
        await seed(mem, "alice keeps the zebra figurine")
        await seed(mem, "bob keeps the zebra poster", user_id="bob")
        await seed(mem, "agent note about the zebra", user_id="alice", agent_id="helper")
        await seed(mem, "carol zebra", user_id="carol", run_id="r1")
        for user in ("alice", "bob", "carol"):
            r = await mem.search("zebra", user_id=user)
            assert r["results"] and all(i["user_id"] == user for i in r["results"])
        assert set(texts(await mem.search("zebra poster", user_id="alice"))) == {
            "alice keeps the zebra figurine",
            "agent note about the zebra",
        }
        r = await mem.search("zebra", user_id="alice", agent_id="helper")
        assert texts(r) == ["agent note about the zebra"]
        r = await mem.search("zebra", agent_id="helper")
        assert texts(r) == ["agent note about the zebra"]
        assert (await mem.search("zebra", user_id="carol", run_id="r2"))["results"] == []
        # a scope id given in filters is scope too, and OR cannot widen it
        r = await mem.search("zebra", user_id="alice", filters={"OR": [{"user_id": "bob"}, {"agent_id": "helper"}]})
        assert texts(r) == ["agent note about the zebra"]


# ====================================================================================== filters
FILTER_DATA = [
    ("apple pie recipe", {"n": 1, "tag": "Alpha", "tags": ["x", "y"]}),
    ("banana bread recipe", {"n": 2, "tag": "beta", "tags": ["y"]}),
    ("cherry tart recipe", {"n": 3, "tag": "gamma"}),
    ("durian cake recipe", {"n": 4, "tag": "alpha"}),
    ("recipe recipe recipe index", {"n": 5, "tag": "beta"}),
]
FILTERS = [
    {"tag": "beta"},
    {"n": {"gte": 2, "lt": 4}},
    {"tag": {"icontains": "ALPH"}},
    {"tags": {"contains": "y"}},
    {"OR": [{"tag": "gamma"}, {"n": 5}]},
    {"NOT": [{"tag": {"in": ["beta", "gamma"]}}]},
    {"tags": "*"},
    {"n": {"gt": 99}},
]


class EqOnlyStore(FlatVectorStore):
    """Pushes down only ``eq``: the engine evaluates the rest itself."""

    name = "eq-only"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(filter_operators=frozenset({"eq"}))

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.capabilities = EqOnlyStore.capabilities  # type: ignore[misc]

    async def search(self, vector, *, scope, limit, filters=None):  # type: ignore[override]
        assert operators_of(filters) <= {"eq", "AND", "OR", "NOT"}
        return await super().search(vector, scope=scope, limit=limit, filters=filters)


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
@pytest.mark.parametrize("store_cls", [FlatVectorStore, EqOnlyStore], ids=["pushdown", "eq-only"])
@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
async def test_filters_apply_to_keyword_hits(filters, store_cls, fusion):
    # candidates=1: the vector search contributes one hit, so the others come in through BM25
    # and must be filtered by the engine on their payloads.
    async with engine(vector_store=store_cls(), retrieval={"candidates": 1, "fusion": fusion}) as mem:
        for user in ("alice", "bob"):
            for text, meta in FILTER_DATA:
                await seed(mem, text, user_id=user, metadata=meta)
        allowed = {i["memory"] for i in (await mem.get_all(user_id="alice", filters=filters))["results"]}
        r = await mem.search("recipe", user_id="alice", filters=filters, limit=10)
        assert set(texts(r)) == allowed
        assert all(i["user_id"] == "alice" for i in r["results"])
        for limit in (1, 2):
            r = await mem.search("recipe", user_id="alice", filters=filters, limit=limit)
            assert len(r["results"]) == min(limit, len(allowed))
            assert set(texts(r)) <= allowed


async def test_small_pool_gives_the_exact_top_of_the_candidates():
    # Whatever the pool, the fused top-k is exact: a small pool only narrows what is considered.
    async with engine() as small, engine(retrieval={"candidates": 2}) as tiny:
        for d in DOCS:
            await seed(small, d)
            await seed(tiny, d)
        for query in ("grey kitten", "harbour ferry at noon", "noon office"):
            full = scores(await small.search(query, user_id="alice"))
            got = scores(await tiny.search(query, user_id="alice", limit=2))
            for t, s in got.items():
                assert s == pytest.approx(full[t], abs=1e-6)  # the same documented score
            assert list(got) == sorted(got, key=lambda t: -got[t])


# ============================================================================ other writers
async def test_another_writer_on_the_same_store_is_noticed():
    store = FlatVectorStore()
    async with engine(vector_store=store) as reader, engine(vector_store=store, retrieval={"mode": "dense"}) as writer:
        gone = await seed(writer, "the zebra crossing near school")
        await seed(writer, "a quiet street")
        assert texts(await reader.search("zebra", user_id="alice", limit=1)) == ["the zebra crossing near school"]
        indexes = reader.retriever.indexes
        assert indexes.builds == 1
        # Written behind the reader's back (another process, in real life): the vector search
        # returns it, which tells the reader its index is stale; the next search rebuilds.
        await seed(writer, "zebra stripes on the sofa")
        r = await reader.search("zebra stripes", user_id="alice")
        assert "zebra stripes on the sofa" in texts(r)
        assert indexes.cached(Scope(user_id="alice")) is None
        r = await reader.search("zebra stripes", user_id="alice", limit=1)
        assert texts(r) == ["zebra stripes on the sofa"]
        assert indexes.builds == 2
        # Deleted behind its back: the stale keyword hit is dropped when its record is read.
        await writer.delete(gone)
        r = await reader.search("zebra crossing school", user_id="alice")
        assert "the zebra crossing near school" not in texts(r)
        assert gone not in indexes.cached(Scope(user_id="alice"))


class SlowInsertStore(FlatVectorStore):
    """insert() lands, then waits on a gate before returning (a slow acknowledgement)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.landed = asyncio.Event()

    async def insert(self, records):  # type: ignore[override]
        await super().insert(records)
        if not self.gate.is_set():
            self.landed.set()
            await self.gate.wait()


async def test_own_write_in_flight_is_not_taken_for_a_stale_index():
    store = SlowInsertStore()
    store.gate.set()
    async with engine(vector_store=store) as mem:
        await seed(mem, "the harbour ferry leaves at noon")
        await mem.search("ferry", user_id="alice")
        store.gate.clear()
        adding = asyncio.ensure_future(seed(mem, "a second ferry to the island"))
        await asyncio.wait_for(store.landed.wait(), 2)
        r = await mem.search("second ferry island", user_id="alice")  # the vector search sees it already
        assert "a second ferry to the island" in texts(r)
        indexes = mem.retriever.indexes
        assert indexes.cached(Scope(user_id="alice")) is not None  # not invalidated
        store.gate.set()
        new = await asyncio.wait_for(adding, 2)
        assert new in indexes.cached(Scope(user_id="alice")) and indexes.builds == 1 and not indexes.writing


class GatedListStore(FlatVectorStore):
    """list() takes its snapshot, then waits on a gate: a listing that predates later writes."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.listing = asyncio.Event()

    async def list(self, *, scope, filters=None, limit=None):  # type: ignore[override]
        snapshot = await super().list(scope=scope, filters=filters, limit=limit)
        self.listing.set()
        await self.gate.wait()
        return snapshot


async def test_writes_during_an_index_build_are_replayed():
    store = GatedListStore()
    async with engine(vector_store=store, retrieval={"mode": "bm25"}) as mem:
        old = await seed(mem, "old ferry note")
        searching = asyncio.ensure_future(mem.search("ferry", user_id="alice"))
        also = asyncio.ensure_future(mem.search("ferry", user_id="alice"))  # shares the build
        await asyncio.wait_for(store.listing.wait(), 2)
        new = await seed(mem, "new ferry note")  # not in the snapshot
        await mem.delete(old)  # in the snapshot, gone now
        store.gate.set()
        r1, r2 = await asyncio.wait_for(asyncio.gather(searching, also), 2)
        assert texts(r1) == texts(r2) == ["new ferry note"]
        idx = mem.retriever.indexes.cached(Scope(user_id="alice"))
        assert new in idx and old not in idx
        assert mem.retriever.indexes.builds == 1


class FailingInsertStore(FlatVectorStore):
    fail = False

    async def insert(self, records):  # type: ignore[override]
        await super().insert(records)
        if self.fail:
            raise RuntimeError("store timed out after writing")


async def test_failed_write_drops_the_touched_index():
    store = FailingInsertStore()
    async with engine(vector_store=store, retrieval={"mode": "bm25"}) as mem:
        await seed(mem, "ferry one")
        assert texts(await mem.search("ferry", user_id="alice")) == ["ferry one"]
        store.fail = True
        with pytest.raises(RuntimeError):
            await seed(mem, "ferry two")
        store.fail = False
        assert mem.retriever.indexes.cached(Scope(user_id="alice")) is None
        assert texts(await mem.search("ferry", user_id="alice")) == ["ferry one"]  # undone, rebuilt
        assert mem.retriever.indexes.builds == 2


# ==================================================================================== expansion
SESSION_1 = ["Did you go anywhere fun?", "Yes, we took the night train to Vienna", "How was the opera there?", "Loved it"]
SESSION_2 = ["New topic: my garden", "The tomatoes are ripe"]


async def _conversation(mem: AsyncMemory, *, meta_key: str = "session") -> None:
    await mem.add(SESSION_1, user_id="alice", infer=False, metadata={meta_key: 1, "tag": "travel"})
    await mem.add(SESSION_2, user_id="alice", infer=False, metadata={meta_key: 2, "tag": "home"})


async def test_expansion_brings_the_answer_next_to_the_question():
    expand_cfg = {"enabled": True, "group_by": "session", "window": 1, "weight": 0.2, "keyword_weight": 0}
    async with engine(retrieval={"mode": "bm25"}) as plain, engine(retrieval={"mode": "bm25", "expand": expand_cfg}) as mem:
        await _conversation(plain)
        await _conversation(mem)
        query = "opera"
        assert texts(await plain.search(query, user_id="alice")) == ["How was the opera there?"]
        r = scores(await mem.search(query, user_id="alice"))
        hit = r["How was the opera there?"]
        assert hit == pytest.approx(1.0)  # one query term, held once, average length: calibrated 1
        # its neighbours in the same session come in on its strength alone: 0.2 × 1.0
        assert r == pytest.approx({"How was the opera there?": 1.0, "Yes, we took the night train to Vienna": 0.2, "Loved it": 0.2})


@pytest.mark.parametrize("keyword_weight", [0.0, 0.4])
@pytest.mark.parametrize("window", [1, 2])
async def test_expansion_matches_the_reference_definition(window, keyword_weight):
    # All memories are candidates (pool ≥ scope), so the engine's scores must equal expand() over
    # the weighted own scores (keyword part in context: lend_keywords), with neighbours = turns of
    # the same session within the window.
    cfg = {
        "expand": {
            "enabled": True, "group_by": "session", "window": window, "weight": 0.3, "keyword_weight": keyword_weight
        }
    }
    async with engine(retrieval=cfg) as mem:
        await _conversation(mem)
        all_texts = SESSION_1 + SESSION_2
        links = {t: [] for t in all_texts}
        for session in (SESSION_1, SESSION_2):
            for i, t in enumerate(session):
                links[t] = [session[j] for j in range(i - window, i + window + 1) if j != i and 0 <= j < len(session)]
        for query in ("train to Vienna", "ripe tomatoes in the garden", "opera"):
            own = expected_weighted(query, all_texts, links=links, keyword_weight=keyword_weight)
            expected = expand(own, links.__getitem__, weight=0.3)
            assert scores(await mem.search(query, user_id="alice")) == pytest.approx(expected, abs=1e-5), query


async def test_expansion_stays_in_its_group_and_honours_filters():
    cfg = {"mode": "bm25", "expand": {"enabled": True, "group_by": "session", "window": 1, "keyword_weight": 0}}
    async with engine(retrieval=cfg) as mem:
        await _conversation(mem)
        # "Loved it" ends session 1; "New topic" starts session 2: not neighbours
        r = scores(await mem.search("loved", user_id="alice"))
        assert set(r) == {"Loved it", "How was the opera there?"}
        # a neighbour failing the filter is not returned
        r = scores(await mem.search("garden", user_id="alice", filters={"tag": "home"}))
        assert set(r) == {"New topic: my garden", "The tomatoes are ripe"}
        r = scores(await mem.search("opera", user_id="alice", filters={"NOT": [{"tag": "travel"}]}))
        assert r == {}
    # grouping by run_id (the default key): same behaviour through the scope id
    async with engine(retrieval={"mode": "bm25", "expand": {"enabled": True, "window": 1, "keyword_weight": 0}}) as mem:
        await mem.add(SESSION_1, user_id="alice", run_id="s1", infer=False)
        assert set(scores(await mem.search("opera", user_id="alice"))) == {
            "How was the opera there?",
            "Yes, we took the night train to Vienna",
            "Loved it",
        }


async def test_keyword_context_makes_the_reply_a_candidate():
    # The reply repeats none of the question's words: alone, keywords never find it; in context it
    # takes keyword_weight x the best keyword score next to it (bm25 mode: the score is that).
    lend = {"enabled": True, "group_by": "session", "window": 1, "weight": 0.2}
    async with engine(retrieval={"mode": "bm25", "expand": {**lend, "keyword_weight": 0}}) as alone, engine(
        retrieval={"mode": "bm25", "expand": {**lend, "keyword_weight": 0.5}}
    ) as ctx:
        for mem in (alone, ctx):
            await _conversation(mem)
        assert "Loved it" not in scores(await alone.search("opera", user_id="alice", limit=10, threshold=0.25))
        r = scores(await ctx.search("opera", user_id="alice", limit=10))
        # own keyword score 0.5 x 1.0, plus 0.2 x the question's own score (1.0) by expansion
        assert r["Loved it"] == pytest.approx(0.5 + 0.2 * 1.0)
        # the question turn gains back what its neighbours now own (0.2 x (0.5 + 0.5))
        assert r["How was the opera there?"] == pytest.approx(1.0 + 0.2 * 1.0)
        # never across the session boundary, never past a filter
        assert "New topic: my garden" not in r
        r = scores(await ctx.search("opera", user_id="alice", filters={"tag": "home"}))
        assert r == {}


async def test_keyword_context_does_not_cross_a_pause():
    from datetime import UTC, datetime, timedelta

    now = [datetime(2024, 5, 1, 10, 0, tzinfo=UTC)]
    cfg = {**BASE, "retrieval": {"mode": "bm25", "expand": {"enabled": True, "window": 1, "weight": 0.01}}}
    async with AsyncMemory(cfg, llm=ScriptedLLM(), clock=lambda: now[0]) as mem:
        await mem.add(["the violin recital was lovely"], user_id="alice", infer=False)
        now[0] += timedelta(hours=3)
        await mem.add(["we bought bread"], user_id="alice", infer=False)
        now[0] += timedelta(minutes=1)
        await mem.add(["and cheese"], user_id="alice", infer=False)
        r = scores(await mem.search("violin", user_id="alice"))
        assert set(r) == {"the violin recital was lovely"}  # three hours later: not a neighbour
        r = scores(await mem.search("bread", user_id="alice"))
        # bread's own keyword score k: the next turn owns 0.4 k and gets 0.01 k by expansion; bread
        # gets 0.01 x 0.4 k back
        assert r["and cheese"] == pytest.approx(r["we bought bread"] * 0.41 / 1.004)


def test_keyword_context_lends_only_from_the_best_matches():
    # Far more matches than 4 x pool: the retriever lends from the best 4 x pool only. What it
    # returns never exceeds the reference definition, and its top pool is the reference's, exactly.
    from mem7_core.retrieval.hybrid import _lend_keywords

    idx = BM25Index(stemmer="english", group_by="session")
    for i in range(120):
        idx.add(f"d{i:03}", f"note {i} " + "kiwi " * (1 + i % 5) + "filler " * (i % 7), {"session": i // 40})
    for query in ("kiwi", "kiwi filler"):
        terms = idx.terms(query)
        bm25, mass = idx.score_terms(terms), idx.idf_mass(terms)
        ranked = sorted(sorted(bm25), key=bm25.__getitem__, reverse=True)
        own = {i: calibrate_bm25(bm25[i], mass) for i in bm25}
        reference = lend_keywords(own, lambda i: idx.neighbours(i, 2), weight=0.4)
        for pool in (2, 5):
            got = _lend_keywords(idx, bm25, mass, ranked, 0.4, 2, pool, every=False)
            assert len(got) < len(reference)  # the far matches were not touched
            assert all(v <= reference[i] + 1e-12 for i, v in got.items())
            top = sorted(sorted(got), key=got.__getitem__, reverse=True)[:pool]
            want = sorted(sorted(reference), key=reference.__getitem__, reverse=True)[:pool]
            # the same scores at the top (ties at the cap of 1 may be broken by other ids), each exact
            assert [got[i] for i in top] == pytest.approx([reference[i] for i in want])
            assert all(got[i] == pytest.approx(reference[i]) for i in top)
            every = _lend_keywords(idx, bm25, mass, ranked, 0.4, 2, pool, every=True)
            assert set(every) == set(reference)  # a filtered search scores every match


@pytest.mark.parametrize("pause_minutes", [10, 120])
async def test_default_expansion_groups_by_time_without_any_session_key(pause_minutes):
    # The default config: expansion on (weighted hybrid, the engine's index), neighbours in creation
    # order, cut where the conversation paused more than 30 minutes. The caller tags nothing.
    from datetime import UTC, datetime, timedelta

    now = [datetime(2024, 5, 1, 10, 0, tzinfo=UTC)]
    async with AsyncMemory(BASE, llm=ScriptedLLM(), clock=lambda: now[0]) as mem:
        assert mem.retriever is not None and mem.retriever.expanding
        await mem.add(SESSION_1, user_id="alice", infer=False)
        now[0] += timedelta(minutes=pause_minutes)
        await mem.add(SESSION_2, user_id="alice", infer=False)
        all_texts = SESSION_1 + SESSION_2
        runs = [all_texts] if pause_minutes <= 30 else [SESSION_1, SESSION_2]
        links: dict[str, list[str]] = {}
        for run in runs:
            for i, t in enumerate(run):
                links[t] = [run[j] for j in range(i - 2, i + 3) if j != i and 0 <= j < len(run)]
        for query in ("opera", "ripe tomatoes in the garden"):
            own = expected_weighted(query, all_texts, links=links, keyword_weight=0.4)
            expected = expand(own, links.__getitem__, weight=0.15)
            assert scores(await mem.search(query, user_id="alice")) == pytest.approx(expected, abs=1e-5), query


async def test_stemmer_config():
    assert RetrievalConfig(stemmer=" Porter ").stemmer == "porter"
    assert RetrievalConfig(stemmer=None).stemmer is None
    with pytest.raises(ConfigError, match=r"retrieval\.stemmer 'klingon' is not a Snowball language.*english"):
        load_config({"retrieval": {"stemmer": "klingon"}}, environ={})
    # null: words as written ("paintings" no longer finds "painted")
    async with engine(retrieval={"mode": "bm25", "stemmer": None}) as plain, engine(retrieval={"mode": "bm25"}) as mem:
        for m in (plain, mem):
            await seed(m, "Melanie painted a sunset")
        assert texts(await plain.search("paintings", user_id="alice")) == []
        assert texts(await mem.search("paintings", user_id="alice")) == ["Melanie painted a sunset"]


async def test_expansion_in_dense_mode_uses_the_index_for_neighbours_only():
    cfg = {"mode": "dense", "expand": {"enabled": True, "group_by": "session", "window": 1}}
    async with engine(retrieval=cfg) as mem:
        await _conversation(mem)
        assert mem.retriever is not None
        r = scores(await mem.search("Loved it", user_id="alice", limit=1))
        q = hash_embedding("Loved it", 384)
        own = {t: cosine(q, hash_embedding(t, 384)) for t in SESSION_1 + SESSION_2}
        expected = own["Loved it"] + 0.2 * max(own["How was the opera there?"], 0.0)
        assert r == pytest.approx({"Loved it": expected}, abs=1e-5)


# ================================================================================= composition
async def test_reranker_sees_the_fused_candidates():
    from mem7_core.models import RerankResult
    from mem7_core.providers import Reranker

    class Recorder(Reranker):
        name = "recorder"

        def __init__(self) -> None:
            super().__init__(None)
            self.docs: list[list[str]] = []

        async def rerank(self, query, documents, *, top_n=None):  # type: ignore[override]
            self.docs.append(list(documents))
            return [RerankResult(index=i, score=1.0 / (i + 1)) for i in range(len(documents))]

    rr = Recorder()
    cfg = {**BASE, "retrieval": {"expand": {"enabled": False}}}
    async with AsyncMemory(cfg, llm=ScriptedLLM(), reranker=rr) as mem:
        for d in DOCS:
            await seed(mem, d)
        await mem.search("XK-4471 kitten", user_id="alice", limit=2)
        expected = expected_weighted("XK-4471 kitten", DOCS)
        assert rr.docs == [sorted(expected, key=lambda t: -expected[t])[:6]]  # limit 2 × multiplier 3, fused order


async def test_store_is_listed_once_per_scope(monkeypatch):
    # The index is never rebuilt per query: listing the store happens once per scope.
    store = FlatVectorStore()
    calls = {"list": 0}
    original = store.list

    async def counting_list(**kw):
        calls["list"] += 1
        return await original(**kw)

    monkeypatch.setattr(store, "list", counting_list)
    async with engine(vector_store=store) as mem:
        for d in DOCS:
            await seed(mem, d)
        for _ in range(5):
            await mem.search("grey kitten", user_id="alice")
            await seed(mem, "one more grey note")
        assert calls["list"] == 1
