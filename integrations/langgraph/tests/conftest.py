"""Fixtures: mem7 engines with the testing kit's hash embedder and no LLM (memories are stored
verbatim), fresh per test; the loopback OpenAI server comes from mem7-core's pytest plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mem7_core import AsyncMemory, Memory
from mem7_core.testing.integration import verbatim_config


@pytest.fixture
def memory() -> Iterator[Memory]:
    with Memory(verbatim_config()) as m:
        yield m


@pytest.fixture
async def amemory() -> AsyncIterator[AsyncMemory]:
    async with AsyncMemory(verbatim_config()) as m:
        yield m
