"""Scripted answers for the one-call add mode (``add_mode="one_call"``), consistent with two-call ones.

A one-call prompt asks one LLM call for what the two-call pipeline asks two: the facts, and the
decisions against the memories shown. :func:`as_one_call` wraps any two-call script (a function of
the messages, as given to :class:`~mem7_core.testing.fakes.ScriptedLLM` or
:meth:`~mem7_core.testing.openai_server.OpenAIServer.script`) so it answers one-call prompts too: it
rebuilds the two prompts the two-call pipeline would send, asks the script both, and joins the
answers. A model scripted this way behaves the same in both modes, so tests can run one suite over
both and a benchmark can compare what each mode stores (differences then come from the pipeline,
e.g. which candidates each retrieves, never from the script).

Unreadable extraction or decision answers (garbage, a raised error) are returned as the one-call
answer itself, so fault scripts keep their meaning: the engine sees an unreadable answer, or a
failed call.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.inference import norm_text, parse_decisions, parse_facts  # the pipeline the script mirrors
from ..engine.prompts import (  # the two-call prompts the pipeline would send
    AGENT_FACT_EXTRACTION_PROMPT,
    NO_EXISTING_MEMORIES,
    UPDATE_MEMORY_PROMPT,
    UPDATE_MEMORY_USER,
    USER_FACT_EXTRACTION_PROMPT,
)
from ..providers.llm_json import parse_json_object
from ..providers.tasks import AGENT_EXTRACT_AND_UPDATE_MARKER, EXTRACT_AND_UPDATE_MARKER
from .fakes import rule_based_reply

__all__ = ["OneCallPrompt", "as_one_call", "one_call_reply", "read_one_call"]

Message = dict[str, Any]
_TODAY = re.compile(r"Today's date is (\S+?)\.?$", re.MULTILINE)
_EXISTING_LINE = re.compile(r"^(\d+): (.*)$")


@dataclass(frozen=True, slots=True)
class OneCallPrompt:
    """What a one-call prompt holds: the speaker whose facts count, the date, memories, conversation."""

    agent: bool
    today: str
    existing: list[str]
    conversation: str

    def extraction_messages(self) -> list[Message]:
        """The fact-extraction call the two-call pipeline would make for this conversation."""
        template = AGENT_FACT_EXTRACTION_PROMPT if self.agent else USER_FACT_EXTRACTION_PROMPT
        return [
            {"role": "system", "content": template.format(today=self.today)},
            {"role": "user", "content": self.conversation},
        ]

    def decision_messages(self, facts: Sequence[str]) -> list[Message]:
        """The update-decision call the two-call pipeline would make for these (open) facts."""
        user = UPDATE_MEMORY_USER.format(
            existing="\n".join(f"{i}: {t}" for i, t in enumerate(self.existing)),
            facts="\n".join(f"- {f}" for f in facts),
        )
        return [{"role": "system", "content": UPDATE_MEMORY_PROMPT}, {"role": "user", "content": user}]


def read_one_call(messages: Sequence[Message]) -> OneCallPrompt | None:
    """The parts of a one-call prompt, or ``None`` when ``messages`` is another kind of call."""
    system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    if not isinstance(system, str):
        return None
    if system.startswith(AGENT_EXTRACT_AND_UPDATE_MARKER):
        agent = True
    elif system.startswith(EXTRACT_AND_UPDATE_MARKER):
        agent = False
    else:
        return None
    user = "\n".join(m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str))
    existing_part, _, conversation = user.partition("\nConversation:\n")
    existing = []
    for line in existing_part.splitlines():
        if line.strip() == NO_EXISTING_MEMORIES:
            continue
        m = _EXISTING_LINE.match(line)
        if m:
            existing.append(m.group(2))
    found = _TODAY.search(system)
    return OneCallPrompt(
        agent=agent, today=found.group(1) if found else "", existing=existing, conversation=conversation
    )


_FACT_KEYS = ("facts", "memories", "memory")
_DECISION_KEYS = ("memory", "memories", "actions", "decisions")


def _readable(answer: Any, keys: tuple[str, ...], parse: Callable[[dict[str, Any]], Any]) -> list[Any] | None:
    """The list a two-call answer holds (under the first of ``keys`` present), or None when the
    engine's own parser (``parse``) could not read it: then the one-call answer is unreadable too."""
    if isinstance(answer, BaseException):
        return None
    try:
        obj = answer if isinstance(answer, dict) else parse_json_object(str(answer))
        parse(obj)
    except ValueError:
        return None
    value = obj[next(k for k in keys if k in obj)]
    return [] if value is None else [value] if isinstance(value, dict) else list(value)


def _fact_text(entry: Any) -> str | None:
    if isinstance(entry, dict):
        entry = next((entry.get(k) for k in ("text", "fact", "memory", "content") if entry.get(k)), None)
    if entry is None or isinstance(entry, (dict, list)):
        return None
    return str(entry).strip() or None


class _Join:
    """The steps of one joined answer, shared by the sync and the async paths."""

    def __init__(self, prompt: OneCallPrompt) -> None:
        self.prompt = prompt
        self.facts: list[Any] = []

    def after_extraction(self, answer: Any) -> tuple[Any, list[Message] | None]:
        """(final answer, None), or (None, the decision call to ask next)."""
        facts = _readable(answer, _FACT_KEYS, parse_facts)
        if facts is None:
            return answer, None  # unreadable or failed: the one call is too
        self.facts = facts
        known = {norm_text(t) for t in self.prompt.existing}
        texts = [t for t in (_fact_text(f) for f in facts) if t]
        open_facts = list(dict.fromkeys(t for t in texts if norm_text(t) not in known))
        if not self.prompt.existing or not open_facts:
            return {"facts": facts, "memory": []}, None  # the two-call pipeline would not ask
        return None, self.prompt.decision_messages(open_facts)

    def after_decision(self, answer: Any) -> Any:
        decisions = _readable(answer, _DECISION_KEYS, parse_decisions)
        if decisions is None:
            return answer
        return {"facts": self.facts, "memory": decisions}


Script = Callable[[Sequence[Message]], Any]


def as_one_call(script: Script | None = None) -> Callable[[Sequence[Message]], Any]:
    """Wrap a two-call script (default: :func:`rule_based_reply`) so it also answers one-call prompts.

    Other prompts go to ``script`` unchanged. An async ``script`` gives an async wrapper's answers
    (a coroutine), as :class:`~mem7_core.testing.fakes.ScriptedLLM` accepts.
    """
    inner: Script = script or rule_based_reply

    def reply(messages: Sequence[Message]) -> Any:
        prompt = read_one_call(messages)
        if prompt is None:
            return inner(messages)
        join = _Join(prompt)
        first = inner(prompt.extraction_messages())
        if inspect.isawaitable(first):
            return _finish(join, first, inner)
        final, ask = join.after_extraction(first)
        if ask is None:
            return final
        second = inner(ask)
        if inspect.isawaitable(second):
            return _finish_decision(join, second)
        return join.after_decision(second)

    return reply


async def _finish(join: _Join, first: Awaitable[Any], inner: Script) -> Any:
    final, ask = join.after_extraction(await first)
    if ask is None:
        return final
    second = inner(ask)
    return join.after_decision(await second if inspect.isawaitable(second) else second)


async def _finish_decision(join: _Join, second: Awaitable[Any]) -> Any:
    return join.after_decision(await second)


one_call_reply = as_one_call(rule_based_reply)
"""The rule-based model answering every mem7 prompt, one-call prompts included."""
