"""``search(..., explain=True)`` (issue 22): every result's score in parts, and how they make it.

For every result of every configuration the steps are replayed from 0 (``add`` / ``multiply`` /
``set``) and must give the result's ``score``; each part is checked against the value the stage
really computes, recomputed here independently (the cosine from the vectors, the decay factor from
the forgetting curve, the context weight from the matrix, the reranker's score from what the
scripted model answered). Engines run on the hash embedder, mem7-flat and SQLite in memory.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.engine import read, scoring
from mem7_core.models import Scope
from mem7_core.providers import Message
from mem7_core.retrieval import cosine
from mem7_core.scorers.context import DEFAULT_CONTEXT_WEIGHTS
from mem7_core.testing.fakes import ScriptedLLM, hash_embedding, lexical_relevance
from mem7_llm_rerank import RERANK_MARKER, LLMReranker

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DIMS = 384  # the hash embedder's default
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
TURNS = [  # consecutive turns: the replies share no word with the query (keyword context, expansion)
    ("where did you travel last summer with your sister", "episodic"),
    ("Yes, twice! Lisbon and Porto", "episodic"),
    ("I prefer window seats on long flights", "preference"),
    ("the kitten sleeps on the sofa", "factual"),
    ("to renew a passport, book the consulate online first", "procedural"),
    ("my sister travels for work every month", "factual"),
]
QUERY = "travel with my sister"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def engine(clock: Clock | None = None, reranker: Any = None, **over: Any) -> AsyncMemory:
    return AsyncMemory({**BASE, **over}, llm=ScriptedLLM(), clock=clock or Clock(), reranker=reranker)


async def seed(mem: AsyncMemory, clock: Clock | None = None, *, spacing: timedelta = timedelta(minutes=1)) -> None:
    for text, kind in TURNS:
        await mem.add(text, user_id="alice", infer=False, memory_type=kind)
        if clock is not None:
            clock.now += spacing


def replay(steps: Sequence[dict[str, Any]]) -> float:
    """The score the steps make, from 0; each step's running score checked on the way."""
    s = 0.0
    for st in steps:
        assert set(st) == {"step", "op", "value", "score"}, st
        if st["op"] == "add":
            s += st["value"]
        elif st["op"] == "multiply":
            s *= st["value"]
        else:
            assert st["op"] == "set", st
            s = st["value"]
        assert math.isclose(s, st["score"], rel_tol=1e-9, abs_tol=1e-9), (st, s)
    return s


def check(item: Any, *, dense_weight: float = 0.5) -> dict[str, float]:
    """The steps give the score; the parts agree with the steps. Returns the parts."""
    parts: dict[str, float] = item["score_parts"]
    steps = item["score_steps"]
    assert all(isinstance(v, float) for v in parts.values()), parts
    assert math.isclose(replay(steps), item["score"], rel_tol=1e-9, abs_tol=1e-9), item
    assert steps[-1]["score"] == item["score"]  # the running score is the engine's own, not a recomputation
    by_step = {st["step"]: st for st in steps}
    assert len(by_step) == len(steps), steps  # each contributor once
    for name, st in by_step.items():
        if f"{name}_rank" in parts:  # RRF: 1 / (k + rank)
            assert st["value"] == pytest.approx(1 / (60 + parts[f"{name}_rank"]), abs=1e-15)
        elif name == "keyword" and "dense" in by_step:  # weighted fusion: (1 − w) / w of the keyword score
            assert st["value"] == pytest.approx((1 - dense_weight) / dense_weight * parts["keyword"], abs=1e-12)
        else:
            assert st["value"] == parts[name], (name, parts)
    retrieval = [st for st in steps if st["step"] in ("dense", "keyword", "expansion")]
    assert steps[: len(retrieval)] == retrieval  # retrieval first, then rerank and the scorers
    assert parts["retrieval"] == pytest.approx(replay(retrieval), abs=1e-12)
    if "fused" in parts:
        assert parts["fused"] == pytest.approx(replay([st for st in retrieval if st["step"] != "expansion"]), abs=1e-12)
    if "keyword_context" in parts:
        assert parts["keyword"] == pytest.approx(min(1.0, parts["keyword_own"] + parts["keyword_context"]), abs=1e-12)
    return parts


