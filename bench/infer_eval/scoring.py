"""Scoring what ``add(infer=True)`` stored against LoCoMo's evidence turns: the matcher and the
UPDATE / DELETE heuristics of ``bench_infer_eval.py``. Pure functions, no I/O.

**Words.** A text's *content words* are mem7's own keyword tokens (``tokenize(text,
stemmer="english")``: lowercased, function words dropped, Snowball stems), minus the conversation's
speaker names (every fact of a scope names its speaker; a turn names it only in its prefix).

**Coverage** (does a stored memory hold what an evidence turn says?): memory ``m`` covers turn
``t`` when they share at least ``cover`` (0.5) of the *match words* of the shorter of the two (the
overlap coefficient), and at least ``cover_min_shared`` (2) words (or all of a shorter turn's).
Match words are content words without digits, month and weekday names (a model writes "on 7 May
2023" where the turn said "yesterday"). Measured against the shorter text, a short fact counts
when it is about the turn (turns are chatty, facts short), and a long memory counts when it holds
most of a short turn; a memory joining sentences or clauses ("A; B", "A. B") is also read as its
parts, so a merge does not dilute what a part covered. Optionally (``embed`` threshold) a cosine
between the memory's and the turn's embeddings at or above it also counts (paraphrases the words
miss). Limits: a fact reworded with synonyms is missed lexically ("loves" vs "enjoys"); a generic
fact sharing two words with a turn is counted; a fact merging two turns covers both; a fact of one
content word covers nothing but a turn of one word; negation is not seen ("is not a nurse" covers
"I am a nurse": the topic is kept).

**Wrong UPDATE** (the new text drops information of the old one that nothing contradicted): the
old text's content words (digits kept: dates are information) missing from the new text are the
*dropped* words. An UPDATE is wrong when it drops at least ``drop_min`` (2) words and at least
``drop`` (0.34) of the old text's words, unless (a) at least ``kept_elsewhere`` (0.8) of the dropped
words are held by another memory of the scope right after that ``add`` (written by it or before
it, and not negating the old text: a split or a duplicate, not a loss), or (b) the turns
that ``add`` was given contradict the old text: one of their sentences holds a change or negation
cue (:data:`CUES`, "n't" counting as "not") at most :data:`CUE_WINDOW` (4) words from a content
word of the old text ("Max passed away", "moved to Berlin from Paris", "don't drink coffee").

**Wrong DELETE** (a memory deleted though nothing contradicted it): a DELETE is wrong unless (a) another
memory of the scope right after that ``add`` holds at least ``kept_elsewhere`` of its words (a merge
or a duplicate removed), or (b) the turns of that ``add`` contradict it, as above. A memory without content words ("How have you
been") is never a wrong UPDATE or DELETE. Limits of both: the contradiction test is lexical and
generous (a negation near a shared word suffices, so wrong ones can pass: a lower bound),
and only the turns of the add that made the change are read (a contradiction stated in an earlier
session is not seen: an upper bound there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mem7_core.providers.keywords import STOPWORDS, stem_words, tokenize

STEMMER = "english"

CUES: frozenset[str] = frozenset([
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "anymore", "longer", "stopped", "stop",
    "stopping", "quit", "quitting", "left", "leave", "leaving", "moved", "moving", "changed", "switched", "switching",
    "instead", "ex", "former", "formerly", "sold", "broke", "broken", "ended", "ending", "cancelled", "canceled",
    "replaced", "lost", "died", "passed", "divorced", "separated", "retired", "finished", "dropped", "actually",
    "wrong", "mistake", "rather",
])
"""Words that mark a change or a negation in a sentence (lowercased, as written)."""
CUE_WINDOW = 4
"""A cue counts when it is at most this many words from a word of the old text."""
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W_]+")

_CALENDAR = frozenset(
    stem_words(
        [
            "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
            "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
            "dec", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        ],
        STEMMER,
    )
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The matcher's and heuristics' settings (module docstring)."""

    cover: float = 0.5
    cover_min_shared: int = 2
    drop: float = 0.34
    drop_min: int = 2
    kept_elsewhere: float = 0.8
    embed: float | None = None
    """Cosine at or above which a memory also covers a turn; None: lexical only."""

    def __post_init__(self) -> None:
        for name in ("cover", "drop", "kept_elsewhere"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"Thresholds.{name} must be in (0, 1], got {value!r}")
        if self.embed is not None and not -1.0 <= self.embed <= 1.0:
            raise ValueError(f"Thresholds.embed must be a cosine in [-1, 1], got {self.embed!r}")


