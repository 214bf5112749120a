"""Shared data for the tests of stores declaring ``keyword_search`` (``VectorStore.keyword_search``):
a small corpus in one scope (``user_id="alice"``, added by the tests), the same words in other
scopes (never returned, never counted in the scope's statistics) and queries to compare a store's
ranking with the core's :class:`~mem7_core.retrieval.BM25Index` on.
"""

from __future__ import annotations

from typing import Any

from ..models import ScoredRecord
from ..providers.keywords import BM25Index, calibrate_bm25

KEYWORD_CORPUS: list[tuple[str, str, dict[str, Any]]] = [
    ("a01", "Alice drinks green tea every morning", {"topic": "drinks", "n": 1}),
    ("a02", "Alice prefers coffee to tea when she works late", {"topic": "drinks", "n": 2}),
    ("a03", "The tea ceremony in Kyoto was the highlight of the trip", {"topic": "travel", "n": 3}),
    ("a04", "Alice plays tennis on Sundays with Bob", {"topic": "sport", "n": 4}),
    ("a05", "Bob and Alice went hiking in the Alps in July", {"topic": "travel", "n": 5}),
    ("a06", "tea tea tea: Alice really likes tea", {"topic": "drinks", "n": 6}),
    ("a07", "Alice's book-club meets on the first Monday of the month", {"topic": "hobby", "n": 7}),
    ("a08", "She adopted a cat named Miso in 2023", {"topic": "pets", "n": 8}),
    ("a09", "Miso the cat hates the vacuum cleaner", {"topic": "pets", "n": 9}),
    (
        "a10",
        "A long note about green gardens, green walls, green roofs and a green tea plant",
        {"topic": "hobby", "n": 10},
    ),
    ("a11", "Alice is allergic to peanuts", {"topic": "health", "tags": ["food", "allergy"], "n": 11}),
    ("a12", "", {"topic": "empty", "n": 12}),
]
KEYWORD_OTHERS: list[tuple[str, str, dict[str, Any]]] = [  # same words, other users: never returned, never counted
    ("b01", "tea tea tea green tea for Bob", {"user_id": "bob"}),
    ("b02", "Bob drinks tea and coffee and plays tennis", {"user_id": "bob"}),
    ("c01", "Carol's cat Miso drinks tea", {"user_id": "carol", "agent_id": "helper"}),
]
KEYWORD_QUERIES = [
    "tea",
    "green tea",
    "What does Alice drink in the morning?",
    "cat Miso",
    "tennis with Bob",
    "book club",
    "Kyoto trip",
    "nothing matches this zebra",
]



def keyword_reference(
    texts: dict[str, str], query: str, *, index: BM25Index | None = None, k1: float = 1.2, b: float = 0.75,
    stopwords: bool = True,
) -> list[tuple[str, float]]:
    """The engine's in-process answer a store's ``keyword_search`` is compared with: ``texts`` in a
    :class:`BM25Index` (``index``, empty, when given; else one with ``k1``, ``b``, ``stopwords``),
    scores calibrated by :func:`calibrate_bm25`, best first, ties by id."""
    index = index if index is not None else BM25Index(k1=k1, b=b, stopwords=stopwords)
    for rid, text in texts.items():
        index.add(rid, text)
    terms = index.terms(query)
    mass = index.idf_mass(terms)
    raw = index.score_terms(terms)
    ranked = sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(rid, calibrate_bm25(s, mass)) for rid, s in ranked]


def hit_pairs(hits: list[ScoredRecord]) -> list[tuple[str, float]]:
    """``(id, score)`` of each hit, in order."""
    return [(h.id, h.score) for h in hits]


__all__ = ["KEYWORD_CORPUS", "KEYWORD_OTHERS", "KEYWORD_QUERIES", "hit_pairs", "keyword_reference"]
