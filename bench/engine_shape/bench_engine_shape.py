"""Engine overhead of two source trees, side by side: did reshaping the engine cost anything?

Runs the same in-process workloads against two checkouts of this repository (``--old`` and
``--new``; each a directory with ``mem7_core`` and ``plugins/``), alternating fresh worker processes
(old, new, old, new, ...) so both see the same machine noise, and reports per-workload medians of
the per-round medians and the new/old ratio. No network and no model: the scripted LLM
(``mem7_core.testing.fakes.ScriptedLLM``, rule-based answers) and the ``hash`` embedder, so what is
measured is the engine's own code plus the flat store and SQLite.

Workloads (p50 per operation unless said):

- add(infer=False), flat with a path (vectors and history in one SQLite database: one commit)
- add(infer=False), flat in memory + SQLite history file (history first, then vectors)
- add(infer=True), two-call mode, flat in memory + SQLite history file
- add(infer=True) with the flat graph store on
- search(limit=10), hybrid retrieval, 1,000 and 10,000 memories in scope
- 64 concurrent add(infer=True), each chat call +50 ms (wall)

    git worktree add /tmp/mem7-old <commit>
    .venv/bin/python bench/engine_shape/bench_engine_shape.py --old /tmp/mem7-old --new . --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT))  # after PYTHONPATH: a worker imports mem7_core from the tree it is given

from bench._common.machine import blas, cpu_model, git_state, versions  # noqa: E402


def _tree_path(tree: Path) -> str:
    parts = [str(tree)] + [str(p) for p in sorted((tree / "plugins").iterdir()) if (p / "pyproject.toml").exists()]
    return os.pathsep.join(parts)


# ------------------------------------------------------------------------------------ worker
async def _worker(ops: int) -> dict[str, Any]:
    from mem7_core import AsyncMemory
    from mem7_core.testing.fakes import ScriptedLLM

    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    import mem7_core

    out: dict[str, Any] = {"_tree": mem7_core.__file__}
    tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-shape-"))

    def cfg(name: str, *, path: bool = False, graph: bool = False) -> dict[str, Any]:
        c: dict[str, Any] = {
            "llm": None,
            "embedder": {"provider": "hash", "config": {"dims": 384}},
            "vector_store": {"provider": "flat", "config": {"path": str(tmp / name)} if path else {}},
            "history_store": {"provider": "sqlite", "config": {"path": str(tmp / f"{name}-history.db")}},
        }
        if path:
            c["history_store"] = {"provider": "auto"}
        if graph:
            c["graph_store"] = {"provider": "flat"}
        return c

    async def timed(fn: Any, n: int) -> tuple[float, float]:
        lat = []
        cpu0 = time.process_time()
        for i in range(n):
            a = time.perf_counter()
            await fn(i)
            lat.append(time.perf_counter() - a)
        cpu = (time.process_time() - cpu0) / n
        return statistics.median(lat) * 1e3, cpu * 1e3

    for name, path in (
        ("add(infer=False), flat with path (one commit)", True),
        ("add(infer=False), flat in memory + sqlite history", False),
    ):
        async with AsyncMemory(cfg(name.split(",")[1].strip().replace(" ", "_"), path=path), clock=lambda: t0) as mem:
            for i in range(20):
                await mem.add(f"warm up sentence {i}", user_id="w", infer=False)
            out[name] = await timed(
                lambda i, mem=mem: mem.add(f"I like item number {i} very much", user_id="u", infer=False), ops
            )

    for name, graph in (("add(infer=True), two-call", False), ("add(infer=True), graph on", True)):
        llm = ScriptedLLM()
        async with AsyncMemory(cfg(f"infer-{graph}", graph=graph), llm=llm, clock=lambda: t0) as mem:
            for i in range(10):
                await mem.add(f"My name is Warm{i}. I live in Town{i}.", user_id="w")
            n = ops // 3 if graph else ops
            out[name] = await timed(
                lambda i, mem=mem: mem.add(f"I like hobby {i % 50}. My friend is Person{i}.", user_id="u"), n
            )

    for size in (1_000, 10_000):
        async with AsyncMemory(cfg(f"search-{size}"), clock=lambda: t0) as mem:
            items = [
                {"memory": f"memory {i} about topic {i % 97} and place {i % 31}", "user_id": "u"} for i in range(size)
            ]
            await mem.import_memories(items)
            queries = [f"topic {i % 97} place {i % 31}" for i in range(ops)]
            await mem.search(queries[0], user_id="u", limit=10)
            out[f"search(limit=10), {size:,} in scope"] = await timed(
                lambda i, mem=mem: mem.search(queries[i], user_id="u", limit=10), ops
            )

    llm = ScriptedLLM(delay=0.05)
    async with AsyncMemory(cfg("burst"), llm=llm, clock=lambda: t0) as mem:
        walls = []
        for r in range(3):
            a = time.perf_counter()
            results = await asyncio.gather(
                *(mem.add(f"I like sport {i}. I visited City{r}{i}.", user_id=f"u{i}") for i in range(64))
            )
            walls.append(time.perf_counter() - a)
            assert all(res["results"] for res in results)
        out["64 concurrent add(infer=True), chat +50 ms (wall)"] = (statistics.median(walls) * 1e3, float("nan"))
    return out


# ------------------------------------------------------------------------------------ driver
def _run_worker(tree: Path, ops: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": _tree_path(tree),
        "MEM7_DISABLE_PLUGINS": os.environ.get("MEM7_DISABLE_PLUGINS", ""),
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", "--ops", str(ops)],
        env=env,
        cwd=str(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker for {tree} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", type=Path, help="the baseline checkout")
    p.add_argument("--new", type=Path, default=ROOT, help="the checkout under test (default: this one)")
    p.add_argument("--old-label", default="before")
    p.add_argument("--new-label", default="after")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--ops", type=int, default=300)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "engine_shape.md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args.ops))))
        return
    if args.old is None:
        p.error("--old is required (a checkout of the baseline commit)")
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
            runs[side].append(_run_worker(getattr(args, side).resolve(), args.ops))
            print(f"round {r + 1}/{args.rounds}: {side} done", file=sys.stderr, flush=True)
    rows = []
    for side in ("old", "new"):
        loaded = {run.pop("_tree") for run in runs[side]}
        expected = str(getattr(args, side).resolve())
        if not all(path.startswith(expected) for path in loaded):
            raise SystemExit(f"the {side} workers imported mem7_core from {loaded}, not from {expected}")
    for name in runs["old"][0]:
        old = statistics.median(run[name][0] for run in runs["old"])
        new = statistics.median(run[name][0] for run in runs["new"])
        cpu_old = statistics.median(run[name][1] for run in runs["old"])
        cpu_new = statistics.median(run[name][1] for run in runs["new"])
        rows.append((name, old, new, cpu_old, cpu_new))
    cmd = " ".join(["python", "bench/engine_shape/bench_engine_shape.py", *sys.argv[1:]])
    lines = [
        "# Engine reshaping: the same workloads on two source trees, side by side",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {versions()}, BLAS {blas()}; this checkout: {git_state()}.",
        "",
        f"Command: `{cmd}`. Baseline **{args.old_label}** (`{args.old}`), candidate **{args.new_label}** (`{args.new}`).",
        f"{args.rounds} rounds, alternating fresh worker processes (old/new, then new/old, ...); {args.ops} ops per workload per round.",
        "Each figure is the median over rounds of the per-round p50 (ms); CPU is engine-process CPU ms/op. In-process scripted",
        "LLM (rule-based answers) and `hash` embedder: the engine's own code, flat and SQLite, no network.",
        "",
        f"| workload | {args.old_label} p50 ms | {args.new_label} p50 ms | ratio | {args.old_label} CPU ms/op | {args.new_label} CPU ms/op |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, old, new, cpu_old, cpu_new in rows:
        cpu = "" if cpu_old != cpu_old else f"{cpu_old:.3f} | {cpu_new:.3f}"
        lines.append(f"| {name} | {old:.3f} | {new:.3f} | {new / old:.3f} | {cpu or ' | '} |")
    notes = ""
    if args.out.exists():  # a "## Notes" section written by hand is kept
        old_text = args.out.read_text(encoding="utf-8")
        if "\n## Notes" in old_text:
            notes = old_text[old_text.index("\n## Notes") :]
    args.out.write_text("\n".join(lines) + "\n" + notes, encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
