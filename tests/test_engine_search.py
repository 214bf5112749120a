"""The engine's read path and by-id operations (spec §1, §4, §5, §6, §7): AsyncMemory end to end.

Every test builds a real engine (hash embedder, flat store, SQLite history in memory) with a
scripted LLM and, where time matters, an injected clock, so nothing sleeps and nothing is mocked
inside the engine itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from pydantic import Field

import mem7_flat.plugin as flat_plugin
from mem7_core import AsyncMemory, Memory
from mem7_core.config import DecayConfig
from mem7_core.errors import (
    ConfigError,
    FilterError,
    MemoryNotFoundError,
    ProviderError,
    ProviderNotFoundError,
    ScopeError,
)
from mem7_core.filters import operators_of
from mem7_core.history.sqlite import SQLiteHistoryStore
from mem7_core.ids import iso
from mem7_core.models import RerankResult
from mem7_core.plugins import PluginRegistry, hookimpl
from mem7_core.providers import LLM, ProviderConfig, Reranker, Scorer, VectorStoreCapabilities
from mem7_core.providers.scorer import QueryContext, ScoredHit
from mem7_core.providers.tasks import CLASSIFY_QUERY_MARKER
from mem7_core.scorers.decay import retention
from mem7_core.testing import providers as testing_providers
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM, hash_embedding
from mem7_flat import FlatVectorStore

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


class Clock:
    """A settable UTC clock for the engine."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now = self.now + delta


def config(**over: Any) -> dict[str, Any]:
    return {**BASE, **over}


def engine(
    *,
    llm: Any = None,
    clock: Clock | None = None,
    vector_store_obj: Any = None,
    embedder_obj: Any = None,
    reranker: Any = None,
    **over: Any,
) -> AsyncMemory:
    """An engine on BASE (``over`` replaces top-level config sections); provider instances optional."""
    return AsyncMemory(
        config(**over),
        llm=llm if llm is not None else ScriptedLLM(),
        clock=clock or Clock(),
        vector_store=vector_store_obj,
        embedder=embedder_obj,
        reranker=reranker,
    )


async def seed(mem: AsyncMemory, text: str, *, user_id: str = "alice", **kw: Any) -> str:
    res = await mem.add(text, user_id=user_id, infer=False, **kw)
    assert len(res["results"]) == 1
    return res["results"][0]["id"]


def texts(result: Any) -> list[str]:
    return [r["memory"] for r in result["results"]]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def parse_utc(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    assert dt.utcoffset() == timedelta(0), value
    return dt


# =============================================================================== search shape
async def test_search_result_shape_and_item_fields():
    clock = Clock()
    async with engine(clock=clock) as mem:
        mid = await seed(mem, "I enjoy hiking in the Alps", memory_type="preference", metadata={"topic": "outdoors"})
        await seed(mem, "My sister lives in Berlin")
        r = await mem.search("hiking in the Alps", user_id="alice", limit=5)

        assert set(r.keys()) >= {"results", "memories", "relations"}
        assert r["relations"] == []
        assert r["memories"] == r["results"]
        assert len(r["results"]) == 2
        assert r["results"][0]["memory"] == "I enjoy hiking in the Alps"  # dict-style access

        item = r["results"][0]
        assert item["id"] == mid
        assert uuid.UUID(item["id"]).version == 7
        assert item["memory"] == item["text"] == "I enjoy hiking in the Alps"
        assert item["hash"] == md5("I enjoy hiking in the Alps")
        assert item["user_id"] == "alice" and item["agent_id"] is None and item["run_id"] is None
        assert parse_utc(item["created_at"]) == T0
        assert parse_utc(item["updated_at"]) == T0
        assert item["access_count"] == 0
        # hybrid (the default): cosine + keyword evidence, in [−1, 1 / dense_weight] = [−1, 2]
        assert isinstance(item["score"], float) and 0 < item["score"] <= 2.0 + 1e-6
        assert item["role"] == "user"
        assert item["memory_type"] == "preference"
        # metadata holds the caller's keys only, not scope / engine keys
        assert item["metadata"] == {"topic": "outdoors"}
        # best first
        scores = [i["score"] for i in r["results"]]
        assert scores == sorted(scores, reverse=True)


async def test_search_limit_respected():
    async with engine() as mem:
        for i in range(7):
            await seed(mem, f"note number {i} about gardening")
        assert len((await mem.search("gardening", user_id="alice", limit=3))["results"]) == 3
        assert len((await mem.search("gardening", user_id="alice", limit=1))["results"]) == 1
        assert len((await mem.search("gardening", user_id="alice"))["results"]) == 7


async def test_threshold_applies_to_final_score():
    clock = Clock()
    async with engine(clock=clock, decay={"enabled": True}) as mem:
        old = await seed(mem, "likes green tea")
        clock.advance(30 * DAY)
        fresh = await seed(mem, "likes green tea")
        # Both have cosine ~1.0 with the query; the old one decays to ~0.137.
        r = await mem.search("likes green tea", user_id="alice", threshold=0.5)
        assert [i["id"] for i in r["results"]] == [fresh]
        r = await mem.search("likes green tea", user_id="alice", threshold=0.1)
        assert {i["id"] for i in r["results"]} == {old, fresh}
        assert all(i["score"] >= 0.1 for i in r["results"])
        await mem.drain()


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "0.5", True])
async def test_search_rejects_a_threshold_that_is_not_a_finite_number(threshold):
    """NaN used to be taken, and every result dropped without a word (nothing compares >= NaN)."""
    async with engine() as mem:
        await seed(mem, "likes green tea")
        with pytest.raises(ValueError, match="threshold must be a finite number"):
            await mem.search("likes green tea", user_id="alice", threshold=threshold)


@pytest.mark.parametrize("query", ["", "   ", "\n\t", None, 42])
async def test_search_rejects_empty_query(query):
    async with engine() as mem:
        await seed(mem, "something")
        with pytest.raises(ValueError):
            await mem.search(query, user_id="alice")


@pytest.mark.parametrize("limit", [0, -1, 1.5, "3", True, None])
async def test_search_rejects_bad_limit(limit):
    async with engine() as mem:
        with pytest.raises(ValueError, match="limit"):
            await mem.search("q", user_id="alice", limit=limit)
        if limit is None:  # get_all(limit=None) is every memory, as in the original mem7 (test_user_trial_python)
            return
        with pytest.raises(ValueError, match="limit"):
            await mem.get_all(user_id="alice", limit=limit)


