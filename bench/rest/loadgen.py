"""The REST benchmark's load generator, in a process of its own (so its CPU is not the server's).

``C`` concurrent clients (asyncio tasks sharing one ``httpx.AsyncClient`` pool of ``C`` keep-alive
connections) send ``N`` requests in all to a running ``mem7 serve``, each client its next request
as soon as its previous one is answered (closed loop):

- ``add``: ``POST /memories`` with ``infer: false``, one distinct text each (``bench._common.text.corpus``);
- ``search``: ``POST /memories/search`` with ``limit: 10`` and a query from ``bench._common.text.query``.

Writes one JSON object to ``--out``: wall seconds of the measured requests, latencies (ms), errors
by status / exception, the ``X-Mem7-Worker`` that answered each request, this process's CPU
seconds, and for ``add`` the (id, text) of every acknowledged memory.

    .venv/bin/python bench/rest/loadgen.py --url http://127.0.0.1:8000 --op add --requests 2000 --out /tmp/a.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._common.text import corpus, query


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    rng = random.Random(args.seed)
    if args.op == "add":
        texts = [f"{text} (note {args.tag}-{i})" for i, (_, text) in enumerate(corpus(args.requests, args.seed))]
        bodies: list[dict[str, Any]] = [
            {"messages": t, "user_id": args.user_id, "infer": False} for t in texts
        ]
        path = "/memories"
    else:
        bodies = [{"query": query(rng), "user_id": args.user_id, "limit": 10} for _ in range(args.requests)]
        path = "/memories/search"
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    workers: Counter[str] = Counter()
    acked: list[tuple[str, str]] = []
    hits: list[int] = []
    next_index = 0
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, headers=headers, limits=limits, timeout=120.0) as client:

        async def one_client() -> None:
            nonlocal next_index
            while next_index < len(bodies):
                i = next_index
                next_index += 1
                body = bodies[i]
                t0 = time.perf_counter()
                try:
                    resp = await client.post(path, json=body)
                except httpx.HTTPError as exc:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                workers[resp.headers.get("x-mem7-worker", "-")] += 1
                if resp.status_code != 200:
                    errors[str(resp.status_code)] += 1
                    continue
                data = resp.json()
                if args.op == "add":
                    results = data.get("results") or []
                    if len(results) != 1 or results[0].get("event") != "ADD":
                        errors["add result not one ADD"] += 1
                        continue
                    acked.append((results[0]["id"], body["messages"]))
                else:
                    hits.append(len(data.get("results") or []))

        cpu0, t0 = _cpu(), time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(args.concurrency)))
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {
        "op": args.op, "requests": len(bodies), "concurrency": args.concurrency, "wall_s": wall, "cpu_s": cpu,
        "latencies_ms": latencies, "errors": dict(errors), "workers": dict(workers), "acked": acked,
        "hits": dict(Counter(hits)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the server's base URL")
    p.add_argument("--op", choices=("add", "search"), required=True)
    p.add_argument("--requests", type=int, default=2000, help="requests in all")
    p.add_argument("--concurrency", type=int, default=32, help="concurrent clients (connections)")
    p.add_argument("--user-id", default="bench", help="the scope every request names")
    p.add_argument("--token", default="", help="bearer token, if the server has tokens")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tag", default="0", help="part of every added text, so runs in one scope stay distinct")
    p.add_argument("--out", required=True, help="where to write the JSON result")
    args = p.parse_args()
    result = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
