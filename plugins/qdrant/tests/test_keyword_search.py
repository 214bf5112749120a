"""Keyword search in Qdrant: sparse vectors with the IDF modifier, in local mode.

The store-neutral contract (ranking, scope isolation, filters, limit, rewords and deletes, unusual
text) is the core's :class:`KeywordSearchConformance`, run here on local mode with keyword search
switched on (server mode declares it by default; local mode does not). Each document's weights are
written with a fixed reference length (``keyword_avgdl``), so the reference it is held to is the
engine's :class:`BM25Index` normalising by that length (:class:`FixedLengthBM25Index`): then the
store's BM25 *is* the index's, up to Qdrant's float32 sums. With the live average length instead
it is close, with the same top (``test_default_reference_length_agrees_with_the_core_index``).
The tests below the suite classes are Qdrant's own: the encoding, the options, the collections.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models

from mem7_core import AsyncMemory
from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.providers import VectorStore
from mem7_core.retrieval import BM25Index
from mem7_core.testing import KeywordSearchConformance
from mem7_core.testing.keywords import KEYWORD_CORPUS as CORPUS
from mem7_core.testing.keywords import KEYWORD_OTHERS as OTHERS
from mem7_core.testing.keywords import KEYWORD_QUERIES as QUERIES
from mem7_core.testing.keywords import FixedLengthBM25Index, hit_pairs, keyword_reference
from mem7_qdrant import QdrantVectorStore
from mem7_qdrant._keywords import KEYWORDS, PRESENT, KeywordParams, term_id

DIMS = 4

ALICE = {rid: text for rid, text, _ in CORPUS}


def avgdl(texts: dict[str, str]) -> float:
    index = BM25Index()
    for rid, text in texts.items():
        index.add(rid, text)
    return index.avgdl


ALICE_AVGDL = avgdl(ALICE)


def vec(i: int) -> list[float]:
    v = [0.1] * DIMS
    v[i % DIMS] = 1.0
    return v


def record(rid: str, text: str, extra: dict[str, Any], i: int = 0) -> VectorRecord:
    payload = {"data": text, "user_id": "alice", "created_at": f"2024-01-01T00:00:{i:02d}", **extra}
    return VectorRecord(id=rid, vector=vec(i), payload=payload)


def reference(
    texts: dict[str, str], query: str, *, k1: float = 1.2, b: float = 0.75, stopwords: bool = True,
    fixed_avgdl: float | None = None,
) -> list[tuple[str, float]]:
    """The engine's in-process answer: BM25Index over ``texts``, calibrated, best first, ties by id
    (``fixed_avgdl``: with that reference length instead of the texts' average, as the store)."""
    index = (
        BM25Index(k1=k1, b=b, stopwords=stopwords) if fixed_avgdl is None
        else FixedLengthBM25Index(fixed_avgdl, k1=k1, b=b, stopwords=stopwords)
    )
    return keyword_reference(texts, query, index=index)


pairs = hit_pairs


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    """Same ids in the same order, scores equal up to Qdrant's float32 arithmetic."""
    assert [i for i, _ in got] == [i for i, _ in want]
    for (_, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, rel=2e-5, abs=1e-6)


def store(**config: Any) -> QdrantVectorStore:
    return QdrantVectorStore.from_config({"location": ":memory:", "dims": DIMS, "keyword_search": True, **config})


# ---------------------------------------------------------------------------------- the suite
class TestQdrantKeywordSearch(KeywordSearchConformance):
    """Local mode with keyword search on (as the keyword tests here open it) and the default fixed
    reference length (10 words): the reference normalises lengths by the same."""

    dims = DIMS
    keyword_tolerance = 2e-5  # Qdrant sums float32 weights

    @pytest.fixture
    async def vector_store(self):
        s = store()
        yield s
        await s.aclose()

    def keyword_index(self, store: VectorStore) -> BM25Index:
        assert isinstance(store, QdrantVectorStore)
        c = store.config
        return FixedLengthBM25Index(c.keyword_avgdl, k1=c.keyword_k1, b=c.keyword_b, stopwords=c.keyword_stopwords)


class TestQdrantKeywordSearchTuned(TestQdrantKeywordSearch):
    """Other BM25 parameters, function words kept, and the corpus's own average length: the
    store ranks as an index configured the same way."""

    @pytest.fixture
    async def vector_store(self):
        s = store(keyword_k1=2.0, keyword_b=0.3, keyword_stopwords=False, keyword_avgdl=ALICE_AVGDL)
        yield s
        await s.aclose()


async def test_updating_vector_and_text_at_once_writes_both():
    """One update of the dense vector and the text: both vectors are rewritten together (the
    keyword side of it is the suite's; here the dense side)."""
    s = store()
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    await s.update("a01", vector=vec(2), payload={"data": "Alice drinks rooibos", "user_id": "alice"})
    (got,) = await s.get(["a01"])
    norm = sum(x * x for x in vec(2)) ** 0.5
    assert got.vector == pytest.approx([x / norm for x in vec(2)], rel=1e-5)  # Qdrant keeps cosine vectors normalised
    assert got.payload == {"data": "Alice drinks rooibos", "user_id": "alice"}
    assert [h.id for h in await s.keyword_search("rooibos", scope=Scope(user_id="alice"), limit=5)] == ["a01"]
    await s.aclose()


# ---------------------------------------------------------------------------------- encoding
def test_sparse_vector_of_a_text():
    kw = KeywordParams(k1=1.2, b=0.75, avgdl=4.0)
    sv = kw.document("Alice's tea, the tea!")  # alice s tea tea -> "s" is a function word: alice tea tea
    assert sv.indices[0] == PRESENT and sv.values[0] == 1.0
    assert sv.indices[1:] == sorted([term_id("alice"), term_id("tea")])
    weights = dict(zip(sv.indices, sv.values))
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 4.0)
    assert weights[term_id("tea")] == pytest.approx(2 * 2.2 / (2 + norm))
    assert weights[term_id("alice")] == pytest.approx(2.2 / (1 + norm))
    # A document of the reference length holding a term once weighs exactly 1 (the calibration's unit).
    one = KeywordParams(avgdl=2.0).document("green tea")
    assert one.values[1:] == pytest.approx([1.0, 1.0])
    assert KeywordParams().document("").indices == [PRESENT]  # no word: still has the vector (counts in N)
    assert term_id("tea") == term_id("tea") != term_id("teas") and 0 < term_id("x") < 2**32
    assert KeywordParams().query_ids("What did Alice's cat eat? cat!") == [term_id(w) for w in ("alice", "cat", "eat")]
    assert KeywordParams(stopwords=False).query_ids("what did") == [term_id("what"), term_id("did")]


