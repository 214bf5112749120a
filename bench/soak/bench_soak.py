"""Soak: a long mixed run of add(infer=True) and search() across many scopes on the persisted flat
store, with the LLM and the embedder served by the loopback OpenAI-compatible server in its own
process. Reports throughput over time, the engine process's memory (RSS) over time, latency per
kind of op, and errors (must be 0); then checks that store and history agree and that the data
directory reopens with every memory.

Setup: ``AsyncMemory`` with mem7-openai as LLM and embedder (384-d) over HTTP to the overhead
bench's loopback server (``bench/overhead/loopback.py``, ``mem7_core.testing.openai_server.OpenAIServer``)
in a child process, mem7-flat persisted under the data directory (fsync on), SQLite history file
beside it, default retrieval settings. ``--concurrency`` tasks issue ops back to back; each op picks
a scope at random among ``--scopes`` users and is an add with probability ``1 - --search-fraction``
(1-2 fact sentences from the benches' synthetic facts, ``bench/_common/text.py``; the server's
update decision is scripted ADD 50 % / UPDATE 30 % / NONE 20 % against the shown candidates, as a
real model answers) or else a search (``limit=10``).

    .venv/bin/python bench/soak/bench_soak.py                       # 100k ops, writes bench/results/soak.md
    .venv/bin/python bench/soak/bench_soak.py --ops 20000 --out /tmp/soak.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.engine import engine_config  # noqa: E402 - after the sys.path line
from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line
from bench._common.measure import pct  # noqa: E402 - after the sys.path line
from bench._common.text import conversation, query  # noqa: E402 - after the sys.path line


# ---------------------------------------------------------------------------------- measurement
def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def soak_config(server: Loopback, data_dir: Path) -> dict[str, Any]:
    """The loopback engine configuration with the flat store and the history persisted under ``data_dir``."""
    return engine_config(server.url, server.api_key, str(data_dir / "history.db"), vectors_path=str(data_dir / "vectors"))


def consistency(data_dir: Path, stored: dict[str, str]) -> dict[str, int]:
    """Store vs history: stored ids without an ADD; ADDed, never DELETEd, not stored; text mismatches."""
    with sqlite3.connect(str(data_dir / "history.db")) as conn:
        rows = conn.execute("SELECT memory_id, event, new_memory FROM history ORDER BY rowid").fetchall()
    last: dict[str, tuple[str, str | None]] = {}
    added: set[str] = set()
    for mem_id, event, new in rows:
        last[mem_id] = (event, new)
        if event == "ADD":
            added.add(mem_id)
    return {
        "history_events": len(rows),
        "stored_without_add": sum(1 for i in stored if i not in added),
        "added_not_deleted_not_stored": sum(1 for i in added if last[i][0] != "DELETE" and i not in stored),
        "text_mismatch": sum(1 for i, t in stored.items() if i in last and last[i][1] != t),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from mem7_core import AsyncMemory
    from mem7_core.models import Scope

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="mem7-soak-"))
    server = Loopback(ROOT / "bench" / "overhead" / "loopback.py", "--api-key", "sk-soak", "--max-recorded", "16")
    rng = random.Random(args.seed)
    lat: dict[str, list[float]] = {"add": [], "search": []}
    results: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    first_errors: list[str] = []
    samples: list[dict[str, float]] = []
    started = done = 0
    mem = AsyncMemory(soak_config(server, data_dir))
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    try:
        rss0 = rss_mb()
        sample_every = max(1, args.ops // 50)

        def sample() -> None:
            samples.append({"ops": done, "t": time.perf_counter() - t0, "rss": rss_mb(), "cpu": time.process_time() - cpu0,
                            "stored": len(mem.vector_store), "server_rss": rss_mb(server.proc.pid)})

        sample()

        async def worker() -> None:
            nonlocal started, done
            while started < args.ops:
                started += 1
                user = f"user{rng.randrange(args.scopes):04d}"
                kind = "search" if rng.random() < args.search_fraction else "add"
                start = time.perf_counter()
                try:
                    if kind == "add":
                        out = await mem.add(conversation(rng), user_id=user)
                        results.update(r["event"] for r in out["results"])
                    else:
                        await mem.search(query(rng), user_id=user, limit=10)
                except Exception as exc:  # counted, never hidden
                    errors[type(exc).__name__] += 1
                    if len(first_errors) < 5:
                        first_errors.append("".join(traceback.format_exception(exc))[-2000:])
                lat[kind].append(time.perf_counter() - start)
                done += 1
                if done % sample_every == 0 and done < args.ops:
                    sample()
                    if args.progress:
                        s = samples[-1]
                        print(f"{done:>7} ops  {s['t']:7.1f} s  {done / s['t']:6.1f} ops/s  cpu {s['cpu']:7.1f} s  rss {s['rss']:7.1f} MB  "
                              f"stored {s['stored']:>7}  errors {sum(errors.values())}", file=sys.stderr, flush=True)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - t0
        sample()
        cpu = time.process_time() - cpu0
        await mem.drain()
        stored = {r.id: str(r.payload.get("data")) for r in await mem.vector_store.list(scope=Scope())}
        counts = {**server.counts(), "server_errors": server.cmd(cmd="errors")["errors"][:5]}
    finally:
        await mem.aclose()
    check = consistency(data_dir, stored)
    t_reopen = time.perf_counter()
    async with AsyncMemory(soak_config(server, data_dir)) as again:
        reopened = len(again.vector_store)
        reopen_s = time.perf_counter() - t_reopen
        probe = await again.search(query(rng), user_id="user0000", limit=10)
    server.stop()
    disk = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())
    return {
        "args": vars(args), "data_dir": str(data_dir), "elapsed": elapsed, "cpu": cpu, "done": done,
        "lat": {k: {"n": len(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95), "p99": pct(v, 0.99), "max": max(v, default=0)}
                for k, v in lat.items()},
        "results": dict(results), "errors": dict(errors), "first_errors": first_errors, "samples": samples,
        "rss0": rss0, "stored": len(stored), "reopened": reopened, "reopen_s": reopen_s, "probe_hits": len(probe["results"]),
        "consistency": check, "server_counts": counts, "disk_mb": disk / 2**20,
    }


def report(r: dict[str, Any], command: str) -> str:
    a = r["args"]
    s = r["samples"]
    n_err = sum(r["errors"].values())
    lines = [
        "# Soak: mixed add(infer=True) / search across scopes, persisted flat store, loopback LLM",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. "
        "The machine was shared with other work during the run (wall-clock figures are pessimistic; CPU is the "
        "engine process's `time.process_time()`).",
        "",
        "Setup: `AsyncMemory`, mem7-openai (LLM + 384-d embedder) over HTTP to the loopback OpenAI-compatible server "
        "in a separate process (update decisions scripted ADD 50 % / UPDATE 30 % / NONE 20 %), mem7-flat persisted "
        "(WAL + snapshots, fsync on), SQLite history file, default retrieval settings. "
        f"{a['concurrency']} concurrent tasks; each op picks one of {a['scopes']:,} users at random; "
        f"{100 * (1 - a['search_fraction']):.0f} % add(infer=True) with 1-2 fact sentences, "
        f"{100 * a['search_fraction']:.0f} % search(limit=10).",
        "",
        "## Summary",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| ops | {r['done']:,} ({r['lat']['add']['n']:,} adds, {r['lat']['search']['n']:,} searches) |",
        f"| **errors** | **{n_err}** {r['errors'] if n_err else ''} |",
        f"| wall time | {r['elapsed']:.1f} s |",
        f"| throughput | {r['done'] / r['elapsed']:.1f} ops/s |",
        f"| engine-process CPU | {r['cpu']:.1f} s ({1000 * r['cpu'] / max(1, r['done']):.2f} ms/op) |",
        f"| add(infer=True) latency p50 / p95 / p99 / max | {1000 * r['lat']['add']['p50']:.1f} / {1000 * r['lat']['add']['p95']:.1f} / "
        f"{1000 * r['lat']['add']['p99']:.1f} / {1000 * r['lat']['add']['max']:.0f} ms |",
        f"| search latency p50 / p95 / p99 / max | {1000 * r['lat']['search']['p50']:.1f} / {1000 * r['lat']['search']['p95']:.1f} / "
        f"{1000 * r['lat']['search']['p99']:.1f} / {1000 * r['lat']['search']['max']:.0f} ms |",
        f"| add outcomes | {', '.join(f'{k} {v:,}' for k, v in sorted(r['results'].items()))} |",
        f"| memories stored at the end | {r['stored']:,} (reopened: {r['reopened']:,}, load {r['reopen_s']:.2f} s) |",
        f"| engine RSS start → end | {r['rss0']:.0f} → {s[-1]['rss']:.0f} MB (+{s[-1]['rss'] - r['rss0']:.0f} MB; "
        f"{1024 * (s[-1]['rss'] - s[0]['rss']) / max(1, r['stored']):.2f} KB per stored memory) |",
        f"| server process RSS start → end | {s[0]['server_rss']:.0f} → {s[-1]['server_rss']:.0f} MB |",
        f"| data directory on disk | {r['disk_mb']:.1f} MB |",
        f"| server requests | chat {r['server_counts'].get('chat', 0):,}, embeddings {r['server_counts'].get('embeddings', 0):,}; "
        f"server-side errors: {len(r['server_counts'].get('server_errors', []))} |",
        f"| store vs history after the run | {r['consistency']} |",
        "",
        "## Over time",
        "",
        "Each row covers the ops since the previous row: throughput and engine-process CPU per op in that window, "
        "then the engine process's RSS and the memories stored at its end.",
        "",
        "| ops done | elapsed s | window ops/s | window CPU ms/op | RSS MB | memories stored |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    step = max(1, (len(s) - 1) // 10)
    rows = s[::step] if s[-1] in s[::step] else [*s[::step], s[-1]]
    prev = None
    for x in rows:
        rate = cpu = ""
        if prev is not None and x["ops"] > prev["ops"]:
            rate = f"{(x['ops'] - prev['ops']) / (x['t'] - prev['t']):.1f}"
            cpu = f"{1000 * (x['cpu'] - prev['cpu']) / (x['ops'] - prev['ops']):.2f}"
        lines.append(f"| {x['ops']:,} | {x['t']:.1f} | {rate} | {cpu} | {x['rss']:.0f} | {x['stored']:,} |")
        prev = x
    if r["first_errors"]:
        lines += ["", "## First errors", "", *[f"```\n{e}\n```" for e in r["first_errors"]]]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=100_000, help="total ops (adds + searches)")
    p.add_argument("--scopes", type=int, default=1000)
    p.add_argument("--search-fraction", type=float, default=0.5)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-dir", default=None, help="default: a new temp directory (kept, its path is reported)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.md"))
    p.add_argument("--note", default="", help="a paragraph appended to the report")
    p.add_argument("--progress", action="store_true", help="print a line per 2 %% of ops to stderr")
    args = p.parse_args()
    import logging

    # The engine warns when the scripted decisions leave a fact out (it then adds it): expected here.
    logging.getLogger("mem7").setLevel(logging.ERROR)
    r = asyncio.run(run(args))
    command = ".venv/bin/python bench/soak/bench_soak.py " + " ".join(sys.argv[1:])
    text = report(r, command.strip())
    if args.note:
        text += f"\n## Notes\n\n{args.note}\n"
    Path(args.out).write_text(text, encoding="utf-8")
    Path(args.out).with_suffix(".json").write_text(json.dumps(r, indent=1, default=str), encoding="utf-8")
    print(text)
    sys.exit(1 if r["errors"] or any(v for k, v in r["consistency"].items() if k != "history_events") else 0)


if __name__ == "__main__":
    main()