def stripped(result: Any) -> str:
    """The response as JSON, key order kept, without the explanation."""
    items = [{k: v for k, v in r.items() if k not in ("score_parts", "score_steps")} for r in result["results"]]
    return json.dumps({**result, "results": items, "memories": items})


def retention(age_secs: float, access_count: int) -> float:
    """docs/concepts.md, Decay, with the defaults: S0 = 7 days, γ = 0.8, ρ = 0.1, α = 0.5."""
    if age_secs <= 0:
        return 1.0
    stability = 7 * 86400 * (1 + 0.5 * math.log(1 + access_count))
    return 0.1 + 0.9 * math.exp(-((age_secs / stability) ** 0.8))


def age_of(item: Any, now: datetime) -> float:
    anchor = item["last_accessed_at"] or item["updated_at"] or item["created_at"]
    return (now - datetime.fromisoformat(anchor)).total_seconds()


# ================================================================================ retrieval modes
async def test_default_hybrid_parts_are_the_cosine_the_keyword_score_and_the_neighbours() -> None:
    async with engine() as mem:
        await seed(mem)
        r = await mem.search(QUERY, user_id="alice", explain=True)
        assert r["results"]
        qv = hash_embedding(QUERY, DIMS)
        lent = 0
        for item in r["results"]:
            parts = check(item)
            assert [st["step"] for st in item["score_steps"]][:3] in (
                ["dense", "keyword", "expansion"], ["expansion", "temporal"])  # temporal: on by default
            if "dense" in parts:
                assert parts["dense"] == pytest.approx(cosine(qv, hash_embedding(item["memory"], DIMS)), abs=1e-6)
            assert parts["temporal"] == 1.0  # the query names no time
            lent += parts.get("keyword_context", 0.0) > 0
        by_text = {i["memory"]: i["score_parts"] for i in r["results"]}
        question, reply = by_text[TURNS[0][0]], by_text[TURNS[1][0]]
        assert reply["keyword_own"] == 0.0  # the reply shares no word with the query...
        # ...but its neighbour, the question, lends it 0.4 × its keyword score (the best near it)
        assert reply["keyword_context"] == pytest.approx(0.4 * question["keyword_own"], abs=1e-12)
        assert reply["expansion"] > 0  # and the question's fused score lifts it too
        assert lent >= 1


@pytest.mark.parametrize(
    ("retrieval", "dense_weight"),
    [
        ({"mode": "dense"}, 1.0),
        ({"mode": "dense", "expand": {"enabled": True}}, 1.0),  # dense through the hybrid retriever
        ({"mode": "bm25"}, 0.5),
        ({"fusion": "rrf"}, 0.5),
        ({"expand": {"enabled": False}}, 0.5),
        ({"expand": {"enabled": True, "keyword_weight": 0}}, 0.5),
        ({"dense_weight": 0.8, "expand": {"enabled": False}}, 0.8),
        ({"dense_weight": 0.0, "expand": {"enabled": False}}, 0.0),
    ],
)
async def test_parts_add_up_in_every_retrieval_mode(retrieval: dict[str, Any], dense_weight: float) -> None:
    async with engine(retrieval=retrieval) as mem:
        await seed(mem)
        r = await mem.search(QUERY, user_id="alice", explain=True, limit=4)
        assert r["results"]
        qv = hash_embedding(QUERY, DIMS)
        for item in r["results"]:
            parts = check(item, dense_weight=dense_weight)
            names = [st["step"] for st in item["score_steps"]]
            mode = retrieval.get("mode", "hybrid")
            if mode == "dense":
                assert names[0] == "dense" and "keyword" not in parts
                assert parts["dense"] == pytest.approx(cosine(qv, hash_embedding(item["memory"], DIMS)), abs=1e-6)
            elif mode == "bm25":
                assert names[0] == "keyword" and "dense" not in parts and 0 < parts["keyword"] <= 1
            elif retrieval.get("fusion") == "rrf":
                assert {"dense_rank", "keyword_rank"} & set(parts)
            elif dense_weight == 0.0:  # the cosine has no say: reported, not added
                assert names[0] == "keyword" and "dense" in parts
            else:
                assert names[:2] == ["dense", "keyword"]
            assert ("expansion" in parts) == (retrieval.get("expand", {}).get("enabled") is True)


