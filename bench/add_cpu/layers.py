"""CPU per LLM call, layer by layer, with 64 calls in flight; and how the server alone spreads 64
answers (issue #19: what an inferred add's model calls cost the engine's process, and the floor
the loopback server sets for a burst).

One engine (mem7-openai LLM, no transport or backend in the config: what users get) against the
loopback server in its own process, chat answering at once. The same fact-extraction request
(the engine's own prompt) is sent 64 at a time, ``--rounds`` times, through each layer; CPU is
``time.process_time()`` of this process per call (median of the rounds):

- ``raw aiohttp``: the plugin's aiohttp sender with the request's bytes built once (the floor of
  the HTTP library);
- ``plugin generate``: ``OpenAILLM.generate`` (the body built and serialised per call, the answer
  read into an ``LLMResponse``, the plugin's retry policy);
- ``gated + metered``: the engine's provider wrapper (concurrency gate, usage metering);
- ``ask``: the write path's JSON asker (the answer parsed into facts).

Then ``spread``: 64 chat requests at once from a bare aiohttp session (nothing else in the
process) with the server answering after ``--latency`` ms, fresh connections each round: when the
first and the last answer came back. The harness's server (``--peers DIR``: its
``loopback_server.py``) is the one the side-by-side figures use::

Last, the same 64 concurrent adds with in-process providers (no HTTP): the engine's own CPU per
add, the fakes' work included.

    .venv/bin/python bench/add_cpu/layers.py --rounds 12
    .venv/bin/python bench/add_cpu/layers.py --peers ../shared/tools/peers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import Loopback, PeersLoopback  # noqa: E402 - after the sys.path line


async def layers(srv: Loopback | PeersLoopback, rounds: int) -> dict[str, float]:
    from mem7_core import AsyncMemory
    from mem7_core.engine import prompts
    from mem7_core.engine.inference import parse_facts

    conn = {"base_url": srv.url, "api_key": srv.api_key}
    mem = AsyncMemory({
        "llm": {"provider": "openai", "config": {**conn, "model": "bench-llm"}},
        "embedder": {"provider": "openai", "config": {**conn, "model": "bench-emb", "embedding_dims": 384}},
        "vector_store": {"provider": "flat", "config": {}},
        "history_db_path": os.path.join(tempfile.mkdtemp(prefix="mem7-layers-"), "h.db"),
    })
    msgs = [{"role": "system", "content": prompts.USER_FACT_EXTRACTION_PROMPT.format(today="2026-12-04")},
            {"role": "user", "content": "user: I drink green tea in Lisbon every morning."}]
    wp: Any = mem._write_path  # the engine's write pipeline: its gated LLM and JSON asker
    await wp.ask(msgs, parse_facts, "fact extraction")  # the client and its request template built
    plugin = wp.llm
    while hasattr(plugin, "_inner"):  # the gate and meter wrap the plugin's provider
        plugin = plugin._inner
    client = plugin._http
    route = next(iter(client._templates.values())).aio
    body = json.dumps({"model": "bench-llm", "messages": msgs, "response_format": {"type": "json_object"}}).encode()

    async def raw() -> Any:
        return await client._sender.post(route, body, route.headers)

    async def generate() -> Any:
        return await plugin.generate(msgs, response_format="json")

    async def gated() -> Any:
        return await wp.llm.generate(msgs, response_format="json")

    async def ask() -> Any:
        return await wp.ask(msgs, parse_facts, "fact extraction")

    cpu: dict[str, list[float]] = {}
    for r in range(rounds + 1):  # round 0 unmeasured
        for name, fn in (("raw aiohttp", raw), ("plugin generate", generate), ("gated + metered", gated), ("ask", ask)):
            c0 = time.process_time()
            await asyncio.gather(*(fn() for _ in range(64)))
            if r:
                cpu.setdefault(name, []).append((time.process_time() - c0) / 64 * 1e6)
    await mem.aclose()
    return {k: statistics.median(v) for k, v in cpu.items()}


async def spread(srv: Loopback | PeersLoopback, rounds: int, latency: float) -> list[tuple[float, float]]:
    import aiohttp

    srv.cmd(cmd="chat_latency", value=latency)
    body = json.dumps({"model": "m", "messages": [{"role": "system", "content": "Extract the facts"},
                                                  {"role": "user", "content": "user: I like tea."}]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {srv.api_key}"}
    out = []
    for r in range(rounds + 1):
        async with aiohttp.ClientSession() as session:
            t0 = time.perf_counter()
            back: list[float] = []

            async def one() -> None:
                async with session.post(srv.url + "/chat/completions", data=body, headers=headers) as resp:
                    await resp.read()
                back.append((time.perf_counter() - t0) * 1e3)

            await asyncio.gather(*(one() for _ in range(64)))
        if r:
            out.append((min(back), max(back)))
    srv.cmd(cmd="chat_latency", value=0.0)
    return out


async def in_process(rounds: int, populate: int, latency: float) -> list[float]:
    """CPU per add of 64 concurrent add(infer=True) with in-process providers (no HTTP at all): the
    scripted LLM sleeping ``latency`` per call, the hash embedder; the scope holds ``populate``
    memories first. What the engine costs apart from its model calls' transport (the fakes' own
    work included: the scripted LLM's rule-based answers, the hash embedder's hashing)."""
    from mem7_core import AsyncMemory
    from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM

    out = []
    for r in range(rounds + 1):
        work = tempfile.mkdtemp(prefix="mem7-layers-")
        mem = AsyncMemory({"vector_store": {"provider": "flat", "config": {}},
                           "history_db_path": os.path.join(work, "h.db")},
                          llm=ScriptedLLM(delay=latency), embedder=HashEmbedder(HashEmbedder.Config(dims=384)))
        if populate:
            await mem.add([{"role": "user", "content": f"I keep item number {i} in the garage next to the bike."}
                           for i in range(populate)], user_id="u", infer=False)
        texts = [f"I {verb} green tea in Lisbon on day {r * 64 + i}." for i, verb in
                 zip(range(64), ["like", "brew", "buy", "drink"] * 16)]
        c0 = time.process_time()
        await asyncio.gather(*(mem.add([{"role": "user", "content": t}], user_id="u") for t in texts))
        if r:
            out.append((time.process_time() - c0) / 64 * 1e3)
        await mem.aclose()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--latency", type=float, default=50.0, help="ms the server waits per chat call, for the spread")
    p.add_argument("--peers", type=Path, default=None, help="the peers harness's directory (its loopback server)")
    p.add_argument("--populate", type=int, default=200, help="in-process burst: memories in the scope first")
    a = p.parse_args()
    srv: Loopback | PeersLoopback = PeersLoopback(a.peers) if a.peers else Loopback()
    try:
        cpu = asyncio.run(layers(srv, a.rounds))
        sp = asyncio.run(spread(srv, a.rounds, a.latency / 1e3))
    finally:
        srv.stop()
    pure = asyncio.run(in_process(a.rounds, a.populate, a.latency / 1e3))
    print(f"server: {'peers harness' if a.peers else 'bench loopback'}; {a.rounds} rounds of 64 calls; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.2f}\n")
    print("| layer (64 in flight, chat instant) | CPU µs per call (median) |\n|---|---:|")
    for name, us in cpu.items():
        print(f"| {name} | {us:.0f} |")
    firsts, lasts = [f for f, _ in sp], [last for _, last in sp]
    print(f"\n64 chat requests at once from a bare aiohttp session, chat +{a.latency:g} ms: first answer "
          f"{statistics.median(firsts):.1f} ms, last {statistics.median(lasts):.1f} ms (medians; each round: "
          + ", ".join(f"{f:.0f}-{last:.0f}" for f, last in sp) + ")")
    print(f"\n64 concurrent add(infer=True) with in-process providers (scripted LLM +{a.latency:g} ms, hash "
          f"embedder; {a.populate} memories in the scope first): CPU per add {statistics.median(pure):.2f} ms "
          f"(median; each round: {', '.join(f'{x:.2f}' for x in pure)})")


if __name__ == "__main__":
    main()
