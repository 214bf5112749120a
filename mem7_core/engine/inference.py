"""From LLM answers to a change plan: facts out of extraction, decisions into ADD/UPDATE/DELETE.

Both add modes end here: ``two_call`` parses the extraction answer (:func:`parse_facts`) and the
decision answer (:func:`parse_decisions`) separately; ``one_call`` parses one answer holding both
(:func:`parse_extract_and_decide`), with candidates retrieved per sentence of the conversation
(:func:`retrieval_queries`). Either way :func:`plan_changes` makes the plan, so the guards below
hold in both modes.

Pure functions, no I/O, so every tolerance rule of spec §3 is tested on its own:

- facts may be plain strings or ``{"text", "category"}`` dicts; unknown categories are ``factual``;
- decisions may carry ids as numbers, events in any case, extra keys, code fences around the JSON;
- a decision naming an unknown id is never a crash and never loses its fact (UPDATE → ADD;
  DELETE → skipped with a warning);
- after all decisions, every extracted fact must be represented (by an ADD/UPDATE that maps to it,
  a NONE, or an identical surviving memory); a fact the LLM dropped is added, with a warning, so a
  dedup answer can never end with a memory gone and nothing added.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..models import MEMORY_TYPES
from ..providers.llm_json import as_text, first_list

log = logging.getLogger("mem7.add")

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MATCH_THRESHOLD = 0.3

_EVENT_ALIASES = {
    "ADD": "ADD",
    "ADDED": "ADD",
    "INSERT": "ADD",
    "CREATE": "ADD",
    "NEW": "ADD",
    "UPDATE": "UPDATE",
    "UPDATED": "UPDATE",
    "MODIFY": "UPDATE",
    "MERGE": "UPDATE",
    "REPLACE": "UPDATE",
    "DELETE": "DELETE",
    "DELETED": "DELETE",
    "REMOVE": "DELETE",
    "REMOVED": "DELETE",
    "NONE": "NONE",
    "NOOP": "NONE",
    "NO_CHANGE": "NONE",
    "KEEP": "NONE",
    "SKIP": "NONE",
    "UNCHANGED": "NONE",
}


@dataclass(slots=True)
class Fact:
    text: str
    category: str = "factual"


@dataclass(slots=True)
class Decision:
    id: str | None
    text: str | None
    event: str
    old_memory: str | None = None


@dataclass(slots=True)
class Plan:
    """What to write. ``fact`` indexes into the extracted facts (for the memory type)."""

    adds: list[tuple[str, int | None]] = field(default_factory=list)
    updates: list[tuple[str, str, int | None]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    """Each candidate's text as the LLM saw it: a target rewritten since then is not applied blindly."""


def normalise_category(value: Any) -> str:
    if isinstance(value, str):
        v = value.strip().lower()
        if v.endswith("_memory"):
            v = v[: -len("_memory")]
        if v in MEMORY_TYPES:
            return v
    return "factual"


def norm_text(text: str) -> str:
    """The text's words, case-folded, one space apart (how "the same words" is compared)."""
    return _norm_cached(text) if len(text) <= _CACHED_CHARS else _norm(text)


def _norm(text: str) -> str:
    return " ".join(_TOKEN.findall(text.casefold()))


_CACHED_CHARS = 512
"""Texts up to this long keep their normal form in a small cache: one add compares each fact with
every candidate several times (~50 calls per add; bench/results/add_cpu.md)."""
_norm_cached = functools.lru_cache(maxsize=2048)(_norm)


def parse_facts(obj: dict[str, Any]) -> list[Fact]:
    """Facts out of the extraction answer; duplicates (same words) collapse to the first."""
    raw = first_list(obj, ("facts", "memories", "memory"), "fact extraction")
    facts: list[Fact] = []
    seen: set[str] = set()
    for entry in raw:
        if isinstance(entry, dict):
            text = next(
                (as_text(entry.get(k)) for k in ("text", "fact", "memory", "content") if as_text(entry.get(k))), None
            )
            category = normalise_category(entry.get("category") or entry.get("type"))
        else:
            text, category = as_text(entry), "factual"
        if not text:
            continue
        key = norm_text(text)
        if key in seen:
            continue
        seen.add(key)
        facts.append(Fact(text=text, category=category))
    return facts


