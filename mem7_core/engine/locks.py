"""Per-scope write ordering: writes to one scope are serialised, different scopes never wait.

mem7 has no global lock on the add path. LLM calls and embeddings of concurrent adds overlap
freely; only the short apply step (re-validate targets, write history and vectors) holds the
scope's lock, so two adds deciding against the same memory cannot both rewrite it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Hashable


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
