"""The core's scorers, and a third-party-style scorer, against the scorer conformance suite.

The context scorer runs three ways: with a scripted LLM answering its classify call, with an LLM
whose call fails (classification falls back to ``general``), and with no LLM at all.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path
from typing import Any

import pytest

from mem7_core.models import Scope
from mem7_core.providers.scorer import QueryContext, Scorer
from mem7_core.providers.tasks import CLASSIFY_QUERY_MARKER
from mem7_core.scorers.context import ContextScorer
from mem7_core.scorers.decay import DecayConfig, DecayScorer
from mem7_core.testing import ScorerConformance
from mem7_core.testing.fakes import ScriptedLLM
from mem7_core.testing.scorer import NOW, ContextFactory, sample_hits


class TestDecayScorer(ScorerConformance):
    @pytest.fixture
    def scorer(self) -> Scorer:
        return DecayScorer(DecayConfig(enabled=True))


class TestDecayScorerTuned(ScorerConformance):
    """Extreme but valid settings: no floor, the steepest shape, a one-second half-life."""

    @pytest.fixture
    def scorer(self) -> Scorer:
        return DecayScorer(DecayConfig(enabled=True, base_half_life_secs=1.0, decay_shape=1.0,
                                       min_retention=0.0, rehearsal_factor=0.0))


class TestContextScorerWithoutLLM(ScorerConformance):
    @pytest.fixture
    def scorer(self) -> Scorer:
        return ContextScorer()


def _classify(messages: Any) -> dict[str, str]:
    return {"task_type": "troubleshooting"}


class TestContextScorerWithLLM(ScorerConformance):
    """Every context the suite builds carries a ScriptedLLM answering the classify call."""

    @pytest.fixture
    def llm(self) -> ScriptedLLM:
        return ScriptedLLM(_classify)

    @pytest.fixture
    def scorer(self) -> Scorer:
        return ContextScorer()

    @pytest.fixture
    def make_context(self, llm: ScriptedLLM) -> ContextFactory:
        def make(query: str, *, task_type: str | None = None) -> QueryContext:
            return QueryContext(query=query, scope=Scope(user_id="conformance"), now=NOW, task_type=task_type, llm=llm)

        return make

    async def test_the_llm_path_is_taken(self, scorer: Scorer, make_context: ContextFactory, llm: ScriptedLLM) -> None:
        """The suite's contexts do reach the LLM (else this class would test the no-LLM path twice)."""
        ctx = make_context("why does it crash")
        assert await scorer.prepare(ctx) == "troubleshooting"
        assert len(llm.calls_for(CLASSIFY_QUERY_MARKER)) == 1
        hits = sample_hits()
        scorer.score(hits, ctx, "troubleshooting")
        assert {h.id: h.score for h in hits}["m-pref"] == pytest.approx(0.81 * 0.3)


class TestContextScorerFailingLLM(TestContextScorerWithLLM):
    """The LLM fails or answers nonsense: ``prepare`` falls back to ``general``, never raises."""

    @pytest.fixture
    def llm(self) -> ScriptedLLM:
        return ScriptedLLM(lambda messages: RuntimeError("connection dropped"))

    async def test_the_llm_path_is_taken(self, scorer: Scorer, make_context: ContextFactory, llm: ScriptedLLM) -> None:
        ctx = make_context("why does it crash")
        assert await scorer.prepare(ctx) == "general"
        assert len(llm.calls_for(CLASSIFY_QUERY_MARKER)) == 1


def _pinboost_module() -> types.ModuleType:
    """The third-party scorer of tests/test_scorer_plugins.py, loaded from its source."""
    spec = importlib.util.spec_from_file_location("_scorer_plugins_tests", Path(__file__).with_name("test_scorer_plugins.py"))
    assert spec is not None and spec.loader is not None
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    module = types.ModuleType("mem7_pinboost_conformance")
    exec(compile(tests.PLUGIN_SOURCE, "<mem7_pinboost_testplugin>", "exec"), module.__dict__)  # noqa: S102
    return module


class TestThirdPartyScorer(ScorerConformance):
    @pytest.fixture
    def scorer(self) -> Scorer:
        cls: type[Scorer] = _pinboost_module().PinBoost
        return cls(cls.Config(factor=4.0))
