"""mem7_core.providers.blocking: sync work off the event loop, in order, cancellation-safe."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mem7_core.providers import deadline
from mem7_core.providers.blocking import BlockingRunner, blocking, run_blocking, runner_of
from mem7_core.testing.loop import heartbeat_max_gap

pytestmark = pytest.mark.asyncio

BLOCK_S = 0.3


async def test_inline_blocking_call_stalls_the_loop() -> None:
    """The control: the heartbeat does see a blocking call made inline."""

    async def inline() -> None:
        time.sleep(BLOCK_S)

    _, gap = await heartbeat_max_gap(inline())
    assert gap >= BLOCK_S * 0.9


@pytest.mark.parametrize("how", ["runner", "run_blocking", "decorator"])
async def test_loop_stays_responsive_while_a_blocking_call_runs(how: str) -> None:
    class Thing:
        name = "thing"

        @blocking
        def slow(self, x: int) -> int:
            time.sleep(BLOCK_S)
            return x * 2

    runner = BlockingRunner("t")
    work = {
        "runner": lambda: runner.run(lambda x: (time.sleep(BLOCK_S), x * 2)[1], 21),
        "run_blocking": lambda: run_blocking(lambda x: (time.sleep(BLOCK_S), x * 2)[1], 21),
        "decorator": lambda: Thing().slow(21),
    }[how]
    t0 = time.perf_counter()
    result, gap = await heartbeat_max_gap(work())
    assert result == 42
    assert time.perf_counter() - t0 >= BLOCK_S * 0.9
    assert gap < 0.1, f"the loop stalled {gap * 1e3:.0f} ms"
    await runner.aclose()


async def test_jobs_run_one_at_a_time_in_submission_order_on_one_thread() -> None:
    runner = BlockingRunner("order")
    seen: list[int] = []
    threads: set[int] = set()
    active = [0]
    overlap = [False]

    def job(i: int) -> int:
        active[0] += 1
        overlap[0] |= active[0] > 1
        threads.add(threading.get_ident())
        time.sleep(0.001 * (i % 3))  # uneven durations: a pool of threads would reorder them
        seen.append(i)
        active[0] -= 1
        return i

    results = await asyncio.gather(*(runner.run(job, i) for i in range(50)))
    assert results == list(range(50))
    assert seen == list(range(50))
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert not overlap[0]
    await runner.aclose()


class Boom(KeyError):
    pass


@pytest.mark.parametrize("how", ["runner", "run_blocking", "decorator"])
async def test_exceptions_propagate_with_their_type(how: str) -> None:
    def fail(x: int) -> None:
        raise Boom(x)

    class Thing:
        @blocking
        def fail(self, x: int) -> None:
            raise Boom(x)

    runner = BlockingRunner()
    call = {"runner": lambda: runner.run(fail, 7), "run_blocking": lambda: run_blocking(fail, 7),
            "decorator": lambda: Thing().fail(7)}[how]
    with pytest.raises(Boom) as info:
        await call()
    assert info.value.args == (7,)
    assert await runner.run(lambda: "still works") == "still works"
    await runner.aclose()


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_blocking_var", default="unset")


@pytest.mark.parametrize("how", ["runner", "run_blocking"])
async def test_contextvars_and_the_deadline_are_carried_into_the_thread(how: str) -> None:
    runner = BlockingRunner()

    def look() -> tuple[str, float | None, bool]:
        VAR.set("changed in the thread")  # a copy: never leaks back to the caller
        return VAR.get(), deadline.remaining(), threading.current_thread() is threading.main_thread()

    run = runner.run if how == "runner" else run_blocking
    token = VAR.set("caller")
    try:
        with deadline.budget(30):
            value, left, main = await run(look)
        assert value == "changed in the thread" and VAR.get() == "caller"
        assert left is not None and 25 < left <= 30
        assert not main
        assert (await run(lambda: (VAR.get(), deadline.remaining())))[1] is None  # outside the budget
        assert (await run(VAR.get)) == "caller"
    finally:
        VAR.reset(token)
    await runner.aclose()


async def test_cancelled_awaiter_gets_cancelled_error_and_the_running_job_finishes() -> None:
    """Like a transaction: cancelled mid-job, the job still completes (no half-written state);
    jobs queued behind it keep their order; a queued job whose awaiter is cancelled never runs."""
    runner = BlockingRunner("cancel")
    started = threading.Event()
    log: list[str] = []

    def transaction() -> str:
        log.append("begin")
        started.set()
        time.sleep(0.2)
        log.append("commit")
        return "done"

    first = asyncio.create_task(runner.run(transaction))
    queued = asyncio.create_task(runner.run(log.append, "dropped"))
    after = asyncio.create_task(runner.run(log.append, "after"))
    assert await asyncio.to_thread(started.wait, 5)
    t0 = time.perf_counter()
    first.cancel()
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert time.perf_counter() - t0 < 0.1, "the awaiter waited for the job instead of returning at once"
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert log == ["begin"]  # still running in its thread
    await after
    assert log == ["begin", "commit", "after"]
    await runner.aclose()


async def test_wait_for_timeout_around_a_job() -> None:
    runner = BlockingRunner()
    done = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        done.set()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(runner.run(slow), 0.02)
    await runner.aclose()  # waits for the job already running
    assert done.is_set()


async def test_aclose_waits_for_submitted_jobs_and_the_runner_restarts() -> None:
    runner = BlockingRunner()
    out: list[int] = []
    pending = [asyncio.create_task(runner.run(lambda i=i: (time.sleep(0.01), out.append(i)))) for i in range(5)]
    await asyncio.sleep(0)
    await runner.aclose()
    assert out == [0, 1, 2, 3, 4]
    await asyncio.gather(*pending)
    await runner.aclose()  # idempotent
    assert await runner.run(lambda: 5) == 5  # a new thread
    runner.close()


async def test_a_job_cannot_wait_for_its_own_runner() -> None:
    runner = BlockingRunner()

    def nested() -> Any:
        assert runner.in_worker()
        coro = runner.run(lambda: 1)
        try:
            return asyncio.run(coro)
        except RuntimeError as exc:
            return str(exc)

    assert not runner.in_worker()
    assert "from inside one of its own jobs" in await runner.run(nested)
    await runner.aclose()


async def test_decorator_inline_and_one_runner_per_instance() -> None:
    class Store:
        name = "store"

        def __init__(self, path: str | None) -> None:
            self.path = path

        @blocking(inline=lambda self: self.path is None)
        def where(self) -> bool:
            return threading.current_thread() is threading.main_thread()

    mem, disk, disk2 = Store(None), Store("/x"), Store("/y")
    assert await mem.where() is True
    assert await disk.where() is False
    assert runner_of(disk) is runner_of(disk) and runner_of(disk) is not runner_of(disk2)
    assert runner_of(disk).name == "mem7-store"
    await runner_of(disk).aclose()


def test_a_runner_first_used_while_python_exits_runs_its_job_in_place() -> None:
    """A provider's first blocking job at exit (an ``atexit`` hook closing it), in a process that
    never loaded ``concurrent.futures.thread``: importing it then is refused ("can't register atexit
    after shutdown"); the job still runs, in place, with no traceback."""
    script = (
        "import asyncio, atexit, sys\n"
        "from mem7_core.providers.blocking import BlockingRunner\n"
        "runner = BlockingRunner('exit-test')\n"
        "atexit.register(lambda: print('result', asyncio.run(runner.run(lambda: 42)), flush=True))\n"
        "print('thread module loaded:', 'concurrent.futures.thread' in sys.modules, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "thread module loaded: False" in done.stdout  # what makes the case
    assert "result 42" in done.stdout and "Traceback" not in done.stderr, done.stderr


async def test_an_engine_closed_while_python_exits_closes_its_stores_quietly(tmp_path: Path) -> None:
    """``Memory()`` left open is closed by an atexit hook, when no thread can start any more: the
    flat store's writer-thread jobs (its last close) run in place instead of failing, and what was
    acknowledged is there for the next process."""
    script = (
        "from mem7_core import Memory\n"
        "m = Memory()\n"
        "m.add('I keep bees on the roof', user_id='u', infer=False)\n"
        "print('added')\n"
    )
    env = {**os.environ, "MEM7_DATA_DIR": str(tmp_path / "data")}
    env.pop("MEM7_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "added" in done.stdout
    assert "failed" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    check = "from mem7_core import Memory\nm = Memory()\nprint(len(m.get_all(user_id='u')['results']))\nm.close()\n"
    again = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert again.stdout.strip() == "1", again.stderr
