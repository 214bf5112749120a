"""``Memory``: the synchronous facade over :class:`AsyncMemory`.

The engine runs on a private event loop in a daemon thread, and each call is handed to it with
``run_coroutine_threadsafe``. So a sync call works anywhere: in plain scripts, from many threads
at once, and inside a running event loop (Jupyter, an async web handler), where ``asyncio.run``
would fail. All providers live on that one loop, which keeps clients that bind to a loop (httpx
pools) valid for the engine's lifetime.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

from ..config import MemoryConfig
from ..models import Item
from ..results import (
    AddResponse,
    HistoryEntry,
    ImportResponse,
    ListResponse,
    MemoryItem,
    MessageResponse,
    SearchResponse,
    UsageReport,
)
from .assembly import wait_closing
from .memory import AsyncMemory

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mem7-engine-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync mem7 call was made from inside the engine's own loop; use AsyncMemory there")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            # as asyncio.run does before closing its loop: async generators left suspended on the
            # loop finish (providers close what they share per loop that way)
            try:
                asyncio.run_coroutine_threadsafe(self.loop.shutdown_asyncgens(), self.loop).result(timeout=10)
            except Exception:  # noqa: BLE001, S110 - best effort: the loop stops regardless
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


def _shutdown(runner: _LoopThread, engine: AsyncMemory | None) -> None:
    if engine is not None and not runner.loop.is_closed():
        try:
            runner.run(engine.aclose())
        except Exception:  # best effort at interpreter exit / garbage collection
            pass
    runner.stop()


class Memory:
    """The memory engine for synchronous code. Same arguments and methods as :class:`AsyncMemory`.

    Thread-safe; usable inside a running event loop. Use as a context manager or call
    :meth:`close` to release files and connections (garbage collection does it otherwise).
    """

    def __init__(self, config: MemoryConfig | Mapping[str, Any] | str | Path | None = None, **kwargs: Any) -> None:
        self._runner = _LoopThread()
        self._engine: AsyncMemory | None = None
        try:
            self._engine = self._runner.run(self._build(config, kwargs))
        except BaseException:
            self._runner.stop()
            raise
        self._finalizer = weakref.finalize(self, _shutdown, self._runner, self._engine)

    @staticmethod
    async def _build(config: Any, kwargs: dict[str, Any]) -> AsyncMemory:
        # Built on the engine loop, so clients that bind to the loop at construction use this one.
        try:
            engine = AsyncMemory(config, **kwargs)
        except BaseException:
            await wait_closing()  # the loop stops next: let the failed build close what it opened
            raise
        try:
            await engine.check_store()  # an embedder the store was not written with fails at open
        except BaseException:
            await engine.aclose()
            raise
        return engine

    @classmethod
    def from_config(
        cls, config_dict: MemoryConfig | Mapping[str, Any] | str | Path | None = None, **kwargs: Any
    ) -> Memory:
        """Build from a config object, a dict (ours, mem0's or the original mem7's shape) or a config
        file path. mem0 names the argument ``config_dict``; ``config=`` is accepted too."""
        from .memory import _config_arg

        return cls(_config_arg(config_dict, kwargs), **kwargs)

    @property
    def engine(self) -> AsyncMemory:
        """The async engine underneath (its coroutines must run on this facade's loop)."""
        if self._engine is None:
            raise RuntimeError("this Memory is closed")
        return self._engine

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self._finalizer.alive:
            coro.close()
            raise RuntimeError("this Memory is closed")
        return self._runner.run(coro)

    def add(self, messages: Any, **kwargs: Any) -> AddResponse:
        """See :meth:`AsyncMemory.add`."""
        return self._call(self.engine.add(messages, **kwargs))

    def search(self, query: str, **kwargs: Any) -> SearchResponse:
        """See :meth:`AsyncMemory.search`."""
        return self._call(self.engine.search(query, **kwargs))

    def get(self, memory_id: str, **kwargs: Any) -> MemoryItem | None:
        """See :meth:`AsyncMemory.get`."""
        return self._call(self.engine.get(memory_id, **kwargs))

    def get_all(self, **kwargs: Any) -> ListResponse:
        """See :meth:`AsyncMemory.get_all`."""
        return self._call(self.engine.get_all(**kwargs))

    def update(self, memory_id: str, text: str | None = None, **kwargs: Any) -> MessageResponse:
        """See :meth:`AsyncMemory.update`."""
        return self._call(self.engine.update(memory_id, text, **kwargs))

    def delete(self, memory_id: str, **kwargs: Any) -> MessageResponse:
        """See :meth:`AsyncMemory.delete`."""
        return self._call(self.engine.delete(memory_id, **kwargs))

    def delete_all(self, **kwargs: Any) -> MessageResponse:
        """See :meth:`AsyncMemory.delete_all`."""
        return self._call(self.engine.delete_all(**kwargs))

    def history(self, memory_id: str) -> list[HistoryEntry]:
        """See :meth:`AsyncMemory.history`."""
        return self._call(self.engine.history(memory_id))

    def export_memories(self, **kwargs: Any) -> list[MemoryItem]:
        """See :meth:`AsyncMemory.export_memories`."""
        return self._call(self.engine.export_memories(**kwargs))

    def import_memories(self, items: Iterable[Mapping[str, Any] | Item], **kwargs: Any) -> ImportResponse:
        """See :meth:`AsyncMemory.import_memories`."""
        return self._call(self.engine.import_memories(items, **kwargs))

    def reset(self) -> MessageResponse:
        """See :meth:`AsyncMemory.reset`."""
        return self._call(self.engine.reset())

    @property
    def usage(self) -> UsageReport:
        """See :attr:`AsyncMemory.usage` (read without waiting for the engine's loop)."""
        return self.engine.usage

    def reset_usage(self) -> UsageReport:
        """See :meth:`AsyncMemory.reset_usage`."""
        return self.engine.reset_usage()

    def drain(self) -> None:
        """Wait for background rehearsals to finish (tests and shutdown use it)."""
        self._call(self.engine.drain())

    def close(self) -> None:
        """Close the providers and stop the engine's loop. Idempotent."""
        self._finalizer()
        self._engine = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._engine).replace("AsyncMemory", "Memory", 1) if self._engine else "<Memory closed>"
