"""Time-aware retrieval: the ``temporal`` scorer, ``search(now=...)`` through every face, and the scorer stage's drop."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mem7_core.config import MemoryConfig
from mem7_core.engine.memory import AsyncMemory
from mem7_core.engine.scoring import ScorerStage
from mem7_core.filters import And, parse_filters
from mem7_core.models import Scope
from mem7_core.providers.scorer import QueryContext, ScoredHit, Scorer
from mem7_core.scorers.temporal import TemporalConfig, TemporalScorer
from mem7_core.scorers.time_expressions import time_windows
from mem7_core.server.rest import create_app
from mem7_core.testing import ScorerConformance
from mem7_core.testing.scorer import NOW, ContextFactory

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
CLOCK = datetime(2024, 6, 12, 15, 30, tzinfo=UTC)
HIKES = [  # the same words, so the embedder cannot tell them apart: only their time can
    {"id": "0190a000-0000-7000-8000-000000000001", "memory": "went hiking in the hills with a friend",
     "user_id": "u", "created_at": "2023-05-10T09:00:00+00:00"},
    {"id": "0190a000-0000-7000-8000-000000000002", "memory": "went hiking in the hills with a friend!",
     "user_id": "u", "created_at": "2024-05-10T09:00:00+00:00"},
    {"id": "0190a000-0000-7000-8000-000000000003", "memory": "went hiking in the hills with a friend.",
     "user_id": "u", "created_at": "2024-06-11T09:00:00+00:00"},
]
MAY_2023, MAY_2024, JUNE_2024 = (h["id"] for h in HIKES)


# ------------------------------------------------------------------------------------ conformance
class TestTemporalBoost(ScorerConformance):
    @pytest.fixture
    def scorer(self) -> Scorer:
        return TemporalScorer(TemporalConfig(enabled=True))

    @pytest.fixture
    def make_context(self) -> ContextFactory:
        def timed(query: str, *, task_type: str | None = None) -> QueryContext:
            # "last week": so the scorer has a window to work with (the suite's hits lie in and out of it)
            return QueryContext(query=query + " last week", scope=Scope(user_id="conformance"), now=NOW,
                                task_type=task_type)

        return timed


class TestTemporalSpread(TestTemporalBoost):
    @pytest.fixture
    def scorer(self) -> Scorer:
        return TemporalScorer(TemporalConfig(enabled=True, weight=3.0, spread_days=10))


class TestTemporalFilter(TestTemporalBoost):
    @pytest.fixture
    def scorer(self) -> Scorer:
        return TemporalScorer(TemporalConfig(enabled=True, mode="filter"))


# ------------------------------------------------------------------------------------ the scorer
def ctx(query: str) -> QueryContext:
    return QueryContext(query=query, scope=Scope(user_id="u"), now=NOW)


def hits() -> list[ScoredHit]:
    def at(days: float) -> str:
        return (NOW - timedelta(days=days)).isoformat()

    return [
        ScoredHit("old", "a", 0.9, created_at=at(60)),
        ScoredHit("yesterday", "b", 0.5, created_at=at(1)),
        ScoredHit("near", "c", 0.5, created_at=at(3)),
        ScoredHit("untimed", "d", 0.4),
        ScoredHit("relation", "e", 0.3, is_relation=True),
    ]


async def scored(scorer: TemporalScorer, query: str) -> dict[str, float]:
    c = ctx(query)
    hs = hits()
    scorer.score(hs, c, await scorer.prepare(c))
    return {h.id: h.score for h in hs if not h.dropped}


async def test_boost_multiplies_hits_inside_the_window_only() -> None:
    got = await scored(TemporalScorer(TemporalConfig(weight=1.5)), "what did I do yesterday")
    assert got == pytest.approx({"old": 0.9, "yesterday": 1.25, "near": 0.5, "untimed": 0.4, "relation": 0.3})


async def test_spread_fades_the_boost_with_the_distance() -> None:
    got = await scored(TemporalScorer(TemporalConfig(weight=1.0, spread_days=2)), "what did I do yesterday")
    # NOW is noon: "near" (3 days ago, noon) is 1.5 days before yesterday's window; "old" is 58.5 days away.
    assert got["yesterday"] == pytest.approx(1.0)
    assert got["near"] == pytest.approx(0.5 * (1 + math.exp(-1.5 / 2)), rel=1e-9)
    assert 0.9 < got["old"] < 0.9 * 1.0001


async def test_filter_marks_what_falls_outside_and_keeps_untimed_hits() -> None:
    got = await scored(TemporalScorer(TemporalConfig(mode="filter")), "what did I do yesterday")
    assert got == {"yesterday": 0.5, "untimed": 0.4, "relation": 0.3}


@pytest.mark.parametrize("mode", ["boost", "filter"])
async def test_a_query_naming_no_time_changes_nothing(mode: str) -> None:
    scorer = TemporalScorer(TemporalConfig(mode=mode))  # type: ignore[arg-type]
    assert await scorer.prepare(ctx("how do I deploy the service")) == []
    assert await scored(scorer, "how do I deploy the service") == {h.id: h.score for h in hits()}


async def test_the_stage_removes_dropped_hits_after_the_last_scorer() -> None:
    stage = ScorerStage([TemporalScorer(TemporalConfig(mode="filter"))])
    c = ctx("notes from the past week")
    hs = hits()
    stage.score(hs, c, await stage.prepare(c))
    assert [h.id for h in hs] == ["yesterday", "near", "untimed", "relation"]


async def test_filter_mode_narrows_retrieval_to_the_windows() -> None:
    def narrows(mode: str, query: str) -> Any:
        scorer = TemporalScorer(TemporalConfig(mode=mode))  # type: ignore[arg-type]
        return scorer.narrows(time_windows(query, NOW))

    may = {"created_at": {"gte": datetime(2025, 5, 1, tzinfo=UTC), "lt": datetime(2025, 6, 1, tzinfo=UTC)}}
    assert narrows("filter", "what did I do last month") == may
    assert narrows("filter", "before 2020 or last month") == {
        "OR": [{"created_at": {"lt": datetime(2020, 1, 1, tzinfo=UTC)}}, may]}
    assert narrows("filter", "what did I do") is None
    assert narrows("boost", "what did I do last month") is None


async def test_the_stage_ands_narrowing_with_the_callers_filter_and_ignores_a_bad_one(caplog) -> None:
    class Bad(Scorer):
        name = "bad"

        def narrows(self, state: Any) -> Any:
            return {"k": {"regex": 1}}

    stage = ScorerStage([TemporalScorer(TemporalConfig(mode="filter")), Bad()])
    c = ctx("notes from last month")
    node = stage.narrowing(parse_filters({"topic": "food"}), await stage.prepare(c))
    assert node == And((parse_filters({"topic": "food"}), parse_filters(
        {"created_at": {"gte": "2025-05-01", "lt": "2025-06-01"}})))
    assert "'bad' gave a filter that does not parse" in caplog.text
    assert stage.narrowing(None, [None, None]) is None


def test_config_is_on_by_default_and_checks_its_fields() -> None:
    cfg = MemoryConfig.model_validate(BASE)
    assert cfg.temporal == TemporalConfig(enabled=True, mode="boost", weight=1.0, spread_days=0.0)
    with pytest.raises(ValidationError, match="mode"):
        MemoryConfig.model_validate({**BASE, "temporal": {"mode": "sometimes"}})
    with pytest.raises(ValidationError, match="weight"):
        MemoryConfig.model_validate({**BASE, "temporal": {"weight": 0}})
    with pytest.raises(ValidationError, match="spread_days"):
        MemoryConfig.model_validate({**BASE, "temporal": {"spread_days": -1}})


# ------------------------------------------------------------------------------------ end to end
@pytest.fixture
async def make():
    engines: list[AsyncMemory] = []

    async def _make(**config: Any) -> AsyncMemory:
        mem = AsyncMemory({**BASE, **config}, clock=lambda: CLOCK)
        engines.append(mem)
        await mem.import_memories(HIKES)
        return mem

    yield _make
    for mem in engines:
        await mem.aclose()


async def ids(mem: AsyncMemory, query: str, **kwargs: Any) -> list[str]:
    return [r["id"] for r in (await mem.search(query, user_id="u", **kwargs))["results"]]


async def test_search_prefers_the_memories_of_the_time_the_query_names(make) -> None:
    mem = await make()  # on by default
    off = await make(temporal={"enabled": False})
    assert (await ids(off, "who went hiking with me last May"))[0] == MAY_2023  # the embedder alone
    assert (await ids(off, "who went hiking with me yesterday"))[0] == MAY_2023
    assert (await ids(mem, "who went hiking with me last May"))[0] == MAY_2024
    assert (await ids(mem, "who went hiking with me yesterday"))[0] == JUNE_2024
    assert (await ids(mem, "who went hiking with me in 2023"))[0] == MAY_2023


async def test_now_moves_what_relative_expressions_count_from(make) -> None:
    mem = await make(temporal={"enabled": True})
    for now in ("2023-06-12", datetime(2023, 6, 12, 8, tzinfo=UTC), datetime(2023, 6, 12).timestamp()):
        assert (await ids(mem, "who went hiking with me last May", now=now))[0] == MAY_2023, now
    assert (await ids(mem, "who went hiking with me last May", now="2024-06-12T00:00:00Z"))[0] == MAY_2024


async def test_filter_mode_finds_that_time_beyond_the_best_matches(make) -> None:
    mem = await make(temporal={"mode": "filter"})
    await mem.import_memories([
        {"memory": f"went hiking in the hills with a friend{'!' * i}", "user_id": "u",
         "created_at": f"2024-06-0{i}T09:00:00+00:00"} for i in range(1, 6)
    ] + [{"id": "0190a000-0000-7000-8000-0000000000aa", "memory": "a walk in the park", "user_id": "u",
          "created_at": "2022-03-03T09:00:00+00:00"}])
    # the 2022 memory is the least similar of all; filter mode still finds it, as the only one of 2022
    assert await ids(mem, "went hiking in the hills with a friend in 2022", limit=1) == [
        "0190a000-0000-7000-8000-0000000000aa"]


async def test_filter_mode_keeps_only_that_time(make) -> None:
    mem = await make(temporal={"enabled": True, "mode": "filter"})
    assert await ids(mem, "who went hiking with me last May") == [MAY_2024]
    assert sorted(await ids(mem, "who went hiking with me since May 2024")) == sorted([MAY_2024, JUNE_2024])
    assert sorted(await ids(mem, "who went hiking with me")) == sorted([MAY_2023, MAY_2024, JUNE_2024])


async def test_a_timeless_query_scores_as_without_the_scorer(make) -> None:
    on, off = await make(), await make(temporal={"enabled": False})
    q = "who went hiking with me"
    assert (await on.search(q, user_id="u"))["results"] == (await off.search(q, user_id="u"))["results"]


async def test_memories_added_with_their_timestamp(tmp_path: Path) -> None:
    async with AsyncMemory({**BASE, "temporal": {"enabled": True, "mode": "filter"}}, clock=lambda: CLOCK) as mem:
        await mem.add("we planted tomatoes", user_id="u", infer=False, timestamp="2023-04-02T10:00:00")
        await mem.add("we planted tomatoes again", user_id="u", infer=False)
        [hit] = (await mem.search("what did we plant in April 2023", user_id="u"))["results"]
        assert hit["memory"] == "we planted tomatoes"


async def test_now_is_the_decay_clock_but_rehearsal_stamps_the_engine_clock(make) -> None:
    async def june_score(mem: AsyncMemory, **kwargs: Any) -> float:
        found = (await mem.search("hiking", user_id="u", **kwargs))["results"]
        return next(float(r["score"]) for r in found if r["id"] == JUNE_2024)

    cosine = await june_score(await make())  # decay off
    # the June memory was created 2024-06-11 09:00: one day, then seven days later (fresh engines: never rehearsed)
    assert await june_score(await make(decay={"enabled": True}), now="2024-06-12T09:00:00") == pytest.approx(
        cosine * 0.829, abs=0.001)
    week = await make(decay={"enabled": True})
    assert await june_score(week, now=datetime(2024, 6, 18, 9, tzinfo=UTC)) == pytest.approx(cosine * 0.431, abs=0.001)
    await week.drain()
    stored = await week.get(JUNE_2024, user_id="u")
    assert stored is not None and stored["last_accessed_at"] == CLOCK.isoformat()  # not the 18th


@pytest.mark.parametrize("bad", ["last tuesday", "", True, float("nan"), [2024]])
async def test_a_bad_now_names_the_field(make, bad: Any) -> None:
    mem = await make()
    with pytest.raises(ValueError, match=r"^now must be an ISO-8601 time"):
        await mem.search("hiking", user_id="u", now=bad)


# ------------------------------------------------------------------------------------ the faces
def test_rest_search_passes_now() -> None:
    cfg = MemoryConfig.model_validate({**BASE, "temporal": {"enabled": True, "mode": "filter"}})
    with TestClient(create_app(cfg), base_url="http://127.0.0.1") as http:
        assert http.post("/memories/import", json={"items": HIKES}).status_code == 200
        body = {"query": "who went hiking with me last May", "user_id": "u"}
        got = http.post("/memories/search", json={**body, "now": "2023-06-12"})
        assert [r["id"] for r in got.json()["results"]] == [MAY_2023], got.text
        got = http.post("/memories/search", json={**body, "now": datetime(2024, 6, 12, tzinfo=UTC).timestamp()})
        assert [r["id"] for r in got.json()["results"]] == [MAY_2024], got.text
        for wrong in ("someday", True):  # JSON true is not the epoch second 1
            bad = http.post("/memories/search", json={**body, "now": wrong})
            assert bad.status_code == 422 and "now" in json.dumps(bad.json()), bad.text


async def test_mcp_search_passes_now(tmp_path: Path) -> None:
    mcp = pytest.importorskip("mcp", reason="the MCP server needs mem7-core[mcp]")
    client_cls = getattr(mcp, "Client", None)
    if client_cls is None:
        pytest.skip("an in-process MCP client needs mcp >= 2")
    from mem7_core.server.mcp import build_server

    config = MemoryConfig.model_validate({**BASE, "temporal": {"enabled": True, "mode": "filter"}})
    async with client_cls(build_server(config, default_scope={"user_id": "u"})) as client:
        await client.call_tool("add_memory", {"text": "went hiking in the hills"})
        today = datetime.now(UTC).date()

        async def found(now: str) -> list[str]:
            result = await client.call_tool("search_memories", {"query": "hiking today", "now": now})
            return [r["memory"] for r in json.loads("".join(c.text for c in result.content))["results"]]

        assert await found(today.isoformat() + "T23:59:00") == ["went hiking in the hills"]
        assert await found((today + timedelta(days=3)).isoformat()) == []


def test_cli_search_passes_now(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from mem7_core.cli import main

    for name in list(os.environ):
        if name.startswith(("MEM7_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEM7_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEM7_USER_ID", "alice")
    monkeypatch.setenv("MEM7_EMBEDDER__PROVIDER", "hash")
    monkeypatch.setenv("MEM7_TEMPORAL__ENABLED", "true")
    monkeypatch.setenv("MEM7_TEMPORAL__MODE", "filter")
    assert main(["add", "went hiking in the hills"]) == 0
    capsys.readouterr()
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    def found(*now: str) -> list[str]:
        assert main(["--json", "search", "hiking yesterday", *now]) == 0
        return [r["memory"] for r in json.loads(capsys.readouterr().out)["results"]]

    assert found("--now", tomorrow.isoformat()) == ["went hiking in the hills"]
    assert found("--now", str(int(tomorrow.timestamp()))) == ["went hiking in the hills"]
    assert found() == []  # without --now, "yesterday" is the day before the memory
    assert main(["search", "hiking", "--now", "someday"]) != 0
    assert "now must be" in capsys.readouterr().err
