"""REST server throughput (issue #19 part C): ``mem7 serve`` with 1 and 4 workers under 32 clients.

Three kinds of process, so each one's CPU is counted apart:

- the loopback OpenAI-compatible server (``bench/overhead/loopback.py``: hash embeddings, instant);
- ``mem7 serve --workers N`` (the real console script) on a fresh temp data dir: the embedded
  default (flat store persisted in the data dir, history in its database) with mem7-openai as LLM
  and embedder pointed at the loopback server (a config file over the embedded default);
- the load generator (``bench/rest/loadgen.py``): 32 concurrent clients, closed loop.

Per run (one data dir, one server): warm-up (adds in another scope, then searches), **add**:
``--adds`` ``POST /memories`` with ``infer: false`` into one scope; **check**: ``GET /memories`` of
that scope on fresh connections until every worker has answered, each answer compared with the
acknowledged adds (every id exactly once, nothing else); **search**: ``--searches``
``POST /memories/search`` (``limit: 10``) in that scope (``--adds`` memories), after a warm-up
search per connection. CPU seconds of the server's processes (the command and its workers), of the
loopback server and of the generator are read around each measured phase (psutil /
``getrusage``); *cores used* = server CPU s / wall s, *rps per core* = requests / server CPU s.

    .venv/bin/python bench/rest/bench_rest.py                 # writes bench/results/rest.md
    .venv/bin/python bench/rest/bench_rest.py --quick         # smoke run, report to a temp file
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import Loopback  # noqa: E402
from bench._common.machine import blas, cpu_model, git_state, versions  # noqa: E402
from bench._common.measure import pct  # noqa: E402

LISTENING = re.compile(r"mem7 serve: listening on (http://\S+)")
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
GCSTATS = Path(__file__).resolve().parent / "gcstats"
SCOPE = "bench"


def _mem7() -> str:
    exe = Path(sys.executable).parent / "mem7"
    return str(exe) if exe.exists() else "mem7"


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_env(code: str | None, gc_dir: Path | None = None) -> dict[str, str]:
    """The server's environment: no MEM7_* / OPENAI_* settings; ``code`` first on PYTHONPATH (old code);
    with ``gc_dir``, each of the server's processes writes its garbage collections there (``gcstats/``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM7_", "OPENAI_"))}
    path = [p for p in (code, str(GCSTATS) if gc_dir else None, env.get("PYTHONPATH")) if p]
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    if gc_dir:
        env["BENCH_GC_STATS_DIR"] = str(gc_dir)
    return env


def gc_totals(gc_dir: Path) -> dict[str, float]:
    """The server processes' garbage collections (``gcstats/sitecustomize.py``), summed."""
    files = [json.loads(f.read_text()) for f in sorted(gc_dir.glob("gc.*.json"))]
    return {
        "full": sum(f["count"][2] for f in files), "full_s": sum(f["seconds"][2] for f in files),
        "longest_full_ms": max((f["longest_full_ms"] for f in files), default=0.0),
        "all_s": sum(sum(f["seconds"]) for f in files),
    }