def parse_decisions(obj: dict[str, Any]) -> list[Decision]:
    raw = first_list(obj, ("memory", "memories", "actions", "decisions"), "update decision")
    out: list[Decision] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        event_raw = as_text(entry.get("event") or entry.get("action")) or ""
        event = _EVENT_ALIASES.get(event_raw.upper().replace(" ", "_"), "UNKNOWN")
        out.append(
            Decision(
                id=as_text(entry.get("id")),
                text=as_text(entry.get("text") or entry.get("memory")),
                event=event,
                old_memory=as_text(entry.get("old_memory")),
            )
        )
    return out


_FACT_KEYS = ("facts", "new_facts", "extracted_facts")
_DECISION_KEYS = ("memory", "memories", "actions", "decisions")


def parse_extract_and_decide(obj: dict[str, Any], *, decisions_required: bool) -> tuple[list[Fact], list[Decision]]:
    """Facts and decisions out of one one-call answer (``add_mode="one_call"``).

    Facts come only from ``facts`` (or an alias); ``memory`` holds the decisions here, never facts.
    Decisions may be left out when nothing was shown to decide against (or no fact was found);
    when memories were shown and facts were extracted, a missing decision list makes the answer
    unreadable (asked again), as it would be in the two-call pipeline.

    :raises ValueError: the answer cannot be read (no fact list; decisions missing when required).
    """
    facts = parse_facts({"facts": first_list(obj, _FACT_KEYS, "fact extraction")})
    if not any(k in obj for k in _DECISION_KEYS):
        if decisions_required and facts:
            raise ValueError(
                f"update decision: expected a JSON object with key 'memory' beside 'facts', got keys {sorted(obj)}"
            )
        return facts, []
    return facts, parse_decisions(obj)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
MAX_RETRIEVAL_QUERIES = 24
"""One-call mode: at most this many texts retrieve candidates per add (more sentences are grouped)."""


def retrieval_queries(lines: list[str], limit: int = MAX_RETRIEVAL_QUERIES) -> list[str]:
    """The texts whose nearest memories a one-call add shows the LLM: one per sentence.

    Sentences, not whole messages, because a message often carries several facts and each should
    find its own neighbours (as each extracted fact does in the two-call pipeline). Beyond
    ``limit`` sentences, neighbouring ones are joined so an add costs a bounded number of searches.
    """
    sentences: list[str] = []
    seen: set[str] = set()
    for line in lines:
        for s in _SENTENCE_END.split(line.strip()):
            s = s.strip()
            if s and len(_TOKEN.findall(s)) >= 1 and s not in seen:
                seen.add(s)
                sentences.append(s)
    if len(sentences) <= limit:
        return sentences
    per, extra = divmod(len(sentences), limit)
    out: list[str] = []
    i = 0
    for k in range(limit):
        n = per + (1 if k < extra else 0)
        out.append(" ".join(sentences[i : i + n]))
        i += n
    return out


def _tokens(text: str) -> frozenset[str]:
    return frozenset(norm_text(text).split())


def match_fact(text: str, facts: list[Fact], taken: set[int]) -> int | None:
    """The fact ``text`` most likely rephrases: same words first, then best word overlap ≥ 0.3.

    Facts not yet ``taken`` win ties, so decisions map one-to-one where they can.
    """
    key = norm_text(text)
    exact = [i for i, f in enumerate(facts) if norm_text(f.text) == key]
    if exact:
        free = [i for i in exact if i not in taken]
        return (free or exact)[0]
    words = _tokens(text)
    best, best_score = None, _MATCH_THRESHOLD
    for i, f in enumerate(facts):
        fw = _tokens(f.text)
        if not words or not fw:
            continue
        score = len(words & fw) / len(words | fw)
        if i in taken:
            score -= 1e-6
        if score > best_score or (best is None and score >= best_score):
            best, best_score = i, score
    return best