def test_capability_declared_and_switchable():
    assert QdrantVectorStore.capabilities.keyword_search
    on, off = store(), store(keyword_search=False)
    assert on.capabilities.keyword_search and not off.capabilities.keyword_search
    assert off.capabilities.logical and off.capabilities.filter_operators == on.capabilities.filter_operators


def test_local_mode_has_scoped_idf():
    """What this plugin relies on: qdrant-client's models carry the IDF modifier and ``idf.corpus``."""
    assert models.Modifier.IDF.value == "idf"
    models.SearchParams(idf=models.IdfCorpusParams(corpus=models.Filter(must=[])))


# ---------------------------------------------------------------------------------- ranking
async def test_default_reference_length_agrees_with_the_core_index():
    """With the fixed default ``keyword_avgdl`` (10 words, not this scope's 5.5) the ranking is the
    index's and the scores stay close: memories look shorter than the reference, so their term
    weights (and scores) run a little higher, most for the longest (here by at most 0.26)."""
    s = store()
    assert s.config.keyword_avgdl == 10.0 and pytest.approx(5.5) == ALICE_AVGDL
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    for query in QUERIES:
        got = pairs(await s.keyword_search(query, scope=Scope(user_id="alice"), limit=100))
        want = reference(ALICE, query)
        assert [i for i, _ in got] == [i for i, _ in want], query  # the same matches, in the same order
        for (i, a), (_, b) in zip(got, want):
            assert b - 1e-6 <= a <= b + 0.3, (query, i)
    await s.aclose()


