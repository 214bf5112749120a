"""Embedding calls of concurrent adds and searches sent together (group commit, for embeddings).

Many adds in flight at once each embed a few short texts (their facts, then an UPDATE's merged
text; a verbatim add its messages), many searches each their query (a batcher of its own, asked
for ``purpose="search"``). Each of those calls costs the engine's process about as much CPU as the texts' vectors are
worth: on loopback an HTTP call to an OpenAI-compatible server is ~0.5 ms of client CPU, whether it
carries one text or sixty (``bench/results/add_cpu.md``). So while ``in_flight`` calls are already
out, a new call waits, and every call that waits goes out together as one request when one comes
back. A call made while fewer are out goes out at once: sequential adds see no change, and no
timer ever delays a call.

A shared request runs in the context of the first caller in it (its time budget, its telemetry
span as parent). Errors stay each caller's own: when a shared request fails, each of its callers
sends its own texts again, alone, in its own context (its own time budget and retries), so one
add's bad text or spent budget is never another add's error (the price: while a server is down,
concurrent adds meet its error after two rounds of retries, not one). A shared request of one
caller is that caller's own, and so is its error. A caller that is cancelled stops waiting; the
shared request goes on for the others.

Usage (``mem7_core.providers.usage``): a shared request counts as one call, for its first caller;
its texts and embedding tokens are split among its callers by their share of the texts, so each
add's ``usage`` and the engine's totals agree.
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from typing import Any

from ..providers import Embedder, EmbedPurpose
from ..providers import usage as _usage

MAX_TEXTS = 256
"""Texts in one shared request at most (the rest wait for the next)."""


@dataclass(slots=True)
class _Waiting:
    texts: list[str]
    done: asyncio.Future[list[Any]]
    context: contextvars.Context  # the caller's, when it queued
    usage: _usage.Usage | None  # the caller's operation's, for its share of the request


@dataclass(slots=True)
class _LoopState:
    loop: asyncio.AbstractEventLoop
    out: int = 0
    queue: list[_Waiting] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class _Alone(Exception):
    """The shared request failed: embed your texts alone."""


class EmbedBatcher:
    """``embed(texts)`` for the write path (or, ``purpose="search"``, the read path), merging
    concurrent calls (see the module docstring).

    :param in_flight: shared or single requests out at once before new calls wait and merge.
    :param purpose: passed to every ``embed`` call (the write path's ``add``, the read path's ``search``).
    """

    def __init__(
        self, embedder: Embedder, *, in_flight: int = 1, max_texts: int = MAX_TEXTS, purpose: EmbedPurpose = "add"
    ) -> None:
        if in_flight < 1 or max_texts < 1:
            raise ValueError("EmbedBatcher: in_flight and max_texts must be at least 1")
        self.embedder = embedder
        self.purpose: EmbedPurpose = purpose
        """What every request of this batcher embeds for (``add``: the write path; ``search``: queries)."""
        self.in_flight = in_flight
        self.max_texts = max_texts
        self._state: _LoopState | None = None
        self.requests = 0
        """Requests sent (tests and benchmarks read it)."""

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:  # one per event loop (tests may run several)
            self._state = _LoopState(loop)
        return self._state

    async def embed(self, texts: list[str]) -> list[Any]:
        """The texts' vectors, as ``embedder.embed(texts, purpose=self.purpose)`` returns them."""
        if not texts:
            return []
        st = self._loop_state()
        if st.out < self.in_flight and not st.queue:
            st.out += 1
            try:
                self.requests += 1
                return list(await self.embedder.embed(texts, purpose=self.purpose))
            finally:
                st.out -= 1
                self._next(st)
        waiting = _Waiting(list(texts), st.loop.create_future(), contextvars.copy_context(), _usage.current())
        st.queue.append(waiting)
        self._next(st)
        try:
            return await waiting.done  # cancelled with its caller: then left out of the request
        except _Alone:
            self.requests += 1
            return list(await self.embedder.embed(texts, purpose=self.purpose))

    def _next(self, st: _LoopState) -> None:
        """Send what waits, in one request, if fewer than ``in_flight`` are out."""
        while st.queue and st.out < self.in_flight:
            batch: list[_Waiting] = []
            count = 0
            while st.queue and (not batch or count + len(st.queue[0].texts) <= self.max_texts):
                w = st.queue.pop(0)
                if w.done.cancelled():  # its caller stopped waiting
                    continue
                batch.append(w)
                count += len(w.texts)
            if not batch:
                continue
            st.out += 1
            task = st.loop.create_task(self._send(st, batch), context=batch[0].context)
            st.tasks.add(task)
            task.add_done_callback(st.tasks.discard)

    async def _send(self, st: _LoopState, batch: list[_Waiting]) -> None:
        texts = [t for w in batch for t in w.texts]
        try:
            self.requests += 1
            with _usage.shared_among([(w.usage, len(w.texts)) for w in batch]):
                vectors = list(await self.embedder.embed(texts, purpose=self.purpose))
            if len(vectors) != len(texts):
                raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts")
        except BaseException as exc:  # noqa: BLE001 - every caller retries alone and meets its own error
            # One caller: the request was its own (its texts, its context), so is the error.
            alone = len(batch) == 1 and isinstance(exc, Exception)
            for w in batch:
                if not w.done.done():
                    w.done.set_exception(exc if alone else _Alone())
                    w.done.exception()  # retrieved: a caller that stopped waiting logs nothing
            st.out -= 1
            self._next(st)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for w in batch:
            end = start + len(w.texts)
            if not w.done.done():
                w.done.set_result(vectors[start:end])
            start = end
        st.out -= 1
        self._next(st)


__all__ = ["MAX_TEXTS", "EmbedBatcher"]
