"""AsyncMemory.add (spec §1, §3, §9): verbatim and inferred writes, every §3 **Better** item,
dedup safety, scope and metadata rules, vision, compensation on store failures, concurrency, and
the sync facade. Fast: hash embedder, flat store, in-memory SQLite history, scripted LLM."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from mem7_core.engine.memory import AsyncMemory
from mem7_core.engine.prompts import USER_FACT_EXTRACTION_PROMPT
from mem7_core.engine.sync import Memory
from mem7_core.errors import FilterError, LLMOutputError, ProviderError, ScopeError
from mem7_core.models import Scope
from mem7_core.providers.llm import LLMCapabilities
from mem7_core.providers.tasks import (
    AGENT_FACT_EXTRACTION_MARKER,
    DESCRIBE_IMAGE_MARKER,
    FACT_EXTRACTION_MARKER,
    UPDATE_MEMORY_MARKER,
)
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM, hash_embedding, rule_based_reply
from mem7_flat import FlatVectorStore

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# ------------------------------------------------------------------------------------ helpers
class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@pytest.fixture
async def make():
    """Factory for engines; every engine it builds is closed after the test."""
    engines: list[AsyncMemory] = []

    def _make(
        llm: Any = None,
        *,
        clock: Callable[[], datetime] | None = None,
        embedder: Any = None,
        vector_store: Any = None,
        **config: Any,
    ) -> AsyncMemory:
        mem = AsyncMemory(
            {**BASE, **config}, llm=llm, clock=clock or Clock(), embedder=embedder, vector_store=vector_store
        )
        engines.append(mem)
        return mem

    yield _make
    for mem in engines:
        await mem.aclose()


def system_of(messages: Sequence[dict[str, Any]]) -> str:
    for m in messages:
        if m.get("role") == "system" and isinstance(m.get("content"), str):
            return m["content"]
    return ""


def user_of(call: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in call["messages"] if m["role"] == "user" and isinstance(m["content"], str))


def router(*, facts: Any = None, decisions: Any = None, describe: Any = None) -> Callable[[Sequence[dict]], Any]:
    """A ScriptedLLM script: fixed answers per task (a dict/str, or a list of them, or a function);
    rule_based_reply for tasks not given."""

    def pick(answer: Any, messages: Sequence[dict]) -> Any:
        if callable(answer):
            return answer(messages)
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    def reply(messages: Sequence[dict]) -> Any:
        system = system_of(messages)
        if facts is not None and system.startswith((FACT_EXTRACTION_MARKER, AGENT_FACT_EXTRACTION_MARKER)):
            return pick(facts, messages)
        if decisions is not None and system.startswith(UPDATE_MEMORY_MARKER):
            return pick(decisions, messages)
        if describe is not None and system.startswith(DESCRIBE_IMAGE_MARKER):
            return pick(describe, messages)
        return rule_based_reply(messages)

    return reply


def facts_reply(*facts: str | tuple[str, str]) -> dict[str, Any]:
    return {"facts": [{"text": f[0], "category": f[1]} if isinstance(f, tuple) else f for f in facts]}


async def seed(mem: AsyncMemory, text: str, user_id: str = "u", **kw: Any) -> str:
    out = await mem.add(text, user_id=user_id, infer=False, **kw)
    return out["results"][0]["id"]


async def all_history(mem: AsyncMemory) -> list[tuple]:
    """Every row of the SQLite history table, in insertion order."""
    return await mem.history_store._call(  # type: ignore[attr-defined]
        lambda c: c.execute(
            "SELECT id, memory_id, event, old_memory, new_memory, actor_id, role FROM history ORDER BY rowid"
        ).fetchall()
    )


async def snapshot(mem: AsyncMemory) -> list[tuple]:
    """Every record in the vector store, with payload and (rounded) vector, for before/after comparisons."""
    listed = await mem.vector_store.list(scope=Scope())
    full = await mem.vector_store.get([r.id for r in listed])
    return sorted(
        (r.id, json.dumps(r.payload, sort_keys=True), tuple(round(float(x), 5) for x in r.vector or ()))
        for r in full
    )


async def texts(mem: AsyncMemory, user_id: str = "u") -> list[str]:
    return [i["memory"] for i in (await mem.get_all(user_id=user_id))["results"]]


def cos(a: str, b: str) -> float:
    return float(np.dot(hash_embedding(a, 384), hash_embedding(b, 384)))


# ================================================================================ infer=False
async def test_infer_false_drops_system_and_stores_each_message_with_role(make):
    emb = HashEmbedder()
    mem = make(embedder=emb)
    msgs = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "I live in Lisbon", "name": "bob"},
        {"role": "assistant", "content": "Lisbon is lovely"},
        {"role": "user", "content": "I have two cats"},
    ]
    out = await mem.add(msgs, user_id="u", infer=False)
    results = out["results"]
    assert [r["event"] for r in results] == ["ADD"] * 3
    assert [r["memory"] for r in results] == ["I live in Lisbon", "Lisbon is lovely", "I have two cats"]
    assert len(emb.calls) == 1, "all contents embedded in one batch"
    assert emb.calls[0] == ["I live in Lisbon", "Lisbon is lovely", "I have two cats"]

    items = {i["memory"]: i for i in (await mem.get_all(user_id="u"))["results"]}
    assert set(items) == {"I live in Lisbon", "Lisbon is lovely", "I have two cats"}
    assert items["I live in Lisbon"].get("role") == "user"
    assert items["I live in Lisbon"].get("actor_id") == "bob"
    assert items["Lisbon is lovely"].get("role") == "assistant"
    assert items["Lisbon is lovely"].get("actor_id") is None
    assert all(i["user_id"] == "u" and i.get("metadata") is None for i in items.values())

    for r in results:
        events = await mem.history(r["id"])
        assert [(e["event"], e["old_memory"], e["new_memory"]) for e in events] == [("ADD", None, r["memory"])]
    hist = {r["memory"]: (await mem.history(r["id"]))[0] for r in results}
    assert hist["I live in Lisbon"].get("actor_id") == "bob" and hist["I live in Lisbon"].get("role") == "user"
    assert hist["Lisbon is lovely"].get("role") == "assistant"
    assert len(await all_history(mem)) == 3


async def test_infer_false_only_system_messages_stores_nothing(make):
    emb = HashEmbedder()
    mem = make(embedder=emb)
    out = await mem.add([{"role": "system", "content": "be brief"}], user_id="u", infer=False)
    assert out["results"] == []
    assert emb.calls == []
    assert await texts(mem) == [] and await all_history(mem) == []


@pytest.mark.parametrize(
    "messages, expected",
    [
        ("I like tea", [("user", "I like tea")]),
        ({"role": "assistant", "content": "Noted"}, [("assistant", "Noted")]),
        (
            [{"role": "user", "content": "one thing"}, {"role": "assistant", "content": "two things"}],
            [("user", "one thing"), ("assistant", "two things")],
        ),
        ([("user", "pair one"), ("assistant", "pair two")], [("user", "pair one"), ("assistant", "pair two")]),
        (["plain one", "plain two"], [("user", "plain one"), ("user", "plain two")]),
        (
            ["mixed string", ("assistant", "mixed pair"), {"role": "user", "content": "mixed dict"}],
            [("user", "mixed string"), ("assistant", "mixed pair"), ("user", "mixed dict")],
        ),
        (
            {"role": "user", "content": [{"type": "text", "text": "from parts"}]},
            [("user", "from parts")],
        ),
    ],
    ids=["str", "dict", "list-of-dicts", "pairs", "strings", "mixed", "content-parts"],
)
async def test_infer_false_message_shapes(make, messages, expected):
    mem = make()
    out = await mem.add(messages, user_id="u", infer=False)
    assert [r["memory"] for r in out["results"]] == [t for _, t in expected]
    got = {(i.get("role"), i["memory"]) for i in (await mem.get_all(user_id="u"))["results"]}
    assert got == set(expected)


@pytest.mark.parametrize(
    "messages, needle",
    [
        (42, "messages"),
        (b"bytes", "messages"),
        (["fine", 42], "messages[1]"),
        ([{"role": "user", "content": "ok"}, ("user", "x", "extra")], "messages[1]"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
    ],
    ids=["int", "bytes", "int-element", "triple", "bad-role", "bad-content"],
)
async def test_bad_message_shapes_raise_value_error_naming_the_element(make, messages, needle):
    mem = make(llm=ScriptedLLM())
    for infer in (False, True):
        with pytest.raises(ValueError) as info:
            await mem.add(messages, user_id="u", infer=infer)
        assert needle in str(info.value)
    assert mem.llm.calls == []
    assert await texts(mem) == [] and await all_history(mem) == []


# ================================================================================ infer=True
async def test_infer_true_end_to_end_with_rule_based_llm(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    out = await mem.add(
        [
            {"role": "system", "content": "ignore me entirely please"},
            {"role": "user", "content": "I love sushi. I work at Acme as an engineer. Yesterday I visited Rome."},
            {"role": "assistant", "content": "That sounds like a great trip to Rome"},
        ],
        user_id="u",
    )
    assert [r["event"] for r in out["results"]] == ["ADD"] * 3
    by_text = {i["memory"]: i for i in (await mem.get_all(user_id="u"))["results"]}
    assert by_text.keys() == {"I love sushi", "I work at Acme as an engineer", "Yesterday I visited Rome"}
    assert by_text["I love sushi"].get("memory_type") == "preference"
    assert by_text["I work at Acme as an engineer"].get("memory_type") == "factual"
    assert by_text["Yesterday I visited Rome"].get("memory_type") == "episodic"
    # Extraction call: JSON mode, system = prompt + today's date, user = "role: content" lines, no system line.
    call = llm.calls[0]
    assert call["response_format"] == "json"
    assert system_of(call["messages"]).startswith(FACT_EXTRACTION_MARKER)
    assert "2025-06-01" in system_of(call["messages"])
    assert user_of(call).splitlines() == [
        "user: I love sushi. I work at Acme as an engineer. Yesterday I visited Rome.",
        "assistant: That sounds like a great trip to Rome",
    ]
    for r in out["results"]:
        assert [e["event"] for e in await mem.history(r["id"])] == ["ADD"]


async def test_llm_call_counts_empty_scope_candidates_and_all_known(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    # Empty scope: extraction only, nothing to compare against.
    await mem.add("I love sushi. I play chess on Sundays.", user_id="u")
    assert len(llm.calls) == 1
    assert llm.calls_for(UPDATE_MEMORY_MARKER) == []
    # Candidates exist and a fact is new: extraction + decision (temperature 0).
    before = len(llm.calls)
    out = await mem.add("I have a dog named Rex", user_id="u")
    assert len(llm.calls) - before == 2
    decision = llm.calls_for(UPDATE_MEMORY_MARKER)
    assert len(decision) == 1 and decision[0]["temperature"] == 0.0
    assert [r["memory"] for r in out["results"]] == ["I have a dog named Rex"]
    # Every fact already stored verbatim: extraction only, no decision call, nothing written.
    hist = await all_history(mem)
    before = len(llm.calls)
    out = await mem.add("I love sushi. I have a dog named Rex.", user_id="u")
    assert len(llm.calls) - before == 1
    assert len(llm.calls_for(UPDATE_MEMORY_MARKER)) == 1
    assert out["results"] == []
    assert await all_history(mem) == hist
    # Another scope is empty again: one call.
    before = len(llm.calls)
    await mem.add("I love sushi", user_id="other")
    assert len(llm.calls) - before == 1


async def test_no_facts_extracted_stores_nothing(make):
    llm = ScriptedLLM([facts_reply()])
    mem = make(llm=llm)
    out = await mem.add("hi", user_id="u")
    assert out["results"] == [] and len(llm.calls) == 1
    assert await texts(mem) == []


async def test_blank_messages_call_no_llm_and_store_nothing(make):
    # Blank text has nothing to extract: like infer=False, nothing is stored, and no model is paid for.
    llm = ScriptedLLM([facts_reply(("should never be asked", "factual"))])
    mem = make(llm=llm)
    for blank in ("   ", [{"role": "user", "content": " \n\t"}, {"role": "assistant", "content": ""}]):
        out = await mem.add(blank, user_id="u")
        assert out["results"] == [] and "usage" not in out
    assert llm.calls == []
    assert await texts(mem) == []


async def test_decision_prompt_uses_small_integer_ids_and_maps_back(make):
    clock = Clock()
    llm = ScriptedLLM(
        router(
            facts=facts_reply(("I like green tea", "preference")),
            decisions={"memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE", "old_memory": "I like tea"}]},
        )
    )
    mem = make(llm=llm, clock=clock)
    first = await seed(mem, "I like tea")
    clock.advance(minutes=1)
    second = await seed(mem, "I own a bicycle")
    clock.advance(minutes=1)
    out = await mem.add("I like green tea", user_id="u")

    (call,) = llm.calls_for(UPDATE_MEMORY_MARKER)
    prompt = user_of(call)
    assert "0: I like tea" in prompt and "1: I own a bicycle" in prompt
    assert not UUID_RE.search(prompt)
    assert first not in prompt and second not in prompt
    assert "- I like green tea" in prompt

    (res,) = out["results"]
    assert res["event"] == "UPDATE" and res["id"] == first
    assert res["old_value"] == "I like tea" and res["new_value"] == "I like green tea"
    assert res["memory"] == "I like green tea"
    assert (await mem.get(first))["memory"] == "I like green tea"
    assert (await mem.get(second))["memory"] == "I own a bicycle"


_GOOD = {"memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE", "old_memory": "I like tea"}]}


@pytest.mark.parametrize(
    "facts, decision",
    [
        ("```json\n" + json.dumps(facts_reply("I like green tea")) + "\n```", "```json\n" + json.dumps(_GOOD) + "\n```"),
        (facts_reply("I like green tea"), {"memory": [{"id": 0, "text": "I like green tea", "event": "UPDATE"}]}),
        (
            {"facts": [{"text": "I like green tea", "category": "PREFERENCE"}]},
            {"memory": [{"id": "0", "text": "I like green tea", "event": "update"}]},
        ),
        (
            {"facts": [{"text": "I like green tea", "category": "preference", "confidence": 1}], "note": "x"},
            {
                "memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE", "reason": "richer", "score": 0.9}],
                "explanation": "merged",
            },
        ),
        (
            "Here are the facts:\n" + json.dumps(facts_reply("I like green tea")) + "\nHope it helps!",
            "Sure, here is my decision:\n" + json.dumps(_GOOD) + "\nLet me know if you need more.",
        ),
        ({"facts": ["I like green tea"]}, '{"memory": [{"id": "0", "text": "I like green tea", "event": "Update",},]}'),
    ],
    ids=["code-fences", "numeric-id", "lowercase-event", "extra-keys", "prose-around-json", "strings-trailing-comma"],
)
async def test_tolerant_parsing_of_llm_answers(make, facts, decision):
    llm = ScriptedLLM(router(facts=facts, decisions=decision))
    mem = make(llm=llm)
    tea = await seed(mem, "I like tea")
    out = await mem.add("I like green tea", user_id="u")
    assert [(r["event"], r["id"]) for r in out["results"]] == [("UPDATE", tea)]
    assert await texts(mem) == ["I like green tea"]
    assert len(llm.calls) == 2, "tolerant parsing needs no retry"


async def test_update_of_unknown_id_adds_the_fact_instead(make):
    llm = ScriptedLLM(
        router(
            facts=facts_reply(("I like green tea", "preference")),
            decisions={
                "memory": [
                    {"id": "7", "text": "I like green tea", "event": "UPDATE"},
                    {"id": "0", "text": "I like tea", "event": "NONE"},
                ]
            },
        )
    )
    mem = make(llm=llm)
    tea = await seed(mem, "I like tea")
    out = await mem.add("I like green tea", user_id="u")
    (res,) = out["results"]
    assert res["event"] == "ADD" and res["memory"] == "I like green tea" and res["id"] != tea
    assert sorted(await texts(mem)) == ["I like green tea", "I like tea"]
    assert (await mem.get(res["id"])).get("memory_type") == "preference"
    assert [e["event"] for e in await mem.history(tea)] == ["ADD"]


async def test_delete_of_unknown_id_is_skipped_and_the_fact_still_added(make):
    llm = ScriptedLLM(
        router(
            facts=facts_reply("I live in Berlin"),
            decisions={"memory": [{"id": "9", "text": "I live in Paris", "event": "DELETE"}]},
        )
    )
    mem = make(llm=llm)
    paris = await seed(mem, "I live in Paris")
    before = await snapshot(mem)
    out = await mem.add("I live in Berlin", user_id="u")
    assert [r["event"] for r in out["results"]] == ["ADD"]
    assert out["results"][0]["memory"] == "I live in Berlin"
    after = await snapshot(mem)
    assert [row for row in after if row[0] == paris] == before, "the stored memory is untouched"
    assert sorted(await texts(mem)) == ["I live in Berlin", "I live in Paris"]
    assert [e["event"] for e in await mem.history(paris)] == ["ADD"]


async def test_unknown_event_with_unknown_id_never_crashes_and_keeps_the_fact(make):
    llm = ScriptedLLM(
        router(facts=facts_reply("I live in Berlin"), decisions={"memory": [{"id": "x", "text": "I live in Berlin", "event": "MAYBE"}]})
    )
    mem = make(llm=llm)
    await seed(mem, "I live in Paris")
    out = await mem.add("I live in Berlin", user_id="u")
    assert [r["event"] for r in out["results"]] == ["ADD"]
    assert sorted(await texts(mem)) == ["I live in Berlin", "I live in Paris"]


async def test_dedup_delete_without_add_never_loses_the_new_fact(make):
    llm = ScriptedLLM(
        router(
            facts=facts_reply("I live in Berlin"),
            decisions={"memory": [{"id": "0", "text": "I live in Paris", "event": "DELETE"}]},
        )
    )
    mem = make(llm=llm)
    paris = await seed(mem, "I live in Paris")
    out = await mem.add("I moved: I live in Berlin", user_id="u")
    events = sorted((r["event"], r["memory"]) for r in out["results"])
    assert events == [("ADD", "I live in Berlin"), ("DELETE", "I live in Paris")]
    assert await texts(mem) == ["I live in Berlin"]
    assert await mem.get(paris) is None
    hist = await mem.history(paris)
    assert [(e["event"], e["old_memory"], e["new_memory"], e["is_deleted"]) for e in hist][-1] == ("DELETE", "I live in Paris", None, True)


async def test_update_keeps_stored_metadata_and_merges_new(make):
    llm = ScriptedLLM(
        router(
            facts=facts_reply("I like green tea"),
            decisions={"memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE"}]},
        )
    )
    mem = make(llm=llm)
    tea = await seed(mem, "I like tea", metadata={"source": "chat", "topic": "food"})
    await mem.add("I like green tea", user_id="u", metadata={"topic": "drinks", "lang": "en"})
    item = await mem.get(tea)
    assert item["memory"] == "I like green tea"
    assert item.get("metadata") == {"source": "chat", "topic": "drinks", "lang": "en"}
    assert item["user_id"] == "u"


async def test_update_keeps_created_at_bumps_access_count_and_reembeds(make):
    clock = Clock()
    llm = ScriptedLLM(
        router(
            facts=facts_reply("I like matcha latte with oat milk"),
            decisions={"memory": [{"id": "0", "text": "I like matcha latte with oat milk", "event": "UPDATE"}]},
        )
    )
    mem = make(llm=llm, clock=clock)
    tea = await seed(mem, "I like tea")
    await seed(mem, "My car is a red Volvo")
    created = (await mem.get(tea))["created_at"]
    clock.advance(days=2)
    await mem.add("I like matcha latte with oat milk", user_id="u")
    item = await mem.get(tea)
    assert item["memory"] == "I like matcha latte with oat milk"
    assert item["created_at"] == created
    assert item["updated_at"] == (NOW + timedelta(days=2)).isoformat() != created
    assert item["access_count"] == 1
    assert item["hash"] == __import__("hashlib").md5(item["memory"].encode()).hexdigest()
    (record,) = await mem.vector_store.get([tea])
    assert np.allclose(record.vector, hash_embedding("I like matcha latte with oat milk", 384), atol=1e-5)
    hits = (await mem.search("matcha latte oat milk", user_id="u", limit=1))["results"]
    assert hits[0]["id"] == tea


async def test_history_update_keeps_the_stored_old_text(make):
    llm = ScriptedLLM(
        router(
            facts=facts_reply("I like green tea"),
            decisions={
                "memory": [
                    {"id": "0", "text": "I like green tea", "event": "UPDATE", "old_memory": "User hates all drinks"}
                ]
            },
        )
    )
    mem = make(llm=llm)
    tea = await seed(mem, "I like tea")
    out = await mem.add("I like green tea", user_id="u")
    assert out["results"][0]["old_value"] == "I like tea"
    hist = await mem.history(tea)
    assert [(e["event"], e["old_memory"], e["new_memory"]) for e in hist] == [
        ("ADD", None, "I like tea"),
        ("UPDATE", "I like tea", "I like green tea"),
    ]


async def test_memory_type_survives_llm_rephrase(make):
    llm = ScriptedLLM(
        router(
            facts=facts_reply(
                ("User loves hiking in the Alps", "preference"),
                ("Visited Rome with her sister last week", "episodic"),
            ),
            decisions={
                "memory": [  # rephrased, and in the opposite order of the facts
                    {"id": "1", "text": "Went to Rome with her sister last week", "event": "ADD"},
                    {"id": "2", "text": "Loves hiking in the Swiss Alps", "event": "ADD"},
                    {"id": "0", "text": "My car is a red Volvo", "event": "NONE"},
                ]
            },
        )
    )
    mem = make(llm=llm)
    await seed(mem, "My car is a red Volvo")
    out = await mem.add("I love hiking in the Alps. Last week I visited Rome with my sister.", user_id="u")
    assert sorted(r["memory"] for r in out["results"]) == [
        "Loves hiking in the Swiss Alps",
        "Went to Rome with her sister last week",
    ], "rephrased facts are not added a second time"
    types = {i["memory"]: i.get("memory_type") for i in (await mem.get_all(user_id="u"))["results"]}
    assert types["Loves hiking in the Swiss Alps"] == "preference"
    assert types["Went to Rome with her sister last week"] == "episodic"


async def _decayed_candidate_prompt(make, decay: bool) -> str:
    clock = Clock(NOW - timedelta(days=365))
    llm = ScriptedLLM(router(decisions={"memory": []}))
    mem = make(llm=llm, clock=clock, decay={"enabled": decay}, candidates_per_fact=1)
    await seed(mem, "I drink green tea every morning")  # a year old, most similar
    clock.now = NOW
    await seed(mem, "I drink black coffee every evening")  # fresh, less similar
    await mem.add("I drink green tea every evening", user_id="u")
    (call,) = llm.calls_for(UPDATE_MEMORY_MARKER)
    return user_of(call)


async def test_write_path_decay_changes_the_candidates_the_llm_sees(make):
    fact = "I drink green tea every evening"
    assert cos(fact, "I drink green tea every morning") > cos(fact, "I drink black coffee every evening")
    plain = await _decayed_candidate_prompt(make, decay=False)
    assert "0: I drink green tea every morning" in plain
    assert "black coffee" not in plain
    decayed = await _decayed_candidate_prompt(make, decay=True)
    assert "0: I drink black coffee every evening" in decayed
    assert "green tea every morning" not in decayed


async def _ordered_prompt(make, insert_order: Sequence[int]) -> str:
    memories = [
        (NOW - timedelta(days=3), "I play the violin in an orchestra"),
        (NOW - timedelta(days=2), "I am learning to cook Thai food"),
        (NOW - timedelta(days=1), "My sister lives in Toronto"),
    ]
    clock = Clock()
    llm = ScriptedLLM(
        router(
            # Each fact's nearest memory is a later one than the next fact's: gather order != age order.
            facts=facts_reply("My sister moved to Toronto", "I cook Thai food every week", "I play violin"),
            decisions={"memory": []},
        )
    )
    mem = make(llm=llm, clock=clock, candidates_per_fact=1)
    for i in insert_order:
        clock.now, text = memories[i]
        await seed(mem, text)
    clock.now = NOW
    await mem.add("whatever", user_id="u")
    (call,) = llm.calls_for(UPDATE_MEMORY_MARKER)
    return user_of(call)


async def test_candidates_presented_in_deterministic_creation_order(make):
    first = await _ordered_prompt(make, [0, 1, 2])
    assert first.splitlines()[:4] == [
        "Existing memories (id: text):",
        "0: I play the violin in an orchestra",
        "1: I am learning to cook Thai food",
        "2: My sister lives in Toronto",
    ]
    assert await _ordered_prompt(make, [0, 1, 2]) == first
    assert await _ordered_prompt(make, [2, 0, 1]) == first
    assert await _ordered_prompt(make, [1, 2, 0]) == first


# ------------------------------------------------------------------------ failures and retries
@pytest.mark.parametrize("retries", [0, 1, 2])
async def test_invalid_extraction_json_after_retries_raises_and_writes_nothing(make, retries):
    llm = ScriptedLLM(lambda messages: "I am not JSON at all")
    mem = make(llm=llm, llm_retries=retries)
    await seed(mem, "I like tea")
    store, hist = await snapshot(mem), await all_history(mem)
    with pytest.raises(LLMOutputError) as info:
        await mem.add("I like green tea", user_id="u")
    assert "scripted" in str(info.value)
    assert len(llm.calls) == 1 + retries
    assert await snapshot(mem) == store and await all_history(mem) == hist


async def test_invalid_decision_json_after_retry_raises_and_writes_nothing(make):
    llm = ScriptedLLM(router(facts=facts_reply("I like green tea", "I own a kayak"), decisions="{not json"))
    mem = make(llm=llm)
    await seed(mem, "I like tea")
    store, hist = await snapshot(mem), await all_history(mem)
    with pytest.raises(LLMOutputError):
        await mem.add("I like green tea. I own a kayak.", user_id="u")
    assert len(llm.calls_for(UPDATE_MEMORY_MARKER)) == 2  # default llm_retries = 1
    assert await snapshot(mem) == store and await all_history(mem) == hist


async def test_wrong_json_shape_counts_as_invalid(make):
    llm = ScriptedLLM([{"something": "else"}, {"facts": "not a list"}])
    mem = make(llm=llm)
    with pytest.raises(LLMOutputError):
        await mem.add("I like tea", user_id="u")
    assert len(llm.calls) == 2
    assert await texts(mem) == []


async def test_failing_llm_call_raises_provider_error_and_writes_nothing(make):
    llm = ScriptedLLM(lambda messages: RuntimeError("connection refused"))
    mem = make(llm=llm)
    await seed(mem, "I like tea")
    store, hist = await snapshot(mem), await all_history(mem)
    with pytest.raises(ProviderError) as info:
        await mem.add("I like green tea", user_id="u")
    assert not isinstance(info.value, LLMOutputError)
    assert "scripted" in str(info.value) and "connection refused" in str(info.value)
    assert len(llm.calls) == 2
    assert await snapshot(mem) == store and await all_history(mem) == hist


async def test_failing_decision_call_raises_and_writes_nothing(make):
    llm = ScriptedLLM(router(facts=facts_reply("I like green tea"), decisions=lambda m: RuntimeError("timeout")))
    mem = make(llm=llm)
    await seed(mem, "I like tea")
    store, hist = await snapshot(mem), await all_history(mem)
    with pytest.raises(ProviderError):
        await mem.add("I like green tea", user_id="u")
    assert await snapshot(mem) == store and await all_history(mem) == hist


async def test_retry_succeeds_when_first_answer_is_garbage(make):
    llm = ScriptedLLM(["```\nnope, no json here\n```", facts_reply(("I like tea", "preference"))])
    mem = make(llm=llm)
    out = await mem.add("I like tea", user_id="u")
    assert [r["memory"] for r in out["results"]] == ["I like tea"]
    assert len(llm.calls) == 2
    assert (await mem.get(out["results"][0]["id"])).get("memory_type") == "preference"


async def test_retry_succeeds_after_a_failed_call(make):
    llm = ScriptedLLM([RuntimeError("503"), facts_reply("I like tea")])
    mem = make(llm=llm)
    out = await mem.add("I like tea", user_id="u")
    assert [r["memory"] for r in out["results"]] == ["I like tea"]


# ------------------------------------------------------------------------ memory_type and prompts
async def test_memory_type_argument_forces_the_type(make):
    mem = make(llm=ScriptedLLM())
    out = await mem.add("I like tea", user_id="u", infer=False, memory_type="procedural_memory")
    assert (await mem.get(out["results"][0]["id"])).get("memory_type") == "procedural"
    # infer=True: the fact's category ("preference" for "love") is overridden.
    out = await mem.add("I love hiking in the hills", user_id="v", memory_type="episodic")
    assert (await mem.get(out["results"][0]["id"])).get("memory_type") == "episodic"
    out = await mem.add("I love swimming in lakes", user_id="v", memory_type="Procedural")
    assert (await mem.get(out["results"][0]["id"])).get("memory_type") == "procedural"


async def test_bad_memory_type_raises_naming_memory_type(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    for infer in (False, True):
        with pytest.raises(ValueError, match="memory_type"):
            await mem.add("I like tea", user_id="u", memory_type="semantic", infer=infer)
    assert llm.calls == [] and await texts(mem) == []


async def test_prompt_argument_replaces_extraction_prompt_for_that_call(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    await mem.add("I like tea", user_id="u", prompt="Extract only facts about drinks.")
    system = system_of(llm.calls[0]["messages"])
    assert "Extract only facts about drinks." in system
    assert "memory organiser" not in system
    assert system.startswith(FACT_EXTRACTION_MARKER)
    assert "2025-06-01" in system and "json" in system.lower()
    assert await texts(mem) == ["I like tea"]
    await mem.add("I own a kayak", user_id="u2")
    assert system_of(llm.calls[-1]["messages"]) == USER_FACT_EXTRACTION_PROMPT.format(today="2025-06-01")


async def test_custom_prompts_from_config_are_used(make):
    llm = ScriptedLLM()
    mem = make(
        llm=llm,
        custom_fact_extraction_prompt="CUSTOM-EXTRACT: facts about food only. Today is {today}.",
        custom_update_memory_prompt="CUSTOM-UPDATE: decide ADD, UPDATE, DELETE or NONE.",
    )
    await seed(mem, "I like tea")
    out = await mem.add("I like green tea", user_id="u")
    extract = system_of(llm.calls[0]["messages"])
    assert "CUSTOM-EXTRACT: facts about food only. Today is 2025-06-01." in extract
    assert "memory organiser" not in extract
    decisions = [c for c in llm.calls if "CUSTOM-UPDATE" in system_of(c["messages"])]
    assert len(decisions) == 1
    assert "json" in system_of(decisions[0]["messages"]).lower()
    assert "You manage a memory store" not in system_of(decisions[0]["messages"])
    # The task marker is kept, so test doubles and the loopback server still recognise the call.
    assert llm.calls_for(UPDATE_MEMORY_MARKER) == decisions
    assert [r["memory"] for r in out["results"]] == ["I like green tea"]


async def test_agent_prompt_used_when_agent_id_and_assistant_message(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    conversation = [
        {"role": "user", "content": "Who are you exactly?"},
        {"role": "assistant", "content": "I am Max, a cooking assistant. I always answer in French."},
    ]
    out = await mem.add(conversation, agent_id="max")
    system = system_of(llm.calls[0]["messages"])
    assert system.startswith(AGENT_FACT_EXTRACTION_MARKER)
    assert sorted(r["memory"] for r in out["results"]) == ["I always answer in French", "I am Max, a cooking assistant"]
    items = (await mem.get_all(agent_id="max"))["results"]
    assert all(i["agent_id"] == "max" and i["user_id"] is None for i in items)
    # user_id only, or agent_id without an assistant message: the user prompt.
    await mem.add(conversation, user_id="u")
    assert system_of(llm.calls[-1]["messages"]).startswith(FACT_EXTRACTION_MARKER)
    await mem.add("I like long walks", agent_id="max2")
    assert system_of(llm.calls[-1]["messages"]).startswith(FACT_EXTRACTION_MARKER)
    assert await texts(mem) == ["Who are you exactly"]


# ------------------------------------------------------------------------ metadata and scope
@pytest.mark.parametrize("key", ["user_id", "agent_id", "run_id", "data", "hash", "created_at", "memory_type", "role", "actor_id"])
async def test_reserved_metadata_keys_refused(make, key):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    for infer in (False, True):
        with pytest.raises(ValueError) as info:
            await mem.add("I like tea", user_id="u", metadata={"ok": 1, key: "x"}, infer=infer)
        assert repr(key) in str(info.value)
    assert llm.calls == []
    assert await texts(mem) == [] and await all_history(mem) == []


@pytest.mark.parametrize(
    ("value", "where", "kind"),
    [
        (datetime(2025, 1, 1, tzinfo=UTC), "metadata['v']", "datetime"),
        (object(), "metadata['v']", "object"),
        ({1, 2}, "metadata['v']", "set"),
        ([1, b"raw"], "metadata['v'][1]", "bytes"),
        ({"deep": {"k": object()}}, "metadata['v']['deep']['k']", "object"),
        ({7: "seven"}, "metadata['v']", "int"),  # a JSON key would silently become "7"
    ],
)
async def test_metadata_that_is_not_json_is_refused_naming_where(make, value, where, kind):
    # On the in-memory store such a value used to be accepted, then broke every JSON read of the
    # scope (REST, json.dumps); a persisted store failed with a TypeError naming no field.
    llm = ScriptedLLM()
    mem = make(llm=llm)
    kept = (await mem.add("I like tea", user_id="u", infer=False))["results"][0]["id"]
    for infer in (False, True):
        with pytest.raises(ValueError) as info:
            await mem.add("I like coffee", user_id="u", metadata={"ok": 1, "v": value}, infer=infer)
        assert where in str(info.value) and kind in str(info.value)
    with pytest.raises(ValueError, match=r"not JSON|keys are strings"):
        await mem.update(kept, "I like green tea", metadata={"v": value})
    assert llm.calls == []
    assert await texts(mem) == ["I like tea"]
    json.dumps(await mem.get_all(user_id="u"))  # what is stored still reads as JSON


async def test_metadata_in_item_without_scope_keys(make):
    mem = make(llm=ScriptedLLM())
    meta = {"source": "chat", "tags": ["a", "b"], "n": 3}
    out = await mem.add(
        {"role": "user", "content": "I like tea", "name": "bob"},
        user_id="u", agent_id="a", run_id="r", metadata=meta, infer=False,
    )
    item = await mem.get(out["results"][0]["id"])
    assert item.get("metadata") == meta
    assert (item["user_id"], item["agent_id"], item["run_id"], item.get("actor_id"), item.get("role")) == ("u", "a", "r", "bob", "user")
    out = await mem.add("I love sushi", user_id="u", metadata=meta)
    item = await mem.get(out["results"][0]["id"])
    assert item.get("metadata") == meta and item.get("memory_type") == "preference"
    # Filtering on metadata finds them.
    assert len((await mem.get_all(user_id="u", filters={"source": "chat"}))["results"]) == 2


async def test_add_without_scope_raises_scope_error_naming_the_ids(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    for infer in (False, True):
        with pytest.raises(ScopeError) as info:
            await mem.add("I like tea", infer=infer)
        assert isinstance(info.value, ValueError)
        for key in ("user_id", "agent_id", "run_id"):
            assert key in str(info.value)
    assert llm.calls == [] and await all_history(mem) == []
    assert await mem.vector_store.count(scope=Scope()) == 0


async def test_scope_ids_in_filters_are_honoured(make):
    mem = make(llm=ScriptedLLM())
    out = await mem.add("I like tea", filters={"user_id": "u", "run_id": "r1"}, infer=False)
    item = await mem.get(out["results"][0]["id"])
    assert (item["user_id"], item["run_id"]) == ("u", "r1")
    out = await mem.add("I love sushi", filters={"agent_id": "a"})
    assert (await mem.get(out["results"][0]["id"]))["agent_id"] == "a"
    # Same id in both places is fine.
    await mem.add("I own a kayak", user_id="w", filters={"user_id": "w"}, infer=False)
    assert await texts(mem, "w") == ["I own a kayak"]


async def test_conflicting_scope_ids_raise(make):
    mem = make(llm=ScriptedLLM())
    with pytest.raises(ScopeError, match="user_id"):
        await mem.add("I like tea", user_id="a", filters={"user_id": "b"}, infer=False)
    with pytest.raises(FilterError):
        await mem.add("I like tea", user_id="a", filters={"topic": "x"}, infer=False)
    with pytest.raises(ValueError):
        await mem.add("I like tea", user_id="", infer=False)
    assert await mem.vector_store.count(scope=Scope()) == 0


async def test_a_whitespace_only_scope_id_is_refused_like_an_empty_one(make):
    """A blank id (an empty form field, a stray space) is no scope: refused on every path, naming the
    field, as an empty one is; an id with spaces around real text is an id like any other."""
    mem = make(llm=ScriptedLLM())
    with pytest.raises(ScopeError, match=r"user_id must be a non-empty string, got '   ' \(only whitespace\)"):
        await mem.add("I like tea", user_id="   ", infer=False)
    with pytest.raises(ScopeError, match="agent_id"):
        await mem.search("tea", agent_id="\t")
    with pytest.raises(ScopeError, match="run_id"):
        await mem.get_all(user_id="u", filters={"run_id": " "})
    with pytest.raises(ScopeError, match="user_id"):
        await mem.delete_all(user_id="  ")
    assert await mem.vector_store.count(scope=Scope()) == 0
    await mem.add("I like tea", user_id=" alice ", infer=False)
    assert await texts(mem, " alice ") == ["I like tea"]


async def test_scopes_are_isolated(make):
    llm = ScriptedLLM()
    mem = make(llm=llm)
    await mem.add("I like tea", user_id="a")
    await mem.add("I like tea", user_id="b")
    assert llm.calls_for(UPDATE_MEMORY_MARKER) == []  # b's scope was empty, a's memory not a candidate
    assert await texts(mem, "a") == ["I like tea"] and await texts(mem, "b") == ["I like tea"]
    await mem.add("I like tea", user_id="a", run_id="r")
    assert len((await mem.get_all(user_id="a"))["results"]) == 2


async def test_no_llm_stores_verbatim_and_warns_once(make, caplog):
    mem = make()
    assert mem.llm is None
    with caplog.at_level(logging.WARNING, logger="mem7.engine"):
        out1 = await mem.add("I like tea. And coffee.", user_id="u")
        out2 = await mem.add([("user", "I own a kayak"), ("assistant", "Nice")], user_id="u", infer=True)
    assert [r["memory"] for r in out1["results"]] == ["I like tea. And coffee."]
    assert [r["memory"] for r in out2["results"]] == ["I own a kayak", "Nice"]
    items = {i["memory"]: i for i in (await mem.get_all(user_id="u"))["results"]}
    assert items["Nice"].get("role") == "assistant"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "no LLM" in r.getMessage()]
    assert len(warnings) == 1


# ------------------------------------------------------------------------ vision
async def test_vision_image_described_and_description_reaches_extraction(make):
    llm = ScriptedLLM(router(describe="A golden retriever puppy playing in the snow"))
    mem = make(llm=llm)
    msg = {
        "role": "user",
        "content": [
            {"type": "text", "text": "This is my dog"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    }
    out = await mem.add([msg], user_id="u")
    (describe,) = llm.calls_for(DESCRIBE_IMAGE_MARKER)
    parts = describe["messages"][-1]["content"]
    assert parts == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    (extract,) = llm.calls_for(FACT_EXTRACTION_MARKER)
    assert "This is my dog" in user_of(extract)
    assert "golden retriever puppy playing in the snow" in user_of(extract)
    assert "base64" not in user_of(extract)
    assert [r["memory"] for r in out["results"]] == ["This is my dog"]


async def test_vision_skipped_when_llm_cannot_see(make):
    class BlindLLM(ScriptedLLM):
        capabilities = LLMCapabilities(json_mode=True, vision=False)

    llm = BlindLLM()
    mem = make(llm=llm)
    msg = {"role": "user", "content": [{"type": "text", "text": "This is my dog"}, {"type": "image_url", "image_url": {"url": "x"}}]}
    await mem.add(msg, user_id="u")
    assert llm.calls_for(DESCRIBE_IMAGE_MARKER) == []
    assert len(llm.calls) == 1
    assert await texts(mem) == ["This is my dog"]


async def test_failed_image_description_leaves_the_image_out(make):
    llm = ScriptedLLM(router(describe=lambda m: RuntimeError("vision down")))
    mem = make(llm=llm)
    msg = {"role": "user", "content": [{"type": "text", "text": "This is my dog"}, {"type": "image_url", "image_url": {"url": "x"}}]}
    await mem.add(msg, user_id="u")
    assert await texts(mem) == ["This is my dog"]


# ------------------------------------------------------------------------ compensation
class FaultyStore(FlatVectorStore):
    """A flat store whose next insert / update / delete fails (once), before or after applying the write."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: dict[str, str] = {}  # op -> "before" | "after"

    async def _maybe(self, op: str, apply: Any) -> None:
        mode = self.fail.pop(op, None)
        if mode == "before":
            raise ProviderError("vector_store:faulty", f"{op} failed")
        await apply()
        if mode == "after":
            raise ProviderError("vector_store:faulty", f"{op} timed out after applying")

    async def insert(self, records):  # type: ignore[override]
        await self._maybe("insert", lambda: FlatVectorStore.insert(self, records))

    async def update(self, id, *, vector=None, payload=None):  # type: ignore[override]
        await self._maybe("update", lambda: FlatVectorStore.update(self, id, vector=vector, payload=payload))

    async def delete(self, ids):  # type: ignore[override]
        await self._maybe("delete", lambda: FlatVectorStore.delete(self, ids))


