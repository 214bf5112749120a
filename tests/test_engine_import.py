"""``import_memories`` / ``export_memories``: restoring memories verbatim through the public API.

Real engines (hash embedder, flat store, SQLite history); every test checks store and history
agree with the reliability kit's ``assert_consistent``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mem7_core import MemoryConflictError
from mem7_core.engine.memory import AsyncMemory
from mem7_core.engine.sync import Memory
from mem7_core.errors import ProviderError
from mem7_core.models import VectorRecord
from mem7_core.testing.fakes import HashEmbedder
from mem7_flat import FlatVectorStore

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
from _kit import assert_consistent, history_rows

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


@pytest.fixture
async def make():
    engines: list[AsyncMemory] = []

    def _make(*, now: datetime = NOW, **kwargs: Any) -> AsyncMemory:
        mem = AsyncMemory(BASE, clock=kwargs.pop("clock", lambda: now), **kwargs)
        engines.append(mem)
        return mem

    yield _make
    for mem in engines:
        await mem.aclose()


async def _seed(mem: AsyncMemory) -> None:
    """Memories in three scopes, one updated with metadata, one searched (access counters)."""
    await mem.add("I prefer window seats", user_id="alice", infer=False)
    await mem.add("Bob flies on Mondays", user_id="bob", agent_id="travel", infer=False, metadata={"k": [1, 2]})
    await mem.add("Session note: wants a refund", run_id="r1", infer=False, memory_type="episodic")
    [window] = (await mem.get_all(user_id="alice"))["results"]
    await mem.update(window["id"], "I prefer aisle seats", metadata={"topic": "travel"})


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if v is not None} for i in items]


async def test_round_trip_keeps_ids_scope_metadata_and_timestamps(make):
    source = make()
    await _seed(source)
    exported = await source.export_memories()
    assert len(exported) == 3

    target = make(now=LATER)  # restored later: the memories' own times are kept, history dated by them
    result = await target.import_memories(_dicts(exported))
    assert (result["imported"], result["replaced"], result["skipped"]) == (3, 0, 0)
    assert _dicts(await target.export_memories()) == _dicts(exported)
    # Items as get_all returns them (models, not dicts) are accepted too.
    third = make()
    assert (await third.import_memories(exported))["imported"] == 3
    assert _dicts(await third.export_memories()) == _dicts(exported)

    await assert_consistent(target)
    for item in exported:  # one ADD each, dated when it happened (the memory keeps its own created_at)
        [event] = await target.history(item["id"])
        assert (event["event"], event["new_memory"], event["created_at"]) == ("ADD", item["memory"], LATER.isoformat())
    # Restored memories are searchable in their scope only (the keyword index included).
    hits = (await target.search("aisle seats", user_id="alice"))["results"]
    assert hits and hits[0]["memory"] == "I prefer aisle seats" and hits[0]["metadata"] == {"topic": "travel"}
    assert not [h for h in (await target.search("aisle seats", user_id="bob"))["results"] if h["memory"] == "I prefer aisle seats"]


async def test_export_of_one_scope_and_of_everything(make):
    mem = make()
    await _seed(mem)
    assert [i["memory"] for i in await mem.export_memories(user_id="bob")] == ["Bob flies on Mondays"]
    assert [i["memory"] for i in await mem.export_memories(run_id="r1")] == ["Session note: wants a refund"]
    assert len(await mem.export_memories()) == 3


async def test_missing_id_and_created_at_are_made(make):
    mem = make()
    result = await mem.import_memories([{"memory": "Likes tea", "user_id": "u"}])
    assert result["imported"] == 1
    [item] = (await mem.get_all(user_id="u"))["results"]
    assert item["created_at"] == item["updated_at"] == NOW.isoformat()
    assert len(item["id"]) == 36
    await assert_consistent(mem)


async def test_on_conflict_skip_leaves_stored_memories_alone(make):
    embedder = HashEmbedder()
    mem = make(embedder=embedder)
    await mem.import_memories([{"id": "m-1", "memory": "original", "user_id": "u"}])
    result = await mem.import_memories(
        [{"id": "m-1", "memory": "changed", "user_id": "u"}, {"id": "m-2", "memory": "new one", "user_id": "u"}]
    )
    assert (result["imported"], result["replaced"], result["skipped"]) == (1, 0, 1)
    assert embedder.calls[-1] == ["new one"]  # a skipped item is not even embedded
    assert (await mem.get("m-1"))["memory"] == "original"
    assert [e["event"] for e in await mem.history("m-1")] == ["ADD"]
    await assert_consistent(mem)


async def test_on_conflict_replace_overwrites_and_records_an_update(make):
    mem = make()
    await mem.import_memories([{"id": "m-1", "memory": "lives in Porto", "user_id": "alice"}])
    assert (await mem.search("Porto", user_id="alice"))["results"]  # builds alice's keyword index first
    result = await mem.import_memories(
        [{"id": "m-1", "memory": "lives in Lisbon", "user_id": "bob", "metadata": {"src": "backup"}}],
        on_conflict="replace",
    )
    assert (result["imported"], result["replaced"], result["skipped"]) == (0, 1, 0)
    item = await mem.get("m-1")
    assert (item["memory"], item["user_id"], item["metadata"]) == ("lives in Lisbon", "bob", {"src": "backup"})
    events = await mem.history("m-1")
    assert [(e["event"], e["old_memory"], e["new_memory"]) for e in events] == [
        ("ADD", None, "lives in Porto"), ("UPDATE", "lives in Porto", "lives in Lisbon")
    ]
    # Moved scope: alice (whose index was built before) no longer finds it, bob does.
    assert not (await mem.search("Lisbon Porto", user_id="alice"))["results"]
    assert [h["id"] for h in (await mem.search("Lisbon", user_id="bob"))["results"]] == ["m-1"]
    await assert_consistent(mem)


async def test_on_conflict_error_writes_nothing(make):
    mem = make()
    await mem.import_memories([{"id": "m-1", "memory": "original", "user_id": "u"}])
    with pytest.raises(MemoryConflictError, match=r"m-1") as info:
        await mem.import_memories(
            [{"id": "m-2", "memory": "would be new", "user_id": "u"}, {"id": "m-1", "memory": "x", "user_id": "u"}],
            on_conflict="error",
        )
    assert info.value.ids == ["m-1"]
    assert info.value.written == 0 and "nothing was written" in str(info.value)
    assert await mem.get("m-2") is None and (await mem.get("m-1"))["memory"] == "original"
    assert len(await history_rows(mem)) == 1


async def test_a_conflict_half_way_says_what_earlier_batches_wrote(make):
    """The ids are checked before the first batch; a concurrent writer storing one of them while
    the import runs stops it at that batch, and the error says the earlier batches were written."""

    class Racing(HashEmbedder):
        calls = 0

        async def embed(self, texts: Any, *, purpose: Any = "add") -> list[list[float]]:
            Racing.calls += 1
            if Racing.calls == 2:  # the second batch's embedding: another writer stores m-3 meanwhile
                await other.import_memories([{"id": "m-3", "memory": "stored meanwhile", "user_id": "u"}])
            return await super().embed(texts, purpose=purpose)

    mem = make(embedder=Racing(HashEmbedder.Config(dims=16)))
    other = mem
    items = [{"id": f"m-{i}", "memory": f"note {i}", "user_id": "u"} for i in range(4)]
    with pytest.raises(MemoryConflictError) as info:
        await mem.import_memories(items, on_conflict="error", batch_size=2)
    assert info.value.ids == ["m-3"] and info.value.written == 2
    assert "nothing of this batch was written (2 memories of earlier batches were)" in str(info.value)
    assert [(await mem.get(f"m-{i}") or {}).get("memory") for i in range(4)] == [
        "note 0", "note 1", None, "stored meanwhile"
    ]
    await assert_consistent(mem)


async def test_bad_items_are_named_by_index_and_field_and_nothing_is_written(make):
    mem = make()
    with pytest.raises(ValueError) as info:
        await mem.import_memories([
            {"memory": "fine", "user_id": "u"},
            {"memory": "", "user_id": "u"},
            {"memory": "no scope"},
            {"memory": "typo", "user_id": "u", "metdata": {}},
            {"memory": "reserved", "user_id": "u", "metadata": {"run_id": "x"}},
            {"memory": "bad time", "user_id": "u", "created_at": "yesterday"},
            {"memory": "bad count", "user_id": "u", "access_count": -1},
            {"memory": "bad type", "user_id": "u", "memory_type": "dream"},
            "not a dict",
            {"id": "dup", "memory": "a", "user_id": "u"},
            {"id": "dup", "memory": "b", "user_id": "u"},
        ])
    message = str(info.value)
    for expected in (
        "items[1].memory:", "items[2]: no scope", "items[3].metdata:", "items[4].metadata:", "'run_id' is reserved",
        "items[5].created_at: Value error, must be an ISO-8601", "items[6].access_count:", "items[7].memory_type:",
        "items[8]: must be a dict", "items[10].id: 'dup' is also items[9]",
    ):
        assert expected in message, expected
    assert "items[0]" not in message and "items[9]:" not in message
    assert await mem.export_memories() == [] and await history_rows(mem) == []


@pytest.mark.parametrize("kwargs, field", [({"on_conflict": "merge"}, "on_conflict"), ({"batch_size": 0}, "batch_size")])
async def test_bad_options_are_named(make, kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        await make().import_memories([{"memory": "x", "user_id": "u"}], **kwargs)
    with pytest.raises(ValueError, match="items must be a list"):
        await make().import_memories({"memory": "x", "user_id": "u"})


async def test_one_embedding_call_per_batch(make):
    embedder = HashEmbedder()
    mem = make(embedder=embedder)
    items = [{"memory": f"fact number {i}", "user_id": f"u{i % 3}"} for i in range(10)]
    result = await mem.import_memories(items, batch_size=4)
    assert result["imported"] == 10
    assert [len(batch) for batch in embedder.calls] == [4, 4, 2]
    await assert_consistent(mem)


class FailingInsertStore(FlatVectorStore):
    """A flat store whose ``fail_on``-th insert call raises (a store outage mid-import)."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.inserts = 0

    async def insert(self, records: list[VectorRecord]) -> None:
        self.inserts += 1
        if self.inserts == self.fail_on:
            raise ProviderError("flat", "disk full")
        await super().insert(records)


