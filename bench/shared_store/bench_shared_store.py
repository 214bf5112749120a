"""The shared flat store (issue #14): regression check, catch-up cost, multi-process throughput.

Four parts, each run in fresh child processes (``--worker``) so that the code under test can be
switched by ``PYTHONPATH`` (``--old-code DIR``: a checkout, e.g. ``git worktree add /tmp/mem7-head
HEAD``, whose ``mem7_core`` and ``plugins/*`` are put first on the children's ``PYTHONPATH``; every
child reports the ``mem7_core`` / ``mem7_flat`` files it imported):

- ``overhead``: the issue's no-regression rows, with the overhead bench's setup (``AsyncMemory``,
  mem7-openai as embedder over HTTP to the loopback server ``bench/overhead/loopback.py`` in its own
  process, N memories inserted straight into the store in one scope, 20 warm-up ops):
  ``search(limit=10)`` p50 at 1k and 10k in scope (hybrid retrieval, the default) and
  ``add(infer=False)`` p50 at 10k in scope. Two stores: ``memory`` (flat without a path, SQLite
  history in a temp file: exactly ``bench/overhead``'s config) and ``persisted``
  (``MemoryConfig.embedded(dir)`` with the loopback embedder: flat with a path, fsync on, history
  as the embedded default has it: ``auto`` = in the store's database in the new code, ``sqlite``
  ``history.db`` in the old). Old and new code interleaved (old, new, old, new, ...).
- ``check``: the per-operation cross-process check when nothing changed: ``store._sync()``
  (``PRAGMA data_version``), ``store.count()`` with and without it, and how many checks one engine
  search / add makes.
- ``catchup``: a reader engine (embedded config, hash embedder, hybrid) on a directory with 10k
  memories in one scope; a second process (a real subprocess) adds N = 1, 100, 10,000 memories to
  that scope; then the reader's next operation is timed: a ``search`` (store catch-up + BM25 index
  catch-up + the search), and, decomposed, ``store.count()`` (store catch-up alone) followed by a
  ``search`` (index catch-up from the store's feed + the search). Baseline: the same search with
  nothing changed.
- ``loop`` (issue 17): how long the event loop is held while a persisted store writes. One engine
  (``MemoryConfig.embedded``, hash embedder: no I/O but the store's) makes ``--concurrency`` (64)
  concurrent ``add(infer=False)`` while a heartbeat task sleeps 1 ms in a loop; reported: the
  heartbeat's longest and p99 gap, the wall time of the batch and the adds' p50/p95, then the
  same for sequential adds. With ``--old-code`` interleaved with the code before the change
  (where each commit, fsync included, ran on the event loop).
- ``throughput``: N = 1, 2, 4 writer processes on one data directory (``MemoryConfig.embedded`` with
  ``embedder: hash``; ``--fastembed`` adds rows with the real default embedder), each M
  ``add(infer=False)`` into one shared scope, started together; total adds/s, per-add p50 / p95,
  then a check that the store holds exactly N×M memories (the ids the writers were given) and
  history N×M ADD events.

See ``bench/README.md``::

    .venv/bin/python bench/shared_store/bench_shared_store.py --old-code /tmp/mem7-head   # writes bench/results/shared_store.md
    .venv/bin/python bench/shared_store/bench_shared_store.py --quick                     # smoke run (~20 s; report to a temp file)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve()
# Appended, not inserted first: with PYTHONPATH pointing at another checkout, its mem7_core must win.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

DEFAULT_OUT = ROOT / "bench" / "results" / "shared_store.md"


# ------------------------------------------------------------------------------------ helpers
def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def stats_ms(lat: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(lat) * 1e3, "p95_ms": pct(lat, 0.95) * 1e3,
            "mean_ms": statistics.fmean(lat) * 1e3, "n": len(lat)}


def code_files() -> dict[str, str]:
    import mem7_core
    import mem7_flat

    return {"mem7_core": mem7_core.__file__ or "?", "mem7_flat": mem7_flat.__file__ or "?"}


def code_env(old_code: Path | None) -> dict[str, str]:
    """The children's environment: ``PYTHONPATH`` = the old checkout's packages, or nothing."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if old_code is not None:
        from bench._common.procs import code_path  # here: a worker (PYTHONPATH: the old copy) imports none of it

        env["PYTHONPATH"] = code_path(old_code)
    return env


def run_worker(kind: str, env: dict[str, str], out: Path, *extra: str, timeout: float = 900) -> dict[str, Any]:
    cmd = [sys.executable, str(SCRIPT), "--worker", kind, "--worker-out", str(out), *extra]
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, timeout=timeout)
    return json.loads(out.read_text())


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def hash_vectors(texts: list[str]) -> Any:
    import numpy as np

    from mem7_core.testing.fakes import hash_embedding

    return np.asarray([hash_embedding(t, 384) for t in texts], dtype=np.float32)


