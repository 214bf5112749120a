"""Graph memory in the engine (spec §8, with §4 decay n = mentions and §5 factual row): AsyncMemory end
to end on the hash embedder, the flat vector store, SQLite history in memory and the flat graph
store chosen through config (``graph_store: {provider: flat}``), with a scripted LLM.

The LLM is :class:`ScriptedLLM`; unless a test scripts a task, the rule-based model answers
(:mod:`mem7_core.testing.graph_rules` for the graph prompts), so every call is a real parse of a
real JSON answer. Time is an injected clock; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory, get_registry
from mem7_core.config import DecayConfig
from mem7_core.engine.graph import (
    bm25_rank,
    normalise_label,
    normalise_name,
    parse_extraction,
)
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.ids import iso
from mem7_core.models import Scope
from mem7_core.providers import GraphStore
from mem7_core.providers.graph_store import Entity, GraphRelation
from mem7_core.providers.tasks import (
    CLASSIFY_QUERY_MARKER,
    FACT_EXTRACTION_MARKER,
    GRAPH_CONFLICT_MARKER,
    GRAPH_EXTRACTION_MARKER,
    GRAPH_QUERY_MARKER,
    UPDATE_MEMORY_MARKER,
)
from mem7_core.scorers.decay import retention
from mem7_core.testing.fakes import ScriptedLLM, rule_based_reply

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def config(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "graph_store": {"provider": "flat"},
    }
    return {**base, **over}


def engine(llm: Any = None, *, clock: Clock | None = None, **over: Any) -> AsyncMemory:
    """An engine with graph memory on (``graph_store: {provider: flat}`` unless ``over`` says otherwise)."""
    return AsyncMemory(config(**over), llm=llm if llm is not None else ScriptedLLM(), clock=clock or Clock())


def system_of(messages: Sequence[dict[str, Any]]) -> str:
    return next((m["content"] for m in messages if m.get("role") == "system"), "")


def user_of(messages: Sequence[dict[str, Any]]) -> str:
    return "\n".join(m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str))


def routed(**answers: Any) -> Callable[[Sequence[dict[str, Any]]], Any]:
    """A script: ``graph=...``, ``conflict=...``, ``query=...``, ``facts=...`` answer their task
    (a reply or a function of the messages); the rule-based model answers everything else."""
    markers = {"graph": GRAPH_EXTRACTION_MARKER, "conflict": GRAPH_CONFLICT_MARKER, "query": GRAPH_QUERY_MARKER,
               "facts": FACT_EXTRACTION_MARKER, "decide": UPDATE_MEMORY_MARKER}

    def reply(messages: Sequence[dict[str, Any]]) -> Any:
        system = system_of(messages)
        for key, answer in answers.items():
            if system.startswith(markers[key]):
                return answer(messages) if callable(answer) else answer
        return rule_based_reply(messages)

    return reply


def triples(relations: Sequence[Any]) -> list[tuple[str, str, str]]:
    return [(r["source"], r["relationship"], r["destination"]) for r in relations]


async def stored(mem: AsyncMemory, scope: Scope) -> dict[tuple[str, str, str], GraphRelation]:
    assert mem.graph_store is not None
    return {r.triple: r for r in await mem.graph_store.get_all(scope)}


def bm25_reference(query: str, docs: Sequence[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Spec §8's BM25, written out independently: lowercase, split on non-alphanumerics, distinct query terms."""
    import re

    def tok(t: str) -> list[str]:
        return [w for w in re.split(r"[^0-9a-z]+", t.lower()) if w]

    toks = [tok(d) for d in docs]
    n = len(docs)
    avgdl = sum(len(t) for t in toks) / n
    out = []
    for t in toks:
        s = 0.0
        for term in dict.fromkeys(tok(query)):
            df = sum(1 for d in toks if term in d)
            if df == 0:
                continue
            idf = math.log((n - df + 0.5) / (df + 0.5) + 1)
            f = t.count(term)
            s += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(t) / avgdl))
        out.append(s)
    return out


# ---------------------------------------------------------------------------------------- units
def test_names_and_labels_are_normalised():
    assert normalise_name("  New   York ") == "new_york"
    assert normalise_name("Me", speaker="alice") == "alice"
    assert normalise_name("MY", speaker="alice") == "alice"
    assert normalise_name("I", speaker=None) == "i"
    assert normalise_label("Lives In") == "lives_in"
    assert normalise_label("works-at (since 2020)") == "works_at_since_2020"
    assert normalise_label(" -- ") is None


