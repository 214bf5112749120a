"""The scorer stage, shared by the read path's memories and the graph's relations.

Scorers (decay, temporal, context, third parties') run in order; hits are re-sorted after each, best
first; the hits a scorer marked ``dropped`` are removed after the last one.
One error policy for both paths: a scorer's ``prepare`` or ``score`` that raises is logged and
skipped (the hits keep the scores they had), so a third-party scorer cannot break a search.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..filters import And, Filter, parse_filters
from ..models import ScoredRecord
from ..providers import QueryContext, ScoredHit, Scorer
from ..retrieval.explain import ScoreTrace

log = logging.getLogger("mem7.engine")


def hit_of(record: ScoredRecord) -> ScoredHit:
    """A stored memory as the scorers see it."""
    p = record.payload
    return ScoredHit(
        id=record.id,
        text=str(p.get("data", "")),
        score=float(record.score),
        memory_type=p.get("memory_type"),
        access_count=int(p.get("access_count") or 0),
        created_at=p.get("created_at"),
        updated_at=p.get("updated_at"),
        last_accessed_at=p.get("last_accessed_at"),
        payload=p,
    )


class ScorerStage:
    """The engine's scorers, in configuration order."""

    def __init__(self, scorers: Sequence[Scorer]) -> None:
        self.scorers = list(scorers)
        self.rehearses = any(s.rehearses for s in self.scorers)
        """Whether a search should rehearse what it returns (a decay scorer is on)."""
        self.on_write_path = [s for s in self.scorers if type(s).score_candidates is not Scorer.score_candidates]
        """Scorers that also order an add's candidates (``score_candidates``)."""

    async def prepare(self, ctx: QueryContext) -> list[Any]:
        """Each scorer's per-query state (e.g. the query's task type), concurrently; ``None`` for a
        scorer whose preparation failed (best effort: its ``score`` gets ``None``)."""
        return list(await asyncio.gather(*(self._prepare(s, ctx) for s in self.scorers)))

    @staticmethod
    async def _prepare(scorer: Scorer, ctx: QueryContext) -> Any:
        try:
            return await scorer.prepare(ctx)
        except Exception as exc:
            log.warning("search: scorer %r failed to prepare: %s", scorer.name, exc)
            return None

    def narrowing(self, node: Filter | None, states: Sequence[Any]) -> Filter | None:
        """``node`` (the caller's filter) ANDed with the filters the scorers narrow retrieval to."""
        parts = [node] if node is not None else []
        for scorer, state in zip(self.scorers, states):
            try:
                extra = parse_filters(scorer.narrows(state))
            except Exception as exc:  # a third-party scorer must not break the search
                log.warning("search: scorer %r gave a filter that does not parse, ignored: %s", scorer.name, exc)
                continue
            if extra is not None:
                parts.append(extra)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def score(
        self,
        hits: list[ScoredHit],
        ctx: QueryContext,
        states: Sequence[Any],
        *,
        what: str = "memories",
        trace: ScoreTrace | None = None,
    ) -> None:
        """Score ``hits`` in place with every scorer in order, re-sorting after each; then remove the
        hits a scorer marked ``dropped``. With ``trace``, each scorer's factor for each hit is
        recorded (:func:`_trace_scorer`)."""
        for scorer, state in zip(self.scorers, states):
            before = [(h, h.score) for h in hits] if trace is not None else None
            try:
                scorer.score(hits, ctx, state)
            except Exception as exc:  # a third-party scorer must not break the results
                log.warning("search: scorer %r failed on %s: %s", getattr(scorer, "name", scorer), what, exc)
            if before is not None and trace is not None:
                _trace_scorer(trace, scorer, state, ctx, before)
            hits.sort(key=lambda h: -h.score)
        if any(h.dropped for h in hits):
            hits[:] = [h for h in hits if not h.dropped]

    def cut_candidates(self, hits: list[ScoredRecord], now: datetime, keep: int) -> list[ScoredRecord]:
        """An add's candidates for one fact, re-scored by the write-path scorers, best ``keep``."""
        if not self.on_write_path:
            return hits[:keep]
        scored = [hit_of(h) for h in hits]
        for s in self.on_write_path:
            s.score_candidates(scored, now)
        scored.sort(key=lambda h: (-h.score, h.id))
        kept = {h.id for h in scored[:keep]}
        return [h for h in hits if h.id in kept]


def _trace_scorer(
    trace: ScoreTrace, scorer: Scorer, state: Any, ctx: QueryContext, before: list[tuple[ScoredHit, float]]
) -> None:
    """Record what ``scorer`` did to each hit: × (score after / score before). Scorers multiply
    (the contract); for a hit that scored 0 the factor cannot be seen, so the scorer scores a copy
    of it scoring 1. A scorer that lifted a 0 (not a multiplier) is recorded as adding."""
    name = str(getattr(scorer, "name", None) or type(scorer).__name__)
    for hit, old in before:
        new = hit.score
        if old != 0.0:
            trace.step(hit.id, name, "multiply", new / old, new)
        elif new != 0.0:
            trace.step(hit.id, name, "add", new, new)
        else:
            probe = replace(hit, score=1.0, payload=dict(hit.payload))
            try:
                scorer.score([probe], ctx, state)
                factor = float(probe.score)
            except Exception:  # it failed on the real hits too (logged there): it changed nothing
                factor = 1.0
            trace.step(hit.id, name, "multiply", factor, new)


__all__ = ["ScorerStage", "hit_of"]
