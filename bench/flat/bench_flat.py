"""Flat-index search throughput: mem7-flat vs faiss-cpu IndexFlatIP.

100k random L2-normalised float32 vectors of 384 dims, all in one scope; k = 10; the same queries
for both; one query per call (what the engine does). Reports queries/s as the median over several
repeats, for the default thread count and for one thread, and writes ``bench/results/flat.md``.

faiss-cpu is only imported here (it is in the dev venv, a dependency of no package)::

    .venv/bin/python bench/flat/bench_flat.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# bench._common.machine imports no numpy: the worker sets the thread counts before numpy loads.
from bench._common.machine import blas, cpu_model  # noqa: E402 - after the sys.path line


def _worker(args: argparse.Namespace) -> dict:
    # Thread counts must be fixed before numpy / faiss load their thread pools.
    if args.threads != "default":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = args.threads
    import asyncio

    import faiss
    import numpy as np

    from mem7_core.models import Scope, VectorRecord
    from mem7_flat import FlatVectorStore

    if args.threads != "default":
        faiss.omp_set_num_threads(int(args.threads))
    rng = np.random.default_rng(args.seed)
    data = rng.standard_normal((args.n, args.dims), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dims), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scope = Scope(user_id="bench-user")

    store = FlatVectorStore(FlatVectorStore.Config(dims=args.dims, initial_capacity=args.n))
    index = faiss.IndexFlatIP(args.dims)
    index.add(data)

    async def load() -> None:
        batch = 10_000
        for start in range(0, args.n, batch):
            await store.insert(
                [
                    VectorRecord(
                        id=f"m{i}",
                        vector=data[i],
                        payload={"data": f"memory {i}", "user_id": "bench-user", "created_at": "2024-01-01T00:00:00+00:00"},
                    )
                    for i in range(start, min(start + batch, args.n))
                ]
            )

    asyncio.run(load())
    qlists = list(queries)  # numpy rows, as an embedder's output would be converted

    async def run_flat() -> tuple[float, list[list[int]]]:
        ids: list[list[int]] = []
        t0 = time.perf_counter()
        for q in qlists:
            hits = await store.search(q, scope=scope, limit=args.k)
            ids.append([int(h.id[1:]) for h in hits])
        return time.perf_counter() - t0, ids

    def run_faiss() -> tuple[float, list[list[int]]]:
        ids: list[list[int]] = []
        t0 = time.perf_counter()
        for q in queries:
            _, idx = index.search(q[None, :], args.k)
            ids.append(idx[0].tolist())
        return time.perf_counter() - t0, ids

    def run_faiss_batch() -> float:
        t0 = time.perf_counter()
        index.search(queries, args.k)
        return time.perf_counter() - t0

    # warm-up (page in, thread pools up)
    asyncio.run(run_flat())
    run_faiss()
    flat_qps, faiss_qps, batch_qps = [], [], []
    flat_ids = faiss_ids = None
    for _ in range(args.repeats):
        dt, flat_ids = asyncio.run(run_flat())
        flat_qps.append(args.queries / dt)
        dt, faiss_ids = run_faiss()
        faiss_qps.append(args.queries / dt)
        batch_qps.append(args.queries / run_faiss_batch())
    assert flat_ids is not None and faiss_ids is not None
    agree = sum(len(set(a) & set(b)) for a, b in zip(flat_ids, faiss_ids)) / (args.k * args.queries)
    iso = isolation(args, data, queries)
    return {
        "isolation": iso,
        "threads": args.threads,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "flat_qps": float(np.median(flat_qps)),
        "faiss_qps": float(np.median(faiss_qps)),
        "faiss_batch_qps": float(np.median(batch_qps)),
        "flat_runs": [round(x, 1) for x in flat_qps],
        "faiss_runs": [round(x, 1) for x in faiss_qps],
        "top10_agreement": agree,
        "numpy": np.__version__,
        "faiss": faiss.__version__,
    }


def isolation(args: argparse.Namespace, data: Any, queries: Any) -> dict[str, Any]:
    """Tenant isolation: search q/s for one scope of ``--scope`` rows, alone in a store, and the same
    scope in a store that also holds ``n - scope`` rows of other users (100 rows each) inserted
    interleaved with it in batches of 10 (rows of many users arriving mixed)."""
    import asyncio

    import numpy as np

    from mem7_core.models import Scope, VectorRecord
    from mem7_flat import FlatVectorStore

    m = min(args.scope, args.n)
    scope = Scope(user_id="tenant")

    def rec(i: int, user: str) -> VectorRecord:
        return VectorRecord(id=f"r{i}", vector=data[i], payload={"data": f"m{i}", "user_id": user,
                                                                  "created_at": "2024-01-01T00:00:00+00:00"})

    async def build(others: bool) -> FlatVectorStore:
        store = FlatVectorStore(FlatVectorStore.Config(dims=args.dims))
        mine = [rec(i, "tenant") for i in range(m)]
        if not others:
            await store.insert(mine)
            return store
        rest = [rec(i, f"other-{(i - m) // 100:05d}") for i in range(m, args.n)]
        step = max(1, len(rest) // max(1, m // 10))
        for j in range(0, max(len(mine), 1), 10):
            await store.insert(mine[j:j + 10])
            await store.insert(rest[(j // 10) * step:(j // 10 + 1) * step])
        await store.insert(rest[(m // 10) * step:])
        return store

    async def one_pass(store: FlatVectorStore) -> float:
        t0 = time.perf_counter()
        for q in queries:
            await store.search(q, scope=scope, limit=args.k)
        return len(queries) / (time.perf_counter() - t0)

    async def go() -> dict[str, Any]:
        alone, mixed = await build(False), await build(True)
        same = True
        for q in queries[:20]:
            a = [h.id for h in await alone.search(q, scope=scope, limit=args.k)]
            b = [h.id for h in await mixed.search(q, scope=scope, limit=args.k)]
            same = same and a == b
        runs: dict[str, list[float]] = {"alone": [], "mixed": []}
        for _ in range(5):  # alternate, so drifting load hits both alike
            runs["alone"].append(await one_pass(alone))
            runs["mixed"].append(await one_pass(mixed))
        return {"scope": m, "others": len(mixed) - m, "alone_qps": float(np.median(runs["alone"])),
                "mixed_qps": float(np.median(runs["mixed"])), "same_results": same}

    return asyncio.run(go())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--scope", type=int, default=10_000, help="scope size of the tenant-isolation check")
    p.add_argument("--threads", default="default,1", help="comma list; 'default' leaves the libraries' choice")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flat.md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return

    results = []
    for threads in args.threads.split(","):
        cmd = [sys.executable, __file__, "--worker", "--threads", threads]
        for name in ("n", "dims", "k", "queries", "repeats", "seed", "scope"):
            cmd += [f"--{name}", str(getattr(args, name))]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        results.append(res)
        print(
            f"threads={threads:>7}: flat {res['flat_qps']:8.0f} q/s   faiss IndexFlatIP {res['faiss_qps']:8.0f} q/s   "
            f"flat/faiss {res['flat_qps'] / res['faiss_qps']:.2f}   (top-10 agreement {res['top10_agreement']:.4f})"
        )

    command = "cd " + str(ROOT) + " && .venv/bin/python bench/flat/bench_flat.py" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""
    )
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "# flat index search: mem7-flat vs faiss-cpu IndexFlatIP",
        "",
        f"{args.n:,} random L2-normalised float32 vectors × {args.dims} dims, all in one scope; k = {args.k}; "
        f"{args.queries} queries, one per call, the same for both; queries/s is the median of {args.repeats} "
        "repeats (after one warm-up pass). mem7-flat is measured through its full async `search()` API "
        "(scope lookup, top-k, result records with payload copies); faiss through `index.search(q[None], k)`. "
        "mem7-flat scores on one BLAS thread by default (its `blas_one_thread` setting: no spinning pool "
        "workers while an engine awaits I/O), so its two rows differ only by the environment; faiss runs "
        "OpenMP with the row's thread count.",
        "",
        "| threads | mem7-flat q/s | faiss IndexFlatIP q/s | flat / faiss | faiss batched q/s | top-10 agreement |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['threads']} (faiss omp {r['faiss_omp_threads']}) | {r['flat_qps']:,.0f} | {r['faiss_qps']:,.0f} | "
            f"{r['flat_qps'] / r['faiss_qps']:.2f} | {r['faiss_batch_qps']:,.0f} | {r['top10_agreement']:.4f} |"
        )
    lines += [
        "",
        "Per-repeat q/s (flat; faiss):",
        "",
    ]
    for r in results:
        lines.append(f"- threads {r['threads']}: {r['flat_runs']}; {r['faiss_runs']}")
    lines += [
        "",
        "## Tenant isolation (mem7-flat only)",
        "",
        f"Search q/s (k = {args.k}, median of 5 alternating passes of {args.queries} queries) for one scope of "
        f"{results[0]['isolation']['scope']:,} rows alone in a store, and the same scope in a store that also "
        f"holds {results[0]['isolation']['others']:,} rows of other users (100 each), inserted interleaved with "
        "it in batches of 10. mem7-flat keeps one block per user, so the two should match.",
        "",
        "| threads | scope alone q/s | scope + others q/s | ratio | same results |",
        "|---|---:|---:|---:|:---:|",
    ]
    for r in results:
        i = r["isolation"]
        lines.append(f"| {r['threads']} | {i['alone_qps']:,.0f} | {i['mixed_qps']:,.0f} | "
                     f"{i['mixed_qps'] / i['alone_qps']:.2f} | {'yes' if i['same_results'] else 'NO'} |")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {cpu_model()}",
        f"- nproc: {nproc}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        f"- numpy: {results[0]['numpy']} (BLAS: {blas()})",
        f"- faiss-cpu: {results[0]['faiss']}",
        f"- OS: {platform.platform()}",
        f"- load average when written: {', '.join(f'{x:.2f}' if isinstance(x, float) else x for x in load)} "
        "(a shared machine: expect noise)",
        "",
        "## Command",
        "",
        "```",
        command,
        "```",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
