"""Session-aware context scoring (spec §5): the weight matrix, overrides, and query classification."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mem7_core.config import ContextConfig as ConfigContextConfig
from mem7_core.errors import ProviderError
from mem7_core.models import MEMORY_TYPES, TASK_TYPES, Scope
from mem7_core.providers.scorer import QueryContext, ScoredHit
from mem7_core.providers.tasks import CLASSIFY_QUERY_MARKER
from mem7_core.scorers.context import DEFAULT_CONTEXT_WEIGHTS, ContextConfig, ContextScorer, normalise_task_type
from mem7_core.testing.fakes import ScriptedLLM

NOW = datetime(2025, 6, 1, tzinfo=UTC)

# Spec §5, verbatim: rows memory type, columns troubleshooting / design / factual_lookup / planning / general.
SPEC_TABLE = {
    "factual": (1.0, 0.5, 1.0, 0.7, 1.0),
    "preference": (0.3, 1.0, 0.3, 0.8, 0.8),
    "procedural": (0.8, 0.5, 0.5, 1.0, 0.7),
    "episodic": (0.5, 0.5, 0.5, 0.5, 0.7),
}
COLUMNS = ("troubleshooting", "design", "factual_lookup", "planning", "general")


def ctx(query: str = "q", *, task_type: str | None = None, llm: ScriptedLLM | None = None) -> QueryContext:
    return QueryContext(query=query, scope=Scope(user_id="u"), now=NOW, task_type=task_type, llm=llm)


def test_default_matrix_is_the_spec_table():
    assert COLUMNS == TASK_TYPES
    assert set(SPEC_TABLE) == set(MEMORY_TYPES)
    expected = {row: dict(zip(COLUMNS, vals)) for row, vals in SPEC_TABLE.items()}
    assert expected == DEFAULT_CONTEXT_WEIGHTS
    assert ContextConfig().matrix() == expected
    scorer = ContextScorer()
    for row, vals in SPEC_TABLE.items():
        for col, w in zip(COLUMNS, vals):
            assert scorer.weight(row, col) == w, (row, col)


def test_defaults_off():
    assert ContextConfig().enabled is False
    assert ContextConfig().weights == {}


def test_unknown_pairs_weigh_one():
    scorer = ContextScorer()
    assert scorer.weight("factual", "not-a-task") == 1.0
    assert scorer.weight("mystery", "design") == 1.0
    assert scorer.weight(None, "design") == 0.5  # untyped memories are factual


def test_per_cell_override():
    cfg = ContextConfig(weights={"preference": {"troubleshooting": 0.9}, "episodic": {"general": 0.0}})
    scorer = ContextScorer(cfg)
    assert scorer.weight("preference", "troubleshooting") == 0.9
    assert scorer.weight("episodic", "general") == 0.0
    # every other cell is untouched
    for row, vals in SPEC_TABLE.items():
        for col, w in zip(COLUMNS, vals):
            if (row, col) not in {("preference", "troubleshooting"), ("episodic", "general")}:
                assert scorer.weight(row, col) == w
    assert DEFAULT_CONTEXT_WEIGHTS["preference"]["troubleshooting"] == 0.3  # defaults not mutated


def test_override_via_from_config():
    scorer = ContextScorer.from_config({"enabled": True, "weights": {"factual": {"design": 0.25}}})
    assert isinstance(scorer, ContextScorer)
    assert scorer.weight("factual", "design") == 0.25


@pytest.mark.parametrize(
    "weights, fragment",
    [
        ({"opinion": {"design": 1.0}}, "unknown memory type 'opinion'"),
        ({"factual": {"coding": 1.0}}, "unknown task type 'coding'"),
        ({"factual": {"design": -0.1}}, "context.weights.factual.design must be >= 0"),
    ],
)
def test_bad_cells_rejected(weights, fragment):
    with pytest.raises(ValidationError) as info:
        ContextConfig(weights=weights)
    assert fragment in str(info.value)
    assert "weights" in str(info.value)


def test_score_multiplies_and_relations_use_factual_row():
    hits = [
        ScoredHit(id="f", text="a", score=1.0, memory_type="factual"),
        ScoredHit(id="p", text="b", score=0.5, memory_type="preference"),
        ScoredHit(id="pr", text="c", score=1.0, memory_type="procedural"),
        ScoredHit(id="e", text="d", score=1.0, memory_type="episodic"),
        ScoredHit(id="untyped", text="e", score=1.0),
        ScoredHit(id="rel", text="x likes y", score=1.0, memory_type="preference", is_relation=True),
    ]
    ContextScorer().score(hits, ctx(), "troubleshooting")
    assert [h.score for h in hits] == [1.0, 0.15, 0.8, 0.5, 1.0, 1.0]
    design = [ScoredHit(id="rel", text="x", score=1.0, memory_type="episodic", is_relation=True)]
    ContextScorer().score(design, ctx(), "design")
    assert design[0].score == 0.5  # factual row, design column


def test_score_with_unknown_state_is_general():
    hits = [ScoredHit(id="e", text="d", score=1.0, memory_type="episodic")]
    ContextScorer().score(hits, ctx(), None)
    assert hits[0].score == 0.7


async def test_task_type_given_skips_llm():
    llm = ScriptedLLM([{"task_type": "design"}])
    assert await ContextScorer().prepare(ctx(task_type="planning", llm=llm)) == "planning"
    assert llm.calls == []
    assert await ContextScorer().prepare(ctx(task_type="Factual Lookup", llm=llm)) == "factual_lookup"
    assert await ContextScorer().prepare(ctx(task_type="nonsense", llm=llm)) == "general"
    assert llm.calls == []


async def test_llm_answer_parsed():
    llm = ScriptedLLM([{"task_type": "troubleshooting"}])
    assert await ContextScorer().prepare(ctx("why does it crash?", llm=llm)) == "troubleshooting"
    assert len(llm.calls) == 1
    call = llm.calls[0]
    assert call["response_format"] == "json"
    assert call["messages"][0]["content"].startswith(CLASSIFY_QUERY_MARKER)
    assert call["messages"][-1] == {"role": "user", "content": "why does it crash?"}
    assert llm.calls_for(CLASSIFY_QUERY_MARKER) == llm.calls


@pytest.mark.parametrize(
    "reply, expected",
    [
        ('```json\n{"task_type": "Design"}\n```', "design"),
        ('Sure! {"task_type": "planning"}', "planning"),
        ({"task_type": "factual-lookup"}, "factual_lookup"),
        ({"task_type": "lookup"}, "factual_lookup"),
    ],
)
async def test_llm_answer_tolerant(reply, expected):
    assert await ContextScorer().prepare(ctx(llm=ScriptedLLM([reply]))) == expected


@pytest.mark.parametrize(
    "reply",
    [
        RuntimeError("connection refused"),
        ProviderError("openai", "429 after retries"),
        "I think this is about design",
        "",
        "[1, 2, 3]",
        {"task_type": "cooking"},
        {"task_type": 7},
        {"category": "design"},
    ],
)
async def test_llm_failure_or_garbage_is_general(reply):
    llm = ScriptedLLM([reply])
    assert await ContextScorer().prepare(ctx(llm=llm)) == "general"
    assert len(llm.calls) == 1


async def test_no_llm_is_general():
    assert await ContextScorer().prepare(ctx()) == "general"


async def test_classification_then_score():
    scorer = ContextScorer()
    llm = ScriptedLLM([{"task_type": "design"}])
    state = await scorer.prepare(ctx("how should I structure it?", llm=llm))
    hits = [
        ScoredHit(id="f", text="a", score=1.0, memory_type="factual"),
        ScoredHit(id="p", text="b", score=0.8, memory_type="preference"),
    ]
    scorer.score(hits, ctx(), state)
    assert [h.score for h in hits] == [0.5, 0.8]


def test_normalise_task_type():
    assert normalise_task_type(" Troubleshooting ") == "troubleshooting"
    assert normalise_task_type("factual") == "factual_lookup"
    assert normalise_task_type(None) == "general"
    assert normalise_task_type(["design"]) == "general"


def test_scorer_identity():
    scorer = ContextScorer()
    assert (scorer.kind, scorer.name, scorer.order) == ("scorer", "context", 200)
    assert scorer.rehearses is False


def test_the_scorer_owns_its_config_and_prompt():
    """The scorer's ``Config`` is the config's ``context`` section (re-exported by mem7_core.config),
    and its prompt carries the contract's task marker."""
    from mem7_core.config import MemoryConfig
    from mem7_core.scorers.context import CLASSIFY_QUERY_PROMPT

    assert ContextScorer.Config is ContextConfig is ConfigContextConfig
    assert isinstance(MemoryConfig().context, ContextConfig)
    assert CLASSIFY_QUERY_PROMPT.startswith(CLASSIFY_QUERY_MARKER + "\n")