def test_parse_extraction_tolerates_shapes_and_fills_missing_entities():
    got = parse_extraction(
        {"entities": [{"name": "Alice", "type": "person"}, "Lisbon", {"name": "", "type": "Location"}],
         "relations": [{"source": "I", "relationship": "Lives In", "destination": "Lisbon"},
                       ["my", "works at", "ACME Corp"], {"source": "x"}, {"source": "I", "relationship": "is", "destination": "me"}]},
        speaker="bob",
    )
    assert got.relations == [("bob", "lives_in", "lisbon"), ("bob", "works_at", "acme_corp")]
    assert got.entities == {"alice": "Person", "lisbon": "Other", "bob": "Person", "acme_corp": "Other"}
    with pytest.raises(ValueError, match="entities"):
        parse_extraction({"facts": []}, speaker="bob")


def test_bm25_rank_is_the_specs_formula():
    rels = [GraphRelation("alice", "lives_in", "lisbon"), GraphRelation("alice", "likes", "green_tea"),
            GraphRelation("bob", "lives_in", "lisbon_old_town"), GraphRelation("carol", "works_at", "acme")]
    query = "Where does alice live? lives in Lisbon"
    expected = bm25_reference(query, [f"{r.source} {r.relationship} {r.destination}" for r in rels])
    ranked = bm25_rank(query, [GraphRelation(*r.triple) for r in rels])
    want = sorted(zip(expected, [r.triple for r in rels]), key=lambda p: -p[0])
    assert [r.triple for r in ranked] == [t for _, t in want]
    for r in ranked:
        assert r.score == pytest.approx({t: s for s, t in want}[r.triple])
    assert ranked[-1].triple == ("carol", "works_at", "acme") and ranked[-1].score == 0.0


# ---------------------------------------------------------------------------------------- add
async def test_add_extracts_normalises_and_upserts_in_scope():
    llm = ScriptedLLM(routed(graph={
        "entities": [{"name": "I", "type": "person"}, {"name": "New York", "type": "LOCATION"}],
        "relations": [{"source": "Me", "relationship": "Lives In", "destination": "New York"},
                      {"source": "my", "relationship": "works-at", "destination": "Acme Corp"}],
    }))
    async with engine(llm) as mem:
        out = await mem.add("I live in New York and work at Acme Corp", user_id="alice")
        assert out["results"] and out.get("graph_error") is None
        assert triples(out["relations"]) == [("alice", "lives_in", "new_york"), ("alice", "works_at", "acme_corp")]
        assert all("score" not in r for r in out["relations"])  # scores come with search only
        # the speaker's id reached the prompt; the conversation went as role: text lines
        call = llm.calls_for(GRAPH_EXTRACTION_MARKER)[0]
        assert '"alice"' in system_of(call["messages"]) and user_of(call["messages"]) == "user: I live in New York and work at Acme Corp"
        rel = (await stored(mem, Scope(user_id="alice")))[("alice", "lives_in", "new_york")]
        assert rel.valid and rel.mentions == 1 and rel.created_at == iso(T0)
        listed = await mem.get_all(user_id="alice")
        assert triples(listed["relations"]) == [("alice", "lives_in", "new_york"), ("alice", "works_at", "acme_corp")]
        assert mem.graph_store is not None and await mem.graph_store.entity_count(Scope(user_id="alice")) == 3


async def test_self_reference_becomes_the_speaking_user_as_person():
    async with engine() as mem:
        out = await mem.add("I moved to Berlin last spring", user_id="Alice Smith")
        assert triples(out["relations"]) == [("alice_smith", "moved_to", "berlin")]
        found = await mem.search("where did I move?", user_id="Alice Smith")
        assert triples(found["relations"]) == [("alice_smith", "moved_to", "berlin")]


async def test_repeat_bumps_mentions():
    async with engine() as mem:
        for _ in range(3):
            await mem.add("I live in Lisbon", user_id="alice", infer=False)
        rels = await stored(mem, Scope(user_id="alice"))
        assert list(rels) == [("alice", "live_in", "lisbon")]
        assert rels[("alice", "live_in", "lisbon")].mentions == 3


