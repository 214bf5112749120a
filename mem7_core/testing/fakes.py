"""Fakes for fast, deterministic tests: a hashing embedder and a scripted LLM.

:class:`HashEmbedder` is a real (if simple) embedder: bag of word and character-trigram features
hashed into ``dims`` buckets, L2-normalised, so texts sharing words are near each other. It needs
no model and no network, which makes it useful beyond tests (it is registered as ``hash``).

:class:`ScriptedLLM` answers from a script (a list of replies, or a function of the messages) and
records every call. With no script it follows :func:`rule_based_reply`, a deterministic stand-in for
a real model that understands mem7's own prompts, so whole add/search flows run without a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from pydantic import Field

from ..errors import ProviderError
from ..models import LLMResponse
from ..providers.base import ProviderConfig
from ..providers.embedder import Embedder, EmbedPurpose
from ..providers.llm import LLM, LLMCapabilities, Message
from ..providers.tasks import (
    AGENT_FACT_EXTRACTION_MARKER,
    CLASSIFY_QUERY_MARKER,
    DESCRIBE_IMAGE_MARKER,
    FACT_EXTRACTION_MARKER,
    UPDATE_MEMORY_MARKER,
)

_WORD = re.compile(r"[a-z0-9]+")


def _bucket(feature: str, dims: int) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return h % dims, (1.0 if (h >> 63) & 1 else -1.0)


def lexical_relevance(query: str, document: str) -> float:
    """A deterministic relevance for reranker emulators: the share of the query's distinct words
    (lower-cased ``\\w+`` runs) found in the document (0 when the query has none)."""
    wanted = set(re.findall(r"\w+", query.lower()))
    return len(wanted & set(re.findall(r"\w+", document.lower()))) / len(wanted) if wanted else 0.0


def hash_embedding(text: str, dims: int) -> list[float]:
    """Deterministic embedding of ``text``: hashed word and trigram counts, L2-normalised."""
    vec = [0.0] * dims
    words = _WORD.findall(text.lower())
    feats = [f"w:{w}" for w in words]
    for w in words:
        padded = f"#{w}#"
        feats.extend(f"t:{padded[i:i + 3]}" for i in range(len(padded) - 2))
    if not feats:
        feats = ["<empty>"]
    for f in feats:
        i, sign = _bucket(f, dims)
        vec[i] += sign * (2.0 if f.startswith("w:") else 0.5)
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


_MAX_RECORDED = 256
"""How many recent batches :attr:`HashEmbedder.calls` keeps (tests inspect them; engines run for days)."""


class HashEmbedder(Embedder):
    """Feature-hashing embedder: deterministic, offline, instant. Not semantic beyond shared words."""

    name = "hash"

    class Config(ProviderConfig):
        dims: int = Field(384, ge=8, le=8192)

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self.calls: list[list[str]] = []

    @property
    def dims(self) -> int:
        return self.config.dims

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        batch = list(texts)
        if not batch:
            return []
        self.calls.append(batch)
        if len(self.calls) > _MAX_RECORDED:  # a long-running engine must not keep every text it embedded
            del self.calls[: len(self.calls) - _MAX_RECORDED]
        return [hash_embedding(t, self.config.dims) for t in batch]


# ----------------------------------------------------------------------------------- LLM
def _system_text(messages: Sequence[Message]) -> str:
    for m in messages:
        content = m.get("content")
        if m.get("role") == "system" and isinstance(content, str):
            return content
    return ""


def _user_text(messages: Sequence[Message]) -> str:
    parts = []
    for m in messages:
        if m.get("role") == "user":
            c: Any = m.get("content")  # a string or a list of parts
            parts.append(c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if isinstance(p, dict)))
    return "\n".join(parts)


_CATEGORY_HINTS = (
    ("preference", ("like", "love", "prefer", "enjoy", "hate", "favourite", "favorite", "dislike")),
    ("procedural", ("always", "usually", "steps", "first", "then", "run ", "deploy", "how to")),
    ("episodic", ("yesterday", "last week", "today", "went", "visited", "met ")),
)


def _category(text: str) -> str:
    low = text.lower()
    for cat, hints in _CATEGORY_HINTS:
        if any(h in low for h in hints):
            return cat
    return "factual"


def _extract_facts(user_text: str, speaker: str) -> list[dict[str, str]]:
    facts = []
    for line in user_text.splitlines():
        role, _, content = line.partition(": ")
        if role.strip() != speaker or not content.strip():
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", content.strip()):
            s = sentence.strip().rstrip(".!?").strip()
            if len(s.split()) >= 2 and not s.lower().startswith(("hi", "hello", "thanks", "thank you")):
                facts.append({"text": s, "category": _category(s)})
    return facts


def _decide(user_text: str) -> list[dict[str, str]]:
    existing_part, _, facts_part = user_text.partition("New facts:")
    existing: dict[str, str] = {}
    for line in existing_part.splitlines():
        m = re.match(r"^(\d+): (.*)$", line.strip())
        if m:
            existing[m.group(1)] = m.group(2)
    facts = [ln[2:].strip() for ln in facts_part.splitlines() if ln.strip().startswith("- ")]
    decisions: list[dict[str, str]] = []
    used: set[str] = set()
    next_id = len(existing)
    norm = {k: v.strip().lower() for k, v in existing.items()}
    for fact in facts:
        low = fact.lower()
        same = next((k for k, v in norm.items() if v == low), None)
        if same is not None:
            decisions.append({"id": same, "text": existing[same], "event": "NONE"})
            used.add(same)
            continue
        # "not X" contradicts "X": delete the old one, add the new.
        negated = next(
            (
                k
                for k, v in norm.items()
                if k not in used and (low.replace(" not ", " ") == v or v.replace(" not ", " ") == low)
            ),
            None,
        )
        if negated is not None:
            decisions.append({"id": negated, "text": existing[negated], "event": "DELETE"})
            used.add(negated)
        decisions.append({"id": str(next_id), "text": fact, "event": "ADD"})
        next_id += 1
    return decisions


def rule_based_reply(messages: Sequence[Message]) -> str:
    """A deterministic answer to any of mem7's prompts, shaped as a real model would answer.

    Extraction: each sentence of the user's (or assistant's) lines with two or more words is a fact.
    Update: identical text → NONE; "X" vs "not X" → DELETE + ADD; anything else → ADD.
    Classification: keywords. Anything else: a short text reply.
    """
    system = _system_text(messages)
    user = _user_text(messages)
    from .graph_rules import graph_rule_reply  # imported on first use

    if (graph := graph_rule_reply(messages)) is not None:
        return graph
    if system.startswith(FACT_EXTRACTION_MARKER):
        return json.dumps({"facts": _extract_facts(user, "user")})
    if system.startswith(AGENT_FACT_EXTRACTION_MARKER):
        return json.dumps({"facts": _extract_facts(user, "assistant")})
    if system.startswith(UPDATE_MEMORY_MARKER):
        return json.dumps({"memory": _decide(user)})
    if system.startswith(CLASSIFY_QUERY_MARKER):
        low = user.lower()
        for task, words in (
            ("troubleshooting", ("error", "fix", "broken", "crash", "fail", "bug")),
            ("design", ("design", "architecture", "should i use", "structure")),
            ("planning", ("plan", "schedule", "next week", "tomorrow", "todo")),
            ("factual_lookup", ("what", "who", "when", "where", "which")),
        ):
            if any(w in low for w in words):
                return json.dumps({"task_type": task})
        return json.dumps({"task_type": "general"})
    if system.startswith(DESCRIBE_IMAGE_MARKER) or any(
        isinstance(m.get("content"), list) for m in messages
    ):
        return "An image."
    return "OK"


Reply = str | dict[str, Any] | Exception
Script = Sequence[Reply] | Callable[[Sequence[Message]], Reply | Awaitable[Reply]]


class ScriptedLLM(LLM):
    """An LLM that answers from a script and records every call.

    :param script: replies in order (a dict is sent as JSON, an exception is raised), or a function
        of the messages. When the list runs out, or with no script, :func:`rule_based_reply` answers.
    :param delay: seconds to sleep per call (to test concurrency without real latency).
    """

    name = "scripted"
    capabilities = LLMCapabilities(json_mode=True, tools=True, vision=True)

    def __init__(self, script: Script | None = None, *, delay: float = 0.0) -> None:
        super().__init__(None)
        self._script = script
        self._replies = list(script) if isinstance(script, (list, tuple)) else None
        self.delay = delay
        self.calls: list[dict[str, Any]] = []

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        response_format: Literal["text", "json"] = "text",
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        self.calls.append({"messages": list(messages), "response_format": response_format, "temperature": temperature})
        if self.delay:
            await asyncio.sleep(self.delay)
        reply: Reply
        if self._replies is not None and self._replies:
            reply = self._replies.pop(0)
        elif callable(self._script):
            out = self._script(messages)
            reply = await out if asyncio.iscoroutine(out) else out  # type: ignore[assignment]
        else:
            reply = rule_based_reply(messages)
        if isinstance(reply, Exception):
            if isinstance(reply, ProviderError):
                raise reply
            # A scripted plain exception models a transient failure (timeout, dropped connection).
            raise ProviderError("scripted", str(reply), retryable=True) from reply
        if isinstance(reply, dict):
            reply = json.dumps(reply)
        return LLMResponse(content=str(reply))

    def calls_for(self, marker: str) -> list[dict[str, Any]]:
        """The recorded calls whose system prompt starts with ``marker``."""
        return [c for c in self.calls if _system_text(c["messages"]).startswith(marker)]
