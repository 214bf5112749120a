"""In-process cost of ``AsyncMemory.search`` (hybrid default, mem7-flat), per stage, old code vs new.

No HTTP: the query embeddings are computed before the timed loop (``hash_embedding``, the function
the overhead bench's loopback server uses) and handed back by a stub embedder, so what is timed is
the engine, the retriever and the store. Three stores, each a fresh engine: 1,000 and 10,000
memories in one scope, and those 10,000 plus 100,000 memories of 1,000 other users (100 each,
inserted as alternating batches). Memories are the overhead bench's synthetic facts and vectors
(``bench/_common/text.corpus``; the vectors cached in ``/tmp/mem7-bench-overhead-corpus-<seed>.npy``
when that bench made them, else computed here).

Per stage (a second pass with the stage functions wrapped by timers, so the end-to-end figures are
not inflated by the wrapping): the store's vector search, BM25 ``score_terms``, the store ``get``
of keyword-only hits, ``fusion.cosines``, the whole retriever. End to end: p50 / p95 wall and CPU
per ``search(limit=10)``. Each run also records every query's result ids and scores; the report
checks that the two code trees give exactly the same results.

Old code without touching the repository's git state: export a commit to a directory
(``git archive HEAD | tar -x -C /tmp/base``) and pass it as ``--baseline``; that run puts the
directory's ``mem7_core`` and ``plugins/flat`` first on ``PYTHONPATH``::

    .venv/bin/python bench/search_path/bench_search_path.py --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
USER = "bench-user"
SEED = 7


def _log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class _Vectors:
    """A stub embedder: the precomputed vector of each known text (no HTTP, no hashing when timed)."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    async def embed(self, texts: Any, *, purpose: str = "add") -> list[list[float]]:
        return [self.table[t] for t in texts]


def _corpus_vectors(texts: list[str]) -> Any:
    import numpy as np

    from mem7_core.testing.fakes import hash_embedding

    cache = Path(tempfile.gettempdir()) / f"mem7-bench-overhead-corpus-{SEED}.npy"
    if cache.exists():
        mat = np.load(cache)
        if mat.shape[0] >= len(texts) and mat.shape[1] == 384:
            return mat[: len(texts)]
    return np.asarray([hash_embedding(t, 384) for t in texts], dtype=np.float32)


async def _populate(mem: Any, items: list[tuple[str, str]], mat: Any, rows: list[int], user: str, t0: Any) -> None:
    from datetime import timedelta

    from mem7_core.engine.records import new_payload
    from mem7_core.ids import iso
    from mem7_core.models import Scope, VectorRecord

    scope = Scope(user_id=user)
    # Deterministic ids (row i of the corpus, for this user), so two code trees' results compare.
    tag = zlib.crc32(user.encode())
    batch = [
        VectorRecord(id=str(uuid.UUID(int=(tag << 64) | i)), vector=mat[i], payload=new_payload(items[i][1], scope=scope,
                     now=iso(t0 + timedelta(seconds=j)), memory_type=items[i][0]))
        for j, i in enumerate(rows)
    ]
    for k in range(0, len(batch), 10_000):
        await mem.vector_store.insert(batch[k:k + 10_000])