def names_of(speakers: Iterable[str]) -> frozenset[str]:
    """The speakers' names as content words (left out of every comparison)."""
    return frozenset(w for s in speakers for w in tokenize(s, stemmer=STEMMER))


def content_words(text: str, names: frozenset[str] = frozenset()) -> frozenset[str]:
    return frozenset(w for w in tokenize(text, stemmer=STEMMER) if w not in names)


def match_words(text: str, names: frozenset[str] = frozenset()) -> frozenset[str]:
    """Content words without digits and calendar names (what the coverage test compares)."""
    return frozenset(w for w in content_words(text, names) if not w.isdigit() and w not in _CALENDAR)


def covers(fact: frozenset[str], turn: frozenset[str], th: Thresholds) -> bool:
    """Whether a memory with match words ``fact`` covers a turn with match words ``turn``."""
    if not fact or not turn:
        return False
    shared = len(fact & turn)
    return shared >= min(th.cover_min_shared, len(turn)) and shared / min(len(fact), len(turn)) >= th.cover


_PART = re.compile(r"[;.!?]\s+|\n+")


def memory_parts(text: str) -> list[str]:
    """A memory and, when it joins several sentences or clauses (``"A; B"``, ``"A. B"``), each of
    them: a merged memory covers what any of its parts covers."""
    parts = [p for p in (x.strip() for x in _PART.split(text)) if p]
    return [text, *parts] if len(parts) > 1 else [text]


def contradicted(old: str, context: str, names: frozenset[str]) -> bool:
    """Whether a sentence of ``context`` with a change / negation cue shares a content word with ``old``."""
    old_words = content_words(old, names)
    if not old_words:
        return False
    for sentence in _SENTENCE.split(context):
        words = _WORD.findall(sentence.lower().replace("’", "'").replace("n't", " not"))
        cues = [i for i, w in enumerate(words) if w in CUES]
        if not cues:
            continue
        stems = stem_words(words, STEMMER)
        shared = [i for i, w in enumerate(words) if w not in STOPWORDS and stems[i] in old_words]
        if any(abs(i - j) <= CUE_WINDOW for i in cues for j in shared):
            return True
    return False


def _restated(
    old: str, words: frozenset[str], siblings: Sequence[str], names: frozenset[str], th: Thresholds
) -> bool:
    """Whether ``siblings`` hold ``kept_elsewhere`` of ``words`` (a sibling negating ``old``, "is
    not a nurse" for "is a nurse", holds none: function words such as "not" are no content words)."""
    if not words:
        return True
    kept: set[str] = set()
    for text in siblings:
        if not contradicted(old, text, names):
            kept |= content_words(text, names)
    return len(words & kept) / len(words) >= th.kept_elsewhere


@dataclass(frozen=True, slots=True)
class Verdict:
    wrong: bool
    reason: str
    dropped: tuple[str, ...] = ()


def judge_update(
    old: str, new: str, context: str, siblings: Sequence[str], names: frozenset[str], th: Thresholds
) -> Verdict:
    """Is an UPDATE ``old`` → ``new`` wrong? ``context``: the turns its add was given;
    ``siblings``: the texts of the scope's other memories right after that add."""
    old_words = content_words(old, names)
    dropped = old_words - content_words(new, names)
    ordered = tuple(sorted(dropped))
    if not old_words:
        return Verdict(False, "the old text has no content words")
    if len(dropped) < th.drop_min or len(dropped) / len(old_words) < th.drop:
        return Verdict(False, "keeps the old text's words", ordered)
    if contradicted(old, context, names):
        return Verdict(False, "the add's turns contradict the old text", ordered)
    if _restated(old, dropped, siblings, names, th):
        return Verdict(False, "dropped words held by another memory of the scope", ordered)
    return Verdict(True, "drops words nothing contradicted", ordered)


