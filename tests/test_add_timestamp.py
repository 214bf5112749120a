"""``add(..., timestamp=...)`` (issue #18): the stated time of a memory, for importing conversations
that happened before they were added. The accepted forms and their refusals; what the write path
dates by it (new memories, updates, deletes, the prompts' "today", graph relations); history keeping
both times; decay measuring age from it; imports keeping their own times. Fast: hash embedder, flat
store, in-memory SQLite history, scripted LLM, an injected clock."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mem7_core.cli import main
from mem7_core.engine.memory import AsyncMemory
from mem7_core.engine.sync import Memory
from mem7_core.ids import iso, parse_instant
from mem7_core.models import Scope
from mem7_core.providers.tasks import (
    EXTRACT_AND_UPDATE_MARKER,
    FACT_EXTRACTION_MARKER,
    GRAPH_EXTRACTION_MARKER,
    UPDATE_MEMORY_MARKER,
)
from mem7_core.testing.fakes import ScriptedLLM, rule_based_reply

NOW = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
"""The engine's (injected) wall clock."""
SAID = "2023-05-08T13:56:00"
SAID_AT = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


@pytest.fixture
async def make():
    """Factory for engines on BASE with the clock at NOW; closed after the test."""
    engines: list[AsyncMemory] = []

    def _make(llm: Any = None, **config: Any) -> AsyncMemory:
        mem = AsyncMemory({**BASE, **config}, llm=llm, clock=lambda: NOW)
        engines.append(mem)
        return mem

    yield _make
    for mem in engines:
        await mem.aclose()


def system_of(messages: Sequence[dict[str, Any]]) -> str:
    return next((m["content"] for m in messages if m.get("role") == "system" and isinstance(m["content"], str)), "")


def routed(**answers: Any) -> Callable[[Sequence[dict[str, Any]]], Any]:
    """Answers per task marker (``facts``, ``decide``, ``one_call``, ``graph``); rule-based otherwise."""
    markers = {
        "facts": FACT_EXTRACTION_MARKER,
        "decide": UPDATE_MEMORY_MARKER,
        "one_call": EXTRACT_AND_UPDATE_MARKER,
        "graph": GRAPH_EXTRACTION_MARKER,
    }

    def reply(messages: Sequence[dict[str, Any]]) -> Any:
        system = system_of(messages)
        for key, answer in answers.items():
            if system.startswith(markers[key]):
                return answer
        return rule_based_reply(messages)

    return reply


def by_text(listed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["memory"]: i for i in listed["results"]}


# ============================================================================ the accepted forms
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (SAID_AT, SAID_AT),  # aware
        (datetime(2023, 5, 8, 15, 56, tzinfo=timezone(timedelta(hours=2))), SAID_AT),  # another offset
        (datetime(2023, 5, 8, 13, 56), SAID_AT),  # naive: UTC
        (SAID, SAID_AT),  # ISO-8601 without offset: UTC
        ("2023-05-08T13:56:00Z", SAID_AT),
        ("2023-05-08T08:56:00-05:00", SAID_AT),
        ("2023-05-08", datetime(2023, 5, 8, tzinfo=UTC)),  # date only: midnight UTC
        (date(2023, 5, 8), datetime(2023, 5, 8, tzinfo=UTC)),
        (1683554160, SAID_AT),  # Unix epoch seconds
        (1683554160.5, SAID_AT + timedelta(milliseconds=500)),
    ],
)
async def test_each_accepted_form_dates_the_memory(make, given, expected):
    mem = make()
    out = await mem.add("I moved to Paris", user_id="u", infer=False, timestamp=given)
    item = await mem.get(out["results"][0]["id"])
    assert item is not None
    assert item["created_at"] == item["updated_at"] == iso(expected)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (1683554160000, "looks like milliseconds since the epoch; divide by 1000"),
        (1683554160000.0, "looks like milliseconds since the epoch; divide by 1000"),
        ("May 8th 2023", "ISO-8601"),
        ("", "ISO-8601"),
        ("2023-13-45", "ISO-8601"),
        (True, "ISO-8601"),  # a bool is no epoch
        (float("nan"), "ISO-8601"),
        ([2023, 5, 8], "ISO-8601"),
    ],
)
async def test_bad_timestamps_are_refused_before_anything_is_written(make, given, says):
    llm = ScriptedLLM()
    mem = make(llm)
    for infer in (False, True):
        with pytest.raises(ValueError, match="timestamp") as err:
            await mem.add("I moved to Paris", user_id="u", infer=infer, timestamp=given)
        assert says in str(err.value)
    assert (await mem.get_all(user_id="u"))["results"] == []
    assert llm.calls == []


