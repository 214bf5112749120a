"""Group 2 — whatever the LLM returns, add() never crashes with anything but LLMOutputError /
ProviderError, never silently drops a fact, and after the bounded retry either succeeds or raises
one clear error with store and history unchanged.

Hypothesis generates both LLM answers of an ``add(infer=True)`` — fact extraction and update
decision — as sequences of attempts (one per allowed try): well-formed answers rendered in the
tolerated ways (code fences, prose around the JSON, trailing commas, ids as numbers, lowercase or
unknown events, extra keys, facts as plain strings or numbers) and unreadable ones (empty body,
truncated JSON, prose only, a JSON list, the wrong key, a failing call). Decisions name ids that
exist, that do not, real UUIDs of candidates and of another user's memory.

Both add modes run (``MemoryConfig.add_mode``): in ``one_call`` the one answer holds the facts and
the decisions together, so the extraction attempt sequence is that call's and the decision attempts
are unused; the oracle is the same (at most ``1 + llm_retries`` calls there).

Named forms of each tolerance are pinned one by one in
tests/test_engine_add.py::test_tolerant_parsing_of_llm_answers and the retry/failure tests next to it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _kit import assert_consistent, engine, history_rows, snapshot, system_of, user_of
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mem7_core.engine.inference import norm_text
from mem7_core.errors import LLMOutputError, ProviderError
from mem7_core.providers.llm_json import parse_json_object
from mem7_core.providers.tasks import EXTRACT_AND_UPDATE_MARKER, UPDATE_MEMORY_MARKER
from mem7_core.testing.fakes import ScriptedLLM
from mem7_core.testing.one_call import read_one_call

EXISTING = ["Favourite colour is teal", "Works as a night nurse", "Has a cat named Miso"]
FACTS = ["I own a red kayak", "My sister lives in Oslo", "Plays chess on Sundays", "Allergic to peanuts", "42"]
OTHER = "Secret of another user"
UNRELATED = "Something unrelated entirely happened"
RETRIES = 1  # the default llm_retries: two attempts per LLM call


def _tokens(text: str) -> set[str]:
    return set(norm_text(text).split())


def test_pools_do_not_overlap():
    """The oracle maps decision texts to facts exactly; that needs texts sharing few words."""
    pool = EXISTING + FACTS + [OTHER, UNRELATED]
    for a in pool:
        for b in pool:
            if a != b:
                wa, wb = _tokens(a), _tokens(b)
                assert len(wa & wb) / len(wa | wb) < 0.3, (a, b)


# ------------------------------------------------------------------------------------ strategies
READABLE = ["plain", "fence-json", "fence-bare", "prose", "trailing-comma", "extra-keys", "indent"]
UNREADABLE = ["empty", "blank", "truncated", "prose-only", "json-list", "wrong-key", "not-a-list", "error"]

attempt_st = st.tuples(st.sampled_from(READABLE + UNREADABLE), st.floats(0.05, 0.95))
attempts_st = st.lists(attempt_st, min_size=1 + RETRIES, max_size=1 + RETRIES)

fact_st = st.tuples(
    st.sampled_from(FACTS + EXISTING[:1]),  # EXISTING[0]: the same fact again
    st.sampled_from(["str", "dict", "dict-fact-key", "dict-bogus-category", "dict-upper-category", "number"]),
)
facts_st = st.lists(fact_st, min_size=0, max_size=3, unique_by=lambda f: f[0])

ID_CHOICES = ["0", "1", "2", 0, 1, 2, "3", "7", "99", "-1", "abc", "", None, 1.0, True, "<cand-uuid>", "<other-uuid>"]
EVENT_CHOICES = ["ADD", "UPDATE", "DELETE", "NONE", "add", "update", "delete", "none", "Update", "MAYBE", "", None, 3,
                 "REMOVE", "NOOP"]
TEXT_CHOICES: list[Any] = FACTS + EXISTING + [OTHER, UNRELATED, "", None, 123]

decision_st = st.fixed_dictionaries(
    {"id": st.sampled_from(ID_CHOICES), "event": st.sampled_from(EVENT_CHOICES)},
    optional={"text": st.sampled_from(TEXT_CHOICES), "old_memory": st.sampled_from([*EXISTING, None]),
              "reason": st.sampled_from(["richer", "", "n/a"])},
)
decisions_st = st.lists(decision_st, min_size=0, max_size=5)


def _fact_entry(text: str, style: str) -> Any:
    if style == "str":
        return text
    if style == "number":
        return int(text) if text.isdigit() else text
    if style == "dict-fact-key":
        return {"fact": text}
    if style == "dict-bogus-category":
        return {"text": text, "category": "gossip"}
    if style == "dict-upper-category":
        return {"text": text, "category": "PREFERENCE"}
    return {"text": text, "category": "factual"}


def render(payload: dict[str, Any], key: str, kind: str, cut: float) -> Any:
    """One LLM answer: ``payload`` (a JSON object under ``key``) rendered as ``kind``."""
    body = json.dumps(payload)
    if kind == "plain":
        return body
    if kind == "fence-json":
        return f"```json\n{body}\n```"
    if kind == "fence-bare":
        return f"```\n{body}\n```"
    if kind == "prose":
        return f"Sure! Here is the answer:\n{body}\nLet me know if you need anything else."
    if kind == "trailing-comma":
        return body[:-1] + ",}" if body.endswith("]}") else body
    if kind == "extra-keys":
        return json.dumps({**payload, "explanation": "because", "confidence": 0.9})
    if kind == "indent":
        return json.dumps(payload, indent=2)
    if kind == "empty":
        return ""
    if kind == "blank":
        return "  \n\t "
    if kind == "truncated":
        return body[: max(1, min(len(body) - 2, int(len(body) * cut)))]
    if kind == "prose-only":
        return "I could not find anything worth remembering here."
    if kind == "json-list":
        return json.dumps(payload[key])
    if kind == "wrong-key":
        return json.dumps({"items": payload[key]})
    if kind == "not-a-list":
        return json.dumps({key: "see above"})
    if kind == "error":
        return RuntimeError("upstream timed out")
    raise AssertionError(kind)


class Scripted:
    """Answers extraction and decision from the generated attempt sequences; records overflow."""

    def __init__(self, facts: list[tuple[str, str]], extraction: list[tuple[str, float]],
                 decisions: list[dict[str, Any]], decision_attempts: list[tuple[str, float]]) -> None:
        self.facts = facts
        self.extraction = list(extraction)
        self.decisions = decisions
        self.decision_attempts = list(decision_attempts)
        self.ids: dict[str, str] = {}
        self.overflow = 0
        self.shown: list[str] = []  # candidate texts in the order the decision prompt showed them

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for d in self.decisions:
            d = dict(d)
            if d["id"] == "<cand-uuid>":
                d["id"] = self.ids["cand"]
            elif d["id"] == "<other-uuid>":
                d["id"] = self.ids["other"]
            rows.append(d)
        return rows

    def __call__(self, messages: Any) -> Any:
        one_call = read_one_call(messages)
        if one_call is not None:  # facts and decisions in one answer, on the extraction attempts
            if not self.extraction:
                self.overflow += 1
                return "{}"
            kind, cut = self.extraction.pop(0)
            self.shown = list(one_call.existing)
            payload = {"facts": [_fact_entry(t, s) for t, s in self.facts], "memory": self._rows()}
            return render(payload, "facts", kind, cut)
        if system_of(messages).startswith(UPDATE_MEMORY_MARKER):
            if not self.decision_attempts:
                self.overflow += 1
                return "{}"
            kind, cut = self.decision_attempts.pop(0)
            existing = user_of(messages).partition("New facts:")[0]
            self.shown = [line.split(": ", 1)[1] for line in existing.splitlines() if line[:1].isdigit() and ": " in line]
            return render({"memory": self._rows()}, "memory", kind, cut)
        if not self.extraction:
            self.overflow += 1
            return "{}"
        kind, cut = self.extraction.pop(0)
        return render({"facts": [_fact_entry(t, s) for t, s in self.facts]}, "facts", kind, cut)


def _outcome(attempts: list[tuple[str, float]]) -> tuple[bool, bool]:
    """(succeeds, last failure was a failed call rather than an unreadable answer)."""
    for kind, _ in attempts:
        if kind in READABLE:
            return True, False
    return False, attempts[-1][0] == "error"


async def scenario(facts, extraction, decisions, decision_attempts, mode: str = "two_call") -> None:
    script = Scripted(facts, extraction, decisions, decision_attempts)
    llm = ScriptedLLM(script)
    one_call = mode == "one_call"
    async with engine(llm=llm, llm_retries=RETRIES, add_mode=mode) as mem:
        ids = [(await mem.add(t, user_id="u", infer=False))["results"][0]["id"] for t in EXISTING]
        other = (await mem.add(OTHER, user_id="other", infer=False))["results"][0]["id"]
        script.ids = {"cand": ids[1], "other": other}
        id_of = dict(zip(EXISTING, ids))
        before, hist_before = await snapshot(mem), await history_rows(mem)

        fact_texts = [t for t, _ in facts]
        ok_extract, extract_call_failed = _outcome(extraction)
        open_facts = [t for t in fact_texts if norm_text(t) not in {norm_text(e) for e in EXISTING}]
        asks_decision = ok_extract and bool(open_facts) and not one_call  # one_call: same answer
        ok_decide, decide_call_failed = _outcome(decision_attempts) if asks_decision else (True, False)

        try:
            out = await mem.add("Some conversation worth remembering.", user_id="u")
        except ProviderError as exc:
            failed_call = extract_call_failed if not ok_extract else decide_call_failed
            assert not (ok_extract and ok_decide), f"unexpected failure: {exc!r}"
            assert isinstance(exc, LLMOutputError) != failed_call, f"wrong error class {type(exc).__name__}"
            assert "scripted" in str(exc), "the error names the provider"
            assert await snapshot(mem) == before, "a failed add changed the store"
            assert await history_rows(mem) == hist_before, "a failed add changed the history"
            return
        # any other exception type propagates and fails the test
        assert ok_extract and ok_decide, f"expected one clear error, got results {out['results']}"
        assert script.overflow == 0
        assert len(llm.calls) <= (1 if one_call else 2) * (1 + RETRIES), "retries are bounded"
        assert bool(llm.calls_for(EXTRACT_AND_UPDATE_MARKER)) == one_call, "the mode's own prompts were used"

        stored = {i["id"]: i["memory"] for i in (await mem.get_all(user_id="u", limit=1000))["results"]}
        stored_norm = {norm_text(t) for t in stored.values()}
        for r in out["results"]:
            if r["event"] == "DELETE":
                assert r["id"] not in stored
            else:
                assert stored.get(r["id"]) == r["memory"]
        # Never silently dropped: each fact is stored, or a decision named a surviving candidate as
        # holding that text (the LLM judged it known).
        named_surviving = set()
        for d in decisions:
            raw = d["id"]
            shown_idx = str(raw).strip() if raw is not None else None
            target = None
            if shown_idx is not None and shown_idx.isdigit() and int(shown_idx) < len(script.shown):
                target = id_of[script.shown[int(shown_idx)]]
            elif raw == "<cand-uuid>":
                target = ids[1]
            if target is not None and target in stored and d.get("text") is not None:
                named_surviving.add(norm_text(str(d["text"])))
        for fact in fact_texts:
            key = norm_text(fact)
            assert key in stored_norm or key in named_surviving, f"fact {fact!r} silently dropped: {out['results']}"
        # Never "the memory gone and nothing added".
        if any(i not in stored for i in ids):
            assert any(r["event"] in ("ADD", "UPDATE") for r in out["results"]), out["results"]
        # The other user's memory is never shown, touched or returned.
        assert OTHER not in script.shown
        assert (await mem.get(other))["memory"] == OTHER
        assert all(r["id"] != other for r in out["results"])
        await assert_consistent(mem)


@pytest.mark.parametrize("mode", ["two_call", "one_call"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_st, extraction=attempts_st, decisions=decisions_st, decision_attempts=attempts_st)
@example(  # the contradiction answered DELETE + NONE on the deleted memory
    facts=[("I own a red kayak", "dict")], extraction=[("plain", 0.5)] * 2,
    decisions=[{"id": "1", "event": "DELETE"}, {"id": 1, "event": "none", "text": "I own a red kayak"}],
    decision_attempts=[("fence-json", 0.5)] * 2,
)
@example(  # NONE naming an id that does not exist
    facts=[("Allergic to peanuts", "str")], extraction=[("prose", 0.5)] * 2,
    decisions=[{"id": "99", "event": "NONE", "text": "Allergic to peanuts"}], decision_attempts=[("plain", 0.5)] * 2,
)
@example(  # truncated twice: one clear error, nothing written
    facts=[("I own a red kayak", "str")], extraction=[("truncated", 0.5), ("truncated", 0.3)],
    decisions=[], decision_attempts=[("plain", 0.5)] * 2,
)
@example(  # garbage once, then fine
    facts=[("Plays chess on Sundays", "dict")], extraction=[("plain", 0.5)] * 2,
    decisions=[{"id": "0", "event": "ADD", "text": "Plays chess on Sundays"}],
    decision_attempts=[("empty", 0.5), ("trailing-comma", 0.5)],
)
@example(  # the call itself fails twice: ProviderError, not LLMOutputError
    facts=[("42", "number")], extraction=[("error", 0.5), ("error", 0.5)], decisions=[],
    decision_attempts=[("plain", 0.5)] * 2,
)
def test_add_survives_any_llm_answer(mode, facts, extraction, decisions, decision_attempts):
    asyncio.run(scenario(facts, extraction, decisions, decision_attempts, mode))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.none()))
def test_parse_json_object_only_ever_raises_value_error(text):
    try:
        value = parse_json_object(text)
    except ValueError:
        return
    assert isinstance(value, dict)
