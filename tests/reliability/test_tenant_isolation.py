"""Group 5 — tenant isolation: no API path reads, updates or deletes across user_id / agent_id /
run_id. Searches (dense, hybrid and keyword-only retrieval), listings and delete_all see only the
caller's scope whatever the filters say (an OR naming another user, NOT, scope keys nested or with
operators); by-id operations given a scope refuse memories of other scopes; update() cannot move a
memory through metadata; an inferred add shows the LLM, and changes, only the caller's memories.

Already pinned (see README.md): tests/test_engine_search.py::test_or_filter_cannot_widen_scope,
::test_by_id_operations_respect_a_given_scope (user_id), ::test_update_cannot_move_scope_through_metadata,
::test_delete_all_only_in_scope, ::test_scope_ids_inside_filters_are_honoured (and disagreeing ids
raise); plugins/flat/tests/test_flat.py::test_search_reads_only_its_scope_rows.
"""

from __future__ import annotations

from typing import Any

import pytest
from _kit import assert_consistent, engine, history_rows, router, snapshot, user_of

from mem7_core.errors import MemoryNotFoundError, ScopeError
from mem7_core.models import Scope
from mem7_core.providers.tasks import GRAPH_CONFLICT_MARKER
from mem7_core.testing.fakes import ScriptedLLM

# (scope, owner tag): the same words everywhere, plus one word only that owner's memory has.
OWNERS: list[tuple[dict[str, str], str]] = [
    ({"user_id": "alice"}, "alice"),
    ({"user_id": "bob"}, "bob"),
    ({"user_id": "alice", "agent_id": "a1"}, "alice-a1"),
    ({"user_id": "alice", "agent_id": "a2"}, "alice-a2"),
    ({"user_id": "alice", "run_id": "r1"}, "alice-r1"),
    ({"user_id": "bob", "agent_id": "a1", "run_id": "r1"}, "bob-a1-r1"),
    ({"agent_id": "a1"}, "a1"),
    ({"run_id": "r1"}, "r1"),
]
UNIQUE = {"alice": "aardvark", "bob": "zebra", "alice-a1": "giraffe", "alice-a2": "hippo", "alice-r1": "iguana",
          "bob-a1-r1": "jackal", "a1": "koala", "r1": "lemur"}
CALLERS = [
    {"user_id": "alice"}, {"user_id": "bob"}, {"user_id": "alice", "agent_id": "a1"}, {"agent_id": "a1"},
    {"run_id": "r1"}, {"user_id": "alice", "run_id": "r1"}, {"user_id": "carol"}, {"user_id": "bob", "agent_id": "a1"},
]


@pytest.fixture(params=["dense", "hybrid", "bm25"])
async def seeded(request: pytest.FixtureRequest):
    """An engine (retrieval mode as parametrised) holding one memory per owner."""
    mem = engine(retrieval={"mode": request.param})
    ids: dict[str, str] = {}
    for scope, owner in OWNERS:
        out = await mem.add(f"likes green tea and the {UNIQUE[owner]} exhibit", infer=False, metadata={"owner": owner}, **scope)
        ids[owner] = out["results"][0]["id"]
    yield mem, ids
    await mem.aclose()


def _allowed(caller: dict[str, str]) -> set[str]:
    scope = Scope(**caller)
    return {owner for s, owner in OWNERS if scope.matches(s)}


def _owners(result: Any) -> set[str]:
    return {i["metadata"]["owner"] for i in result["results"]}


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: "+".join(f"{k}={v}" for k, v in c.items()))
async def test_search_and_get_all_see_exactly_the_callers_scope(seeded, caller):
    mem, _ = seeded
    allowed = _allowed(caller)
    listed = _owners(await mem.get_all(**caller, limit=100))
    assert listed == allowed
    for query in ["likes green tea exhibit", *UNIQUE.values()]:  # incl. words only other scopes hold
        got = _owners(await mem.search(query, **caller, limit=100))
        assert got <= allowed, f"{query!r} as {caller} leaked {got - allowed}"


HOSTILE_FILTERS = {
    "or-other-user": {"OR": [{"user_id": "bob"}, {"owner": "bob"}]},
    "not-own-user": {"NOT": [{"user_id": "alice"}]},
    "user-in-list": {"user_id": {"in": ["alice", "bob"]}},
    "user-ne-self": {"user_id": {"ne": "alice"}},
    "user-wildcard": {"user_id": "*"},
    "and-other-user": {"AND": [{"user_id": "bob"}]},
    "nested-or": {"OR": [{"AND": [{"user_id": "bob"}, {"agent_id": "a1"}]}, {"NOT": [{"owner": "nobody"}]}]},
    "agent-nin-empty": {"agent_id": {"nin": []}},
    "owner-contains-bob": {"owner": {"icontains": "BOB"}},
    "run-eq-other": {"run_id": {"eq": "r1"}, "OR": [{"user_id": {"ne": "x"}}]},
}


