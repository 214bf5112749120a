"""Engine overhead: add(infer=True) and search() against a loopback OpenAI server answering instantly.

Setup: ``AsyncMemory`` with mem7-flat (no path: in memory), mem7-openai as both LLM and embedder
(384-d) over HTTP to the loopback server (``bench/overhead/loopback.py``, run in its own process so
its CPU time does not share the engine's GIL), SQLite history in a temp file. For each size N, a
fresh engine gets N memories in one scope, then per-op latency (p50 / p95) and the LLM / embedding
calls per op (from the server's request counters) are measured. See ``bench/README.md``::

    .venv/bin/python bench/overhead/bench_overhead.py                 # writes bench/results/overhead.md
    .venv/bin/python bench/overhead/bench_overhead.py --sizes 1000 --ops 50 --no-extras --out /tmp/o.md
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.engine import engine_config  # noqa: E402 - after the sys.path line
from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line
from bench._common.machine import blas, cpu_model, git_state, versions  # noqa: E402 - after the sys.path line
from bench._common.measure import pct  # noqa: E402 - after the sys.path line
from bench._common.text import conversation, corpus, new_fact, query  # noqa: E402 - after the sys.path line

__all__ = ["Loopback", "conversation", "corpus", "corpus_vectors", "engine_config", "new_fact", "pct", "populate", "query"]


# ------------------------------------------------------------------------------------ helpers
def _retrieval_mode(mem: Any) -> str | None:
    """The engine's retrieval mode (``hybrid`` / ``dense`` / ``bm25``), None if it has no such setting."""
    retrieval = getattr(mem.config, "retrieval", None)
    return getattr(retrieval, "mode", None)


def summary(lat: list[float], calls: Counter[str], ops: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return (extra or {}) | {
        "ops": ops,
        "p50_ms": statistics.median(lat) * 1e3,
        "p95_ms": pct(lat, 0.95) * 1e3,
        "mean_ms": statistics.fmean(lat) * 1e3,
        "chat_per_op": calls["chat"] / ops,
        "emb_per_op": calls["embeddings"] / ops,
    }


class Meter:
    """Wall time spent inside provider calls, by wrapping the engine's provider instances' methods."""

    PARTS = (("llm", "LLM calls"), ("embed", "embedding calls"), ("vector", "vector store"), ("history", "history store"))

    def __init__(self, mem: Any) -> None:
        self.t: Counter[str] = Counter()
        self.n: Counter[str] = Counter()
        self._wrap(mem.llm, "generate", "llm")
        self._wrap(mem.embedder, "embed", "embed")
        for name in ("search", "insert", "update", "get", "delete"):
            self._wrap(mem.vector_store, name, "vector")
        for name in ("add_events", "delete_events"):
            self._wrap(mem.history_store, name, "history")

    def _wrap(self, obj: Any, attr: str, label: str) -> None:
        fn = getattr(obj, attr)
        t, n, pc = self.t, self.n, time.perf_counter

        async def timed_call(*a: Any, **k: Any) -> Any:
            t0 = pc()
            try:
                return await fn(*a, **k)
            finally:
                t[label] += pc() - t0
                n[label] += 1

        setattr(obj, attr, timed_call)

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        return Counter(self.t), Counter(self.n)


async def timed(srv: Loopback, fn: Any, inputs: list[Any], meter: Meter | None = None) -> tuple[list[float], Counter[str], list[Any], dict[str, Any]]:
    before = srv.counts()
    m0 = meter.snapshot() if meter else None
    lat: list[float] = []
    outs: list[Any] = []
    pc = time.perf_counter
    cpu0 = time.process_time()
    for x in inputs:
        t0 = pc()
        out = await fn(x)
        lat.append(pc() - t0)
        outs.append(out)
    cpu = time.process_time() - cpu0
    after = srv.counts()
    after.subtract(before)
    ops = len(inputs)
    extra: dict[str, Any] = {"cpu_ms": cpu / ops * 1e3}
    if meter and m0:
        t1, n1 = meter.snapshot()
        parts = {k: (t1[k] - m0[0][k]) / ops * 1e3 for k, _ in Meter.PARTS}
        parts["engine"] = statistics.fmean(lat) * 1e3 - sum(parts.values())
        extra["parts_ms"] = parts
        extra["provider_calls"] = {k: (n1[k] - m0[1][k]) / ops for k, _ in Meter.PARTS}
    return lat, after, outs, extra


# --------------------------------------------------------------------------------- population
async def embed_corpus(srv: Loopback, texts: list[str]) -> Any:
    """Vectors of ``texts`` from the loopback server (batches of 2048), as a float32 matrix."""
    import numpy as np

    from mem7_core.plugins import get_registry

    emb = get_registry().create("embedder", "openai", {
        "base_url": srv.url, "api_key": srv.api_key, "model": "text-embedding-3-small",
        "embedding_dims": 384, "batch_size": 2048, "max_concurrency": 2})
    mat = np.empty((len(texts), 384), dtype=np.float32)
    step = 8192
    try:
        for start in range(0, len(texts), step):
            chunk = texts[start:start + step]
            mat[start:start + len(chunk)] = np.asarray(await emb.embed(chunk, purpose="add"), dtype=np.float32)
    finally:
        await emb.aclose()
    return mat


def _hash_chunk(texts: list[str]) -> bytes:
    import numpy as np

    from mem7_core.testing.fakes import hash_embedding

    return np.asarray([hash_embedding(t, 384) for t in texts], dtype=np.float32).tobytes()


def corpus_vectors(texts: list[str], cache: Path | None) -> tuple[Any, float, str]:
    """The server's embedding of each text, computed here with the very function the server uses
    (``mem7_core.testing.fakes.hash_embedding``, float32), on all cores; cached between runs."""
    import multiprocessing

    import numpy as np

    if cache is not None and cache.exists():
        mat = np.load(cache)
        if mat.shape == (len(texts), 384):
            meta = json.loads(cache.with_suffix(".json").read_text())
            return mat, float(meta["seconds"]), "cache"
    t0 = time.perf_counter()
    step = 2000
    chunks = [texts[i:i + step] for i in range(0, len(texts), step)]
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        parts = pool.map(_hash_chunk, chunks)
    mat = np.frombuffer(b"".join(parts), dtype=np.float32).reshape(len(texts), 384).copy()
    seconds = time.perf_counter() - t0
    if cache is not None:
        np.save(cache, mat)
        cache.with_suffix(".json").write_text(json.dumps({"seconds": seconds}))
    return mat, seconds, "computed"


async def populate(mem: Any, items: list[tuple[str, str]], mat: Any, rows: Any, user_id: str, *, age_from: datetime) -> None:
    """Insert ``items[rows]`` for ``user_id`` straight into the vector store (engine payload layout)."""
    from mem7_core.engine.records import new_payload
    from mem7_core.ids import iso, uuid7
    from mem7_core.models import Scope, VectorRecord

    scope = Scope(user_id=user_id)
    batch: list[Any] = []
    for j, i in enumerate(rows):
        cat, text = items[i]
        now = iso(age_from + timedelta(seconds=j))
        batch.append(VectorRecord(id=uuid7(), vector=mat[i], payload=new_payload(text, scope=scope, now=now, memory_type=cat)))
        if len(batch) == 10_000:
            await mem.vector_store.insert(batch)
            batch = []
    if batch:
        await mem.vector_store.insert(batch)


async def client_floor(srv: Loopback, calls: int = 200, warmup: int = 20) -> dict[str, Any]:
    """Per-call cost of one HTTP call to the instant server: the bare ``openai`` client, and the
    mem7-openai providers the engine uses (p50 wall ms, CPU ms per call in this process)."""
    import openai

    from mem7_core.plugins import get_registry

    client = openai.AsyncOpenAI(base_url=srv.url, api_key=srv.api_key, max_retries=0)
    reg = get_registry()
    conn = {"base_url": srv.url, "api_key": srv.api_key}
    emb = reg.create("embedder", "openai", {**conn, "model": "text-embedding-3-small", "embedding_dims": 384})
    llm = reg.create("llm", "openai", {**conn, "model": "gpt-4.1-nano"})
    msgs = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "hello there"}]
    cases = {
        "openai client: embeddings.create (1 text)": lambda i: client.embeddings.create(
            model="text-embedding-3-small", input=[f"where does user {i} work"], dimensions=384),
        "openai client: chat.completions.create (JSON mode)": lambda i: client.chat.completions.create(
            model="gpt-4.1-nano", messages=msgs, response_format={"type": "json_object"}),
        "mem7-openai: embedder.embed (1 text)": lambda i: emb.embed([f"where does user {i} work"]),
        "mem7-openai: llm.generate (JSON mode)": lambda i: llm.generate(msgs, response_format="json"),
    }
    out: dict[str, Any] = {}
    try:
        for name, call in cases.items():
            for i in range(warmup):
                await call(i)
            lat = []
            c0 = time.process_time()
            for i in range(calls):
                t = time.perf_counter()
                await call(i)
                lat.append(time.perf_counter() - t)
            out[name] = {"p50_ms": statistics.median(lat) * 1e3, "cpu_ms": (time.process_time() - c0) / calls * 1e3}
    finally:
        await client.close()
        await emb.aclose()
        await llm.aclose()
    return out


