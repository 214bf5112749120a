"""Inferred adds started at once go in one per event-loop pass (engine/admission.py), so the first
ones' model requests go out while later ones are still being prepared."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from mem7_core.engine.admission import Admission
from mem7_core.engine.memory import AsyncMemory
from mem7_core.models import LLMResponse
from mem7_core.providers.llm import Message
from mem7_core.testing.fakes import ScriptedLLM
from mem7_core.testing.one_call import as_one_call

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


class Passes:
    """Counts event-loop passes: a callback that reschedules itself once per pass."""

    def __init__(self) -> None:
        self.n = 0
        self._on = True
        asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        if self._on:
            self.n += 1
            asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._on = False


async def test_a_lone_caller_goes_in_without_waiting() -> None:
    admission = Admission()
    for _ in range(3):  # one add after the other (an add yields to the loop many times in between)
        ran: list[str] = []
        asyncio.get_running_loop().call_soon(ran.append, "other callbacks")
        await admission.enter()
        assert ran == [] and admission.waiting == 0  # went in without yielding to the loop
        await asyncio.sleep(0)
        assert ran == ["other callbacks"]


async def test_callers_arriving_together_go_in_one_per_pass_in_order() -> None:
    admission = Admission()
    passes = Passes()
    went: list[tuple[int, int]] = []

    async def caller(i: int) -> None:
        await admission.enter()
        went.append((i, passes.n))

    await asyncio.gather(*(caller(i) for i in range(6)))
    passes.stop()
    assert [i for i, _ in went] == list(range(6))  # first come, first in
    at = [p for _, p in went]
    assert all(b > a for a, b in itertools.pairwise(at)), at  # never two in one pass
    assert admission.waiting == 0


async def test_a_cancelled_waiter_leaves_its_turn_to_the_next() -> None:
    admission = Admission()
    went: list[int] = []

    async def caller(i: int) -> None:
        await admission.enter()
        went.append(i)

    tasks = [asyncio.create_task(caller(i)) for i in range(4)]
    await asyncio.sleep(0)  # all four asked: 0 went in, 1-3 wait
    assert went == [0] and admission.waiting == 3
    tasks[1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert went == [0, 2, 3] and tasks[1].cancelled()
    await admission.enter()  # and the queue is free again
    assert admission.waiting == 0


def test_each_event_loop_has_its_own_queue() -> None:
    admission = Admission()

    async def burst() -> list[int]:
        went: list[int] = []

        async def caller(i: int) -> None:
            await admission.enter()
            went.append(i)

        await asyncio.gather(*(caller(i) for i in range(3)))
        return went

    assert asyncio.run(burst()) == [0, 1, 2]
    assert asyncio.run(burst()) == [0, 1, 2]  # a closed loop's state does not hold the next one up


class WireLLM(ScriptedLLM):
    """An LLM whose request reaches "the wire" two passes after the call (a connection to open),
    as a network client's does. Records how many calls had started when each request went out."""

    def __init__(self, script: Any = None) -> None:
        super().__init__(script)
        self.started = 0
        self.started_when_sent: list[int] = []

    async def generate(self, messages: Sequence[Message], **options: Any) -> LLMResponse:
        self.started += 1
        await asyncio.sleep(0)  # connect
        await asyncio.sleep(0)  # connected: the request is written
        self.started_when_sent.append(self.started)
        return await super().generate(messages, **options)


@pytest.mark.parametrize("mode", ["two_call", "one_call"])
async def test_the_first_adds_requests_go_out_before_the_last_adds_are_prepared(mode: str) -> None:
    """Without admission all 32 adds build their request in the first pass, and the first request
    goes out only after the 32nd was built (started_when_sent[0] == 32)."""
    llm = WireLLM(as_one_call() if mode == "one_call" else None)  # the fake's own rules
    async with AsyncMemory({**BASE, "add_mode": mode}, llm=llm) as mem:
        facts = [f"I keep item {i} in the shed." for i in range(32)]
        results = await asyncio.gather(*(mem.add(f, user_id="u") for f in facts))
        assert all(r["results"] for r in results)  # every add stored its fact
        assert llm.started_when_sent[0] <= 3, llm.started_when_sent[:5]
        stored = await mem.get_all(user_id="u")
        assert len(stored["results"]) == 32