async def populate(mem: Any, texts: list[tuple[str, str]], user_id: str) -> float:
    """Insert ``texts`` for ``user_id`` straight into the vector store (engine payload layout, no
    history events; batches of 10k), as ``bench/overhead`` does. Returns seconds."""
    from mem7_core.engine.records import new_payload
    from mem7_core.ids import iso, uuid7
    from mem7_core.models import Scope, VectorRecord

    mat = hash_vectors([t for _, t in texts])
    t0 = time.perf_counter()
    scope = Scope(user_id=user_id)
    age = datetime.now(UTC) - timedelta(days=30)
    batch: list[Any] = []
    for j, (cat, text) in enumerate(texts):
        payload = new_payload(text, scope=scope, now=iso(age + timedelta(seconds=j)), memory_type=cat)
        batch.append(VectorRecord(id=uuid7(), vector=mat[j], payload=payload))
        if len(batch) == 10_000:
            await mem.vector_store.insert(batch)
            batch = []
    if batch:
        await mem.vector_store.insert(batch)
    return time.perf_counter() - t0


def embedded_config(directory: Path, embedder: dict[str, Any], **over: Any) -> Any:
    from mem7_core.config import MemoryConfig

    return MemoryConfig.embedded(directory, llm=None, embedder=embedder, **over)


async def timed_ops(fn: Any, inputs: list[Any]) -> tuple[list[float], float]:
    lat: list[float] = []
    pc = time.perf_counter
    c0 = time.process_time()
    for x in inputs:
        t0 = pc()
        await fn(x)
        lat.append(pc() - t0)
    return lat, (time.process_time() - c0) / max(len(inputs), 1)


# ================================================================================ workers
async def w_overhead(args: argparse.Namespace) -> dict[str, Any]:
    from bench._common.engine import engine_config
    from bench._common.loopback import Loopback
    from bench._common.text import corpus, new_fact, query
    from mem7_core import AsyncMemory

    srv = Loopback()
    out: dict[str, Any] = {"code": code_files(), "store": args.store, "rows": {}}
    items = corpus(max(args.sizes) + 10, args.seed)
    try:
        for n in args.sizes:
            tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-shared-"))
            emb = {"provider": "openai", "config": {"base_url": srv.url, "api_key": srv.api_key,
                                                      "model": "text-embedding-3-small", "embedding_dims": 384}}
            if args.store == "memory":
                cfg: Any = engine_config(srv.url, srv.api_key, str(tmp / "history.db"))
            else:
                cfg = embedded_config(tmp / "data", emb)
            mem = AsyncMemory(cfg)
            out["history_store"] = type(mem.history_store).__name__
            uid = "bench-user"
            pop_s = await populate(mem, items[:n], uid)
            rng = random.Random(args.seed + n)
            qs = [query(rng) for _ in range(args.warmup + args.ops)]
            search = lambda q: mem.search(q, user_id=uid, limit=10)  # noqa: E731
            await timed_ops(search, qs[: args.warmup])
            lat, cpu = await timed_ops(search, qs[args.warmup:])
            out["rows"][f"search10@{n}"] = stats_ms(lat) | {"cpu_ms": cpu * 1e3}
            if n in args.add_at:
                msgs = [[{"role": "user", "content": new_fact(rng)}] for _ in range(args.warmup + args.ops)]
                add = lambda m: mem.add(m, user_id=uid, infer=False)  # noqa: E731
                await timed_ops(add, msgs[: args.warmup])
                lat, cpu = await timed_ops(add, msgs[args.warmup:])
                out["rows"][f"add_verbatim@{n}"] = stats_ms(lat) | {"cpu_ms": cpu * 1e3}
            out[f"populate_s@{n}"] = pop_s
            await mem.aclose()
    finally:
        srv.stop()
    return out


async def w_check(args: argparse.Namespace) -> dict[str, Any]:
    """µs per cross-process check when nothing changed, and checks per engine op."""
    from bench._common.text import corpus, new_fact, query
    from mem7_core import AsyncMemory
    from mem7_core.models import Scope

    out: dict[str, Any] = {"code": code_files()}
    tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-shared-"))
    mem = AsyncMemory(embedded_config(tmp / "data", {"provider": "hash", "config": {"dims": 384}}))
    mem_ram = AsyncMemory({"llm": None, "embedder": {"provider": "hash", "config": {"dims": 384}},
                           "vector_store": {"provider": "flat", "config": {"dims": 384}},
                           "history_store": {"provider": "sqlite", "config": {"path": str(tmp / "h.db")}}})
    uid = "bench-user"
    items = corpus(args.n, args.seed)
    await populate(mem, items, uid)
    await populate(mem_ram, items, uid)
    store = mem.vector_store
    scope = Scope(user_id=uid)
    loops = args.loops

    def per_call_sync(fn: Any) -> float:
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(loops):
                fn()
            best.append((time.perf_counter() - t0) / loops)
        return statistics.median(best) * 1e6

    async def per_call_async(fn: Any) -> float:
        res = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(loops):
                await fn()
            res.append((time.perf_counter() - t0) / loops)
        return statistics.median(res) * 1e6

    us: dict[str, float] = {}
    us["count() persisted"] = await per_call_async(lambda: store.count(scope=scope))
    us["count() in memory (no path)"] = await per_call_async(lambda: mem_ram.vector_store.count(scope=scope))
    has_sync = hasattr(store, "_sync") and getattr(store, "_db", None) is not None
    out["has_sync"] = has_sync
    if has_sync:
        db = store._db
        us["store._sync() (nothing changed)"] = per_call_sync(store._sync)
        us["PRAGMA data_version alone"] = per_call_sync(db.data_version)
        real = store._sync
        store._sync = lambda: None  # type: ignore[method-assign]
        us["count() persisted, check disabled"] = await per_call_async(lambda: store.count(scope=scope))
        store._sync = real  # type: ignore[method-assign]
        idx = getattr(getattr(mem, "retriever", None), "indexes", None)
        if idx is not None and hasattr(idx, "catch_up"):
            await mem.search("warm", user_id=uid, limit=10)
            us["ScopeIndexes.catch_up() (nothing changed)"] = await per_call_async(idx.catch_up)
        # checks per engine op: _sync calls (reads) and PRAGMA data_version reads (reads and writes)
        calls = {"sync": 0, "dv": 0}
        real_dv = db.data_version

        def counting() -> None:
            calls["sync"] += 1
            real()

        def counting_dv() -> int:
            calls["dv"] += 1
            return real_dv()

        store._sync = counting  # type: ignore[method-assign]
        db.data_version = counting_dv  # type: ignore[method-assign]
        rng = random.Random(args.seed)
        per_op: dict[str, dict[str, float]] = {}
        k = 50
        calls.update(sync=0, dv=0)
        for _ in range(k):
            await mem.search(query(rng), user_id=uid, limit=10)
        per_op["search(limit=10), hybrid"] = {k2: v / k for k2, v in calls.items()}
        calls.update(sync=0, dv=0)
        for _ in range(k):
            await mem.add([{"role": "user", "content": new_fact(rng)}], user_id=uid, infer=False)
        per_op["add(infer=False)"] = {k2: v / k for k2, v in calls.items()}
        store._sync = real  # type: ignore[method-assign]
        db.data_version = real_dv  # type: ignore[method-assign]
        out["checks_per_op"] = per_op
    out["us"] = us
    await mem.aclose()
    await mem_ram.aclose()
    return out


