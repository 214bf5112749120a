"""When the chat requests of 64 concurrent add(infer=True) leave the engine: what bounds the burst's wall time.

Setup as ``profile_add.py --burst 64 --populate 0`` (the peers harness's workload d: a fresh engine
and an empty scope each round, chat answering after 50 ms, no transport or backend in the config).
Each request mem7-openai sends through aiohttp is time-stamped (``Sender.post`` wrapped), and so is
the event loop's time in ``select`` (idle: nothing to run). Per round it prints the wall and
engine-process CPU; when the first and the 64th chat request left (the extraction calls) and when
the last one left (the last decision call); when the first chat answer came back; the loop's idle
time in the *middle* (first answer → last decision request out) and in the *tail* (last decision
request out + the chat latency → the burst's end); when the adds finished; how many commits the
unit of work made for the 64 adds (fewer than 64: adds of the scope committed together, as a
group, by ``engine/commit_queue.py``); the garbage collections during the burst (``gc.callbacks``:
count, time, the oldest generation collected: a full collection, ~40 ms, hits about one burst in
ten); when each embedding request left and came back (the write path's shared requests,
``engine/embed_batch.py``)::

    .venv/bin/python bench/add_cpu/phases.py --rounds 6

``--populate N`` stores N memories in the scope first (verbatim, not timed), so every add finds
candidates and makes both calls (an empty scope makes the decision call only for the adds whose
candidate search comes after another add's commit). ``--free-history`` makes the SQLite history's
``add_events`` a no-op: what writing history costs the burst (an experiment, never a setting)::

    .venv/bin/python bench/add_cpu/phases.py --rounds 5 --populate 200
    .venv/bin/python bench/add_cpu/phases.py --rounds 5 --populate 200 --free-history

``--peers DIR`` talks to the peers harness's server (``DIR/loopback_server.py``, the one the
side-by-side figures use: its scripted decisions are all ADDs) instead of the bench's::

    .venv/bin/python bench/add_cpu/phases.py --rounds 10 --populate 200 --peers ../shared/tools/peers
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.engine import engine_config  # noqa: E402 - after the sys.path line
from bench._common.loopback import Loopback, PeersLoopback  # noqa: E402 - after the sys.path line
from bench._common.text import conversation  # noqa: E402 - after the sys.path line


def _idle(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``spans`` inside ``[start, end]``."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


async def run(args: argparse.Namespace) -> None:
    from mem7_core import AsyncMemory
    from mem7_openai import _aio

    marks: list[tuple[float, str]] = []
    post = _aio.Sender.post

    async def stamped(self: Any, r: Any, content: bytes, headers: Any) -> Any:
        what = str(r.url).rsplit("/", 1)[-1]
        marks.append((time.perf_counter(), "send " + what))
        resp = await post(self, r, content, headers)
        marks.append((time.perf_counter(), "answer " + what))
        return resp

    _aio.Sender.post = stamped  # type: ignore[method-assign]
    from mem7_core.engine.unit_of_work import UnitOfWork

    commits: list[int] = []
    commit = UnitOfWork.commit

    async def counted(self: Any, changes: Any) -> None:
        if changes:
            commits.append(len(changes.events))
        await commit(self, changes)

    UnitOfWork.commit = counted  # type: ignore[method-assign]
    if args.free_history:
        from mem7_core.history.sqlite import SQLiteHistoryStore

        async def no_history(self: Any, events: Any) -> None:
            return None

        SQLiteHistoryStore.add_events = no_history  # type: ignore[method-assign]
    idle: list[tuple[float, float]] = []
    selector: Any = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    select = selector.select

    def timed_select(timeout: float | None = None) -> Any:
        t = time.perf_counter()
        try:
            return select(timeout)
        finally:
            idle.append((t, time.perf_counter()))

    selector.select = timed_select
    gc_spans: list[tuple[int, float]] = []  # (generation, seconds) of each collection during a burst
    gc_start: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start.append(time.perf_counter())
        elif gc_start:
            gc_spans.append((info["generation"], time.perf_counter() - gc_start.pop()))

    gc.callbacks.append(on_gc)
    srv: Loopback | PeersLoopback = PeersLoopback(args.peers) if args.peers else Loopback()
    walls: list[float] = []
    try:
        srv.cmd(cmd="chat_latency", value=args.chat_latency)
        rng = random.Random(args.seed)
        for r in range(args.rounds + 1):  # round 0: warm-up (imports, first client build)
            cfg = engine_config(srv.url, srv.api_key, os.path.join(tempfile.mkdtemp(prefix="mem7-phases-"), "h.db"))
            for kind in ("llm", "embedder"):
                cfg[kind]["config"].pop("request_path", None)
            mem = AsyncMemory(cfg)
            if args.populate:
                texts = [f"I keep item number {i} in the garage next to the bike." for i in range(args.populate)]
                await mem.add([{"role": "user", "content": t} for t in texts], user_id="burst", infer=False)
            convs = [conversation(rng) for _ in range(args.burst)]
            finished: list[float] = []

            async def one(conv: list[dict[str, str]]) -> None:
                await mem.add(conv, user_id="burst")
                finished.append(time.perf_counter())

            marks.clear()
            idle.clear()
            commits.clear()
            gc_spans.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one(c) for c in convs))
            t1 = time.perf_counter()
            wall, cpu = (t1 - t0) * 1e3, (time.process_time() - c0) * 1e3
            await mem.aclose()
            if not r:
                continue
            walls.append(wall)
            sends = [t for t, what in marks if what == "send completions"]
            answers = [t for t, what in marks if what == "answer completions"]
            emb_sent = [t for t, what in marks if what == "send embeddings"]
            emb_back = [t for t, what in marks if what == "answer embeddings"]
            last_out = sends[-1]
            middle = _idle(idle, answers[0], last_out) * 1e3
            tail_from = last_out + args.chat_latency
            tail = _idle(idle, tail_from, t1) * 1e3

            def ms(t: float) -> float:
                return (t - t0) * 1e3

            print(f"round {r}: wall {wall:.0f} ms, engine CPU {cpu:.0f} ms; chat requests {len(sends)}: first sent at "
                  f"{ms(sends[0]):.1f} ms, #{args.burst} at {ms(sends[args.burst - 1]):.1f}, last at {ms(last_out):.1f}; "
                  f"first answer at {ms(answers[0]):.1f}; loop idle {middle:.1f} ms in the middle "
                  f"({ms(answers[0]):.0f}-{ms(last_out):.0f}), {tail:.1f} ms in the tail ({ms(tail_from):.0f}-{wall:.0f}); "
                  f"adds finished {ms(min(finished)):.0f}-{ms(max(finished)):.0f} ms; {len(commits)} commits "
                  f"(events per commit: max {max(commits, default=0)}); garbage collections {len(gc_spans)}: "
                  f"{sum(d for _, d in gc_spans) * 1e3:.1f} ms (oldest generation {max((g for g, _ in gc_spans), default=0)}); "
                  f"embedding requests {len(emb_sent)}: out " + ", ".join(f"{ms(t):.0f}" for t in emb_sent)
                  + "; back " + ", ".join(f"{ms(t):.0f}" for t in emb_back),
                  flush=True)
    finally:
        srv.stop()
    print(f"wall median of {len(walls)}: {statistics.median(walls):.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--burst", type=int, default=64)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--chat-latency", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--populate", type=int, default=0, help="memories in the scope before each burst")
    p.add_argument("--free-history", action="store_true", help="history writes cost nothing (experiment)")
    p.add_argument("--peers", type=Path, default=None,
                   help="the peers harness's directory: its loopback server instead of the bench's")
    args = p.parse_args()
    logging.getLogger("mem7").setLevel(logging.ERROR)  # the plan's notes (an UPDATE turned ADD...) are expected here
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
