"""Per-call overhead of the retry mechanism: mem7's hand-written ``RetryPolicy`` against the same
policy built on ``tenacity`` (9.x, ``AsyncRetrying``) and on ``stamina`` (``retry_context``), and the
openai plugin's loop it replaces (issue 17).

The wrapped call is a coroutine that returns at once (or raises a retryable error the first
``fail`` times), so what is measured is the mechanism alone: what it adds to every provider call.
Scenarios:

- ``ok``: one attempt that succeeds, no time budget (the common path);
- ``ok+budget``: the same inside an operation budget (``deadline.budget(30)``): each attempt is
  bounded by what is left of it (``asyncio.timeout``);
- ``2 retries``: two retryable failures (429 with ``Retry-After: 0``), then success; sleeps are
  no-ops, so this is the bookkeeping of a retried call.

Each variant runs ``--calls`` calls per round, rounds rotate through the variants, and the table
gives the median over ``--rounds`` rounds of µs per call. Import time is what ``import X`` adds to
a fresh interpreter that already imported ``mem7_core.providers``, the fastest of ``--imports``.

    .venv/bin/python bench/retry/bench_retry.py          # writes bench/results/retry.md
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mem7_core.errors import ProviderError  # noqa: E402
from mem7_core.providers import deadline as _budget  # noqa: E402
from mem7_core.providers.http import BudgetSpent, RetryPolicy  # noqa: E402


class Status(Exception):
    """A 429 the way an SDK raises it: a status and the response's headers."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(status)
        self.status_code = status
        self.headers = headers


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, Status) and (exc.status_code in (408, 409, 429) or exc.status_code >= 500)


def hint(exc: BaseException) -> float | None:
    from mem7_core.providers.http import retry_after

    return retry_after(exc.headers) if isinstance(exc, Status) else None


def describe(exc: BaseException, attempts: int) -> ProviderError:
    return ProviderError("bench", f"{type(exc).__name__} after {attempts} attempts")


async def _nosleep(_: float) -> None:
    return None


# ----------------------------------------------------------------------- the loop it replaces
class LegacyRetrier:
    """mem7_openai._common.Retrier before issue 17 (its run loop and delay, verbatim but for the
    openai-specific timeout check)."""

    def __init__(self, *, max_retries: int, backoff: float, max_backoff: float, deadline: float | None = None) -> None:
        self.max_retries, self.backoff, self.max_backoff, self.deadline = max_retries, backoff, max_backoff, deadline
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    def delay(self, attempt: int, exc: BaseException) -> float | None:
        hinted = hint(exc)
        if hinted is not None and math.isfinite(hinted):
            return None if hinted > 60.0 else max(0.0, hinted)
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.75 + 0.25 * random.random())  # noqa: S311

    def _left(self, end: float | None) -> tuple[float | None, float | None]:
        own = None if end is None else end - time.monotonic()
        op = _budget.remaining()
        if own is None and op is None:
            return None, None
        if op is None or (own is not None and own <= op):
            return own, self.deadline
        return op, None

    async def run(self, call: Callable[[], Awaitable[Any]], describe: Callable[[BaseException, int], ProviderError]) -> Any:
        attempt = 0
        end = None if self.deadline is None else time.monotonic() + self.deadline
        while True:
            left, budget = self._left(end)
            try:
                if left is None:
                    return await call()
                if left <= 0:
                    raise BudgetSpent(budget)
                scope = asyncio.timeout(left)
                try:
                    async with scope:
                        return await call()
                except TimeoutError as exc:
                    if not scope.expired():
                        raise
                    raise BudgetSpent(budget, exc) from exc
            except BudgetSpent as exc:
                raise describe(exc, attempt + 1) from exc.cause
            except Exception as exc:
                if attempt < self.max_retries and retryable(exc):
                    wait = self.delay(attempt, exc)
                    after, budget = self._left(end)
                    if wait is not None and after is not None and after <= wait:
                        raise describe(exc, attempt + 1) from exc
                    if wait is not None:
                        attempt += 1
                        await self.sleep(wait)
                        continue
                raise describe(exc, attempt + 1) from exc


# --------------------------------------------------------------------------- the candidates
def legacy_variant() -> Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]:
    r = LegacyRetrier(max_retries=2, backoff=0.5, max_backoff=8.0)
    r.sleep = _nosleep
    return lambda call: r.run(call, describe)


def mem7_variant() -> Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]:
    p = RetryPolicy(max_retries=2, backoff=0.5, max_backoff=8.0, sleep=_nosleep)
    return lambda call: p.run(call, retryable=retryable, describe=describe, hint=hint)


def tenacity_variant() -> Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]:
    """The same policy with tenacity: a wait that honours Retry-After, a stop on attempts and on the
    budget, the attempt bounded by what is left of the budget, the final error described."""
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = hint(exc) if exc is not None else None
        if hinted is not None:
            return hinted
        base = min(8.0, 0.5 * (2 ** (state.attempt_number - 1)))
        return base * (0.75 + 0.25 * random.random())  # noqa: S311

    def stop(state: tenacity.RetryCallState) -> bool:
        left = _budget.remaining()
        return state.attempt_number >= 3 or (left is not None and left <= (state.upcoming_sleep or 0.0)) or \
            (state.upcoming_sleep or 0.0) > 60.0

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(retryable), wait=wait, stop=stop, sleep=_nosleep, reraise=True,
    )

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        async def bounded() -> Any:
            left = _budget.remaining()
            if left is None:
                return await call()
            if left <= 0:
                raise BudgetSpent(None)
            async with asyncio.timeout(left):
                return await call()

        try:
            return await retrying(bounded)  # copies the Retrying object per call (tenacity's own design)
        except Exception as exc:
            raise describe(exc, 3) from exc

    return run