def judge_delete(old: str, context: str, siblings: Sequence[str], names: frozenset[str], th: Thresholds) -> Verdict:
    """Is a DELETE of ``old`` wrong? Arguments as :func:`judge_update`."""
    words = content_words(old, names)
    if not words:
        return Verdict(False, "the memory has no content words")
    if contradicted(old, context, names):
        return Verdict(False, "the add's turns contradict it")
    if _restated(old, words, siblings, names, th):
        return Verdict(False, "held by another memory of the scope")
    return Verdict(True, "deleted though nothing contradicted it")


# ------------------------------------------------------------------------------ one conversation
@dataclass(slots=True)
class AddRecord:
    """One ``add`` call of the run and what it did."""

    conv: str
    scope: str
    session: int
    chunk: int
    dia_ids: list[str]
    context: str
    """The turns the add was given, one ``"<speaker>: <text>"`` line each."""
    wall_s: float = 0.0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    """``{"id", "event", "old", "new"}`` per change the add reported."""
    error: str | None = None


@dataclass(slots=True)
class ConversationInput:
    """What the scorer needs about one conversation after the run."""

    conv: str
    speakers: list[str]
    turns: dict[str, str]
    """dia_id → ``"<speaker>: <text>"`` of every turn given to ``add``."""
    evidence: dict[str, list[int]]
    """dia_id → the QAs (indexes) citing it, for the turns in ``turns``."""
    qa_evidence: list[list[str]]
    """Per QA whose evidence lies entirely in ``turns``: its evidence ids."""
    adds: list[AddRecord]
    final: list[tuple[str, str]]
    """(memory id, text) of every memory alive at the end, in the conversation's scopes."""
    history: dict[str, Sequence[Mapping[str, object]]]
    """memory id → its history entries (``AsyncMemory.history``), for every id an add touched."""


def _replay(adds: Sequence[AddRecord]) -> dict[int, dict[str, str]]:
    """Per add (by index): its scope's memories (id → text) right after it, from the events the
    adds reported, applied in order."""
    state: dict[str, dict[str, str]] = {}
    after: dict[int, dict[str, str]] = {}
    for i, rec in enumerate(adds):
        scope = state.setdefault(rec.scope, {})
        for e in rec.events:
            if e["event"] == "DELETE":
                scope.pop(e["id"], None)
            elif e["new"] is not None:
                scope[e["id"]] = str(e["new"])
        after[i] = dict(scope)
    return after


def _origin(adds: Sequence[AddRecord]) -> dict[tuple[str, str, str | None], int]:
    """(memory id, event, its text) → the index of the add that reported it."""
    out: dict[tuple[str, str, str | None], int] = {}
    for i, rec in enumerate(adds):
        for e in rec.events:
            out.setdefault((e["id"], e["event"], e["new"] if e["event"] != "DELETE" else e["old"]), i)
    return out