@pytest.mark.parametrize("mode", ["before", "after"])
@pytest.mark.parametrize("infer", [False, True])
async def test_insert_failure_leaves_store_and_history_unchanged(make, mode, infer):
    store = FaultyStore()
    mem = make(llm=ScriptedLLM(), vector_store=store)
    await seed(mem, "I like tea")
    before, hist = await snapshot(mem), await all_history(mem)
    store.fail["insert"] = mode
    with pytest.raises(ProviderError, match="faulty"):
        await mem.add("I own a kayak. I play chess on Sundays.", user_id="u", infer=infer)
    assert await snapshot(mem) == before
    assert await all_history(mem) == hist
    store.fail.clear()
    out = await mem.add("I own a kayak", user_id="u", infer=infer)
    assert [r["event"] for r in out["results"]] == ["ADD"]


@pytest.mark.parametrize("op", ["update", "delete"])
async def test_failure_mid_plan_undoes_previous_writes(make, op):
    store = FaultyStore()
    llm = ScriptedLLM(
        router(
            facts=facts_reply("I like green tea", "I live in Berlin", "I own a kayak"),
            decisions={
                "memory": [
                    {"id": "0", "text": "I like green tea", "event": "UPDATE"},
                    {"id": "1", "text": "I live in Paris", "event": "DELETE"},
                    {"id": "2", "text": "I live in Berlin", "event": "ADD"},
                    {"id": "3", "text": "I own a kayak", "event": "ADD"},
                ]
            },
        )
    )
    mem = make(llm=llm, vector_store=store)
    await seed(mem, "I like tea")
    await seed(mem, "I live in Paris")
    before, hist = await snapshot(mem), await all_history(mem)
    store.fail[op] = "before"
    with pytest.raises(ProviderError, match="faulty"):
        await mem.add("I like green tea, I moved to Berlin and I own a kayak", user_id="u")
    assert await snapshot(mem) == before, "inserts and updates done before the failure are undone"
    assert await all_history(mem) == hist
    store.fail.clear()
    out = await mem.add("I like green tea, I moved to Berlin and I own a kayak", user_id="u")
    assert sorted(r["event"] for r in out["results"]) == ["ADD", "ADD", "DELETE", "UPDATE"]
    assert sorted(await texts(mem)) == ["I like green tea", "I live in Berlin", "I own a kayak"]


