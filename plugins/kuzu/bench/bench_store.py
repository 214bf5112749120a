"""Cost of the Kuzu graph store's calls, by scope size (store level, no engine, no LLM).

One user's scope is filled with ``N`` entities (random ``--dims`` embeddings) and ``2N`` relations,
by upserts of 50 entities + 100 relations each (a batch far larger than one ``add`` produces); then
search (3 query embeddings, threshold 0.1, limit 30), invalidate (2 triples) and get_all are timed
(median of ``--repeat``). One engine per process (kuzu and ladybug cannot share one)::

    .venv/bin/python plugins/kuzu/bench/bench_store.py                   # kuzu, N = 1000 and 5000
    .venv/bin/python plugins/kuzu/bench/bench_store.py --engine ladybug  # needs mem7-kuzu[ladybug]
    .venv/bin/python plugins/kuzu/bench/bench_store.py --no-cache        # embeddings read per search
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from mem7_core.models import Scope
from mem7_core.providers import Entity, GraphRelation
from mem7_kuzu import KuzuGraphStore

BATCH = 50


async def _median_ms(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await fn()  # warm: the first statement of a shape is planned
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def run(n_entities: int, dims: int, engine: str, repeat: int, threads: int, cache: bool) -> dict[str, float]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "path": str(Path(tmp) / "g.kuzu"),
            "engine": engine,
            "max_num_threads": threads,
            "cache_embeddings": cache,
        }
        store = KuzuGraphStore(KuzuGraphStore.Config.model_validate(cfg))
        scope = Scope(user_id="u1")
        upserts = []
        for i in range(0, n_entities, BATCH):
            ents = [Entity(f"e{j}", embedding=rng.standard_normal(dims).tolist()) for j in range(i, i + BATCH)]
            rels = [GraphRelation(f"e{j}", "r", f"e{i + (j - i + 1) % BATCH}") for j in range(i, i + BATCH)]
            rels += [GraphRelation(f"e{j}", "s", f"e{i + (j - i + 7) % BATCH}") for j in range(i, i + BATCH)]
            t0 = time.perf_counter()
            await store.upsert(scope, ents, rels, now="2024-01-01T00:00:00+00:00")
            upserts.append((time.perf_counter() - t0) * 1000)
        queries = [rng.standard_normal(dims).tolist() for _ in range(3)]
        pair = [GraphRelation("e1", "r", "e2"), GraphRelation("e5", "s", "e12")]
        out = {
            "upsert": statistics.median(upserts[1:] or upserts),
            "search": await _median_ms(lambda: store.search(scope, queries, threshold=0.1, limit=30), repeat),
            "invalidate": await _median_ms(lambda: store.invalidate(scope, pair, now="2025"), repeat),
            "get_all": await _median_ms(lambda: store.get_all(scope), repeat),
        }
        await store.aclose()
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=("kuzu", "ladybug"), default="kuzu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-cache", action="store_true", help="cache_embeddings: false (read embeddings per search)")
    ap.add_argument("--threads", type=int, default=2, help="engine threads per query (max_num_threads)")
    args = ap.parse_args()
    cache = not args.no_cache
    print(f"engine={args.engine} dims={args.dims} threads={args.threads} cache_embeddings={cache} (median ms)\n")
    print(f"| entities | relations | upsert {BATCH} ent + {2 * BATCH} rel | search | invalidate 2 | get_all |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        r = asyncio.run(run(n, args.dims, args.engine, args.repeat, args.threads, cache))
        print(f"| {n} | {2 * n} | {r['upsert']:.0f} | {r['search']:.0f} | {r['invalidate']:.0f} | {r['get_all']:.0f} |")


if __name__ == "__main__":
    main()