def score_conversation(
    data: ConversationInput, th: Thresholds, cosine: Callable[[str, str], float] | None = None
) -> dict[str, Any]:
    """Counters and details of one conversation (see the module docstring for each test).

    :param cosine: ``cosine(memory_text, dia_id)`` for the embedding matcher (with ``th.embed``).
    """
    names = names_of(data.speakers)
    turn_words = {d: match_words(t, names) for d, t in data.turns.items()}

    parts_of: dict[str, list[frozenset[str]]] = {}

    def covering(text: str, dia: str) -> bool:
        parts = parts_of.get(text)
        if parts is None:
            parts = parts_of[text] = [match_words(p, names) for p in memory_parts(text)]
        if any(covers(p, turn_words[dia], th) for p in parts):
            return True
        return th.embed is not None and cosine is not None and cosine(text, dia) >= th.embed

    versions: set[str] = set()
    updates: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    origin = _origin(data.adds)
    after = _replay(data.adds)
    history_events = {"ADD": 0, "UPDATE": 0, "DELETE": 0}
    for mid, entries in data.history.items():
        for e in entries:
            event = str(e["event"])
            history_events[event] = history_events.get(event, 0) + 1
            for key in ("old_memory", "new_memory"):
                if e.get(key):
                    versions.add(str(e[key]))
            if event not in ("UPDATE", "DELETE"):
                continue
            old, new = str(e.get("old_memory") or ""), str(e.get("new_memory") or "")
            at = origin.get((mid, event, new if event == "UPDATE" else old))
            rec = data.adds[at] if at is not None else None
            context = rec.context if rec is not None else "\n".join(data.turns.values())
            siblings = [t for k, t in after[at].items() if k != mid] if at is not None else []
            row: dict[str, Any] = {"memory_id": mid, "old": old, "session": rec.session if rec else None}
            if event == "UPDATE":
                v = judge_update(old, new, context, siblings, names, th)
                updates.append({**row, "new": new, "wrong": v.wrong, "reason": v.reason, "dropped": list(v.dropped)})
            else:
                v = judge_delete(old, context, siblings, names, th)
                deletes.append({**row, "wrong": v.wrong, "reason": v.reason})
    final_texts = [t for _, t in data.final]
    versions.update(final_texts)
    covered_end = {d for d in data.evidence if any(covering(t, d) for t in final_texts)}
    covered_ever = covered_end | {d for d in data.evidence if d not in covered_end and any(covering(t, d) for t in versions)}
    lost = sorted(set(data.evidence) - covered_end)
    calls = sum(r.llm_calls for r in data.adds)
    return {
        "conv": data.conv,
        "adds": len(data.adds),
        "add_errors": sum(1 for r in data.adds if r.error),
        "turns": len(data.turns),
        "events": {k: sum(1 for r in data.adds for e in r.events if e["event"] == k) for k in ("ADD", "UPDATE", "DELETE")},
        "history_events": history_events,
        "facts_kept": len(data.final),
        "evidence_turns": len(data.evidence),
        "covered": len(covered_end),
        "lost": len(lost),
        "missed": sum(1 for d in lost if d not in covered_ever),
        "lost_by_change": sum(1 for d in lost if d in covered_ever),
        "qas": len(data.qa_evidence),
        "qas_covered": sum(1 for ev in data.qa_evidence if all(d in covered_end for d in ev)),
        "updates": len(updates),
        "wrong_updates": sum(1 for u in updates if u["wrong"]),
        "deletes": len(deletes),
        "wrong_deletes": sum(1 for d in deletes if d["wrong"]),
        "llm_calls": calls,
        "prompt_tokens": sum(r.prompt_tokens for r in data.adds),
        "completion_tokens": sum(r.completion_tokens for r in data.adds),
        "wall_s": sum(r.wall_s for r in data.adds),
        "details": {
            "lost": [{"dia_id": d, "turn": data.turns[d], "ever_covered": d in covered_ever} for d in lost],
            "updates": updates,
            "deletes": deletes,
            "errors": [{"scope": r.scope, "session": r.session, "error": r.error} for r in data.adds if r.error],
        },
    }


COUNTERS = (
    "adds", "add_errors", "turns", "facts_kept", "evidence_turns", "covered", "lost", "missed", "lost_by_change",
    "qas", "qas_covered", "updates", "wrong_updates", "deletes", "wrong_deletes", "llm_calls", "prompt_tokens",
    "completion_tokens",
)


def total(per_conv: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The counters summed over conversations (``events`` per kind too; wall time summed)."""
    out: dict[str, Any] = {k: sum(int(c[k]) for c in per_conv) for k in COUNTERS}
    out["events"] = {k: sum(int(c["events"][k]) for c in per_conv) for k in ("ADD", "UPDATE", "DELETE")}
    out["wall_s"] = sum(float(c["wall_s"]) for c in per_conv)
    return out