async def test_infer_false_sends_the_joined_text_to_the_graph():
    llm = ScriptedLLM()
    async with engine(llm) as mem:
        out = await mem.add([{"role": "user", "content": "I live in Lisbon"}, {"role": "assistant", "content": "Nice city"},
                             {"role": "system", "content": "ignored"}], user_id="alice", infer=False)
        assert len(out["results"]) == 2
        assert triples(out["relations"]) == [("alice", "live_in", "lisbon")]
        (call,) = llm.calls_for(GRAPH_EXTRACTION_MARKER)
        assert user_of(call["messages"]) == "user: I live in Lisbon\nassistant: Nice city"


class OrderedStore:
    """Records the order of the graph store calls an engine makes (wraps the real store's methods)."""

    def __init__(self, store: GraphStore) -> None:
        self.calls: list[str] = []
        for name in ("search", "invalidate", "upsert"):
            inner = getattr(store, name)

            async def call(*args: Any, _inner: Any = inner, _name: str = name, **kwargs: Any) -> Any:
                self.calls.append(_name)
                return await _inner(*args, **kwargs)

            setattr(store, name, call)


async def test_conflict_check_soft_deletes_outdated_triples_before_inserting_the_new():
    llm = ScriptedLLM()
    async with engine(llm) as mem:
        await mem.add("I live in Paris. I like green tea", user_id="alice", infer=False)
        assert mem.graph_store is not None
        order = OrderedStore(mem.graph_store)
        out = await mem.add("I live in Berlin", user_id="alice", infer=False)
        assert order.calls == ["search", "invalidate", "upsert"]
        assert triples(out["relations"]) == [("alice", "live_in", "berlin")]
        (conflict,) = llm.calls_for(GRAPH_CONFLICT_MARKER)
        shown = user_of(conflict["messages"])
        assert "alice -- live_in -- paris" in shown and "alice -- like_green -- tea" in shown
        assert "- alice -- live_in -- berlin" in shown
        rels = await stored(mem, Scope(user_id="alice"))
        assert set(rels) == {("alice", "live_in", "berlin"), ("alice", "like_green", "tea")}  # paris soft-deleted
        found = await mem.search("where does alice live", user_id="alice")
        assert ("alice", "live_in", "paris") not in triples(found["relations"])
        # a later repeat of the old triple makes it valid again (upsert revalidates)
        await mem.add("I live in Paris", user_id="alice", infer=False)
        assert ("alice", "live_in", "paris") in await stored(mem, Scope(user_id="alice"))


async def test_conflict_answer_can_only_invalidate_what_was_shown():
    bob_scope = Scope(user_id="bob")
    llm = ScriptedLLM(routed(conflict={"outdated": ["0", "7", "-1", {"source": "bob", "relationship": "live_in", "destination": "rome"}]}))
    async with engine(llm) as mem:
        await mem.add("I live in Rome", user_id="bob", infer=False)
        await mem.add("I live in Paris", user_id="alice", infer=False)
        await mem.add("I live in Berlin", user_id="alice", infer=False)
        assert set(await stored(mem, Scope(user_id="alice"))) == {("alice", "live_in", "berlin")}
        assert set(await stored(mem, bob_scope)) == {("bob", "live_in", "rome")}
        assert "rome" not in user_of(llm.calls_for(GRAPH_CONFLICT_MARKER)[0]["messages"])


async def test_conflict_check_shows_the_related_triples_when_there_are_more_than_the_limit():
    llm = ScriptedLLM()
    async with engine(llm, graph_store={"provider": "flat", "conflict_limit": 10}) as mem:
        scope = Scope(user_id="alice")
        await seed(mem, scope, [("alice", f"knows_{i:02d}", f"person_{i:02d}") for i in range(40)])
        await seed(mem, scope, [("alice", "live_in", "paris")])
        await mem.add("I live in Berlin", user_id="alice", infer=False)
        (conflict,) = llm.calls_for(GRAPH_CONFLICT_MARKER)
        shown = user_of(conflict["messages"]).partition("New relations:")[0]
        assert len([ln for ln in shown.splitlines() if ln[:1].isdigit()]) == 10 and "alice -- live_in -- paris" in shown
        rels = await stored(mem, scope)
        assert ("alice", "live_in", "paris") not in rels and ("alice", "live_in", "berlin") in rels


async def test_no_existing_triples_means_no_conflict_call():
    llm = ScriptedLLM()
    async with engine(llm) as mem:
        await mem.add("I live in Lisbon", user_id="alice")
        assert llm.calls_for(GRAPH_CONFLICT_MARKER) == []


