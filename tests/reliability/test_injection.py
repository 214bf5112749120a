"""Group 6 — injection: scope ids, memory ids, memory text, metadata keys and filter values carrying
quotes, backticks, semicolons, SQL, Cypher, and the filter syntax of the stores mem7 talks to
(Upstash/Redis-style expressions, Qdrant/Mongo-style operators, LIKE wildcards, regex) are stored
and matched literally, through the engine, with a neighbouring tenant that must never be touched.

The tests run once per vector store in ``_stores.STORES`` (flat, qdrant, upstash, pgvector, each on
a real backend); a new provider adds one entry there and gets the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _kit import assert_consistent, history_rows
from _stores import STORES

from mem7_core import AsyncMemory
from mem7_core.errors import MemoryNotFoundError
from mem7_core.models import RESERVED_PAYLOAD_KEYS

HOSTILE = [
    "o'brien",
    'say "hi"',
    "`rm -rf /`",
    "a;b;c",
    "'; DROP TABLE history; --",
    "\" OR 1=1 --",
    "1' OR '1'='1",
    "alice') OR ('a'='a",
    "MATCH (n) DETACH DELETE n //",
    "bob'}) RETURN n //",
    "user_id = 'bob' OR user_id != ''",
    "metadata.owner GLOB '*'",
    "{\"$ne\": null}",
    "$where: 1",
    "%",
    "_",
    "b_b",
    "*",
    ".*",
    "[a-z]+",
    "\\",
    "line\nbreak",
    "tab\tand nul-free \u00e9\u00e8 \u4e2d\u6587 \U0001f600",
    "  padded  ",
]
IDS = [f"h{i}" for i in range(len(HOSTILE))]
HOSTILE_KEYS = [h for h in HOSTILE if h.strip() and h not in RESERVED_PAYLOAD_KEYS and h not in ("AND", "OR", "NOT")]


@pytest.fixture(params=list(STORES))
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return STORES[request.param](tmp_path, request)


def _config(store_section: dict[str, Any], history: str = ":memory:") -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": store_section,
        "history_store": {"provider": "sqlite", "config": {"path": history}},
    }


@pytest.fixture
async def mem(store_section: dict[str, Any]):
    engine = AsyncMemory(_config(store_section))
    # The neighbour: ordinary data that no hostile string may reach.
    for user in ("bob", "b0b", "alice"):
        await engine.add(f"{user} likes green tea", user_id=user, infer=False, metadata={"owner": user, "tag": "plain"})
    yield engine
    await engine.aclose()


async def _neighbours(mem: AsyncMemory) -> list[Any]:
    return [(await mem.get_all(user_id=u))["results"] for u in ("bob", "b0b", "alice")]


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
async def test_hostile_scope_ids_are_literal(mem, value):
    before = await _neighbours(mem)
    out = await mem.add("hostile user likes green tea", user_id=value, agent_id=value, run_id=value, infer=False)
    mem_id = out["results"][0]["id"]
    for scope in ({"user_id": value}, {"agent_id": value}, {"run_id": value}, {"user_id": value, "run_id": value}):
        listed = (await mem.get_all(**scope))["results"]
        assert [i["id"] for i in listed] == [mem_id]
        found = (await mem.search("likes green tea", **scope))["results"]
        assert [i["id"] for i in found] == [mem_id]
        assert (listed[0]["user_id"], listed[0]["agent_id"], listed[0]["run_id"]) == (value, value, value)
    assert (await mem.get(mem_id, user_id=value))["memory"] == "hostile user likes green tea"
    assert await mem.get(mem_id, user_id="bob") is None
    await mem.update(mem_id, "hostile user likes black tea", user_id=value)
    assert (await mem.delete_all(user_id=value))["message"] == "Deleted 1 memory"
    assert await _neighbours(mem) == before
    await assert_consistent(mem)


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
async def test_hostile_text_round_trips_through_store_and_history(mem, value):
    text = f"note: {value} :end"  # (verbatim text is stripped at its ends, by design)
    mem_id = (await mem.add(text, user_id="eve", infer=False))["results"][0]["id"]
    assert (await mem.get(mem_id))["memory"] == text
    assert (await mem.search(text, user_id="eve", limit=1))["results"][0]["memory"] == text
    await mem.update(mem_id, text + " (edited)")
    hist = await mem.history(mem_id)
    assert [(e["old_memory"], e["new_memory"]) for e in hist] == [(None, text), (text, text + " (edited)")]
    await mem.delete(mem_id)
    assert await mem.get(mem_id) is None
    await assert_consistent(mem)


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=[IDS[HOSTILE.index(k)] for k in HOSTILE_KEYS])
async def test_hostile_metadata_keys_and_values_are_stored_and_filtered_literally(mem, key):
    value = key[::-1] + "'\";"
    mem_id = (await mem.add("eve likes green tea", user_id="eve", infer=False, metadata={key: value, "tag": "x"}))["results"][0]["id"]
    other = (await mem.add("eve likes black tea", user_id="eve", infer=False, metadata={key: "plain", "tag": "x"}))["results"][0]["id"]
    item = await mem.get(mem_id)
    assert item["metadata"] == {key: value, "tag": "x"}
    for filters in ({key: value}, {key: {"eq": value}}, {key: {"in": [value]}}, {key: {"contains": value}},
                    {"AND": [{key: value}, {"tag": "x"}]}, {"NOT": [{key: "plain"}]}):
        for result in (await mem.get_all(user_id="eve", filters=filters), await mem.search("tea", user_id="eve", filters=filters)):
            assert [i["id"] for i in result["results"]] == [mem_id], filters
    assert [i["id"] for i in (await mem.get_all(user_id="eve", filters={key: {"ne": value}}))["results"]] == [other]
    assert [i["id"] for i in (await mem.get_all(user_id="eve", filters={key: "*"}))["results"]] == [mem_id, other]
    # the neighbours have no such key: a hostile key never matches them, even with ne / nin
    assert (await mem.get_all(user_id="bob", filters={key: value}))["results"] == []


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
async def test_hostile_filter_values_match_only_literally(mem, value):
    await mem.add("eve likes green tea", user_id="eve", infer=False, metadata={"owner": "eve", "tag": "plain"})
    forms = [{"owner": {"eq": value}}, {"owner": {"in": [value, value]}}, {"owner": {"contains": value}},
             {"tag": {"icontains": value}}, {"OR": [{"owner": {"eq": value}}, {"tag": {"eq": value}}]}]
    if value != "*":  # a plain "*" is the documented "key present" test (spec §7); {"eq": "*"} is literal
        forms += [{"owner": value}, {"OR": [{"owner": value}, {"tag": value}]}]
    for filters in forms:
        for user in ("bob", "eve"):
            got = (await mem.get_all(user_id=user, filters=filters))["results"]
            assert got == [], f"{filters} matched {[i['metadata'] for i in got]}"
            assert (await mem.search("green tea", user_id=user, filters=filters))["results"] == []
    assert len((await mem.get_all(user_id="eve", filters={"owner": {"nin": [value]}}))["results"]) == 1


@pytest.mark.parametrize("value", [*HOSTILE, "01a20000-0000-7000-8000-000000000000' OR '1'='1"], ids=[*IDS, "uuid-sql"])
async def test_hostile_memory_ids_find_nothing_and_change_nothing(mem, value):
    before, hist = await _neighbours(mem), await history_rows(mem)
    assert await mem.get(value) is None
    with pytest.raises(MemoryNotFoundError):
        await mem.update(value, "changed")
    with pytest.raises(MemoryNotFoundError):
        await mem.delete(value)
    assert await mem.history(value) == [] if value.strip() else True
    assert await _neighbours(mem) == before and await history_rows(mem) == hist


async def test_hostile_strings_survive_a_restart(store_section, tmp_path):
    cfg = _config(store_section, str(tmp_path / "history.db"))
    ids = {}
    async with AsyncMemory(cfg) as mem:
        await mem.add("bob likes green tea", user_id="bob", infer=False)
        for i, value in enumerate(HOSTILE):
            out = await mem.add(f"note {i}: {value}", user_id=value, infer=False, metadata={"v": value})
            ids[out["results"][0]["id"]] = value
    async with AsyncMemory(cfg) as again:
        for mem_id, value in ids.items():
            item = await again.get(mem_id, user_id=value)
            assert item is not None and item["user_id"] == value and item["metadata"] == {"v": value}
        assert len((await again.get_all(user_id="bob"))["results"]) == 1
        await assert_consistent(again)
