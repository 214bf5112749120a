"""Search latency of the two exact persisted vector stores: mem7-faiss vs mem7-flat.

Both stores persisted to a temporary directory (SQLite store of record; ``fsync: false`` to load
fast, which does not touch the search path), holding ``n`` random L2-normalised float32 vectors of
384 dims in one user's scope, searched through their async ``search()`` API (what the engine calls:
scope lookup, top-10, result records with payload copies), one query per call, the same queries
for both, passes alternating between the stores. Also: a filtered search (``{"cat": "c3"}``, one
row in ten passes), and the first search after opening the directory (cache rebuilt from SQLite).
Writes ``bench/results/faiss.md``::

    .venv/bin/python bench/faiss/bench_faiss.py                 # n = 10k and 100k
    .venv/bin/python bench/faiss/bench_faiss.py --sizes 2000 --passes 2 --out /tmp/x.md   # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

# numpy's BLAS on one thread for the whole run, before numpy loads: mem7-flat's own one-thread
# switch (mem7_flat._blas) looks for "an OpenBLAS" among the loaded libraries, and once faiss is
# loaded it finds faiss's bundled copy first and sets that one instead, leaving numpy's pool of
# spinning threads (measured: flat p50 24 ms instead of <1 ms at 10k on a loaded machine).
os.environ["OPENBLAS_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.machine import blas, cpu_model, git_state  # noqa: E402 - after the sys.path line
from bench._common.measure import pct  # noqa: E402

DIMS = 384
K = 10


def _open(kind: str, path: Path) -> Any:
    if kind == "faiss":
        from mem7_faiss import FaissVectorStore

        return FaissVectorStore(FaissVectorStore.Config(path=str(path / "faiss"), fsync=False))
    from mem7_flat import FlatVectorStore

    return FlatVectorStore(FlatVectorStore.Config(path=str(path / "flat"), fsync=False))


async def _measure(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import numpy as np

    from mem7_core.filters import parse_filters
    from mem7_core.models import Scope, VectorRecord

    rng = np.random.default_rng(args.seed + n)
    data = rng.standard_normal((n, DIMS), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, DIMS), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    qs = queries.tolist()
    scope = Scope(user_id="bench-user")
    flt = parse_filters({"cat": "c3"})
    kinds = ("faiss", "flat")
    stores = {k: _open(k, tmp / str(n)) for k in kinds}
    load_s: dict[str, float] = {}
    for kind, store in stores.items():
        t0 = time.perf_counter()
        for start in range(0, n, 5000):
            await store.insert(
                [
                    VectorRecord(f"m{i}", data[i].tolist(), {"user_id": "bench-user", "data": f"memory {i}",
                                                            "cat": f"c{i % 10}", "created_at": "2025-01-01"})
                    for i in range(start, min(n, start + 5000))
                ]
            )
        load_s[kind] = time.perf_counter() - t0
    lat: dict[tuple[str, str], list[float]] = {(k, m): [] for k in kinds for m in ("plain", "filter")}
    agree = 0
    for p in range(args.passes + 1):  # pass 0 warms up
        for kind in kinds if p % 2 else kinds[::-1]:
            store = stores[kind]
            for mode, f in (("plain", None), ("filter", flt)):
                out = lat[(kind, mode)]
                for q in qs:
                    t0 = time.perf_counter()
                    await store.search(q, scope=scope, limit=K, filters=f)
                    if p:
                        out.append(time.perf_counter() - t0)
    checked = qs[:50]
    for q in checked:
        a = [h.id for h in await stores["faiss"].search(q, scope=scope, limit=K)]
        b = [h.id for h in await stores["flat"].search(q, scope=scope, limit=K)]
        agree += len(set(a) & set(b))
    cold: dict[str, float] = {}
    for kind, store in stores.items():
        await store.aclose()
        t0 = time.perf_counter()
        again = _open(kind, tmp / str(n))
        await again.search(qs[0], scope=scope, limit=K)
        cold[kind] = time.perf_counter() - t0
        await again.aclose()
    return {"n": n, "lat": lat, "load": load_s, "cold": cold, "agree": agree / (len(checked) * K)}


def _ms(x: float) -> str:
    return f"{x * 1000:.2f}"


def _report(results: list[dict[str, Any]], args: argparse.Namespace, cmd: str) -> str:
    import faiss
    import numpy as np

    lines = [
        "# mem7-faiss vs mem7-flat: search latency (persisted stores, one scope)",
        "",
        f"{DIMS}-dim random L2-normalised vectors, all in one user's scope; top-{K}; {args.queries} queries, "
        f"one per `await store.search(...)`, the same for both stores; {args.passes} passes alternating the "
        "order of the stores, after one warm-up pass. Both persisted (SQLite store of record, `fsync: false`) "
        "with default settings: mem7-flat scores with numpy on one BLAS thread (`OPENBLAS_NUM_THREADS=1` "
        "set by the benchmark, see its source), mem7-faiss with "
        f"`IndexFlatIP` per user on one OpenMP thread (its `omp_threads: 1`; faiss's own default here: "
        f"{faiss.omp_get_max_threads()}). "
        "Filtered: `{\"cat\": \"c3\"}` (one row in ten), evaluated by each store on its best candidates. "
        "Latencies in ms; ratio = faiss / flat (above 1: faiss slower).",
        "",
        "| n | search | faiss p50 | flat p50 | p50 ratio | faiss p95 | flat p95 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for mode in ("plain", "filter"):
            fa, fl = r["lat"][("faiss", mode)], r["lat"][("flat", mode)]
            lines.append(
                f"| {r['n']:,} | {mode} | {_ms(statistics.median(fa))} | {_ms(statistics.median(fl))} | "
                f"{statistics.median(fa) / statistics.median(fl):.2f} | {_ms(pct(fa, 0.95))} | {_ms(pct(fl, 0.95))} |"
            )
    lines += [
        "",
        "| n | load faiss s | load flat s | open + first search faiss s | open + first search flat s | top-10 agreement |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['n']:,} | {r['load']['faiss']:.1f} | {r['load']['flat']:.1f} | {r['cold']['faiss']:.2f} | "
            f"{r['cold']['flat']:.2f} | {r['agree']:.4f} |"
        )
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {cpu_model()}; nproc: {os.cpu_count()}",
        f"- Python: {platform.python_version()}; numpy {np.__version__} (BLAS: {blas()}); faiss-cpu {version('faiss-cpu')}",
        f"- OS: {platform.platform()}",
        f"- load average when written: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared machine: expect noise)",
        f"- code: {git_state()}",
        "",
        "## Command",
        "",
        "```",
        f"cd /work/main && {cmd}",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faiss.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mem7-bench-faiss-") as tmp:
        results = [asyncio.run(_measure(n, args, Path(tmp))) for n in args.sizes]
    cmd = ".venv/bin/python bench/faiss/bench_faiss.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    text = _report(results, args, cmd)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