async def test_a_failing_batch_is_undone_whole_and_earlier_batches_stay(make):
    store = FailingInsertStore(fail_on=2)
    mem = make(vector_store=store)
    items = [{"id": f"m-{i}", "memory": f"fact {i}", "user_id": "alice" if i % 2 else "bob"} for i in range(6)]
    with pytest.raises(ProviderError, match="disk full"):
        await mem.import_memories(items, batch_size=3)
    assert sorted(i["id"] for i in await mem.export_memories()) == ["m-0", "m-1", "m-2"]
    assert sorted(r[1] for r in await history_rows(mem)) == ["m-0", "m-1", "m-2"]
    await assert_consistent(mem)
    # Importing again completes it; the first batch is skipped, not duplicated.
    result = await mem.import_memories(items, batch_size=3)
    assert (result["imported"], result["skipped"]) == (3, 3)
    await assert_consistent(mem)


async def test_tenants_stay_apart(make):
    mem = make()
    await mem.import_memories([
        {"memory": "alice's secret plan", "user_id": "alice"},
        {"memory": "bob's secret plan", "user_id": "bob"},
        {"memory": "bob's agent plan", "user_id": "bob", "agent_id": "a1"},
    ])
    assert [i["memory"] for i in (await mem.get_all(user_id="alice"))["results"]] == ["alice's secret plan"]
    assert sorted(i["memory"] for i in (await mem.get_all(user_id="bob"))["results"]) == ["bob's agent plan", "bob's secret plan"]
    assert [i["memory"] for i in (await mem.get_all(agent_id="a1"))["results"]] == ["bob's agent plan"]
    hits = (await mem.search("secret plan", user_id="alice"))["results"]
    assert [h["user_id"] for h in hits] == ["alice"]


