"""When the chat requests of 64 concurrent add(infer=True) leave the engine: what bounds the burst's wall time.

Setup as ``profile_add.py --burst 64 --populate 0`` (the peers harness's workload d: a fresh engine
and an empty scope each round, chat answering after 50 ms, no transport or backend in the config).
Each request mem7-openai sends through aiohttp is time-stamped (``Sender.post`` wrapped); per round
it prints the wall and engine-process CPU, when the first and the 64th chat request left (the
extraction calls) and when the last one left (the last decision call)::

    .venv/bin/python bench/add_cpu/phases.py --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.engine import engine_config  # noqa: E402 - after the sys.path line
from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line
from bench._common.text import conversation  # noqa: E402 - after the sys.path line


async def run(args: argparse.Namespace) -> None:
    from mem7_core import AsyncMemory
    from mem7_openai import _aio

    marks: list[tuple[float, str]] = []
    post = _aio.Sender.post

    async def stamped(self: Any, r: Any, content: bytes, headers: Any) -> Any:
        marks.append((time.perf_counter(), str(r.url).rsplit("/", 1)[-1]))
        return await post(self, r, content, headers)

    _aio.Sender.post = stamped  # type: ignore[method-assign]
    srv = Loopback()
    try:
        srv.cmd(cmd="chat_latency", value=args.chat_latency)
        rng = random.Random(args.seed)
        for r in range(args.rounds + 1):  # round 0: warm-up (imports, first client build)
            cfg = engine_config(srv.url, srv.api_key, os.path.join(tempfile.mkdtemp(prefix="mem7-phases-"), "h.db"))
            for kind in ("llm", "embedder"):
                cfg[kind]["config"].pop("request_path", None)
            mem = AsyncMemory(cfg)
            convs = [conversation(rng) for _ in range(args.burst)]
            marks.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(mem.add(c, user_id="burst") for c in convs))
            wall, cpu = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
            chats = [t - t0 for t, what in marks if what == "completions"]
            await mem.aclose()
            if r:
                print(f"round {r}: wall {wall:.0f} ms, engine CPU {cpu:.0f} ms; chat requests {len(chats)}: first "
                      f"sent at {chats[0] * 1e3:.1f} ms, #{args.burst} at {chats[args.burst - 1] * 1e3:.1f} ms, "
                      f"last at {chats[-1] * 1e3:.1f} ms", flush=True)
    finally:
        srv.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--burst", type=int, default=64)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--chat-latency", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    logging.getLogger("mem7").setLevel(logging.ERROR)  # the plan's notes (an UPDATE turned ADD...) are expected here
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
