"""CPU per add(infer=True) in the engine's process, and where it goes (cProfile).

Setup as ``bench/overhead``: ``AsyncMemory`` with mem7-flat in memory, mem7-openai as LLM and 384-d
embedder over HTTP to the loopback server in its own process (``bench/overhead/loopback.py``:
extraction = one fact per user sentence; decision = ADD 50 % / UPDATE 30 % / NONE 20 %), SQLite
history in a temp file. ``--transport`` picks mem7-openai's request path (``default``: the config
names none; ``sdk``; ``direct``: what ``bench/overhead`` names), ``--http-backend`` the direct
transport's HTTP library (``default``: the config names none; ``aiohttp``; ``httpx``).
``--populate`` memories go in first (verbatim adds, not measured). Then ``--warmup`` adds, then
``--ops`` sequential adds measured twice: once without the profiler (``time.process_time`` per add:
the figure) and once under cProfile (the breakdown, in CPU time of the event loop's thread; the
profiler's own overhead inflates it, so shares matter, not the total; work on other threads - SQLite
history, the store's writer - is in the first figure only)::

    .venv/bin/python bench/add_cpu/profile_add.py --transport sdk --ops 200
    .venv/bin/python bench/add_cpu/profile_add.py --transport direct --ops 200 --json /tmp/a.json
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import pstats
import random
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
from bench._common.text import conversation  # noqa: E402 - after the sys.path line

#: Buckets of the breakdown: the first pattern found in a function's file path (or name) names it.
BUCKETS: tuple[tuple[str, str], ...] = (
    ("/mem7_openai/", "mem7-openai"),  # before "/openai/": the plugin lives in plugins/openai/
    ("/openai/", "openai SDK"),
    ("/aiohttp/", "aiohttp (+ yarl, multidict)"),
    ("/yarl/", "aiohttp (+ yarl, multidict)"),
    ("/multidict/", "aiohttp (+ yarl, multidict)"),
    ("/propcache/", "aiohttp (+ yarl, multidict)"),
    ("/httpx", "httpx / httpcore"),
    ("/httpcore", "httpx / httpcore"),
    ("/h11/", "h11 (HTTP/1.1 parser)"),
    ("/anyio/", "anyio"),
    ("/pydantic", "pydantic"),
    ("/mem7_flat/", "mem7-flat (store)"),
    ("/mem7_core/history/", "history (SQLite)"),
    ("/mem7_core/retrieval/", "retrieval (BM25 index)"),
    ("/mem7_core/engine/", "engine"),
    ("/mem7_core/providers/", "contract helpers"),
    ("/mem7_core/", "mem7_core (other)"),
    ("/numpy/", "numpy"),
    ("asyncio/", "asyncio event loop"),
    ("/json/", "json"),
    ("/typing.py", "stdlib typing (the SDK's params transform)"),
    ("/sqlite3/", "sqlite3"),
    ("_sqlite3", "sqlite3"),
    ("/ssl", "ssl"),
    ("/socket", "socket"),
)


def bucket(filename: str, name: str) -> str:
    f = filename.replace("\\", "/")
    if f == "~":  # a C function: bucket by its name
        for needle, label in (("sqlite3", "sqlite3"), ("json", "json"), ("numpy", "numpy"), ("select", "asyncio event loop"),
                              ("_asyncio", "asyncio event loop"), ("socket", "socket"), ("ssl", "ssl")):
            if needle in name:
                return label
        return "builtins (other)"
    for needle, label in BUCKETS:
        if needle in f:
            return label
    return "stdlib (other)" if "/lib/python3" in f else "other"


def breakdown(prof: cProfile.Profile, ops: int, top: int) -> dict[str, Any]:
    raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    by: Counter[str] = Counter()
    rows = []
    for (fn, line, name), (_cc, nc, tt, ct, _callers) in raw.items():
        by[bucket(fn, name)] += tt
        short = fn.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append({"fn": f"{short}:{line}({name})", "self_ms": tt / ops * 1e3, "cum_ms": ct / ops * 1e3, "calls": nc / ops})
    return {
        "profiled_ms_per_op": total / ops * 1e3,
        "buckets": [{"bucket": k, "self_ms": v / ops * 1e3, "share": v / total} for k, v in by.most_common()],
        "self_top": sorted(rows, key=lambda r: -r["self_ms"])[:top],
        "cum_top": sorted((r for r in rows if "mem7" in r["fn"]), key=lambda r: -r["cum_ms"])[:top],
    }


async def populate(mem: Any, uid: str, n: int) -> None:
    """``n`` memories in ``uid``'s scope, stored verbatim (not measured)."""
    for i in range(0, n, 100):
        await mem.add([{"role": "user", "content": f"Populated fact number {j} about topic {j % 97}."}
                       for j in range(i, min(n, i + 100))], user_id=uid, infer=False)