async def test_collection_wide_idf_is_an_option():
    s = store(keyword_idf="collection", keyword_avgdl=ALICE_AVGDL)
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS + OTHERS)])
    everything = {**ALICE, **{rid: text for rid, text, _ in OTHERS}}
    got = pairs(await s.keyword_search("Miso", scope=Scope(user_id="alice"), limit=100))
    # Ranked within the scope, with the idf of the whole collection (15 points, 3 holding "Miso").
    index = BM25Index()
    for rid, text in everything.items():
        index.add(rid, text)
    assert [i for i, _ in got] == ["a08", "a09"]  # the same length: a tie, by id
    assert all(0 < sc <= 1 for _, sc in got)
    assert s._kw is not None
    await s.aclose()


# ---------------------------------------------------------------------------------- collections
async def test_keyword_search_off_writes_no_sparse_vector():
    s = store(keyword_search=False)
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    info = await s._get_client().get_collection(s.config.collection_name)
    assert not info.config.params.sparse_vectors
    with pytest.raises(NotImplementedError, match="keyword_search"):
        await s.keyword_search("tea", scope=Scope(user_id="alice"), limit=5)
    await s.aclose()


async def test_new_collection_records_its_keyword_parameters(fast_tmp: Path, caplog: pytest.LogCaptureFixture):
    path = str(fast_tmp / "q")
    a = QdrantVectorStore.from_config({"path": path, "dims": DIMS, "keyword_avgdl": ALICE_AVGDL, "keyword_search": True})
    await a.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    info = await a._get_client().get_collection(a.config.collection_name)
    assert info.config.params.sparse_vectors[KEYWORDS].modifier == models.Modifier.IDF
    assert info.config.metadata[KEYWORDS]["avgdl"] == pytest.approx(ALICE_AVGDL)
    await a.aclose()
    # Reopened with other settings: the recorded ones win (every writer writes the same weights).
    b = QdrantVectorStore.from_config({"path": path, "dims": DIMS, "keyword_avgdl": 3.0, "keyword_k1": 2.0, "keyword_search": True})
    with caplog.at_level(logging.WARNING, logger="mem7.qdrant"):
        await b.insert([record("z1", "Alice learns the cello", {}, 20)])
    assert "recorded when it was created" in caplog.text
    texts = {**ALICE, "z1": "Alice learns the cello"}
    got = pairs(await b.keyword_search("cello Alice tea", scope=Scope(user_id="alice"), limit=100))
    want = reference(texts, "cello Alice tea")
    assert [i for i, _ in got] == [i for i, _ in want]
    await b.aclose()


async def test_an_instance_with_keyword_search_off_keeps_the_sparse_vectors_filled():
    """Another replica configured without keyword search still writes the keywords, so replicas
    ranking in Qdrant find its memories."""
    client = AsyncQdrantClient(location=":memory:")
    on = store(keyword_avgdl=ALICE_AVGDL)
    off = store(keyword_search=False)
    off._client = on._client = client  # two instances on one collection
    await on.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    await off.insert([record("z1", "Alice learns the cello", {}, 20)])
    await off.update("a04", payload={"data": "Alice plays squash on Sundays", "user_id": "alice"})
    texts = {**ALICE, "z1": "Alice learns the cello", "a04": "Alice plays squash on Sundays"}
    for query in ("cello", "squash", "tennis", "Alice"):
        assert_same(pairs(await on.keyword_search(query, scope=Scope(user_id="alice"), limit=100)), reference(texts, query, fixed_avgdl=ALICE_AVGDL))
    await client.close()