async def test_custom_prompt_is_added_to_the_extraction_prompt():
    main = ScriptedLLM()
    async with engine(main, graph_store={"provider": "flat", "custom_prompt": "Prefer the relation 'resides_in'."}) as mem:
        await mem.add("I live in Lisbon", user_id="alice")
        (call,) = main.calls_for(GRAPH_EXTRACTION_MARKER)
        assert "Prefer the relation 'resides_in'." in system_of(call["messages"])
        assert '"relations"' in system_of(call["messages"])  # the JSON shape is kept


def test_graph_llm_and_store_sections_are_validated_by_their_providers():
    with pytest.raises(ConfigError, match=r"graph_store\.llm\.config\.no_such_option"):
        engine(graph_store={"provider": "flat", "llm": {"provider": "openai", "config": {"no_such_option": 1}}})
    with pytest.raises(ConfigError, match=r"graph_store\.config\.no_such_option"):
        engine(graph_store={"provider": "flat", "config": {"no_such_option": 1}})


@pytest.mark.parametrize(("add_mode", "most"), [("two_call", 4), ("one_call", 3)])
async def test_llm_calls_per_add_with_graph_on(add_mode: str, most: int):
    """Worst case (existing memories and triples, so the update decision and the conflict check
    both run): 4 calls in two-call mode, 3 in one-call mode; the reference engine makes 5."""
    script: Any = None
    if add_mode == "one_call":
        script = pytest.importorskip("mem7_core.testing.one_call").as_one_call(rule_based_reply)
    llm = ScriptedLLM(script)
    async with engine(llm, add_mode=add_mode) as mem:
        await mem.add("I live in Paris. I like green tea", user_id="alice")
        llm.calls.clear()
        out = await mem.add("I live in Berlin. I like black coffee", user_id="alice")
        kinds = [system_of(c["messages"]).split("\n")[0] for c in llm.calls]
        assert kinds.count(GRAPH_CONFLICT_MARKER) == 1 and kinds.count(GRAPH_EXTRACTION_MARKER) == 1, kinds
        assert len(llm.calls) == most, kinds
        assert {r["memory"] for r in out["results"]} >= {"I live in Berlin", "I like black coffee"}
        assert triples(out["relations"]) == [("alice", "live_in", "berlin"), ("alice", "like_black", "coffee")]


# ---------------------------------------------------------------------------------------- search
async def seed(mem: AsyncMemory, scope: Scope, rels: Sequence[tuple[str, str, str]]) -> None:
    assert mem.graph is not None and mem.graph_store is not None

    names = sorted({n for r in rels for n in (r[0], r[2])})
    vecs = await mem.embedder.embed([n.replace("_", " ") for n in names])
    await mem.graph_store.upsert(scope, [Entity(n, "Other", v) for n, v in zip(names, vecs)],
                                 [GraphRelation(*r) for r in rels], now=mem._now().isoformat())


async def test_search_ranks_one_hop_relations_by_bm25():
    rels = [("alice", "lives_in", "lisbon"), ("alice", "likes", "green_tea"), ("alice", "works_at", "acme"),
            ("bob", "lives_in", "porto")]
    llm = ScriptedLLM(routed(query={"entities": ["alice"]}))
    async with engine(llm) as mem:
        await seed(mem, Scope(user_id="u1"), rels)
        out = await mem.search("where does alice live, lives in which city", user_id="u1", limit=10)
        got = out["relations"]
        # one hop from "alice": bob's triple is not reached
        assert {(r["source"], r["relationship"], r["destination"]) for r in got} == set(rels[:3])
        docs = [" ".join(r) for r in rels[:3]]
        expected = dict(zip(rels[:3], bm25_reference("where does alice live, lives in which city", docs)))
        assert [r["score"] for r in got] == sorted(expected.values(), reverse=True)
        assert got[0]["relationship"] == "lives_in"
        for r in got:
            assert r["score"] == pytest.approx(expected[(r["source"], r["relationship"], r["destination"])])
        assert len((await mem.search("alice lives", user_id="u1", limit=2))["relations"]) == 2