def set_transport(cfg: dict[str, Any], transport: str, backend: str = "default") -> None:
    """``default``: no transport (or HTTP backend) in the config (what users get); else that one."""
    for kind in ("llm", "embedder"):
        cfg[kind]["config"].pop("request_path", None)
        if transport != "default":
            cfg[kind]["config"]["transport"] = transport
        if backend != "default":
            cfg[kind]["config"]["http_backend"] = backend


async def run(args: argparse.Namespace, srv: Loopback) -> dict[str, Any]:
    from mem7_core import AsyncMemory

    tmp = tempfile.mkdtemp(prefix="mem7-addcpu-")
    cfg = engine_config(srv.url, srv.api_key, os.path.join(tmp, "history.db"))
    set_transport(cfg, args.transport, args.http_backend)
    mem = AsyncMemory(cfg)
    rng = random.Random(args.seed)
    uid = "bench-user"
    await populate(mem, uid, args.populate)
    convs = [conversation(rng) for _ in range(args.warmup + 2 * args.ops)]
    for c in convs[: args.warmup]:
        await mem.add(c, user_id=uid)
    before = srv.counts()
    events: Counter[str] = Counter()
    cpu = []
    main_cpu = 0.0
    for c in convs[args.warmup: args.warmup + args.ops]:
        t, tt = time.process_time(), time.thread_time()
        r = await mem.add(c, user_id=uid)
        cpu.append(time.process_time() - t)
        main_cpu += time.thread_time() - tt
        for item in r["results"]:
            events[item["event"]] += 1
    calls = srv.counts() - before
    prof = cProfile.Profile(time.thread_time)  # CPU of the event loop's thread, not wall time
    prof.enable()
    for c in convs[args.warmup + args.ops:]:
        await mem.add(c, user_id=uid)
    prof.disable()
    await mem.aclose()
    if args.pstats:
        prof.dump_stats(args.pstats)
    cpu.sort()
    return {
        "transport": args.transport, "ops": args.ops, "populate": args.populate,
        "cpu_ms_per_add_mean": sum(cpu) / len(cpu) * 1e3, "cpu_ms_per_add_p50": cpu[len(cpu) // 2] * 1e3,
        "loop_thread_cpu_ms_per_add": main_cpu / args.ops * 1e3,
        "chat_per_add": calls["chat"] / args.ops, "emb_per_add": calls["embeddings"] / args.ops,
        "events": dict(events), "profile": breakdown(prof, args.ops, args.top),
    }


async def bursts(args: argparse.Namespace, srv: Loopback) -> dict[str, Any]:
    """``--burst`` adds at once into one scope of a fresh engine holding ``--populate`` memories there
    (every add then has candidates and makes both LLM calls, as in steady use; ``--populate 0``: the
    peers harness's workload d, where adds that search the empty scope skip the decision call),
    chat answering after ``--chat-latency`` s; ``--rounds`` rounds: wall time and engine-process CPU.
    With ``--pstats`` the last round runs under cProfile (event loop thread CPU)."""
    from mem7_core import AsyncMemory

    tmp = tempfile.mkdtemp(prefix="mem7-addcpu-")
    rng = random.Random(args.seed)
    srv.cmd(cmd="chat_latency", value=args.chat_latency)
    rounds = []
    prof = cProfile.Profile(time.thread_time)
    for r in range(args.rounds + 1):  # round 0: warm-up (imports, first client build)
        cfg = engine_config(srv.url, srv.api_key, os.path.join(tmp, f"history-{r}.db"))
        set_transport(cfg, args.transport, args.http_backend)
        mem = AsyncMemory(cfg)
        await populate(mem, "burst", args.populate)  # 0: an empty scope, as the peers harness's workload d
        convs = [conversation(rng) for _ in range(args.burst)]
        before = srv.counts()
        profiled = bool(args.pstats) and r == args.rounds
        if profiled:
            prof.enable()
        c0, t0 = time.process_time(), time.perf_counter()
        outs = await asyncio.gather(*(mem.add(c, user_id="burst") for c in convs), return_exceptions=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if profiled:
            prof.disable()
        calls = srv.counts() - before
        errors = [repr(o)[:200] for o in outs if isinstance(o, BaseException)]
        await mem.aclose()
        if r:
            rounds.append({"wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3, "chat": calls["chat"], "embeddings": calls["embeddings"],
                           "errors": errors})
    srv.cmd(cmd="chat_latency", value=0.0)
    out: dict[str, Any] = {"transport": args.transport, "burst": args.burst, "chat_latency": args.chat_latency, "rounds": rounds}
    if args.pstats:
        prof.dump_stats(args.pstats)
        out["profile"] = breakdown(prof, args.burst, args.top)
    return out


def render_bursts(res: dict[str, Any]) -> str:
    walls = sorted(r["wall_ms"] for r in res["rounds"])
    cpus = sorted(r["cpu_ms"] for r in res["rounds"])
    n = res["burst"]
    each = ", ".join(format(r["wall_ms"], ".0f") for r in res["rounds"])
    out = [f"transport {res['transport']}: {n} concurrent add(infer=True), chat +{res['chat_latency'] * 1e3:.0f} ms: "
           f"wall median {walls[len(walls) // 2]:.0f} ms (each {each}); "
           f"engine CPU median {cpus[len(cpus) // 2]:.0f} ms = {cpus[len(cpus) // 2] / n:.2f} ms/add; "
           f"calls/add {sum(r['chat'] for r in res['rounds']) / n / len(walls):.2f} chat, "
           f"{sum(r['embeddings'] for r in res['rounds']) / n / len(walls):.2f} emb; errors {sum(len(r['errors']) for r in res['rounds'])}"]
    if "profile" in res:
        out.append(render({**res, "ops": n, "cpu_ms_per_add_mean": cpus[len(cpus) // 2] / n, "cpu_ms_per_add_p50": float("nan"),
                           "chat_per_add": float("nan"), "emb_per_add": float("nan"), "events": {}}))
    return "\n".join(out)


def render(res: dict[str, Any]) -> str:
    p = res["profile"]
    out = [f"transport {res['transport']}: CPU per add(infer=True) mean {res['cpu_ms_per_add_mean']:.2f} ms, "
           f"p50 {res['cpu_ms_per_add_p50']:.2f} ms (event loop thread {res.get('loop_thread_cpu_ms_per_add', float('nan')):.2f}) over {res['ops']} adds; chat {res['chat_per_add']:.2f}, "
           f"embeddings {res['emb_per_add']:.2f} calls/add; events {res['events']}",
           f"profiled (cProfile, inflated): {p['profiled_ms_per_op']:.2f} ms/add", "", "| bucket (self time) | ms/add | share |", "|---|---:|---:|"]
    out += [f"| {b['bucket']} | {b['self_ms']:.3f} | {b['share']:.0%} |" for b in p["buckets"]]
    out += ["", "| function (self) | self ms/add | cum ms/add | calls/add |", "|---|---:|---:|---:|"]
    out += [f"| `{r['fn']}` | {r['self_ms']:.3f} | {r['cum_ms']:.3f} | {r['calls']:.1f} |" for r in p["self_top"]]
    out += ["", "| mem7 function (cumulative) | cum ms/add | self ms/add | calls/add |", "|---|---:|---:|---:|"]
    out += [f"| `{r['fn']}` | {r['cum_ms']:.3f} | {r['self_ms']:.3f} | {r['calls']:.1f} |" for r in p["cum_top"]]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=("default", "sdk", "direct"), default="default",
                   help="mem7-openai's transport (default: the config names none)")
    p.add_argument("--http-backend", choices=("default", "aiohttp", "httpx"), default="default",
                   help="mem7-openai's HTTP backend of the direct transport (default: the config names none)")
    p.add_argument("--ops", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--populate", type=int, default=1000, help="memories in the scope before the measured adds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--burst", type=int, default=0, help="N concurrent adds per round instead of sequential adds")
    p.add_argument("--rounds", type=int, default=5, help="--burst rounds (fresh engine each; one more unmeasured first)")
    p.add_argument("--chat-latency", type=float, default=0.05, help="--burst: seconds added to each chat call")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--pstats", type=str, default=None, help="also dump the raw cProfile stats here")
    args = p.parse_args()
    logging.getLogger("mem7").setLevel(logging.ERROR)  # the plan's notes (an UPDATE turned ADD...) are expected here
    srv = Loopback()
    try:
        res = asyncio.run(bursts(args, srv) if args.burst else run(args, srv))
    finally:
        srv.stop()
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    print(render_bursts(res) if args.burst else render(res))


if __name__ == "__main__":
    main()