async def w_loop(args: argparse.Namespace) -> dict[str, Any]:
    """Heartbeat gaps while one engine makes concurrent (then sequential) persisted adds."""
    from bench._common.text import new_fact
    from mem7_core import AsyncMemory

    out: dict[str, Any] = {"code": code_files(), "rounds": []}
    data = Path(tempfile.mkdtemp(prefix="mem7-bench-loop-")) / "data"
    mem = AsyncMemory(embedded_config(data, {"provider": "hash", "config": {"dims": 384}}))
    rng = random.Random(args.seed)
    uid = "bench-user"
    for _ in range(20):  # warm up (database created, first-write paths taken)
        await mem.add([{"role": "user", "content": new_fact(rng)}], user_id=uid, infer=False)
    pc = time.perf_counter

    async def with_heartbeat(work: Any) -> tuple[list[float], float]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def beat() -> None:
            last = pc()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = pc()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(beat())
        await asyncio.sleep(0.005)
        t0 = pc()
        await work()
        wall = pc() - t0
        stop.set()
        await task
        return gaps, wall

    async def timed_add(m: Any, lat: list[float]) -> None:
        t0 = pc()
        await mem.add(m, user_id=uid, infer=False)
        lat.append(pc() - t0)

    for _ in range(args.reps):
        row: dict[str, Any] = {}
        for mode in ("concurrent", "sequential"):
            msgs = [[{"role": "user", "content": new_fact(rng)}] for _ in range(args.concurrency)]
            lat: list[float] = []
            if mode == "concurrent":
                work = lambda: asyncio.gather(*(timed_add(m, lat) for m in msgs))  # noqa: E731
            else:
                async def work() -> None:
                    for m in msgs:
                        await timed_add(m, lat)
            gaps, wall = await with_heartbeat(work)
            row[mode] = {"gap_max_ms": max(gaps) * 1e3, "gap_p99_ms": pct(gaps, 0.99) * 1e3,
                         "gap_p50_ms": statistics.median(gaps) * 1e3, "wall_ms": wall * 1e3,
                         "add_p50_ms": statistics.median(lat) * 1e3, "add_p95_ms": pct(lat, 0.95) * 1e3}
        out["rounds"].append(row)
    await mem.aclose()
    return out


async def w_store(args: argparse.Namespace) -> dict[str, Any]:
    """The store alone: µs per sequential insert of one record and per search, fsync on and off."""
    import numpy as np

    from mem7_core.models import Scope, VectorRecord
    from mem7_flat import FlatVectorStore

    out: dict[str, Any] = {"code": code_files(), "rows": {}}
    rng = np.random.default_rng(args.seed)
    scope = Scope(user_id="u")
    pc = time.perf_counter
    for fsync in (False, True):
        tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-store-"))
        store = FlatVectorStore(FlatVectorStore.Config.model_validate({"path": str(tmp), "fsync": fsync}))
        base = rng.standard_normal((args.n, 384)).astype(np.float32)
        await store.insert([VectorRecord(id=f"b{i}", vector=v, payload={"user_id": "u", "data": f"m {i}"})
                            for i, v in enumerate(base)])
        k = args.ops
        vecs = rng.standard_normal((k, 384)).astype(np.float32)
        recs = [VectorRecord(id=f"n{i}", vector=v, payload={"user_id": "u", "data": f"new {i}"}) for i, v in enumerate(vecs)]
        lat: list[float] = []
        c0 = time.process_time()
        for r in recs:
            t0 = pc()
            await store.insert([r])
            lat.append(pc() - t0)
        cpu = (time.process_time() - c0) / k
        out["rows"][f"insert fsync={fsync}"] = stats_ms(lat) | {"cpu_ms": cpu * 1e3}
        lat = []
        c0 = time.process_time()
        for v in vecs:
            t0 = pc()
            await store.search(v, scope=scope, limit=10)
            lat.append(pc() - t0)
        cpu = (time.process_time() - c0) / k
        out["rows"][f"search after writes fsync={fsync}"] = stats_ms(lat) | {"cpu_ms": cpu * 1e3}
        await store.aclose()
    return out


