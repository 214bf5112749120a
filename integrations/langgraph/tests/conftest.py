"""Fixtures: mem7 engines with the testing kit's hash embedder and no LLM (memories are stored
verbatim), fresh per test; the loopback OpenAI server comes from mem7-core's pytest plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory

CONFIG: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


@pytest.fixture
def memory() -> Iterator[Memory]:
    with Memory(CONFIG) as m:
        yield m


@pytest.fixture
async def amemory() -> AsyncIterator[AsyncMemory]:
    async with AsyncMemory(CONFIG) as m:
        yield m