async def test_keywords_ranked_by_the_store() -> None:
    """A store ranking keywords itself (Qdrant's local mode with its sparse BM25 vectors): the
    keyword part is the store's calibrated score, exact for every result."""
    pytest.importorskip("mem7_qdrant")
    store = {"provider": "qdrant", "config": {"location": ":memory:", "keyword_search": True}}
    async with engine(vector_store=store) as mem:
        assert mem.retriever is not None and mem.retriever.store_keywords
        await seed(mem)
        r = await mem.search(QUERY, user_id="alice", explain=True, limit=4)
        ranked = await mem.vector_store.keyword_search(QUERY, scope=Scope(user_id="alice"), limit=100)
        by_store = {h.id: h.score for h in ranked}
        for item in r["results"]:
            parts = check(item)
            assert [st["step"] for st in item["score_steps"]] == ["dense", "keyword", "temporal"]
            assert parts["keyword"] == by_store.get(item["id"], 0.0)


async def test_rrf_ranks_are_the_ranks_of_each_list() -> None:
    async with engine(retrieval={"fusion": "rrf"}) as mem, engine(retrieval={"mode": "dense"}) as dense:
        await seed(mem)
        await seed(dense)
        r = await mem.search(QUERY, user_id="alice", explain=True)
        by_cosine = [i["memory"] for i in (await dense.search(QUERY, user_id="alice"))["results"]]
        for item in r["results"]:
            parts = check(item)
            assert parts["dense_rank"] == by_cosine.index(item["memory"]) + 1


# ======================================================================================= scorers
@pytest.mark.parametrize("decay", [True, False])
async def test_decay_factor_is_the_forgetting_curve_of_the_memory(decay: bool) -> None:
    clock = Clock()
    async with engine(clock, decay={"enabled": decay}, retrieval={"expand": {"enabled": False}}) as mem:
        await seed(mem, clock, spacing=timedelta(days=3))
        clock.now += timedelta(days=2)
        for _ in range(2):  # the second search sees the first one's rehearsal (access count, last access)
            r = await mem.search(QUERY, user_id="alice", explain=True)
            await mem.drain()
            for item in r["results"]:
                parts = check(item)
                if decay:
                    expected = retention(age_of(item, clock.now), item["access_count"])
                    assert parts["decay"] == pytest.approx(expected, rel=1e-9)
                    assert expected < 1.0 or item["last_accessed_at"]
                else:
                    assert "decay" not in parts
            clock.now += timedelta(days=1)
        if decay:
            assert any(i["access_count"] == 1 for i in r["results"])


@pytest.mark.parametrize("task", ["design", "troubleshooting", None])
async def test_context_weight_is_the_matrix_cell_of_type_and_task(task: str | None) -> None:
    async with engine(context={"enabled": task is not None}) as mem:
        await seed(mem)
        r = await mem.search(QUERY, user_id="alice", explain=True, task_type=task or "design")
        for item in r["results"]:
            parts = check(item)
            if task is None:
                assert "context" not in parts
            else:
                assert parts["context"] == DEFAULT_CONTEXT_WEIGHTS[item["memory_type"]][task]
        assert task is None or {i["score_parts"]["context"] for i in r["results"]} != {1.0}


async def test_temporal_boost_is_a_factor_of_two_inside_the_window() -> None:
    async with engine(clock=Clock(datetime(2024, 6, 20, tzinfo=UTC))) as mem:
        await mem.add("went hiking in the alps", user_id="alice", infer=False, timestamp="2024-05-10T09:00:00")
        await mem.add("went hiking in the jura", user_id="alice", infer=False, timestamp="2024-03-02T09:00:00")
        r = await mem.search("where did I go hiking in May", user_id="alice", explain=True)
        factors = {i["memory"]: check(i)["temporal"] for i in r["results"]}
        assert factors == {"went hiking in the alps": 2.0, "went hiking in the jura": 1.0}