async def test_collection_without_the_sparse_vector_keeps_the_engine_index(caplog: pytest.LogCaptureFixture):
    """A collection written before keyword search: Qdrant cannot add a vector to it, so the
    capability goes off (the engine keeps its index); a direct call still answers exactly."""
    client = AsyncQdrantClient(location=":memory:")
    old = store(keyword_search=False)
    old._client = client
    await old.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    new = store()
    new._client = client
    assert new.capabilities.keyword_search  # declared from the config, before opening
    with caplog.at_level(logging.WARNING, logger="mem7.qdrant"):
        got = pairs(await new.keyword_search("green tea", scope=Scope(user_id="alice"), limit=100))
    assert not new.capabilities.keyword_search
    assert "no 'mem7_keywords' sparse vector" in caplog.text
    # Exactly the engine's BM25 (computed over the scope read from Qdrant).
    want = reference(ALICE, "green tea")
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-12)
    filtered = await new.keyword_search("tea", scope=Scope(user_id="alice"), limit=2, filters=parse_filters({"topic": "drinks"}))
    assert [h.id for h in filtered] == [i for i, _ in reference(ALICE, "tea") if i in ("a01", "a02", "a06")][:2]
    # An engine built on it now keeps its own index.
    mem = AsyncMemory(engine_config({"mode": "hybrid"}), vector_store=new)
    assert mem.retriever is not None and not mem.retriever.store_keywords
    await mem.aclose()
    # reset: the collection is re-created with the sparse vector, the capability comes back.
    await new.reset()
    assert new.capabilities.keyword_search
    await new.insert([record("n1", "fresh green tea", {}, 0)])
    assert [h.id for h in await new.keyword_search("tea", scope=Scope(user_id="alice"), limit=5)] == ["n1"]
    assert new._kw is not None
    await client.close()


# ---------------------------------------------------------------------------------- engine
def engine_config(retrieval: dict[str, Any]) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "qdrant", "config": {"location": ":memory:", "keyword_search": True}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        # The engine's own index compared like with like: words as written (Qdrant's keywords are
        # not stemmed) and no neighbour expansion (off anyway while Qdrant ranks the keywords).
        "retrieval": {"stemmer": None, "expand": {"enabled": False}} | retrieval,
    }


ENGINE_QUERIES = ["tea", "green tea in the morning", "What does Alice drink?", "cat Miso", "tennis with Bob",
                  "Kyoto trip", "peanuts allergy", "zebra"]


ENGINE_TEXTS = [text for _, text, _ in CORPUS if text]


@pytest.mark.parametrize("retrieval", [{"mode": "hybrid"}, {"mode": "bm25"}, {"mode": "hybrid", "candidates": 2}])
@pytest.mark.parametrize("reference_length", ["default", "scope average"])
async def test_hybrid_search_through_the_engine(retrieval: dict[str, Any], reference_length: str):
    """Hybrid retrieval on a local-mode Qdrant store ranks keywords in Qdrant (no per-process
    index), finds what the words say, and agrees with the engine's own index on the same store:
    the same answers when ``keyword_avgdl`` is the scope's average length, the same best and
    close scores with the default reference length."""
    exact = reference_length == "scope average"
    cfg = engine_config(retrieval)
    if exact:
        cfg["vector_store"]["config"]["keyword_avgdl"] = avgdl(dict(enumerate(ENGINE_TEXTS)))  # type: ignore[arg-type]
    mem = AsyncMemory(cfg)
    assert mem.retriever is not None and mem.retriever.store_keywords
    for _, text, extra in CORPUS:
        if text:
            await mem.add(text, user_id="alice", infer=False, metadata={k: v for k, v in extra.items() if k != "tags"})
    await mem.add("tea and green tea and Kyoto for Bob", user_id="bob", infer=False)

    top = (await mem.search("Kyoto trip", user_id="alice", limit=3))["results"]
    assert top[0]["memory"] == "The tea ceremony in Kyoto was the highlight of the trip"
    cats = (await mem.search("cat Miso", user_id="alice", limit=2))["results"]
    assert {r["memory"] for r in cats} == {"She adopted a cat named Miso in 2023", "Miso the cat hates the vacuum cleaner"}
    drinks = (await mem.search("tea", user_id="alice", limit=10, filters={"topic": "drinks"}))["results"]
    assert drinks and all(r["metadata"]["topic"] == "drinks" for r in drinks)
    assert all("Bob" not in r["memory"] or "Alice" in r["memory"] for r in (await mem.search("Kyoto tea", user_id="alice"))["results"])
    assert mem.retriever.indexes.builds == 0 and mem.retriever.keyword_requests > 0

    # The engine's own index on the same store (the capability declared off while it is built).
    from dataclasses import replace

    s = mem.vector_store
    caps = s.capabilities
    s.capabilities = replace(caps, keyword_search=False)
    core = AsyncMemory(cfg, vector_store=s)
    s.capabilities = caps
    assert core.retriever is not None and not core.retriever.store_keywords
    for query in ENGINE_QUERIES:
        got = (await mem.search(query, user_id="alice", limit=5))["results"]
        want = (await core.search(query, user_id="alice", limit=5))["results"]
        if exact:
            assert [r["id"] for r in got] == [r["id"] for r in want], query
            assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], rel=1e-4)
        else:
            assert [r["id"] for r in got[:1]] == [r["id"] for r in want[:1]], query
            for a, b in zip(got, want):
                assert a["score"] == pytest.approx(b["score"], abs=0.3)
    await core.aclose()
    await mem.aclose()


