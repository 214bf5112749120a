"""Asking an LLM for JSON, as the engine, its scorers and LLM-backed providers do (part of the contract).

- :class:`JsonAsker`: one JSON-mode call, retried on a failed call or an unreadable answer, within
  the operation's time budget (:mod:`mem7_core.providers.deadline`). The engine builds one from its
  config (``llm_retries``, ``operation_timeout_secs``) and hands it to what needs it (graph memory,
  the context scorer through ``QueryContext``); a provider may build its own.
- Tolerant parsing of what LLMs return: code fences, prose around JSON, trailing commas, odd types.
  Tolerant does not mean lax: what cannot be read raises :class:`ValueError` so the caller can retry
  and then fail cleanly with the store untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import LLMOutputError, ProviderError, ProviderTimeoutError
from ..unicode_safe import scrub
from . import deadline as _budget
from .llm import LLM, Message

log = logging.getLogger("mem7.llm_json")
T = TypeVar("T")

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _candidates(text: str) -> list[str]:
    out = [text]
    out.extend(m.group(1) for m in _FENCE.finditer(text))
    # The outermost {...} span, for prose around the JSON.
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        out.append(text[start : end + 1])
    return out


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in an LLM answer.

    :raises ValueError: when no JSON object can be read (empty body, truncated JSON, a list...).
    """
    if text is None or not str(text).strip():
        raise ValueError("the LLM returned an empty answer")
    text = str(text).strip()
    for cand in _candidates(text):
        cand = cand.strip()
        for attempt in (cand, _TRAILING_COMMA.sub(r"\1", cand)):
            try:
                value = json.loads(attempt)
            except (json.JSONDecodeError, ValueError):
                continue
            if isinstance(value, dict):
                return scrub(value)  # type: ignore[no-any-return]  # a model's lone surrogate: escaped
    snippet = text if len(text) <= 200 else text[:200] + "…"
    raise ValueError(f"no JSON object in the LLM answer: {snippet!r}")


def as_text(value: Any) -> str | None:
    """A string from whatever the LLM put there (numbers become strings, blanks become None)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return None
    s = str(value).strip()
    return s or None


def first_list(obj: dict[str, Any], keys: tuple[str, ...], what: str, *, required: bool = True) -> list[Any]:
    """The value of the first of ``keys`` present in ``obj``, as a list (null → ``[]``, one object
    → ``[object]``): models name the same list differently ("facts", "memories", ...).

    :param required: when none of ``keys`` is present, raise (True) or answer ``[]`` (False).
    :raises ValueError: the value is not a list, or (``required``) no key is present.
    """
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is None:
                return []
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return [value]
            raise ValueError(f"{what}: {key!r} must be a list, got {type(value).__name__}")
    if required:
        raise ValueError(f"{what}: expected a JSON object with key {keys[0]!r}, got keys {sorted(obj)}")
    return []


class JsonAsker:
    """One JSON-mode call to ``llm``, asked again ``retries`` times on a retryable provider error or
    an answer ``parse`` cannot read (:class:`ValueError`), never past the operation's time budget.

    :param llm: the LLM to ask.
    :param retries: extra attempts after the first (the engine's ``llm_retries``).
    :param budget_secs: the operation's budget, named in timeout messages (``operation_timeout_secs``).
    """

    def __init__(self, llm: LLM, *, retries: int = 1, budget_secs: float | None = None) -> None:
        self.llm = llm
        self.retries = retries
        self.budget_secs = budget_secs

    async def __call__(self, messages: Sequence[Message], parse: Callable[[dict[str, Any]], T], what: str) -> T:
        """``parse`` of the JSON object the LLM answers.

        :param what: the task, for logs and errors ("fact extraction").
        :raises LLMOutputError: the answer could not be read after the retries (nothing is written).
        :raises ProviderError: the LLM itself kept failing (server down, timeout), naming it.
        """
        llm = self.llm
        attempts = 1 + self.retries
        budget_note = f"operation_timeout_secs={self.budget_secs:g}" if self.budget_secs is not None else "its deadline"
        last: Exception | None = None
        for attempt in range(attempts):
            left = _budget.remaining()
            if left is not None and left <= 0:
                raise ProviderTimeoutError(
                    llm.name,
                    f"{what}: the operation's time budget ({budget_note}) ran out after {attempt} LLM attempt(s)",
                ) from last
            try:
                if left is None:
                    resp = await llm.generate(list(messages), response_format="json", temperature=0.0)
                else:
                    async with asyncio.timeout(left) as scope:
                        resp = await llm.generate(list(messages), response_format="json", temperature=0.0)
            except TimeoutError as exc:  # the budget ran out mid-call: not asked again
                if left is None or not scope.expired():
                    raise
                raise ProviderTimeoutError(
                    llm.name, f"{what}: no answer from the LLM within the operation's time budget "
                    f"({budget_note}; attempt {attempt + 1})"
                ) from exc
            except ProviderError as exc:
                if not exc.retryable or isinstance(exc, ProviderTimeoutError):  # 401, 403, 404, 400 / budget spent
                    raise
                last = exc
                log.warning("%s: LLM call failed (attempt %d/%d): %s", what, attempt + 1, attempts, exc)
                continue
            try:
                return parse(parse_json_object(resp.content))
            except ValueError as exc:
                last = exc
                log.warning("%s: unreadable LLM answer (attempt %d/%d): %s", what, attempt + 1, attempts, exc)
        if isinstance(last, ProviderError) and not isinstance(last, LLMOutputError):
            raise last
        raise LLMOutputError(
            llm.name,
            f"{what}: the LLM's answer could not be read after {attempts} attempt(s): {last}. "
            "Nothing was stored. Check the model supports JSON output, or raise llm_retries.",
        ) from last


def with_json_hint(prompt: str, shape: str) -> str:
    """JSON mode on OpenAI needs the word "json" in the prompt; custom prompts may lack it."""
    if "json" in prompt.lower():
        return prompt
    return f"{prompt}\n\nAnswer with JSON only, of this shape: {shape}"


__all__ = ["JsonAsker", "as_text", "first_list", "parse_json_object", "with_json_hint"]
