"""CPU per chat request with 64 in flight: aiohttp (mem7-openai's backend) against other HTTP clients.

Issue #19 asks whether a faster HTTP client would take 64 concurrent inferred adds to 0.8x the
original's wall. This measures the client side alone: 64 chat requests at once (the body of an
extraction call, prebuilt as mem7-openai prebuilds it) to the loopback server of ``bench/overhead``
in its own process, answering after ``--latency`` seconds; one warm-up burst per client session
opens its 64 connections, then ``--rounds`` bursts are measured. *CPU* is this process's
``time.process_time()`` per request (all threads: a client that works on threads of its own pays
there), *wall* the burst's. Clients, each in turn, interleaved:

- ``aiohttp``: a ``ClientSession`` posting bytes, reading the body, ``json.loads`` (what
  ``mem7_openai._aio`` does, without its error mapping);
- ``pyreqwest`` (Rust reqwest through PyO3; not a mem7 dependency: ``pip install pyreqwest`` into
  the venv to include it, skipped otherwise).

    .venv/bin/python bench/add_cpu/http_clients.py --rounds 5 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line

BODY = json.dumps({
    "model": "bench-llm",
    "messages": [
        {"role": "system", "content": "You extract facts about the user from the conversation. " * 30},
        {"role": "user", "content": "User: I moved to Lyon last year and I have a dog named Rex."},
    ],
    "response_format": {"type": "json_object"},
    "temperature": 0,
}).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}

Burst = Callable[[int], Awaitable[None]]


async def _measure(burst: Burst, n: int, rounds: int) -> list[tuple[float, float]]:
    await burst(n)  # opens the connections
    out = []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        await burst(n)
        out.append(((time.process_time() - c0) / n * 1e6, (time.perf_counter() - w0) * 1e3))
    return out


async def run_aiohttp(url: str, n: int, rounds: int) -> list[tuple[float, float]]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def one() -> Any:
            async with session.post(url, data=BODY, headers=HEADERS) as resp:
                return json.loads(await resp.read())

        async def burst(k: int) -> None:
            await asyncio.gather(*(one() for _ in range(k)))

        return await _measure(burst, n, rounds)


async def run_pyreqwest(url: str, n: int, rounds: int) -> list[tuple[float, float]]:
    from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found, unused-ignore]

    async with ClientBuilder().build() as client:
        async def one() -> Any:
            req = client.post(url).body_bytes(BODY)
            for k, v in HEADERS.items():
                req = req.header(k, v)
            resp = await req.build().send()
            return json.loads(bytes(await resp.bytes()))

        async def burst(k: int) -> None:
            await asyncio.gather(*(one() for _ in range(k)))

        return await _measure(burst, n, rounds)


CLIENTS: dict[str, Callable[[str, int, int], Awaitable[list[tuple[float, float]]]]] = {
    "aiohttp": run_aiohttp,
    "pyreqwest": run_pyreqwest,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5, help="measured bursts per session")
    p.add_argument("--repeat", type=int, default=3, help="sessions per client, interleaved")
    p.add_argument("--latency", type=float, default=0.05, help="the server's chat latency, seconds")
    a = p.parse_args()
    names = []
    for name in CLIENTS:
        try:
            __import__(name)
            names.append(name)
        except ImportError:
            print(f"{name}: not installed, skipped")
    lb = Loopback()
    try:
        lb.cmd(cmd="chat_latency", value=a.latency)
        url = lb.url + "/chat/completions"
        got: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        for _ in range(a.repeat):
            for name in names:
                got[name] += asyncio.run(CLIENTS[name](url, a.in_flight, a.rounds))
    finally:
        lb.stop()
    print(f"\n{a.in_flight} chat requests in flight, server +{a.latency * 1e3:.0f} ms; "
          f"{a.repeat} sessions x {a.rounds} bursts per client\n")
    print("| client | CPU µs per request (median) | burst wall ms (median) |")
    print("|---|---:|---:|")
    for name in names:
        print(f"| {name} | {statistics.median(c for c, _ in got[name]):.0f} | "
              f"{statistics.median(w for _, w in got[name]):.1f} |")


if __name__ == "__main__":
    main()
