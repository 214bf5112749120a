"""What the tools and the session share: the scope they are bound to, and calling either engine."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mem7_core import AddResponse, AsyncMemory, Memory, SearchResponse

MemoryLike = Memory | AsyncMemory
"""A mem7 engine: ``AsyncMemory`` is awaited on the agent's loop; ``Memory`` (sync) runs in a worker
thread, so it never blocks the loop."""


@dataclass(frozen=True)
class Bound:
    """A mem7 engine and the scope (user / agent / run ids) every call is made in."""

    memory: MemoryLike
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        where: str,
        memory: object,
        user_id: str | None,
        agent_id: str | None,
        run_id: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> Bound:
        """Checks the arguments, naming the one that is wrong and how to fix it."""
        if not isinstance(memory, (Memory, AsyncMemory)):
            raise TypeError(
                f"{where}: memory must be a mem7 Memory or AsyncMemory (from mem7_core or mem7), "
                f"got {type(memory).__name__}; build one with e.g. AsyncMemory(config)"
            )
        for name, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{where}: {name} must be a non-empty string or None, got {value!r}")
        if user_id is None and agent_id is None and run_id is None:
            raise ValueError(
                f"{where}: no scope given; pass user_id=, agent_id= and/or run_id= "
                "(memories are stored and searched per scope)"
            )
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(f"{where}: metadata must be a mapping or None, got {type(metadata).__name__}")
        return cls(memory, user_id, agent_id, run_id, dict(metadata or {}))

    @property
    def scope(self) -> dict[str, str]:
        ids = {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}
        return {k: v for k, v in ids.items() if v is not None}

    async def add(self, messages: Any, *, infer: bool, metadata: Mapping[str, Any] | None = None) -> AddResponse:
        meta = {**self.metadata, **(metadata or {})} or None
        kwargs: dict[str, Any] = {**self.scope, "infer": infer, "metadata": meta}
        if isinstance(self.memory, AsyncMemory):
            return await self.memory.add(messages, **kwargs)
        return await asyncio.to_thread(self.memory.add, messages, **kwargs)

    async def search(self, query: str, *, limit: int, threshold: float | None) -> SearchResponse:
        kwargs: dict[str, Any] = {**self.scope, "limit": limit, "threshold": threshold}
        if isinstance(self.memory, AsyncMemory):
            return await self.memory.search(query, **kwargs)
        return await asyncio.to_thread(self.memory.search, query, **kwargs)
