"""The add-mode quality harness (``bench/infer_eval``, issue 19) with scripted models.

Real parts: the loopback OpenAI-compatible server (started here) answering mem7-openai's HTTP calls,
``AsyncMemory`` with mem7-flat and SQLite history, both add modes. The core runs on a synthetic
LoCoMo-shaped conversation written by the test; one more test runs a slice of the LoCoMo dev half
when ``../shared/data/locomo`` is present (skipped otherwise).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.infer_eval import scripted  # noqa: E402 - after the sys.path line
from bench.infer_eval.bench_infer_eval import MODES, Options, embedder_section, evaluate, main, select  # noqa: E402
from bench.infer_eval.scoring import (  # noqa: E402
    Thresholds,
    content_words,
    contradicted,
    covers,
    judge_delete,
    judge_update,
    match_words,
    memory_parts,
)
from bench.locomo.bench_locomo import load  # noqa: E402
from mem7_core.testing.fakes import rule_based_reply  # noqa: E402

LOCOMO = ROOT.parent / "shared" / "data" / "locomo" / "locomo-dev.json"
TH = Thresholds()

# ------------------------------------------------------------------------------ synthetic fixture
SESSIONS = [
    ("10:00 am on 3 March, 2024", [
        ("Alice", "I adopted a golden retriever puppy named Biscuit."),
        ("Bob", "I play the guitar in a jazz band downtown."),
        ("Alice", "I am a nurse at the city hospital."),
        ("Bob", "That sounds demanding but rewarding."),
    ]),
    ("6:30 pm on 20 March, 2024", [
        ("Alice", "I started a pottery class at the community studio."),
        ("Bob", "My jazz band is recording an album this winter."),
        ("Alice", "Biscuit chewed my favourite running shoes."),
        ("Bob", "Puppies chew everything in sight."),
    ]),
    ("9:15 am on 2 April, 2024", [
        ("Alice", "I am not a nurse at the city hospital."),
        ("Bob", "I ran a half marathon along the river last Sunday."),
        ("Alice", "My pottery teacher praised my first vase."),
        ("Bob", "Your vase deserves a shelf of honour."),
    ]),
]
QAS = [  # (question, category, evidence)
    ("What is the name of Alice's dog?", 4, ["D1:1"]),
    ("Which instrument does Bob play?", 4, ["D1:2"]),
    ("Where did Alice work?", 4, ["D1:3", "D3:1"]),
    ("What class did Alice start?", 4, ["D2:1"]),
    ("What is Bob's band doing this winter?", 2, ["D2:2"]),
    ("What did Biscuit chew?", 1, ["D2:3", "D1:1"]),
    ("What race did Bob run?", 4, ["D3:2"]),
    ("Who praised Alice's vase?", 4, ["D3:3"]),
    ("What does Bob think of Alice?", 5, ["D3:4"]),  # adversarial: category 5 is left out, as by bench_locomo
]


def write_fixture(path: Path) -> Path:
    conversation: dict[str, Any] = {"speaker_a": "Alice", "speaker_b": "Bob"}
    for n, (date, turns) in enumerate(SESSIONS, start=1):
        conversation[f"session_{n}_date_time"] = date
        conversation[f"session_{n}"] = [
            {"speaker": who, "dia_id": f"D{n}:{i}", "text": text} for i, (who, text) in enumerate(turns, start=1)
        ]
    qa = [{"question": q, "answer": "x", "evidence": ev, "category": cat} for q, cat, ev in QAS]
    path.write_text(json.dumps([{"sample_id": "syn-1", "conversation": conversation, "qa": qa}]), encoding="utf-8")
    return path


EVIDENCE = {d for _, cat, ev in QAS if cat != 5 for d in ev}


@pytest.fixture
def conversations(tmp_path: Path) -> list[dict[str, Any]]:
    return load(write_fixture(tmp_path / "syn.json"))


def run(script: Callable[[Sequence[dict[str, Any]]], Any], convs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """Both modes over ``convs`` against a loopback server answering with ``script``."""
    srv = scripted.serve(script)
    try:
        opts = Options(
            base_url=srv.url, model="gpt-4.1-mini", api_key="sk-infer-eval",
            embedder=embedder_section(srv.url, "sk-infer-eval", "text-embedding-3-small", 384), **kw,
        )
        return asyncio.run(evaluate(select(convs, opts), opts))
    finally:
        srv.stop()


def conv_of(result: dict[str, Any], mode: str) -> dict[str, Any]:
    (conv,) = result[mode]["conversations"]
    assert isinstance(conv, dict)
    return conv


def check_counters(result: dict[str, Any], *, adds: int) -> None:
    """What must hold for any model: the counters are consistent with each other and the history."""
    for mode in MODES:
        c = conv_of(result, mode)
        assert c["adds"] == adds and c["add_errors"] == 0
        assert c["evidence_turns"] == len(EVIDENCE)
        assert c["covered"] + c["lost"] == c["evidence_turns"]
        assert c["missed"] + c["lost_by_change"] == c["lost"]
        assert c["events"] == c["history_events"]  # what the adds reported is what the history holds
        assert c["facts_kept"] == c["events"]["ADD"] - c["events"]["DELETE"]
        assert c["updates"] == c["events"]["UPDATE"] and c["deletes"] == c["events"]["DELETE"]
        assert 0 <= c["wrong_updates"] <= c["updates"] and 0 <= c["wrong_deletes"] <= c["deletes"]
        assert c["qas"] == sum(1 for _, cat, _ in QAS if cat != 5)
        assert c["prompt_tokens"] > 0 and c["completion_tokens"] > 0
        assert c["lost"] == len(c["details"]["lost"])
        assert result[mode]["total"]["lost"] == c["lost"]
    one, two = conv_of(result, "one_call"), conv_of(result, "two_call")
    assert one["llm_calls"] == one["adds"]  # one call per add
    assert two["adds"] < two["llm_calls"] <= 2 * two["adds"]  # extraction, and a decision when memories exist


# ------------------------------------------------------------------------------------- the runs
def test_rule_model_keeps_every_evidence_turn_and_its_delete_is_justified(conversations: list[dict[str, Any]]) -> None:
    result = run(rule_based_reply, conversations)
    check_counters(result, adds=len(SESSIONS) * 2)  # one add per session and speaker
    for mode in MODES:
        c = conv_of(result, mode)
        # D3:1 ("I am not a nurse ...") contradicts D1:3: the rule model deletes it and adds the new fact
        assert c["deletes"] == 1 and c["wrong_deletes"] == 0, c["details"]["deletes"]
        assert c["details"]["deletes"][0]["reason"] == "the add's turns contradict it"
        # every evidence turn is a stored sentence (D1:3's topic stays, in the "not a nurse" memory)
        assert c["lost"] == 0 and c["covered"] == len(EVIDENCE)
        assert c["qas_covered"] == c["qas"]
        assert c["updates"] == 0 and c["facts_kept"] == c["events"]["ADD"] - 1
    assert conv_of(result, "one_call")["facts_kept"] == conv_of(result, "two_call")["facts_kept"]


def test_a_model_that_deletes_everything_gets_wrong_deletes(conversations: list[dict[str, Any]]) -> None:
    result = run(scripted.delete_all, conversations)
    check_counters(result, adds=len(SESSIONS) * 2)
    for mode in MODES:
        c = conv_of(result, mode)
        assert c["deletes"] >= 4
        # Nothing in sessions 2-3 contradicts what it deletes, except D3:1's "not a nurse" (once the
        # nurse memory is still there to delete); each other DELETE is wrong.
        justified = [d for d in c["details"]["deletes"] if not d["wrong"]]
        assert all("nurse" in d["old"] for d in justified), justified
        assert c["wrong_deletes"] == c["deletes"] - len(justified) >= 4
        lost = {x["dia_id"] for x in c["details"]["lost"]}
        assert lost >= {"D1:1", "D1:2"} and c["lost_by_change"] == c["lost"]  # extracted once, deleted later
        assert all(x["ever_covered"] for x in c["details"]["lost"])


def test_a_model_that_drops_facts_gets_them_counted_as_lost(conversations: list[dict[str, Any]]) -> None:
    def no_jazz(messages: Sequence[dict[str, Any]]) -> Any:
        reply = rule_based_reply(messages)
        obj = json.loads(reply) if reply.startswith("{") else None
        if obj is not None and "facts" in obj:
            obj["facts"] = [f for f in obj["facts"] if "jazz" not in f["text"].lower()]
            return json.dumps(obj)
        return reply

    result = run(no_jazz, conversations)
    check_counters(result, adds=len(SESSIONS) * 2)
    for mode in MODES:
        c = conv_of(result, mode)
        lost = {x["dia_id"] for x in c["details"]["lost"]}
        assert lost == {"D1:2", "D2:2"}  # the two jazz turns, never stored
        assert c["missed"] == 2 and c["lost_by_change"] == 0
        assert c["qas_covered"] == c["qas"] - 2  # the instrument and the band's winter


def test_replacing_updates_are_wrong_and_merging_ones_are_not(conversations: list[dict[str, Any]]) -> None:
    replaced = run(scripted.replace, conversations)
    merged = run(scripted.merge, conversations)
    check_counters(replaced, adds=len(SESSIONS) * 2)
    check_counters(merged, adds=len(SESSIONS) * 2)
    for mode in MODES:
        r, m = conv_of(replaced, mode), conv_of(merged, mode)
        assert r["updates"] >= 4 and r["wrong_updates"] >= 3
        assert all(u["dropped"] for u in r["details"]["updates"] if u["wrong"])
        assert r["lost_by_change"] >= 1  # the replaced memories held evidence
        assert m["updates"] >= 1 and m["wrong_updates"] == 0  # "old; fact" keeps every word of old
        assert m["lost_by_change"] == 0


def test_chunks_of_turns_make_more_adds(conversations: list[dict[str, Any]]) -> None:
    result = run(rule_based_reply, conversations, chunk_turns=2, roles="single", modes=("one_call",))
    (c,) = result["one_call"]["conversations"]
    assert set(result) == {"one_call"}
    assert c["adds"] == len(SESSIONS) * 2  # 4 turns per session, 2 per add, one scope
    assert c["llm_calls"] == c["adds"] and c["covered"] + c["lost"] == c["evidence_turns"]


# ------------------------------------------------------------------------------- the heuristics
def test_covers_is_the_overlap_of_the_shorter_text() -> None:
    names = frozenset({"alic"})
    turn = match_words("Alice: Hey! I adopted a golden retriever puppy named Biscuit yesterday.", names)
    assert covers(match_words("Alice adopted a puppy named Biscuit on 2 March 2024", names), turn, TH)
    assert not covers(match_words("Alice works as a nurse", names), turn, TH)
    assert not covers(match_words("Alice is happy", names), turn, TH)  # one word: never enough
    long_memory = match_words("Alice adopted a golden retriever puppy named Biscuit; she likes pottery and jazz", names)
    assert covers(long_memory, turn, TH)  # a merged memory still holds the turn
    assert memory_parts("Has a puppy; likes jazz. Works nights") == [
        "Has a puppy; likes jazz. Works nights", "Has a puppy", "likes jazz", "Works nights",
    ]
    assert memory_parts("Has a puppy named Biscuit") == ["Has a puppy named Biscuit"]


def test_update_and_delete_judgements() -> None:
    names = frozenset({"alic"})
    enrich = judge_update("Likes pottery", "Likes pottery and painting vases", "", [], names, TH)
    assert not enrich.wrong
    replaced = judge_update("Has a puppy named Biscuit", "Took a pottery class", "I took a pottery class.", [], names, TH)
    assert replaced.wrong and set(replaced.dropped) == content_words("puppy named Biscuit")
    moved = judge_update("Lives in Paris", "Lives in Berlin", "I moved from Paris to Berlin last month.", [], names, TH)
    assert not moved.wrong  # "moved" next to "Paris"
    split = judge_update("Has a puppy named Biscuit and a cat", "Has a cat", "", ["Has a puppy named Biscuit"], names, TH)
    assert not split.wrong
    assert judge_delete("Works as a nurse", "Work was busy. I am a teacher.", [], names, TH).wrong
    assert not judge_delete("Works as a nurse", "I don't work as a nurse anymore.", [], names, TH).wrong
    assert not judge_delete("Works as a nurse", "", ["Alice works as a nurse at the hospital"], names, TH).wrong
    assert not contradicted("Works as a nurse", "No way! Anyway, the nurse at the clinic, my cousin, called today.", names)


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="cover"):
        Thresholds(cover=0.0)
    with pytest.raises(ValueError, match="embed"):
        Thresholds(embed=2.0)


# ------------------------------------------------------------------------------ the LoCoMo slice
@pytest.mark.skipif(not LOCOMO.is_file(), reason=f"LoCoMo dev half not found at {LOCOMO} (read at run time, never copied)")
def test_locomo_slice_through_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "ie.md"
    assert main(["--scripted", "rule", "--conversations", "1", "--sessions", "2", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "**Scripted model**" in text and "| LLM calls per add | 1." in text
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert set(data["modes"]) == set(MODES)
    for mode in MODES:
        t = data["modes"][mode]["total"]
        assert t["adds"] == 4 and t["add_errors"] == 0  # 2 sessions x 2 speakers
        assert t["evidence_turns"] > 0 and t["covered"] + t["lost"] == t["evidence_turns"]
        assert t["facts_kept"] == t["events"]["ADD"] - t["events"]["DELETE"]
        assert "turn" not in json.dumps(data["modes"][mode]["conversations"][0]["details"]["lost"])  # no quoted text
    assert data["modes"]["one_call"]["total"]["llm_calls"] == 4
    assert data["diff_one_minus_two"]["llm_calls"] < 0
