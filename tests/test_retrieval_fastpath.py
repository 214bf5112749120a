"""The cached BM25 term contributions and the flat cosine conversion give exactly the values the
uncached arithmetic gives, and follow every change to the index."""

from __future__ import annotations

import heapq
import math
import random

import numpy as np
import pytest

from mem7_core.providers.keywords import BM25Index
from mem7_core.retrieval.fusion import cosine, cosines

WORDS = ["alice", "bob", "lisbon", "surf", "chess", "tea", "coffee", "paris", "run", "swim", "book", "club"]


def _uncached(index: BM25Index, terms: list[str]) -> dict[str, float]:
    """BM25 from the definition, term by term, as the index computed it before caching."""
    k1, b = index.k1, index.b
    c1, c2 = k1 * (1.0 - b), k1 * b / (index.avgdl or 1.0)
    out: dict[str, float] = {}
    for term in dict.fromkeys(terms):
        posting = index._postings.get(term)
        if not posting:
            continue
        w = index.idf(term) * (k1 + 1.0)
        for doc_id, f in posting.items():
            out[doc_id] = out.get(doc_id, 0.0) + w * f / (f + c1 + c2 * index._len[doc_id])
    return out


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))


def test_cached_scores_are_exact_and_follow_changes() -> None:
    rng = random.Random(3)
    index = BM25Index()
    for i in range(200):
        index.add(f"d{i}", _text(rng))
    queries = [index.terms(_text(rng)) for _ in range(30)]
    for step in range(40):
        for terms in queries:
            first = index.score_terms(terms)
            assert first == _uncached(index, terms)  # exact floats, same keys
            assert index.score_terms(terms) == first  # served from the cache: unchanged
            assert list(index.score_terms(terms)) == list(first)  # same key order too
        # every kind of change invalidates: add, re-add (upsert), remove, clear
        index.add(f"new{step}", _text(rng))
        index.add(f"d{step}", _text(rng))
        index.remove(f"d{step + 100}")
        assert index.score_terms(queries[0]) == _uncached(index, queries[0])
    index.clear()
    assert index.score_terms(queries[0]) == {}
    index.add("x", "alice surf")
    assert index.score_terms(["alice"]) == _uncached(index, ["alice"]) and set(index.score_terms(["alice"])) == {"x"}


def test_returned_scores_are_not_the_cache() -> None:
    index = BM25Index()
    index.add("a", "alice surf")
    index.add("b", "bob surf")
    s = index.score_terms(["surf"])
    s["a"] = -1.0
    s.clear()
    assert index.score_terms(["surf"]) == _uncached(index, ["surf"]) != {}


def test_cosines_equal_the_nested_conversion() -> None:
    rng = np.random.default_rng(5)
    m = rng.standard_normal((40, 24)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    vectors = m.tolist()
    vectors[3] = [0.0] * 24  # a zero vector scores 0
    q = rng.standard_normal(24).tolist()
    ref = np.asarray(vectors, dtype=np.float64)
    qa = np.asarray(q, dtype=np.float64)
    norms = np.linalg.norm(ref, axis=1) * float(np.linalg.norm(qa))
    want = [float(d / n) if n > 0 else 0.0 for d, n in zip(ref @ qa, norms)]
    assert cosines(q, vectors) == want
    assert cosines(q, [m[0]]) == pytest.approx([cosine(q, m[0].tolist())])
    assert cosines(q, []) == []
    assert not any(math.isnan(c) for c in cosines(q, vectors))


def test_cosines_reject_ragged_vectors() -> None:
    with pytest.raises(ValueError):
        cosines([1.0, 0.0], [[1.0, 0.0], [1.0]])


@pytest.mark.parametrize("size", [0, 5, 100, 512, 513, 3000])
def test_best_ids_rank_like_the_keyed_heap(size: int) -> None:
    """The retriever's top-n (tuple sort or heap) equals ranking by (-score, id), ties included."""
    from mem7_core.retrieval.hybrid import _best

    rng = random.Random(size)
    scores = {f"id-{rng.randrange(10**6):06d}": rng.choice([0.5, 0.25, rng.random()]) for _ in range(size)}
    for n in (1, 15, 600):
        want = heapq.nsmallest(n, scores, key=lambda i: (-scores[i], i))
        assert _best(scores, n) == want
