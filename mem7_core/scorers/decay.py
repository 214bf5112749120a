"""Ebbinghaus-style forgetting (spec §4): stale memories fade, recall strengthens them.

    S  = S0 · (1 + α · ln(1 + n))          stability grows with rehearsals n
    R  = exp(−((now − τ) / S) ** γ)        retention after age now − τ
    R̃ = ρ + (1 − ρ) · R                    the floor ρ keeps every memory reachable

τ is last_accessed_at, else updated_at, else created_at. Age ≤ 0 or an unparseable time gives 1.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field

from ..providers.base import ProviderConfig
from ..providers.scorer import QueryContext, ScoredHit, Scorer


class DecayConfig(ProviderConfig):
    """Ebbinghaus-style forgetting (spec §4). Off by default."""

    # The config's ``decay`` section; mem7_core.config re-exports it.

    enabled: bool = False
    base_half_life_secs: float = Field(604800.0, gt=0)
    decay_shape: float = Field(0.8, gt=0, le=1)
    min_retention: float = Field(0.1, ge=0, lt=1)
    rehearsal_factor: float = Field(0.5, ge=0)


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO-8601 timestamp (naive means UTC); ``None`` when it does not parse."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def retention(age_secs: float, access_count: int, cfg: DecayConfig) -> float:
    """The multiplier R̃ for a memory ``age_secs`` old, rehearsed ``access_count`` times."""
    if not math.isfinite(age_secs) or age_secs <= 0:
        return 1.0
    n = max(0, int(access_count))
    stability = cfg.base_half_life_secs * (1.0 + cfg.rehearsal_factor * math.log1p(n))
    r = math.exp(-((age_secs / stability) ** cfg.decay_shape))
    return cfg.min_retention + (1.0 - cfg.min_retention) * r


def retention_anchor(hit: ScoredHit) -> datetime | None:
    """τ: when the hit's forgetting curve starts (last access, else last update, else creation)."""
    return parse_time(hit.last_accessed_at) or parse_time(hit.updated_at) or parse_time(hit.created_at)


def hit_retention(hit: ScoredHit, now: datetime, cfg: DecayConfig) -> float:
    anchor = retention_anchor(hit)
    if anchor is None:
        return 1.0
    return retention((now - anchor).total_seconds(), hit.access_count, cfg)


class DecayScorer(Scorer):
    """Multiplies each hit's score by its retention; also orders dedup candidates on the write path."""

    name = "decay"
    order: ClassVar[int] = 100
    Config = DecayConfig

    config: DecayConfig

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        for hit in hits:
            hit.score *= hit_retention(hit, ctx.now, self.config)

    def score_candidates(self, hits: list[ScoredHit], now: datetime) -> None:
        for hit in hits:
            hit.score *= hit_retention(hit, now, self.config)

    @property
    def rehearses(self) -> bool:
        return True