# ====================================================================================== scoping
@pytest.mark.parametrize("op", ["search", "get_all", "delete_all"])
async def test_scope_required(op):
    async with engine() as mem:
        await seed(mem, "alice fact")
        call = {
            "search": lambda: mem.search("fact"),
            "get_all": lambda: mem.get_all(),
            "delete_all": lambda: mem.delete_all(),
        }[op]
        with pytest.raises(ScopeError) as info:
            await call()
        assert isinstance(info.value, ValueError)
        msg = str(info.value)
        for key in ("user_id", "agent_id", "run_id"):
            assert key in msg
        # nothing was deleted
        assert len((await mem.get_all(user_id="alice"))["results"]) == 1


async def test_add_requires_scope():
    async with engine() as mem:
        with pytest.raises(ScopeError, match="user_id"):
            await mem.add("hello there", infer=False)


async def test_scope_ids_inside_filters_are_honoured():
    async with engine() as mem:
        await seed(mem, "alice likes tea", user_id="alice")
        await seed(mem, "bob likes tea", user_id="bob")
        r = await mem.search("likes tea", filters={"user_id": "bob"})
        assert texts(r) == ["bob likes tea"]
        assert texts(await mem.get_all(filters={"user_id": "alice"})) == ["alice likes tea"]
        await mem.delete_all(filters={"user_id": "alice"})
        assert texts(await mem.get_all(user_id="alice")) == []
        assert texts(await mem.get_all(user_id="bob")) == ["bob likes tea"]
        # argument and filter disagreeing is an error, not a silent pick
        with pytest.raises(ScopeError):
            await mem.search("tea", user_id="alice", filters={"user_id": "bob"})


async def test_or_filter_cannot_widen_scope():
    async with engine() as mem:
        await seed(mem, "alice likes tea", user_id="alice", metadata={"tag": "drink"})
        await seed(mem, "alice likes jazz", user_id="alice", metadata={"tag": "music"})
        await seed(mem, "bob likes tea", user_id="bob", metadata={"tag": "drink"})
        await seed(mem, "bob likes jazz", user_id="bob", metadata={"tag": "music"})
        widen = {"OR": [{"user_id": "bob"}, {"tag": "music"}]}
        r = await mem.search("likes", user_id="alice", filters=widen)
        assert texts(r) == ["alice likes jazz"]
        assert all(i["user_id"] == "alice" for i in r["results"])
        r = await mem.get_all(user_id="alice", filters={"OR": [{"user_id": "bob"}, {"user_id": "carol"}]})
        assert texts(r) == []
        r = await mem.get_all(user_id="alice", filters={"NOT": [{"user_id": "alice"}]})
        assert texts(r) == []


async def test_by_id_operations_respect_a_given_scope():
    clock = Clock()
    async with engine(clock=clock) as mem:
        mid = await seed(mem, "alice secret")
        clock.advance(DAY)
        assert await mem.get(mid, user_id="bob") is None
        assert (await mem.get(mid, user_id="alice"))["memory"] == "alice secret"
        with pytest.raises(MemoryNotFoundError):
            await mem.update(mid, "hijacked", user_id="bob")
        with pytest.raises(MemoryNotFoundError):
            await mem.delete(mid, user_id="bob")
        item = await mem.get(mid)
        assert item is not None
        assert item["memory"] == "alice secret"
        assert item["updated_at"] == iso(T0)
        assert [e["event"] for e in await mem.history(mid)] == ["ADD"]


async def test_update_cannot_move_scope_through_metadata():
    async with engine() as mem:
        mid = await seed(mem, "alice fact")
        for key in ("user_id", "agent_id", "run_id"):
            with pytest.raises(ValueError, match=key):
                await mem.update(mid, "alice fact v2", metadata={key: "bob"})
        item = await mem.get(mid)
        assert item["user_id"] == "alice" and item["agent_id"] is None and item["memory"] == "alice fact"
        assert texts(await mem.get_all(user_id="bob")) == []
        assert [e["event"] for e in await mem.history(mid)] == ["ADD"]


# ====================================================================================== filters
FILTER_DATA = [
    ("apple pie recipe", {"n": 1, "tag": "Alpha", "tags": ["x", "y"], "note": "Hello World"}),
    ("banana bread recipe", {"n": 2, "tag": "beta", "tags": ["y"]}),
    ("cherry tart recipe", {"n": 3, "tag": "gamma", "opt": None}),
    ("durian cake recipe", {"n": 4, "tag": "alpha"}),
]
A, B, C, D = (t for t, _ in FILTER_DATA)

FILTER_CASES = [
    ({"tag": "beta"}, {B}),
    ({"tag": {"eq": "beta"}}, {B}),
    ({"tag": {"ne": "beta"}}, {A, C, D}),
    ({"n": {"gt": 2}}, {C, D}),
    ({"n": {"gte": 2}}, {B, C, D}),
    ({"n": {"lt": 2}}, {A}),
    ({"n": {"lte": 2}}, {A, B}),
    ({"n": {"gte": 2, "lt": 4}}, {B, C}),
    ({"tag": {"in": ["beta", "gamma"]}}, {B, C}),
    ({"tag": {"nin": ["beta", "gamma"]}}, {A, D}),
    ({"tags": {"contains": "y"}}, {A, B}),
    ({"note": {"contains": "World"}}, {A}),
    ({"note": {"contains": "world"}}, set()),
    ({"tag": {"icontains": "ALPH"}}, {A, D}),
    ({"note": {"icontains": "hello world"}}, {A}),
    ({"opt": "*"}, {C}),
    ({"tags": "*"}, {A, B}),
    ({"AND": [{"n": {"gte": 2}}, {"tag": {"ne": "gamma"}}]}, {B, D}),
    ({"OR": [{"tag": "beta"}, {"n": 4}]}, {B, D}),
    ({"NOT": [{"tag": {"icontains": "alpha"}}]}, {B, C}),
    ({"OR": [{"tags": "*"}, {"NOT": [{"n": {"lt": 4}}]}], "tag": {"ne": "beta"}}, {A, D}),
]


