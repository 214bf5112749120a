"""Per-scope write ordering: writes to one scope are serialised, different scopes never wait.

mem7 has no global lock on the add path. LLM calls, embeddings and candidate searches of
concurrent adds overlap freely, in one scope too; only the short apply step (re-validate targets,
write history and vectors) holds the scope's lock. That is all the ordering correctness needs:

- two adds deciding against the same memory cannot both rewrite it: under the lock, an UPDATE or
  DELETE whose target changed since its LLM saw it is not applied blindly (the UPDATE's text is
  added instead, the DELETE skipped);
- two adds extracting the same new fact at the same time would each see a scope without it and
  both ADD it; :class:`WriteLog` lets the second see, under the lock, what the first stored while it
  was deciding, so the fact is stored once (within one engine; separate processes can still
  duplicate, as two sequential adds never do).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from .inference import norm_text
from .inputs import scope_of_payload

if TYPE_CHECKING:
    from .unit_of_work import Changes


V = TypeVar("V")


class ScopeLocks:
    """A lock per scope key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock_, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock_, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass(slots=True)
class _Log(Generic[V]):
    seq: int = 0
    readers: Counter[int] = field(default_factory=Counter)
    """The sequence number each in-flight add started at (how many adds started there)."""
    entries: list[tuple[int, str, V]] = field(default_factory=list)
    """(sequence number, key, value) of each write made while adds were in flight."""


class SeenLog(Generic[V]):
    """Per scope, what was written while an add of that scope was deciding (in-process).

    An add calls :meth:`begin` before it reads what it decides against and :meth:`end` when done;
    writers :meth:`record` what they wrote, as ``(key, value)`` pairs. Under the scope's lock,
    :meth:`since` tells the add what was written after it started, which its read could not show.
    Only scopes with adds in flight keep a log, and only the entries some in-flight add has not
    seen yet. The vector path logs memories (:class:`WriteLog`: normalised text → memory id), the
    graph path relations (``engine/graph.py``: triple text → triple).
    """

    def __init__(self) -> None:
        self._logs: dict[Hashable, _Log[V]] = {}

    def begin(self, key: Hashable) -> int:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
        log.readers[log.seq] += 1
        return log.seq

    def end(self, key: Hashable, seq: int) -> None:
        log = self._logs.get(key)
        if log is None:
            return
        log.readers[seq] -= 1
        if log.readers[seq] <= 0:
            del log.readers[seq]
        if not log.readers:
            del self._logs[key]
            return
        oldest = min(log.readers)
        if log.entries and log.entries[0][0] <= oldest:
            log.entries = [e for e in log.entries if e[0] > oldest]

    def record(self, key: Hashable, written: Iterable[tuple[str, V]]) -> None:
        """``written``: (key, value) pairs of what was just written in scope ``key``."""
        log = self._logs.get(key)
        if log is None:  # no add of this scope is deciding: nobody needs to know
            return
        log.seq += 1
        log.entries.extend((log.seq, text, value) for text, value in written)

    def since(self, key: Hashable, seq: int) -> dict[str, V]:
        """Key → value, of what was written in scope ``key`` after ``seq``."""
        log = self._logs.get(key)
        if log is None:
            return {}
        return {text: value for s, text, value in log.entries if s > seq}

    def __len__(self) -> int:
        return len(self._logs)


class WriteLog(SeenLog[str]):
    """Per scope, the memories written while an add of that scope was deciding (normalised text →
    memory id): the vector path's :class:`SeenLog`, fed as the unit of work's write listener.
    Under the scope lock, an add learns what was stored after it retrieved its candidates, which
    they could not show."""

    # ------------------------------------------------------------------ as the engine's write listener
    def write_started(self, changes: Changes) -> None:
        pass

    def write_committed(self, changes: Changes) -> None:
        """Adds deciding in a scope learn which memory now holds which words."""
        if not self._logs:
            return
        for rec in changes.written():
            self.record(scope_of_payload(rec.payload).key(), [(norm_text(str(rec.payload.get("data", ""))), rec.id)])

    def write_failed(self, changes: Changes, *, partial: bool) -> None:
        pass