async def test_update_failure_after_applying_is_undone(make):
    store = FaultyStore()
    llm = ScriptedLLM(
        router(facts=facts_reply("I like green tea"), decisions={"memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE"}]})
    )
    mem = make(llm=llm, vector_store=store)
    await seed(mem, "I like tea")
    before, hist = await snapshot(mem), await all_history(mem)
    store.fail["update"] = "after"
    with pytest.raises(ProviderError):
        await mem.add("I like green tea", user_id="u")
    store.fail.clear()
    assert await snapshot(mem) == before
    assert await all_history(mem) == hist


# ------------------------------------------------------------------------ concurrency
# LLM calls of concurrent adds in different scopes overlap (two_call: 2 calls per add, 16 in flight):
# tests/test_add_modes.py::test_llm_calls_of_concurrent_adds_in_different_scopes_overlap, both modes.


async def test_concurrent_adds_on_one_scope_lose_nothing(make):
    llm = ScriptedLLM(delay=0.05)
    mem = make(llm=llm)
    await seed(mem, "I keep a diary")
    outs = await asyncio.gather(*(mem.add(f"My locker code is {i:04d}", user_id="u") for i in range(32)))
    added = [r for out in outs for r in out["results"] if r["event"] == "ADD"]
    assert len(added) == 32
    assert len({r["id"] for r in added}) == 32
    for r in added:
        item = await mem.get(r["id"])
        assert item is not None and item["memory"] == r["memory"]
    stored = (await mem.get_all(user_id="u", limit=1000))["results"]
    assert len(stored) == 33
    rows = await all_history(mem)
    assert sum(1 for row in rows if row[2] == "ADD") == len(stored)
    assert {row[1] for row in rows} == {i["id"] for i in stored}