async def test_a_write_by_another_instance_is_found_on_the_next_search(fast_tmp: Path):
    """Two engines on one collection (the stand-in for two replicas on one Qdrant server): what A
    adds or rewords is ranked by B's next keyword search, the same as A ranks it."""
    client = AsyncQdrantClient(location=":memory:")
    sa, sb = store(dims=None), store(dims=None)
    sa._client = sb._client = client
    a = AsyncMemory(engine_config({"mode": "bm25"}), vector_store=sa)
    b = AsyncMemory(engine_config({"mode": "bm25"}), vector_store=sb)
    await a.add("Alice plays tennis on Sundays", user_id="alice", infer=False)
    assert [r["memory"] for r in (await b.search("tennis", user_id="alice"))["results"]] == ["Alice plays tennis on Sundays"]
    (mid,) = [r["id"] for r in (await a.get_all(user_id="alice"))["results"]]
    await a.update(mid, "Alice plays badminton on Sundays", user_id="alice")
    await a.add("Alice bought a badminton racket", user_id="alice", infer=False)
    got_b = [(r["id"], r["score"]) for r in (await b.search("badminton racket", user_id="alice"))["results"]]
    got_a = [(r["id"], r["score"]) for r in (await a.search("badminton racket", user_id="alice"))["results"]]
    assert got_a == got_b and len(got_b) == 2
    assert (await b.search("tennis", user_id="alice"))["results"] == []
    await a.aclose()
    await b.aclose()
    await client.close()


async def test_server_mode_request_shapes(fake_qdrant: Any) -> None:
    """What the store asks a server for (a scripted stand-in: no Qdrant server here)."""
    s = QdrantVectorStore.from_config({"url": fake_qdrant.url, "dims": 2, "keyword_avgdl": 7.5})
    await s.insert([VectorRecord("m0", [1.0, 0.0], {"user_id": "u1", "data": "green tea"})])
    (create,) = fake_qdrant.calls("PUT", "/collections/mem7_memories")
    assert create.body["sparse_vectors"] == {KEYWORDS: {"modifier": "idf"}}
    assert create.body["metadata"][KEYWORDS] == {"k1": 1.2, "b": 0.75, "avgdl": 7.5, "stopwords": True, "hash": "blake2b-32"}
    (upsert,) = fake_qdrant.calls("PUT", "/collections/mem7_memories/points")
    vector = upsert.body["points"][0]["vector"]
    assert vector[""] == pytest.approx([1.0, 0.0])
    assert vector[KEYWORDS]["indices"] == [PRESENT, *sorted([term_id("green"), term_id("tea")])]
    await s.update("m0", payload={"user_id": "u1", "data": "black coffee"})
    (batch,) = fake_qdrant.calls("POST", "/collections/mem7_memories/points/batch")
    ops = batch.body["operations"]
    assert [next(iter(op)) for op in ops] == ["update_vectors", "overwrite_payload"]
    assert set(ops[0]["update_vectors"]["points"][0]["vector"]) == {KEYWORDS}
    await s.aclose()


def test_keyword_search_defaults_on_for_a_server_off_in_local_mode(fake_qdrant: Any) -> None:
    # local mode is one process only (nothing to share) and its pure-Python keyword scan is slow:
    # the engine's index ranks keywords there unless asked otherwise
    local = QdrantVectorStore.from_config({"location": ":memory:", "dims": DIMS})
    assert not local.capabilities.keyword_search
    server = QdrantVectorStore.from_config({"url": fake_qdrant.url, "dims": 2})
    assert server.capabilities.keyword_search
