"""Is the event loop free while a provider works? A heartbeat that measures it.

For providers that hand blocking work to a thread (:mod:`mem7_core.providers.blocking`): a test
awaits the provider's call inside :func:`heartbeat_max_gap` and asserts the longest gap between
ticks stays near the period, where an inline blocking call would stall every tick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def heartbeat_max_gap(work: Awaitable[T], period: float = 0.005) -> tuple[T, float]:
    """Await ``work`` while a task ticks every ``period`` seconds; its result and the longest gap
    (seconds) between two ticks."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def beat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(period)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(beat())
    await asyncio.sleep(0)
    try:
        result = await work
    finally:
        stop.set()
        await task
    return result, max(gaps, default=0.0)


__all__ = ["heartbeat_max_gap"]
