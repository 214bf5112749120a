"""Group 1 — dedup data loss: adding the same fact twice, or a contradiction, never ends with the
memory gone and nothing added, whatever the update-decision LLM answers.

Already proven elsewhere (see README.md): a DELETE-only answer to a contradiction still adds the new
fact (tests/test_engine_add.py::test_dedup_delete_without_add_never_loses_the_new_fact), UPDATE or
DELETE naming an unknown id keeps the fact (…::test_update_of_unknown_id_adds_the_fact_instead,
…::test_delete_of_unknown_id_is_skipped_and_the_fact_still_added).

Every test that goes through the LLM runs in both add modes (``mode``): ``two_call`` (extraction,
then the update decision) and ``one_call`` (one answer holding both). The scripts are two-call
scripts wrapped by ``mem7_core.testing.one_call.as_one_call``, so the model answers the same in both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _kit import assert_consistent, engine, history_rows, records, router

from mem7_core.providers.tasks import EXTRACT_AND_UPDATE_MARKER, FACT_EXTRACTION_MARKER, UPDATE_MEMORY_MARKER
from mem7_core.testing.fakes import ScriptedLLM
from mem7_core.testing.one_call import as_one_call

MODES = ["two_call", "one_call"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The add mode under test (``MemoryConfig.add_mode``)."""
    return request.param


def llm_for(script: Any = None) -> ScriptedLLM:
    """A scripted model answering both modes' prompts consistently (rule-based by default)."""
    return ScriptedLLM(as_one_call(script))


def assert_asked_in(mode: str, llm: ScriptedLLM) -> None:
    """The adds really went through ``mode``'s prompts (no silent fallback to the other mode)."""
    one_call = llm.calls_for(EXTRACT_AND_UPDATE_MARKER)
    two_call = llm.calls_for(FACT_EXTRACTION_MARKER) + llm.calls_for(UPDATE_MEMORY_MARKER)
    assert (one_call and not two_call) if mode == "one_call" else (two_call and not one_call), (mode, len(one_call), len(two_call))


async def _texts(mem: Any, user_id: str = "u") -> list[str]:
    return sorted(i["memory"] for i in (await mem.get_all(user_id=user_id))["results"])


async def _seed(mem: Any, text: str, user_id: str = "u") -> str:
    return (await mem.add(text, user_id=user_id, infer=False))["results"][0]["id"]


# ------------------------------------------------------------------------- the same fact twice
@pytest.mark.parametrize("again", ["I like green tea", "i LIKE green tea!!", "I like green tea."])
async def test_same_fact_twice_keeps_exactly_one_memory_and_asks_no_decision(again, mode):
    llm = llm_for()  # rule-based model
    async with engine(llm=llm, add_mode=mode) as mem:
        first = await mem.add("I like green tea", user_id="u")
        (added,) = first["results"]
        calls_before = len(llm.calls)
        out = await mem.add(again, user_id="u")
        assert out["results"] == []
        assert await _texts(mem) == ["I like green tea"]
        assert (await mem.get(added["id"]))["memory"] == "I like green tea"
        assert not llm.calls_for(UPDATE_MEMORY_MARKER), "a fact already stored word for word needs no decision"
        assert len(llm.calls) - calls_before == 1, "one call in either mode: extraction, or the one-call answer"
        assert [e["event"] for e in await mem.history(added["id"])] == ["ADD"]
        await assert_consistent(mem)


async def test_same_fact_twice_verbatim_never_deletes_the_first():
    async with engine() as mem:
        a = await _seed(mem, "I like green tea")
        b = await _seed(mem, "I like green tea")
        assert a != b and await _texts(mem) == ["I like green tea", "I like green tea"]
        await assert_consistent(mem)


async def test_restated_fact_deleted_by_the_llm_is_kept(mode):
    """Facts: a restated one and a new one; the LLM deletes the restated memory and adds the new."""
    llm = llm_for(
        router(
            facts={"facts": ["I like green tea", "I own a red kayak"]},
            decisions={"memory": [{"id": "0", "text": "I like green tea", "event": "DELETE"},
                                  {"id": "1", "text": "I own a red kayak", "event": "ADD"}]},
        )
    )
    async with engine(llm=llm, add_mode=mode) as mem:
        await _seed(mem, "I like green tea")
        await mem.add("I like green tea. I own a red kayak.", user_id="u")
        assert await _texts(mem) == ["I like green tea", "I own a red kayak"]
        assert_asked_in(mode, llm)
        await assert_consistent(mem)


# ---------------------------------------------------------------------------------- contradiction
async def test_contradiction_with_the_rule_based_model_replaces_not_erases(mode):
    async with engine(llm=llm_for(), add_mode=mode) as mem:
        await mem.add("Paris is my home", user_id="u")
        out = await mem.add("Paris is not my home", user_id="u")
        assert sorted(r["event"] for r in out["results"]) == ["ADD", "DELETE"]
        assert await _texts(mem) == ["Paris is not my home"]
        await assert_consistent(mem)


BERLIN = "I live in Berlin"
PARIS = "I live in Paris"

