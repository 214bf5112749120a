"""One time budget per operation, shared by every provider call made inside it.

The engine opens a budget around an operation (``operation_timeout_secs``); providers read
:func:`remaining` to bound each attempt and stop retrying once it is spent, so a provider that never
answers costs one budget, not ``attempts x timeout``. A context variable: tasks spawned inside the
operation inherit it; outside any operation :func:`remaining` is None (no budget).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("mem7_deadline", default=None)


def remaining() -> float | None:
    """Seconds left in the current operation's budget (<= 0: spent), or None outside any budget."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


@contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Run the block within ``seconds`` (None: no budget of its own). A budget already open and
    shorter stays in force (nested operations never extend their caller's)."""
    if seconds is None:
        yield
        return
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)
