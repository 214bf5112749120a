"""Graph memory's cost: add(infer=True) and search() with the graph on vs off, against the loopback LLM.

Setup: ``AsyncMemory`` with mem7-flat (vectors in memory), mem7-openai as LLM and embedder (384-d)
over HTTP to the loopback OpenAI-compatible server in its own process (``bench/overhead/loopback.py``:
rule-based fact extraction, graph extraction, conflict check and query entities; scripted update
decisions), SQLite history in a temp file, and, with the graph on, the flat graph store
(``graph_store: {provider: flat}``). Each configuration gets a fresh engine, seeded with ``--seed-adds``
first-person conversations in one scope at zero latency; then ``--ops`` adds and ``--ops`` searches
(limit 10) are timed one at a time, with the chat calls answered instantly and with ``+50 ms``
per chat call. LLM calls per op come from the server's request counters::

    .venv/bin/python bench/graph/bench_graph.py                  # writes bench/results/graph.md
    .venv/bin/python bench/graph/bench_graph.py --ops 20 --seed-adds 50 --out /tmp/g.md
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.engine import engine_config  # noqa: E402 - after the sys.path line
from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line
from bench._common.machine import cpu_model, git_state, versions  # noqa: E402 - after the sys.path line
from bench._common.measure import pct  # noqa: E402 - after the sys.path line
from bench._common.text import new_fact, query  # noqa: E402 - after the sys.path line


def conversation(rng: random.Random) -> list[dict[str, str]]:
    """A first-person user turn of 1-2 facts (so the graph gets the speaker as an entity) and a reply."""
    k = rng.choice((1, 2))
    facts = [new_fact(rng, frozenset()) for _ in range(k)]
    text = " ".join(f"I {f[0].lower()}{f[1:]}." for f in facts)
    return [{"role": "user", "content": text}, {"role": "assistant", "content": "Noted, I will remember that."}]


async def measure(srv: Loopback, fn: Any, inputs: list[Any]) -> tuple[list[float], Counter[str], list[Any]]:
    before = srv.counts()
    lat: list[float] = []
    outs: list[Any] = []
    for x in inputs:
        t0 = time.perf_counter()
        outs.append(await fn(x))
        lat.append(time.perf_counter() - t0)
    return lat, srv.counts() - before, outs


def row(lat: list[float], calls: Counter[str], ops: int) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(lat) * 1e3,
        "p95_ms": pct(lat, 0.95) * 1e3,
        "chat_per_op": calls["chat"] / ops,
        "emb_per_op": calls["embeddings"] / ops,
    }


async def run_config(srv: Loopback, args: argparse.Namespace, graph: bool, tmp: str) -> dict[str, Any]:
    from mem7_core import AsyncMemory
    from mem7_core.models import Scope

    cfg = engine_config(srv.url, srv.api_key, str(Path(tmp) / f"history-{int(graph)}.db"))
    if graph:
        cfg["graph_store"] = {"provider": "flat"}
    rng = random.Random(args.seed)
    user = "alice"
    out: dict[str, Any] = {"graph": graph}
    srv.cmd(cmd="chat_latency", value=0.0)
    async with AsyncMemory(cfg) as mem:
        for _ in range(args.seed_adds):
            await mem.add(conversation(rng), user_id=user)
        if graph:
            assert mem.graph_store is not None
            out["relations_stored"] = len(await mem.graph_store.get_all(Scope(user_id=user)))
        for latency in args.latencies:
            srv.cmd(cmd="chat_latency", value=latency)
            adds = [conversation(rng) for _ in range(args.ops)]
            lat, calls, results = await measure(srv, lambda c: mem.add(c, user_id=user), adds)
            errors = sum(1 for r in results if r.get("graph_error"))
            out[f"add@{latency}"] = row(lat, calls, args.ops) | {
                "relations_per_op": sum(len(r["relations"]) for r in results) / args.ops, "graph_errors": errors}
            queries = [query(rng) for _ in range(args.ops)]
            lat, calls, results = await measure(srv, lambda q: mem.search(q, user_id=user, limit=10), queries)
            out[f"search@{latency}"] = row(lat, calls, args.ops) | {
                "relations_per_op": sum(len(r["relations"]) for r in results) / args.ops}
            await mem.drain()
    srv.cmd(cmd="chat_latency", value=0.0)
    return out


def write_report(args: argparse.Namespace, runs: list[dict[str, Any]], total_s: float, command: str) -> str:
    lines = [
        "# Graph memory: add and search latency, graph on vs off",
        "",
        f"Command: `{command}`",
        "",
        (f"Machine: {cpu_model()}, {platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"{versions()}; {git_state()}. Total run time {total_s:.0f} s; load average at start {args.load:.1f} "
        f"(on {os.cpu_count()} CPUs, shared with other work: latencies are noisy, compare on and off rows)."),
        "",
        (f"Each configuration: a fresh engine seeded with {args.seed_adds} adds (first-person conversations of 1-2 "
        f"facts, one scope) at zero latency, then {args.ops} `add(infer=True)` and {args.ops} `search(limit=10)` "
        "one at a time. LLM and embedder: mem7-openai over HTTP to the loopback server in its own process; "
        "`+50 ms` adds 50 ms to every chat call (not to embeddings). Add mode: two-call (the default)."),
        "",
        "| op | chat latency | graph | p50 ms | p95 ms | LLM calls / op | embedding calls / op | relations / op |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for latency in args.latencies:
        for op in ("add", "search"):
            for r in runs:
                m = r[f"{op}@{latency}"]
                rel = f"{m['relations_per_op']:.2f}" if r["graph"] else "-"
                lines.append(
                    f"| {op} | {'instant' if latency == 0 else f'+{latency * 1e3:.0f} ms'} | {'on' if r['graph'] else 'off'} "
                    f"| {m['p50_ms']:.1f} | {m['p95_ms']:.1f} | {m['chat_per_op']:.2f} | {m['emb_per_op']:.2f} | {rel} |"
                )
    on = next(r for r in runs if r["graph"])
    errors = sum(on[f"add@{lat}"]["graph_errors"] for lat in args.latencies)
    lines += [
        "",
        f"Relations stored after seeding (graph on): {on['relations_stored']}. Adds reporting a graph error: {errors}.",
        "",
        ("LLM calls per add with the graph on: the vector path's 2 (fact extraction; update decision when "
        "there are candidates) plus the graph's 2 (one call for entities and relations together; the conflict "
        "check when existing relations touch the new entities), so at most 4, against the reference engine's 5; "
        "with `add_mode: one_call` at most 3. The two paths run concurrently, so with a slow LLM the graph "
        "adds about one call's latency per path, not the sum."),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=50, help="timed adds and searches per configuration and latency")
    p.add_argument("--seed-adds", type=int, default=200, help="adds before timing (builds memories and relations)")
    p.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.05], help="seconds added to each chat call")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "graph.md")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    args.load = os.getloadavg()[0]
    command = " ".join([".venv/bin/python", "bench/graph/bench_graph.py", *sys.argv[1:]])
    srv = Loopback()
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [asyncio.run(run_config(srv, args, graph, tmp)) for graph in (False, True)]
    finally:
        srv.stop()
    report = write_report(args, runs, time.perf_counter() - t0, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
