"""Time-aware retrieval: a query that names a time prefers the memories from that time.

``prepare`` reads the query's time expressions (:mod:`.time_expressions`: "last May", "in 2023",
"two weeks ago", "since March"...) as UTC windows relative to the search's ``now`` (the engine
clock, or the ``now`` a caller passes to ``search``). ``score`` then looks at each hit's
``created_at`` (the time the memory's conversation happened when it was added with ``timestamp=``):

- ``mode: boost`` (default): a hit inside a window scores × (1 + ``weight``); with ``spread_days``
  > 0 a hit outside gets part of the boost, × (1 + ``weight`` · exp(−distance / spread));
- ``mode: filter``: retrieval looks only at the memories created inside a window (``narrows``: a
  ``created_at`` filter ANDed with the caller's), so the search returns the best ``limit`` of them;
  a hit outside every window that still reaches ``score`` (a third-party scorer's candidates) is
  dropped.

A query naming no time, a hit without a parseable ``created_at`` (relations included) and a failed
recognition change nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..providers.base import ProviderConfig
from ..providers.scorer import QueryContext, ScoredHit, Scorer
from .decay import parse_time
from .time_expressions import EARLIEST, Window, time_windows


class TemporalConfig(ProviderConfig):
    """Time-aware retrieval (the config's ``temporal`` section). On by default, in ``boost`` mode.

    A query that names a time ("last May", "in 2023", "two weeks ago", "since March", "the week before
    8 May 2023") prefers the memories created then (``created_at``: the ``timestamp`` given to
    ``add``, else when it was stored), counted from the search's ``now``. A query naming no time
    changes nothing. Measured on LoCoMo in ``bench/results/temporal.md``; what is recognised is listed
    in ``mem7_core/scorers/time_expressions.py`` (English).
    """

    enabled: bool = True
    mode: Literal["boost", "filter"] = "boost"
    """``boost``: memories from the time the query names score higher; ``filter``: only they remain."""
    weight: float = Field(1.0, gt=0)
    """A memory inside a window scores × (1 + weight)."""
    spread_days: float = Field(0.0, ge=0)
    """0: the boost stops at the window's edge; > 0: it fades with the distance, exp(−days / spread_days)."""


def window_boost(t: datetime, windows: list[Window], cfg: TemporalConfig) -> float:
    """The multiplier for a memory created at ``t`` (boost mode)."""
    if any(w.contains(t) for w in windows):
        return 1.0 + cfg.weight
    if cfg.spread_days <= 0:
        return 1.0
    days = min(w.distance(t).total_seconds() for w in windows) / 86400.0
    return 1.0 + cfg.weight * math.exp(-days / cfg.spread_days)


class TemporalScorer(Scorer):
    """Boosts (or keeps only) the hits created inside the time windows the query names."""

    name = "temporal"
    order: ClassVar[int] = 150
    Config = TemporalConfig

    config: TemporalConfig

    async def prepare(self, ctx: QueryContext) -> list[Window]:
        return time_windows(ctx.query, ctx.now)

    def narrows(self, state: Any) -> Mapping[str, Any] | None:
        """Filter mode: retrieval looks only at the memories created inside a window."""
        if self.config.mode != "filter" or not state or not isinstance(state, list):
            return None
        spans = [{"created_at": {"lt": w.end} if w.start <= EARLIEST else {"gte": w.start, "lt": w.end}}
                 for w in state]
        return spans[0] if len(spans) == 1 else {"OR": spans}

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        if not state or not isinstance(state, list):
            return
        windows: list[Window] = state
        for hit in hits:
            t = parse_time(hit.created_at)
            if t is None:
                continue
            if self.config.mode == "filter":
                if not any(w.contains(t) for w in windows):
                    hit.dropped = True
            else:
                hit.score *= window_boost(t, windows, self.config)
