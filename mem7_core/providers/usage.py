"""Token usage of model calls: what providers report and what the engine adds up (part of the contract).

**Providers report.** An LLM puts its call's tokens in :attr:`LLMResponse.usage
<mem7_core.models.LLMResponse.usage>` (``prompt_tokens``, ``completion_tokens``). An embedder whose
service answers a token count calls :func:`report_embedding_tokens` inside ``embed`` (once per
request it sends; from ``embed``'s own task, a task it starts or a thread ``asyncio.to_thread``
runs: the call is found through a context variable). An embedder that reports nothing (a local
model, a third-party plugin written before this) still has its calls and texts counted.

**The engine adds up.** Its meter (``mem7_core.engine.metering``) wraps the engine's LLMs and
embedder; every successful ``generate`` / ``embed`` is added (:func:`add_call`), by ``(kind,
provider, model)``, to the engine's running totals and to the :class:`Usage` of the operation in
progress (:func:`operation`), which the operation's result carries as ``usage``. An embedding
request shared by several operations (the write path's :mod:`~mem7_core.engine.embed_batch`) is
split among them with :func:`shared_among`: the call counts once, for the first of them; texts and
tokens go to each by its share of the texts (largest remainders, so the parts add up to the whole
and every operation's figures sum to the engine's totals).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Literal

UsageKind = Literal["llm", "embedder"]
UsageKey = tuple[str, str, "str | None"]
"""``(kind, provider name, model)``: one row of a :class:`Usage`."""

_CALL: ContextVar[list[int] | None] = ContextVar("mem7_usage_call", default=None)
"""The embedding tokens reported during the ``embed`` call in progress (appends are thread-safe)."""
_OPERATION: ContextVar[Usage | None] = ContextVar("mem7_usage_operation", default=None)
_SHARES: ContextVar[Sequence[tuple[Usage | None, int]] | None] = ContextVar("mem7_usage_shares", default=None)


def report_embedding_tokens(tokens: object) -> None:
    """Count ``tokens`` for the ``embed`` call in progress (an embedder calls it once per request
    its service answers with a token count, e.g. OpenAI's ``usage.prompt_tokens``).

    Outside a metered call (a provider used on its own, a test) it does nothing; a value that is
    not a non-negative ``int`` is ignored, so a service answering nonsense never fails a call.
    """
    call = _CALL.get()
    if call is not None and type(tokens) is int and tokens >= 0:
        call.append(tokens)


def reported_tokens(since: int = 0) -> int | None:
    """Embedding tokens reported in the call in progress after the first ``since`` reports
    (``None``: no call in progress, or nothing reported). Telemetry puts them on its span."""
    call = _CALL.get()
    if not call or len(call) <= since:
        return None
    return sum(call[since:])


def reports_so_far() -> int:
    """How many reports the call in progress has had (``0`` outside one)."""
    call = _CALL.get()
    return len(call) if call is not None else 0


def split(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` in whole numbers that sum to ``total``
    (largest remainders; ties to the earlier weight). All-zero weights: all to the first."""
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1)
    parts = [total * w // whole for w in weights]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


class Usage:
    """Calls and tokens by ``(kind, provider, model)``; safe to add to from several threads and tasks.

    A row is ``[calls, texts, prompt_tokens, completion_tokens, embedding_tokens]``; a token count
    is ``None`` until a call of that model reports one (an embedder that reports nothing).
    """

    __slots__ = ("_lock", "_rows")

    def __init__(self) -> None:
        self._rows: dict[UsageKey, list[Any]] = {}  # [calls, texts, prompt, completion, embedding]
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._rows)

    def add(self, key: UsageKey, calls: int, texts: int, prompt: int | None, completion: int | None,
            embedding: int | None) -> None:
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                self._rows[key] = [calls, texts, prompt, completion, embedding]
                return
            row[0] += calls
            row[1] += texts
            if prompt is not None:
                row[2] = (row[2] or 0) + prompt
            if completion is not None:
                row[3] = (row[3] or 0) + completion
            if embedding is not None:
                row[4] = (row[4] or 0) + embedding

    def to_dict(self) -> dict[str, Any]:
        """The public shape (:class:`mem7_core.results.UsageReport`): totals, then one entry per model."""
        with self._lock:
            rows = sorted(self._rows.items(), key=lambda kv: (kv[0][0] != "llm", kv[0][1], kv[0][2] or ""))
            models: list[dict[str, Any]] = [
                {"kind": kind, "provider": provider, "model": model, "calls": r[0], "texts": r[1],
                 "prompt_tokens": r[2], "completion_tokens": r[3], "embedding_tokens": r[4]}
                for (kind, provider, model), r in rows
            ]
        totals: dict[str, int] = {k: sum(m[k] or 0 for m in models)
                                  for k in ("calls", "prompt_tokens", "completion_tokens", "embedding_tokens")}
        totals["total_tokens"] = totals["prompt_tokens"] + totals["completion_tokens"] + totals["embedding_tokens"]
        return {**totals, "models": models}

    def reset(self) -> dict[str, Any]:
        """Start again from zero; returns the figures up to now (:meth:`to_dict`)."""
        with self._lock:
            before = Usage()
            before._rows, self._rows = self._rows, {}
        return before.to_dict()


@contextlib.contextmanager
def embedding_call() -> Iterator[list[int]]:
    """Inside: :func:`report_embedding_tokens` appends to the yielded list (the engine's meter
    opens one around each ``embed``)."""
    call: list[int] = []
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)


@contextlib.contextmanager
def operation() -> Iterator[Usage]:
    """Inside: model calls (in this task and the tasks it starts) count for the yielded usage."""
    usage = Usage()
    token = _OPERATION.set(usage)
    try:
        yield usage
    finally:
        _OPERATION.reset(token)


def current() -> Usage | None:
    """The usage of the operation in progress (``None`` outside one)."""
    return _OPERATION.get()


@contextlib.contextmanager
def shared_among(shares: Sequence[tuple[Usage | None, int]]) -> Iterator[None]:
    """Inside: a metered call serves several operations, ``(usage, texts)`` each (the operations'
    :func:`current` values and their texts in the request), split as the module docstring says."""
    token = _SHARES.set(shares)
    try:
        yield
    finally:
        _SHARES.reset(token)


def add_call(totals: Usage, key: UsageKey, texts: int, prompt: int | None, completion: int | None,
             embedding: int | None) -> None:
    """One successful call: to ``totals`` and to the operation(s) it served (split when shared)."""
    totals.add(key, 1, texts, prompt, completion, embedding)
    shares = _SHARES.get()
    if shares is None or len(shares) < 2:
        op = shares[0][0] if shares else _OPERATION.get()
        if op is not None:
            op.add(key, 1, texts, prompt, completion, embedding)
        return
    weights = [n for _, n in shares]
    text_parts = split(texts, weights)
    token_parts: Sequence[int | None] = split(embedding, weights) if embedding is not None else [None] * len(shares)
    for i, (op, _) in enumerate(shares):
        if op is not None:
            first = i == 0
            op.add(key, 1 if first else 0, text_parts[i], prompt if first else None,
                   completion if first else None, token_parts[i])


def token_count(value: Any) -> int | None:
    """``value`` when it is a non-negative ``int`` (a token count a service answered), else ``None``."""
    return value if type(value) is int and value >= 0 else None


__all__ = [
    "Usage",
    "UsageKey",
    "UsageKind",
    "add_call",
    "current",
    "embedding_call",
    "operation",
    "report_embedding_tokens",
    "reported_tokens",
    "reports_so_far",
    "shared_among",
    "split",
    "token_count",
]