def imported_rest(code: str | None) -> str:
    """The ``mem7_core/server/rest.py`` a server started with ``server_env(code)`` imports."""
    out = subprocess.run([sys.executable, "-c", "import mem7_core.server.rest as r; print(r.__file__)"],
                         env=server_env(code), capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return out.stdout.strip()


class Server:
    """``mem7 serve --workers N --port 0`` on ``data_dir`` with ``config``; SIGTERM on stop."""

    def __init__(self, config: Path, data_dir: Path, workers: int, code: str | None = None,
                 gc_dir: Path | None = None) -> None:
        env = server_env(code, gc_dir)
        self.cmd = [_mem7(), "serve", "--config", str(config), "--data-dir", str(data_dir), "--port", "0",
                    "--workers", str(workers)]
        self.proc = subprocess.Popen(self.cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = LISTENING.search(line)
                if m and not self.url:
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        if not ready.wait(120) or not self.url:
            self.stop()
            raise RuntimeError("mem7 serve did not start:\n" + "\n".join(self.lines))
        root = psutil.Process(self.proc.pid)
        self.procs = [root, *root.children(recursive=True)]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.reader.join(5)
        return code


def loadgen(url: str, op: str, n: int, concurrency: int, out: Path, *, user_id: str = SCOPE, tag: str = "0",
            seed: int = 7) -> dict[str, Any]:
    subprocess.run([sys.executable, str(LOADGEN), "--url", url, "--op", op, "--requests", str(n),
                    "--concurrency", str(concurrency), "--user-id", user_id, "--tag", tag, "--seed", str(seed),
                    "--out", str(out)], check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def measured(srv: Server, lb: Loopback, op: str, n: int, concurrency: int, out: Path, **kw: Any) -> dict[str, Any]:
    lb_proc = psutil.Process(lb.proc.pid)
    s0, l0, m0, t0 = _cpu_s(srv.procs), _cpu_s([lb_proc]), _machine_busy_s(), time.monotonic()
    g0 = _children_cpu_s()
    res = loadgen(srv.url, op, n, concurrency, out, **kw)
    gen_total = _children_cpu_s() - g0  # the generator process's whole life (start-up included)
    res["server_cpu_s"] = _cpu_s(srv.procs) - s0  # includes the generator's start-up wait: idle, no CPU
    res["loopback_cpu_s"] = _cpu_s([lb_proc]) - l0
    # Everything else the machine ran meanwhile (other users' processes), in cores over the whole
    # call: the noise next to the measurement.
    res["other_cores"] = max(0.0, (_machine_busy_s() - m0 - res["server_cpu_s"] - res["loopback_cpu_s"]
                                   - gen_total) / (time.monotonic() - t0))
    per_proc = {}
    for p in srv.procs:
        try:
            per_proc[p.pid] = p.cpu_times().user + p.cpu_times().system
        except psutil.NoSuchProcess:
            pass
    res["server_cpu_by_pid_total"] = per_proc
    return res


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # the children waited for: the generators
    return r.ru_utime + r.ru_stime


def _machine_busy_s() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


def check_counts(url: str, acked: list[list[str]], workers: int, attempts: int = 64) -> dict[str, Any]:
    """``GET /memories`` of the scope on fresh connections until every worker answered; each compared."""
    want = dict(acked)
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(attempts):
        with httpx.Client(base_url=url, timeout=60) as c:  # a fresh connection: the kernel picks the worker
            r = c.get("/memories", params={"user_id": SCOPE, "limit": 10000})
        r.raise_for_status()
        who = r.headers.get("x-mem7-worker", "single")
        if who in seen:
            if len(seen) >= workers:
                break
            continue
        items = r.json()["results"]
        ids = [m["id"] for m in items]
        texts = [m["memory"] for m in items]
        seen[who] = {
            "count": len(items),
            "distinct_ids": len(set(ids)),
            "missing": len(set(want) - set(ids)),
            "unexpected": len(set(ids) - set(want)),
            "text_mismatch": sum(1 for m in items if m["id"] in want and want[m["id"]] != m["memory"]),
            "duplicate_texts": len(texts) - len(set(texts)),
        }
        if len(seen) >= workers:
            break
    ok = len(seen) == workers and len(want) == len(acked) and all(
        v["count"] == len(want) == v["distinct_ids"] and not (v["missing"] or v["unexpected"] or v["text_mismatch"]
                                                              or v["duplicate_texts"])
        for v in seen.values()
    )
    return {"acknowledged": len(want), "acked_distinct": len(want) == len(acked), "by_worker": seen, "ok": ok}


def config_file(path: Path, url: str, api_key: str, *, fsync: bool = True) -> Path:
    # Over the embedded default (flat store persisted in --data-dir, history in its database): only
    # the LLM and the embedder change, to mem7-openai on the loopback server (384-d like the default),
    # with its default request path (the SDK's public API).
    conn = {"base_url": url, "api_key": api_key}
    config: dict[str, Any] = {
        "llm": {"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}},
        "embedder": {"provider": "openai",
                     "config": {**conn, "model": "text-embedding-3-small", "embedding_dims": 384}},
    }
    if not fsync:  # diagnostic: is add bound by the disk's flush?
        config["vector_store"] = {"config": {"fsync": False}}
    path.write_text(json.dumps(config))
    return path


def one_run(lb: Loopback, workers: int, args: argparse.Namespace, tmp: Path, rnd: int, code: str) -> dict[str, Any]:
    data = tmp / f"data-{code}-w{workers}-r{rnd}"
    cfg = config_file(tmp / "mem7.json", lb.url, lb.api_key, fsync=args.fsync)
    gc_dir = tmp / f"gc-{code}-w{workers}-r{rnd}"
    gc_dir.mkdir()
    srv = Server(cfg, data, workers, args.old_code if code == "old" else None, gc_dir)
    try:
        out = tmp / "lg.json"
        loadgen(srv.url, "add", args.warmup, args.concurrency, out, user_id="warmup", tag=f"w{rnd}")
        loadgen(srv.url, "search", args.warmup, args.concurrency, out, user_id="warmup")
        add = measured(srv, lb, "add", args.adds, args.concurrency, out, tag=f"r{rnd}", seed=11 + rnd)
        counts = check_counts(srv.url, add["acked"], workers)
        loadgen(srv.url, "search", args.warmup, args.concurrency, out, seed=99)  # scope's keyword index built
        search = measured(srv, lb, "search", args.searches, args.concurrency, out, seed=5 + rnd)
        counts_after = check_counts(srv.url, add["acked"], workers)
    finally:
        exit_code = srv.stop()
    return {"code": code, "workers": workers, "round": rnd, "add": add, "search": search, "counts": counts,
            "counts_after_search": counts_after, "exit_code": exit_code, "stderr_tail": srv.lines[-5:],
            "processes": len(srv.procs), "command": " ".join(srv.cmd), "gc": gc_totals(gc_dir)}


def summary(r: dict[str, Any]) -> dict[str, Any]:
    lat = r["latencies_ms"]
    n = r["requests"]
    return {
        "rps": n / r["wall_s"], "server_cpu_s": r["server_cpu_s"], "cores": r["server_cpu_s"] / r["wall_s"],
        "rps_per_core": n / r["server_cpu_s"] if r["server_cpu_s"] else float("nan"),
        "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "errors": sum(r["errors"].values()),
        "error_kinds": r["errors"], "gen_cpu_s": r["cpu_s"], "gen_cores": r["cpu_s"] / r["wall_s"],
        "loopback_cores": r["loopback_cpu_s"] / r["wall_s"], "wall_s": r["wall_s"], "n": n,
        "other_cores": r["other_cores"],
        "by_worker": r["workers"],
    }


def _med(ss: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(s[key] for s in ss))


def _check_text(counts: list[dict[str, Any]], workers: int) -> str:
    """"ok" when every worker asked listed exactly the acknowledged adds; says so when not every worker
    was reached (the count check's fresh connections all went to fewer workers)."""
    def consistent(c: dict[str, Any]) -> bool:
        return c["acked_distinct"] and all(
            v["count"] == c["acknowledged"] == v["distinct_ids"]
            and not (v["missing"] or v["unexpected"] or v["text_mismatch"] or v["duplicate_texts"])
            for v in c["by_worker"].values()
        )

    if not all(consistent(c) for c in counts):
        return "**FAILED**"
    reached = [len(c["by_worker"]) for c in counts]
    if all(n == workers for n in reached):
        return "ok"
    return "ok; workers reached: " + ", ".join(f"{n} of {workers}" for n in reached)


def _cell_rows(runs: list[dict[str, Any]], codes: list[str]) -> list[str]:
    rows = []
    for code in codes:
        for w in sorted({r["workers"] for r in runs}):
            mine = [r for r in runs if r["workers"] == w and r["code"] == code]
            for op in ("add", "search"):
                ss = [summary(r[op]) for r in mine]
                counts = [r["counts"] if op == "add" else r["counts_after_search"] for r in mine]
                count_txt = "; ".join(
                    "/".join(str(v["count"]) for v in c["by_worker"].values()) + f" of {c['acknowledged']}"
                    for c in counts
                )
                ok = _check_text(counts, w)
                spread = "; ".join(
                    "/".join(str(n) for n in sorted(s["by_worker"].values(), reverse=True)) for s in ss
                ) if w > 1 else "–"
                rows.append(
                    f"| {code} | {w} | {op} | {_med(ss, 'rps'):,.0f} | {_med(ss, 'cores'):.2f} | "
                    f"{_med(ss, 'rps_per_core'):,.0f} | {_med(ss, 'p50'):.1f} | {_med(ss, 'p99'):.1f} | "
                    f"{sum(s['errors'] for s in ss)} | {_med(ss, 'gen_cores'):.2f} | {_med(ss, 'loopback_cores'):.2f} | "
                    f"{_med(ss, 'other_cores'):.2f} | {spread} | {count_txt} | {ok} |"
                )
    return rows


def report(runs: list[dict[str, Any]], args: argparse.Namespace, elapsed: float, codes: dict[str, str]) -> str:
    argv = sys.argv[1:]
    if "--from-json" in argv:  # re-rendered: the command that measured, less the re-rendering
        i = argv.index("--from-json")
        argv = argv[:i] + argv[i + 2:]
    cmd = "bench/rest/bench_rest.py " + " ".join(argv)
    tmp = str(Path(tempfile.gettempdir()))
    lines = [
        "# REST server throughput (issue #19 part C): `mem7 serve`, 1 and 4 workers, 32 clients",
        "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; Python {platform.python_version()}; "
        f"{versions()}; BLAS {blas()}",
        f"- Code: {git_state()}" + "".join(f"; *{c}* imports `{f}`" for c, f in codes.items()),
        f"- Command: `.venv/bin/python {cmd.strip()}`",
        f"- Server: `{runs[0]['command'].replace(tmp, '$TMP')}` (and `--workers 4`), started from `$TMP`; "
        "config over the embedded default: flat store persisted in the temp data dir, history in its "
        f"database (flat `fsync: {str(args.fsync).lower()}`); mem7-openai LLM and embedder (384-d, default "
        "request path) on the loopback server (`bench/overhead/loopback.py`, own process); no tokens",
        f"- Load: `bench/rest/loadgen.py`, its own process: {args.concurrency} concurrent clients "
        "(asyncio tasks over one httpx pool of as many keep-alive connections), closed loop; "
        f"add = {args.adds:,} `POST /memories` `infer: false` into one empty scope, distinct texts; "
        f"search = {args.searches:,} `POST /memories/search` `limit: 10` in that scope ({args.adds:,} memories); "
        f"{args.warmup} warm-up requests of each kind first. Rounds: {args.rounds}, the variants interleaved "
        "in each, a fresh data dir and server per run; each cell is the median over the rounds",
        f"- Run time: {elapsed:.0f} s" if elapsed == elapsed else "- Run time: (report re-rendered from the run's JSON)",
        "",
        "*rps*: requests / wall time of the phase. *server cores*: CPU seconds of the server's processes "
        "(`mem7 serve` and its workers, psutil) / wall seconds; *rps/core*: requests / server CPU seconds. "
        "*gen*, *loopback*: cores used by the load generator and by the loopback OpenAI server; *other*: "
        "cores the rest of the machine used meanwhile (other processes: noise). Latency is the client's, "
        "request sent → response read. *spread*: requests answered by each worker (`X-Mem7-Worker`). "
        "*final count*: `GET /memories` of the scope asked on fresh connections until every worker "
        "answered, each worker's count / acknowledged adds; *check*: every worker lists exactly the "
        "acknowledged ids, each once, with its text.",
        "",
        "| code | workers | op | rps | server cores | rps/core | p50 ms | p99 ms | errors | gen | loopback | "
        "other | spread | final count | check |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
        *_cell_rows(runs, list(codes)),
        "",
        "Per run:",
        "",
    ]
    for r in runs:
        for op in ("add", "search"):
            s = summary(r[op])
            lines.append(
                f"- {r['code']}, {r['workers']} workers, round {r['round']}, {op}: {s['rps']:,.0f} rps, "
                f"p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms, server {s['server_cpu_s']:.2f} CPU s over "
                f"{s['wall_s']:.2f} s, other {s['other_cores']:.2f} cores; answered by {s['by_worker']}; "
                f"errors {s['error_kinds'] or 'none'}"
            )
        lines.append(f"  - exit code {r['exit_code']}; last line: {r['stderr_tail'][-1:]}")
        if "gc" in r:  # runs from before the server's collections were counted have none
            g = r["gc"]
            lines.append(f"  - garbage collector, the server's processes over the whole run: {g['full']} full "
                         f"collections, {g['full_s']:.2f} s (longest {g['longest_full_ms']:.0f} ms); all "
                         f"generations {g['all_s']:.2f} s")
    return "\n".join(lines) + "\n"


def _notes(out: Path) -> str:
    """The hand-written ``## Notes`` section of an existing report (kept when it is rewritten)."""
    if out.exists() and "\n## Notes" in out.read_text():
        return "\n## Notes" + out.read_text().split("\n## Notes", 1)[1]
    return ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", default="1,4", help="worker counts to run, comma-separated")
    p.add_argument("--adds", type=int, default=5000, help="measured adds per run (= memories in the searched scope)")
    p.add_argument("--searches", type=int, default=4000, help="measured searches per run")
    p.add_argument("--warmup", type=int, default=300, help="warm-up requests of each kind")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--old-code", default="",
                   help="a directory put first on the server's PYTHONPATH (a copy of mem7_core with the old "
                        "code): runs it too, as *old*, interleaved with this tree's (*new*)")
    p.add_argument("--no-fsync", dest="fsync", action="store_false",
                   help="diagnostic: the flat store without fsync (is add bound by the disk's flush?)")
    p.add_argument("--quick", action="store_true", help="small sizes, one round, report to a temp file")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "rest.md"))
    p.add_argument("--json", default="", help="also write the raw results here")
    p.add_argument("--from-json", default="", help="write the report from a --json file of an earlier run (the "
                   "other options must match it; Code and Run time are those of now)")
    args = p.parse_args()
    if args.from_json:
        runs: list[dict[str, Any]] = json.loads(Path(args.from_json).read_text())
        codes = {"new": imported_rest(None), **({"old": imported_rest(args.old_code)} if args.old_code else {})}
        Path(args.out).write_text(report(runs, args, float("nan"), codes) + _notes(Path(args.out)))
        print(f"wrote {args.out}")
        return
    if args.quick:
        args.adds, args.searches, args.warmup, args.rounds = 600, 600, 64, 1
        if args.out == p.get_default("out"):
            args.out = str(Path(tempfile.gettempdir()) / "mem7-rest-quick.md")
    codes = {"new": imported_rest(None)}
    if args.old_code:
        codes["old"] = imported_rest(args.old_code)
        if codes["old"] == codes["new"]:
            p.error(f"--old-code {args.old_code}: the server would import the same mem7_core ({codes['new']})")
    started = time.monotonic()
    lb = Loopback()
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="mem7-rest-") as tmp:
            for rnd in range(args.rounds):
                for w in (int(x) for x in args.workers.split(",")):
                    for code in (codes if rnd % 2 == 0 else reversed(codes)):
                        run = one_run(lb, w, args, Path(tmp), rnd, code)
                        for op in ("add", "search"):
                            run[op].pop("acked", None)
                            s = summary(run[op])
                            print(f"{code} workers={w} round={rnd} {op}: {s['rps']:.0f} rps, {s['cores']:.2f} cores, "
                                  f"p50 {s['p50']:.1f} p99 {s['p99']:.1f} ms, other {s['other_cores']:.2f}, "
                                  f"errors {s['error_kinds']}, by worker {s['by_worker']}", flush=True)
                        print(f"  counts ok={run['counts']['ok']} / {run['counts_after_search']['ok']}", flush=True)
                        runs.append(run)
    finally:
        lb.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(runs))
    text = report(runs, args, time.monotonic() - started, codes)
    out = Path(args.out)
    out.write_text(text + _notes(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
