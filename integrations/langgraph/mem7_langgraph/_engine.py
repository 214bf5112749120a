"""One async face over mem7's ``Memory`` (sync) and ``AsyncMemory``, so the store and the tools
are written once: the calls the store makes, through ``mem7_core.frameworks.call`` (``AsyncMemory``
awaited on the caller's loop, the sync ``Memory`` in a worker thread), and :meth:`Engine.run_sync`
for LangGraph's sync calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from mem7_core import AsyncMemory, Memory
from mem7_core.frameworks import MemoryLike, call

T = TypeVar("T")


class Engine:
    """Async calls into a ``Memory`` or an ``AsyncMemory``; results are mem7's plain dicts."""

    def __init__(self, memory: MemoryLike, *, owner: str) -> None:
        if not isinstance(memory, (Memory, AsyncMemory)):
            raise TypeError(
                f"{owner} needs a mem7_core.Memory or mem7_core.AsyncMemory, got {type(memory).__name__}; "
                "build one with Memory(config) or AsyncMemory(config)"
            )
        self.memory = memory
        self.owner = owner

    @property
    def is_async(self) -> bool:
        return isinstance(self.memory, AsyncMemory)

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await call(self.memory, name, *args, **kwargs)

    async def add(self, text: str, scope: Mapping[str, str], *, infer: bool,
                  metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = await self._call("add", text, **scope, infer=infer, metadata=metadata)
        return out

    async def search(self, query: str, scope: Mapping[str, str], *, limit: int,
                     filters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        out = await self._call("search", query, **scope, limit=limit, filters=filters)
        return list(out["results"])

    async def get(self, memory_id: str, scope: Mapping[str, str]) -> dict[str, Any] | None:
        out: dict[str, Any] | None = await self._call("get", memory_id, **scope)
        return out

    async def get_all(self, scope: Mapping[str, str], *, limit: int,
                      filters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        out = await self._call("get_all", **scope, limit=limit, filters=filters)
        return list(out["results"])

    async def export_all(self) -> list[dict[str, Any]]:
        return list(await self._call("export_memories"))

    async def import_one(self, item: Mapping[str, Any]) -> None:
        await self._call("import_memories", [item], on_conflict="replace")

    async def delete(self, memory_id: str, scope: Mapping[str, str]) -> None:
        await self._call("delete", memory_id, **scope)

    def run_sync(self, make: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of this module to completion from sync code (``Memory`` only).

        It runs in a fresh event loop on a worker thread, so it works inside a running loop too.
        """
        if self.is_async:
            make.close()
            raise RuntimeError(
                f"{self.owner} was given an AsyncMemory, which lives on its event loop: use the async "
                "calls (abatch, aget, aput, asearch, ainvoke), or pass a sync mem7_core.Memory instead"
            )
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, make).result()
