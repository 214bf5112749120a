"""Decay (spec §4): the forgetting curve's reference values, anchors, and the scorer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mem7_core.config import DecayConfig
from mem7_core.models import Scope
from mem7_core.providers.scorer import QueryContext, ScoredHit
from mem7_core.scorers.decay import DecayScorer, hit_retention, parse_time, retention

DAY = 86400.0
CFG = DecayConfig()
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def ctx() -> QueryContext:
    return QueryContext(query="q", scope=Scope(user_id="u"), now=NOW)


def test_defaults_match_spec():
    assert CFG.enabled is False
    assert CFG.base_half_life_secs == 604800
    assert CFG.decay_shape == 0.8
    assert CFG.min_retention == 0.1
    assert CFG.rehearsal_factor == 0.5


@pytest.mark.parametrize(
    "n, days, expected",
    [(0, 1, 0.829), (0, 7, 0.431), (0, 30, 0.137), (5, 1, 0.893), (5, 7, 0.594), (5, 30, 0.232)],
)
def test_reference_values(n, days, expected):
    assert round(retention(days * DAY, n, CFG), 3) == expected


def test_floor_is_approached_for_very_old_memories():
    year = retention(365 * DAY, 0, CFG)
    assert CFG.min_retention < year < CFG.min_retention + 1e-6
    assert retention(3650 * DAY, 0, CFG) >= CFG.min_retention  # never below the floor
    assert retention(10**7 * DAY, 1000, CFG) == pytest.approx(CFG.min_retention, abs=1e-6)


def test_monotonic_in_age_and_rehearsal():
    ages = [0.5 * DAY, DAY, 3 * DAY, 10 * DAY, 100 * DAY]
    values = [retention(a, 0, CFG) for a in ages]
    assert values == sorted(values, reverse=True)
    assert retention(7 * DAY, 0, CFG) < retention(7 * DAY, 1, CFG) < retention(7 * DAY, 10, CFG)


@pytest.mark.parametrize("age", [0.0, -1.0, -30 * DAY, float("nan"), float("inf"), float("-inf")])
def test_non_positive_or_non_finite_age_is_one(age):
    assert retention(age, 0, CFG) == 1.0


def test_negative_access_count_treated_as_zero():
    assert retention(7 * DAY, -3, CFG) == retention(7 * DAY, 0, CFG)


def test_parse_time():
    assert parse_time("2025-06-01T12:00:00+00:00") == NOW
    assert parse_time("2025-06-01T12:00:00Z") == NOW
    assert parse_time("2025-06-01T12:00:00") == NOW  # naive means UTC
    assert parse_time("2025-06-01T14:00:00+02:00") == NOW
    for bad in (None, "", "yesterday", "2025-13-45", "12:00"):
        assert parse_time(bad) is None


def test_unparseable_or_missing_anchor_is_one():
    assert hit_retention(ScoredHit(id="x", text="t", score=1.0), NOW, CFG) == 1.0
    hit = ScoredHit(id="x", text="t", score=1.0, created_at="not a date", updated_at="")
    assert hit_retention(hit, NOW, CFG) == 1.0


def test_future_anchor_is_one():
    hit = ScoredHit(id="x", text="t", score=1.0, created_at=(NOW + timedelta(days=2)).isoformat())
    assert hit_retention(hit, NOW, CFG) == 1.0


def test_anchor_precedence():
    def r(**times: str) -> float:
        return round(hit_retention(ScoredHit(id="x", text="t", score=1.0, **times), NOW, CFG), 3)

    # last_accessed_at > updated_at > created_at
    assert r(created_at=ago(days=30), updated_at=ago(days=7), last_accessed_at=ago(days=1)) == 0.829
    assert r(created_at=ago(days=30), updated_at=ago(days=7)) == 0.431
    assert r(created_at=ago(days=30)) == 0.137
    assert r(created_at=ago(days=1), updated_at=ago(days=30)) == 0.137  # updated_at wins even if older
    # an unparseable preferred anchor falls through to the next one
    assert r(created_at=ago(days=30), updated_at=ago(days=7), last_accessed_at="garbage") == 0.431


def test_score_multiplies_hits():
    hits = [
        ScoredHit(id="fresh", text="a", score=0.9, created_at=ago(days=1)),
        ScoredHit(id="week", text="b", score=0.8, created_at=ago(days=7), access_count=5),
        ScoredHit(id="month", text="c", score=0.5, created_at=ago(days=30)),
        ScoredHit(id="undated", text="d", score=0.4),
    ]
    scorer = DecayScorer(DecayConfig(enabled=True))
    scorer.score(hits, ctx(), None)
    assert [round(h.score, 4) for h in hits] == [
        round(0.9 * retention(DAY, 0, CFG), 4),
        round(0.8 * retention(7 * DAY, 5, CFG), 4),
        round(0.5 * retention(30 * DAY, 0, CFG), 4),
        0.4,
    ]
    assert round(hits[0].score / 0.9, 3) == 0.829
    assert round(hits[1].score / 0.8, 3) == 0.594


def test_score_candidates_multiplies_too():
    hits = [
        ScoredHit(id="old", text="a", score=1.0, updated_at=ago(days=30)),
        ScoredHit(id="new", text="b", score=1.0, updated_at=ago(days=1)),
    ]
    DecayScorer().score_candidates(hits, NOW)
    assert [round(h.score, 3) for h in hits] == [0.137, 0.829]


def test_relations_use_mentions_as_access_count():
    hit = ScoredHit(id="r", text="a likes b", score=1.0, created_at=ago(days=7), access_count=5, is_relation=True)
    DecayScorer().score([hit], ctx(), None)
    assert round(hit.score, 3) == 0.594


def test_custom_parameters():
    cfg = DecayConfig(base_half_life_secs=DAY, decay_shape=1.0, min_retention=0.0, rehearsal_factor=0.0)
    assert retention(DAY, 0, cfg) == pytest.approx(0.36788, abs=1e-5)  # exp(-1)
    assert retention(DAY, 9, cfg) == retention(DAY, 0, cfg)  # no rehearsal bonus


def test_scorer_identity():
    scorer = DecayScorer()
    assert scorer.kind == "scorer" and scorer.name == "decay"
    assert scorer.order == 100
    assert scorer.rehearses is True
    assert isinstance(scorer.config, DecayConfig)


@pytest.mark.parametrize("shape", [0, -0.5, 1.01, 2])
def test_decay_shape_out_of_range_rejected(shape):
    with pytest.raises(ValidationError) as info:
        DecayScorer.from_config({"decay_shape": shape})
    assert "decay_shape" in str(info.value)
    with pytest.raises(ValueError, match="decay_shape"):
        DecayConfig(decay_shape=shape)


def test_decay_shape_one_accepted():
    assert DecayConfig(decay_shape=1).decay_shape == 1


@pytest.mark.parametrize(
    "field, value",
    [("base_half_life_secs", 0), ("min_retention", 1), ("min_retention", -0.1), ("rehearsal_factor", -1)],
)
def test_other_fields_validated(field, value):
    with pytest.raises(ValidationError, match=field):
        DecayConfig(**{field: value})


def test_unknown_field_rejected():
    with pytest.raises(ValidationError, match="half_life"):
        DecayConfig.model_validate({"half_life": 3})