@pytest.mark.parametrize("filters", HOSTILE_FILTERS.values(), ids=HOSTILE_FILTERS.keys())
async def test_filters_cannot_widen_the_scope(seeded, filters):
    mem, ids = seeded
    allowed = _allowed({"user_id": "alice"})
    assert _owners(await mem.search("likes green tea zebra", user_id="alice", filters=filters, limit=100)) <= allowed
    assert _owners(await mem.get_all(user_id="alice", filters=filters, limit=100)) <= allowed
    for call in (lambda: mem.search("tea", filters=filters), lambda: mem.get_all(filters=filters),
                 lambda: mem.delete_all(filters=filters)):  # a filter alone is no scope
        with pytest.raises(ScopeError):
            await call()
    before = await snapshot(mem)
    await mem.delete_all(user_id="alice", filters=filters)
    after = {row[0] for row in await snapshot(mem)}
    for owner, mem_id in ids.items():
        if owner not in allowed:
            assert mem_id in after, f"delete_all as alice with {filters} deleted {owner}'s memory"
    assert {row[0] for row in before} - after <= {ids[o] for o in allowed}
    await assert_consistent(mem)


# (owner of the memory, caller scope, allowed?)
BY_ID = [
    ("alice", {"user_id": "bob"}, False),
    ("alice", {"user_id": "alice", "agent_id": "a1"}, False),
    ("alice", {"user_id": "alice", "run_id": "r9"}, False),
    ("alice", {"agent_id": "a1"}, False),
    ("alice-a1", {"user_id": "alice", "agent_id": "a2"}, False),
    ("alice-a1", {"user_id": "bob", "agent_id": "a1"}, False),
    ("a1", {"user_id": "alice"}, False),
    ("r1", {"user_id": "alice", "run_id": "r1"}, False),
    ("bob-a1-r1", {"run_id": "r2"}, False),
    ("alice-a1", {"user_id": "alice"}, True),
    ("alice-a1", {"agent_id": "a1"}, True),
    ("bob-a1-r1", {"run_id": "r1"}, True),
]


@pytest.mark.parametrize(("owner", "caller", "allowed"), BY_ID, ids=[f"{o}-as-{'+'.join(c.values())}" for o, c, _ in BY_ID])
async def test_by_id_operations_are_checked_against_the_callers_scope(seeded, owner, caller, allowed):
    mem, ids = seeded
    mem_id = ids[owner]
    before, hist = await snapshot(mem), await history_rows(mem)
    got = await mem.get(mem_id, **caller)
    if not allowed:
        assert got is None
        with pytest.raises(MemoryNotFoundError):
            await mem.update(mem_id, "hijacked text", **caller)
        with pytest.raises(MemoryNotFoundError):
            await mem.update(mem_id, "hijacked text", metadata={"owner": "mallory"}, **caller)
        with pytest.raises(MemoryNotFoundError):
            await mem.delete(mem_id, **caller)
        assert await snapshot(mem) == before and await history_rows(mem) == hist
    else:
        assert got is not None and got["metadata"]["owner"] == owner
        await mem.update(mem_id, "rewritten by an allowed caller", **caller)
        await mem.delete(mem_id, **caller)
        assert await mem.get(mem_id) is None
    await assert_consistent(mem)


@pytest.mark.parametrize("key", ["user_id", "agent_id", "run_id"])
async def test_metadata_can_never_set_or_change_the_scope(key):
    async with engine() as mem:
        mem_id = (await mem.add("alice fact", user_id="alice", infer=False))["results"][0]["id"]
        with pytest.raises(ValueError, match=key):
            await mem.update(mem_id, "moved", metadata={key: "bob"})
        with pytest.raises(ValueError, match=key):
            await mem.add("bob fact", user_id="alice", infer=False, metadata={key: "bob"})
        with pytest.raises(ValueError, match=key):
            await mem.update(mem_id, "moved", metadata={"nested": 1, key: "bob"}, user_id="alice")
        item = await mem.get(mem_id)
        assert (item["user_id"], item["agent_id"], item["run_id"], item["memory"]) == ("alice", None, None, "alice fact")
        assert (await mem.get_all(**{key: "bob"}))["results"] == []
        await mem.update(mem_id, "alice fact v2", metadata={"owner": "alice"}, user_id="alice")
        item = await mem.get(mem_id)
        assert (item["user_id"], item["agent_id"], item["run_id"]) == ("alice", None, None)