async def w_write(args: argparse.Namespace) -> dict[str, Any]:
    """The other process of ``catchup``: N add(infer=False) into the shared scope, then exit."""
    from bench._common.text import new_fact
    from mem7_core import AsyncMemory

    mem = AsyncMemory(embedded_config(Path(args.dir), {"provider": "hash", "config": {"dims": 384}}))
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    for _ in range(args.n):
        await mem.add([{"role": "user", "content": new_fact(rng)}], user_id=args.user, infer=False)
    secs = time.perf_counter() - t0
    await mem.aclose()
    return {"n": args.n, "seconds": secs}


async def w_catchup(args: argparse.Namespace) -> dict[str, Any]:
    from bench._common.text import corpus, query
    from mem7_core import AsyncMemory
    from mem7_core.models import Scope

    out: dict[str, Any] = {"code": code_files(), "rows": []}
    data = Path(tempfile.mkdtemp(prefix="mem7-bench-shared-")) / "data"
    mem = AsyncMemory(embedded_config(data, {"provider": "hash", "config": {"dims": 384}}))
    uid = "bench-user"
    scope = Scope(user_id=uid)
    await populate(mem, corpus(args.base, args.seed), uid)
    rng = random.Random(args.seed)
    for _ in range(20):
        await mem.search(query(rng), user_id=uid, limit=10)
    store = mem.vector_store
    idx = mem.retriever.indexes if mem.retriever is not None else None
    env = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-writer-"))
    seed = [args.seed * 1000]

    def writer(n: int) -> float:
        seed[0] += 1
        res = run_worker("write", env, tmp / f"w{seed[0]}.json", "--dir", str(data), "--n", str(n),
                         "--user", uid, "--seed", str(seed[0]))
        return float(res["seconds"])

    async def search_once() -> float:
        t0 = time.perf_counter()
        await mem.search(query(rng), user_id=uid, limit=10)
        return time.perf_counter() - t0

    async def baseline() -> float:
        return statistics.median([await search_once() for _ in range(9)])

    for n in args.ns:
        reps = args.reps_large if n >= 1000 else args.reps
        for rep in range(reps):
            for variant in ("search", "count+search"):
                w_s = writer(n)
                b0 = idx.builds if idx is not None else 0
                c0 = getattr(idx, "caught_up", 0)
                row: dict[str, Any] = {"n": n, "rep": rep, "variant": variant, "writer_s": w_s}
                if variant == "search":
                    row["first_ms"] = await search_once() * 1e3
                else:
                    t0 = time.perf_counter()
                    await store.count(scope=scope)
                    row["count_ms"] = (time.perf_counter() - t0) * 1e3
                    row["first_ms"] = await search_once() * 1e3
                row["baseline_ms"] = await baseline() * 1e3
                row["index_rebuilds"] = (idx.builds - b0) if idx is not None else None
                row["index_caught_up"] = getattr(idx, "caught_up", 0) - c0
                row["scope_after"] = await store.count(scope=scope)
                out["rows"].append(row)
                log(f"  catchup n={n} {variant}: {row}")
    await mem.aclose()
    return out


async def w_tput(args: argparse.Namespace) -> dict[str, Any]:
    """One of N writer processes: build the engine, say ready, wait for "go", M adds."""
    from bench._common.text import new_fact
    from mem7_core import AsyncMemory

    emb = ({"provider": "fastembed", "config": {}} if args.embedder == "fastembed"
           else {"provider": "hash", "config": {"dims": 384}})
    mem = AsyncMemory(embedded_config(Path(args.dir), emb))
    rng = random.Random(args.seed)
    msgs = [[{"role": "user", "content": f"{new_fact(rng)} (writer {args.seed})"}] for _ in range(args.m)]
    await mem.embedder.embed(["warm up the embedder"])
    print("ready", flush=True)
    sys.stdin.readline()
    ids: list[str] = []
    lat: list[float] = []
    errors: list[str] = []
    pc = time.perf_counter
    c0 = time.process_time()
    t_start = time.time()
    for m in msgs:
        t0 = pc()
        try:
            res = await mem.add(m, user_id="shared", infer=False)
            ids += [r["id"] if isinstance(r, dict) else r.id for r in res["results"]]
        except Exception as exc:  # noqa: BLE001 - counted, reported
            errors.append(repr(exc))
        lat.append(pc() - t0)
    t_end = time.time()
    cpu = time.process_time() - c0
    await mem.aclose()
    return {"ids": ids, "lat": lat, "errors": errors, "t_start": t_start, "t_end": t_end, "cpu_s": cpu}


