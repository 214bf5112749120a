"""Issue 15: every public method returns plain, JSON-serialisable dicts (or lists of them), with the
original mem7's key sets (always-present keys stay, ``None`` when unset) plus mem0's aliases
(``previous_memory`` on an UPDATE, ``actor_id`` / ``role`` on an ``infer=False`` ADD); the REST and
MCP shapes are unchanged (no ``None`` keys, no aliases)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest

import mem7_core
from mem7_core import results as R
from mem7_core.engine.memory import AsyncMemory
from mem7_core.engine.sync import Memory
from mem7_core.providers.tasks import FACT_EXTRACTION_MARKER, UPDATE_MEMORY_MARKER
from mem7_core.testing.fakes import ScriptedLLM, rule_based_reply

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
ITEM_KEYS = {
    "id", "memory", "text", "hash", "user_id", "agent_id", "run_id",
    "created_at", "updated_at", "last_accessed_at", "access_count",
}
ACTION_KEYS = {"id", "memory", "event", "action", "old_value", "new_value"}
HISTORY_KEYS = {"id", "memory_id", "old_memory", "new_memory", "event", "created_at", "updated_at", "is_deleted", "actor_id", "role"}


def _system(messages: Sequence[dict[str, Any]]) -> str:
    return next((m["content"] for m in messages if m.get("role") == "system" and isinstance(m.get("content"), str)), "")


def tea_llm() -> ScriptedLLM:
    """Extracts "I like green tea" and decides it UPDATEs candidate 0 ("I like tea")."""

    def reply(messages: Sequence[dict[str, Any]]) -> Any:
        system = _system(messages)
        if system.startswith(FACT_EXTRACTION_MARKER):
            return {"facts": [{"text": "I like green tea", "category": "preference"}]}
        if system.startswith(UPDATE_MEMORY_MARKER):
            return {"memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE", "old_memory": "I like tea"}]}
        return rule_based_reply(messages)

    return ScriptedLLM(reply)


def assert_plain(value: Any) -> None:
    """Only dicts (exactly), lists, str, int, float, bool and None, all the way down; JSON round-trips."""
    if isinstance(value, dict):
        assert type(value) is dict, type(value)
        for k, v in value.items():
            assert type(k) is str
            assert_plain(v)
    elif isinstance(value, list):
        assert type(value) is list
        for v in value:
            assert_plain(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)
    assert json.loads(json.dumps(value)) == value


def check_item(item: Any, *, scored: bool = False) -> None:
    assert type(item) is dict
    assert item.keys() >= ITEM_KEYS
    assert ("score" in item) is scored
    assert set(item) <= ITEM_KEYS | {"metadata", "score", "actor_id", "role", "memory_type"}
    assert item["memory"] == item["text"]
    for key in ("metadata", "score", "actor_id", "role", "memory_type"):
        if key in item:
            assert item[key] is not None, key  # optional keys appear only with a value


@pytest.fixture
async def mem():
    m = AsyncMemory(BASE, clock=lambda: NOW)
    yield m
    await m.aclose()


# ------------------------------------------------------------------------------ async, every method
async def test_every_async_method_returns_plain_json_dicts(mem: AsyncMemory) -> None:
    added = await mem.add([{"role": "user", "content": "I like tea", "name": "bob"}, "I own a bicycle"], user_id="u", infer=False)
    assert_plain(added)
    assert set(added) == {"results", "relations", "usage"} and added["relations"] == []  # usage: one embed call
    assert added["usage"]["calls"] == 1 and added["usage"]["models"][0]["texts"] == 2
    first, second = added["results"]
    assert set(first) == ACTION_KEYS | {"actor_id", "role"}
    assert (first["event"], first["action"], first["role"], first["actor_id"]) == ("ADD", "ADD", "user", "bob")
    assert first["old_value"] is None and first["new_value"] == first["memory"] == "I like tea"
    assert second["role"] == "user" and second["actor_id"] is None and "actor_id" in second  # mem0: always there
    assert "previous_memory" not in first
    tea = first["id"]

    found = await mem.search("tea", user_id="u")
    assert_plain(found)
    assert set(found) == {"results", "memories", "relations", "usage"} and found["results"] == found["memories"]
    for item in found["results"]:
        check_item(item, scored=True)
    top = found["results"][0]
    assert top["agent_id"] is None and top["run_id"] is None and top["last_accessed_at"] is None
    assert "agent_id" in top and "run_id" in top and "last_accessed_at" in top

    got = await mem.get(tea)
    assert_plain(got)
    check_item(got)
    assert got["role"] == "user" and got["actor_id"] == "bob" and "metadata" not in got
    assert set(got.keys()) >= {"agent_id", "run_id"} and got["agent_id"] is None
    assert dict(got.items())["memory"] == "I like tea"
    assert await mem.get("01900000-0000-7000-8000-000000000000") is None

    listed = await mem.get_all(user_id="u")
    assert_plain(listed)
    assert set(listed) == {"results", "memories"} and listed["results"] == listed["memories"]
    for item in listed["results"]:
        check_item(item)

    updated = await mem.update(tea, "I like green tea", metadata={"source": "chat", "nothing": None})
    assert_plain(updated)
    assert set(updated) == {"message", "usage"}  # the new text's embedding
    got = await mem.get(tea)
    assert got is not None and got["metadata"] == {"source": "chat", "nothing": None}

    events = await mem.history(tea)
    assert_plain(events)
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    for e in events:
        assert type(e) is dict and set(e) == HISTORY_KEYS
    assert events[0]["old_memory"] is None and "old_memory" in events[0]

    exported = await mem.export_memories(user_id="u")
    assert_plain(exported)
    for item in exported:
        check_item(item)

    imported = await mem.import_memories(exported, on_conflict="skip")
    assert_plain(imported)
    assert imported == {"imported": 0, "replaced": 0, "skipped": 2}
    assert await mem.import_memories([]) == {"imported": 0, "replaced": 0, "skipped": 0}

    deleted = await mem.delete(second["id"])
    assert_plain(deleted)
    assert set(deleted) == {"message"}
    all_deleted = await mem.delete_all(user_id="u")
    assert_plain(all_deleted)
    assert set(all_deleted) == {"message"}
    reset = await mem.reset()
    assert_plain(reset)
    assert set(reset) == {"message"}
    empty = await mem.add("   ", user_id="u")
    assert empty == {"results": [], "relations": []}


async def test_update_action_carries_previous_memory(mem: AsyncMemory) -> None:
    llm_mem = AsyncMemory(BASE, llm=tea_llm(), clock=lambda: NOW)
    try:
        tea = (await llm_mem.add("I like tea", user_id="u", infer=False))["results"][0]["id"]
        out = await llm_mem.add("I like green tea", user_id="u")
        assert_plain(out)
        (res,) = out["results"]
        assert set(res) == ACTION_KEYS | {"previous_memory"}
        assert res["event"] == res["action"] == "UPDATE" and res["id"] == tea
        assert res["previous_memory"] == res["old_value"] == "I like tea"
        assert res["memory"] == res["new_value"] == "I like green tea"
        assert "role" not in res  # inferred changes have no message role
    finally:
        await llm_mem.aclose()


async def test_inferred_add_of_a_new_fact_has_the_original_keys_only() -> None:
    m = AsyncMemory(BASE, llm=ScriptedLLM(rule_based_reply), clock=lambda: NOW)
    try:
        out = await m.add("I live in Lisbon", user_id="u")
        assert_plain(out)
        (res,) = out["results"]
        assert set(res) == ACTION_KEYS and res["event"] == "ADD" and res["old_value"] is None
    finally:
        await m.aclose()


# ------------------------------------------------------------------------------ the sync facade
def test_every_sync_method_returns_plain_json_dicts() -> None:
    with Memory(BASE) as m:
        added = m.add({"role": "assistant", "content": "The user likes tea"}, agent_id="a", infer=False)
        assert_plain(added)
        (res,) = added["results"]
        assert res["role"] == "assistant" and res["actor_id"] is None
        mem_id = res["id"]
        for value in (
            m.search("tea", agent_id="a"),
            m.get(mem_id),
            m.get_all(agent_id="a"),
            m.history(mem_id),
            m.export_memories(),
            m.import_memories(m.export_memories(), on_conflict="replace"),
            m.update(mem_id, "The user likes green tea"),
            m.delete(mem_id),
            m.delete_all(agent_id="a"),
            m.reset(),
        ):
            assert_plain(value)
            assert type(value) in (dict, list)
        assert m.get(mem_id) is None
        assert isinstance(m.search("tea", agent_id="a"), dict)


# ------------------------------------------------------------------------------ typing
def test_typed_dicts_are_exported_and_describe_the_keys() -> None:
    for name in set(R.__all__) - {"EventName"}:
        assert getattr(mem7_core, name) is getattr(R, name)
    assert set(get_type_hints(R.MemoryItem)) == ITEM_KEYS | {"metadata", "score", "actor_id", "role", "memory_type",
                                                         "score_parts", "score_steps"}
    assert R.MemoryItem.__required_keys__ == ITEM_KEYS
    assert R.MemoryAction.__required_keys__ == ACTION_KEYS
    assert R.MemoryAction.__optional_keys__ == {"previous_memory", "actor_id", "role"}
    assert R.HistoryEntry.__required_keys__ == HISTORY_KEYS
    assert R.AddResponse.__required_keys__ == {"results", "relations"}
    assert R.SearchResponse.__required_keys__ == {"results", "memories", "relations"}
    assert R.ListResponse.__required_keys__ == {"results", "memories"}
    assert R.ImportResponse.__required_keys__ == {"imported", "replaced", "skipped"}


# ------------------------------------------------------------------------------ REST and MCP shapes
def test_rest_shapes_drop_none_keys_and_mem0_aliases() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from mem7_core.config import MemoryConfig
    from mem7_core.server.rest import create_app

    app = create_app(MemoryConfig.model_validate(BASE), memory=AsyncMemory(BASE, llm=tea_llm(), clock=lambda: NOW))
    with TestClient(app) as client:
        r = client.post("/memories", json={"messages": "I like tea", "user_id": "u", "infer": False})
        assert r.status_code == 200, r.text
        (added,) = r.json()["results"]
        assert set(added) == {"id", "memory", "event", "action", "new_value"}  # as before: no None keys, no role
        r = client.post("/memories", json={"messages": "I like green tea", "user_id": "u"})
        assert r.status_code == 200, r.text
        (changed,) = r.json()["results"]
        assert changed["event"] == "UPDATE" and "previous_memory" not in changed and changed["old_value"] == "I like tea"
        r = client.get(f"/memories/{added['id']}")
        assert r.status_code == 200, r.text
        assert "agent_id" not in r.json() and "score" not in r.json() and r.json()["user_id"] == "u"
        r = client.get(f"/memories/{added['id']}/history")
        assert [e["event"] for e in r.json()] == ["ADD", "UPDATE"] and all("actor_id" not in e for e in r.json())
        r = client.post("/memories/search", json={"query": "tea", "user_id": "u"})
        assert set(r.json()) == {"results", "memories", "relations", "usage"} and "run_id" not in r.json()["results"][0]
        r = client.get("/memories", params={"user_id": "u"})
        assert set(r.json()) == {"results", "memories"}