async def test_search_fetches_limit_times_multiplier_before_bm25():
    rels = [("alice", f"knows_{i}", f"person_{i}") for i in range(12)] + [("alice", "lives_in", "lisbon")]
    llm = ScriptedLLM(routed(query={"entities": ["alice"]}))
    async with engine(llm, graph_store={"provider": "flat", "search_multiplier": 5}) as mem:
        await seed(mem, Scope(user_id="u1"), rels)
        seen: list[int] = []
        assert mem.graph_store is not None
        inner = mem.graph_store.search

        async def spy(scope: Scope, embeddings: Any, *, threshold: float, limit: int) -> Any:
            seen.append(limit)
            assert threshold == 0.5
            return await inner(scope, embeddings, threshold=threshold, limit=limit)

        mem.graph_store.search = spy  # type: ignore[method-assign]
        out = await mem.search("alice lives in", user_id="u1", limit=2)
        assert seen == [10] and len(out["relations"]) == 2


async def test_relations_decay_with_n_equal_mentions():
    clock = Clock()
    llm = ScriptedLLM(routed(query={"entities": ["alice"]}))
    async with engine(llm, clock=clock, decay={"enabled": True}) as mem:
        scope = Scope(user_id="u1")
        await seed(mem, scope, [("alice", "likes", "tea")])
        for _ in range(5):  # mentioned 6 times, 10 days ago
            await seed(mem, scope, [("alice", "likes", "tea")])
        clock.now = T0 + 10 * DAY
        await seed(mem, scope, [("alice", "likes", "coffee")])  # once, just now... then age both
        clock.now = T0 + 17 * DAY
        out = await mem.search("alice likes", user_id="u1")
        await mem.drain()
        score = {r["destination"]: r["score"] for r in out["relations"]}
        bm = dict(zip(["tea", "coffee"], bm25_reference("alice likes", ["alice likes tea", "alice likes coffee"])))
        cfg = DecayConfig(enabled=True)
        assert score["tea"] == pytest.approx(bm["tea"] * retention((17 * DAY).total_seconds(), 6, cfg))
        assert score["coffee"] == pytest.approx(bm["coffee"] * retention((7 * DAY).total_seconds(), 1, cfg))
        assert [r["destination"] for r in out["relations"]] == sorted(score, key=lambda k: -score[k])
        # rehearsal: mentions + 1 and last_accessed_at = now, after the search returned
        rels = await stored(mem, scope)
        assert rels[("alice", "likes", "tea")].mentions == 7
        assert rels[("alice", "likes", "coffee")].mentions == 2
        assert rels[("alice", "likes", "tea")].last_accessed_at is not None


async def test_relations_use_the_factual_row_of_the_context_weights():
    llm = ScriptedLLM(routed(query={"entities": ["alice"]}))
    async with engine(llm, context={"enabled": True, "weights": {"factual": {"design": 0.25}}}) as mem:
        await seed(mem, Scope(user_id="u1"), [("alice", "likes", "tea")])
        plain = (await mem.search("alice likes", user_id="u1", task_type="general"))["relations"][0]["score"]
        design = (await mem.search("alice likes", user_id="u1", task_type="design"))["relations"][0]["score"]
        planning = (await mem.search("alice likes", user_id="u1", task_type="planning"))["relations"][0]["score"]
        assert design == pytest.approx(plain * 0.25) and planning == pytest.approx(plain * 0.7)
        # classified by the LLM once per search, shared with the memories
        llm.calls.clear()
        await mem.search("how should I design alice's tea shelf", user_id="u1")
        assert len(llm.calls_for(CLASSIFY_QUERY_MARKER)) == 1


async def test_threshold_applies_to_the_relations_final_score():
    llm = ScriptedLLM(routed(query={"entities": ["alice"]}))
    async with engine(llm) as mem:
        await seed(mem, Scope(user_id="u1"), [("alice", "likes", "tea"), ("alice", "owns", "bicycle")])
        scores = {r["destination"]: r["score"] for r in (await mem.search("alice likes tea", user_id="u1"))["relations"]}
        cut = (scores["tea"] + scores["bicycle"]) / 2
        kept = (await mem.search("alice likes tea", user_id="u1", threshold=cut))["relations"]
        assert [r["destination"] for r in kept] == ["tea"]


# ---------------------------------------------------------------------------------------- scope
async def test_same_entity_name_for_two_users_is_two_entities():
    async with engine() as mem:
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        await mem.add("Ana lives in Porto", user_id="u2", infer=False)
        assert mem.graph_store is not None
        assert await mem.graph_store.entity_count(Scope(user_id="u1")) == 2
        # no conflict crosses users: u2's Porto did not invalidate u1's Lisbon
        assert set(await stored(mem, Scope(user_id="u1"))) == {("ana", "lives_in", "lisbon")}
        assert triples((await mem.search("where does Ana live", user_id="u1"))["relations"]) == [("ana", "lives_in", "lisbon")]
        assert triples((await mem.search("where does Ana live", user_id="u2"))["relations"]) == [("ana", "lives_in", "porto")]
        assert triples((await mem.get_all(user_id="u2"))["relations"]) == [("ana", "lives_in", "porto")]
        assert (await mem.get_all(user_id="u3"))["relations"] == []


