"""Hybrid retrieval: the vector ranking and the BM25 ranking of one scope, fused; then, optionally,
neighbour expansion. It replaces the plain vector search step of ``search()`` (spec §6); rerank,
scorers and the threshold then run on its scores as they do on cosine.

For one query (``pool = max(fetch, retrieval.candidates)``):

1. vector search in scope with the filters: ``pool`` hits with their cosine and payload;
2. BM25 over the scope's index (exact for every memory of the scope, no I/O): the best ``pool``
   (with a filter: every match, since the filter is checked on the payload, read later). A store
   declaring ``capabilities.keyword_search`` ranks the keywords itself instead
   (:meth:`~mem7_core.providers.VectorStore.keyword_search`: the best ``pool`` in scope passing
   the filters, with calibrated scores), so every process sharing the store gives the same answer
   and no per-process index is built; the engine keeps its own index only when expansion is on
   (neighbours need it). A memory the store did not return has a keyword score of at most the
   lowest one it returned (0 when it returned fewer than asked); when that bound matters for the
   top, the store is asked again for 16× as many (its SQL ranks every match anyway; what grows is
   the rows sent back) until it does not;
   With expansion on, each keyword score also takes ``expand.keyword_weight`` × the best keyword
   score among the memory's neighbours (capped at 1; lent by the best ``4 × pool`` matches), so the
   reply next to a matching turn is a keyword candidate too;
3. the *candidates* are the union; each gets its own fused score. With expansion on, the
   neighbours of the candidates are eligible too; a memory that is not a candidate owns 0 and
   comes up on its neighbours' strength alone: ``final = own + weight · Σ own(neighbour)``;
4. scores are first *upper bounds* computed without I/O (a memory the vector search did not
   return has a cosine of at most the lowest one it returned); then, best bound first, memories
   are *verified* in batches — payload and vector read from the store (``get``), kept only when in
   scope and passing the filters (:func:`mem7_core.filters.evaluate`), exact cosine computed —
   until the best ``fetch`` scores are all exact and no bound beats them. Only a few records are
   read per search, and the result is the exact top ``fetch``.

The returned ``score`` is the fused score: ``cosine + (1 − w) / w · min(1, BM25 / idf mass)``
(``w = dense_weight``) with the default weighted fusion (the weighted sum ``w · cosine + (1 − w) ·
keyword`` divided by ``w``: the same ranking, on the cosine's scale; never below the cosine and
equal to it for a memory sharing no query word, so a threshold tuned on cosine keeps its meaning;
in [−1, 1 / w], 2 by default for a perfect vector match holding every query word);
``Σ 1 / (rrf_k + rank)`` with RRF; the calibrated BM25 in ``bm25`` mode; the cosine in ``dense``
mode; plus the expansion bonus (never negative) when expansion is on. When the store gives no
vector for a memory, its cosine is taken as that lowest returned cosine. The weighted fusion
assumes the store's score is a cosine (true of every bundled store).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from typing import Any

from ..config import RetrievalConfig
from ..filters import Filter, evaluate
from ..models import Scope, ScoredRecord
from ..providers.keywords import BM25Index, calibrate_bm25
from ..providers.vector_store import VectorStore
from ..providers.vectors import cosines
from .explain import ScoreTrace
from .fusion import rrf, weighted
from .index import ScopeIndexes

log = logging.getLogger("mem7.retrieval")

_REASK_GROWTH = 16
"""When the store's keyword ranking was cut too short for an exact top, ask again for this many
times as many (one more round trip usually returns every match of a conversation-sized scope)."""

DenseSearch = Callable[[Any, Scope, int, "Filter | None"], Awaitable[list[ScoredRecord]]]


class HybridRetriever:
    """Candidates for one search, by vector, by keyword, or both fused.

    :param config: the ``retrieval`` section.
    :param store: the vector store (``get`` fetches payloads and vectors of keyword hits).
    :param dense_search: the engine's vector search (with its filter fallback).
    """

    def __init__(self, config: RetrievalConfig, store: VectorStore, dense_search: DenseSearch) -> None:
        self.config = config
        self._store = store
        self._dense_search = dense_search
        ranks_keywords = bool(store.capabilities.keyword_search)
        self.expanding = config.expanding(ranks_keywords)
        """Neighbour expansion runs (``retrieval.expand.enabled``, null resolved for this store)."""
        self.store_keywords = ranks_keywords and not self.expanding
        """Keywords are ranked by the store (its ``keyword_search``), not by per-scope indexes here:
        ``indexes`` then stays empty (expansion walks neighbours, which only the index knows)."""
        self.keyword_requests = 0
        """How many ``keyword_search`` calls this retriever made (tests count re-asks with it)."""
        ex = config.expand
        group = ex.group_by if self.expanding else None
        gap = ex.max_gap_secs if self.expanding and ex.group_by is None else None
        self.indexes = ScopeIndexes(
            store,
            lambda: BM25Index(
                k1=config.k1,
                b=config.b,
                stopwords=config.stopwords,
                stemmer=config.stemmer,
                group_by=group,
                max_gap_secs=gap,
            ),
            max_scopes=config.max_scopes,
        )

    async def search(
        self, query: str, vector: Any, scope: Scope, node: Filter | None, fetch: int, explain: ScoreTrace | None = None
    ) -> list[ScoredRecord]:
        """The best ``fetch`` memories in ``scope`` passing ``node``, best first, with fused scores
        (and, into ``explain``, each one's parts: cosine, keyword score, expansion)."""
        cfg = self.config
        pool = max(fetch, cfg.candidates)
        fuse_rrf = cfg.mode == "hybrid" and cfg.fusion == "rrf"
        expanding = self.expanding
        window, beta = cfg.expand.window, cfg.expand.weight
        index = None if self.store_keywords else await self.indexes.get(scope)

        payloads: dict[str, dict[str, Any]] = {}  # verified: in scope, passing the filter
        cos: dict[str, float] = {}
        dense_ids: list[str] = []
        store_kw: _StoreKeywords | None = None
        kw_hits: list[ScoredRecord] = []
        if cfg.mode != "dense" and index is None:
            store_kw = _StoreKeywords(self, query, scope, node)
        if cfg.mode != "bm25":
            if store_kw is not None:  # two independent round trips: run them side by side
                dense_hits, kw_hits = await asyncio.gather(
                    self._dense_search(vector, scope, pool, node), store_kw.ask(pool)
                )
            else:
                dense_hits = await self._dense_search(vector, scope, pool, node)
            for h in dense_hits:
                payloads[h.id] = h.payload
                cos[h.id] = float(h.score)
                dense_ids.append(h.id)
            writing = self.indexes.writing
            if index is not None and any(i not in index and i not in writing for i in dense_ids):
                # Written by another process: rebuild this scope's index on the next search.
                log.debug("keyword index of %s is stale; it will be rebuilt on the next search", scope)
                self.indexes.invalidate(scope)
        elif store_kw is not None:
            kw_hits = await store_kw.ask(pool)
        floor = min(cos.values(), default=0.0)

        bm25: dict[str, float] = {}
        mass = 0.0
        kw_ids: list[str] = []
        in_context: dict[str, float] | None = None  # calibrated keyword scores with the neighbours' share
        needs_cosine = cfg.mode == "hybrid" and not fuse_rrf
        if store_kw is not None:
            kw_ids = [h.id for h in kw_hits]
            if not needs_cosine:  # the store checked scope and filters: nothing left to verify
                for h in kw_hits:
                    if h.id not in payloads:
                        payloads[h.id] = h.payload
                        cos[h.id] = floor
        elif cfg.mode != "dense":
            assert index is not None
            terms = index.terms(query)
            bm25 = index.score_terms(terms)
            mass = index.idf_mass(terms)
            # best first, ties by id (two C-level stable sorts: no Python key per document)
            kw_ids = sorted(sorted(bm25), key=bm25.__getitem__, reverse=True)
            lift = cfg.expand.keyword_weight if expanding else 0.0
            if lift > 0.0 and mass > 0.0:
                in_context = _lend_keywords(index, bm25, mass, kw_ids, lift, window, pool, every=node is not None)
                kw_ids = sorted(sorted(in_context), key=in_context.__getitem__, reverse=True)
            if node is None:
                kw_ids = kw_ids[:pool]

        # Each memory's own score (before expansion) given its cosine c.
        w = cfg.dense_weight

        def kw_of(i: str) -> float:
            if store_kw is not None:  # exact for what the store returned, else an upper bound
                return store_kw.bound(i)
            if in_context is not None:
                hit = in_context.get(i)
                if hit is not None:
                    return hit
            return calibrate_bm25(bm25.get(i, 0.0), mass)

        if fuse_rrf:
            rrf_own = rrf([dense_ids, kw_ids[:pool]], k=cfg.rrf_k)
            own: Callable[[str, float], float] = lambda i, c: rrf_own.get(i, 0.0)  # noqa: E731
        elif cfg.mode == "dense":
            own = lambda i, c: c  # noqa: E731
        elif cfg.mode == "bm25":
            own = lambda i, c: kw_of(i)  # noqa: E731
        else:
            own = lambda i, c: weighted(c, kw_of(i), w)  # noqa: E731

        candidates = dict.fromkeys(dense_ids)
        candidates.update(dict.fromkeys(kw_ids))
        # own_score: a candidate's fused score, exact once verified (payload read, in scope, filter
        # passed), else an upper bound (a memory the vector search did not return has a cosine of
        # at most ``floor``). Memories that are not candidates own 0: with expansion they can still
        # come up, on their neighbours' strength alone.
        own_score = {i: own(i, cos[i]) for i in payloads}
        for i in candidates:
            if i not in own_score:
                own_score[i] = own(i, floor)
        verified = set(payloads)
        dropped: set[str] = set()
        scores = dict(own_score)
        # Expansion, pushed from the candidates: each lends beta × its own score (if positive) to
        # its neighbours; lenders[n] are the candidates lending to n.
        nbrs: dict[str, list[str]] = {}
        lenders: dict[str, list[str]] = {}
        if expanding:
            assert index is not None  # expansion keeps the engine's index
            for c in candidates:
                share = beta * max(own_score[c], 0.0)
                for n in nbrs.setdefault(c, index.neighbours(c, window)):
                    lenders.setdefault(n, []).append(c)
                    scores[n] = scores.get(n, 0.0) + share

        margin = fetch + fetch // 2
        while True:
            ahead = _best(scores, margin)
            top = ahead[:fetch]
            need = [i for i in top if i not in verified]
            if expanding:  # the candidates lending to the top must have exact scores too
                need += [c for i in top for c in lenders.get(i, ()) if c not in verified and c not in dropped]
            # A keyword score the store only bounded (not among what it returned): ask it for more,
            # side by side with the reads of the memories to verify.
            unsure = [i for i in top if not store_kw.exact(i)] if store_kw is not None and needs_cosine else []
            if not need and not unsure:
                break  # every score in top is exact, and no other memory's bound beats them
            if need:
                # Verify a little beyond the top too: fewer round trips when bounds were optimistic.
                need += [i for i in ahead[fetch:] if i not in verified]
                if expanding:
                    need += [
                        c for i in ahead[fetch:] for c in lenders.get(i, ()) if c not in verified and c not in dropped
                    ]
                need = list(dict.fromkeys(need))
            before = {i: kw_of(i) for i in candidates} if unsure else {}
            cosine_of = vector if needs_cosine else None
            jobs: list[Awaitable[Any]] = []
            if need:
                jobs.append(
                    self._verify(need, scope, node, index, cosine_of, candidates, floor, payloads, cos, dropped)
                )
            if unsure:
                assert store_kw is not None
                jobs.append(store_kw.ask(store_kw.asked * _REASK_GROWTH))
            await asyncio.gather(*jobs)
            for i in need:
                old = own_score.get(i, 0.0)
                if i in dropped:
                    new = 0.0
                    scores.pop(i, None)
                else:
                    verified.add(i)
                    new = own(i, cos[i]) if i in candidates else 0.0
                    if i in scores:
                        scores[i] += new - old
                own_score[i] = new
                if expanding and i in nbrs:  # a candidate: what it lends changes too
                    delta = beta * (max(new, 0.0) - max(old, 0.0))
                    if delta:
                        for n in nbrs[i]:
                            if n in scores:
                                scores[n] += delta
            if before:  # keyword bounds the store's new answer made exact (or lower)
                just_verified = set(need)
                for i, old_kw in before.items():
                    if i in dropped or i in just_verified or kw_of(i) == old_kw:
                        continue
                    old = own_score[i]
                    new = own(i, cos[i] if i in verified else floor)
                    own_score[i] = new
                    scores[i] += new - old
        if explain is not None:
            ranks = [dict(zip(ids, range(1, pool + 1))) for ids in (dense_ids, kw_ids[:pool])] if fuse_rrf else []
            for i in top:
                if i in candidates:  # its own score: the signals, fused
                    if fuse_rrf:
                        s = 0.0
                        for name, rank_of in zip(("dense", "keyword"), ranks):
                            rank = rank_of.get(i)
                            if rank is not None:  # the part: the cosine or keyword score it was ranked by
                                s += 1.0 / (cfg.rrf_k + rank)
                                signal = cos[i] if name == "dense" else kw_of(i)
                                explain.step(i, name, "add", 1.0 / (cfg.rrf_k + rank), s, part=signal)
                                explain.part(i, f"{name}_rank", rank)
                    else:
                        if cfg.mode == "dense" or (cfg.mode == "hybrid" and w > 0.0):
                            explain.step(i, "dense", "add", cos[i], cos[i])
                        elif cfg.mode == "hybrid":  # w = 0: the cosine has no say
                            explain.part(i, "dense", cos[i])
                        if cfg.mode != "dense":
                            kw = kw_of(i)
                            share = kw if cfg.mode == "bm25" or w <= 0.0 else (1.0 - w) / w * kw
                            explain.step(i, "keyword", "add", share, own_score[i], part=kw)
                            if in_context is not None:
                                kw_own = calibrate_bm25(bm25.get(i, 0.0), mass)
                                explain.part(i, "keyword_own", kw_own)
                                explain.part(i, "keyword_context", max(0.0, kw - kw_own))
                    if cfg.mode == "hybrid":
                        explain.part(i, "fused", own_score[i])
                if expanding:  # what its neighbours among the candidates lent
                    bonus = beta * sum(max(own_score[c], 0.0) for c in lenders.get(i, ()))
                    explain.step(i, "expansion", "add", bonus, scores[i])
                explain.part(i, "retrieval", scores[i])
        return [ScoredRecord(id=i, score=scores[i], payload=payloads[i]) for i in top]

    async def _verify(
        self,
        ids: Sequence[str],
        scope: Scope,
        node: Filter | None,
        index: BM25Index | None,
        query_vector: Any,
        candidates: Container[str],
        floor: float,
        payloads: dict[str, dict[str, Any]],
        cos: dict[str, float],
        dropped: set[str],
    ) -> None:
        """Read ``ids`` from the store: keep those in scope and passing the filter, drop the others;
        forget ids the store no longer has (another process deleted them). With ``query_vector``,
        the candidates among them get their exact cosine (``floor`` when the store gives no vector)."""
        records = await self._store.get(list(ids))
        found: set[str] = set()
        with_vector: list[tuple[str, Any]] = []
        for r in records:
            found.add(r.id)
            if not (scope.matches(r.payload) and evaluate(node, r.payload)):
                dropped.add(r.id)
                continue
            payloads[r.id] = r.payload
            if r.id in cos:
                continue
            if query_vector is not None and r.vector is not None and r.id in candidates:
                with_vector.append((r.id, r.vector))
            else:
                cos[r.id] = floor
        for (i, _), c in zip(with_vector, cosines(query_vector, [v for _, v in with_vector])):
            cos[i] = c
        for gone in _missing(ids, found):
            if index is not None:
                index.remove(gone)
            dropped.add(gone)


class _StoreKeywords:
    """The store's keyword ranking for one search: exact calibrated scores for what it returned;
    for any other memory an upper bound, the lowest returned score (0 once the store returned
    fewer than asked: then nothing else matches)."""

    __slots__ = ("_node", "_query", "_retriever", "_scope", "asked", "cap", "complete", "scores")

    def __init__(self, retriever: HybridRetriever, query: str, scope: Scope, node: Filter | None) -> None:
        self._retriever = retriever
        self._query = query
        self._scope = scope
        self._node = node
        self.asked = 0
        self.scores: dict[str, float] = {}
        self.complete = False
        self.cap = 0.0

    async def ask(self, limit: int) -> list[ScoredRecord]:
        """The store's best ``limit`` (best first); remembers their scores and the bound."""
        retriever = self._retriever
        retriever.keyword_requests += 1
        hits = await retriever._store.keyword_search(self._query, scope=self._scope, limit=limit, filters=self._node)
        self.asked = limit
        for h in hits:
            self.scores[h.id] = float(h.score)
        self.complete = len(hits) < limit
        self.cap = 0.0 if self.complete or not hits else min(float(h.score) for h in hits)
        return hits

    def bound(self, doc_id: str) -> float:
        hit = self.scores.get(doc_id)
        return hit if hit is not None else self.cap

    def exact(self, doc_id: str) -> bool:
        return self.complete or doc_id in self.scores


_LENDERS = 4
"""Keyword context lends from the best ``_LENDERS × pool`` keyword matches (a farther match lends
less than every one of them, and cannot lift a memory into the top ``pool``)."""


def _lend_keywords(
    index: BM25Index,
    bm25: dict[str, float],
    mass: float,
    ranked: list[str],
    weight: float,
    window: int,
    pool: int,
    *,
    every: bool,
) -> dict[str, float]:
    """Calibrated keyword scores in context (``retrieval.expand.keyword_weight``): each memory's own
    plus ``weight`` × the best own score among its ``window`` neighbours on each side, capped at 1
    (:func:`~mem7_core.retrieval.fusion.lend_keywords`, lenders cut to the best ``_LENDERS × pool``).

    Holds the lenders and the memories they lend to (``every``: all matches too, for a filtered
    search, whose candidates are every match); any other match scores its plain calibrated BM25."""
    lenders = ranked[: _LENDERS * pool]
    inv = 1.0 / mass  # calibrate_bm25, inlined: scores here are > 0 and mass > 0
    own = {i: min(1.0, bm25[i] * inv) for i in (ranked if every else lenders)}
    best: dict[str, float] = {}
    for i in lenders:
        score = own[i]
        for n in index.neighbours(i, window):
            if score > best.get(n, 0.0):
                best[n] = score
    out = {i: min(1.0, s + weight * best.get(i, 0.0)) for i, s in own.items()}
    for i, lent in best.items():
        if i not in out:
            out[i] = min(1.0, weight * lent + calibrate_bm25(bm25.get(i, 0.0), mass))
    return out


def _best(scores: dict[str, float], n: int) -> list[str]:
    """The ``n`` best ids of ``scores``, best first, ties by id. Ranked on ``(-score, id)`` tuples
    (no Python key call per id); a plain sort while the dict is small (the usual ~100 candidates:
    ~40 % cheaper than ``heapq.nsmallest`` with a key), a heap when it is large."""
    keyed = [(-s, i) for i, s in scores.items()]
    top = sorted(keyed)[:n] if len(keyed) <= 512 else heapq.nsmallest(n, keyed)
    return [i for _, i in top]


def _missing(ids: Iterable[str], found: set[str]) -> list[str]:
    return [i for i in ids if i not in found]


__all__ = ["HybridRetriever"]
