"""A long-lived server process keeps what it loaded out of the garbage collector's full passes.

CPython's cyclic collector walks every container object of the process on a full (oldest
generation) collection, and it stops the process while it does: in ``mem7 serve`` most of those
objects are what the process loaded once and keeps for good (modules, FastAPI's routes and pydantic
schemas, the providers' clients, the embedding model's tokenizer — ~110,000 objects with the
embedded default), so each full pass stalls every request in flight for ~35-65 ms. Under 32 clients
(``bench/rest``) one came every ~300 requests: 1.5-1.6 s of a one-worker run's ~23 s of server CPU;
0.20-0.21 s with the freezes (``bench/results/rest_gc.md``).

:class:`HeapSettler` (with the :class:`SettleHeap` middleware) moves what is alive at a few points
out of the collector's way (``gc.collect()``, then ``gc.freeze()``, as CPython's documentation
advises for a process that loads then serves): once the engine is open, then after the 1st, 16th
and 256th answered request — much of what a server keeps is loaded lazily, by the first add (the
embedding model) or the first model call (the LLM client's SDK). Frozen objects are still freed as
soon as nothing refers to them; only a reference cycle among objects that were alive at one of
those points is never collected (a bounded, one-time cost: what a few requests in flight held
then).

Only the processes mem7 itself runs settle their heap (``mem7 serve`` and its workers); an
application that mounts :func:`~mem7_core.server.rest.create_app` in its own server keeps its own
collector settings.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("mem7.server")

FREEZE_AFTER: tuple[int, ...] = (1, 16, 256)
"""Answered requests after which what is alive is frozen again (lazily loaded parts)."""


def freeze_alive() -> float:
    """Collect, then move every object still alive to the collector's permanent generation; the
    seconds it took (one full collection)."""
    start = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - start


class HeapSettler:
    """Calls :func:`freeze_alive` when the server is up (:meth:`settle`) and after the ``after``-th
    answered request (:meth:`answered_one`, called by :class:`SettleHeap`)."""

    def __init__(self, after: Iterable[int] = FREEZE_AFTER) -> None:
        self.after = frozenset(after)
        self.answered = 0
        self.frozen = 0
        """How many times what was alive has been frozen (tests read it)."""

    def settle(self) -> None:
        took = freeze_alive()
        self.frozen += 1
        log.debug("froze the %d objects alive after %d requests (%.1f ms)", gc.get_freeze_count(), self.answered,
                  took * 1e3)

    def answered_one(self) -> None:
        self.answered += 1
        if self.answered in self.after:
            self.settle()


class SettleHeap:
    """ASGI middleware: tells ``settler`` of each answered HTTP request."""

    def __init__(self, app: Any, settler: HeapSettler) -> None:
        self.app = app
        self.settler = settler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.settler.answered_one()


__all__ = ["FREEZE_AFTER", "HeapSettler", "SettleHeap", "freeze_alive"]