async def test_delete_all_clears_the_graph_in_scope_only_and_reset_clears_all():
    async with engine() as mem:
        await mem.add("I live in Lisbon", user_id="alice", infer=False)
        await mem.add("I live in Porto", user_id="bob", infer=False)
        await mem.add("I like tea", user_id="alice", agent_id="a1", infer=False)
        await mem.delete_all(user_id="alice", filters={"owner": "nobody"})  # a metadata filter: relations stay
        assert await stored(mem, Scope(user_id="alice"))
        await mem.delete_all(user_id="alice", agent_id="a1")
        assert set(await stored(mem, Scope(user_id="alice"))) == {("alice", "live_in", "lisbon")}
        await mem.delete_all(user_id="alice")
        assert await stored(mem, Scope(user_id="alice")) == {}
        assert set(await stored(mem, Scope(user_id="bob"))) == {("bob", "live_in", "porto")}
        await mem.reset()
        assert await stored(mem, Scope(user_id="bob")) == {}
        assert (await mem.get_all(user_id="bob"))["results"] == []


# ---------------------------------------------------------------------------------------- failures
async def test_unreadable_graph_answer_keeps_the_vector_results(caplog: pytest.LogCaptureFixture):
    llm = ScriptedLLM(routed(graph="this is not json"))
    async with engine(llm) as mem:
        with caplog.at_level(logging.ERROR, logger="mem7.engine"):
            out = await mem.add("I live in Lisbon", user_id="alice")
        assert [r["memory"] for r in out["results"]] == ["I live in Lisbon"]
        assert out["relations"] == [] and "graph extraction" in out["graph_error"]
        assert "graph path failed" in caplog.text
        assert len(llm.calls_for(GRAPH_EXTRACTION_MARKER)) == 2  # bounded retry (llm_retries = 1)
        assert [i["memory"] for i in (await mem.get_all(user_id="alice"))["results"]] == ["I live in Lisbon"]
        assert await stored(mem, Scope(user_id="alice")) == {}


class FailingGraph:
    """Makes one method of a graph store raise like a server that is down."""

    def __init__(self, store: GraphStore, *names: str) -> None:
        async def down(*args: Any, **kwargs: Any) -> Any:
            raise ProviderError(store.name, "connection refused")

        for name in names:
            setattr(store, name, down)


def unreachable_graph_store() -> GraphStore:
    """A flat graph store whose ``connect`` fails like a graph server that cannot be reached."""
    store = get_registry().create("graph_store", "flat", {})
    assert isinstance(store, GraphStore)

    async def connect() -> None:
        raise ProviderError(store.name, "cannot reach the server: connection refused")

    store.connect = connect  # type: ignore[method-assign]
    return store


async def test_create_and_memory_connect_the_graph_store_so_a_bad_one_fails_there():
    # mem0's Memory.from_config connects to its graph store, so an unreachable server or refused
    # credentials fail at construction. Ours connected on the first add, which then kept its
    # memories and reported the failure in graph_error, add after add.
    with pytest.raises(ProviderError, match="connection refused"):
        await AsyncMemory.create(config(), llm=ScriptedLLM(), graph_store=unreachable_graph_store())
    with pytest.raises(ProviderError, match="connection refused"):
        Memory(config(), llm=ScriptedLLM(), graph_store=unreachable_graph_store())
    async with AsyncMemory(config(), llm=ScriptedLLM(), graph_store=unreachable_graph_store()) as mem:
        with pytest.raises(ProviderError, match="connection refused"):
            await mem.check_store()
    # A reachable store: built and usable.
    async with await AsyncMemory.create(config(), llm=ScriptedLLM()) as mem:
        assert (await mem.add("I live in Lisbon", user_id="alice"))["relations"]