def plan_changes(decisions: list[Decision], facts: list[Fact], candidates: list[tuple[str, str]]) -> Plan:
    """Turn decisions against ``candidates`` (``[(memory_id, text)]``, shown as ids "0", "1"...) into a plan."""
    plan = Plan(seen=dict(candidates))
    by_int = {str(i): mem_id for i, (mem_id, _) in enumerate(candidates)}
    by_uuid = {mem_id: mem_id for mem_id, _ in candidates}  # an LLM echoing a real id is fine too
    text_of = dict(candidates)
    touched: set[str] = set()
    covered: set[int] = set()
    vouched: list[tuple[int, str]] = []  # (fact, memory) a NONE or a no-op UPDATE says already holds it

    def resolve(raw: str | None) -> str | None:
        if raw is None:
            return None
        return by_int.get(raw.strip()) or by_uuid.get(raw.strip())

    for d in decisions:
        mem_id = resolve(d.id)
        if d.event == "ADD" or (d.event == "UNKNOWN" and mem_id is None):
            if d.text:
                idx = match_fact(d.text, facts, covered)
                plan.adds.append((d.text, idx))
                if idx is not None:
                    covered.add(idx)
            continue
        if d.event == "UPDATE":
            if not d.text:
                plan.warnings.append(f"UPDATE of id {d.id!r} has no text; ignored")
                continue
            idx = match_fact(d.text, facts, covered)
            if idx is not None:
                covered.add(idx)
            if mem_id is None or mem_id in touched:
                why = "unknown id" if mem_id is None else "a memory already changed in this add"
                plan.warnings.append(f"UPDATE names {why} {d.id!r}; its text is added as a new memory")
                plan.adds.append((d.text, idx))
                continue
            touched.add(mem_id)
            if norm_text(d.text) == norm_text(text_of[mem_id]):
                if idx is not None:
                    vouched.append((idx, mem_id))
                continue  # an "update" to the same words changes nothing
            plan.updates.append((mem_id, d.text, idx))
            continue
        if d.event == "DELETE":
            if mem_id is None:
                plan.warnings.append(f"DELETE names unknown id {d.id!r}; skipped")
                continue
            if mem_id in touched:
                plan.warnings.append(f"DELETE of {d.id!r}, a memory already changed in this add; skipped")
                continue
            touched.add(mem_id)
            plan.deletes.append(mem_id)
            continue
        # NONE (or an unknown event on a known id): nothing changes; the fact counts as known.
        if d.event == "UNKNOWN":
            plan.warnings.append(f"unknown event for id {d.id!r}; treated as NONE")
        if mem_id is None:  # "known" by a memory that does not exist: its fact is not taken as known
            plan.warnings.append(f"NONE names unknown id {d.id!r}; its fact is not taken as known")
            continue
        probe = d.text or text_of.get(mem_id)
        if probe:
            idx = match_fact(probe, facts, covered)
            if idx is not None:
                covered.add(idx)
                vouched.append((idx, mem_id))

    # Memories this plan deletes or rewrites no longer hold their old text.
    replaced = set(plan.deletes) | {mem_id for mem_id, _, _ in plan.updates}
    surviving = {norm_text(t) for m, t in candidates if m not in replaced}
    surviving |= {norm_text(t) for _, t, _ in plan.updates}
    surviving |= {norm_text(t) for t, _ in plan.adds}
    # A fact is represented by an ADD/UPDATE mapped to it, or by a memory vouching for it that this
    # plan neither deletes nor rewrites (a NONE naming a memory the same answer deletes or UPDATEs
    # to other words would lose the fact).
    represented = {i for _, i in plan.adds if i is not None} | {i for _, _, i in plan.updates if i is not None}
    represented |= {i for i, mem_id in vouched if mem_id not in replaced}
    for i, fact in enumerate(facts):
        if i in represented or norm_text(fact.text) in surviving:
            continue
        plan.warnings.append(f"the LLM's decisions left out the fact {fact.text!r}; it is added")
        plan.adds.append((fact.text, i))
    for w in plan.warnings:
        log.warning("add: %s", w)
    return plan
