"""An engine per request: what a web handler or a job runner that builds its engine for each request
pays, before and after a change, over plain HTTP and over TLS.

Each request builds ``AsyncMemory`` (mem7-openai LLM and embedder, mem7-flat in memory, SQLite
history), stores one sentence (``add(infer=False)``: one embedding call), searches it (one more),
and closes the engine (``aclose()``), all on one event loop, one request after another. Reported per
request: wall p50 / p99, and the new connections the server accepted (a fresh engine that opens its
own connection pays a TCP connect, and over TLS a handshake, that a shared keep-alive connection
does not: ``mem7_openai/_aio.py``'s per-loop pool).

The server is ``mem7_core.testing.openai_server`` in a process of its own (``server.py`` beside this
file), over HTTPS with a self-signed certificate made at run time (``openssl req``; the workers trust
it through ``SSL_CERT_FILE``). Each tree runs in a worker process of its own (``--before TREE``: a
copy of the repository, ``git archive <rev> | tar -x -C TREE``, imported first through
``PYTHONPATH``), rounds alternating the trees' order::

    .venv/bin/python bench/engine_per_request/bench_engine_per_request.py --before /tmp/head --rounds 8
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("server.py")


async def _requests(url: str, n: int, history: str) -> list[float]:
    from mem7_core import AsyncMemory

    conn = {"api_key": "sk-bench", "base_url": url}
    cfg = {"llm": {"provider": "openai", "config": conn},
           "embedder": {"provider": "openai", "config": {**conn, "model": "bench-emb", "embedding_dims": 384}},
           "vector_store": {"provider": "flat", "config": {}}, "history_db_path": history}
    walls = []
    for i in range(n):
        t0 = time.perf_counter()
        mem = AsyncMemory(cfg)
        await mem.add(f"I parked the blue bike at dock {i}", user_id=f"u{i % 8}", infer=False)
        hits = await mem.search("where is the blue bike", user_id=f"u{i % 8}", limit=3)
        await mem.aclose()
        walls.append((time.perf_counter() - t0) * 1e3)
        assert hits["results"], "the memory just stored was not found"
    return walls


def worker() -> None:
    """Read ``{"url", "n"}`` lines, answer each with the requests' walls (ms); one event loop for all."""
    history = os.path.join(tempfile.mkdtemp(prefix="mem7-epr-"), "h.db")
    loop = asyncio.new_event_loop()
    print(json.dumps({"hello": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        print(json.dumps({"walls": loop.run_until_complete(_requests(cmd["url"], cmd["n"], history))}), flush=True)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def _certificate(where: Path) -> tuple[Path, Path]:
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, default=None, help="a copy of the repository at an older commit")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--requests", type=int, default=50, help="requests per tree per round")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker()
    # Imported here, not at the top: a worker imports nothing of this repository's but the engine,
    # from the tree it measures (PYTHONPATH: a copy's own bench/ would shadow this one's).
    sys.path.insert(0, str(ROOT))
    from bench._common.loopback import Loopback
    from bench._common.procs import Child, code_path

    tmp = Path(tempfile.mkdtemp(prefix="mem7-epr-"))
    cert, key = _certificate(tmp)
    servers = {"http": Loopback(SERVER), "https": Loopback(SERVER, "--tls-cert", str(cert), "--tls-key", str(key))}
    env = {**os.environ, "SSL_CERT_FILE": str(cert)}
    trees = {"after": None, **({"before": a.before} if a.before else {})}
    workers = {name: Child([sys.executable, str(Path(__file__).resolve()), "--worker"],
                           env if tree is None else {**env, "PYTHONPATH": code_path(tree)})
               for name, tree in trees.items()}
    walls: dict[tuple[str, str], list[float]] = {(t, s): [] for t in workers for s in servers}
    conns: dict[tuple[str, str], int] = dict.fromkeys(walls, 0)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for r in range(a.rounds + 1):  # round 0: warm-up (imports), not counted
            order = list(workers) if r % 2 == 0 else list(workers)[::-1]
            for scheme, srv in servers.items():
                for name in order:
                    c0 = srv.cmd(cmd="connections")["connections"]
                    got = workers[name].ask(url=srv.url, n=a.requests)["walls"]
                    if r:
                        walls[(name, scheme)] += got
                        conns[(name, scheme)] += srv.cmd(cmd="connections")["connections"] - c0
            print(f"round {r}/{a.rounds} done", file=sys.stderr, flush=True)
    finally:
        for child in (*workers.values(), *servers.values()):
            child.stop()
    print(f"\nAn engine per request ({a.requests} requests per tree per round, {a.rounds} rounds after 1 unmeasured; "
          f"each: build AsyncMemory, add(infer=False), search, aclose); {started}; load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| code | server | request p50 ms | p99 ms | new connections per request |")
    print("|---|---|---:|---:|---:|")
    for (name, scheme), w in walls.items():
        q = statistics.quantiles(w, n=100)
        print(f"| {name} | {scheme} | {statistics.median(w):.2f} | {q[98]:.2f} | {conns[(name, scheme)] / len(w):.2f} |")
    if "before" in workers:
        for scheme in servers:
            ratio = statistics.median(walls[("after", scheme)]) / statistics.median(walls[("before", scheme)])
            print(f"\n{scheme}: after ÷ before, p50 {ratio:.2f}")


if __name__ == "__main__":
    main()