async def test_concurrent_infer_false_adds_on_one_scope(make):
    mem = make()
    outs = await asyncio.gather(*(mem.add([f"note {i} a", f"note {i} b"], user_id="u", infer=False) for i in range(20)))
    ids = [r["id"] for out in outs for r in out["results"]]
    assert len(set(ids)) == 40
    assert await mem.vector_store.count(scope=Scope(user_id="u")) == 40
    assert len(await all_history(mem)) == 40


# ------------------------------------------------------------------------ sync facade
def _sync_memory(**kw: Any) -> Memory:
    return Memory({**BASE, **kw}, llm=ScriptedLLM(), clock=Clock())


def test_sync_memory_from_plain_code():
    m = _sync_memory()
    try:
        out = m.add("I love sushi. I work at Acme as an engineer.", user_id="u")
        assert sorted(r["memory"] for r in out["results"]) == ["I love sushi", "I work at Acme as an engineer"]
        items = m.get_all(user_id="u")["results"]
        assert {i.get("memory_type") for i in items} == {"preference", "factual"}
        assert m.history(items[0]["id"])[0]["event"] == "ADD"
        with pytest.raises(ScopeError):
            m.add("no scope")
    finally:
        m.close()


async def test_sync_memory_inside_running_event_loop():
    asyncio.get_running_loop()  # a loop is running in this thread
    m = _sync_memory()
    try:
        out = m.add("I love sushi", user_id="u")
        assert [r["memory"] for r in out["results"]] == ["I love sushi"]
        assert m.get(out["results"][0]["id"]).get("memory_type") == "preference"
        await asyncio.sleep(0)  # the test's own loop is still usable
    finally:
        m.close()