def stamina_variant() -> Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]:
    """stamina's ``retry_context`` (its async iterator of attempts, on tenacity): ``on=`` returning a
    float is the wait (how it honours a Retry-After); its timeout is what is left of the budget."""
    import stamina
    import stamina.instrumentation

    stamina.set_testing(False)
    stamina.instrumentation.set_on_retry_hooks([])  # no log line per retry: the mechanism alone

    def on(exc: Exception) -> bool | float:
        if not retryable(exc):
            return False
        hinted = hint(exc)
        return hinted if hinted is not None else True

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            async for attempt in stamina.retry_context(on=on, attempts=3, wait_initial=0.0, wait_max=0.0,
                                                      wait_jitter=0.0, timeout=_budget.remaining()):
                with attempt:
                    return await call()
        except Exception as exc:
            raise describe(exc, 3) from exc

    return run


VARIANTS: dict[str, Callable[[], Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]]] = {
    "openai Retrier (before)": legacy_variant,
    "mem7 RetryPolicy (hand-written)": mem7_variant,
    "tenacity 9 AsyncRetrying": tenacity_variant,
    "stamina retry_context": stamina_variant,
}


def make_call(fail: int) -> Callable[[], Callable[[], Awaitable[int]]]:
    def factory() -> Callable[[], Awaitable[int]]:
        left = [fail]

        async def call() -> int:
            if left[0]:
                left[0] -= 1
                raise Status(429, {"retry-after": "0"})
            return 1

        return call

    return factory


async def _round(run: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]], fail: int, budget: bool,
                 calls: int) -> float:
    factory = make_call(fail)
    start = time.perf_counter()
    if budget:
        with _budget.budget(30.0):
            for _ in range(calls):
                await run(factory())
    else:
        for _ in range(calls):
            await run(factory())
    return (time.perf_counter() - start) / calls * 1e6


def import_ms(module: str, n: int) -> float:
    """What ``import module`` adds to a process that has imported ``mem7_core.providers`` (where a
    provider would import it): timed inside a fresh interpreter, the fastest of ``n`` (on a shared
    machine load only ever adds)."""
    code = (f"import time, mem7_core.providers; t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True,
                                 text=True).stdout.split()[-1]) for _ in range(n)]
    return min(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--imports", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "retry.md")
    args = ap.parse_args()
    import tenacity

    scenarios = {"ok": (0, False), "ok+budget": (0, True), "2 retries": (2, False)}
    runs = {name: make() for name, make in VARIANTS.items()}
    empty = lambda call: call()  # noqa: E731 - the floor: the call alone
    results: dict[str, dict[str, list[float]]] = {s: {n: [] for n in ["no policy (floor)", *runs]} for s in scenarios}

    async def bench() -> None:
        for _ in range(args.rounds):
            for scen, (fail, budget) in scenarios.items():
                order = list(runs.items())
                random.shuffle(order)
                if fail == 0:
                    results[scen]["no policy (floor)"].append(await _round(empty, 0, budget, args.calls))
                for name, run in order:
                    results[scen][name].append(await _round(run, fail, budget, args.calls))

    asyncio.run(bench())
    imports = {m: import_ms(m, args.imports) for m in ("mem7_core.providers.http", "tenacity", "stamina")}

    lines = ["# Retry mechanism: per-call overhead of mem7's RetryPolicy against tenacity and stamina", "",
             "Written by `bench/retry/bench_retry.py` (see its docstring and `bench/retry/README.md`). The wrapped "
             "call returns at once, so the numbers are the mechanism alone. µs per call, median over "
             f"{args.rounds} rounds of {args.calls} calls (variants shuffled within each round).", ""]
    for scen in scenarios:
        lines += [f"## {scen}", "", "| variant | µs/call | over floor µs |", "|---|---:|---:|"]
        floor = statistics.median(results[scen]["no policy (floor)"]) if results[scen]["no policy (floor)"] else None
        for name, vals in results[scen].items():
            if not vals:
                continue
            med = statistics.median(vals)
            over = f"{med - floor:+.2f}" if floor is not None else "n/a"
            lines.append(f"| {name} | {med:.2f} | {over} |")
        lines.append("")
    lines += ["## Import time (added to a process that imported mem7_core.providers; fastest of "
              f"{args.imports} fresh interpreters)", "", "| module | ms |", "|---|---:|"]
    lines += [f"| {m} | {v:.1f} |" for m, v in imports.items()]
    lines += ["", "## Machine", "",
              f"- Python {platform.python_version()} ({platform.python_implementation()}); tenacity "
              f"{getattr(tenacity, '__version__', None) or _dist('tenacity')}, stamina {_dist('stamina')}",
              f"- {platform.platform()}; nproc {os.cpu_count()}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
              "- command: `.venv/bin/python bench/retry/bench_retry.py"
              + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "") + "`",
              ""]
    text = "\n".join(lines)
    old = args.out.read_text() if args.out.exists() else ""
    if "\n## Notes" in old:  # hand-written notes survive a re-run (re-check their numbers)
        text += old[old.index("\n## Notes"):]
    args.out.write_text(text)
    print(text)


def _dist(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
