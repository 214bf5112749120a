"""Helpers for providers that keep their data in SQLite (the core's history store, ``flat``)."""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import StorageError

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


_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def storage_error(exc: BaseException, store: str, where: object) -> StorageError | None:
    """A :class:`StorageError` naming ``store`` and ``where`` (its file or path) when ``exc`` says
    the disk is full or the data is read-only (``OSError`` ENOSPC / EDQUOT / EROFS / EACCES, SQLite's
    "database or disk is full" / "attempt to write a readonly database"); None for anything else."""
    if isinstance(exc, StorageError):
        return exc
    full = readonly = False
    if isinstance(exc, OSError):
        full, readonly = exc.errno in _FULL_ERRNOS, exc.errno in _READONLY_ERRNOS
    elif isinstance(exc, sqlite3.Error):
        msg = str(exc).lower()
        code = getattr(exc, "sqlite_errorcode", None)
        full = "disk is full" in msg or code == 13  # SQLITE_FULL
        readonly = "readonly" in msg or "read-only" in msg or code == 8  # SQLITE_READONLY
    if full:
        return StorageError(store, f"{store}: no space left to write {where} ({exc}); free disk space, "
                                   "then retry. Nothing of this write was kept")
    if readonly:
        return StorageError(store, f"{store}: {where} is read-only ({exc}); make it writable, then retry. "
                                   "Nothing of this write was kept")
    return None
