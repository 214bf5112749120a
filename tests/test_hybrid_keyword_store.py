"""Hybrid retrieval with the keyword half pushed down to the store (``capabilities.keyword_search``).

The store here is mem7-flat with an exact ``keyword_search``: BM25 over the scope's records as they
are *now* in the store (built per call, so it is never stale), calibrated as the contract says. The
engine's answers on it must be the in-process index's answers on plain mem7-flat — same ids, same
scores — while the engine builds no index at all; and a memory another writer adds or rewords is
found on the next search.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.config import RetrievalConfig
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import VectorStoreCapabilities
from mem7_core.retrieval import BM25Index, calibrate_bm25
from mem7_core.retrieval.hybrid import HybridRetriever
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM, hash_embedding
from mem7_flat import FlatVectorStore

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


class KeywordFlat(FlatVectorStore):
    """mem7-flat that ranks keywords itself, exactly, from what it holds at the time of the call."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = VectorStoreCapabilities(keyword_search=True)  # type: ignore[misc]
        self.keyword_calls: list[int] = []

    async def keyword_search(
        self, query: str, *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> list[ScoredRecord]:
        self.keyword_calls.append(limit)
        records = [r for r in await self.list(scope=scope) if scope.matches(r.payload)]
        index = BM25Index(stemmer=RetrievalConfig().stemmer)  # tokenised as the engine's index is
        for r in records:
            index.add(r.id, str(r.payload.get("data") or ""), r.payload)
        terms = index.terms(query)
        mass = index.idf_mass(terms)
        payloads = {r.id: r.payload for r in records}
        raw = index.score_terms(terms)
        ranked = sorted((i for i in raw if evaluate(filters, payloads[i])), key=lambda i: (-raw[i], i))
        return [ScoredRecord(id=i, score=calibrate_bm25(raw[i], mass), payload=payloads[i]) for i in ranked[:limit]]


CORPUS = [
    "Alice drinks green tea every morning",
    "Alice prefers coffee to tea when she works late",
    "The tea ceremony in Kyoto was the highlight of the trip",
    "Alice plays tennis on Sundays with Bob",
    "Bob and Alice went hiking in the Alps in July",
    "tea tea tea: Alice really likes tea",
    "Alice's book club meets on the first Monday of the month",
    "She adopted a cat named Miso in 2023",
    "Miso the cat hates the vacuum cleaner",
    "A long note about green gardens, green walls, green roofs and a green tea plant",
    "Alice is allergic to peanuts",
    "Alice ordered green curry at the Thai place",
    "Her morning routine: yoga, then a pot of tea",
    "Bob brews coffee for Alice on weekends",
    "Alice visited Kyoto and Osaka in spring",
    "The cat Miso sleeps on the green sofa",
]
QUERIES = [
    "tea",
    "green tea in the morning",
    "What does Alice drink?",
    "cat Miso",
    "tennis with Bob",
    "Kyoto trip",
    "coffee weekends",
    "zebra",
]


async def seeded(store: Any, retrieval: dict[str, Any]) -> AsyncMemory:
    # Expansion stated, not left to its default (on for the core index, off on a store ranking
    # keywords): both sides must rank the same way.
    retrieval = {"expand": {"enabled": False}} | retrieval
    mem = AsyncMemory({**BASE, "retrieval": retrieval}, llm=ScriptedLLM(), vector_store=store, embedder=HashEmbedder())
    for i, text in enumerate(CORPUS):
        await mem.add(text, user_id="alice", infer=False, metadata={"n": i, "odd": i % 2 == 1})
    await mem.add("tea and green tea and Kyoto for Bob", user_id="bob", infer=False, metadata={"n": 99})
    return mem


def answer(result: Any) -> list[tuple[str, float]]:
    return [(r["memory"], r["score"]) for r in result["results"]]


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [m for m, _ in got] == [m for m, _ in want]
    for (_, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "retrieval",
    [
        {"mode": "hybrid"},
        {"mode": "hybrid", "candidates": 2},  # dense-only candidates' keyword scores are only bounded
        {"mode": "hybrid", "dense_weight": 0.2, "candidates": 1},
        {"mode": "hybrid", "fusion": "rrf"},
        {"mode": "bm25"},
        {"mode": "bm25", "candidates": 1},
    ],
)
async def test_the_store_ranking_gives_the_core_index_answer(retrieval: dict[str, Any]):
    core = await seeded(FlatVectorStore(), retrieval)
    pushed_store = KeywordFlat()
    pushed = await seeded(pushed_store, retrieval)
    assert core.retriever is not None and not core.retriever.store_keywords
    assert pushed.retriever is not None and pushed.retriever.store_keywords
    searches = 0
    # With a filter, RRF ranks differ by design: the engine's index ranks every keyword match and
    # filters afterwards, the store ranks only the memories passing the filter.
    filter_cases = [None] if retrieval.get("fusion") == "rrf" else [None, {"odd": True}, {"n": {"gte": 5}}]
    for query in QUERIES:
        for limit in (1, 3, 10):
            for filters in filter_cases:
                want = answer(await core.search(query, user_id="alice", limit=limit, filters=filters))
                got = answer(await pushed.search(query, user_id="alice", limit=limit, filters=filters))
                assert_same(got, want)
                searches += 1
    # No per-scope index was built or kept: every keyword score came from the store.
    assert pushed.retriever.indexes.builds == 0 and len(pushed.retriever.indexes) == 0
    assert core.retriever.indexes.builds >= 1
    requests = pushed.retriever.keyword_requests
    assert requests == len(pushed_store.keyword_calls) >= searches
    if retrieval.get("candidates") in (1, 2) and retrieval["mode"] == "hybrid":
        assert requests > searches  # the bound was in the way at least once: the store was asked again
        assert max(pushed_store.keyword_calls) > min(pushed_store.keyword_calls)
    await core.aclose()
    await pushed.aclose()


async def test_fewer_hits_than_asked_settle_every_other_score_at_zero():
    store = KeywordFlat()
    mem = await seeded(store, {"mode": "hybrid", "candidates": 5})
    store.keyword_calls.clear()
    await mem.search("Kyoto", user_id="alice", limit=5)  # 2 memories hold "Kyoto": fewer than 5
    assert store.keyword_calls == [5]
    await mem.aclose()


async def test_another_writer_is_seen_on_the_next_search():
    """Writes the engine never saw (another process's) reach its keyword ranking at once."""
    store = KeywordFlat()
    mem = await seeded(store, {"mode": "bm25"})
    before = answer(await mem.search("badminton", user_id="alice"))
    assert before == []
    # "Another process": straight into the store, not through this engine.
    (tennis,) = [r for r in await store.list(scope=Scope(user_id="alice")) if "tennis" in r.payload["data"]]
    reworded = {**tennis.payload, "data": "Alice plays badminton on Sundays with Bob"}
    await store.update(tennis.id, vector=hash_embedding(reworded["data"], 384), payload=reworded)
    await store.insert([VectorRecord(
        id="other-1",
        vector=hash_embedding("Alice bought a badminton racket", 384),
        payload={"data": "Alice bought a badminton racket", "user_id": "alice", "created_at": "2030-01-01T00:00:00+00:00"},
    )])
    found = await mem.search("badminton", user_id="alice")
    assert [r["id"] for r in found["results"]] == [tennis.id, "other-1"] or [r["id"] for r in found["results"]] == ["other-1", tennis.id]
    assert tennis.id not in [r["id"] for r in (await mem.search("tennis", user_id="alice"))["results"]]
    await mem.aclose()


async def test_expansion_keeps_the_engine_index():
    store = KeywordFlat()
    mem = await seeded(store, {"mode": "hybrid", "expand": {"enabled": True, "group_by": "odd"}})
    assert mem.retriever is not None and not mem.retriever.store_keywords
    await mem.search("tea", user_id="alice")
    assert mem.retriever.indexes.builds == 1 and store.keyword_calls == []
    await mem.aclose()


def test_stores_without_the_capability_keep_the_engine_index():
    async def dense(*_: Any) -> list[ScoredRecord]:
        return []

    from mem7_core.config import RetrievalConfig

    assert not HybridRetriever(RetrievalConfig(), FlatVectorStore(), dense).store_keywords
    assert HybridRetriever(RetrievalConfig(), KeywordFlat(), dense).store_keywords


async def test_keyword_hits_the_store_no_longer_has_are_dropped():
    """A keyword hit deleted before the engine reads it (hybrid mode verifies cosines) is skipped."""

    class Racing(KeywordFlat):
        async def search(self, *args: Any, **kwargs: Any) -> list[ScoredRecord]:
            return []  # every candidate comes from the keyword half, and is read with get()

        async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
            await self.delete([i for i in ids if i == victim[0]])
            return await super().get(ids)

    store = Racing()
    victim: list[str] = [""]
    mem = await seeded(store, {"mode": "hybrid", "dense_weight": 0.0})
    first = (await mem.search("Miso cat", user_id="alice", limit=3))["results"]
    assert len(first) == 3 and all("Miso" in r["memory"] for r in first)
    victim[0] = first[0]["id"]
    again = (await mem.search("Miso cat", user_id="alice", limit=3))["results"]
    assert [r["id"] for r in again] == [r["id"] for r in first[1:]]
    await mem.aclose()
