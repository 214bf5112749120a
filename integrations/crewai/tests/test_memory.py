"""``Mem7Memory``'s own methods against a real mem7 engine: reset / forget semantics (only this
scope, only what matches), what CrewAI's record fields map to, and the errors for a wrong setup."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from mem7_core import AsyncMemory, Memory
from mem7_crewai import Mem7Memory


def texts(memory: Memory, **scope: str) -> list[str]:
    return sorted(item["memory"] for item in memory.get_all(**scope)["results"])


@pytest.fixture
def alice(memory: Memory) -> Mem7Memory:
    return Mem7Memory(memory, user_id="alice", infer=False)


@pytest.fixture
def bob(memory: Memory) -> Mem7Memory:
    return Mem7Memory(memory, user_id="bob", infer=False)


def test_remember_returns_the_stored_record_with_crewais_fields(alice, memory) -> None:
    record = alice.remember("Alice prefers window seats", categories=["travel"], importance=0.9,
                            metadata={"trip": "lisbon"}, agent_role="Planner")
    assert record is not None and record.content == "Alice prefers window seats"
    assert (record.categories, record.importance, record.metadata) == (["travel"], 0.9, {"trip": "lisbon", "agent_role": "Planner"})
    stored = memory.get(record.id, user_id="alice")
    assert stored is not None and stored["metadata"] == {
        "categories": ["travel"], "importance": 0.9, "trip": "lisbon", "agent_role": "Planner"}
    [match] = alice.recall("window seat", limit=3)
    assert match.record == record and match.score > 0
    assert match.format().splitlines()[1:] == ["  categories: travel", "  trip: lisbon", "  agent_role: Planner"]


def test_remember_of_a_known_fact_returns_the_stored_one(llm_memory) -> None:
    mem = Mem7Memory(llm_memory, user_id="alice")  # mem7's loopback LLM: an identical fact is a NONE decision
    first = mem.remember("Alice likes jazz")
    again = mem.remember("Alice likes jazz")
    assert first is not None and again is not None and again.id == first.id
    assert texts(llm_memory, user_id="alice") == ["Alice likes jazz"]


def test_reset_and_reset_memories_delete_only_this_scope(alice, bob, memory, make_crew) -> None:
    alice.remember("Alice likes tea")
    bob.remember("Bob likes coffee")
    alice.reset()
    assert texts(memory, user_id="alice") == []
    assert texts(memory, user_id="bob") == ["Bob likes coffee"]

    crew = make_crew(bob)
    crew.reset_memories("memory")  # CrewAI calls reset_all(): this instance's scope, not the store
    assert texts(memory, user_id="bob") == []


def test_forget_by_criteria_deletes_only_the_matching_memories_of_this_scope(alice, bob, memory) -> None:
    tea = alice.remember("Alice likes tea", categories=["drinks"])
    alice.remember("Alice lives in Lisbon", categories=["places"], metadata={"source_doc": "cv"})
    bobs = bob.remember("Bob likes tea", categories=["drinks"])
    assert tea is not None and bobs is not None

    assert alice.forget(record_ids=[bobs.id]) == 0  # another scope's id: untouched
    assert texts(memory, user_id="bob") == ["Bob likes tea"]
    assert alice.forget(categories=["drinks"]) == 1
    assert texts(memory, user_id="alice") == ["Alice lives in Lisbon"]
    assert alice.forget(metadata_filter={"source_doc": "other"}) == 0
    assert alice.forget(older_than=datetime.now(UTC) - timedelta(days=1)) == 0
    assert alice.forget(older_than=datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert texts(memory, user_id="alice") == []
    assert texts(memory, user_id="bob") == ["Bob likes tea"]
    assert bob.forget() == 1 and texts(memory, user_id="bob") == []


def test_private_memories_are_recalled_only_by_their_source(alice) -> None:
    alice.remember("Alice's door code is 4711", private=True, source="session-1")
    alice.remember("Alice has a red door")
    assert [m.record.content for m in alice.recall("door")] == ["Alice has a red door"]
    seen = {m.record.content: m.record for m in alice.recall("door", source="session-1")}
    assert seen["Alice's door code is 4711"].private and seen["Alice's door code is 4711"].source == "session-1"
    assert len(alice.recall("door", include_private=True)) == 2
    assert [m.record.content for m in alice.recall("door", categories=["none-such"])] == []


def test_update_and_list_records(alice, memory) -> None:
    record = alice.remember("Alice works at Acme")
    alice.remember("Alice has two cats")
    assert record is not None
    updated = alice.update(record.id, content="Alice works at Initech", categories=["work"])
    assert (updated.content, updated.categories) == ("Alice works at Initech", ["work"])
    assert memory.get(record.id, user_id="alice")["memory"] == "Alice works at Initech"  # type: ignore[index]
    assert [r.content for r in alice.list_records()] == ["Alice has two cats", "Alice works at Initech"]
    assert [r.content for r in alice.list_records(limit=1, offset=1)] == ["Alice works at Initech"]
    with pytest.raises(ValueError, match="Record not found"):
        Mem7Memory(memory, user_id="bob").update(record.id, content="x")


def test_read_only_saves_nothing(memory) -> None:
    ro = Mem7Memory(memory, user_id="alice", read_only=True)
    assert ro.remember("Alice likes tea") is None
    assert ro.remember_many(["Alice likes tea"]) == []
    ro.drain_writes()
    assert texts(memory, user_id="alice") == []


def test_a_copy_shares_the_engine(alice) -> None:
    twin = copy.deepcopy(alice)
    assert twin.engine is alice.engine and twin.user_id == "alice"
    twin.remember("Alice likes tea")
    assert [m.record.content for m in alice.recall("tea")] == ["Alice likes tea"]


# ------------------------------------------------------------------------------------ errors
def test_misconfiguration_names_the_field_and_the_fix(memory) -> None:
    with pytest.raises(ValueError, match=r"no scope given; pass user_id="):
        Mem7Memory(memory)
    with pytest.raises(ValueError, match=r"user_id must be a non-empty string"):
        Mem7Memory(memory, user_id="  ")
    with pytest.raises(TypeError, match=r"memory must be a mem7 Memory \(sync\), got an AsyncMemory"):
        Mem7Memory(AsyncMemory.__new__(AsyncMemory), user_id="alice")
    with pytest.raises(TypeError, match=r"memory must be a mem7 Memory .*got dict"):
        Mem7Memory({"vector_store": {}}, user_id="alice")  # type: ignore[arg-type]
    for field in ("storage", "embedder", "llm", "root_scope"):
        with pytest.raises(ValueError, match=rf"{field}= is CrewAI's own memory pipeline"):
            Mem7Memory(memory, user_id="alice", **{field: "x"})
    with pytest.raises(ValueError, match=r"metadata key\(s\) \['user_id'\] are reserved by mem7"):
        Mem7Memory(memory, user_id="alice", metadata={"user_id": "bob"})


def test_scope_paths_and_bad_contents_are_refused_and_lose_nothing(alice, memory) -> None:
    alice.remember("Alice likes tea")
    with pytest.raises(ValueError, match=r"recall\(\): scope='/crew/x' is a CrewAI scope path; .*user_id"):
        alice.recall("tea", scope="/crew/x")
    with pytest.raises(ValueError, match=r"reset\(\): scope='/crew/x'"):
        alice.reset(scope="/crew/x")
    with pytest.raises(ValueError, match=r"remember\(\): root_scope='/crew/x'"):
        alice.remember("Alice likes coffee", root_scope="/crew/x")
    with pytest.raises(ValueError, match=r"contents must be non-empty strings"):
        alice.remember("   ")
    with pytest.raises(NotImplementedError, match=r"list_scopes\(\): CrewAI scope paths are not mapped"):
        alice.list_scopes()
    assert texts(memory, user_id="alice") == ["Alice likes tea"]
    assert [m.record.content for m in alice.recall("tea", scope="/")] == ["Alice likes tea"]


def test_list_records_is_newest_first_past_one_get_all_page(alice, memory) -> None:
    memory.add([{"role": "user", "content": f"old fact number {i}"} for i in range(230)], user_id="alice", infer=False)
    newest = alice.remember("Alice's newest fact")
    assert newest is not None
    assert [r.content for r in alice.list_records(limit=1)] == ["Alice's newest fact"]
    assert len(alice.list_records(limit=500)) == 231


def test_forget_by_ids_and_criteria_and_a_metadata_only_update(alice, memory) -> None:
    tea = alice.remember("Alice likes tea", categories=["drinks"])
    home = alice.remember("Alice lives in Lisbon", categories=["places"])
    assert tea is not None and home is not None
    moved = alice.update(home.id, metadata={"checked": True})
    assert (moved.content, moved.categories, moved.metadata) == ("Alice lives in Lisbon", ["places"], {"checked": True})
    assert alice.forget(record_ids=[tea.id, home.id], categories=["places"]) == 1
    assert texts(memory, user_id="alice") == ["Alice likes tea"]
