"""Deterministic answers to mem7's graph prompts (spec §8), for the scripted LLM and the loopback server.

A stand-in for a real model, shaped as one would answer, so whole graph flows run offline:

- extraction: each sentence of three or more words in a ``user:`` line is one triple: the first
  word is the source (I / my / me → the speaker's id from the prompt), the last capitalised word
  after it (else the last word) the destination, and the words between them the relationship
  ("I moved to Berlin last spring" → ``alice -- moved_to -- berlin``);
- conflict check: an existing relation is outdated when a new one has the same source and
  relationship but another destination;
- query entities: the query's words minus function words, self-references → the speaker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ..providers.keywords import STOPWORDS
from ..providers.tasks import (
    GRAPH_CONFLICT_MARKER,
    GRAPH_EXTRACTION_MARKER,
    GRAPH_QUERY_MARKER,
)

__all__ = ["graph_rule_reply"]

_SPEAKER = re.compile(r'whose id is\s+"([^"]*)"')
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_SELF = {"i", "me", "my", "myself", "mine"}
_EXISTING = re.compile(r"^(\d+): (.+?) -- (.+?) -- (.+)$")
_NEW = re.compile(r"^- (.+?) -- (.+?) -- (.+)$")


def _text(messages: Sequence[dict[str, Any]], role: str) -> str:
    parts = [m.get("content") for m in messages if m.get("role") == role]
    return "\n".join(p for p in parts if isinstance(p, str))


def _triples(user: str, speaker: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    entities: dict[str, str] = {}
    relations: list[dict[str, str]] = []
    for line in user.splitlines():
        role, sep, content = line.partition(": ")
        if not sep or role.strip() != "user":
            continue
        for sentence in re.split(r"(?<=[.!?;])\s+|,\s+and\s+", content.strip()):
            words = _WORD.findall(sentence)
            if len(words) < 3:
                continue
            caps = [i for i in range(2, len(words)) if words[i][0].isupper()]
            dest_at = caps[-1] if caps else len(words) - 1
            label = "_".join(w.lower() for w in words[1:dest_at])
            if not label:
                continue
            source = speaker if words[0].lower() in _SELF else words[0].lower()
            dest = words[dest_at].lower()
            if source == dest:
                continue
            entities.setdefault(source, "Person" if source == speaker else "Other")
            entities.setdefault(dest, "Location" if caps else "Other")
            relations.append({"source": source, "relationship": label, "destination": dest})
    return [{"name": n, "type": t} for n, t in entities.items()], relations


def _outdated(user: str) -> list[str]:
    existing: list[tuple[str, str, str, str]] = []
    new: list[tuple[str, str, str]] = []
    for line in user.splitlines():
        line = line.strip()
        if m := _EXISTING.match(line):
            existing.append((m.group(1), m.group(2), m.group(3), m.group(4)))
        elif m := _NEW.match(line):
            new.append((m.group(1), m.group(2), m.group(3)))
    return [i for i, s, r, d in existing if any(s == ns and r == nr and d != nd for ns, nr, nd in new)]


def _query_entities(query: str, speaker: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(query):
        low = word.lower()
        name = speaker if low in _SELF else low
        if name != speaker and (low in STOPWORDS or len(low) < 3):
            continue
        if name not in out:
            out.append(name)
    return out[:8]


def graph_rule_reply(messages: Sequence[dict[str, Any]]) -> str | None:
    """The answer to a graph prompt, or ``None`` when ``messages`` are not a graph prompt."""
    system = _text(messages, "system")
    if not system.startswith((GRAPH_EXTRACTION_MARKER, GRAPH_CONFLICT_MARKER, GRAPH_QUERY_MARKER)):
        return None
    m = _SPEAKER.search(system)
    speaker = m.group(1) if m else "user"
    user = _text(messages, "user")
    if system.startswith(GRAPH_EXTRACTION_MARKER):
        entities, relations = _triples(user, speaker)
        return json.dumps({"entities": entities, "relations": relations})
    if system.startswith(GRAPH_CONFLICT_MARKER):
        return json.dumps({"outdated": _outdated(user)})
    return json.dumps({"entities": _query_entities(user, speaker)})
