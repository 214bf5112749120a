"""The read pipeline (``search``, spec §6), one stage per step::

    embed the query ‖ scorers prepare (e.g. classify the query)     [‖ the graph search, throughout]
      (the query embeddings of concurrent searches that wait while one is out go out together)
    → retrieve in scope: hybrid (vector + keywords, fused) or vector alone
    → rerank (a failing reranker keeps the order)
    → score (scorers in order, re-sorted after each)
    → cut (threshold, then limit)
    → rehearse in the background (never delays the result, writes no history)

The graph's relations go through the same scorer stage, with the same prepared states.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..filters import Filter
from ..ids import iso
from ..models import Relation, Scope, ScoredRecord
from ..providers import LLM, Embedder, QueryContext, Reranker, ScoredHit
from ..providers.graph_store import GraphRelation
from ..retrieval.explain import ScoreTrace
from ..retrieval.hybrid import HybridRetriever
from .answers import checked_ranking
from .embed_batch import MAX_TEXTS, EmbedBatcher
from .graph import GraphMemory
from .locks import ScopeLocks
from .records import item_from_payload
from .scoring import ScorerStage, hit_of
from .store_view import StoreView

log = logging.getLogger("mem7.engine")
Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


@dataclass(slots=True)
class Query:
    """A checked search request."""

    text: str
    scope: Scope
    node: Filter | None
    limit: int
    rerank: bool
    threshold: float | None
    task_type: str | None
    now: datetime
    """What the query's time expressions and the decay count from (the caller's ``now``, else the clock)."""
    accessed_at: datetime | None = None
    """The engine clock, stamped by rehearsal; ``None`` means ``now``."""
    explain: bool = False
    """Give each result its ``score_parts`` and ``score_steps`` (:class:`ScoreTrace`)."""
    rehearse: bool = True
    """With rehearsing scorers (decay), stamp an access on what is returned; ``False`` writes nothing."""


class ReadPipeline:
    """Runs a :class:`Query` through the stages above.

    :param retriever: hybrid retrieval (``None``: the store's vector search alone).
    :param rerank_multiplier: with a reranker, fetch this many times ``limit`` before reranking.
    :param spawn: runs a coroutine in the engine's background set (rehearsal, the graph search).
    """

    def __init__(
        self,
        *,
        embedder: Embedder,
        view: StoreView,
        retriever: HybridRetriever | None,
        reranker: Reranker | None,
        rerank_multiplier: int,
        scorers: ScorerStage,
        graph: GraphMemory | None,
        llm: LLM | None,
        locks: ScopeLocks,
        spawn: Spawn,
        embed_batch_size: int = MAX_TEXTS,
    ) -> None:
        self.embedder = embedder
        self.embed_batch = EmbedBatcher(embedder, max_texts=embed_batch_size, purpose="search")
        """Query embeddings of concurrent searches: those that come while one is out go out
        together as one request (embed_batch.py)."""
        self.view = view
        self.retriever = retriever
        self.reranker = reranker
        self.rerank_multiplier = rerank_multiplier
        self.scorers = scorers
        self.graph = graph
        self.llm = llm
        self.locks = locks
        self.spawn = spawn

    async def run(self, q: Query) -> tuple[list[dict[str, Any]], list[Relation]]:
        """The memories (as plain dicts, best first) and the graph's relations for ``q``."""
        ctx = QueryContext(query=q.text, scope=q.scope, now=q.now, task_type=q.task_type, llm=self.llm)
        use_reranker = self.reranker is not None and q.rerank
        fetch = q.limit * (self.rerank_multiplier if use_reranker else 1)
        graph_search = self.spawn(self.graph.search(q.scope, q.text, q.limit)) if self.graph is not None else None

        vector, states = await self._embed_and_prepare(q, ctx)
        node = self.scorers.narrowing(q.node, states)
        trace = ScoreTrace() if q.explain else None
        hits = [hit_of(h) for h in await self._retrieve(q, vector, fetch, node, trace)]
        if use_reranker and hits:
            hits = await self._rerank(q.text, hits, trace)
        self.scorers.score(hits, ctx, states, trace=trace)
        hits = self._cut(hits, q)
        accessed = iso(q.accessed_at or q.now)
        if q.rehearse and self.scorers.rehearses and hits:
            self.spawn(self._rehearse([h.id for h in hits], q.scope, accessed))
        items = [item_from_payload(h.id, h.payload, score=h.score).to_dict() for h in hits]
        if trace is not None:
            for item, h in zip(items, hits):
                item["score_parts"] = trace.parts.get(h.id, {})
                item["score_steps"] = trace.steps.get(h.id, [])

        relations: list[Relation] = []
        if graph_search is not None and self.graph is not None:
            found: list[GraphRelation] = await graph_search
            relations = self.graph.finish(found, self.scorers, states, ctx, threshold=q.threshold, now=accessed)
        return items, relations

    # ------------------------------------------------------------------ stages
    async def _embed_and_prepare(self, q: Query, ctx: QueryContext) -> tuple[Any, list[Any]]:
        """The query's vector (none for keyword-only retrieval) ‖ every scorer's per-query state."""
        keywords_only = self.retriever is not None and self.retriever.config.mode == "bm25"
        embedded, states = await asyncio.gather(
            _no_vector() if keywords_only else self.embed_batch.embed([q.text]),
            self.scorers.prepare(ctx),
        )
        return embedded[0], states

    async def _retrieve(
        self, q: Query, vector: Any, fetch: int, node: Filter | None, trace: ScoreTrace | None
    ) -> list[ScoredRecord]:
        """The best ``fetch`` in scope passing ``node`` (the caller's filter and the scorers' narrowing)."""
        if self.retriever is not None:
            return await self.retriever.search(q.text, vector, q.scope, node, fetch, trace)
        found = await self.view.search(vector, q.scope, fetch, node)
        if trace is not None:  # the store's similarity (a cosine for every bundled store), as it is
            for r in found:
                trace.step(r.id, "dense", "add", r.score, r.score)
                trace.part(r.id, "retrieval", r.score)
        return found

    async def _rerank(self, query: str, hits: list[ScoredHit], trace: ScoreTrace | None) -> list[ScoredHit]:
        assert self.reranker is not None
        try:  # an answer of the wrong shape (answers.py) is a failure like any other
            ranked = checked_ranking(
                await self.reranker.rerank(query, [h.text for h in hits]), len(hits), self.reranker.name
            )
        except Exception as exc:
            log.warning("search: reranker %r failed (%s); keeping the vector order", self.reranker.name, exc)
            return hits
        out: list[ScoredHit] = []
        for r in ranked:  # best first
            hit = hits[r.index]
            hit.score = r.score
            out.append(hit)
            if trace is not None:  # the reranker's score replaces the retrieval score
                trace.step(hit.id, "rerank", "set", hit.score, hit.score)
        return out

    @staticmethod
    def _cut(hits: list[ScoredHit], q: Query) -> list[ScoredHit]:
        if q.threshold is not None:
            hits = [h for h in hits if h.score >= q.threshold]
        return hits[: q.limit]

    async def _rehearse(self, ids: list[str], scope: Scope, now: str) -> None:
        """access_count + 1 and last_accessed_at = now for each returned memory; no history."""
        try:
            async with self.locks.hold(scope.key()):
                await self.view.store.rehearse(ids, now)
        except Exception as exc:
            log.warning("rehearsal after search failed: %s", exc)


async def _no_vector() -> list[None]:
    """Keyword-only search needs no query embedding."""
    return [None]


__all__ = ["Query", "ReadPipeline"]