class _Stages:
    """Wraps the stage functions with timers (wall µs summed per stage)."""

    def __init__(self) -> None:
        self.us: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, attr: str, name: str) -> None:
        orig = getattr(owner, attr, None)
        if orig is None:
            return
        us, calls = self.us, self.calls
        if asyncio.iscoroutinefunction(orig):
            async def timed(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await orig(*a, **k)
                finally:
                    us[name] += (time.perf_counter() - t) * 1e6
                    calls[name] += 1
        else:
            def timed(*a: Any, **k: Any) -> Any:  # type: ignore[misc]
                t = time.perf_counter()
                try:
                    return orig(*a, **k)
                finally:
                    us[name] += (time.perf_counter() - t) * 1e6
                    calls[name] += 1
        self._undo.append((owner, attr, vars(owner).get(attr)))
        setattr(owner, attr, timed)

    def install(self, mem: Any) -> None:
        from mem7_core.retrieval import bm25, hybrid

        self._wrap(mem.retriever, "search", "retriever (all)")
        self._wrap(mem.vector_store, "search", "store.search (dense, 50)")
        self._wrap(mem.vector_store, "get", "store.get (keyword-only hits)")
        self._wrap(bm25.BM25Index, "score_terms", "BM25 score_terms")
        self._wrap(hybrid, "cosines", "fusion.cosines")

    def remove(self) -> None:
        for owner, attr, own in reversed(self._undo):
            if own is None:
                delattr(owner, attr)  # back to the class's method
            else:
                setattr(owner, attr, own)
        self._undo.clear()


async def _measure(mem: Any, queries: list[str], ops: int, warmup: int) -> dict[str, Any]:
    for q in queries[:warmup]:
        await mem.search(q, user_id=USER, limit=10)
    lat: list[float] = []
    results: list[list[tuple[str, float]]] = []
    cpu0 = time.process_time()
    for q in queries[:ops]:
        t = time.perf_counter()
        r = await mem.search(q, user_id=USER, limit=10)
        lat.append((time.perf_counter() - t) * 1e3)
        results.append([(it["id"], it["score"]) for it in r["results"]])
    cpu = (time.process_time() - cpu0) * 1e3 / ops
    stages = _Stages()
    stages.install(mem)
    try:
        for q in queries[:ops]:
            await mem.search(q, user_id=USER, limit=10)
    finally:
        stages.remove()
    return {
        "p50_ms": statistics.median(lat), "p95_ms": _pct(lat, 0.95), "mean_ms": statistics.fmean(lat),
        "cpu_ms": cpu, "ops": ops,
        "stages_us": {k: v / ops for k, v in stages.us.items()},
        "stage_calls": {k: v / ops for k, v in stages.calls.items()},
        "results": results,
    }


async def run_once(ops: int, warmup: int) -> dict[str, Any]:
    from datetime import UTC, datetime

    sys.path.append(str(ROOT))  # appended: the code under test comes from PYTHONPATH / the venv
    import mem7_core
    import mem7_flat
    from bench._common.text import corpus, query
    from mem7_core import AsyncMemory
    from mem7_core.testing.fakes import hash_embedding

    n_scope, others = 10_000, 100_000
    items = corpus(n_scope + others, SEED)
    mat = _corpus_vectors([t for _, t in items])
    rng = random.Random(SEED + 1)
    queries = [query(rng) for _ in range(ops + warmup)]
    table = {q: hash_embedding(q, 384) for q in queries}
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    cfg = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 384}},
        "vector_store": {"provider": "flat", "config": {"dims": 384}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    out: dict[str, Any] = {"code": {"mem7_core": mem7_core.__file__, "mem7_flat": mem7_flat.__file__}, "cases": {}}
    for label, n, n_others in (("1k in scope", 1_000, 0), ("10k in scope", 10_000, 0),
                               ("10k in scope + 100k others", 10_000, others)):
        mem = AsyncMemory(cfg)
        mem.embedder = _Vectors(table)
        if n_others:
            # alternating batches: 100 rows of one other user, then 10 of the target's
            for u in range(n_others // 100):
                await _populate(mem, items, mat, list(range(n_scope + u * 100, n_scope + (u + 1) * 100)), f"other-{u}", t0)
                await _populate(mem, items, mat, list(range(u * 10, (u + 1) * 10)), USER, t0)
        else:
            await _populate(mem, items, mat, list(range(n)), USER, t0)
        _log(f"  {label}: populated ({len(mem.vector_store):,} rows)")
        out["cases"][label] = await _measure(mem, queries[warmup:], ops, warmup)
        await mem.aclose()
    return out


def _run_tree(label: str, tree: Path | None, ops: int, warmup: int, out: Path) -> dict[str, Any]:
    sys.path.append(str(ROOT))
    from bench._common.procs import code_path  # here: a worker (PYTHONPATH: another copy) imports none of it

    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = code_path(tree)
    _log(f"{label}: {tree or 'working tree'}")
    subprocess.run([sys.executable, __file__, "--worker", "--ops", str(ops), "--warmup", str(warmup), "--json", str(out)],
                   env=env, check=True)
    return json.loads(out.read_text())


STAGES = ("store.search (dense, 50)", "BM25 score_terms", "store.get (keyword-only hits)", "fusion.cosines", "retriever (all)")


def report(before: dict[str, Any], after: dict[str, Any], args: argparse.Namespace, cmd: str) -> str:
    lines = [
        "# Search path: in-process cost of `search(limit=10)`, hybrid default, mem7-flat",
        "",
        "`AsyncMemory` (default retrieval: hybrid, weighted fusion, 50 candidates per signal) on mem7-flat in memory,",
        "SQLite history `:memory:`, no reranker, no scorers. **No HTTP**: query embeddings are precomputed and",
        "returned by a stub embedder, so these are the engine's, the retriever's and the store's own costs (the",
        "overhead bench adds ~1.4–1.9 ms for the embedding call over loopback HTTP). 384-d vectors from the",
        "overhead bench's synthetic facts (`bench/_common/text.py`), one scope (`user_id`); *+100k others*:",
        "1,000 other users × 100 memories, inserted in alternating batches with the target's rows.",
        f"{args.ops} sequential searches per case after {args.warmup} warm-up ones; *before* is the code of",
        f"`{args.baseline}` (put first on `PYTHONPATH`), *after* the working tree. Stage times come from a",
        "second pass with the stage functions wrapped by timers (mean µs per search; wrapping adds ~1 µs per call);",
        "the end-to-end figures from the unwrapped pass.",
        "",
        "## End to end (ms per search)",
        "",
        "| case | before p50 | after p50 | before p95 | after p95 | before CPU/op | after CPU/op | results identical |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for case, b in before["cases"].items():
        a = after["cases"][case]
        same = b["results"] == a["results"]
        lines.append(f"| {case} | {b['p50_ms']:.3f} | {a['p50_ms']:.3f} | {b['p95_ms']:.3f} | {a['p95_ms']:.3f} | "
                     f"{b['cpu_ms']:.3f} | {a['cpu_ms']:.3f} | {'yes' if same else '**no**'} |")
    lines += ["", "## Per stage (mean µs per search; calls per search in brackets)", ""]
    for case, b in before["cases"].items():
        a = after["cases"][case]
        lines += [f"### {case}", "", "| stage | before µs | after µs |", "|---|---:|---:|"]
        for st in STAGES:
            def cell(r: dict[str, Any], st: str = st) -> str:
                if st not in r["stages_us"]:
                    return "not called"
                return f"{r['stages_us'][st]:.0f} ({r['stage_calls'][st]:.2f})"
            lines.append(f"| {st} | {cell(b)} | {cell(a)} |")
        lines.append("")
    lines += [
        "## Machine", "",
        f"- Python {platform.python_version()}, {platform.platform()}, nproc {os.cpu_count()}",
        f"- load average when written: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared machine: expect noise)",
        "", "## Command", "", "```", cmd, "```", "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, help="a directory holding the old code (an exported commit)")
    p.add_argument("--ops", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_path.md")
    p.add_argument("--json", type=Path, help="(worker) where to write one tree's figures")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        res = asyncio.run(run_once(args.ops, args.warmup))
        args.json.write_text(json.dumps(res))
        return
    tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-search-path-"))
    after = _run_tree("after", None, args.ops, args.warmup, tmp / "after.json")
    before = after if args.baseline is None else _run_tree("before", args.baseline, args.ops, args.warmup, tmp / "before.json")
    cmd = "cd /work/main && .venv/bin/python " + " ".join(["bench/search_path/bench_search_path.py", *sys.argv[1:]])
    text = report(before, after, args, cmd)
    if args.out.exists():  # keep the hand-written notes of the previous run
        old = args.out.read_text()
        if "\n## Notes\n" in old:
            text += old[old.index("\n## Notes\n"):]
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
