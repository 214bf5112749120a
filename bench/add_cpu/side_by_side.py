"""64 concurrent add(infer=True) side by side with the original mem7, in a scope that already holds
memories (issue #19's like-for-like figure).

The peers harness (``../shared/tools/peers``, workload *d*) starts every round from an empty scope.
There, whether an add makes its second LLM call (the update decision) depends on timing: an add whose
candidate search runs before any other add of the round has committed finds no candidates and
stores its facts without asking (ours; the original asks every time). Its rounds are bimodal, and
its ratio measures a race as much as the engines. Here every round first stores ``--populate``
memories in the scope (verbatim, untimed), so every add finds candidates and makes both calls in
both engines; then the burst is timed.

It drives the harness's own processes (its ``bench.py``: one loopback server and one driver per
engine, the drivers' ``init`` / ``bulk`` / ``concurrent`` / ``count`` commands), so the engines, the
server and the inputs are the harness's. Rounds alternate the engines' order; each round is a fresh
engine. Setup is the harness's (``run_peers.sh`` once: it installs the original's npm binary under
``$PEERS_DIR``)::

    OURS_PYTHON=.venv/bin/python ../shared/tools/peers/run_peers.sh --quick    # setup, once
    .venv/bin/python bench/add_cpu/side_by_side.py --rounds 9
    .venv/bin/python bench/add_cpu/side_by_side.py --rounds 9 --populate 0     # the harness's empty scope

``--before TREE`` adds a third engine, ``ours-before``: the harness's driver for ours importing a
copy of this repository first (``git archive <rev> | tar -x -C TREE``; its ``mem7_core`` and the
plugins, through ``PYTHONPATH``: ``bench/_common/procs.py``), so a change is measured
against the original and against the code before it in the same interleaved run::

    .venv/bin/python bench/add_cpu/side_by_side.py --rounds 15 --engines ours,ours-before,mem7-npm --before /tmp/old

``--one-engine`` keeps one engine per driver for the whole run, each round in a new scope of it (a
long-lived application's engine, its connections already open after the first round) instead of the
harness's fresh engine per round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import peers_harness  # noqa: E402 - after the sys.path line
from bench._common.procs import code_path  # noqa: E402 - after the sys.path line


def _engines(bench: Any, before: Path | None) -> list[tuple[str, list[str], str | None]]:
    """The harness's engines, and ``ours-before`` (ours' driver, ``before``'s code first) when given."""
    out: list[tuple[str, list[str], str | None]] = [(name, cmd, None) for name, cmd in bench.ENGINES]
    if before is not None:
        cmd = next(cmd for name, cmd in bench.ENGINES if name == "ours")
        out.append(("ours-before", cmd, code_path(before)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", type=Path, default=Path(os.environ.get("PEERS_HARNESS", ROOT.parent / "shared/tools/peers")),
                   help="the peers harness's directory")
    p.add_argument("--engines", default="ours,mem7-npm", help="harness engine names, the first is the baseline")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (imports, first connections)")
    p.add_argument("--conc", type=int, default=64, help="concurrent adds per round")
    p.add_argument("--populate", type=int, default=200, help="memories stored in the scope before each burst")
    p.add_argument("--latency", type=float, default=50.0, help="ms added to each chat call")
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--before", type=Path, default=None,
                   help="a copy of the repository at an older commit: engine ours-before runs it")
    p.add_argument("--one-engine", action="store_true",
                   help="one engine per driver for the whole run (each round a new scope of it) instead of a fresh "
                        "engine per round: what a long-lived application's engine does")
    a = p.parse_args()

    bench = peers_harness(a.peers)
    work = tempfile.mkdtemp(prefix="side-by-side-")
    wanted = a.engines.split(",")
    engines = []
    for name, cmd, pythonpath in _engines(bench, a.before):
        if name not in wanted:
            continue
        saved = os.environ.get("PYTHONPATH")
        if pythonpath:  # the harness's Engine starts its driver with this process's environment
            os.environ["PYTHONPATH"] = pythonpath
        try:
            e = bench.Engine(name, cmd, os.path.join(work, name), a.dims, work)
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        if e.skip:
            print(f"{name}: skipped ({e.skip})", file=sys.stderr)
            e.close()
            continue
        engines.append(e)
    engines.sort(key=lambda e: wanted.index(e.name))
    if not engines:
        sys.exit("no engine could start (run the harness's run_peers.sh once to set them up)")
    turns = bench.gen_user_turns(a.conc * (a.rounds + a.warmup), seed=99)
    walls: dict[str, list[float]] = {e.name: [] for e in engines}
    chat: dict[str, int] = {e.name: 0 for e in engines}
    emb: dict[str, int] = {e.name: 0 for e in engines}
    stored: dict[str, list[int]] = {e.name: [] for e in engines}
    errors: dict[str, int] = {e.name: 0 for e in engines}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for r in range(-a.warmup, a.rounds):
            texts = turns[(r + a.warmup) * a.conc : (r + a.warmup + 1) * a.conc]
            memories = bench.gen_memories(a.populate, seed=1000 + r) if a.populate else []
            for e in engines if r % 2 == 0 else engines[::-1]:
                user = f"sbs{r + a.warmup}"
                e.ctl(chat_latency_ms=0, reset=True)
                if not a.one_engine or r == -a.warmup:
                    e.init(concurrent=True)
                if memories:
                    e.rpc(cmd="bulk", user=user, texts=memories)
                before = e.rpc(cmd="count", user=user)["count"]
                e.ctl(chat_latency_ms=a.latency, reset=True)
                s0 = e.stats()
                rep = e.rpc(cmd="concurrent", user=user, texts=texts)
                s1 = e.stats()
                if r < 0:  # warm-up
                    continue
                walls[e.name].append(rep["wall_ms"])
                errors[e.name] += rep["errors"]
                chat[e.name] += s1["chat"] - s0["chat"]
                emb[e.name] += s1["embeddings"] - s0["embeddings"]
                stored[e.name].append(e.rpc(cmd="count", user=user)["count"] - before)
            if r >= 0:
                print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{e.name} {walls[e.name][-1]:.0f} ms" for e in engines),
                      file=sys.stderr, flush=True)
    finally:
        for e in engines:
            e.close()
    base = engines[0].name
    n = a.rounds * a.conc
    print(f"\n{a.conc} concurrent add(infer=True), chat +{a.latency:g} ms, scope holding {a.populate} memories first; "
          f"{a.rounds} rounds after {a.warmup} unmeasured, "
          f"{'one engine for all rounds (a new scope each)' if a.one_engine else 'fresh engine each'}, order alternating; {started}; load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| engine | wall p50 ms | each round ms | chat calls / add | embedding requests / add | stored per round | errors | ÷ " + base + " |")
    print("|---|---:|---|---:|---:|---|---:|---:|")
    for e in engines:
        w = walls[e.name]
        ratio = statistics.median(w) / statistics.median(walls[base])
        print(f"| {e.name} ({e.version}) | {statistics.median(w):.0f} | {' / '.join(f'{x:.0f}' for x in w)} | "
              f"{chat[e.name] / n:.2f} | {emb[e.name] / n:.2f} | {min(stored[e.name])}-{max(stored[e.name])} | "
              f"{errors[e.name]} | {ratio:.2f} |")
    for e in engines[1:]:
        print(f"\n{base} ÷ {e.name}, wall p50: {statistics.median(walls[base]) / statistics.median(walls[e.name]):.2f}")
    for e in engines:  # each round's ratio to the original, where both ran in that round
        if e.name != "mem7-npm" and "mem7-npm" in walls and e.name in walls:
            per_round = [x / y for x, y in zip(walls[e.name], walls["mem7-npm"])]
            print(f"{e.name} ÷ mem7-npm per round: median {statistics.median(per_round):.2f} "
                  f"(rounds at or under 0.80: {sum(r <= 0.8 for r in per_round)} of {len(per_round)})")


if __name__ == "__main__":
    main()