async def test_inferred_add_shows_and_changes_only_the_callers_memories():
    """The LLM answers DELETE / UPDATE for every id it could name — shown ids, ids past the end,
    and the real UUID of another user's memory. Only the caller's memories may change, and the
    other user's text never reaches the prompt."""
    holder: dict[str, str] = {}

    def decide(messages: Any) -> Any:
        holder["prompt"] = user_of(messages)
        rows = [{"id": str(i), "event": "DELETE"} for i in range(0, 10, 2)]
        rows += [{"id": str(i), "event": "UPDATE", "text": "I live in Berlin"} for i in range(1, 10, 2)]
        rows += [{"id": holder["bob"], "event": "DELETE"}, {"id": holder["bob"], "event": "UPDATE", "text": "pwned"}]
        return {"memory": rows}

    llm = ScriptedLLM(router(facts={"facts": ["I live in Berlin"]}, decisions=decide))
    async with engine(llm=llm) as mem:
        holder["bob"] = (await mem.add("I live in Paris", user_id="bob", infer=False))["results"][0]["id"]
        await mem.add("I live in Paris with bob", user_id="bob", agent_id="a1", infer=False)
        await mem.add("I live in Paris", user_id="alice", infer=False)
        bob_before = await mem.get_all(user_id="bob")
        hist_before = await mem.history(holder["bob"])
        out = await mem.add("I moved to Berlin", user_id="alice")
        assert "bob" not in holder["prompt"] and holder["prompt"].count("I live in Paris") == 1
        assert all(r["id"] != holder["bob"] for r in out["results"])
        assert await mem.get_all(user_id="bob") == bob_before
        assert await mem.history(holder["bob"]) == hist_before
        alice = (await mem.get_all(user_id="alice"))["results"]
        assert {i["memory"] for i in alice} == {"I live in Berlin", "pwned"}  # LLM text lands in alice's scope only
        assert all((i["user_id"], i["agent_id"], i["run_id"]) == ("alice", None, None) for i in alice)
        await assert_consistent(mem)


async def test_rehearsal_after_search_touches_only_returned_memories_of_the_scope():
    async with engine(decay={"enabled": True}) as mem:
        a = (await mem.add("likes green tea", user_id="alice", infer=False))["results"][0]["id"]
        b = (await mem.add("likes green tea", user_id="bob", infer=False))["results"][0]["id"]
        for _ in range(3):
            await mem.search("likes green tea", user_id="alice")
        await mem.drain()
        assert (await mem.get(a))["access_count"] == 3
        assert (await mem.get(b))["access_count"] == 0


async def test_graph_entities_and_relations_are_per_scope():
    """Every owner stores the same entity names ("ana", "zoo") with a relation only it has. Each
    caller lists and finds exactly the relations of the scopes it may see; the conflict check of an
    add is shown only those; a contradiction in bob's scope soft-deletes only bob's triple; delete_all
    empties only the caller's scope."""
    llm = ScriptedLLM()
    async with engine(llm=llm, graph_store={"provider": "flat"}) as mem:
        for scope, owner in OWNERS:
            await mem.add(f"Ana feeds the {UNIQUE[owner]} at Zoo", infer=False, **scope)
            for call in llm.calls_for(GRAPH_CONFLICT_MARKER):
                shown = user_of(call["messages"]).partition("New relations:")[0]
                assert {o for o, w in UNIQUE.items() if w in shown} <= _allowed(scope), f"{owner}'s add was shown {shown!r}"
            llm.calls.clear()

        def owners_of(relations: Any) -> set[str]:
            return {o for r in relations for o, w in UNIQUE.items() if f"feeds_the_{w}_at" == r["relationship"]}

        for caller in CALLERS:
            allowed = _allowed(caller)
            assert owners_of((await mem.get_all(**caller))["relations"]) == allowed, caller
            found = (await mem.search("who feeds the animals at the zoo, Ana?", **caller, limit=100))["relations"]
            assert owners_of(found) == allowed, caller
        assert await mem.graph_store.entity_count(Scope(user_id="bob")) == 4  # ana + zoo, in bob's two exact scopes
        assert await mem.graph_store.entity_count(Scope(user_id="carol")) == 0

        # a contradiction in bob's exact scope: only bob's triple goes
        await mem.add("Ana feeds the zebra at Park", user_id="bob", infer=False)
        assert owners_of((await mem.get_all(user_id="bob", run_id="r1"))["relations"]) == {"bob-a1-r1"}
        bobs = [r["destination"] for r in (await mem.get_all(user_id="bob"))["relations"] if r["relationship"] == "feeds_the_zebra_at"]
        assert bobs == ["park"]
        assert owners_of((await mem.get_all(user_id="alice"))["relations"]) == _allowed({"user_id": "alice"})

        await mem.delete_all(user_id="alice")
        assert (await mem.get_all(user_id="alice"))["relations"] == []
        for caller in ({"user_id": "bob"}, {"agent_id": "a1"}, {"run_id": "r1"}):
            left = _allowed(caller) - _allowed({"user_id": "alice"})
            assert owners_of((await mem.get_all(**caller))["relations"]) == left, caller
