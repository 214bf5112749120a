"""Fusing the dense and keyword rankings, and neighbour expansion. Pure functions, no I/O.

Two fusions (``retrieval.fusion``):

- ``weighted`` (default): ``score = cosine + (1 − w) / w · keyword`` (``w = dense_weight``), where
  ``keyword`` is the BM25 score calibrated to [0, 1] by the query's idf mass (``min(1, bm25 / Σ
  idf(query terms))``: a document of average length holding every query term once scores 1). It is
  the weighted sum ``w · cosine + (1 − w) · keyword`` divided by ``w``: the same ranking, on the
  cosine's scale — keyword evidence is added on top of the cosine, never averaged into it. So the
  score is never below the cosine and equals it for a memory sharing no word with the query: a
  threshold tuned on cosine similarity keeps its meaning (a memory whose cosine clears it is never
  dropped by fusion), and it is stable across queries since both signals are on fixed scales.
  Range ``[−1, 1 / w]`` (2 with the default ``w = 0.5``: a perfect vector match holding every query
  word). ``w = 0`` gives the cosine no say: the score is the keyword score. On LoCoMo it beat RRF
  (see ``bench/results/locomo.md``).
- ``rrf``: reciprocal rank fusion, ``score = Σ_lists 1 / (k + rank)`` (rank from 1); robust to
  uncalibrated scores but the values are tiny (≤ 2 / (k + 1)) and carry no similarity meaning.

Neighbour expansion: ``final(d) = own(d) + weight · Σ max(own(n), 0)`` over ``d``'s neighbours
(the memories just before and after it in creation order: by time, not across a long pause, or
sharing a group key such as ``run_id``), so a turn next to a strong hit (the answer after a
question) comes up with it. Keyword context (:func:`lend_keywords`, before fusion): a memory's
keyword score also takes ``keyword_weight`` × the best keyword score among the same neighbours,
capped at 1, so a reply that repeats none of the question's words ("Yes, twice!") is still a
keyword candidate when the turn it answers matches (on LoCoMo: R@10 +0.04, see
``bench/results/locomo.md``).

``calibrate_bm25``, ``cosine`` and ``cosines`` are the contract's (:mod:`mem7_core.providers.keywords`,
:mod:`mem7_core.providers.vectors`), re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from ..providers.keywords import calibrate_bm25
from ..providers.vectors import cosine, cosines


def rrf(rankings: Iterable[Sequence[str]], *, k: float = 60.0) -> dict[str, float]:
    """Reciprocal rank fusion of ranked id lists (best first): ``Σ 1 / (k + rank)``, rank from 1.

    >>> rrf([["a", "b"], ["b", "c"]], k=1) == {"a": 0.5, "b": 1 / 3 + 1 / 2, "c": 1 / 3}
    True
    """
    out: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            out[doc_id] = out.get(doc_id, 0.0) + 1.0 / (k + rank)
    return out


def weighted(dense: float, keyword: float, dense_weight: float) -> float:
    """``dense + (1 − w) / w · keyword``: the weighted sum ``w · dense + (1 − w) · keyword`` on the
    cosine's scale (divided by ``w``), so never below ``dense`` for a keyword score ≥ 0; the keyword
    score alone when ``w = 0``. Non-decreasing in both arguments (the retriever's upper bounds rely
    on it).

    >>> weighted(0.335, 0.0, 0.5), weighted(0.3, 0.25, 0.5), weighted(0.3, 0.25, 0.8)
    (0.335, 0.55, 0.3625)
    """
    if dense_weight <= 0.0:
        return keyword
    return dense + (1.0 - dense_weight) / dense_weight * keyword


def expand(
    own: Mapping[str, float], neighbours: Callable[[str], Iterable[str]], *, weight: float
) -> dict[str, float]:
    """Each id's own score plus ``weight`` × the positive own scores of its neighbours in ``own``.

    :param own: the scores before expansion (ids without a score contribute nothing).
    :param neighbours: the neighbour ids of an id.
    """
    out: dict[str, float] = {}
    for doc_id, score in own.items():
        bonus = 0.0
        for n in neighbours(doc_id):
            s = own.get(n)
            if s is not None and s > 0.0:
                bonus += s
        out[doc_id] = score + weight * bonus
    return out


def lend_keywords(
    keyword: Mapping[str, float], neighbours: Callable[[str], Iterable[str]], *, weight: float
) -> dict[str, float]:
    """Keyword scores in context: each id's own (calibrated) keyword score plus ``weight`` × the
    best own score among its neighbours, capped at 1. An id with no score of its own next to one
    that has a score gets the share alone; the others are left out.

    The reference definition of ``retrieval.expand.keyword_weight`` (the retriever lends from the
    best ``4 × pool`` keyword matches only: a farther match lends less than any of those).

    >>> lend_keywords({"q": 0.8, "far": 0.1}, {"q": ["a"], "a": ["q"], "far": []}.__getitem__, weight=0.5)
    {'q': 0.8, 'far': 0.1, 'a': 0.4}
    """
    best: dict[str, float] = {}
    for doc_id, score in keyword.items():
        if score > 0.0:
            for n in neighbours(doc_id):
                if score > best.get(n, 0.0):
                    best[n] = score
    out = {doc_id: min(1.0, score + weight * best.get(doc_id, 0.0)) for doc_id, score in keyword.items()}
    for doc_id, lent in best.items():
        if doc_id not in out:
            out[doc_id] = min(1.0, weight * lent)
    return out


__all__ = ["calibrate_bm25", "cosine", "cosines", "expand", "lend_keywords", "rrf", "weighted"]