def test_sync_facade():
    with Memory(BASE) as m:
        m.add("Loves hiking", user_id="u", infer=False)
        exported = m.export_memories(user_id="u")
        with Memory(BASE) as other:
            result = other.import_memories(exported, on_conflict="error")
            assert result["imported"] == 1
            assert _dicts(other.export_memories()) == _dicts(exported)
            assert other.import_memories(exported)["skipped"] == 1


async def test_concurrent_imports_updates_and_deletes_keep_store_and_history_agreeing(make):
    import asyncio

    mem = make()
    ids = [f"c-{i}" for i in range(8)]
    kept = [i for i in ids if i != ids[1]]  # a deleted id imported again comes back: another test
    await mem.import_memories([{"id": i, "memory": f"{i} v0", "user_id": "alice"} for i in ids])

    async def replace(version: int, user: str) -> None:
        await mem.import_memories([{"id": i, "memory": f"{i} v{version}", "user_id": user} for i in kept], on_conflict="replace")

    async def delete(memory_id: str) -> None:
        try:
            await mem.delete(memory_id)
        except KeyError:  # MemoryNotFoundError: deleted by the other task first
            pass

    await asyncio.gather(
        replace(1, "bob"), replace(2, "alice"), mem.update(ids[0], "edited"), delete(ids[1]), delete(ids[1]),
        mem.import_memories([{"id": i, "memory": "skip me", "user_id": "carol"} for i in kept]),
    )
    await assert_consistent(mem)
    stored = {i["id"]: i for i in await mem.export_memories()}
    assert ids[1] not in stored and sorted(stored) == sorted(kept)
    assert all(i["user_id"] in {"alice", "bob"} and i["memory"] != "skip me" for i in stored.values())


async def test_restoring_a_deleted_memory_continues_its_history(make):
    """The backup use: a memory deleted by mistake comes back with its id; its history reads in order."""
    mem = make()
    await mem.add("Allergic to nuts", user_id="u", infer=False)
    [backup] = await mem.export_memories(user_id="u")
    await mem.delete(backup["id"])
    assert (await mem.import_memories([backup]))["imported"] == 1
    assert _dicts([await mem.get(backup["id"])]) == _dicts([backup])
    assert [e["event"] for e in await mem.history(backup["id"])] == ["ADD", "DELETE", "ADD"]
