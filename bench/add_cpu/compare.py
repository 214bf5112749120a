"""Before / after, side by side: ``profile_add.py`` run in two source trees, interleaved.

Each tree is a full copy of the repository (e.g. ``git archive HEAD | tar -x -C /tmp/before``),
imported first through ``PYTHONPATH`` (the venv's editable installs are plain path entries, so they
come after it). Rounds alternate tree by tree; medians over the rounds are reported::

    .venv/bin/python bench/add_cpu/compare.py --before /tmp/mem7_head --after /tmp/mem7_after --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.procs import code_path  # noqa: E402 - after the sys.path line


def run(tree: Path, extra: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = code_path(tree)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    script = tree / "bench" / "add_cpu" / "profile_add.py"
    subprocess.run([sys.executable, str(script), *extra, "--json", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=tree)
    res: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, required=True)
    p.add_argument("--after", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ops", type=int, default=300)
    p.add_argument("--burst", type=int, default=64)
    p.add_argument("--burst-rounds", type=int, default=5)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    seq: dict[str, list[float]] = {"before": [], "after": []}
    burst_cpu: dict[str, list[float]] = {"before": [], "after": []}
    burst_wall: dict[str, list[float]] = {"before": [], "after": []}
    calls: dict[str, dict[str, float]] = {}
    for r in range(args.rounds):
        for name, tree in (("before", args.before), ("after", args.after)):
            s = run(tree, ["--ops", str(args.ops), "--top", "0"])
            seq[name].append(s["cpu_ms_per_add_mean"])
            b = run(tree, ["--burst", str(args.burst), "--rounds", str(args.burst_rounds)])
            burst_cpu[name] += [x["cpu_ms"] / args.burst for x in b["rounds"]]
            burst_wall[name] += [x["wall_ms"] for x in b["rounds"]]
            n = len(b["rounds"]) * args.burst
            calls[name] = {"seq_chat": s["chat_per_add"], "seq_emb": s["emb_per_add"],
                           "burst_chat": sum(x["chat"] for x in b["rounds"]) / n,
                           "burst_emb": sum(x["embeddings"] for x in b["rounds"]) / n}
            print(f"round {r + 1} {name}: sequential {s['cpu_ms_per_add_mean']:.2f} ms CPU/add; burst "
                  f"{statistics.median(x['cpu_ms'] for x in b['rounds']) / args.burst:.2f} ms CPU/add, "
                  f"wall {statistics.median(x['wall_ms'] for x in b['rounds']):.0f} ms", file=sys.stderr, flush=True)
    med = {k: {"seq_cpu": statistics.median(seq[k]), "burst_cpu": statistics.median(burst_cpu[k]),
               "burst_wall": statistics.median(burst_wall[k]), **calls[k]} for k in seq}
    print("| | before | after | after ÷ before |\n|---|---:|---:|---:|")
    for key, label in (("seq_cpu", "sequential add(infer=True), engine CPU ms/add (median of rounds)"),
                       ("burst_cpu", f"{args.burst} concurrent, chat +50 ms: engine CPU ms/add (median of bursts)"),
                       ("burst_wall", f"{args.burst} concurrent, chat +50 ms: wall ms (median of bursts)")):
        print(f"| {label} | {med['before'][key]:.2f} | {med['after'][key]:.2f} | {med['after'][key] / med['before'][key]:.2f} |")
    for key, label in (("seq_chat", "sequential: chat calls/add"), ("seq_emb", "sequential: embedding calls/add"),
                       ("burst_chat", "concurrent: chat calls/add"), ("burst_emb", "concurrent: embedding calls/add")):
        print(f"| {label} | {med['before'][key]:.2f} | {med['after'][key]:.2f} | |")
    if args.json:
        args.json.write_text(json.dumps({"median": med, "seq": seq, "burst_cpu": burst_cpu, "burst_wall": burst_wall}, indent=1))


if __name__ == "__main__":
    main()