# ============================================================================ orchestration
def part_overhead(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    codes = [("old", args.old_code), ("new", None)] if args.old_code else [("new", None)]
    runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for store in args.stores:
            for name, path in codes:
                log(f"--- overhead round {r + 1}: {name} code, {store} store")
                res = run_worker("overhead", code_env(path), tmp / f"ov-{r}-{store}-{name}.json",
                                 "--store", store, "--sizes", ",".join(map(str, args.sizes)),
                                 "--add-at", ",".join(map(str, args.add_at)), "--ops", str(args.ops),
                                 "--warmup", str(args.warmup), "--seed", str(args.seed))
                res |= {"round": r, "name": name}
                log(f"    {res['code']}  {json.dumps({k: round(v['p50_ms'], 3) for k, v in res['rows'].items()})}")
                runs.append(res)
    return {"runs": runs}


def part_check(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out = {}
    codes = [("old", args.old_code), ("new", None)] if args.old_code else [("new", None)]
    for name, path in codes:
        log(f"--- check: {name} code")
        out[name] = run_worker("check", code_env(path), tmp / f"check-{name}.json", "--n", str(args.check_n),
                               "--loops", str(args.loops), "--seed", str(args.seed))
        log(f"    {out[name]}")
    return out


def part_store(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    codes = [("old", args.old_code), ("new", None)] if args.old_code else [("new", None)]
    runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for name, path in codes:
            log(f"--- store round {r + 1}: {name} code")
            res = run_worker("store", code_env(path), tmp / f"store-{r}-{name}.json", "--n", str(args.check_n),
                             "--ops", str(args.ops), "--seed", str(args.seed + r))
            res |= {"round": r, "name": name}
            log(f"    {res['code']}  {json.dumps({k: round(v['p50_ms'], 4) for k, v in res['rows'].items()})}")
            runs.append(res)
    return {"runs": runs}


def part_loop(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    codes = [("old", args.old_code), ("new", None)] if args.old_code else [("new", None)]
    runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for name, path in codes:
            log(f"--- loop round {r + 1}: {name} code")
            res = run_worker("loop", code_env(path), tmp / f"loop-{r}-{name}.json", "--reps", str(args.reps),
                             "--concurrency", str(args.concurrency), "--seed", str(args.seed + r))
            res |= {"round": r, "name": name}
            log(f"    {res['code']}  {json.dumps(res['rounds'][-1])}")
            runs.append(res)
    return {"runs": runs}


def part_catchup(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    log("--- catchup")
    return run_worker("catchup", code_env(None), tmp / "catchup.json", "--base", str(args.base),
                      "--ns", ",".join(map(str, args.ns)), "--reps", str(args.reps),
                      "--reps-large", str(args.reps_large), "--seed", str(args.seed), timeout=1800)


def tput_run(n_proc: int, m: int, embedder: str, tmp: Path) -> dict[str, Any]:
    data = tmp / f"tput-{embedder}-{n_proc}" / "data"
    procs = []
    for i in range(n_proc):
        out = tmp / f"tput-{embedder}-{n_proc}-{i}.json"
        cmd = [sys.executable, str(SCRIPT), "--worker", "tput", "--worker-out", str(out), "--dir", str(data),
               "--m", str(m), "--seed", str(1000 * n_proc + i), "--embedder", embedder]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=code_env(None))
        procs.append((p, out))
    for p, _ in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"writer did not start: {line!r}")
    for p, _ in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p, _ in procs:
        if p.wait(timeout=1800) != 0:
            raise RuntimeError("writer failed")
    res = [json.loads(o.read_text()) for _, o in procs]
    lat = [x for r in res for x in r["lat"]]
    ids = [i for r in res for i in r["ids"]]
    wall = max(r["t_end"] for r in res) - min(r["t_start"] for r in res)
    db = next(data.rglob("mem7.db"))
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    stored = {r[0] for r in con.execute("SELECT id FROM memories")}
    adds = con.execute("SELECT count(*) FROM history WHERE event = 'ADD'").fetchone()[0]
    add_ids = {r[0] for r in con.execute("SELECT memory_id FROM history WHERE event = 'ADD'")}
    con.close()
    return {
        "procs": n_proc, "m": m, "embedder": embedder, "adds": len(lat), "wall_s": wall,
        "adds_per_s": len(lat) / wall, **{k: v for k, v in stats_ms(lat).items() if k != "n"},
        "cpu_ms_per_add": sum(r["cpu_s"] for r in res) / max(len(lat), 1) * 1e3,
        "errors": sum(len(r["errors"]) for r in res), "error_samples": [e for r in res for e in r["errors"]][:3],
        "acknowledged": len(ids), "stored": len(stored), "history_adds": adds,
        "ok": len(ids) == n_proc * m and stored == set(ids) and adds == n_proc * m and add_ids == set(ids),
    }


def part_throughput(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rows = []
    plans = [("hash", n, args.m) for n in args.procs]
    if args.fastembed:
        plans += [("fastembed", n, args.m_fastembed) for n in args.procs]
    for emb, n, m in plans:
        log(f"--- throughput: {n} writers x {m} adds, embedder {emb}")
        row = tput_run(n, m, emb, tmp)
        log(f"    {row}")
        rows.append(row)
    return {"rows": rows}


# ================================================================================== report
def f2(x: float) -> str:
    return f"{x:,.2f}"


def report(args: argparse.Namespace, res: dict[str, Any], total_s: float) -> str:
    from bench._common.machine import blas, cpu_model, git_state, versions

    L = ["# Shared flat store (issue #14): regression, catch-up cost, multi-process throughput", ""]
    L += [f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {versions()}; BLAS {blas()}",
          f"- Code: {git_state()} (new = this working tree" + (f"; old = `{args.old_code}` via PYTHONPATH" if args.old_code else "") + ")",
          f"- Command: `{args.command}`",
          f"- Run time: {total_s:.0f} s", ""]
    ov = res.get("overhead")
    if ov:
        runs = ov["runs"]
        L += ["## 1. No regression: the issue's rows, old code vs new code", "",
              "The overhead bench's setup (mem7-openai embedder over HTTP to the loopback server in its own "
              "process, N memories inserted straight into the store in one scope, hybrid retrieval, "
              f"{args.warmup} warm-up ops, then {args.ops} measured ops, sequential). *memory*: flat without a "
              "path, SQLite history in a temp file (`bench/overhead`'s config). *persisted*: "
              "`MemoryConfig.embedded(dir)` with that embedder (flat with a path, fsync on; history as the "
              "embedded default has it). Each cell: median over the rounds of each run's p50 (ms) (p95, and "
              "the engine process's CPU per op, likewise); the "
              f"runs were interleaved (round by round: {', '.join(dict.fromkeys(r['name'] for r in runs))}).", ""]
        hist = {(r["name"], r["store"]): r.get("history_store") for r in runs}
        L.append("History store class: " + "; ".join(f"{n} {s}: `{h}`" for (n, s), h in hist.items()))
        L.append("")
        keys = list(dict.fromkeys(k for r in runs for k in r["rows"]))
        label = {"search10": "search(limit=10)", "add_verbatim": "add(infer=False)"}
        L += ["| store | row | N in scope | old p50 ms | new p50 ms | new / old | old runs' p50 | new runs' p50 | old p95 ms | new p95 ms | old CPU ms/op | new CPU ms/op | CPU new / old |",
              "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]
        for store in args.stores:
            for k in keys:
                kind, n = k.split("@")
                old = [r["rows"][k] for r in runs if r["name"] == "old" and r["store"] == store and k in r["rows"]]
                new = [r["rows"][k] for r in runs if r["name"] == "new" and r["store"] == store and k in r["rows"]]
                if not new:
                    continue
                mo = statistics.median(x["p50_ms"] for x in old) if old else None
                mn = statistics.median(x["p50_ms"] for x in new)
                ratio = f"{mn / mo:.3f}" if mo else "–"
                L.append(f"| {store} | {label[kind]} | {int(n):,} | {f2(mo) if mo else '–'} | {f2(mn)} | {ratio} | "
                         f"{', '.join(f2(x['p50_ms']) for x in old) or '–'} | {', '.join(f2(x['p50_ms']) for x in new)} | "
                         f"{f2(statistics.median(x['p95_ms'] for x in old)) if old else '–'} | "
                         f"{f2(statistics.median(x['p95_ms'] for x in new))} | "
                         f"{f2(co := statistics.median(x['cpu_ms'] for x in old)) if old else '–'} | "
                         f"{f2(cn := statistics.median(x['cpu_ms'] for x in new))} | "
                         f"{f'{cn / co:.3f}' if old else '–'} |")
        L.append("")
        L.append("Imported code: " + "; ".join(sorted({f"{r['name']}: `{r['code']['mem7_flat']}`" for r in runs})))
        L.append("")
    ck = res.get("check")
    if ck:
        new = ck["new"]
        L += ["## 2a. The cross-process check per operation (nothing changed)", "",
              f"Persisted store (`MemoryConfig.embedded`, hash embedder), {args.check_n:,} memories in one scope; "
              f"each figure is the median of 5 loops of {args.loops:,} calls, µs per call.", "",
              "| call | " + " | ".join(f"{n} code µs" for n in ck) + " |", "|---|" + "---:|" * len(ck)]
        names = list(dict.fromkeys(k for v in ck.values() for k in v["us"]))
        for name in names:
            L.append(f"| {name} | " + " | ".join(f2(v["us"][name]) if name in v["us"] else "–" for v in ck.values()) + " |")
        if "checks_per_op" in new:
            dv_us = new["us"].get("PRAGMA data_version alone", 0)
            L += ["", "Checks per engine op, new code (`_sync` calls on the read paths; `PRAGMA data_version` "
                  "reads, also made by each write transaction after taking the lock):", "",
                  "| op | `_sync()` calls | `PRAGMA data_version` reads | ≈ µs of the op |", "|---|---:|---:|---:|"]
            for k, v in new["checks_per_op"].items():
                L.append(f"| {k} | {v['sync']:.1f} | {v['dv']:.1f} | {v['dv'] * dv_us:.1f} |")
        L.append("")
    st = res.get("store")
    if st:
        runs = st["runs"]
        L += ["## 1a. The store alone: sequential insert of one record, then search (issue 17)", "",
              f"`FlatVectorStore` with a path, {args.check_n:,} rows in one scope, then {args.ops} sequential "
              "`insert([one record])` and as many `search(limit=10)` (each search after the writes: the first "
              "catches up once). fsync off isolates the code's cost from the disk's. Medians over the runs "
              "(interleaved old, new); CPU = the process's CPU (all threads) per call.", "",
              "| call | old p50 µs | new p50 µs | new − old µs | old p95 µs | new p95 µs | old CPU µs | new CPU µs | old runs' p50 µs | new runs' p50 µs |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for key in dict.fromkeys(k for r in runs for k in r["rows"]):
            cell = {n: [r["rows"][key] for r in runs if r["name"] == n] for n in ("old", "new")}
            med = lambda n, k: statistics.median(x[k] for x in cell[n]) * 1e3 if cell[n] else float("nan")  # noqa: E731
            runs_p50 = {n: ", ".join(f"{x['p50_ms'] * 1e3:,.0f}" for x in cell[n]) or "–" for n in cell}
            L.append(f"| {key} | {med('old', 'p50_ms'):,.0f} | {med('new', 'p50_ms'):,.0f} | "
                     f"{med('new', 'p50_ms') - med('old', 'p50_ms'):+,.0f} | {med('old', 'p95_ms'):,.0f} | "
                     f"{med('new', 'p95_ms'):,.0f} | {med('old', 'cpu_ms'):,.0f} | {med('new', 'cpu_ms'):,.0f} | "
                     f"{runs_p50['old']} | {runs_p50['new']} |")
        L.append("")
    lp = res.get("loop")
    if lp:
        runs = lp["runs"]
        L += ["## 1b. The event loop during persisted writes (issue 17)", "",
              f"One engine (`MemoryConfig.embedded`, hash embedder, flat with a path, fsync on), {args.concurrency} "
              "`add(infer=False)` started together (*concurrent*), then one after another (*sequential*), while a "
              "heartbeat task sleeps 1 ms in a loop. *gap*: time between two heartbeats (1 ms when the loop is free); "
              "every other request of the process waits that long. Medians over "
              f"{len(runs) // max(1, len({r['name'] for r in runs}))} runs × {args.reps} batches "
              "(the runs interleaved old, new).", "",
              "| mode | code | heartbeat max gap ms | heartbeat p99 gap ms | heartbeat p50 gap ms | batch wall ms | add p50 ms | add p95 ms |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
        for mode in ("concurrent", "sequential"):
            for name in dict.fromkeys(r["name"] for r in runs):
                rows = [b[mode] for r in runs if r["name"] == name for b in r["rounds"]]
                med = lambda k: statistics.median(x[k] for x in rows)  # noqa: E731
                L.append(f"| {mode} | {name} | {f2(med('gap_max_ms'))} | {f2(med('gap_p99_ms'))} | {f2(med('gap_p50_ms'))} | "
                         f"{f2(med('wall_ms'))} | {f2(med('add_p50_ms'))} | {f2(med('add_p95_ms'))} |")
        L.append("")
        L.append("Imported code: " + "; ".join(sorted({f"{r['name']}: `{r['code']['mem7_flat']}`" for r in runs})))
        L.append("")
    cu = res.get("catchup")
    if cu:
        rows = cu["rows"]
        L += ["## 2b. Catch-up after another process wrote N memories", "",
              f"Reader: one engine (`MemoryConfig.embedded`, hash embedder, hybrid retrieval) on a directory with "
              f"{args.base:,} memories in one scope, warmed up (its BM25 index of the scope built). Writer: a "
              "subprocess that opens the same directory and makes N sequential `add(infer=False)` into that "
              "scope, then exits. Then the reader's next op is timed. *search*: the first `search(limit=10)` "
              "(store catch-up + keyword-index catch-up + the search). *count → search*: `store.count()` first "
              "(the store's catch-up alone: `PRAGMA data_version`, the change log after its seq, applying it to "
              "the matrices), then the search (the keyword index catching up from the store's in-memory feed + "
              "the search). *baseline*: median of 9 searches right after, nothing changed. Medians over the reps.", "",
              "| N written by the other process | reps | first search ms | baseline search ms | catch-up in the search ms | store.count() ms (store catch-up) | search after count ms | index catch-up ms | index rebuilds | writer s (N adds) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n in args.ns:
            s = [r for r in rows if r["n"] == n and r["variant"] == "search"]
            c = [r for r in rows if r["n"] == n and r["variant"] == "count+search"]
            if not s:
                continue
            med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
            base = statistics.median([r["baseline_ms"] for r in s + c])
            L.append(f"| {n:,} | {len(s)} | {f2(med(s, 'first_ms'))} | {f2(base)} | {f2(med(s, 'first_ms') - base)} | "
                     f"{f2(med(c, 'count_ms'))} | {f2(med(c, 'first_ms'))} | {f2(med(c, 'first_ms') - base)} | "
                     f"{sum(r['index_rebuilds'] or 0 for r in s + c)} | {f2(med(s + c, 'writer_s'))} |")
        last = rows[-1]["scope_after"] if rows else 0
        L += ["", f"The scope grows during the run (to {last:,} memories at the end). *index rebuilds*: times the "
              "reader rebuilt the scope's BM25 index from the store instead of applying the changes.", ""]
    tp = res.get("throughput")
    if tp:
        L += ["## 3. Multi-process throughput", "",
              "N writer processes started together on one data directory (`MemoryConfig.embedded(dir)` with "
              "the embedder given; flat with a path, fsync on, history in the same database), each M sequential "
              "`add(infer=False)` into one shared scope (`user_id=shared`). adds/s = all adds / (last end − first "
              "start); latency over every add of every writer; CPU = all writers' CPU / adds. *check*: the "
              "store holds exactly the N×M ids the writers were given and history N×M ADD events for them.", "",
              "| embedder | writers | adds each | adds/s (total) | p50 ms | p95 ms | mean ms | CPU ms/add | errors | stored | history ADD | check |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
        for r in tp["rows"]:
            L.append(f"| {r['embedder']} | {r['procs']} | {r['m']:,} | {r['adds_per_s']:,.0f} | {f2(r['p50_ms'])} | "
                     f"{f2(r['p95_ms'])} | {f2(r['mean_ms'])} | {f2(r['cpu_ms_per_add'])} | {r['errors']} | "
                     f"{r['stored']:,} | {r['history_adds']:,} | {'ok' if r['ok'] else 'FAIL'} |")
        L.append("")
    return "\n".join(L) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="overhead,check,catchup,throughput",
                   help="comma-separated: overhead, check, catchup, throughput, loop, store")
    p.add_argument("--quick", action="store_true", help="a fast smoke run (small sizes, few ops)")
    p.add_argument("--old-code", type=Path, default=None,
                   help="a checkout of the code before the change (git worktree add /tmp/mem7-head HEAD): "
                        "overhead and check also run against it, interleaved")
    p.add_argument("--rounds", type=int, default=3, help="overhead: old/new rounds")
    p.add_argument("--stores", default="memory,persisted", help="overhead: memory, persisted")
    p.add_argument("--sizes", default="1000,10000", help="overhead: memories in scope")
    p.add_argument("--add-at", default="10000", help="overhead: sizes at which add(infer=False) is timed")
    p.add_argument("--ops", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--check-n", type=int, default=10_000)
    p.add_argument("--loops", type=int, default=20_000)
    p.add_argument("--base", type=int, default=10_000, help="catchup: memories in the reader's scope at start")
    p.add_argument("--ns", default="1,100,10000", help="catchup: memories the other process writes")
    p.add_argument("--reps", type=int, default=5, help="catchup: repetitions for N < 1000 (each variant)")
    p.add_argument("--reps-large", type=int, default=2, help="catchup: repetitions for N >= 1000 (each variant)")
    p.add_argument("--concurrency", type=int, default=64, help="loop: concurrent adds per batch")
    p.add_argument("--procs", default="1,2,4", help="throughput: writer processes")
    p.add_argument("--m", type=int, default=500, help="throughput: adds per writer")
    p.add_argument("--fastembed", action="store_true", help="throughput: also with the real fastembed embedder")
    p.add_argument("--m-fastembed", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=None,
                   help=f"report path (default {DEFAULT_OUT.relative_to(ROOT)}; with --quick a temp file, so a "
                        "smoke run never overwrites the results)")
    p.add_argument("--json", type=Path, default=None, help="also dump the raw results here")
    # worker-only
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--store", default="memory", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--user", default="bench-user", help=argparse.SUPPRESS)
    p.add_argument("--embedder", default="hash", help=argparse.SUPPRESS)
    args = p.parse_args()
    ints = lambda s: [int(x) for x in str(s).split(",") if x]  # noqa: E731

    if args.worker:
        args.sizes, args.add_at, args.ns = ints(args.sizes), ints(args.add_at), ints(args.ns)
        if args.worker == "check":
            args.n = args.n or args.check_n
        fn = {"overhead": w_overhead, "check": w_check, "catchup": w_catchup, "write": w_write, "tput": w_tput,
              "loop": w_loop, "store": w_store}[args.worker]
        import logging

        logging.getLogger("mem7").setLevel(logging.ERROR)
        res = asyncio.run(fn(args))
        args.worker_out.write_text(json.dumps(res, default=str))
        return

    args.command = " ".join([".venv/bin/python", os.path.relpath(SCRIPT, ROOT), *sys.argv[1:]])
    if args.quick:
        args.rounds, args.sizes, args.add_at, args.ops, args.warmup = 1, "1000", "1000", 30, 5
        args.check_n, args.loops = 1000, 2000
        args.base, args.ns, args.reps, args.reps_large = 1000, "1,100", 1, 1
        args.procs, args.m = "1,2", 30
        args.m_fastembed = 10
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "mem7-bench-shared-store-quick.md" if args.quick else DEFAULT_OUT
    args.sizes, args.add_at, args.ns, args.procs = ints(args.sizes), ints(args.add_at), ints(args.ns), ints(args.procs)
    args.stores = [s for s in args.stores.split(",") if s]
    if args.old_code is not None:
        args.old_code = args.old_code.resolve()
    parts = [s for s in args.parts.split(",") if s]
    tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-shared-store-"))
    t0 = time.perf_counter()
    res: dict[str, Any] = {}
    for part in parts:
        res[part] = {"overhead": part_overhead, "check": part_check, "catchup": part_catchup,
                     "throughput": part_throughput, "loop": part_loop, "store": part_store}[part](args, tmp)
    total = time.perf_counter() - t0
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    text = report(args, res, total)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():  # keep a hand-written "## Notes" section across re-runs
        old = args.out.read_text(encoding="utf-8")
        if "\n## Notes" in old:
            text = text.rstrip("\n") + "\n\n" + old[old.index("\n## Notes") + 1:]
    args.out.write_text(text, encoding="utf-8")
    log(f"wrote {args.out} ({total:.0f} s)")
    if not all(r["ok"] and not r["errors"] for r in res.get("throughput", {}).get("rows", [])):
        log("throughput check FAILED: store / history do not hold exactly the acknowledged adds")
        sys.exit(1)


if __name__ == "__main__":
    main()