# ------------------------------------------------------------------------------------ profile
def _where(filename: str) -> str:
    f = filename.replace("\\", "/")
    for mark, label in (("/mem7_core/", "mem7_core"), ("/mem7_flat/", "mem7_flat"), ("/mem7_openai/", "mem7_openai")):
        if mark in f:
            return label
    if "site-packages/" in f:
        return f.split("site-packages/", 1)[1].split("/", 1)[0]
    if f.startswith(("~", "<")):
        return "builtins"
    if "/lib/python3" in f:
        rest = f.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib:" + (rest[1].split(".py")[0] if len(rest) > 1 else "?")
    return "other"


def _short(filename: str, line: int, name: str) -> str:
    f = filename.replace("\\", "/")
    for mark in ("/mem7_core/", "/mem7_flat/", "/mem7_openai/", "site-packages/"):
        if mark in f:
            f = f.split(mark, 1)[1]
            if mark != "site-packages/":
                f = mark.strip("/") + "/" + f
            break
    else:
        if "/lib/python3" in f:
            f = f.split("/lib/python3", 1)[1].split("/", 2)[-1]
    return f"{f}:{line}({name})"


def profile_report(prof: cProfile.Profile, ops: int, top: int = 10) -> dict[str, Any]:
    st = pstats.Stats(prof, stream=io.StringIO())
    raw = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())  # sum of tottime = profiled time
    engine = []
    everything = []
    by_pkg: Counter[str] = Counter()
    for (fn, line, name), (_cc, nc, tt, ct, _callers) in raw.items():
        where = _where(fn)
        by_pkg[where] += tt
        row = (ct, tt, nc, _short(fn, line, name))
        everything.append(row)
        if where.startswith("mem7_"):
            engine.append(row)
    engine.sort(reverse=True)
    by_tt = sorted(everything, key=lambda r: -r[1])
    return {
        "ops": ops,
        "total_ms_per_op": total / ops * 1e3,
        "engine_cum": [
            {"fn": r[3], "cum_ms": r[0] / ops * 1e3, "self_ms": r[1] / ops * 1e3, "calls": r[2] / ops} for r in engine[:top]
        ],
        "self_top": [
            {"fn": r[3], "self_ms": r[1] / ops * 1e3, "cum_ms": r[0] / ops * 1e3, "calls": r[2] / ops} for r in by_tt[:top]
        ],
        "by_pkg": [{"pkg": k, "self_ms": v / ops * 1e3, "share": v / total} for k, v in by_pkg.most_common(12)],
    }


