"""Many agents on one engine: N concurrent add(infer=True), each in its own scope, side by side.

Issue #19 is titled "many agents on one engine", and the peers harness's workload *d* sends its 64
concurrent adds to one user. Here every add has a scope of its own (``user_id`` = agent 0..N-1):
nothing is shared between them but the engine (its connections, its store, its history), which is
how a multi-tenant service or a fleet of agents meets it. With ``--populate K`` every scope first
holds K memories (verbatim adds, untimed), so every add of both engines makes both model calls
(extraction, then the update decision over its candidates); with an empty scope ours skips the
decision call (no candidates to decide about) and the original makes it anyway.

Engines, each in its own worker process against its own copy of the harness's loopback server
(``<peers>/loopback_server.py``, chat answering after ``--latency`` ms), a fresh engine per round,
the engines' order alternating round by round:

- ``ours``: this repository (``worker_ours.py``, the config the harness gives ours);
- ``ours-before``: the same worker importing a copy of the repository at an older commit first
  (``--before TREE``: ``git archive <rev> | tar -x -C TREE``), through ``PYTHONPATH``;
- ``original``: the original mem7 through its npm Linux binary (``worker_original.js``), as the
  harness installs it (``OURS_PYTHON=.venv/bin/python ../shared/tools/peers/run_peers.sh --quick``
  once, ``PEERS_DIR`` as there).

::

    .venv/bin/python bench/agents/bench_agents.py --rounds 15
    .venv/bin/python bench/agents/bench_agents.py --rounds 15 --before /tmp/old --out bench/results/agents.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import PeersLoopback, peers_harness  # noqa: E402 - after the sys.path line
from bench._common.procs import code_path  # noqa: E402 - after the sys.path line


class Worker:
    """One engine's worker process and its loopback server."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], peers: Path) -> None:
        self.name = name
        self.srv = PeersLoopback(peers)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     bufsize=1, cwd=ROOT)
        hello = json.loads(self._line())
        self.skip: str | None = hello.get("skip")
        self.version: str = hello.get("version", "?")
        self.workdir = tempfile.mkdtemp(prefix=f"agents-{name}-")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: the worker exited")
        return line

    def ctl(self, **body: Any) -> dict[str, Any]:
        req = urllib.request.Request(self.srv.base + "/_ctl", data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out

    def rpc(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        out: dict[str, Any] = json.loads(self._line())
        return out

    def init(self, users: list[str], dims: int, populate: list[str]) -> None:
        """A fresh engine, every scope holding ``populate`` (no chat call: verbatim adds)."""
        self.rpc(cmd="init", base_url=self.srv.url, workdir=self.workdir, dims=dims, users=users, populate=populate)

    def burst(self, texts: list[str], users: list[str]) -> dict[str, Any]:
        return self.rpc(cmd="burst", texts=texts, users=users)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.srv.stop()


def workers(names: list[str], peers: Path, before: Path | None) -> list[Worker]:
    ours = [sys.executable, str(HERE / "worker_ours.py")]
    out: list[Worker] = []
    for name in names:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if name == "ours":
            cmd = ours
        elif name == "ours-before":
            if before is None:
                sys.exit("ours-before needs --before TREE")
            env["PYTHONPATH"] = code_path(before)
            cmd = ours
        elif name == "original":
            env.setdefault("PEERS_DIR", os.environ.get("PEERS_DIR", os.path.join(tempfile.gettempdir(), "peers")))
            cmd = ["node", str(HERE / "worker_original.js")]
        else:
            sys.exit(f"unknown engine {name!r}: ours, ours-before, original")
        w = Worker(name, cmd, env, peers)
        if w.skip:
            print(f"{name}: skipped ({w.skip})", file=sys.stderr)
            w.close()
            continue
        out.append(w)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", type=Path, default=Path(os.environ.get("PEERS_HARNESS", ROOT.parent / "shared/tools/peers")))
    p.add_argument("--engines", default=None, help="default: ours, ours-before (with --before), original")
    p.add_argument("--before", type=Path, default=None, help="a copy of the repository at an older commit")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (imports, first connections)")
    p.add_argument("--agents", type=int, default=64, help="concurrent adds per round, one scope each")
    p.add_argument("--latency", type=float, default=50.0, help="ms added to each chat call")
    p.add_argument("--populate", type=int, default=20, help="memories in every scope before the burst")
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    a = p.parse_args()

    names = a.engines.split(",") if a.engines else ["ours", *(["ours-before"] if a.before else []), "original"]
    bench = peers_harness(a.peers)
    ws = workers(names, a.peers, a.before)
    if not ws:
        sys.exit("no engine could start")
    turns = bench.gen_user_turns(a.agents * (a.rounds + a.warmup), seed=77)
    walls: dict[str, list[float]] = {w.name: [] for w in ws}
    chat: dict[str, int] = {w.name: 0 for w in ws}
    emb: dict[str, int] = {w.name: 0 for w in ws}
    stored: dict[str, list[int]] = {w.name: [] for w in ws}
    errors: dict[str, int] = {w.name: 0 for w in ws}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for r in range(-a.warmup, a.rounds):
            k = r + a.warmup
            texts = turns[k * a.agents : (k + 1) * a.agents]
            users = [f"agent-{k}-{i}" for i in range(a.agents)]
            memories = bench.gen_memories(a.populate, seed=500 + k) if a.populate else []
            for w in ws if r % 2 == 0 else ws[::-1]:
                w.init(users, a.dims, memories)
                w.ctl(chat_latency_ms=a.latency, reset=True)  # counters from here: the burst's calls only
                rep = w.burst(texts, users)
                with urllib.request.urlopen(w.srv.base + "/_stats", timeout=10) as resp:
                    stats = json.loads(resp.read())
                if r < 0:
                    continue
                walls[w.name].append(rep["wall_ms"])
                errors[w.name] += rep["errors"]
                stored[w.name].append(rep["stored"])
                chat[w.name] += stats["chat"]
                emb[w.name] += stats["embeddings"]
                if rep["errors"]:
                    print(f"{w.name}: {rep['errors']} errors, first: {rep['first_error']}", file=sys.stderr)
            if r >= 0:
                print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{w.name} {walls[w.name][-1]:.0f} ms" for w in ws),
                      file=sys.stderr, flush=True)
    finally:
        for w in ws:
            w.close()
    n = a.rounds * a.agents
    lines = [
        f"{a.agents} concurrent add(infer=True), each in its own scope holding {a.populate} memories first, "
        f"chat +{a.latency:g} ms; {a.rounds} rounds "
        f"after {a.warmup} unmeasured, fresh engine each, order alternating; {started}; load average "
        f"{os.getloadavg()[0]:.2f}",
        "",
        "| engine | wall p50 ms | each round ms | chat calls / add | embedding requests / add | stored per round | errors |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for w in ws:
        v = walls[w.name]
        lines.append(f"| {w.name} ({w.version}) | {statistics.median(v):.0f} | {' / '.join(f'{x:.0f}' for x in v)} | "
                     f"{chat[w.name] / n:.2f} | {emb[w.name] / n:.2f} | {min(stored[w.name])}-{max(stored[w.name])} | "
                     f"{errors[w.name]} |")
    lines.append("")
    base = ws[0].name
    for w in ws[1:]:
        per_round = [x / y for x, y in zip(walls[base], walls[w.name])]
        lines.append(f"- {base} ÷ {w.name}: wall p50 {statistics.median(walls[base]) / statistics.median(walls[w.name]):.2f}, "
                     f"per round median {statistics.median(per_round):.2f}")
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
