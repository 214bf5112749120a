"""mem7-openai's two transports side by side in one run: ``transport: sdk`` (the default: the
client's public ``chat.completions`` / ``embeddings`` ``with_raw_response.create``) against
``transport: direct`` (opt-in: the request built once per endpoint through SDK internals, resent
with each new body). Both go through mem7's ``RetryPolicy`` (no retries happen: the server answers).

The loopback OpenAI-compatible server (``mem7_core.testing.openai_server`` in its own process, via
``bench/_common/loopback.py``: instant answers, 384-d base64 embeddings, JSON chat) keeps its CPU
off this process, so *CPU µs/call* (``time.process_time()`` here) is the client side alone. Each
round makes ``--calls`` sequential calls per transport and operation, the order alternating between
rounds; the tables give the median over ``--rounds`` rounds (CPU, calls/s) and the p50 latency
over all calls.

    .venv/bin/python bench/openai_direct/bench_openai_direct.py        # writes bench/results/openai_direct.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import Loopback  # noqa: E402
from bench._common.machine import cpu_model, git_state, versions  # noqa: E402
from bench._common.measure import pct  # noqa: E402

TRANSPORTS = ("sdk", "direct")
MESSAGES = [
    {"role": "system", "content": "Extract the facts as json: {\"facts\": [...]}"},
    {"role": "user", "content": "I like green tea. My sister lives in Porto."},
]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from mem7_openai import OpenAIEmbedder, OpenAILLM

    srv = Loopback()
    try:
        conn = {"api_key": srv.api_key, "base_url": srv.url, "model": "m"}
        emb = {t: OpenAIEmbedder.from_config({**conn, "embedding_dims": 384, "transport": t}) for t in TRANSPORTS}
        llm = {t: OpenAILLM.from_config({**conn, "transport": t}) for t in TRANSPORTS}
        ops: dict[str, dict[str, Callable[[int], Awaitable[Any]]]] = {
            "embed": {t: (lambda p: lambda i: p.embed([f"text {i}"]))(emb[t]) for t in TRANSPORTS},
            "generate": {t: (lambda p: lambda i: p.generate(MESSAGES, response_format="json"))(llm[t])
                         for t in TRANSPORTS},
        }
        res = {op: {t: {"cpu": [], "rate": [], "lat": []} for t in TRANSPORTS} for op in ops}
        for calls in ops.values():
            for fn in calls.values():
                for i in range(args.warmup):
                    await fn(i)
        for r in range(args.rounds):
            for op, calls in ops.items():
                order = TRANSPORTS if r % 2 == 0 else TRANSPORTS[::-1]
                for t in order:
                    fn, out = calls[t], res[op][t]
                    c0, t0 = time.process_time(), time.perf_counter()
                    for i in range(args.calls):
                        s = time.perf_counter()
                        await fn(i)
                        out["lat"].append(time.perf_counter() - s)
                    c1, t1 = time.process_time(), time.perf_counter()
                    out["cpu"].append((c1 - c0) / args.calls * 1e6)
                    out["rate"].append(args.calls / (t1 - t0))
        direct = {f"{k} {t}": p._http.direct_calls for k, d in (("embed", emb), ("llm", llm)) for t, p in d.items()}
        assert direct["embed sdk"] == 0 and direct["llm sdk"] == 0, direct  # the paths are what they say
        assert direct["embed direct"] > 0 and direct["llm direct"] > 0, direct
        counts = dict(srv.counts())
        for p in (*emb.values(), *llm.values()):
            await p.aclose()
        return {"results": res, "counts": counts}
    finally:
        srv.stop()


def report(data: dict[str, Any], args: argparse.Namespace, seconds: float) -> str:
    med = lambda xs: pct(xs, 0.5)  # noqa: E731
    lines = [
        "# mem7-openai transports: sdk (default, public API) vs direct (opt-in, SDK internals)",
        "",
        "Written by `bench/openai_direct/bench_openai_direct.py` (see its docstring). One call at a time to the "
        "loopback OpenAI server in its own process; *CPU µs/call* is this process's `time.process_time()` per "
        f"call; CPU and calls/s are medians over {args.rounds} rounds of {args.calls} calls per transport "
        f"({args.warmup} warm-up calls each); p50 latency over all calls.",
        "",
    ]
    for op, title in (("embed", "embed (1 text, 384-d, base64)"), ("generate", "generate (JSON mode)")):
        r = data["results"][op]
        lines += [f"## {title}", "", "| transport | CPU µs/call (median) | calls/s (median) | p50 ms |",
                  "|---|---:|---:|---:|"]
        for t in TRANSPORTS:
            lines.append(f"| {t} | {med(r[t]['cpu']):,.0f} | {med(r[t]['rate']):,.0f} | "
                         f"{pct(r[t]['lat'], 0.5) * 1e3:.2f} |")
        sdk, direct = med(r["sdk"]["cpu"]), med(r["direct"]["cpu"])
        lat = (pct(r["direct"]["lat"], 0.5) - pct(r["sdk"]["lat"], 0.5)) * 1e3
        lines += ["", f"direct vs sdk: {direct - sdk:+,.0f} µs CPU per call ({(direct / sdk - 1) * 100:+.0f} %), "
                      f"{lat:+.2f} ms p50 latency.", ""]
    lines += [
        "## Machine",
        "",
        f"- CPU: {cpu_model()}; nproc {os.cpu_count()} (client and server processes share them)",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); {versions()}",
        f"- OS: {platform.platform()}",
        f"- code: {_short(git_state())}",
        f"- load average when written: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine: CPU is "
        "steadier than wall time)",
        f"- server requests: {data['counts']}; run time {seconds:.0f} s",
        "",
        "## Command",
        "",
        "```",
        ("cd /work/main && .venv/bin/python bench/openai_direct/bench_openai_direct.py "
         + shlex.join(sys.argv[1:])).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _short(state: str) -> str:
    """The commit, and how many files differ from it (a shared checkout lists dozens)."""
    head, sep, changed = state.partition(", with local changes to ")
    if not sep:
        return state
    files = changed.split(", ")
    mine = [f for f in files if f.startswith(("plugins/openai/", "mem7_core/providers/http.py"))]
    return f"{head}, with local changes to {len(files)} files (those of this plugin: {', '.join(mine) or 'none'})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=300, help="sequential calls per transport per round")
    p.add_argument("--rounds", type=int, default=9, help="rounds (the order alternates)")
    p.add_argument("--warmup", type=int, default=50, help="warm-up calls per transport and operation")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "openai_direct.md")
    args = p.parse_args()
    t0 = time.perf_counter()
    data = asyncio.run(run(args))
    text = report(data, args, time.perf_counter() - t0)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