async def _seed_filter_data(mem: AsyncMemory, clock: Clock) -> None:
    for user in ("alice", "bob"):
        for text, meta in FILTER_DATA:
            await seed(mem, text, user_id=user, metadata=meta)
            clock.advance(timedelta(seconds=1))


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES, ids=[str(f) for f, _ in FILTER_CASES])
async def test_filters_through_search_and_get_all(filters, expected):
    clock = Clock()
    async with engine(clock=clock) as mem:
        await _seed_filter_data(mem, clock)
        listed = await mem.get_all(user_id="alice", filters=filters)
        assert set(texts(listed)) == expected
        assert len(texts(listed)) == len(expected)
        assert all(i["user_id"] == "alice" for i in listed["results"])
        found = await mem.search("recipe", user_id="alice", filters=filters)
        assert set(texts(found)) == expected
        assert all(i["user_id"] == "alice" for i in found["results"])


@pytest.mark.parametrize(
    "filters",
    [
        {"n": {"between": [1, 3]}},
        {"n": {"regex": ".*"}},
        {"and": [{"n": 1}]},
        {"OR": []},
        {"tag": ["a", "b"]},
        {"n": {}},
    ],
)
async def test_bad_filter_is_an_error(filters):
    async with engine() as mem:
        await seed(mem, "apple pie recipe", metadata={"n": 1})
        with pytest.raises(FilterError) as info:
            await mem.search("recipe", user_id="alice", filters=filters)
        assert isinstance(info.value, ValueError)
        with pytest.raises(FilterError):
            await mem.get_all(user_id="alice", filters=filters)


class EqOnlyStore(FlatVectorStore):
    """A store that can push down only ``eq`` (and AND/OR/NOT): the engine must do the rest."""

    name = "eq-only"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(filter_operators=frozenset({"eq"}))

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        # FlatVectorStore sets capabilities per instance; keep the restricted ones.
        self.capabilities = EqOnlyStore.capabilities  # type: ignore[misc]
        self.seen_ops: list[set[str]] = []

    def _check(self, filters: Any) -> None:
        ops = operators_of(filters)
        self.seen_ops.append(ops)
        assert ops <= {"eq", "AND", "OR", "NOT"}, f"store was handed operators it cannot evaluate: {ops}"

    async def search(self, vector, *, scope, limit, filters=None):  # type: ignore[override]
        self._check(filters)
        return await super().search(vector, scope=scope, limit=limit, filters=filters)

    async def list(self, *, scope, filters=None, limit=None):  # type: ignore[override]
        self._check(filters)
        return await super().list(scope=scope, filters=filters, limit=limit)


async def test_store_without_operator_pushdown_gives_same_answers():
    clock_a, clock_b = Clock(), Clock()
    limited_store = EqOnlyStore()
    async with engine(clock=clock_a) as full, engine(clock=clock_b, vector_store_obj=limited_store) as limited:
        await _seed_filter_data(full, clock_a)
        await _seed_filter_data(limited, clock_b)
        for filters, expected in FILTER_CASES:
            for limit in (100, 1):
                a = await full.get_all(user_id="alice", filters=filters, limit=limit)
                b = await limited.get_all(user_id="alice", filters=filters, limit=limit)
                assert texts(a) == texts(b), filters
                a = await full.search("apple pie", user_id="alice", filters=filters, limit=limit)
                b = await limited.search("apple pie", user_id="alice", filters=filters, limit=limit)
                assert texts(a) == texts(b), filters
                assert [round(i["score"], 5) for i in a["results"]] == [round(i["score"], 5) for i in b["results"]]
            b = await limited.get_all(user_id="alice", filters=filters)
            assert set(texts(b)) == expected, filters
        # eq-only filters were pushed down, the rest were not
        assert any("eq" in ops for ops in limited_store.seen_ops)


# ======================================================================================== decay
async def test_decay_old_memory_ranks_below_fresh_with_equal_similarity():
    clock = Clock()
    async with engine(clock=clock, decay={"enabled": True}) as mem:
        old = await seed(mem, "I enjoy hiking in the mountains")
        clock.advance(30 * DAY)
        fresh = await seed(mem, "I enjoy hiking in the mountains")
        r = await mem.search("hiking mountains", user_id="alice")
        assert [i["id"] for i in r["results"]] == [fresh, old]
        s_fresh, s_old = r["results"][0]["score"], r["results"][1]["score"]
        cfg = DecayConfig()
        expected = retention((30 * DAY).total_seconds(), 0, cfg)
        assert expected == pytest.approx(0.137, abs=5e-4)  # spec §4 reference value
        assert s_old / s_fresh == pytest.approx(expected, rel=1e-4)
        await mem.drain()

    # Without decay the two are tied (same text, same vector).
    clock = Clock()
    async with engine(clock=clock) as mem:
        await seed(mem, "I enjoy hiking in the mountains")
        clock.advance(30 * DAY)
        await seed(mem, "I enjoy hiking in the mountains")
        r = await mem.search("hiking mountains", user_id="alice")
        assert r["results"][0]["score"] == pytest.approx(r["results"][1]["score"], rel=1e-6)


@pytest.mark.parametrize(("days", "n", "expected"), [(1, 0, 0.829), (7, 0, 0.431), (7, 5, 0.594), (30, 5, 0.232)])
async def test_decay_multiplier_matches_retention(days, n, expected):
    clock = Clock()
    async with engine(clock=clock, decay={"enabled": True}) as mem:
        old = await seed(mem, "the deploy runs on fridays")
        # rehearse n times at T0 (each search bumps access_count, last_accessed_at = T0)
        for _ in range(n):
            await mem.search("deploy fridays", user_id="alice")
            await mem.drain()
        assert (await mem.get(old))["access_count"] == n
        clock.advance(days * DAY)
        fresh = await seed(mem, "the deploy runs on fridays")
        r = await mem.search("deploy fridays", user_id="alice")
        by_id = {i["id"]: i["score"] for i in r["results"]}
        ratio = by_id[old] / by_id[fresh]
        assert ratio == pytest.approx(retention(days * 86400.0, n, DecayConfig()), rel=1e-4)
        assert ratio == pytest.approx(expected, abs=1e-3)
        await mem.drain()