async def test_graph_store_down_keeps_the_vector_results(caplog: pytest.LogCaptureFixture):
    async with engine() as mem:
        assert mem.graph_store is not None
        FailingGraph(mem.graph_store, "upsert", "search")
        out = await mem.add("I live in Lisbon", user_id="alice")
        assert [r["event"] for r in out["results"]] == ["ADD"] and "connection refused" in out["graph_error"]
        with caplog.at_level(logging.WARNING, logger="mem7.graph"):
            found = await mem.search("where do I live", user_id="alice")
        assert [i["memory"] for i in found["results"]] == ["I live in Lisbon"] and found["relations"] == []
        assert "graph path failed" in caplog.text


async def test_without_an_llm_the_graph_is_skipped_with_one_warning(caplog: pytest.LogCaptureFixture):
    async with AsyncMemory(config(), clock=Clock()) as mem:
        assert mem.llm is None and mem.graph is not None
        with caplog.at_level(logging.WARNING, logger="mem7.graph"):
            out = await mem.add("I live in Lisbon", user_id="alice")
            await mem.add("I live in Porto", user_id="alice")
            found = await mem.search("Lisbon", user_id="alice")
        assert [r["memory"] for r in out["results"]] == ["I live in Lisbon"] and out["relations"] == []
        assert found["results"] and found["relations"] == []
        assert caplog.text.count("the graph is not updated or searched") == 1


async def test_a_vector_path_failure_still_raises():
    llm = ScriptedLLM(routed(facts="garbage"))
    async with engine(llm) as mem:
        with pytest.raises(ProviderError, match="fact extraction"):
            await mem.add("I live in Lisbon", user_id="alice")
        assert (await mem.get_all(user_id="alice"))["results"] == []


async def test_search_with_unreadable_query_entities_returns_vector_results():
    llm = ScriptedLLM(routed(query="nope"))
    async with engine(llm) as mem:
        await mem.add("I live in Lisbon", user_id="alice", infer=False)
        found = await mem.search("Lisbon", user_id="alice")
        assert [i["memory"] for i in found["results"]] == ["I live in Lisbon"] and found["relations"] == []


