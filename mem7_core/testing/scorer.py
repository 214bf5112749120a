"""The scorer conformance suite every ``Scorer`` plugin should pass.

Subclass it in the provider's tests and supply one fixture, ``scorer``, giving a ready scorer::

    import pytest
    from mem7_core.testing import ScorerConformance

    class TestMyScorer(ScorerConformance):
        @pytest.fixture
        def scorer(self):
            return MyScorer(MyScorer.Config(factor=2.0))

Tests are ``async def`` (``prepare`` is async); the core's pytest plugin runs them with no
configuration of the provider's own.

A scorer has no backend to conform to, so the suite checks what the engine relies on
(:mod:`mem7_core.engine.scoring`): ``prepare`` returns a state without raising for a context with
no LLM and for one carrying a caller's ``task_type``; ``score`` adjusts ``hit.score`` of the hits it
is given in place and returns ``None`` (the engine ignores a returned list and re-sorts the hits
itself, so a scorer may reorder them but must not add, drop, replace or re-identify any, nor edit
their payload, which is the stored record's; a scorer that filters sets ``hit.dropped`` instead, and
the engine removes those hits after the last scorer); scores stay finite numbers; no hits, the state
``None`` (what the engine hands over when ``prepare`` failed), unicode text, and hits missing every
optional field (no type, no timestamps, ``access_count`` 0, empty payload) all work;
``score_candidates``, when the scorer overrides it (the write path), keeps the same rules; the
same input scores the same.

Optional fixture a subclass may override:

- ``make_context``: a function ``(query, *, task_type=None) -> QueryContext`` for the context
  tests use (default: no LLM, scope ``user_id="conformance"``, time :data:`NOW`). Override it to
  give the scorer an LLM (a :class:`~mem7_core.testing.fakes.ScriptedLLM` answering its call) so
  the suite runs ``prepare`` down that path too. The "no LLM" test always builds its own context.

Knob (class attribute):

- ``deterministic``: two ``prepare`` + ``score`` runs on the same input give the same scores
  (default True). Set False for a scorer whose state comes from a non-deterministic backend.

This module imports pytest, so it is only imported by tests.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import pytest

from ..models import TASK_TYPES, Scope
from ..providers.scorer import QueryContext, ScoredHit, Scorer
from .registration import assert_registers

#: The time every context and ``score_candidates`` call of the suite uses.
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

QUERY = "why does the deploy keep failing"
UNICODE_QUERY = "crème brûlée in München? 日本語 🚀"


class ContextFactory(Protocol):
    def __call__(self, query: str, *, task_type: str | None = None) -> QueryContext: ...


def _iso(delta: timedelta) -> str:
    return (NOW - delta).isoformat()


def sample_hits() -> list[ScoredHit]:
    """Fresh hits of every memory type, a relation, old and new, rehearsed and not, best first."""
    return [
        ScoredHit("m-fact", "the deploy fails when the disk is full", 0.92, memory_type="factual",
                  access_count=3, created_at=_iso(timedelta(days=40)), updated_at=_iso(timedelta(days=10)),
                  last_accessed_at=_iso(timedelta(days=2)), payload={"data": "the deploy fails when the disk is full"}),
        ScoredHit("m-pref", "alice prefers blue-green deploys", 0.81, memory_type="preference",
                  created_at=_iso(timedelta(days=400)), payload={"data": "alice prefers blue-green deploys"}),
        ScoredHit("m-proc", "to roll back, run make rollback", 0.77, memory_type="procedural", access_count=12,
                  created_at=_iso(timedelta(hours=1)), payload={"data": "to roll back, run make rollback"}),
        ScoredHit("m-epis", "the deploy failed last friday", 0.64, memory_type="episodic",
                  created_at=_iso(timedelta(days=7)), updated_at=_iso(timedelta(days=7)),
                  payload={"data": "the deploy failed last friday", "pinned": True}),
        ScoredHit("r-1", "alice -- owns --> deploy pipeline", 0.5, is_relation=True),
        ScoredHit("m-zero", "an unrelated note", 0.0, memory_type="factual", created_at=_iso(timedelta(days=1))),
    ]


def bare_hits() -> list[ScoredHit]:
    """Hits with nothing but id, text and score: no type, timestamps, rehearsals or payload."""
    return [ScoredHit("b-1", "a memory with no metadata", 0.9), ScoredHit("b-2", "another one", 0.4),
            ScoredHit("b-3", "", 0.1)]


def odd_hits() -> list[ScoredHit]:
    """Values an old or foreign store may hold: unparseable and future timestamps, unknown type."""
    return [
        ScoredHit("o-1", "unparseable time", 0.9, memory_type="mystery", created_at="not a date",
                  updated_at="", last_accessed_at="2025-13-45"),
        ScoredHit("o-2", "from the future", 0.8, created_at=(NOW + timedelta(days=3)).isoformat(), access_count=1),
        ScoredHit("o-3", "naive timestamp", 0.7, memory_type="factual", created_at="2025-05-01T00:00:00"),
    ]


def unicode_hits() -> list[ScoredHit]:
    return [
        ScoredHit("u-1", "Straße in München gesperrt", 0.9, memory_type="factual", created_at=_iso(timedelta(days=3))),
        ScoredHit("u-2", "日本語のテキストです。東京に住んでいます。", 0.8, memory_type="preference"),
        ScoredHit("u-3", "Emoji 🚀🔥 and symbols ∑ ∫ √ ≠ ≤", 0.7, memory_type="episodic",
                  payload={"data": "Emoji 🚀🔥", "tag": "ünïcödé"}),
        ScoredHit("u-4", "Русский текст и العربية и עברית", 0.6, is_relation=True),
    ]


def _identity(hit: ScoredHit) -> tuple[Any, ...]:
    """What a scorer must leave alone: everything but the score."""
    return (hit.id, hit.text, hit.memory_type, hit.access_count, hit.created_at, hit.updated_at,
            hit.last_accessed_at, hit.is_relation, copy.deepcopy(hit.payload))


class ScorerConformance:
    """Behaviour every :class:`~mem7_core.providers.Scorer` must show. Subclass and add ``scorer``."""

    deterministic: ClassVar[bool] = True

    # ============================================================================ fixtures
    @pytest.fixture
    def scorer(self) -> Scorer:
        """The scorer under test (a subclass must override this)."""
        raise NotImplementedError("subclass ScorerConformance and provide the `scorer` fixture")

    @pytest.fixture
    def make_context(self) -> ContextFactory:
        """Contexts for the tests; override to hand the scorer an LLM."""

        def make(query: str, *, task_type: str | None = None) -> QueryContext:
            return QueryContext(query=query, scope=Scope(user_id="conformance"), now=NOW, task_type=task_type)

        return make

    # ============================================================================ helpers
    @staticmethod
    def check_scored(before: list[ScoredHit], snapshot: list[tuple[Any, ...]], after: list[ScoredHit],
                     what: str) -> None:
        """``after`` is ``before`` scored in place: the same hit objects, untouched but for finite scores."""
        assert len(after) == len(before), f"{what}: {len(before)} hits went in, {len(after)} came out"
        assert sorted(map(id, after)) == sorted(map(id, before)), (
            f"{what}: the list holds other hit objects than it was given (hits must be scored in place)"
        )
        ident = {id(h): s for h, s in zip(before, snapshot, strict=True)}
        for hit in after:
            assert _identity(hit) == ident[id(hit)], (
                f"{what}: hit {hit.id!r} changed beyond its score: {_identity(hit)} != {ident[id(hit)]}"
            )
            assert isinstance(hit.score, (int, float)) and not isinstance(hit.score, bool), (
                f"{what}: hit {hit.id!r} score is a {type(hit.score).__name__}, not a number"
            )
            assert math.isfinite(hit.score), f"{what}: hit {hit.id!r} score {hit.score} is not finite"

    def run_score(self, scorer: Scorer, hits: list[ScoredHit], ctx: QueryContext, state: Any, what: str) -> None:
        """``scorer.score`` on ``hits``, checked against the contract."""
        before, snapshot = list(hits), [_identity(h) for h in hits]
        returned = scorer.score(hits, ctx, state)  # type: ignore[func-returns-value]
        assert returned is None, f"{what}: score() returned {returned!r}; it must adjust the hits in place"
        self.check_scored(before, snapshot, hits, what)

    # ============================================================================ identity
    def test_the_class_registers_as_a_plugin(self, scorer: Scorer) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(scorer)

    def test_kind_name_order_rehearses(self, scorer: Scorer) -> None:
        assert isinstance(scorer, Scorer), f"{type(scorer).__name__} is not a mem7_core.providers.Scorer"
        assert scorer.kind == "scorer"
        assert isinstance(scorer.name, str) and scorer.name, "a scorer needs a non-empty name"
        assert scorer.name == type(scorer).name
        assert isinstance(scorer.order, int) and not isinstance(scorer.order, bool), (
            f"order must be an int, got {scorer.order!r}"
        )
        assert isinstance(scorer.rehearses, bool), f"rehearses must be a bool, got {scorer.rehearses!r}"

    # ============================================================================ prepare
    async def test_prepare_without_llm(self, scorer: Scorer) -> None:
        ctx = QueryContext(query=QUERY, scope=Scope(user_id="conformance"), now=NOW)
        state = await scorer.prepare(ctx)
        self.run_score(scorer, sample_hits(), ctx, state, "no LLM")

    @pytest.mark.parametrize("task_type", [*TASK_TYPES, "Not A Known Task"])
    async def test_prepare_with_task_type(self, scorer: Scorer, make_context: ContextFactory, task_type: str) -> None:
        ctx = make_context(QUERY, task_type=task_type)
        state = await scorer.prepare(ctx)
        self.run_score(scorer, sample_hits(), ctx, state, f"task_type={task_type!r}")

    async def test_prepare_with_the_context(self, scorer: Scorer, make_context: ContextFactory) -> None:
        ctx = make_context(QUERY)
        state = await scorer.prepare(ctx)
        self.run_score(scorer, sample_hits(), ctx, state, "prepared context")

    # ============================================================================ score
    async def test_score_keeps_every_hit_in_place(self, scorer: Scorer, make_context: ContextFactory) -> None:
        ctx = make_context(QUERY)
        state = await scorer.prepare(ctx)
        hits = sample_hits()
        self.run_score(scorer, hits, ctx, state, "sample hits")
        assert sorted(h.id for h in hits) == sorted(h.id for h in sample_hits())

    async def test_empty_hits(self, scorer: Scorer, make_context: ContextFactory) -> None:
        ctx = make_context(QUERY)
        hits: list[ScoredHit] = []
        self.run_score(scorer, hits, ctx, await scorer.prepare(ctx), "no hits")
        assert hits == []

    async def test_state_none_after_a_failed_prepare(self, scorer: Scorer, make_context: ContextFactory) -> None:
        """The engine hands ``None`` to ``score`` when ``prepare`` raised."""
        self.run_score(scorer, sample_hits(), make_context(QUERY), None, "state=None")
        self.run_score(scorer, [], make_context(QUERY), None, "state=None, no hits")

    async def test_hits_without_optional_fields(self, scorer: Scorer, make_context: ContextFactory) -> None:
        ctx = make_context(QUERY)
        state = await scorer.prepare(ctx)
        self.run_score(scorer, bare_hits(), ctx, state, "bare hits")
        self.run_score(scorer, bare_hits(), ctx, None, "bare hits, state=None")

    async def test_odd_field_values(self, scorer: Scorer, make_context: ContextFactory) -> None:
        ctx = make_context(QUERY)
        self.run_score(scorer, odd_hits(), ctx, await scorer.prepare(ctx), "odd field values")

    async def test_unicode(self, scorer: Scorer, make_context: ContextFactory) -> None:
        ctx = make_context(UNICODE_QUERY)
        self.run_score(scorer, unicode_hits(), ctx, await scorer.prepare(ctx), "unicode")

    async def test_deterministic(self, scorer: Scorer, make_context: ContextFactory) -> None:
        if not self.deterministic:
            pytest.skip("deterministic = False for this scorer")
        runs = []
        for _ in range(2):
            ctx = make_context(QUERY)
            hits = sample_hits() + bare_hits()
            self.run_score(scorer, hits, ctx, await scorer.prepare(ctx), "determinism")
            runs.append({h.id: h.score for h in hits})
        assert runs[0] == pytest.approx(runs[1]), f"the same input scored differently: {runs[0]} vs {runs[1]}"

    # ============================================================================ write path
    def test_score_candidates(self, scorer: Scorer) -> None:
        if type(scorer).score_candidates is Scorer.score_candidates:
            pytest.skip(f"{type(scorer).__name__} does not take part in the write path (no score_candidates)")
        for what, make in (("sample", sample_hits), ("bare", bare_hits), ("odd", odd_hits),
                           ("unicode", unicode_hits)):
            hits = make()
            before, snapshot = list(hits), [_identity(h) for h in hits]
            returned = scorer.score_candidates(hits, NOW)  # type: ignore[func-returns-value]
            assert returned is None, f"score_candidates() returned {returned!r}; it must adjust in place"
            self.check_scored(before, snapshot, hits, f"score_candidates, {what} hits")
        empty: list[ScoredHit] = []
        scorer.score_candidates(empty, NOW)
        assert empty == []
        if self.deterministic:
            a, b = sample_hits(), sample_hits()
            scorer.score_candidates(a, NOW)
            scorer.score_candidates(b, NOW)
            assert {h.id: h.score for h in a} == pytest.approx({h.id: h.score for h in b})


__all__ = ["NOW", "ContextFactory", "ScorerConformance", "bare_hits", "odd_hits", "sample_hits", "unicode_hits"]