# ------------------------------------------------------------------------------- BLAS spin check
def blas_spin_check(sizes: tuple[int, ...] = (1_000, 2_000, 10_000, 100_000), reps: int = 30) -> list[dict[str, Any]]:
    """numpy alone: one (n × 384) float32 mat-vec, then 2 ms of sleep (as if awaiting I/O), repeated.

    ``idle_cpu_share`` is the process CPU time consumed *during the sleeps* over their wall time:
    ~0 means the process is idle while it waits; ~1 means a BLAS worker thread kept a core busy
    spin-waiting for work that never came.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    m = rng.standard_normal((max(sizes), 384), dtype=np.float32)
    q = rng.standard_normal(384, dtype=np.float32)
    out = []
    for n in sizes:
        a = m[:n]
        a @ q
        times = []
        idle_cpu = idle_wall = 0.0
        for _ in range(reps):
            t = time.perf_counter()
            a @ q
            times.append(time.perf_counter() - t)
            c0, t0 = time.process_time(), time.perf_counter()
            time.sleep(0.002)
            idle_cpu += time.process_time() - c0
            idle_wall += time.perf_counter() - t0
        out.append({"rows": n, "matvec_ms": statistics.median(times) * 1e3, "idle_cpu_share": idle_cpu / idle_wall})
    return out


# ------------------------------------------------------------------------------- construction
def construct_worker() -> dict[str, Any]:
    """In a fresh process: import time, first engine (discovery + plugin imports), warm builds."""
    t0 = time.perf_counter()
    from mem7_core import AsyncMemory
    from mem7_core.plugins import PluginRegistry

    t1 = time.perf_counter()
    import numpy  # noqa: F401  (timed apart: the first build would import them)

    t_np = time.perf_counter()
    import openai  # noqa: F401

    t_oa = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="mem7-bench-")
    cfg = engine_config("http://127.0.0.1:9/v1", "sk-bench", os.path.join(tmp, "h.db"))
    t_b = time.perf_counter()
    engines = [AsyncMemory(cfg)]
    t2 = time.perf_counter()
    fresh, warm, discover = [], [], []
    for _ in range(20):
        a = time.perf_counter()
        reg = PluginRegistry()
        b = time.perf_counter()
        engines.append(AsyncMemory(cfg, registry=reg))
        c = time.perf_counter()
        engines.append(AsyncMemory(cfg))
        d = time.perf_counter()
        discover.append(b - a)
        fresh.append(c - a)
        warm.append(d - c)

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        engines.append(AsyncMemory(cfg))
    prof.disable()
    raw = pstats.Stats(prof, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    top = sorted(((v[2], _short(k[0], k[1], k[2])) for k, v in raw.items()), reverse=True)[:3]

    async def close() -> None:
        for e in engines:
            await e.aclose()

    asyncio.run(close())
    return {
        "build_profile": [{"fn": fn, "share": tt / total, "ms": tt / 5 * 1e3} for tt, fn in top],
        "import_s": t1 - t0,
        "import_numpy_s": t_np - t1,
        "import_openai_s": t_oa - t_np,
        "first_build_s": t2 - t_b,
        "discover_s": statistics.median(discover),
        "fresh_registry_build_s": statistics.median(fresh),
        "warm_build_s": statistics.median(warm),
    }


def construction(runs: int) -> dict[str, Any]:
    res = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, __file__, "--construct-worker"], check=True, capture_output=True,
                             text=True, cwd=ROOT).stdout
        res.append(json.loads(out.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in res) for k in res[0] if k != "build_profile"} | {
        "runs": runs, "build_profile": res[-1]["build_profile"]}


# ------------------------------------------------------------------------------------- the run
async def run(args: argparse.Namespace, srv: Loopback) -> dict[str, Any]:
    import numpy as np

    from mem7_core import AsyncMemory
    from mem7_core.models import Scope

    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    sizes = sorted(args.sizes)
    need = max([*sizes, args.mixed_scope + (args.other_users if args.extras else 0)])
    items = corpus(need, args.seed)
    avoid = {t for _, t in items}
    mat, embed_s, how = corpus_vectors([t for _, t in items], args.corpus_cache)
    log(f"corpus: {len(items):,} vectors ({how}, {embed_s:.1f}s)")
    # The same vectors as the server's? Embed a sample through it and compare.
    sample = list(range(0, len(items), max(1, len(items) // 256)))
    served = await embed_corpus(srv, [items[i][1] for i in sample])
    max_diff = float(np.abs(served - mat[sample]).max())
    if max_diff > 1e-6:
        raise RuntimeError(f"corpus vectors differ from the server's embeddings (max |diff| {max_diff})")
    floor = await client_floor(srv)
    log("client floor: " + "; ".join(f"{k} p50 {v['p50_ms']:.2f} ms, CPU {v['cpu_ms']:.2f} ms" for k, v in floor.items()))
    tmp = tempfile.mkdtemp(prefix="mem7-bench-")
    results: dict[str, Any] = {"client_floor": floor, "embed_corpus_s": embed_s, "corpus_from": how, "corpus": len(items), "sizes": {},
                               "vector_check": {"sampled": len(sample), "max_abs_diff": max_diff},
                               "blas_spin": blas_spin_check(), "load_start": os.getloadavg()}
    base_time = datetime(2024, 1, 1, tzinfo=UTC)
    uid = "bench-user"

    async def build(n_scope: int, others: int = 0, layout: str = "alone") -> Any:
        """A fresh engine holding ``n_scope`` memories of ``uid`` (+ ``others`` of 100-memory users).

        Layouts of the other users' rows: ``runs`` inserts them as alternating batches (100 rows of
        one other user, then a slice of the target's), as bulk imports produce; ``shuffled`` inserts
        every row alone in a random user order, as sequential adds from many users produce (the
        flat store regroups rows by user when enough are scattered).
        """
        mem = AsyncMemory(engine_config(srv.url, srv.api_key, os.path.join(tmp, f"history-{n_scope}-{layout}.db")))
        t = time.perf_counter()
        if not others:
            await populate(mem, items, mat, range(n_scope), uid, age_from=base_time)
            return mem, time.perf_counter() - t
        per_user = 100
        users = others // per_user
        target_rows = np.arange(n_scope)
        other_rows = (np.arange(others) + n_scope) % len(items)
        if layout == "runs":
            chunk = max(1, n_scope // users)
            for u in range(users):
                await populate(mem, items, mat, other_rows[u * per_user:(u + 1) * per_user], f"other-{u:05d}",
                               age_from=base_time)
                await populate(mem, items, mat, target_rows[u * chunk:(u + 1) * chunk], uid,
                               age_from=base_time + timedelta(seconds=u * chunk))
            rest = target_rows[users * chunk:]
            if len(rest):
                await populate(mem, items, mat, rest, uid, age_from=base_time + timedelta(seconds=users * chunk))
        else:
            order = [(uid, int(i)) for i in target_rows] + [
                (f"other-{j // per_user:05d}", int(i)) for j, i in enumerate(other_rows[: users * per_user])]
            random.Random(args.seed + 2).shuffle(order)
            for j, (user, i) in enumerate(order):
                await populate(mem, items, mat, [i], user, age_from=base_time + timedelta(seconds=j))
        return mem, time.perf_counter() - t

    rng = random.Random(args.seed + 1)
    prof_res: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    if args.verbatim_adds and not args.compare:
        # Issue #9 row 1: add(infer=False), N sequential into one scope of a fresh (empty) engine.
        mem = AsyncMemory(engine_config(srv.url, srv.api_key, os.path.join(tmp, "history-verbatim.db")))
        vuid = "bench-verbatim"
        add_v = lambda c: mem.add(c, user_id=vuid, infer=False)  # noqa: E731
        msgs = [[{"role": "user", "content": new_fact(rng)}] for _ in range(args.verbatim_adds)]
        await timed(srv, add_v, msgs[: args.warmup])
        lat, calls, _, ex = await timed(srv, add_v, msgs[args.warmup:], Meter(mem))
        extras["verbatim_seq"] = summary(lat, calls, len(lat), ex) | {
            "stored": await mem.vector_store.count(scope=Scope(user_id=vuid))}
        log(f"add(infer=False) x {len(msgs):,} sequential in one scope: p50 {extras['verbatim_seq']['p50_ms']:.2f} ms, "
            f"CPU {extras['verbatim_seq']['cpu_ms']:.2f} ms/op")
        await mem.aclose()
    for n in sizes:
        mem, pop_s = await build(n)
        meter = Meter(mem)
        ops = args.ops if n < 100_000 else min(args.ops, args.ops_100k)
        log(f"N={n:,}: populated in {pop_s:.2f}s; {ops} ops per measurement")
        add_in = lambda c: mem.add(c, user_id=uid)  # noqa: E731
        add_verb = lambda c: mem.add(c, user_id=uid, infer=False)  # noqa: E731
        s10 = lambda q: mem.search(q, user_id=uid, limit=10)  # noqa: E731
        s100 = lambda q: mem.search(q, user_id=uid)  # noqa: E731
        # warm-up: connections, caches, code paths
        await timed(srv, add_in, [conversation(rng, avoid) for _ in range(args.warmup)])
        await timed(srv, s10, [query(rng) for _ in range(args.warmup)])
        await timed(srv, s100, [query(rng) for _ in range(args.warmup)])
        await timed(srv, add_verb, [[{"role": "user", "content": new_fact(rng)}] for _ in range(args.warmup)])
        before_n = await mem.vector_store.count(scope=Scope(user_id=uid))
        row: dict[str, Any] = {"n": n, "populate_s": pop_s, "scope_at_start": before_n}
        lat, calls, _, ex = await timed(srv, s10, [query(rng) for _ in range(ops)], meter)
        row["search10"] = summary(lat, calls, ops, ex)
        lat, calls, _, ex = await timed(srv, s100, [query(rng) for _ in range(ops)], meter)
        row["search100"] = summary(lat, calls, ops, ex)
        row["retrieval"] = mode = _retrieval_mode(mem)
        if mode not in (None, "dense"):
            # The same store searched by a twin engine in plain dense mode (vector search only).
            cfg = engine_config(srv.url, srv.api_key, os.path.join(tmp, f"history-{n}-dense.db"))
            cfg["retrieval"] = {"mode": "dense"}
            twin = AsyncMemory(cfg, vector_store=mem.vector_store)
            d10 = lambda q: twin.search(q, user_id=uid, limit=10)  # noqa: E731
            await timed(srv, d10, [query(rng) for _ in range(args.warmup)])
            dops = min(ops, 100)
            lat, calls, _, ex = await timed(srv, d10, [query(rng) for _ in range(dops)], Meter(twin))
            row["search10_dense"] = summary(lat, calls, dops, ex)
            await twin.aclose()
        convs = [conversation(rng, avoid) for _ in range(ops)]
        lat, calls, outs, ex = await timed(srv, add_in, convs, meter)
        row["add_infer"] = summary(lat, calls, ops, ex)
        ev: Counter[str] = Counter(r["event"] for o in outs for r in o["results"])
        row["add_infer"]["events"] = dict(ev)
        row["add_infer"]["facts_sent"] = sum(c[0]["content"].count(".") for c in convs) / ops
        lat, calls, _, ex = await timed(srv, add_verb, [[{"role": "user", "content": new_fact(rng)}] for _ in range(ops)], meter)
        row["add_verbatim"] = summary(lat, calls, ops, ex)
        row["scope_at_end"] = await mem.vector_store.count(scope=Scope(user_id=uid))
        log(f"  search(limit=10) p50 {row['search10']['p50_ms']:.2f} ms; search(limit=100) p50 "
            f"{row['search100']['p50_ms']:.2f} ms; add(infer=True) p50 {row['add_infer']['p50_ms']:.2f} ms "
            f"({row['add_infer']['chat_per_op']:.2f} chat, {row['add_infer']['emb_per_op']:.2f} emb /op); "
            f"add(infer=False) p50 {row['add_verbatim']['p50_ms']:.2f} ms")
        results["sizes"][n] = row

        if n == args.profile_at and args.profile and not args.compare:
            pa = cProfile.Profile()
            convs = [conversation(rng, avoid) for _ in range(args.profile_ops)]
            pa.enable()
            for c in convs:
                await mem.add(c, user_id=uid)
            pa.disable()
            ps = cProfile.Profile()
            qs = [query(rng) for _ in range(args.profile_ops)]
            ps.enable()
            for q in qs:
                await mem.search(q, user_id=uid, limit=10)
            ps.disable()
            prof_res = {"n": n, "add": profile_report(pa, args.profile_ops), "search": profile_report(ps, args.profile_ops)}
            log(f"  profiled {args.profile_ops} add(infer=True) and {args.profile_ops} search(limit=10)")

        if n == args.profile_at and args.extras:
            # chat +latency: sequential, then concurrent adds in this scope
            conc = args.concurrency
            reps = args.concurrency_repeats

            async def burst() -> tuple[float, float, Counter[str], list[Any]]:
                before = srv.counts()
                c0, t0 = time.process_time(), time.perf_counter()
                outs = await asyncio.gather(*(mem.add(conversation(rng, avoid), user_id=uid) for _ in range(conc)),
                                            return_exceptions=True)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                calls = srv.counts()
                calls.subtract(before)
                return wall, cpu, calls, outs

            await burst()  # warm-up: the first burst opens `conc` connections per client
            bursts0 = [await burst() for _ in range(reps)]
            extras["concurrent_0ms_wall_s"] = statistics.median(b[0] for b in bursts0)
            extras["concurrent_0ms_cpu_s"] = statistics.median(b[1] for b in bursts0)
            srv.cmd(cmd="chat_latency", value=args.chat_latency)
            await timed(srv, add_in, [conversation(rng, avoid) for _ in range(3)])
            seq_ops = args.latency_ops
            lat, calls, _, ex = await timed(srv, add_in, [conversation(rng, avoid) for _ in range(seq_ops)], meter)
            extras["latency_seq"] = summary(lat, calls, seq_ops, ex)
            bursts = [await burst() for _ in range(reps)]
            srv.cmd(cmd="chat_latency", value=0.0)
            extras["concurrent_wall_s"] = statistics.median(b[0] for b in bursts)
            extras["concurrent_cpu_s"] = statistics.median(b[1] for b in bursts)
            extras["concurrent_walls_s"] = [b[0] for b in bursts]
            extras["concurrent_0ms_walls_s"] = [b[0] for b in bursts0]
            extras["concurrent_calls"] = dict(sum((b[2] for b in bursts), Counter()))
            extras["concurrent_events"] = dict(Counter(r["event"] for b in bursts for o in b[3]
                                                       if not isinstance(o, BaseException) for r in o["results"]))
            # "stored": adds that returned (no exception) and wrote at least one ADD / UPDATE, per burst
            extras["concurrent_ok"] = [sum(1 for o in b[3] if not isinstance(o, BaseException)) for b in bursts]
            extras["concurrent_errors"] = sorted({repr(o)[:200] for b in bursts for o in b[3] if isinstance(o, BaseException)})
            log(f"  chat +{args.chat_latency * 1e3:.0f} ms: add(infer=True) p50 {extras['latency_seq']['p50_ms']:.1f} ms; "
                f"{conc} concurrent adds: {extras['concurrent_wall_s']:.3f}s wall (no added latency: "
                f"{extras['concurrent_0ms_wall_s']:.3f}s), median of {reps}")
        await mem.aclose()

    if args.extras:
        extras["mixed"] = {}
        for layout in ("shuffled", "runs"):
            mem, pop_s = await build(args.mixed_scope, others=args.other_users, layout=layout)
            store = mem.vector_store
            if hasattr(store, "_candidate_rows"):  # bench-only look at the layout (row-major store)
                rows = store._candidate_rows(Scope(user_id=uid))
                layout_info = {"runs": int(1 + np.count_nonzero(np.diff(rows) > 1)), "span": int(rows[-1] - rows[0] + 1)}
            else:  # one column block per user: always one run
                seg = store._segs[uid]
                layout_info = {"runs": 1, "span": int(seg.n)}
            st = store.stats()
            ops = args.ops
            s10 = lambda q: mem.search(q, user_id=uid, limit=10)  # noqa: E731
            await timed(srv, s10, [query(rng) for _ in range(args.warmup)])
            lat, calls, _, ex = await timed(srv, s10, [query(rng) for _ in range(ops)], Meter(mem))
            extras["mixed"][layout] = {"populate_s": pop_s, "stats": st, "search10": summary(lat, calls, ops, ex),
                                       "scanned": store._last_scanned, "layout": layout_info}
            log(f"mixed ({layout}): {args.mixed_scope:,} in scope + {args.other_users:,} others: search(limit=10) p50 "
                f"{extras['mixed'][layout]['search10']['p50_ms']:.2f} ms, vector store "
                f"{ex['parts_ms']['vector']:.2f} ms/op, target rows in {layout_info['runs']} runs over {layout_info['span']:,} rows; "
                f"populated in {pop_s:.1f}s")
            await mem.aclose()
    results["profile"] = prof_res
    results["extras"] = extras
    results["server_errors"] = srv.cmd(cmd="errors")["errors"]
    return results


# ------------------------------------------------------------------------------------- report
# Issue #9's reference figures (measured by the issue's author on these machines, same loopback setup)
# and targets, quoted for the comparison table; only the last columns are measured by this script.
ISSUE9: list[tuple[str, str, str, str]] = [
    ("add(infer=False), {verbatim} sequential in one scope (first {warm} not timed)", "1.36 ms", "3.15 ms", "≤ 1.4 ms"),
    ("search limit 10, 1k memories in scope", "2.60 ms", "13.1 ms", "≤ 1.0 ms"),
    ("search limit 10, 10k in scope", "30.3 ms", "93.1 ms", "≤ 3 ms"),
    ("search, {mixed} in scope + {others} other users' memories in the store", "77 ms", "1,335 ms", "≤ 3 ms"),
    ("add(infer=True), chat answering instantly", "2.51 ms", "9.59 ms", "≤ 2.5 ms"),
    ("add(infer=True), each chat call +50 ms", "106 ms (2 calls)", "63.5 ms (1 call, ADD-only)", "≤ 60 ms"),
    ("{conc} concurrent add(infer=True), chat +50 ms, wall", "175 ms", "1,046 ms", "≤ 175 ms, 64/64 stored"),
    ("engine construction incl. plugin discovery", "2.9 ms", "65 ms", "≤ 50 ms"),
]
_LIMITS = [1.4, 1.0, 3.0, 3.0, 2.5, 60.0, 175.0, 50.0]


def issue_table(args: argparse.Namespace, res: dict[str, Any], cons: dict[str, Any] | None) -> list[str]:
    """The issue's table with this run's p50s in the last columns ("–" where not measured)."""
    ex = res.get("extras") or {}
    sizes = res["sizes"]
    got: list[tuple[float | None, str]] = []
    v = ex.get("verbatim_seq")
    got.append((v["p50_ms"], f"p95 {v['p95_ms']:.2f}; {v['stored']:,} stored") if v else (None, ""))
    for n in (1_000, 10_000):
        s = sizes.get(n, {}).get("search10")
        got.append((s["p50_ms"], f"p95 {s['p95_ms']:.2f}; {res['sizes'][n].get('retrieval') or ''} retrieval")
                   if s else (None, ""))
    mixed = ex.get("mixed") or {}
    if mixed:
        worst = max(mixed, key=lambda k: mixed[k]["search10"]["p50_ms"])
        got.append((mixed[worst]["search10"]["p50_ms"], "worst layout: " + ", ".join(
            f"{k} {m['search10']['p50_ms']:.2f}" for k, m in mixed.items())))
    else:
        got.append((None, ""))
    a = sizes.get(args.profile_at, {}).get("add_infer")
    a1 = sizes.get(min(sizes), {}).get("add_infer") if sizes else None
    got.append((a["p50_ms"], f"{args.profile_at:,} in scope, {a['chat_per_op']:.2f} chat + {a['emb_per_op']:.2f} "
                f"embedding calls/op" + (f"; {min(sizes):,} in scope: {a1['p50_ms']:.2f}" if a1 and a1 is not a else ""))
               if a else (None, ""))
    lat = ex.get("latency_seq")
    got.append((lat["p50_ms"], f"{lat['chat_per_op']:.2f} chat calls/op") if lat else (None, ""))
    if "concurrent_wall_s" in ex:
        ok = ex.get("concurrent_ok") or []
        got.append((ex["concurrent_wall_s"] * 1e3, f"median of {len(ex['concurrent_walls_s'])} bursts; completed "
                    + ", ".join(f"{k}/{args.concurrency}" for k in ok)))
    else:
        got.append((None, ""))
    if cons:
        got.append((cons["fresh_registry_build_s"] * 1e3,
                    f"fresh registry (discovery) + build, modules imported; warm {cons['warm_build_s'] * 1e3:.2f}; "
                    f"first in a fresh process {cons['first_build_s'] * 1e3:.0f} (imports numpy, the plugins)"))
    else:
        got.append((None, ""))
    L = ["## Issue #9 table", "",
         "Reference columns and targets are quoted from issue #9; **mem7** is this run (p50 ms unless said; "
         "the 64-burst row is wall ms).", "",
         "| workload | Rust reference | mem0 2.2.1 | target | mem7 (this run) | met | notes |",
         "|---|---:|---:|---:|---:|:---:|---|"]
    for (label, rust, mem0, target), limit, (val, note) in zip(ISSUE9, _LIMITS, got):
        label = label.format(verbatim=f"{args.verbatim_adds:,}", warm=args.warmup, mixed=f"{args.mixed_scope:,}",
                             others=f"{args.other_users:,}", conc=args.concurrency)
        cell = "–" if val is None else f"{val:.2f}"
        met = "–" if val is None else ("yes" if val <= limit else "no")
        L.append(f"| {label} | {rust} | {mem0} | {target} | {cell} | {met} | {note} |")
    return [*L, ""]


def write_report(args: argparse.Namespace, runs: list[dict[str, Any]], cons: dict[str, Any] | None, total_s: float) -> str:
    f = lambda x: f"{x:.2f}"  # noqa: E731
    for r in runs:
        r["sizes"] = {int(k): v for k, v in r["sizes"].items()}
    res = runs[0]
    mode = next(iter(res["sizes"].values())).get("retrieval") if res["sizes"] else None
    L: list[str] = [
        "# Engine overhead: add(infer=True) and search() against an instant loopback OpenAI server",
        "",
        "`AsyncMemory` with **mem7-flat** (no path: in memory), **mem7-openai** as both LLM and embedder "
        "(384-d, real `openai` client over HTTP/1.1 keep-alive) to the loopback server "
        "`mem7_core.testing.openai_server.OpenAIServer` run **in its own process** "
        "(`bench/overhead/loopback.py`; the engine's process does not share its GIL), SQLite history in a "
        "temp file. The server answers instantly (no added latency unless stated), so these numbers are "
        "the engine's own cost plus HTTP round trips on loopback. All memories in one scope "
        "(`user_id`).",
        "",
        f"- **Population**: {res['corpus']:,} corpus texts (synthetic one-line facts from 12 templates). Their "
        "vectors are **exactly the server's embeddings**, computed in the bench with the function the server "
        "uses (`mem7_core.testing.fakes.hash_embedding`, 384-d float32) on all cores "
        f"({res['embed_corpus_s']:.1f} s when computed; this run: {res.get('corpus_from', '?')}), checked against the server: {res['vector_check']['sampled']} sampled "
        f"texts embedded through it, max |difference| {res['vector_check']['max_abs_diff']:.1e}. They are "
        "inserted straight into the vector store (`vector_store.insert`, batches of 10k) with the engine's "
        "own payload layout (`new_payload`), no history events. Each size gets a fresh engine.",
        "- **add(infer=True)**: a user turn of 1 or 2 fact sentences plus an assistant turn. Extraction is "
        "the server's default rule-based reply (each user sentence → one fact); the update decision is "
        "scripted (`loopback.decide`): per new fact ADD 50 % / UPDATE of a shown candidate 30 % / NONE 20 %, "
        "every other candidate answered NONE, as a real model does. An UPDATE makes one more embedding "
        "call (the merged text). The scope grows by the ADDs during the run (see *scope at start → end*).",
        "- **search**: one query string per call, `limit=10` and the default `limit=100`; no reranker, no scorers. "
        f"Retrieval: the engine's default config, `retrieval.mode = {mode}`"
        + (" (vector search fused with a per-scope BM25 keyword index); *retrieval dense* rows: a twin engine on "
           "the same store with `retrieval.mode = dense` (vector search only)." if mode not in (None, "dense") else "."),
        "- **add(infer=False)**: one user message, stored verbatim (1 embedding call).",
        f"- Per-op latency with `time.perf_counter` around each awaited call, sequential; {args.warmup} warm-up "
        "ops of each kind first. Calls/op from the server's request counters over the measured ops. "
        "*Engine-process CPU* is `time.process_time()` (all threads of the engine's process, BLAS threads "
        "included) over the measured ops; it is less sensitive than wall time to other load on the machine.",
        f"- BLAS threads: {res['threads']} (numpy's OpenBLAS, by environment; mem7-flat itself scores on one "
        "BLAS thread, its `blas_one_thread` default)"
        + ("; see *BLAS threads* below for the comparison." if len(runs) > 1 else "."),
        "",
        *issue_table(args, res, cons),
        "## Results",
        "",
        "| N in scope | op | ops | p50 ms | p95 ms | mean ms | engine-process CPU ms/op | chat calls/op | embedding calls/op |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    kinds = (("add_infer", "add(infer=True)"), ("search10", "search(limit=10)"),
             ("search100", "search(limit=100)"), ("search10_dense", "search(limit=10), retrieval dense"),
             ("add_verbatim", "add(infer=False)"))
    for n, row in sorted(res["sizes"].items()):
        for key, label in kinds:
            if key not in row:
                continue
            s = row[key]
            L.append(f"| {n:,} | {label} | {s['ops']} | {f(s['p50_ms'])} | {f(s['p95_ms'])} | {f(s['mean_ms'])} | "
                     f"{f(s['cpu_ms'])} | {s['chat_per_op']:.2f} | {s['emb_per_op']:.2f} |")
    L += ["", "Where the mean wall time of an op goes (ms/op; provider methods timed by wrapping the engine's "
          "provider instances; *engine* is the rest: the engine's own code, prompt building, parsing, planning, "
          "locks, event-loop scheduling):", "",
          "| N in scope | op | mean | LLM calls | embedding calls | vector store | history store | engine |",
          "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for n, row in sorted(res["sizes"].items()):
        for key, label in kinds:
            if key not in row:
                continue
            s = row[key]
            pt = s["parts_ms"]
            L.append(f"| {n:,} | {label} | {f(s['mean_ms'])} | {f(pt['llm'])} | {f(pt['embed'])} | {f(pt['vector'])} | "
                     f"{f(pt['history'])} | {f(pt['engine'])} |")
    if res.get("client_floor"):
        L += ["", "One HTTP call to the instant server, alone (200 sequential calls each): the floor under every "
              "LLM / embedding call above.", "", "| call | p50 ms | CPU ms/call (this process) |", "|---|---:|---:|"]
        for name, v in res["client_floor"].items():
            L.append(f"| {name} | {f(v['p50_ms'])} | {f(v['cpu_ms'])} |")
    L += ["", "add(infer=True) outcomes and scope size:", ""]
    for n, row in sorted(res["sizes"].items()):
        a = row["add_infer"]
        L.append(f"- N = {n:,}: {a['facts_sent']:.2f} facts sent per add; results {a['events']}; scope "
                 f"{row['scope_at_start']:,} → {row['scope_at_end']:,} memories; populated in {row['populate_s']:.2f} s")
    ex = res.get("extras") or {}
    if ex:
        L += ["", "## For the performance work (same setup)", ""]
        n10 = args.profile_at
        r10 = res["sizes"].get(n10)
        if r10:
            L.append(f"- **add(infer=False)**, sequential, {n10:,} in scope: p50 {f(r10['add_verbatim']['p50_ms'])} ms "
                     f"(p95 {f(r10['add_verbatim']['p95_ms'])} ms), {r10['add_verbatim']['emb_per_op']:.2f} embedding call/op "
                     "(all sizes in the table above).")
        mixed = ex.get("mixed") or {}
        if mixed:
            L.append(f"- **search(limit=10), {args.mixed_scope:,} in scope + {args.other_users:,} other users' memories** "
                     f"({args.other_users // 100:,} users × 100) in the store, {args.ops} ops each"
                     + (f"; the same scope alone in the store: p50 {f(r10['search10']['p50_ms'])} ms, vector store "
                        f"{f(r10['search10']['parts_ms']['vector'])} ms/op" if r10 else "") + ":")
            L += ["", "  | layout of the rows | target's rows: runs / span | p50 ms | p95 ms | vector store ms/op | "
                  "embedding call ms/op | CPU ms/op |", "  |---|---:|---:|---:|---:|---:|---:|"]
            desc = {"shuffled": "every row inserted alone, users in random order (sequential adds of many users)",
                    "runs": "alternating batches: 100 rows of one other user, then 10 of the target's (bulk imports)"}
            for layout, m in mixed.items():
                s = m["search10"]
                L.append(f"  | {layout}: {desc.get(layout, layout)} | {m['layout']['runs']:,} / {m['layout']['span']:,} | "
                         f"{f(s['p50_ms'])} | {f(s['p95_ms'])} | {f(s['parts_ms']['vector'])} | {f(s['parts_ms']['embed'])} | "
                         f"{f(s['cpu_ms'])} |")
            L.append("")
        if cons:
            L.append(f"- **Engine construction** (fresh process, medians of {cons['runs']} runs): `import mem7_core` "
                     f"{cons['import_s'] * 1e3:.0f} ms, then `import numpy` {cons['import_numpy_s'] * 1e3:.0f} ms and "
                     f"`import openai` {cons['import_openai_s'] * 1e3:.0f} ms (timed apart), then the first "
                     f"`AsyncMemory(config)` {cons['first_build_s'] * 1e3:.0f} ms (entry-point discovery, importing "
                     "the plugins, building 4 providers); "
                     f"then, modules imported: `PluginRegistry()` discovery {cons['discover_s'] * 1e3:.2f} ms, "
                     f"build with a fresh registry {cons['fresh_registry_build_s'] * 1e3:.1f} ms, build with the "
                     f"process registry {cons['warm_build_s'] * 1e3:.1f} ms. Where a warm build's time goes (cProfile, "
                     "5 builds, self time): " + "; ".join(f"`{e['fn']}` {e['ms']:.1f} ms/build ({e['share'] * 100:.0f} %)"
                                                         for e in cons.get("build_profile", [])) + ".")
        if "latency_seq" in ex:
            s = ex["latency_seq"]
            lat_ms = args.chat_latency * 1e3
            L.append(f"- **add(infer=True) with every chat call +{lat_ms:.0f} ms** (server-side `asyncio.sleep`; "
                     f"embeddings instant), {n10:,} in scope, sequential: p50 {f(s['p50_ms'])} ms, p95 {f(s['p95_ms'])} ms "
                     f"({s['ops']} ops, {s['chat_per_op']:.2f} chat calls/op → {s['chat_per_op'] * lat_ms:.0f} ms/op is the "
                     "added latency itself).")
            c = ex["concurrent_calls"]
            reps = len(ex["concurrent_walls_s"])
            L.append(f"- **{args.concurrency} concurrent add(infer=True)** (`asyncio.gather`, one scope, {n10:,} memories), "
                     f"chat +{lat_ms:.0f} ms: wall **{ex['concurrent_wall_s'] * 1e3:.0f} ms** (median of {reps} bursts: "
                     f"{', '.join(f'{w * 1e3:.0f}' for w in ex['concurrent_walls_s'])}; "
                     f"{args.concurrency / ex['concurrent_wall_s']:.0f} adds/s; engine-process CPU "
                     f"{ex['concurrent_cpu_s'] * 1e3:.0f} ms per burst = {ex['concurrent_cpu_s'] / args.concurrency * 1e3:.1f} ms/add; "
                     f"per burst {c.get('chat', 0) / reps:.0f} chat + {c.get('embeddings', 0) / reps:.0f} embedding calls). "
                     f"The lower bound set by latency is 2 × {lat_ms:.0f} ms (extraction then decision). The same bursts "
                     f"with no added latency: {ex['concurrent_0ms_wall_s'] * 1e3:.0f} ms "
                     f"({', '.join(f'{w * 1e3:.0f}' for w in ex['concurrent_0ms_walls_s'])}).")
    pr = res.get("profile")
    if pr:
        L += ["", f"## Profiles at N = {pr['n']:,} (cProfile, engine process only)", "",
              f"{pr['add']['ops']} sequential ops of each kind under cProfile (one op is too short to read); times are "
              "per op. cProfile inflates Python-heavy code, so use the shares, not the absolute numbers. The "
              "server's work is in the other process and shows here only as waiting in `select`.", ""]
        for key, title in (("add", "add(infer=True)"), ("search", "search(limit=10)")):
            p = pr[key]
            L += [f"### {title}: {p['total_ms_per_op']:.2f} ms/op profiled", "",
                  "Top 10 cumulative, engine-side (mem7_core / mem7_flat / mem7_openai):", "",
                  "| function | cum ms/op | self ms/op | calls/op |", "|---|---:|---:|---:|"]
            for e in p["engine_cum"]:
                L.append(f"| `{e['fn']}` | {e['cum_ms']:.3f} | {e['self_ms']:.3f} | {e['calls']:.1f} |")
            L += ["", "Self time by package:", "", "| package | self ms/op | share |", "|---|---:|---:|"]
            for e in p["by_pkg"]:
                L.append(f"| {e['pkg']} | {e['self_ms']:.3f} | {e['share'] * 100:.1f} % |")
            L += ["", "Top 10 by self time (any code):", "", "| function | self ms/op | cum ms/op | calls/op |",
                  "|---|---:|---:|---:|"]
            for e in p["self_top"]:
                L.append(f"| `{e['fn']}` | {e['self_ms']:.3f} | {e['cum_ms']:.3f} | {e['calls']:.1f} |")
            L.append("")
    if len(runs) > 1:
        L += ["## BLAS threads", "",
              "The size table and the mixed-store search again, with numpy's BLAS limited "
              "(`OPENBLAS_NUM_THREADS` etc. set before numpy loads); same corpus vectors, fresh engines and server. "
              "p50 wall ms / engine-process CPU ms per op:", ""]
        head = "| N in scope | op | " + " | ".join(f"threads {r['threads']}" for r in runs) + " |"
        L += [head, "|---:|---|" + "---:|" * len(runs)]
        for n in sorted(res["sizes"]):
            for key, label in kinds:
                if key not in res["sizes"][n]:
                    continue
                cells = []
                for r in runs:
                    s = r["sizes"].get(n, {}).get(key)
                    cells.append(f"{f(s['p50_ms'])} / {f(s['cpu_ms'])}" if s else "–")
                L.append(f"| {n:,} | {label} | " + " | ".join(cells) + " |")
        for layout in (res.get("extras") or {}).get("mixed", {}):
            cells = []
            for r in runs:
                m = ((r.get("extras") or {}).get("mixed") or {}).get(layout)
                cells.append(f"{f(m['search10']['p50_ms'])} / {f(m['search10']['cpu_ms'])}" if m else "–")
            L.append(f"| {args.mixed_scope:,} + {args.other_users:,} others ({layout}) | search(limit=10) | "
                     + " | ".join(cells) + " |")
        exs = [r.get("extras") or {} for r in runs]
        if all("latency_seq" in e for e in exs):
            lat_ms = args.chat_latency * 1e3
            L.append(f"| {args.profile_at:,} | add(infer=True), chat +{lat_ms:.0f} ms, sequential | "
                     + " | ".join(f"{f(e['latency_seq']['p50_ms'])} / {f(e['latency_seq']['cpu_ms'])}" for e in exs) + " |")
            L.append(f"| {args.profile_at:,} | {args.concurrency} concurrent add(infer=True), no added latency: wall ms | "
                     + " | ".join(f"{e['concurrent_0ms_wall_s'] * 1e3:.0f}" for e in exs) + " |")
            L.append(f"| {args.profile_at:,} | {args.concurrency} concurrent add(infer=True), chat +{lat_ms:.0f} ms: wall ms | "
                     + " | ".join(f"{e['concurrent_wall_s'] * 1e3:.0f}" for e in exs) + " |")
        L.append("")
        if all(r.get("blas_spin") for r in runs):
            L += ["", "numpy alone (`blas_spin_check`): one (rows × 384) float32 mat-vec, then `time.sleep(0.002)` "
                  "as if awaiting I/O, 30 times. *Idle CPU* is the process's CPU time during the sleeps over their "
                  "wall time: ≈ 0 means the process idles while it waits; ≈ 1 means a BLAS worker thread kept a "
                  "core busy spin-waiting:", "",
                  "| rows | " + " | ".join(f"threads {r['threads']}: mat-vec ms | idle CPU" for r in runs) + " |",
                  "|---:|" + "---:|---:|" * len(runs)]
            for i, row in enumerate(runs[0]["blas_spin"]):
                L.append(f"| {row['rows']:,} | " + " | ".join(
                    f"{r['blas_spin'][i]['matvec_ms']:.3f} | {r['blas_spin'][i]['idle_cpu_share']:.2f}" for r in runs) + " |")
            L.append("")
        L.append("Load average (1 min) at the start of each run: "
                 + ", ".join(f"threads {r['threads']}: {r['load_start'][0]:.2f}" for r in runs) + ".")
        L.append("")
    for r in runs:
        if r.get("engine_log"):
            L += [f"Engine log records during the run with threads {r['threads']} (counted, not printed): "
                  + "; ".join(f"`{k}` × {v}" for k, v in r["engine_log"].items())
                  + ". (UPDATEs losing a race inside the concurrent bursts, as designed.)", ""]
        if r.get("server_errors"):
            L += ["", f"Server errors during the run (threads {r['threads']}): {r['server_errors']}", ""]
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    command = "cd " + str(ROOT) + " && .venv/bin/python bench/overhead/bench_overhead.py" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    L += [
        "## Machine",
        "",
        f"- CPU: {cpu_model()}",
        f"- nproc: {nproc} (engine and server processes share them)",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        f"- {versions()}; BLAS: {blas()}",
        f"- OS: {platform.platform()}",
        f"- code: {git_state()}",
        f"- load average when written: {', '.join(f'{x:.2f}' for x in load)} (a shared machine: expect noise)",
        f"- total bench run time: {total_s:.0f} s",
        "",
        "## Command",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(L)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000, 10_000],
                   help="comma list of memories in the scope (default 1000,10000; add 100000 for the large scope)")
    p.add_argument("--verbatim-adds", type=int, default=10_000,
                   help="sequential add(infer=False) into one fresh scope (issue #9 row 1; 0 skips)")
    p.add_argument("--ops", type=int, default=200, help="measured ops per kind and size")
    p.add_argument("--ops-100k", type=int, default=100, help="cap on --ops for sizes >= 100k")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--profile-at", type=int, default=10_000, help="size at which to profile and run the extras")
    p.add_argument("--profile-ops", type=int, default=20)
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument("--no-extras", dest="extras", action="store_false",
                   help="skip mixed-store search, chat latency, concurrency and construction time")
    p.add_argument("--mixed-scope", type=int, default=10_000)
    p.add_argument("--other-users", type=int, default=100_000)
    p.add_argument("--chat-latency", type=float, default=0.05, help="seconds added to each chat call (extras)")
    p.add_argument("--latency-ops", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--concurrency-repeats", type=int, default=3, help="bursts per setting (median reported)")
    p.add_argument("--construct-runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "overhead.md")
    p.add_argument("--json", type=Path, default=None, help="also dump the raw results here")
    p.add_argument("--blas-threads", default="default",
                   help="comma list: one run per value (OPENBLAS/OMP/MKL_NUM_THREADS; 'default' leaves the "
                        "libraries' choice); the first is the full run, the others repeat the size table and "
                        "the mixed-store search only")
    p.add_argument("--construct-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--compare", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--corpus-cache", type=Path, default=None,
                   help="where to keep the corpus vectors between runs (default: the temp dir)")
    args = p.parse_args()
    if args.construct_worker:
        print(json.dumps(construct_worker()))
        return
    if args.worker:
        import logging

        class _Count(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                key = f"{record.levelname}: {record.msg if isinstance(record.msg, str) else record.getMessage()}"
                warnings[key] = warnings.get(key, 0) + 1

        warnings: dict[str, int] = {}
        mem7_log = logging.getLogger("mem7")
        mem7_log.addHandler(_Count())  # counted for the report instead of printed
        mem7_log.propagate = False
        srv = Loopback()
        try:
            res = asyncio.run(run(args, srv))
        finally:
            srv.stop()
        res["engine_log"] = warnings
        args.worker_out.write_text(json.dumps(res, default=str))
        return

    t0 = time.perf_counter()
    cons = construction(args.construct_runs) if args.extras else None
    tmp = Path(tempfile.mkdtemp(prefix="mem7-bench-overhead-"))
    runs: list[dict[str, Any]] = []
    for i, threads in enumerate(args.blas_threads.split(",")):
        env = dict(os.environ)
        if threads != "default":
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = threads
        out = tmp / f"run-{i}.json"
        cache = args.corpus_cache or Path(tempfile.gettempdir()) / f"mem7-bench-overhead-corpus-{args.seed}.npy"
        cmd = [sys.executable, __file__, "--worker", "--worker-out", str(out), "--corpus-cache", str(cache),
               "--sizes", ",".join(map(str, args.sizes))]
        for name in ("ops", "ops_100k", "warmup", "seed", "profile_at", "profile_ops", "mixed_scope", "other_users",
                     "verbatim_adds",
                     "chat_latency", "latency_ops", "concurrency", "concurrency_repeats"):
            cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        if not args.profile:
            cmd.append("--no-profile")
        if not args.extras:
            cmd.append("--no-extras")
        if i:
            cmd.append("--compare")
        print(f"--- run {i + 1}: BLAS threads {threads}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        res = json.loads(out.read_text())
        res["threads"] = threads
        runs.append(res)
    total = time.perf_counter() - t0
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "construction": cons}, indent=1, default=str))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = write_report(args, runs, cons, total)
    if args.out.exists():  # keep a hand-written "## Notes" section across re-runs
        old = args.out.read_text(encoding="utf-8")
        if "\n## Notes" in old:
            report = report.rstrip("\n") + "\n\n" + old[old.index("\n## Notes") + 1:]
    args.out.write_text(report, encoding="utf-8")
    print(f"wrote {args.out} ({total:.0f} s)")


if __name__ == "__main__":
    main()
