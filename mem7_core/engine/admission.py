"""Concurrent adds enter the inferred write path one per event-loop pass.

Why: asyncio runs what is ready first in, first out, one pass at a time. When many adds start at
once (``asyncio.gather`` of 64), each runs in the same pass until its first real wait: opening a
connection for its model request. The requests themselves are written passes later (the
connection made, then, before Python 3.12, the body's own task), and every one of those passes
first runs the other adds' work queued before it. So the first extraction request left only after
all 64 adds had built theirs: ~18 ms after the burst began on a fresh engine, although it was ready
after ~0.3 ms (``bench/results/add_cpu.md``, step 5). The model's answers came back that much
later, and the work after them, which is what bounds such a burst on one core, began that much
later too.

Admitting one waiting add per pass puts work already under way before new work: the first add's
request goes out at once, the others follow at the rate the engine prepares them, and the first
answers come back while later adds are still being prepared. Nothing is done twice and nothing is
skipped; only the order changes.

A lone add never waits (nobody admitted in this pass, nobody queued), so sequential use pays one
``call_soon`` per add. A waiting add that is cancelled leaves the queue; the next one goes in its
place. One queue per event loop (the sync ``Memory`` runs its own).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _LoopState:
    loop: asyncio.AbstractEventLoop
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    armed: bool = False
    """A release is scheduled for the next pass: whoever comes now waits for it."""


class Admission:
    """``await admission.enter()``: at most one waiting caller goes on per event-loop pass."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state: _LoopState | None = None

    @property
    def waiting(self) -> int:
        """Callers waiting to go in (tests read it)."""
        st = self._state
        return 0 if st is None else sum(1 for f in st.waiting if not f.done())

    async def enter(self) -> None:
        loop = asyncio.get_running_loop()
        st = self._state
        if st is None or st.loop is not loop:  # one per event loop (tests may run several)
            st = self._state = _LoopState(loop)
        if not st.armed:  # the first in this pass goes on at once
            st.armed = True
            loop.call_soon(_release, st)
            return
        turn: asyncio.Future[None] = loop.create_future()
        st.waiting.append(turn)
        await turn  # cancelled with its caller: _release skips it


def _release(st: _LoopState) -> None:
    """Let the next waiting caller on, and schedule the next release for the pass after."""
    while st.waiting:
        turn = st.waiting.popleft()
        if not turn.done():
            turn.set_result(None)
            st.loop.call_soon(_release, st)
            return
    st.armed = False


__all__ = ["Admission"]