async def test_rehearsal_bumps_access_and_writes_no_history():
    clock = Clock()
    # dense retrieval: the scores below are cosine × retention (hybrid fusion has its own tests)
    async with engine(clock=clock, decay={"enabled": True}, retrieval={"mode": "dense"}) as mem:
        mid = await seed(mem, "favourite colour is teal")
        other = await seed(mem, "works at the harbour")
        clock.advance(2 * DAY)
        r = await mem.search("favourite colour is teal", user_id="alice", limit=1)
        assert [i["id"] for i in r["results"]] == [mid]
        assert r["results"][0]["score"] == pytest.approx(retention(2 * 86400.0, 0, DecayConfig()), rel=1e-4)
        await mem.drain()
        item = await mem.get(mid)
        assert item["access_count"] == 1
        assert item["last_accessed_at"] == iso(clock.now)
        assert item["updated_at"] == iso(T0)  # rehearsal is not an edit
        untouched = await mem.get(other)  # not returned: not rehearsed
        assert untouched["access_count"] == 0 and untouched["last_accessed_at"] is None
        assert [e["event"] for e in await mem.history(mid)] == ["ADD"]
        # and the rehearsed memory now decays from the access time, not the creation time
        r = await mem.search("favourite colour is teal", user_id="alice", limit=1)
        assert r["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
        await mem.drain()
        assert (await mem.get(mid))["access_count"] == 2


async def test_rehearse_false_looks_without_writing():
    # The dashboard's playground and an operator's inspection: same results, same scores, nothing
    # stamped (a search that only looks must not make what it looked at last longer).
    clock = Clock()
    async with engine(clock=clock, decay={"enabled": True}, retrieval={"mode": "dense"}) as mem:
        mid = await seed(mem, "favourite colour is teal")
        clock.advance(2 * DAY)
        looked = await mem.search("favourite colour is teal", user_id="alice", limit=1, rehearse=False)
        await mem.drain()
        item = await mem.get(mid)
        assert item["access_count"] == 0 and item["last_accessed_at"] is None
        searched = await mem.search("favourite colour is teal", user_id="alice", limit=1)
        assert searched["results"] == looked["results"]  # the same answer; only the default rehearses
        await mem.drain()
        assert (await mem.get(mid))["access_count"] == 1
        with pytest.raises(ValueError, match="rehearse must be true or false"):
            await mem.search("teal", user_id="alice", rehearse="no")  # type: ignore[arg-type]


async def test_no_rehearsal_without_decay():
    async with engine() as mem:
        mid = await seed(mem, "favourite colour is teal")
        await mem.search("teal", user_id="alice")
        await mem.drain()
        assert (await mem.get(mid))["access_count"] == 0


class GatedStore(FlatVectorStore):
    """rehearse() waits on a gate: models a slow store write during rehearsal."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def rehearse(self, ids, now):  # type: ignore[override]
        self.entered.set()
        await self.gate.wait()
        await super().rehearse(ids, now)


async def test_rehearsal_never_delays_search():
    store = GatedStore()
    async with engine(decay={"enabled": True}, vector_store_obj=store) as mem:
        mid = await seed(mem, "prefers window seats")
        r = await asyncio.wait_for(mem.search("window seats", user_id="alice"), timeout=2)
        assert [i["id"] for i in r["results"]] == [mid]
        # a second search is not held up either
        await asyncio.wait_for(mem.search("window seats", user_id="alice"), timeout=2)
        await asyncio.wait_for(store.entered.wait(), timeout=2)  # rehearsal started and is blocked
        assert not store.gate.is_set()
        assert (await mem.get(mid))["access_count"] == 0
        store.gate.set()
        await asyncio.wait_for(mem.drain(), timeout=2)
        assert (await mem.get(mid))["access_count"] == 2


# ====================================================================================== context
def _typed_pair_engine(**over: Any) -> AsyncMemory:
    return engine(context={"enabled": True, **over.pop("context_extra", {})}, **over)


async def _seed_pair(mem: AsyncMemory) -> tuple[str, str]:
    pref = await seed(mem, "uses dark mode in the editor", memory_type="preference")
    fact = await seed(mem, "uses dark mode in the editor", memory_type="factual")
    return pref, fact


async def test_context_classification_runs_concurrently_with_embedding():
    embed_on, llm_on = asyncio.Event(), asyncio.Event()
    saw: dict[str, bool] = {}

    class ProbeEmbedder(HashEmbedder):
        async def embed(self, texts_: Sequence[str], *, purpose: Any = "add") -> list[list[float]]:
            if purpose != "search":
                return await super().embed(texts_, purpose=purpose)
            embed_on.set()
            try:
                await asyncio.wait_for(llm_on.wait(), 1.0)
                saw["embed"] = True
            except TimeoutError:
                saw["embed"] = False
            try:
                return await super().embed(texts_, purpose=purpose)
            finally:
                embed_on.clear()

    async def classify(messages: Any) -> Any:
        llm_on.set()
        try:
            await asyncio.wait_for(embed_on.wait(), 1.0)
            saw["llm"] = True
        except TimeoutError:
            saw["llm"] = False
        finally:
            llm_on.clear()
        return {"task_type": "troubleshooting"}

    llm = ScriptedLLM(classify)
    async with _typed_pair_engine(llm=llm, embedder_obj=ProbeEmbedder()) as mem:
        pref, fact = await _seed_pair(mem)
        r = await mem.search("editor keeps crashing", user_id="alice")
        assert saw == {"embed": True, "llm": True}, "query embedding and classification did not overlap"
        assert len(llm.calls_for(CLASSIFY_QUERY_MARKER)) == 1
        assert [i["id"] for i in r["results"]] == [fact, pref]  # troubleshooting demotes preference


async def test_task_type_skips_classification():
    llm = ScriptedLLM(lambda m: pytest.fail("classification must not be called"))
    async with _typed_pair_engine(llm=llm) as mem:
        pref, fact = await _seed_pair(mem)
        r = await mem.search("dark mode editor", user_id="alice", task_type="design")
        assert llm.calls_for(CLASSIFY_QUERY_MARKER) == []
        assert llm.calls == []
        scores = {i["id"]: i["score"] for i in r["results"]}
        # design column: preference 1.0, factual 0.5
        assert [i["id"] for i in r["results"]] == [pref, fact]
        assert scores[fact] / scores[pref] == pytest.approx(0.5, rel=1e-5)


async def test_context_weight_matrix_demotes_preference_under_troubleshooting():
    llm = ScriptedLLM([{"task_type": "troubleshooting"}])
    no_expansion = {"expand": {"enabled": False}}  # the two twins would lend each other a neighbour bonus
    async with _typed_pair_engine(llm=llm, retrieval=no_expansion) as mem:
        pref, fact = await _seed_pair(mem)
        r = await mem.search("uses dark mode in the editor", user_id="alice")
        assert len(llm.calls_for(CLASSIFY_QUERY_MARKER)) == 1
        assert [i["id"] for i in r["results"]] == [fact, pref]
        scores = {i["id"]: i["score"] for i in r["results"]}
        assert scores[pref] / scores[fact] == pytest.approx(0.3, rel=1e-5)
        # factual × troubleshooting = 1.0; the memory is the query itself: cosine 1 + keywords 1
        assert scores[fact] == pytest.approx(2.0, abs=1e-3)


async def test_context_weights_override_one_cell():
    llm = ScriptedLLM()
    async with _typed_pair_engine(llm=llm, context_extra={"weights": {"preference": {"troubleshooting": 2.0}}}) as mem:
        pref, fact = await _seed_pair(mem)
        r = await mem.search("dark mode editor", user_id="alice", task_type="troubleshooting")
        assert [i["id"] for i in r["results"]] == [pref, fact]
        scores = {i["id"]: i["score"] for i in r["results"]}
        assert scores[pref] / scores[fact] == pytest.approx(2.0, rel=1e-5)
        # the other cells keep their defaults
        r = await mem.search("dark mode editor", user_id="alice", task_type="factual_lookup")
        scores = {i["id"]: i["score"] for i in r["results"]}
        assert scores[pref] / scores[fact] == pytest.approx(0.3, rel=1e-5)


@pytest.mark.parametrize("failure", [RuntimeError("model down"), "not json at all", {"task_type": "astrology"}])
async def test_context_llm_failure_falls_back_to_general(failure):
    llm = ScriptedLLM([failure])
    async with _typed_pair_engine(llm=llm) as mem:
        pref, fact = await _seed_pair(mem)
        r = await mem.search("uses dark mode in the editor", user_id="alice")
        assert len(llm.calls_for(CLASSIFY_QUERY_MARKER)) == 1
        scores = {i["id"]: i["score"] for i in r["results"]}
        # general column: preference 0.8, factual 1.0
        assert scores[pref] / scores[fact] == pytest.approx(0.8, rel=1e-5)
        assert [i["id"] for i in r["results"]] == [fact, pref]


async def test_context_off_makes_no_llm_call():
    llm = ScriptedLLM()
    async with engine(llm=llm) as mem:
        await _seed_pair(mem)
        r = await mem.search("editor crash", user_id="alice")
        assert llm.calls == []
        assert r["results"][0]["score"] == pytest.approx(r["results"][1]["score"], rel=1e-6)


# ======================================================================================= rerank
class FakeReranker(Reranker):
    """Scores each document by a table (unknown texts 0); can be told to fail."""

    name = "fake"

    def __init__(self, scores: dict[str, float] | None = None, *, fail: bool = False) -> None:
        super().__init__(None)
        self.scores = scores or {}
        self.fail = fail
        self.calls: list[tuple[str, list[str]]] = []

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        self.calls.append((query, list(documents)))
        if self.fail:
            raise ProviderError("fake", "reranker down")
        out = [RerankResult(index=i, score=self.scores.get(d, 0.0)) for i, d in enumerate(documents)]
        out.sort(key=lambda r: -r.score)
        return out[:top_n] if top_n else out


async def _seed_fruits(mem: AsyncMemory) -> list[str]:
    words = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "kiwi", "lime"]
    for w in words:
        await seed(mem, f"fruit note {w}")
    return [f"fruit note {w}" for w in words]


async def test_rerank_fetches_more_and_replaces_scores():
    rr = FakeReranker()
    async with engine(reranker=rr) as mem:
        await _seed_fruits(mem)
        cosine = await mem.search("fruit note apple", user_id="alice", limit=6, rerank=False)
        assert rr.calls == []
        cos_order = texts(cosine)
        # rerank prefers the 6th-best cosine candidate, then the 5th
        rr.scores = {cos_order[5]: 0.9, cos_order[4]: 0.7}
        r = await mem.search("fruit note apple", user_id="alice", limit=2)
        assert len(rr.calls) == 1
        query, docs = rr.calls[0]
        assert query == "fruit note apple"
        assert docs == cos_order  # limit 2 × top_k_multiplier 3 = 6 candidates, in cosine order
        assert texts(r) == [cos_order[5], cos_order[4]]
        assert [i["score"] for i in r["results"]] == pytest.approx([0.9, 0.7])


async def test_rerank_multiplier_from_config():
    rr = FakeReranker()
    cfg = config(reranker={"provider": "fake", "top_k_multiplier": 4})
    async with AsyncMemory(cfg, llm=ScriptedLLM(), reranker=rr) as mem:
        await _seed_fruits(mem)
        await mem.search("fruit", user_id="alice", limit=2)
        assert len(rr.calls[0][1]) == 8


async def test_rerank_false_skips_reranker():
    rr = FakeReranker({"fruit note lime": 5.0})
    async with engine(reranker=rr, retrieval={"expand": {"enabled": False}}) as mem:  # the fused score alone
        await _seed_fruits(mem)
        r = await mem.search("fruit note apple", user_id="alice", limit=3, rerank=False)
        assert rr.calls == []
        assert texts(r)[0] == "fruit note apple"
        assert r["results"][0]["score"] == pytest.approx(2.0, abs=1e-4)  # cosine 1 + every query word


async def test_reranker_failure_keeps_cosine_order():
    async with engine(reranker=FakeReranker(fail=True)) as mem, engine() as plain:
        await _seed_fruits(mem)
        await _seed_fruits(plain)
        r = await mem.search("fruit note apple", user_id="alice", limit=3)
        expected = await plain.search("fruit note apple", user_id="alice", limit=3)
        assert mem.reranker.calls  # it was tried
        assert texts(r) == texts(expected)
        assert [i["score"] for i in r["results"]] == pytest.approx([i["score"] for i in expected["results"]])


# ============================================================================ third-party scorer
class BoostScorer(Scorer):
    """Multiplies hits whose text contains ``keyword`` by ``factor``; records what it saw."""

    name = "boost"
    order: ClassVar[int] = 300

    class Config(ProviderConfig):
        keyword: str = "boost"
        factor: float = Field(10.0, gt=0)

    config: Config
    seen: ClassVar[list[dict[str, float]]] = []

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        BoostScorer.seen.append({h.text: h.score for h in hits})
        for h in hits:
            if self.config.keyword in h.text:
                h.score *= self.config.factor


class BoostPlugin:
    @hookimpl
    def mem7_register_scorers(self, register: Any) -> None:
        register(BoostScorer)


def _registry() -> PluginRegistry:
    reg = PluginRegistry(discover=False)
    assert reg.register_plugin(flat_plugin, name="flat")
    assert reg.register_plugin(testing_providers, name="hash")  # the `hash` embedder (no entry points here)
    return reg


async def test_third_party_scorer_registered_by_plugin_changes_ranking():
    reg = _registry()
    assert reg.register_plugin(BoostPlugin(), name="boost-plugin")
    BoostScorer.seen.clear()
    clock = Clock()
    mem = AsyncMemory(
        config(
            decay={"enabled": True},
            context={"enabled": True},
            scorers=[{"provider": "boost", "config": {"keyword": "kayak", "factor": 10.0}}],
            retrieval={"mode": "dense"},  # the expected values below are cosine-based
        ),
        llm=ScriptedLLM(),
        registry=reg,
        clock=clock,
    )
    async with mem:
        assert [s.name for s in mem.scorers] == ["decay", "temporal", "context", "boost"]  # temporal: on by default
        plain = await seed(mem, "weekend plan: paddle the lake", memory_type="factual")
        boosted = await seed(mem, "weekend plan: paddle the lake by kayak", memory_type="preference")
        clock.advance(7 * DAY)
        query = "weekend plan paddle the lake"
        r = await mem.search(query, user_id="alice", task_type="troubleshooting")
        assert [i["id"] for i in r["results"]] == [boosted, plain]
        # boost ran after decay and context: it saw cosine × retention × context weight
        q = hash_embedding(query, 384)
        cos = {t: sum(x * y for x, y in zip(q, hash_embedding(t, 384))) for t in ("weekend plan: paddle the lake", "weekend plan: paddle the lake by kayak")}
        ret = retention(7 * 86400.0, 0, DecayConfig())
        seen = BoostScorer.seen[-1]
        assert seen["weekend plan: paddle the lake"] == pytest.approx(cos["weekend plan: paddle the lake"] * ret * 1.0, rel=1e-4)
        assert seen["weekend plan: paddle the lake by kayak"] == pytest.approx(
            cos["weekend plan: paddle the lake by kayak"] * ret * 0.3, rel=1e-4
        )
        final = {i["id"]: i["score"] for i in r["results"]}
        assert final[boosted] == pytest.approx(seen["weekend plan: paddle the lake by kayak"] * 10.0, rel=1e-6)
        assert final[plain] == pytest.approx(seen["weekend plan: paddle the lake"], rel=1e-6)
        await mem.drain()

    # without the plugin's scorer, the same data ranks the other way
    async with AsyncMemory(config(decay={"enabled": True}, context={"enabled": True}), llm=ScriptedLLM(), clock=Clock()) as mem:
        plain = await seed(mem, "weekend plan: paddle the lake", memory_type="factual")
        boosted = await seed(mem, "weekend plan: paddle the lake by kayak", memory_type="preference")
        r = await mem.search("weekend plan paddle the lake", user_id="alice", task_type="troubleshooting")
        assert [i["id"] for i in r["results"]] == [plain, boosted]
        await mem.drain()


async def test_unknown_scorer_provider_is_a_config_error():
    with pytest.raises(ProviderNotFoundError, match="nope"):
        AsyncMemory(config(scorers=[{"provider": "nope"}]), llm=ScriptedLLM(), registry=_registry())


# =================================================================================== CRUD by id
async def test_get_unknown_id_is_none():
    async with engine() as mem:
        assert await mem.get("0190f0f0-0000-7000-8000-000000000000") is None
        with pytest.raises(ValueError):
            await mem.get("")


async def test_get_all_oldest_first_with_limit():
    clock = Clock()
    async with engine(clock=clock) as mem:
        ids = []
        for w in ("first", "second", "third", "fourth"):
            ids.append(await seed(mem, f"{w} memory"))
            clock.advance(timedelta(minutes=5))
        await seed(mem, "bob memory", user_id="bob")
        r = await mem.get_all(user_id="alice")
        assert [i["id"] for i in r["results"]] == ids
        assert r["memories"] == r["results"]
        assert texts(await mem.get_all(user_id="alice", limit=2)) == ["first memory", "second memory"]
        assert [i["created_at"] for i in r["results"]] == sorted(i["created_at"] for i in r["results"])


async def test_update_reembeds_keeps_created_at_and_writes_history():
    clock = Clock()
    async with engine(clock=clock, retrieval={"mode": "dense"}) as mem:  # score == cosine below
        mid = await seed(mem, "lives in Paris", metadata={"source": "chat"})
        await seed(mem, "owns a bicycle")
        clock.advance(DAY)
        res = await mem.update(mid, "moved to Lisbon in spring", metadata={"confidence": 0.9})
        assert mid in res["message"]
        item = await mem.get(mid)
        assert item["memory"] == "moved to Lisbon in spring"
        assert item["hash"] == md5("moved to Lisbon in spring")
        assert item["created_at"] == iso(T0)
        assert item["updated_at"] == iso(T0 + DAY)
        assert item["metadata"] == {"source": "chat", "confidence": 0.9}
        # re-embedded: the new text is now an exact match, the old one is not
        r = await mem.search("moved to Lisbon in spring", user_id="alice", limit=1)
        assert r["results"][0]["id"] == mid
        assert r["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
        r = await mem.search("lives in Paris", user_id="alice", limit=2)
        assert all(i["score"] < 0.9 for i in r["results"])
        hist = await mem.history(mid)
        assert [e["event"] for e in hist] == ["ADD", "UPDATE"]
        assert hist[1]["old_memory"] == "lives in Paris"
        assert hist[1]["new_memory"] == "moved to Lisbon in spring"
        assert hist[1]["created_at"] == iso(T0 + DAY)


async def test_update_unknown_id_raises():
    async with engine() as mem:
        with pytest.raises(MemoryNotFoundError) as info:
            await mem.update("0190f0f0-0000-7000-8000-000000000000", "x")
        assert isinstance(info.value, KeyError)
        assert "0190f0f0-0000-7000-8000-000000000000" in str(info.value)
        with pytest.raises(ValueError):
            mid = await seed(mem, "something")
            await mem.update(mid, "   ")


async def test_delete_removes_and_records_history():
    clock = Clock()
    async with engine(clock=clock) as mem:
        mid = await seed(mem, "has a cat named Miso")
        keep = await seed(mem, "plays the cello")
        clock.advance(DAY)
        res = await mem.delete(mid)
        assert mid in res["message"]
        assert await mem.get(mid) is None
        assert [i["id"] for i in (await mem.get_all(user_id="alice"))["results"]] == [keep]
        assert [i["id"] for i in (await mem.search("cat named Miso", user_id="alice"))["results"]] == [keep]
        hist = await mem.history(mid)
        assert [e["event"] for e in hist] == ["ADD", "DELETE"]
        assert hist[1]["old_memory"] == "has a cat named Miso"
        assert hist[1]["new_memory"] is None
        assert hist[1]["is_deleted"] is True
        assert hist[1]["created_at"] == iso(T0 + DAY)
        with pytest.raises(MemoryNotFoundError):
            await mem.delete(mid)


async def test_delete_unknown_id_raises():
    async with engine() as mem:
        with pytest.raises(MemoryNotFoundError):
            await mem.delete("0190f0f0-0000-7000-8000-000000000000")


async def test_delete_all_only_in_scope():
    async with engine() as mem:
        a1 = await seed(mem, "alice one")
        a2 = await seed(mem, "alice two")
        b1 = await seed(mem, "bob one", user_id="bob")
        r1 = await seed(mem, "alice in run", user_id="alice", run_id="r1")
        res = await mem.delete_all(user_id="alice", run_id="r1")
        assert "1" in res["message"]
        assert await mem.get(r1) is None
        assert {i["id"] for i in (await mem.get_all(user_id="alice"))["results"]} == {a1, a2}
        await mem.delete_all(user_id="alice")
        assert (await mem.get_all(user_id="alice"))["results"] == []
        assert [i["id"] for i in (await mem.get_all(user_id="bob"))["results"]] == [b1]
        for mid, old in ((a1, "alice one"), (a2, "alice two")):
            hist = await mem.history(mid)
            assert [e["event"] for e in hist] == ["ADD", "DELETE"]
            assert hist[-1]["old_memory"] == old
        assert [e["event"] for e in await mem.history(b1)] == ["ADD"]


async def test_reset_clears_vectors_and_history():
    async with engine() as mem:
        mid = await seed(mem, "alice fact")
        bid = await seed(mem, "bob fact", user_id="bob")
        await mem.update(mid, "alice fact 2")
        await mem.reset()
        assert await mem.get(mid) is None and await mem.get(bid) is None
        assert (await mem.get_all(user_id="alice"))["results"] == []
        assert (await mem.search("fact", user_id="bob"))["results"] == []
        assert await mem.history(mid) == [] and await mem.history(bid) == []
        # usable after reset
        nid = await seed(mem, "fresh start")
        assert texts(await mem.get_all(user_id="alice")) == ["fresh start"]
        assert [e["event"] for e in await mem.history(nid)] == ["ADD"]


async def test_history_oldest_first_with_event_times():
    clock = Clock()
    async with engine(clock=clock) as mem:
        mid = await seed(mem, "v1")
        clock.advance(timedelta(hours=1))
        await mem.update(mid, "v2")
        clock.advance(timedelta(hours=1))
        await mem.update(mid, "v3")
        clock.advance(timedelta(hours=1))
        await mem.delete(mid)
        hist = await mem.history(mid)
        assert [e["event"] for e in hist] == ["ADD", "UPDATE", "UPDATE", "DELETE"]
        assert [e["created_at"] for e in hist] == [iso(T0 + timedelta(hours=h)) for h in range(4)]
        assert [(e["old_memory"], e["new_memory"]) for e in hist] == [
            (None, "v1"), ("v1", "v2"), ("v2", "v3"), ("v3", None)
        ]
        assert all(e["memory_id"] == mid for e in hist)
        assert hist[0]["role"] == "user"


# ================================================================================= construction
def test_unknown_provider_lists_installed_and_pip_hint():
    with pytest.raises(ProviderNotFoundError) as info:
        AsyncMemory(config(vector_store={"provider": "qdrantish"}), llm=ScriptedLLM())
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "qdrantish" in msg
    assert "flat" in msg  # installed ones are listed
    assert "Did you mean 'qdrant'" in msg and "mem7-qdrantish" not in msg  # a close name, no guessed distribution


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"vector_store": {"provider": "flat", "config": {"bogus_option": 1}}}, "bogus_option"),
        ({"embedder": {"provider": "hash", "config": {"dims": 2}}}, "dims"),
        ({"decay": {"enabled": True, "decay_shape": 5}}, "decay_shape"),
        ({"history_store": {"provider": "sqlite", "config": {"path": ":memory:", "busy_timeout_ms": -1}}}, "busy_timeout_ms"),
        ({"not_a_section": 1}, "not_a_section"),
    ],
)
def test_bad_field_names_the_field(over, field):
    with pytest.raises(ValueError) as info:
        AsyncMemory(config(**over), llm=ScriptedLLM())
    assert field in str(info.value)


class _Tracker:
    built: ClassVar[list[str]] = []
    closed: ClassVar[list[str]] = []


class TrackedFlat(FlatVectorStore):
    name = "tracked-flat"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        _Tracker.built.append(self.name)

    async def aclose(self) -> None:
        await asyncio.sleep(0.01)  # closing takes a real await (a connection pool would)
        _Tracker.closed.append(self.name)
        await super().aclose()


class TrackedHistory(SQLiteHistoryStore):
    name = "tracked-sqlite"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        _Tracker.built.append(self.name)

    async def aclose(self) -> None:
        await super().aclose()
        _Tracker.closed.append(self.name)


class BoomLLM(LLM):
    name = "boom"

    def __init__(self, config: Any = None) -> None:
        raise ConfigError("boom llm: cannot be built")

    async def generate(self, messages, **kw):  # type: ignore[override]
        raise AssertionError


class BoomReranker(Reranker):
    name = "boom"

    def __init__(self, config: Any = None) -> None:
        raise ConfigError("boom reranker: cannot be built")

    async def rerank(self, query, documents, *, top_n=None):  # type: ignore[override]
        raise AssertionError


class TrackPlugin:
    @hookimpl
    def mem7_register_vector_stores(self, register: Any) -> None:
        register(TrackedFlat)

    @hookimpl
    def mem7_register_history_stores(self, register: Any) -> None:
        register(TrackedHistory)

    @hookimpl
    def mem7_register_llms(self, register: Any) -> None:
        register(BoomLLM)

    @hookimpl
    def mem7_register_rerankers(self, register: Any) -> None:
        register(BoomReranker)


def _tracked_config(**over: Any) -> dict[str, Any]:
    return config(
        vector_store={"provider": "tracked-flat"},
        history_store={"provider": "tracked-sqlite", "config": {"path": ":memory:"}},
        **over,
    )


def _tracked_registry() -> PluginRegistry:
    reg = _registry()
    assert reg.register_plugin(TrackPlugin(), name="track")
    _Tracker.built.clear()
    _Tracker.closed.clear()
    return reg


def test_failed_construction_closes_already_built_providers():
    reg = _tracked_registry()
    with pytest.raises(ConfigError, match="boom reranker"):
        AsyncMemory(_tracked_config(reranker={"provider": "boom"}), llm=ScriptedLLM(), registry=reg)
    assert sorted(_Tracker.built) == ["tracked-flat", "tracked-sqlite"]
    assert sorted(_Tracker.closed) == sorted(_Tracker.built)

    reg = _tracked_registry()
    with pytest.raises(ProviderNotFoundError):
        AsyncMemory(_tracked_config(scorers=[{"provider": "missing"}]), llm=ScriptedLLM(), registry=reg)
    assert sorted(_Tracker.closed) == sorted(_Tracker.built) == ["tracked-flat", "tracked-sqlite"]

    reg = _tracked_registry()
    with pytest.raises(ConfigError, match="boom llm"):
        AsyncMemory(_tracked_config(llm={"provider": "boom"}), registry=reg)
    assert sorted(_Tracker.closed) == sorted(_Tracker.built)


async def test_failed_construction_inside_running_loop_closes_built_providers():
    reg = _tracked_registry()
    with pytest.raises(ConfigError, match="boom reranker"):
        AsyncMemory(_tracked_config(reranker={"provider": "boom"}), llm=ScriptedLLM(), registry=reg)
    assert sorted(_Tracker.built) == ["tracked-flat", "tracked-sqlite"]
    for _ in range(100):  # closing is scheduled on the running loop
        if len(_Tracker.closed) == 2:
            break
        await asyncio.sleep(0.01)
    assert sorted(_Tracker.closed) == sorted(_Tracker.built)


async def test_failed_create_closes_built_providers_before_raising():
    reg = _tracked_registry()
    with pytest.raises(ConfigError, match="boom reranker"):
        await AsyncMemory.create(_tracked_config(reranker={"provider": "boom"}), llm=ScriptedLLM(), registry=reg)
    assert sorted(_Tracker.built) == ["tracked-flat", "tracked-sqlite"]
    assert sorted(_Tracker.closed) == sorted(_Tracker.built)


def test_failed_sync_construction_closes_built_providers():
    reg = _tracked_registry()
    with pytest.raises(ConfigError, match="boom reranker"):
        Memory(_tracked_config(reranker={"provider": "boom"}), llm=ScriptedLLM(), registry=reg)
    assert sorted(_Tracker.built) == ["tracked-flat", "tracked-sqlite"]
    assert sorted(_Tracker.closed) == sorted(_Tracker.built)


async def test_engine_owns_and_closes_what_it_built():
    reg = _tracked_registry()
    mem = AsyncMemory(_tracked_config(), llm=ScriptedLLM(), registry=reg)
    await seed(mem, "x y")
    await mem.aclose()
    assert sorted(_Tracker.closed) == ["tracked-flat", "tracked-sqlite"]
    await mem.aclose()  # idempotent
    assert len(_Tracker.closed) == 2


async def test_construction_without_create_and_with_create():
    mem = AsyncMemory(config(), llm=ScriptedLLM())
    await seed(mem, "direct construction works")
    assert texts(await mem.search("direct construction", user_id="alice")) == ["direct construction works"]
    await mem.aclose()

    mem2 = await AsyncMemory.create(config(), llm=ScriptedLLM())
    assert isinstance(mem2, AsyncMemory)
    await seed(mem2, "created with create")
    assert texts(await mem2.get_all(user_id="alice")) == ["created with create"]
    await mem2.aclose()


async def test_mem0_style_dict_config(tmp_path):
    cfg = {
        "llm": {"provider": "openai", "config": {"model": "gpt-4.1-mini", "api_key": "sk-x", "openai_base_url": "http://127.0.0.1:9/v1"}},
        "embedder": {"provider": "hash", "config": {"dims": 64}},
        "vector_store": {"provider": "flat", "config": {"collection_name": "mem0_style", "embedding_model_dims": 64}},
        "history_db_path": str(tmp_path / "hist.db"),
        "version": "v1.1",
    }
    async with AsyncMemory(cfg) as mem:
        assert mem.llm is not None and mem.llm.name == "openai"
        assert mem.llm.model == "gpt-4.1-mini"
        assert mem.llm.base_url == "http://127.0.0.1:9/v1"
        assert mem.embedder.dims == 64
        assert mem.vector_store.config.dims == 64
        assert mem.vector_store.config.collection_name == "mem0_style"
        assert mem.history_store.path == str(tmp_path / "hist.db")
        mid = await seed(mem, "mem0 style works")
        assert (await mem.get(mid))["memory"] == "mem0 style works"
    assert (tmp_path / "hist.db").exists()


async def test_yaml_file_config(tmp_path):
    path = tmp_path / "mem7.yaml"
    path.write_text(
        "llm: null\n"
        "embedder:\n  provider: hash\n  config:\n    dims: 32\n"
        "vector_store:\n  provider: flat\n"
        "history_store:\n  provider: sqlite\n  config:\n    path: ':memory:'\n"
        "decay:\n  enabled: true\n  base_half_life_secs: 3600\n",
        encoding="utf-8",
    )
    async with AsyncMemory(str(path)) as mem:
        assert mem.llm is None
        assert mem.embedder.dims == 32
        assert mem.config.decay.base_half_life_secs == 3600
        assert [s.name for s in mem.scorers] == ["decay", "temporal"]  # temporal: on by default
        # with no LLM, add(infer=True) stores verbatim
        res = await mem.add("remember the yaml config", user_id="alice")
        assert [a["event"] for a in res["results"]] == ["ADD"]
        assert texts(await mem.search("yaml config", user_id="alice")) == ["remember the yaml config"]
        await mem.drain()


async def test_graph_store_configured_builds_the_graph_pipeline():
    # graph behaviour itself: tests/test_engine_graph.py
    async with AsyncMemory(config(graph_store={"provider": "flat"}), llm=ScriptedLLM()) as mem:
        assert mem.graph is not None and mem.graph_store is not None and mem.graph_store.name == "flat"
        assert (await mem.search("anything", user_id="u"))["relations"] == []