def test_sync_memory_from_many_threads():
    m = _sync_memory()
    try:
        barrier = threading.Barrier(8)

        def work(i: int) -> list[str]:
            barrier.wait()
            out = m.add(f"I have {i + 2} bicycles at home", user_id=f"t{i}")
            m.add(f"note number {i}", user_id="shared", infer=False)
            return [r["id"] for r in out["results"]]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))
        assert all(len(r) == 1 for r in results)
        for i in range(8):
            assert [x["memory"] for x in m.get_all(user_id=f"t{i}")["results"]] == [f"I have {i + 2} bicycles at home"]
        assert len(m.get_all(user_id="shared")["results"]) == 8
    finally:
        m.close()


def test_sync_memory_close_is_idempotent_and_later_calls_raise():
    m = _sync_memory()
    m.add("I like tea", user_id="u", infer=False)
    m.close()
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.add("I like tea", user_id="u")
    with pytest.raises(RuntimeError):
        m.get_all(user_id="u")
    with pytest.raises(RuntimeError):
        m.search("tea", user_id="u")
    assert "closed" in repr(m)
    with _sync_memory() as m2:
        m2.add("I like tea", user_id="u", infer=False)
    with pytest.raises(RuntimeError):
        m2.add("x", user_id="u")


def test_update_rewriting_the_memory_that_held_a_restated_fact_keeps_that_fact():
    """Found by test_llm_output's property test: the stored "teal" memory is restated and the LLM
    UPDATEs that very memory to the other new fact. The old text no longer survives, so the
    restated fact must be added, not counted as known by a memory this plan rewrites."""
    from mem7_core.engine.inference import Decision, Fact, plan_changes

    facts = [Fact("Favourite colour is teal"), Fact("I own a red kayak")]
    candidates = [("m1", "Favourite colour is teal")]
    plan = plan_changes([Decision(id="0", text="I own a red kayak", event="UPDATE")], facts, candidates)
    assert plan.updates == [("m1", "I own a red kayak", 1)]
    assert plan.adds == [("Favourite colour is teal", 0)]
    # A NONE vouching for the fact through that memory is void once the memory is rewritten too.
    plan = plan_changes(
        [Decision(id="0", text="Favourite colour is teal", event="NONE"),
         Decision(id="0", text="I own a red kayak", event="UPDATE")],
        facts, candidates,
    )
    assert ("Favourite colour is teal", 0) in plan.adds
    # Untouched, the memory still holds the fact: nothing extra is added.
    plan = plan_changes([Decision(id="0", text="Favourite colour is teal", event="NONE")], facts, candidates)
    assert plan.adds == [("I own a red kayak", 1)]
