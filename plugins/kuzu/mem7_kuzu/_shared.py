"""One open database per file per process, shared by every store on that path.

Kuzu lets a process open the same file twice, but two ``Database`` objects on one file do not see
each other's writes and the last to close wins: the other's writes are silently lost. So stores on
the same path lease one :class:`~._worker.Worker` (one database, one connection, one thread); the
last lease to close closes it. A store opened on a path whose previous worker is still closing
waits (on its own thread) until that close has finished, so it reads everything written.
``:memory:`` databases are never shared.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from mem7_core.errors import ConfigError, ProviderError

from ._engine import MEMORY_PATH, PROVIDER
from ._worker import Session, Worker

T = TypeVar("T")


@dataclass(eq=False)
class _Entry:
    key: str | None
    engine: str
    worker: Worker
    refs: int = 1
    closed: threading.Event = field(default_factory=threading.Event)


_lock = threading.Lock()
_entries: dict[str, _Entry] = {}


def registry_key(path: str) -> str | None:
    """The identity of a database file (``None`` for ``:memory:``, which is never shared)."""
    if path == MEMORY_PATH:
        return None
    return os.path.realpath(os.path.expanduser(path))


class Lease:
    """A store's handle on a shared worker: :meth:`call` runs a job, :meth:`aclose` lets go."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry
        self._released = False

    async def call(self, job: Callable[[Session], T], *, transaction: bool = False) -> T:
        if self._released:
            raise ProviderError(PROVIDER, "the graph store is closed; build a new one")
        return await self._entry.worker.call(job, transaction=transaction)

    async def aclose(self) -> None:
        """Release this lease; the last one closes the database. Idempotent."""
        if self._released:
            return
        self._released = True
        entry = self._entry
        with _lock:
            entry.refs -= 1
            last = entry.refs == 0
        if not last:
            return
        try:
            await entry.worker.aclose()
        finally:
            entry.closed.set()
            with _lock:
                if entry.key is not None and _entries.get(entry.key) is entry:
                    del _entries[entry.key]


def acquire(path: str, engine: str, build: Callable[[threading.Event | None], Worker]) -> Lease:
    """Lease the worker of ``path``, building it with ``build(previous_closed)`` if none is open.

    :param build: makes a new worker; its opener must wait on ``previous_closed`` (when given)
        before opening the file.
    :raises ConfigError: the file is open in this process with the other engine.
    """
    key = registry_key(path)
    if key is None:
        return Lease(_Entry(None, engine, build(None)))
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry.refs > 0:
            if entry.engine != engine:
                raise ConfigError(
                    f"graph_store kuzu: {key!r} is already open in this process with engine "
                    f"{entry.engine!r}; use the same engine for every store on one path"
                )
            entry.refs += 1
            return Lease(entry)
        previous = entry.closed if entry is not None else None
        entry = _Entry(key, engine, build(previous))
        _entries[key] = entry
        return Lease(entry)
