"""The two add modes (``MemoryConfig.add_mode``, issue #9): ``two_call`` (extract, then decide) and
``one_call`` (retrieve candidates from the conversation first, then one call returns facts and
decisions). One-call specifics, the properties both modes share (call counts, one store round for
the candidates, no provider call under a scope lock, concurrent adds overlapping), and agreement
between the modes on the scripted conversations of ``tests/add_conversations.json`` given a model
that answers both consistently (``mem7_core.testing.one_call.as_one_call``).

The LLM-output safety suites run in both modes in ``tests/reliability/test_dedup_loss.py`` and
``tests/reliability/test_llm_output.py``. Fast: hash embedder, flat store, in-memory SQLite history.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mem7_core.config import MemoryConfig, load_config
from mem7_core.engine.inference import parse_extract_and_decide, retrieval_queries
from mem7_core.engine.memory import AsyncMemory
from mem7_core.errors import ConfigError, LLMOutputError
from mem7_core.models import Scope
from mem7_core.providers.tasks import (
    AGENT_EXTRACT_AND_UPDATE_MARKER,
    EXTRACT_AND_UPDATE_MARKER,
    FACT_EXTRACTION_MARKER,
    UPDATE_MEMORY_MARKER,
)
from mem7_core.testing.fakes import ScriptedLLM, rule_based_reply
from mem7_core.testing.one_call import as_one_call, one_call_reply, read_one_call

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
MODES = ["two_call", "one_call"]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CONVERSATIONS = Path(__file__).with_name("add_conversations.json")


@pytest.fixture
async def make():
    """Factory for engines (closed after the test)."""
    engines: list[AsyncMemory] = []

    def _make(llm: Any = None, *, mode: str = "one_call", **config: Any) -> AsyncMemory:
        mem = AsyncMemory({**BASE, "add_mode": mode, **config}, llm=llm, clock=lambda: NOW)
        engines.append(mem)
        return mem

    yield _make
    for mem in engines:
        await mem.aclose()


async def seed(mem: AsyncMemory, text: str, user_id: str = "u") -> str:
    return (await mem.add(text, user_id=user_id, infer=False))["results"][0]["id"]


async def texts(mem: AsyncMemory, user_id: str = "u") -> list[str]:
    return sorted(i["memory"] for i in (await mem.get_all(user_id=user_id, limit=1000))["results"])


def user_text(call: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in call["messages"] if m["role"] == "user" and isinstance(m["content"], str))


def one_call_answer(facts: Any, memory: Any = None) -> Callable[[Sequence[dict]], Any]:
    """A script answering every one-call prompt with these facts and decisions (others: rule-based)."""

    def reply(messages: Sequence[dict]) -> Any:
        if read_one_call(messages) is None:
            return rule_based_reply(messages)
        out: dict[str, Any] = {"facts": facts}
        if memory is not None:
            out["memory"] = memory
        return out

    return reply


# ------------------------------------------------------------------------------------ config
def test_add_mode_config_default_normalised_and_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MemoryConfig().add_mode == "two_call"
    assert MemoryConfig(add_mode=" One-Call ").add_mode == "one_call"
    with pytest.raises(ConfigError, match="add_mode") as err:
        load_config({**BASE, "add_mode": "three_calls"})
    assert "one_call" in str(err.value)  # names the accepted values
    monkeypatch.setenv("MEM7_ADD_MODE", "one_call")
    assert load_config({}).add_mode == "one_call"


# ------------------------------------------------------------------------------------ calls per add
@pytest.mark.parametrize("mode, expected", [("two_call", [1, 2, 1, 1]), ("one_call", [1, 1, 1, 1])])
async def test_llm_calls_per_add(make, mode, expected):
    """Empty scope, a scope with candidates, every fact already stored, nothing worth remembering."""
    llm = ScriptedLLM(one_call_reply)
    mem = make(llm, mode=mode)
    counts = []
    for message in ("I love sushi", "I work at Acme as an engineer", "I love sushi", "Hi"):
        before = len(llm.calls)
        await mem.add(message, user_id="u")
        counts.append(len(llm.calls) - before)
    assert counts == expected
    assert await texts(mem) == ["I love sushi", "I work at Acme as an engineer"]
    markers = {c["messages"][0]["content"].split("\n", 1)[0] for c in llm.calls}
    assert markers == ({EXTRACT_AND_UPDATE_MARKER} if mode == "one_call" else {FACT_EXTRACTION_MARKER, UPDATE_MEMORY_MARKER})


# ------------------------------------------------------------------------------------ one-call prompt
async def test_one_call_prompt_shows_candidates_with_small_ids_and_maps_back(make):
    llm = ScriptedLLM(
        one_call_answer(
            [{"text": "Lives in Berlin with a cat named Miso", "category": "factual"}, "Plays chess"],
            [
                {"id": "1", "text": "Lives in Berlin with a cat named Miso", "event": "UPDATE", "old_memory": "Has a cat named Miso"},
                {"id": 0, "event": "delete"},
                {"id": "3", "text": "Plays chess", "event": "ADD"},
            ],
        )
    )
    mem = make(llm)
    paris = await seed(mem, "I live in Paris")
    cat = await seed(mem, "Has a cat named Miso")
    await seed(mem, "Secret of another user with a cat", user_id="other")
    out = await mem.add("I live in Berlin now. My cat Miso came along. I play chess.", user_id="u")
    (call,) = llm.calls
    system, user = call["messages"][0]["content"], user_text(call)
    assert system.startswith(EXTRACT_AND_UPDATE_MARKER) and "Today's date is 2025-06-01." in system
    assert "0: I live in Paris\n1: Has a cat named Miso\n" in user  # creation order, integer ids
    assert "Conversation:\nuser: I live in Berlin now. My cat Miso came along. I play chess." in user
    assert not UUID_RE.search(user) and "Secret" not in user
    assert call["response_format"] == "json" and call["temperature"] == 0.0
    by_event = {r["event"]: r for r in out["results"]}
    assert by_event["UPDATE"]["id"] == cat and by_event["DELETE"]["id"] == paris
    assert (await mem.get(cat))["memory"] == "Lives in Berlin with a cat named Miso"
    assert await mem.get(paris) is None
    assert await texts(mem) == ["Lives in Berlin with a cat named Miso", "Plays chess"]
    assert [e["event"] for e in await mem.history(cat)] == ["ADD", "UPDATE"]
    assert (await mem.history(cat))[-1]["old_memory"] == "Has a cat named Miso"
    assert await texts(mem, "other") == ["Secret of another user with a cat"]


async def test_one_call_retrieves_candidates_per_sentence_before_the_llm_call(make):
    """Each sentence finds its own neighbours (as each fact does in two-call mode), and the store is
    searched before the one LLM call, not after."""
    order: list[str] = []

    def reply(messages: Sequence[dict]) -> Any:
        order.append("llm")
        return one_call_reply(messages)

    llm = ScriptedLLM(reply)
    mem = make(llm, candidates_per_fact=2)
    for t in ("My dog is named Rex", "My dog likes long walks", "I drive a blue van", "My van needs new tyres",
              "I grow tomatoes", "I bake sourdough bread", "I collect old stamps", "I swim on Tuesdays"):
        await seed(mem, t)
    search_many = mem.vector_store.search_many

    async def spy(vectors: Any, **kw: Any) -> Any:
        order.append(f"search:{len(vectors)}")
        return await search_many(vectors, **kw)

    mem.vector_store.search_many = spy  # type: ignore[method-assign]
    await mem.add("My dog Rex is named Rex. I drive a blue van to work.", user_id="u")
    assert order == ["search:2", "llm"]
    shown = read_one_call(llm.calls[0]["messages"]).existing
    assert {"My dog is named Rex", "I drive a blue van"} <= set(shown)
    assert len(shown) <= 4 and "I collect old stamps" not in shown


def test_retrieval_queries_split_sentences_and_stay_bounded():
    assert retrieval_queries(["I love sushi. I work at Acme!  Really?", "I love sushi."]) == [
        "I love sushi.", "I work at Acme!", "Really?"
    ]
    many = [f"Sentence number {i}." for i in range(50)]
    grouped = retrieval_queries(many, limit=24)
    assert len(grouped) == 24 and " ".join(grouped) == " ".join(many)
    assert retrieval_queries(["", "  "]) == []


async def test_one_call_memory_types_from_the_answer_survive_a_rephrase(make):
    llm = ScriptedLLM(
        one_call_answer(
            [{"text": "Loves hiking in the Alps", "category": "preference"},
             {"text": "Always stretches before a run", "category": "procedural_memory"},
             {"text": "Went to Rome last week", "category": "EPISODIC"},
             {"text": "Has two kids", "category": "gossip"}],
            [{"id": "0", "text": "The user loves hiking in the Alps", "event": "ADD"},
             {"id": "1", "text": "Always stretches before a run", "event": "ADD"},
             {"id": "2", "text": "Went to Rome last week", "event": "ADD"}],
        )
    )
    mem = make(llm)
    await seed(mem, "Unrelated thing")
    await mem.add("some conversation", user_id="u")
    got = {i["memory"]: i.get("memory_type") for i in (await mem.get_all(user_id="u"))["results"]}
    assert got == {
        "Unrelated thing": None,
        "The user loves hiking in the Alps": "preference",
        "Always stretches before a run": "procedural",
        "Went to Rome last week": "episodic",
        "Has two kids": "factual",  # left out by the decisions: added by the guard, bogus category → factual
    }
    await mem.add("one more", user_id="u2", memory_type="episodic")
    assert {i["memory_type"] for i in (await mem.get_all(user_id="u2"))["results"]} == {"episodic"}


@pytest.mark.parametrize("decay", [False, True])
async def test_one_call_write_path_decay_changes_the_candidates_shown(decay):
    """Write-path scorers cut the candidates in one_call mode too (decayed scores order and cut)."""
    now = {"t": NOW.replace(year=2024)}
    llm = ScriptedLLM(one_call_reply)
    cfg = {**BASE, "add_mode": "one_call", "decay": {"enabled": decay}, "candidates_per_fact": 1}
    async with AsyncMemory(cfg, llm=llm, clock=lambda: now["t"]) as mem:
        await seed(mem, "I drink green tea every morning")  # a year old, most similar
        now["t"] = NOW
        await seed(mem, "I drink black coffee every evening")  # fresh, less similar
        await mem.add("I drink green tea every evening", user_id="u")
        shown = read_one_call(llm.calls[0]["messages"]).existing
    assert shown == (["I drink black coffee every evening"] if decay else ["I drink green tea every morning"])


# ------------------------------------------------------------------------------------ one-call answers
async def test_one_call_invalid_json_after_retry_raises_and_writes_nothing(make):
    llm = ScriptedLLM(["{not json", '```json\n{"facts": [\n```'])
    mem = make(llm)
    await seed(mem, "I like tea")
    before = await texts(mem)
    with pytest.raises(LLMOutputError, match="fact extraction and update decision") as err:
        await mem.add("I like coffee", user_id="u")
    assert "scripted" in str(err.value) and "Nothing was stored" in str(err.value)
    assert len(llm.calls) == 2  # 1 + llm_retries
    assert await texts(mem) == before


async def test_one_call_retry_succeeds_after_garbage(make):
    llm = ScriptedLLM(["", {"facts": ["I like coffee"], "memory": [{"id": "1", "text": "I like coffee", "event": "ADD"}]}])
    mem = make(llm)
    await seed(mem, "I like tea")
    out = await mem.add("I like coffee", user_id="u")
    assert [r["memory"] for r in out["results"]] == ["I like coffee"] and len(llm.calls) == 2


async def test_one_call_missing_decisions_are_unreadable_only_when_memories_were_shown(make):
    llm = ScriptedLLM(one_call_answer(["I like coffee"]))  # never a "memory" list
    mem = make(llm)
    out = await mem.add("I like coffee", user_id="u")  # nothing shown: the facts alone are enough
    assert [r["event"] for r in out["results"]] == ["ADD"]
    with pytest.raises(LLMOutputError):
        await mem.add("I like coffee with milk", user_id="u")  # "I like coffee" shown: decisions required
    assert await texts(mem) == ["I like coffee"]
    assert len(llm.calls) == 1 + 2


def test_parse_extract_and_decide_keeps_facts_and_decisions_apart():
    facts, decisions = parse_extract_and_decide(
        {"facts": ["A b", {"fact": "C d", "category": "preference"}], "memory": [{"id": 0, "event": "none", "text": "A b"}]},
        decisions_required=True,
    )
    assert [(f.text, f.category) for f in facts] == [("A b", "factual"), ("C d", "preference")]
    assert [(d.id, d.event) for d in decisions] == [("0", "NONE")]
    with pytest.raises(ValueError, match="facts"):
        parse_extract_and_decide({"memory": [{"id": "0", "text": "A b", "event": "ADD"}]}, decisions_required=False)
    with pytest.raises(ValueError, match="memory"):
        parse_extract_and_decide({"facts": ["A b"]}, decisions_required=True)
    assert parse_extract_and_decide({"facts": []}, decisions_required=True) == ([], [])


async def test_one_call_without_facts_changes_nothing_whatever_is_decided(make):
    llm = ScriptedLLM(one_call_answer([], [{"id": "0", "event": "DELETE"}]))
    mem = make(llm)
    kept = await seed(mem, "I like tea")
    assert (await mem.add("Forget it", user_id="u"))["results"] == []
    assert (await mem.get(kept))["memory"] == "I like tea"


async def test_one_call_other_users_uuid_and_unknown_ids_never_reach_their_memories(make):
    holder: dict[str, str] = {}
    llm = ScriptedLLM(
        lambda m: one_call_answer(
            ["I like coffee", "I own a red kayak"],
            [{"id": holder["other"], "event": "DELETE"}, {"id": "9", "text": "I like coffee", "event": "UPDATE"},
             {"id": holder["other"], "text": "I own a red kayak", "event": "UPDATE"}],
        )(m)
    )
    mem = make(llm)
    await seed(mem, "I like tea")
    holder["other"] = await seed(mem, "Secret of another user", user_id="other")
    out = await mem.add("I like coffee. I own a red kayak.", user_id="u")
    assert sorted(r["event"] for r in out["results"]) == ["ADD", "ADD"]
    assert await texts(mem) == ["I like coffee", "I like tea", "I own a red kayak"]
    assert await texts(mem, "other") == ["Secret of another user"]


async def test_one_call_custom_prompt_runs_the_two_call_pipeline(make):
    llm = ScriptedLLM(one_call_reply)
    mem = make(llm, custom_update_memory_prompt="Decide ADD UPDATE DELETE NONE, answer in json.")
    await seed(mem, "I like tea")
    await mem.add("I like coffee", user_id="u")
    assert len(llm.calls_for(FACT_EXTRACTION_MARKER)) == 1 and len(llm.calls_for(UPDATE_MEMORY_MARKER)) == 1
    llm2 = ScriptedLLM(one_call_reply)
    mem2 = make(llm2)
    await mem2.add("I like coffee", user_id="u", prompt="Extract facts as json.")
    assert llm2.calls_for(FACT_EXTRACTION_MARKER) and not llm2.calls_for(EXTRACT_AND_UPDATE_MARKER)


async def test_one_call_agent_prompt_when_agent_scope_and_assistant_turn(make):
    llm = ScriptedLLM(one_call_reply)
    mem = make(llm)
    out = await mem.add(
        [{"role": "user", "content": "Speak French please."}, {"role": "assistant", "content": "I answer in French when asked."}],
        agent_id="helper",
    )
    assert llm.calls[0]["messages"][0]["content"].startswith(AGENT_EXTRACT_AND_UPDATE_MARKER)
    assert [r["memory"] for r in out["results"]] == ["I answer in French when asked"]


# ------------------------------------------------------------------------------------ both modes
class CountingStore:
    """Counts store rounds made by adds (wraps the engine's store methods)."""

    def __init__(self, mem: AsyncMemory) -> None:
        self.rounds = {"search": 0, "search_many": 0}
        store = mem.vector_store
        search, search_many = store.search, store.search_many

        async def counted_search(*a: Any, **kw: Any) -> Any:
            self.rounds["search"] += 1
            return await search(*a, **kw)

        async def counted_many(*a: Any, **kw: Any) -> Any:
            self.rounds["search_many"] += 1
            return await search_many(*a, **kw)

        store.search = counted_search  # type: ignore[method-assign]
        store.search_many = counted_many  # type: ignore[method-assign]


@pytest.mark.parametrize("mode", MODES)
async def test_candidates_of_every_fact_in_one_store_round(make, mode):
    mem = make(ScriptedLLM(one_call_reply), mode=mode)
    for t in ("I like tea", "I own a bike", "I read books"):
        await seed(mem, t)
    counter = CountingStore(mem)
    await mem.add("I like green tea. I own a red bike. I read old books.", user_id="u")
    assert counter.rounds["search_many"] == 1, counter.rounds


async def test_default_search_many_equals_one_search_per_vector(make):
    mem = make()
    for i in range(12):
        await seed(mem, f"memory number {i} about topic {i % 3}")
    vectors = await mem.embedder.embed(["topic 1", "number 7", "nothing"], purpose="search")
    many = await mem.vector_store.search_many(vectors, scope=Scope(user_id="u"), limit=4)
    single = [await mem.vector_store.search(v, scope=Scope(user_id="u"), limit=4) for v in vectors]
    assert [[(h.id, round(h.score, 6)) for h in hits] for hits in many] == [[(h.id, round(h.score, 6)) for h in hits] for hits in single]
    assert await mem.vector_store.search_many([], scope=Scope(user_id="u"), limit=4) == []


@pytest.mark.parametrize("mode", MODES)
async def test_no_provider_call_while_a_scope_lock_is_held(make, mode):
    """Embedding (even an UPDATE's merged text) and LLM calls happen before the scope lock: a slow
    provider never holds up other writers of the scope."""
    under_lock: list[str] = []

    def decide(messages: Sequence[dict]) -> Any:
        system = messages[0]["content"]
        if system.startswith(UPDATE_MEMORY_MARKER):
            return {"memory": [{"id": "0", "text": "I like green tea with honey", "event": "UPDATE"}]}
        return rule_based_reply(messages)

    llm = ScriptedLLM(as_one_call(decide))
    mem = make(llm, mode=mode)
    await seed(mem, "I like tea")
    embed, generate = mem.embedder.embed, llm.generate

    async def watched_embed(*a: Any, **kw: Any) -> Any:
        if len(mem._locks):
            under_lock.append("embed")
        return await embed(*a, **kw)

    async def watched_generate(*a: Any, **kw: Any) -> Any:
        if len(mem._locks):
            under_lock.append("llm")
        return await generate(*a, **kw)

    mem.embedder.embed = watched_embed  # type: ignore[method-assign]
    llm.generate = watched_generate  # type: ignore[method-assign]
    out = await mem.add("I like green tea with honey", user_id="u")
    assert [r["event"] for r in out["results"]] == ["UPDATE"]
    assert under_lock == []
    hits = await mem.search("green tea honey", user_id="u", limit=1)
    assert hits["results"][0]["memory"] == "I like green tea with honey"  # the UPDATE was re-embedded


class InFlight:
    """A script answering like ``one_call_reply`` after ``delay`` seconds, and counting the most calls
    in flight at once (one event loop: plain counters are exact)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.now = 0
        self.max = 0

    async def __call__(self, messages: Sequence[dict]) -> Any:
        self.now += 1
        self.max = max(self.max, self.now)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.now -= 1
        return one_call_reply(messages)


@pytest.mark.parametrize("mode", MODES)
async def test_llm_calls_of_concurrent_adds_in_different_scopes_overlap(make, mode):
    slow = InFlight(0.05)
    llm = ScriptedLLM(slow)
    mem = make(llm, mode=mode)
    for i in range(16):
        await seed(mem, f"I have {i} old notes", user_id=f"user{i}")
    outs = await asyncio.gather(*(mem.add(f"My lucky number is {i}", user_id=f"user{i}") for i in range(16)))
    assert len(llm.calls) == (16 if mode == "one_call" else 32)
    assert slow.max == 16, f"LLM calls of concurrent adds must overlap (max in flight {slow.max})"
    for i, out in enumerate(outs):
        assert [r["memory"] for r in out["results"]] == [f"My lucky number is {i}"]


@pytest.mark.parametrize("mode", MODES)
async def test_concurrent_adds_on_one_scope_overlap_and_lose_nothing(make, mode):
    slow = InFlight(0.02)
    mem = make(ScriptedLLM(slow), mode=mode)
    await seed(mem, "I keep a diary")
    outs = await asyncio.gather(*(mem.add(f"My locker code is {i:04d}", user_id="u") for i in range(32)))
    assert slow.max == 32, "one scope: the LLM calls overlap too; only the apply step is ordered"
    added = [r for out in outs for r in out["results"] if r["event"] == "ADD"]
    assert len({r["id"] for r in added}) == 32
    assert len(await texts(mem)) == 33


@pytest.mark.parametrize("mode", MODES)
async def test_the_same_new_fact_added_concurrently_in_one_scope_is_stored_once(make, mode):
    """Sequentially the second add finds the first's memory; concurrently neither can (both decide
    before either writes). Under the scope lock the later one sees what the first stored meanwhile."""
    mem = make(ScriptedLLM(one_call_reply, delay=0.02), mode=mode)
    await seed(mem, "I keep a diary")
    outs = await asyncio.gather(*(mem.add("My locker code is 0042", user_id="u") for _ in range(16)))
    assert await texts(mem) == ["I keep a diary", "My locker code is 0042"]
    assert sum(1 for out in outs for r in out["results"] if r["event"] == "ADD") == 1
    assert len(mem._writes) == 0, "the write log is dropped when no add of the scope is in flight"
    other = await asyncio.gather(*(mem.add("My locker code is 0042", user_id=f"user{i}") for i in range(4)))
    assert all(len(out["results"]) == 1 for out in other), "other scopes are not affected"


@pytest.mark.parametrize("delete_twin", [False, True], ids=["twin-kept", "twin-deleted"])
async def test_a_twin_stored_while_deciding_counts_only_while_it_holds_the_words(make, delete_twin):
    """An add decides (its LLM call held open) while another stores the same fact. Applying, it
    skips its ADD if that memory still holds the words; if it was deleted meanwhile, it adds."""
    waiting, gate = asyncio.Event(), asyncio.Event()

    async def held(messages: Sequence[dict]) -> Any:
        if "held" in user_text({"messages": messages}):
            waiting.set()
            await gate.wait()
        return one_call_reply(messages)

    mem = make(ScriptedLLM(held))
    turn = [{"role": "user", "content": "I own a red kayak"}, {"role": "assistant", "content": "held"}]
    deciding = asyncio.create_task(mem.add(turn, user_id="u"))
    await asyncio.wait_for(waiting.wait(), 5)  # its candidates are retrieved: the scope was empty
    (twin,) = (await mem.add("I own a red kayak", user_id="u"))["results"]
    if delete_twin:
        await mem.delete(twin["id"])
    gate.set()
    events = [r["event"] for r in (await deciding)["results"]]
    assert events == (["ADD"] if delete_twin else [])
    assert await texts(mem) == ["I own a red kayak"]


# ------------------------------------------------------------------------------------ agreement
async def run_conversations(mode: str, script: Callable[[Sequence[dict]], Any]) -> dict[str, list[tuple[str, str | None]]]:
    sessions = json.loads(CONVERSATIONS.read_text())["sessions"]
    out: dict[str, list[tuple[str, str | None]]] = {}
    async with AsyncMemory({**BASE, "add_mode": mode}, llm=ScriptedLLM(as_one_call(script)), clock=lambda: NOW) as mem:
        for session in sessions:
            for messages in session["adds"]:
                await mem.add(messages, **session["scope"])
            items = (await mem.get_all(**session["scope"], limit=1000))["results"]
            out[json.dumps(session["scope"], sort_keys=True)] = sorted((i["memory"], i["memory_type"]) for i in items)
    return out


async def test_modes_store_the_same_memories_given_a_consistent_model():
    """With the rule-based model answering both modes the same way, the two pipelines end with the
    same memories (text and type) in every scope of the scripted conversations."""
    two = await run_conversations("two_call", rule_based_reply)
    one = await run_conversations("one_call", rule_based_reply)
    assert sum(len(v) for v in two.values()) >= 40  # the conversations really stored something
    assert one == two