# Answers to "existing: 0: I live in Paris / new fact: I live in Berlin" that delete Paris or claim
# Berlin is known without a surviving memory to back it. None of them may end with Paris gone and
# Berlin nowhere.
CONTRADICTION_ANSWERS: dict[str, Any] = {
    "delete-only": {"memory": [{"id": "0", "text": PARIS, "event": "DELETE"}]},
    "delete-then-none-on-deleted": {"memory": [{"id": "0", "event": "DELETE"}, {"id": "0", "text": BERLIN, "event": "NONE"}]},
    "none-on-deleted-then-delete": {"memory": [{"id": "0", "text": BERLIN, "event": "NONE"}, {"id": "0", "event": "DELETE"}]},
    "none-unknown-id": {"memory": [{"id": "9", "text": BERLIN, "event": "NONE"}]},
    "delete-plus-none-unknown-id": {"memory": [{"id": "0", "event": "DELETE"}, {"id": "7", "text": BERLIN, "event": "NONE"}]},
    "unknown-event-unknown-id": {"memory": [{"id": "0", "event": "DELETE"}, {"id": "x", "text": BERLIN, "event": "KEEP_IT"}]},
    "delete-twice": {"memory": [{"id": "0", "event": "DELETE"}, {"id": 0, "event": "delete"}]},
    "delete-then-update-deleted": {"memory": [{"id": "0", "event": "DELETE"}, {"id": "0", "text": BERLIN, "event": "UPDATE"}]},
    "empty-list": {"memory": []},
    "null-list": {"memory": None},
    "only-garbage-entries": {"memory": ["ADD", 3, None, {"event": "NONE"}]},
}


@pytest.mark.parametrize("answer", CONTRADICTION_ANSWERS.values(), ids=CONTRADICTION_ANSWERS.keys())
async def test_contradiction_never_ends_with_the_memory_gone_and_nothing_added(answer, mode):
    llm = llm_for(router(facts={"facts": [BERLIN]}, decisions=answer))
    async with engine(llm=llm, add_mode=mode) as mem:
        paris = await _seed(mem, PARIS)
        await _seed(mem, "I have a dog", user_id="other")
        out = await mem.add("I moved: I live in Berlin now", user_id="u")
        events = [r["event"] for r in out["results"]]
        stored = await _texts(mem)
        assert BERLIN in stored, f"the new fact was dropped (results {out['results']})"
        if await mem.get(paris) is None:
            assert "ADD" in events or "UPDATE" in events
        assert await _texts(mem, "other") == ["I have a dog"]
        assert_asked_in(mode, llm)
        await assert_consistent(mem)


async def test_delete_by_real_uuid_of_a_candidate_still_adds_the_new_fact(mode):
    holder: dict[str, str] = {}
    llm = llm_for(router(facts={"facts": [BERLIN]}, decisions=lambda m: {"memory": [{"id": holder["paris"], "event": "DELETE"}]}))
    async with engine(llm=llm, add_mode=mode) as mem:
        holder["paris"] = await _seed(mem, PARIS)
        out = await mem.add("I live in Berlin", user_id="u")
        assert sorted(r["event"] for r in out["results"]) == ["ADD", "DELETE"]
        assert await _texts(mem) == [BERLIN]
        await assert_consistent(mem)


async def test_update_then_delete_of_the_same_memory_keeps_the_update(mode):
    llm = llm_for(
        router(
            facts={"facts": [BERLIN]},
            decisions={"memory": [{"id": "0", "text": BERLIN, "event": "UPDATE"}, {"id": "0", "event": "DELETE"}]},
        )
    )
    async with engine(llm=llm, add_mode=mode) as mem:
        paris = await _seed(mem, PARIS)
        out = await mem.add("I live in Berlin", user_id="u")
        assert [(r["event"], r["id"]) for r in out["results"]] == [("UPDATE", paris)]
        assert await _texts(mem) == [BERLIN]
        await assert_consistent(mem)


# ------------------------------------------------------------------------ contradiction, concurrent
class _Gate:
    """Holds every update decision until ``n`` of them are waiting, so both adds decide on the
    same stored text before either applies (the race a lock-free LLM phase allows)."""

    def __init__(self, n: int, answers: dict[str, Any]) -> None:
        self.n = n
        self.waiting = 0
        self.event = asyncio.Event()
        self.answers = answers

    async def __call__(self, messages: Any) -> Any:
        from _kit import system_of, user_of

        system = system_of(messages)
        text = user_of(messages)
        if not system.startswith(UPDATE_MEMORY_MARKER):
            fact = next(k for k in self.answers if k in text)
            return {"facts": [fact]}
        self.waiting += 1
        if self.waiting >= self.n:
            self.event.set()
        await asyncio.wait_for(self.event.wait(), 5)
        fact = next(k for k in self.answers if f"- {k}" in text)
        return self.answers[fact]


@pytest.mark.parametrize(
    "second",
    [
        {"id": "0", "text": "I like tea with milk", "event": "UPDATE"},
        {"id": "0", "event": "DELETE"},
    ],
    ids=["update-update", "update-delete"],
)
async def test_concurrent_decisions_on_one_memory_lose_neither_fact(second, mode):
    """Two adds decide against the same stored memory; the first to apply rewrites it. The second's
    UPDATE/DELETE was decided on text that no longer exists: applying it blindly would erase the
    first add's information."""
    answers = {
        "I like green tea": {"memory": [{"id": "0", "text": "I like green tea", "event": "UPDATE"}]},
        "I like tea with milk": {"memory": [second] + ([] if second["event"] == "UPDATE" else [
            {"id": "1", "text": "I like tea with milk", "event": "ADD"}])},
    }
    llm = llm_for(_Gate(2, answers))
    async with engine(llm=llm, add_mode=mode) as mem:
        await _seed(mem, "I like tea")
        outs = await asyncio.gather(
            mem.add("I like green tea", user_id="u"), mem.add("I like tea with milk", user_id="u")
        )
        stored = await _texts(mem)
        assert "I like green tea" in stored, f"the first add's update was lost: {stored} ({outs})"
        assert "I like tea with milk" in stored, f"the second add's fact was lost: {stored} ({outs})"
        assert_asked_in(mode, llm)
        await assert_consistent(mem)
        assert len(await records(mem)) == len(stored)
        assert await history_rows(mem)