def test_parse_instant_is_the_one_parser():
    assert parse_instant(SAID, "timestamp") == SAID_AT
    with pytest.raises(ValueError, match=r"^when 1683554160000 looks like milliseconds"):
        parse_instant(1683554160000, "when")
    assert parse_instant(99_999_999_999, "t").year == 5138  # just below the milliseconds floor: seconds


# ============================================================================ infer=False
async def test_verbatim_add_dates_memories_and_history_keeps_both_times(make):
    mem = make()
    out = await mem.add(
        [{"role": "user", "content": "I moved to Paris"}, {"role": "assistant", "content": "Nice!"}],
        user_id="u",
        infer=False,
        timestamp=SAID,
    )
    for r in out["results"]:
        item = await mem.get(r["id"])
        assert item is not None and item["created_at"] == item["updated_at"] == iso(SAID_AT)
        (ev,) = await mem.history(r["id"])
        assert ev["created_at"] == iso(NOW)  # when it was written
        assert ev["stated_at"] == iso(SAID_AT)  # when it says it happened


async def test_without_timestamp_nothing_changes(make):
    mem = make()
    out = await mem.add("I moved to Paris", user_id="u", infer=False)
    item = await mem.get(out["results"][0]["id"])
    assert item is not None and item["created_at"] == iso(NOW)
    (ev,) = await mem.history(out["results"][0]["id"])
    assert "stated_at" not in ev  # the spec's history shape, unchanged for mem0-style consumers


# ============================================================================ infer=True
async def test_inferred_add_update_and_delete_take_the_stated_time(make):
    llm = ScriptedLLM(
        routed(
            facts={"facts": [{"text": "Lives in Paris", "category": "factual"},
                             {"text": "Works at Acme", "category": "factual"}]},
            decide={"memory": [
                {"id": "0", "text": "Lives in Paris", "event": "UPDATE"},
                {"id": "1", "text": "Has a cat", "event": "DELETE"},
                {"id": "2", "text": "Works at Acme", "event": "ADD"},
            ]},
        )
    )
    mem = make(llm)
    lives = (await mem.add("Lives in Lyon", user_id="u", infer=False))["results"][0]["id"]
    cat = (await mem.add("Has a cat", user_id="u", infer=False))["results"][0]["id"]
    out = await mem.add("I moved to Paris; I work at Acme now and gave my cat away", user_id="u", timestamp=SAID)
    assert sorted(r["event"] for r in out["results"]) == ["ADD", "DELETE", "UPDATE"]
    # The LLM's "today" is the stated date, so "yesterday" resolves against it.
    (extraction,) = llm.calls_for(FACT_EXTRACTION_MARKER)
    assert "Today's date is 2023-05-08." in system_of(extraction["messages"])
    assert NOW.date().isoformat() not in system_of(extraction["messages"])
    items = by_text(await mem.get_all(user_id="u"))
    assert items["Lives in Paris"]["id"] == lives
    assert items["Lives in Paris"]["created_at"] == iso(NOW)  # kept
    assert items["Lives in Paris"]["updated_at"] == iso(SAID_AT)
    assert items["Works at Acme"]["created_at"] == items["Works at Acme"]["updated_at"] == iso(SAID_AT)
    assert "Has a cat" not in items
    for mem_id, kind in ((lives, "UPDATE"), (cat, "DELETE"), (items["Works at Acme"]["id"], "ADD")):
        ev = (await mem.history(mem_id))[-1]
        assert (ev["event"], ev["created_at"], ev["stated_at"]) == (kind, iso(NOW), iso(SAID_AT))


async def test_one_call_mode_dates_by_the_stated_time(make):
    llm = ScriptedLLM(routed(one_call={"facts": [{"text": "Lives in Paris", "category": "factual"}], "memory": []}))
    mem = make(llm, add_mode="one_call")
    out = await mem.add("I moved to Paris yesterday", user_id="u", timestamp="2023-05-08")
    (call,) = llm.calls
    assert "Today's date is 2023-05-08." in system_of(call["messages"])
    item = await mem.get(out["results"][0]["id"])
    assert item is not None and item["created_at"] == "2023-05-08T00:00:00+00:00"


async def test_a_custom_prompt_gets_the_stated_date_as_today(make):
    llm = ScriptedLLM(routed(facts={"facts": []}))
    mem = make(llm, custom_fact_extraction_prompt="Extract facts. Today is {today}.")
    await mem.add("I moved to Paris yesterday", user_id="u", timestamp=SAID_AT)
    (call,) = llm.calls_for(FACT_EXTRACTION_MARKER)
    assert "Today is 2023-05-08." in system_of(call["messages"])


