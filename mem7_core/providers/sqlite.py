"""Helpers for providers that keep their data in SQLite (the core's history store, ``flat``)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "busy"."""
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def retry_busy(fn: Callable[[], T], timeout_ms: float) -> T:
    """Run ``fn``, retrying "database is locked" until ``timeout_ms`` has passed.

    SQLite's busy handler covers most lock waits; a few report busy at once without waiting
    (switching a fresh file to WAL while another process does the same, ``BEGIN IMMEDIATE`` racing
    a checkpoint), so they are retried here, with a short growing pause.
    """
    deadline = time.monotonic() + timeout_ms / 1000.0
    delay = 0.001
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
