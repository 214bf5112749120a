"""Mem7Store against LangGraph's own reference, its InMemoryStore: the same operations on both give
the same items (LangGraph ships no reusable store test suite; its in-memory store is the behaviour
its docs describe). Then what is mem7's own: scopes, errors, scores, persistence in mem7."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from langgraph.store.base import BaseStore, InvalidNamespaceError, Item
from langgraph.store.memory import InMemoryStore

from mem7_core import AsyncMemory, Memory
from mem7_langgraph import Mem7Store, NamespaceScopeError, namespace_scope

ALICE = ("users", "alice")
PREFS = ("users", "alice", "prefs")
NOTES = ("users", "alice", "notes")
BOB = ("users", "bob", "agents", "helper")

ITEMS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (PREFS, "drink", {"text": "green tea", "kind": "pref", "rank": 1, "tags": ["hot", "daily"]}),
    (PREFS, "food", {"text": "pasta", "kind": "pref", "rank": 3}),
    (PREFS, "music", {"text": "jazz", "kind": "pref", "rank": 2, "nested": {"a": 1}}),
    (NOTES, "n1", {"text": "call mum", "kind": "todo", "rank": 5}),
    (ALICE, "profile", {"text": "alice", "kind": "profile", "rank": 9}),  # every item has a rank: InMemoryStore raises comparing a missing field
    (BOB, "b1", {"text": "bob likes chess", "kind": "pref", "rank": 1}),
    (("runs", "r1", "scratch"), "s", {"text": "temp", "kind": "todo", "rank": 0}),
]


def _fill(store: BaseStore) -> None:
    for ns, key, value in ITEMS:
        store.put(ns, key, value)
    store.put(PREFS, "food", {"text": "risotto", "kind": "pref", "rank": 4})  # overwrite
    store.put(NOTES, "gone", {"text": "x", "kind": "todo"})
    store.delete(NOTES, "gone")


def _view(items: list[Any]) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    return [(tuple(i.namespace), i.key, i.value) for i in items]


@pytest.fixture
def pair(memory: Memory) -> tuple[Mem7Store, InMemoryStore]:
    ours, ref = Mem7Store(memory, index_fields=["text"]), InMemoryStore()
    _fill(ours)
    _fill(ref)
    return ours, ref


@pytest.mark.parametrize(("ns", "key"), [(PREFS, "drink"), (PREFS, "food"), (NOTES, "n1"), (ALICE, "profile"),
                                         (BOB, "b1"), (NOTES, "gone"), (PREFS, "missing"), (NOTES, "drink")])
def test_get_matches_langgraph(pair: tuple[Mem7Store, InMemoryStore], ns: tuple[str, ...], key: str) -> None:
    ours, ref = pair
    got, want = ours.get(ns, key), ref.get(ns, key)
    assert (got is None) == (want is None)
    if want is not None:
        assert got is not None
        assert (got.namespace, got.key, got.value) == (want.namespace, want.key, want.value)
        assert isinstance(got.created_at, datetime) and got.created_at.tzinfo is not None


SEARCHES: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (PREFS, {}),
    (ALICE, {}),
    (ALICE, {"filter": {"kind": "pref"}}),
    (ALICE, {"filter": {"kind": "todo"}}),
    (ALICE, {"filter": {"rank": {"$gt": 1}}}),
    (ALICE, {"filter": {"rank": {"$gte": 2, "$lt": 5}}}),
    (ALICE, {"filter": {"rank": {"$lte": 3}, "kind": {"$eq": "pref"}}}),
    (ALICE, {"filter": {"kind": {"$ne": "pref"}}}),
    (ALICE, {"filter": {"tags": ["hot", "daily"]}}),
    (ALICE, {"filter": {"kind": "nothing"}}),
    (PREFS, {"limit": 2}),
    (PREFS, {"limit": 2, "offset": 1}),
    (PREFS, {"offset": 5}),
    (("users", "bob"), {}),
    (("users", "carol"), {}),
]


@pytest.mark.parametrize(("prefix", "kwargs"), SEARCHES, ids=[str(i) for i in range(len(SEARCHES))])
def test_search_without_query_matches_langgraph(
    pair: tuple[Mem7Store, InMemoryStore], prefix: tuple[str, ...], kwargs: dict[str, Any]
) -> None:
    ours, ref = pair
    got, want = _view(ours.search(prefix, **kwargs)), _view(ref.search(prefix, **kwargs))
    if "limit" in kwargs or "offset" in kwargs:  # one namespace: both list in insertion order
        assert got == want
    else:
        assert sorted(got, key=repr) == sorted(want, key=repr)
    assert all(i.score is None for i in ours.search(prefix, **kwargs))


LISTS: list[dict[str, Any]] = [
    {},
    {"prefix": ("users",)},
    {"prefix": ("users", "*", "prefs")},
    {"suffix": ("notes",)},
    {"prefix": ("users",), "suffix": ("helper",)},
    {"max_depth": 2},
    {"max_depth": 3, "prefix": ("users",)},
    {"limit": 2, "offset": 1},
]


@pytest.mark.parametrize("kwargs", LISTS, ids=[str(i) for i in range(len(LISTS))])
def test_list_namespaces_matches_langgraph(pair: tuple[Mem7Store, InMemoryStore], kwargs: dict[str, Any]) -> None:
    ours, ref = pair
    assert ours.list_namespaces(**kwargs) == ref.list_namespaces(**kwargs)


def test_query_search_ranks_by_mem7_score(pair: tuple[Mem7Store, InMemoryStore], memory: Memory) -> None:
    ours, _ = pair
    before = ours.get(PREFS, "drink")
    hits = ours.search(ALICE, query="green tea")
    memory.drain()  # mem7's background rehearsal of the hits
    assert ours.get(PREFS, "drink") == before  # a search does not move an item's updated_at
    assert hits[0].key == "drink"
    scores = [h.score for h in hits]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted((s or 0.0 for s in scores), reverse=True)
    assert {h.key for h in ours.search(ALICE, query="tea", filter={"kind": "todo"})} == {"n1"}
    assert ours.search(ALICE, query="tea", limit=1, offset=1)[0].key == hits[1].key


def test_items_are_mem7_memories_in_their_scope(memory: Memory) -> None:
    store = Mem7Store(memory, index_fields=["text"])
    store.put(PREFS, "drink", {"text": "green tea", "kind": "pref"})
    store.put(BOB, "b1", {"text": "chess"})
    [alice] = memory.get_all(user_id="alice")["results"]
    assert alice["memory"] == "green tea"
    assert alice["user_id"] == "alice" and alice["agent_id"] is None
    assert alice["metadata"]["value_kind"] == "pref" and alice["metadata"]["lg_ns"] == list(PREFS)
    [bob] = memory.get_all(user_id="bob", agent_id="helper")["results"]
    assert bob["memory"] == "chess"
    assert memory.get_all(agent_id="helper", filters={"value_text": "chess"})["results"][0]["id"] == bob["id"]
    # whole value as JSON when no index fields are given
    Mem7Store(memory).put(("users", "carol"), "k", {"b": 2, "a": "x"})
    assert memory.get_all(user_id="carol")["results"][0]["memory"] == '{"a": "x", "b": 2}'
    store.put(("users", "carol"), "k2", {"text": "one", "other": "two"}, index=["other"])
    assert {m["memory"] for m in memory.get_all(user_id="carol")["results"]} == {'{"a": "x", "b": 2}', "two"}


def test_put_again_replaces_and_keeps_created_at(memory: Memory) -> None:
    store = Mem7Store(memory)
    store.put(PREFS, "k", {"v": 1, "old": True})
    first = store.get(PREFS, "k")
    store.put(PREFS, "k", {"v": 2})
    second = store.get(PREFS, "k")
    assert first is not None and second is not None
    assert second.value == {"v": 2}  # a field dropped from the value is gone, not merged
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    assert len(memory.get_all(user_id="alice")["results"]) == 1
    store.delete(PREFS, "k")
    store.delete(PREFS, "k")  # deleting what is not there is a no-op
    assert store.get(PREFS, "k") is None and memory.get_all(user_id="alice")["results"] == []


def test_memories_added_through_mem7_are_not_store_items(memory: Memory) -> None:
    memory.add("Alice likes tea", user_id="alice", infer=False)
    store = Mem7Store(memory)
    assert store.search(ALICE) == [] and store.search(ALICE, query="tea") == []
    assert store.list_namespaces() == []


def test_batch_runs_ops_in_order(memory: Memory) -> None:
    from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

    store = Mem7Store(memory)
    results = store.batch([
        PutOp(PREFS, "k", {"v": 1}), GetOp(PREFS, "k"), SearchOp(ALICE), ListNamespacesOp(),
        PutOp(PREFS, "k", None), GetOp(PREFS, "k"),
    ])
    assert results[0] is None and isinstance(results[1], Item) and results[1].value == {"v": 1}
    assert [i.key for i in results[2]] == ["k"] and results[3] == [PREFS] and results[5] is None  # type: ignore[union-attr]


@pytest.mark.parametrize("ns", [("memories", "alice"), ("alice",), ("users",), ("prefs", "users", "alice")])
def test_unmappable_namespace_is_refused_naming_the_shapes(memory: Memory, ns: tuple[str, ...]) -> None:
    store = Mem7Store(memory)
    with pytest.raises(NamespaceScopeError, match=r"cannot be mapped to a mem7 scope.*\('users', <user_id>\)"):
        store.put(ns, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError, match="namespace_prefix"):
        store.search(ns)
    with pytest.raises(NamespaceScopeError):
        store.get(ns, "k")


def test_namespace_scope_mapping() -> None:
    assert namespace_scope(("users", "a", "agents", "b", "runs", "c", "x", "y")) == (
        {"user_id": "a", "agent_id": "b", "run_id": "c"}, ("x", "y"))
    assert namespace_scope(("agents", "b", "users", "a")) == ({"agent_id": "b", "user_id": "a"}, ())
    assert namespace_scope(("runs", "r1", "users")) == ({"run_id": "r1"}, ("users",))
    with pytest.raises(NamespaceScopeError, match="names 'users' twice"):
        namespace_scope(("users", "a", "users", "b"))


def test_nested_object_filter_is_refused_naming_the_field(memory: Memory) -> None:
    store = Mem7Store(memory)
    with pytest.raises(ValueError, match=r"filter\['nested'\].*nested-object match is not supported"):
        store.search(ALICE, filter={"nested": {"a": 1}})
    with pytest.raises(ValueError, match=r"filter\['rank'\]"):
        store.search(ALICE, filter={"rank": {"$regex": "x"}})


def test_needs_a_mem7_engine() -> None:
    with pytest.raises(TypeError, match=r"needs a mem7_core\.Memory or mem7_core\.AsyncMemory, got dict"):
        Mem7Store({"llm": None})  # type: ignore[arg-type]


async def test_async_store_over_async_memory(amemory: AsyncMemory) -> None:
    store = Mem7Store(amemory, index_fields=["text"])
    ref = InMemoryStore()
    for s in (store, ref):
        await asyncio.gather(*(s.aput(ns, key, value) for ns, key, value in ITEMS))
    for ns, key, _ in ITEMS:
        got, want = await store.aget(ns, key), await ref.aget(ns, key)
        assert got is not None and want is not None and got.value == want.value
    for prefix, kwargs in SEARCHES:
        got_items, want_items = await store.asearch(prefix, **kwargs), await ref.asearch(prefix, **kwargs)
        if "limit" not in kwargs and "offset" not in kwargs:
            assert sorted(_view(got_items), key=repr) == sorted(_view(want_items), key=repr), kwargs
    assert await store.alist_namespaces(prefix=("users",)) == await ref.alist_namespaces(prefix=("users",))
    assert (await store.asearch(ALICE, query="chess tea"))[0].score is not None
    assert len((await amemory.get_all(user_id="alice"))["results"]) == 5
    await store.adelete(PREFS, "drink")
    assert await store.aget(PREFS, "drink") is None


def test_sync_call_on_async_memory_says_what_to_do(amemory: AsyncMemory) -> None:
    store = Mem7Store(amemory)
    with pytest.raises(RuntimeError, match=r"was given an AsyncMemory.*use the async calls.*or pass a sync"):
        store.get(PREFS, "k")