# ===================================================================================== reranker
def rerank_answer(messages: Sequence[Message]) -> dict[str, Any]:
    """The scoring model: each document's share of the query's words (0 for most of them)."""
    user = next(str(m["content"]) for m in messages if m["role"] == "user")
    found = re.search(r'^Query: (".*")$', user, re.M)
    assert found is not None and str(messages[0]["content"]).startswith(RERANK_MARKER)
    query = json.loads(found.group(1))
    docs = [json.loads(d) for d in re.findall(r'^\[\d+\] (".*")$', user, re.M)]
    return {"scores": [{"index": i, "score": lexical_relevance(query, d)} for i, d in enumerate(docs)]}


async def test_rerank_replaces_the_retrieval_score_and_the_scorers_multiply_it() -> None:
    clock = Clock()
    rr = LLMReranker(llm=ScriptedLLM(rerank_answer))
    try:
        async with engine(clock, reranker=rr, decay={"enabled": True}, context={"enabled": True}) as mem:
            await seed(mem, clock, spacing=timedelta(days=2))
            r = await mem.search(QUERY, user_id="alice", explain=True, task_type="planning", limit=6)
            assert len(rr.llm.calls) == 1  # type: ignore[attr-defined]
            assert r["results"]
            zero = 0
            for item in r["results"]:
                parts = check(item)
                names = [st["step"] for st in item["score_steps"]]
                assert names[names.index("rerank"):] == ["rerank", "decay", "temporal", "context"]
                assert parts["rerank"] == pytest.approx(lexical_relevance(QUERY, item["memory"]))
                # a memory the reranker scored 0 still gets its real factors (the scorer is asked for them)
                assert parts["decay"] == pytest.approx(retention(age_of(item, clock.now), 0), rel=1e-9)
                assert parts["context"] == DEFAULT_CONTEXT_WEIGHTS[item["memory_type"]]["planning"]
                zero += parts["rerank"] == 0.0
            assert zero >= 1
            plain = await mem.search(QUERY, user_id="alice", explain=True, rerank=False, task_type="planning")
            assert all("rerank" not in i["score_parts"] for i in plain["results"])
    finally:
        await rr.aclose()


# ================================================================================ graph, defaults
async def test_graph_memory_on_changes_nothing_in_the_memories_explanation() -> None:
    async with engine(graph_store={"provider": "flat"}) as mem, engine() as plain:
        await seed(mem)
        await seed(plain)
        r = await mem.search(QUERY, user_id="alice", explain=True)
        p = await plain.search(QUERY, user_id="alice", explain=True)
        for item in r["results"]:
            check(item)
        assert [(i["memory"], i["score_parts"]) for i in r["results"]] == [
            (i["memory"], i["score_parts"]) for i in p["results"]]
        assert all("score_parts" not in rel for rel in r["relations"])


async def test_without_explain_the_response_is_unchanged() -> None:
    async with engine(context={"enabled": True}, graph_store={"provider": "flat"}) as mem:
        await seed(mem)
        plain = await mem.search(QUERY, user_id="alice", task_type="design")
        explained = await mem.search(QUERY, user_id="alice", task_type="design", explain=True)
        assert all("score_parts" not in i and "score_steps" not in i for i in plain["results"])
        assert all("score_parts" in i and "score_steps" in i for i in explained["results"])
        assert stripped(explained) == json.dumps(plain)


async def test_without_explain_no_stage_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("traced without explain")

    monkeypatch.setattr(read, "ScoreTrace", refuse)
    monkeypatch.setattr(scoring, "_trace_scorer", refuse)
    async with engine(decay={"enabled": True}, context={"enabled": True}) as mem:
        await seed(mem)
        assert (await mem.search(QUERY, user_id="alice", task_type="design"))["results"]
        with pytest.raises(AssertionError, match="traced without explain"):
            await mem.search(QUERY, user_id="alice", explain=True)


async def test_explain_must_be_a_bool() -> None:
    async with engine() as mem:
        await seed(mem)
        with pytest.raises(ValueError, match="explain must be true or false, got 'yes'"):
            await mem.search(QUERY, user_id="alice", explain="yes")  # type: ignore[arg-type]
        assert len((await mem.get_all(user_id="alice"))["results"]) == len(TURNS)