# ---------------------------------------------------------------------------------------- concurrency
class Rendezvous:
    """Two paths that each wait (with a timeout) until the other has started: a sequential engine
    fails with a timeout instead of hanging."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.vector = asyncio.Event()
        self.graph = asyncio.Event()
        self.timeout = timeout
        self.alone: list[str] = []
        """The paths that ran alone (the graph path's errors are caught and logged by design)."""

    def block(self, obj: Any, name: str, mine: asyncio.Event, other: asyncio.Event, label: str) -> None:
        inner = getattr(obj, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            mine.set()
            try:
                await asyncio.wait_for(other.wait(), self.timeout)
            except TimeoutError:
                self.alone.append(label)
                raise AssertionError(f"{label} ran alone: the other path never started") from None
            return await inner(*args, **kwargs)

        setattr(obj, name, call)


async def test_add_runs_the_vector_and_graph_paths_concurrently():
    async with engine() as mem:
        assert mem.graph_store is not None
        meet = Rendezvous()
        meet.block(mem.vector_store, "insert", meet.vector, meet.graph, "the vector path")
        meet.block(mem.graph_store, "upsert", meet.graph, meet.vector, "the graph path")
        out = await mem.add("I live in Lisbon", user_id="alice")
        assert meet.alone == []
        assert out["results"] and out["relations"] and out.get("graph_error") is None


async def test_search_runs_the_vector_and_graph_paths_concurrently():
    async with engine(retrieval={"mode": "dense"}) as mem:
        await mem.add("I live in Lisbon", user_id="alice", infer=False)
        assert mem.graph_store is not None
        meet = Rendezvous()
        meet.block(mem.vector_store, "search", meet.vector, meet.graph, "the vector path")
        meet.block(mem.graph_store, "search", meet.graph, meet.vector, "the graph path")
        out = await mem.search("where do I live in Lisbon", user_id="alice")
        assert meet.alone == []
        assert out["results"] and triples(out["relations"]) == [("alice", "live_in", "lisbon")]


# ---------------------------------------------------------------------------------------- real stack
async def test_graph_end_to_end_over_http(openai_server, monkeypatch: pytest.MonkeyPatch):
    """mem7-openai (the real ``openai`` client) against the loopback server, graph on, with a
    separate graph LLM from config (``graph_store.llm``: same server, another model)."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    srv = openai_server
    conn = {"base_url": srv.url, "api_key": "test", "max_retries": 0, "timeout": 5.0}
    cfg = config(
        llm={"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}},
        embedder={"provider": "openai", "config": {**conn, "model": "text-embedding-3-small", "embedding_dims": 256}},
        graph_store={"provider": "flat", "llm": {"provider": "openai", "config": {**conn, "model": "graph-model"}}},
    )

    def tasks(since: int) -> list[tuple[str, str]]:
        out = []
        for req in srv.requests("chat")[since:]:
            system = next(m["content"] for m in req.body["messages"] if m["role"] == "system")
            out.append((system.split("\n")[0], req.body["model"]))
        return out

    async with AsyncMemory(cfg) as mem:
        out = await mem.add("I live in Paris. I like green tea", user_id="alice")
        assert sorted(r["memory"] for r in out["results"]) == ["I like green tea", "I live in Paris"]
        assert triples(out["relations"]) == [("alice", "live_in", "paris"), ("alice", "like_green", "tea")]
        assert sorted(tasks(0)) == [(FACT_EXTRACTION_MARKER, "gpt-4.1-nano"), (GRAPH_EXTRACTION_MARKER, "graph-model")]
        before = srv.count("chat")
        out = await mem.add("I live in Berlin", user_id="alice")
        second = tasks(before)
        assert len(second) <= 4 and (GRAPH_CONFLICT_MARKER, "graph-model") in second
        assert triples(out["relations"]) == [("alice", "live_in", "berlin")]
        found = await mem.search("where do I live", user_id="alice", limit=5)
        rels = triples(found["relations"])
        assert ("alice", "live_in", "berlin") in rels and ("alice", "live_in", "paris") not in rels
        assert all(isinstance(r["score"], float) for r in found["relations"])
        assert triples((await mem.get_all(user_id="alice"))["relations"]) == [("alice", "like_green", "tea"), ("alice", "live_in", "berlin")]
        await mem.delete_all(user_id="alice")
        assert (await mem.get_all(user_id="alice"))["relations"] == []


# ------------------------------------------------------------------------- concurrent adds of a scope
def both_read(mem: AsyncMemory) -> None:
    """The graph store's ``search`` (an add's read) returns only once two adds have read: both
    decide on what was stored before either wrote, as two adds whose model calls overlap can."""
    store = mem.graph_store
    assert store is not None
    inner, arrived, ready = store.search, [0], asyncio.Event()

    async def search(*args: Any, **kwargs: Any) -> Any:
        found = await inner(*args, **kwargs)
        arrived[0] += 1
        if arrived[0] >= 2:
            ready.set()
        await asyncio.wait_for(ready.wait(), 5)
        return found

    store.search = search  # type: ignore[method-assign]


async def test_concurrent_adds_of_a_scope_outdate_each_other_as_one_after_the_other_would():
    """Both adds read the graph before either writes (their model calls overlap), so neither sees
    the other's triple; the one that writes second checks it under the scope's graph lock, and its
    conflict call outdates it, as it would had they run one after the other."""
    llm = ScriptedLLM()
    async with engine(llm) as mem:
        both_read(mem)
        await asyncio.gather(
            mem.add("I live in Lisbon", user_id="alice", infer=False),
            mem.add("I live in Porto", user_id="alice", infer=False),
        )
        both = {("alice", "live_in", "lisbon"), ("alice", "live_in", "porto")}
        valid = set(await stored(mem, Scope(user_id="alice")))
        assert len(valid) == 1 and valid < both, valid  # both stayed valid before
        assert mem.graph_store is not None
        every = await mem.graph_store.get_all_including_invalid(Scope(user_id="alice"))
        assert every is not None and {r.triple: r.valid for r in every} == {t: t in valid for t in both}
        (conflict,) = llm.calls_for(GRAPH_CONFLICT_MARKER)  # one check: the later add, about the earlier one's
        (outdated,) = both - valid
        assert f"0: {' -- '.join(outdated)}" in user_of(conflict["messages"])


async def test_a_concurrent_add_about_other_entities_costs_no_extra_conflict_call():
    llm = ScriptedLLM()
    async with engine(llm) as mem:
        both_read(mem)
        await asyncio.gather(
            mem.add("I live in Lisbon", user_id="alice", infer=False),
            mem.add("Bob plays the cello", user_id="alice", infer=False),
        )
        rels = await stored(mem, Scope(user_id="alice"))
        assert all(r.valid for r in rels.values()) and len(rels) == 2
        assert llm.calls_for(GRAPH_CONFLICT_MARKER) == []
        assert mem.graph is not None and len(mem.graph._written) == 0  # no log kept once no add of the scope is in flight