def test_the_sync_memory_takes_timestamp():
    with Memory(BASE) as mem:
        out = mem.add("I moved to Paris", user_id="u", infer=False, timestamp=1683554160)
        item = mem.get(out["results"][0]["id"])
        assert item is not None and item["created_at"] == iso(SAID_AT)


# ============================================================================ graph
async def test_graph_relations_of_the_add_get_the_stated_time(make):
    llm = ScriptedLLM(routed(graph={
        "entities": [{"name": "I", "type": "person"}, {"name": "Paris", "type": "location"}],
        "relations": [{"source": "I", "relationship": "lives in", "destination": "Paris"}],
    }))
    mem = make(llm, graph_store={"provider": "flat"})
    await mem.add("I live in Paris", user_id="alice", infer=False, timestamp=SAID)
    assert mem.graph_store is not None
    (rel,) = await mem.graph_store.get_all(Scope(user_id="alice"))
    assert rel.triple == ("alice", "lives_in", "paris")
    assert rel.created_at == rel.updated_at == iso(SAID_AT)


# ============================================================================ decay
async def test_decay_measures_age_from_the_stated_time(make):
    mem = make(decay={"enabled": True}, retrieval={"mode": "dense"})
    old = (await mem.add("I enjoy hiking", user_id="u", infer=False, timestamp=NOW - timedelta(days=60)))
    fresh = await mem.add("I enjoy hiking", user_id="u", infer=False)
    hits = (await mem.search("I enjoy hiking", user_id="u"))["results"]
    assert [h["id"] for h in hits] == [fresh["results"][0]["id"], old["results"][0]["id"]]
    assert hits[1]["score"] < 0.5 * hits[0]["score"]  # same text, same similarity: only its age differs
    await mem.drain()


# ============================================================================ import
async def test_import_keeps_its_own_times_on_reimport_and_decay_measures_from_them(make):
    mem = make(decay={"enabled": True}, retrieval={"mode": "dense"})
    old = {"id": "01890000-0000-7000-8000-000000000001", "memory": "I enjoy hiking", "user_id": "u",
           "created_at": "2023-05-08T13:56:00", "updated_at": "2023-06-01T00:00:00+00:00"}
    assert (await mem.import_memories([old]))["imported"] == 1
    exported = await mem.export_memories(user_id="u")
    assert [(i["created_at"], i["updated_at"]) for i in exported] == [
        ("2023-05-08T13:56:00+00:00", "2023-06-01T00:00:00+00:00")
    ]
    await mem.reset()
    assert (await mem.import_memories(exported))["imported"] == 1  # the export, imported again
    again = await mem.import_memories(exported, on_conflict="replace")
    assert again["replaced"] == 1
    item = await mem.get(old["id"])
    assert item is not None
    assert (item["created_at"], item["updated_at"]) == ("2023-05-08T13:56:00+00:00", "2023-06-01T00:00:00+00:00")
    fresh = (await mem.add("I enjoy hiking", user_id="u", infer=False))["results"][0]["id"]
    hits = (await mem.search("I enjoy hiking", user_id="u"))["results"]
    assert [h["id"] for h in hits] == [fresh, old["id"]]
    assert hits[1]["score"] < 0.5 * hits[0]["score"]
    await mem.drain()


# ============================================================================ flat history migration
async def test_a_flat_database_made_before_stated_at_is_migrated(tmp_path):
    cfg = {
        **BASE,
        "vector_store": {"provider": "flat", "config": {"path": str(tmp_path)}},
        "history_store": {"provider": "auto"},
    }
    async with AsyncMemory(cfg, clock=lambda: NOW) as mem:
        assert mem.history_store.name == "flat"  # history in the store's own database
        before = (await mem.add("I live in Lyon", user_id="u", infer=False))["results"][0]["id"]
        files = sorted(tmp_path.rglob("mem7.db"))
    (db,) = files
    conn = sqlite3.connect(db)  # back to the old layout: the history table without stated_at
    conn.execute("ALTER TABLE history DROP COLUMN stated_at")
    conn.commit()
    conn.close()
    async with AsyncMemory(cfg, clock=lambda: NOW) as mem:
        after = (await mem.add("I live in Paris", user_id="u", infer=False, timestamp=SAID))["results"][0]["id"]
        assert [e.get("stated_at") for e in await mem.history(before)] == [None]
        assert [e["stated_at"] for e in await mem.history(after)] == [iso(SAID_AT)]


# ============================================================================ CLI
@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The embedded default under a fresh data dir, the hash embedder, no LLM, user alice."""
    for name in list(os.environ):
        if name in ("OPENAI_API_KEY", "OPENAI_BASE_URL") or name.startswith("MEM7_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEM7_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEM7_USER_ID", "alice")
    monkeypatch.setenv("MEM7_EMBEDDER__PROVIDER", "hash")


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(("given", "stored"), [("20230508", "2023-05-08T00:00:00"), ("20231301", "1970-08-23T")])
def test_cli_add_at_reads_eight_digit_dates(capsys: pytest.CaptureFixture[str], given: str, stored: str) -> None:
    # ISO-8601's basic date form, not epoch seconds 20,230,508 (August 1970); eight digits that are
    # no calendar date (month 13) stay epoch seconds
    assert main(["--json", "add", "--no-infer", "--at", given, "I moved to Paris"]) == 0
    capsys.readouterr()
    assert main(["--json", "list"]) == 0
    (item,) = json.loads(capsys.readouterr().out)["results"]
    assert item["created_at"].startswith(stored)


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("given", ["2023-05-08T13:56:00", "2023-05-08T13:56:00Z", "1683554160"])
def test_cli_add_at(capsys: pytest.CaptureFixture[str], given: str) -> None:
    assert main(["--json", "add", "--no-infer", "--at", given, "I moved to Paris"]) == 0
    (added,) = json.loads(capsys.readouterr().out)["results"]
    assert main(["--json", "list"]) == 0
    (item,) = json.loads(capsys.readouterr().out)["results"]
    assert item["id"] == added["id"] and item["created_at"] == item["updated_at"] == iso(SAID_AT)
    assert main(["history", added["id"]]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith(f"ADD     I moved to Paris  (said at {iso(SAID_AT)})")


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(("given", "says"), [("1683554160000", "divide by 1000"), ("last tuesday", "ISO-8601")])
def test_cli_add_at_refuses_bad_times_naming_the_option(
    capsys: pytest.CaptureFixture[str], given: str, says: str
) -> None:
    assert main(["add", "--no-infer", "--at", given, "I moved to Paris"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mem7: error: --at ") and says in err
    assert main(["--json", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []


async def test_an_old_history_file_is_still_copied_into_the_flat_database(tmp_path: Path) -> None:
    legacy = tmp_path / "history.db"  # what the embedded default kept before, made by an older mem7
    conn = sqlite3.connect(legacy)
    conn.execute(
        "CREATE TABLE history (id TEXT PRIMARY KEY, memory_id TEXT NOT NULL, old_memory TEXT, new_memory TEXT, "
        "event TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, "
        "actor_id TEXT, role TEXT)"
    )
    conn.execute(
        "INSERT INTO history VALUES ('e-old', 'm-old', NULL, 'likes tea', 'ADD', '2024-01-01T00:00:00+00:00', "
        "NULL, 0, 'alice', 'user')"
    )
    conn.commit()
    conn.close()
    cfg = {
        **BASE,
        "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "vectors")}},
        "history_store": {"provider": "auto", "config": {"path": str(legacy)}},
    }
    async with AsyncMemory(cfg, clock=lambda: NOW) as mem:
        assert mem.history_store.name == "flat"
        (old,) = await mem.history("m-old")
        assert (old["id"], old["actor_id"], old.get("stated_at")) == ("e-old", "alice", None)
        added = (await mem.add("I like coffee", user_id="u", infer=False, timestamp=SAID))["results"][0]["id"]
        assert [e["stated_at"] for e in await mem.history(added)] == [iso(SAID_AT)]


@pytest.mark.usefixtures("cli_env")
def test_mem7_import_lines_may_say_when_they_happened(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "old.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "I moved to Paris"}], "timestamp": "2023-05-08T13:56:00"},
        {"role": "user", "content": "I adopted a cat", "timestamp": 1683554160 + 86400},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main(["import", str(src)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["--json", "list"]) == 0
    items = by_text(json.loads(capsys.readouterr().out))
    assert items["I moved to Paris"]["created_at"] == iso(SAID_AT)
    assert items["I adopted a cat"]["created_at"] == iso(SAID_AT + timedelta(days=1))

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"role": "user", "content": "x", "timestamp": 1683554160000}) + "\n", encoding="utf-8")
    assert main(["import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 1: timestamp 1683554160000 looks like milliseconds" in err and "divide by 1000" in err
