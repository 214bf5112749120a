"""Tokens per add: what each add mode costs in model calls and tokens, graph memory off and on
(issue #21, "cost you can see"), beside its latency.

Setup: ``AsyncMemory`` with mem7-flat in memory, SQLite history in memory, mem7-openai as LLM and
embedder over HTTP to the loopback OpenAI server (``mem7_core.testing.openai_server``, in a thread
of this process) answering with the rule-based model (``one_call_reply`` in one_call mode: the same
facts and decisions in one answer), ``graph_store: flat`` when the graph is on. The server counts
tokens with a real tokenizer: the ``tokenizers`` library over all-MiniLM-L6-v2's ``tokenizer.json``
(WordPiece, shipped in the mem7-fastembed wheel: nothing is downloaded), content text only (OpenAI
adds ~3 tokens of framing per chat message; not counted here). Workload: the sessions of
``tests/add_conversations.json`` (12 scopes, 47 adds), each add's ``usage`` read from its result,
checked to add up to the engine's totals (``AsyncMemory.usage``)::

    .venv/bin/python bench/usage/bench_usage.py --rounds 3 --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mem7_core import AsyncMemory  # noqa: E402 - after the sys.path line
from mem7_core.testing.fakes import rule_based_reply  # noqa: E402 - after the sys.path line
from mem7_core.testing.one_call import one_call_reply  # noqa: E402 - after the sys.path line
from mem7_core.testing.openai_server import OpenAIServer  # noqa: E402 - after the sys.path line

MODES = (("two_call", False), ("one_call", False), ("two_call", True), ("one_call", True))


def wordpiece_counter() -> Any:
    """Tokens of a text by all-MiniLM-L6-v2's WordPiece tokenizer (no special tokens)."""
    from tokenizers import Tokenizer

    path = files("mem7_fastembed") / "minilm_tokenizer" / "tokenizer.json"
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()  # the file pads to the model's input length

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids) if text else 0

    return count


def config(url: str, mode: str, graph: bool) -> dict[str, Any]:
    conn = {"base_url": url, "api_key": "bench", "max_retries": 0}
    cfg: dict[str, Any] = {
        "llm": {"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}},
        "embedder": {"provider": "openai", "config": {**conn, "model": "text-embedding-3-small",
                                                        "embedding_dims": 256}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "add_mode": mode,
    }
    if graph:
        cfg["graph_store"] = {"provider": "flat"}
    return cfg


async def one_round(srv: OpenAIServer, sessions: list[dict[str, Any]], mode: str, graph: bool) -> dict[str, Any]:
    srv.script(one_call_reply if mode == "one_call" else rule_based_reply)
    per_add: list[dict[str, Any]] = []
    async with AsyncMemory(config(srv.url, mode, graph)) as mem:
        for session in sessions:
            for messages in session["adds"]:
                start = time.perf_counter()
                res = await mem.add(messages, **session["scope"])
                ms = (time.perf_counter() - start) * 1000
                used = res.get("usage") or {"models": []}
                llm = [m for m in used["models"] if m["kind"] == "llm"]
                emb = [m for m in used["models"] if m["kind"] == "embedder"]
                per_add.append({
                    "ms": ms,
                    "llm_calls": sum(m["calls"] for m in llm),
                    "prompt": sum(m["prompt_tokens"] or 0 for m in llm),
                    "completion": sum(m["completion_tokens"] or 0 for m in llm),
                    "embed_calls": sum(m["calls"] for m in emb),
                    "texts": sum(m["texts"] for m in emb),
                    "embedding": sum(m["embedding_tokens"] or 0 for m in emb),
                })
        totals = mem.usage
    summed = {k: sum(a[k] for a in per_add) for k in ("prompt", "completion", "embedding")}
    assert (summed["prompt"], summed["completion"], summed["embedding"]) == (
        totals["prompt_tokens"], totals["completion_tokens"], totals["embedding_tokens"]), "adds ≠ engine totals"
    return {"adds": per_add}


def summarise(rounds: list[dict[str, Any]]) -> dict[str, float]:
    adds = [a for r in rounds for a in r["adds"]]
    n = len(adds)
    out = {k: sum(a[k] for a in adds) / n for k in ("llm_calls", "prompt", "completion", "embed_calls", "texts",
                                                    "embedding")}
    out["total"] = out["prompt"] + out["completion"] + out["embedding"]
    out["p50_ms"] = statistics.median(a["ms"] for a in adds)
    out["mean_ms"] = statistics.fmean(a["ms"] for a in adds)
    out["adds"] = n
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sessions = json.loads((ROOT / "tests" / "add_conversations.json").read_text())["sessions"]
    results: dict[str, Any] = {}
    with OpenAIServer(api_key="bench", count_tokens=wordpiece_counter(), max_recorded=16) as srv:
        await one_round(srv, sessions, "two_call", False)  # warm-up: imports, connections
        for mode, graph in MODES:
            rounds = [await one_round(srv, sessions, mode, graph) for _ in range(args.rounds)]
            results[f"{mode}, graph {'on' if graph else 'off'}"] = summarise(rounds)
    return results


def markdown(results: dict[str, Any], rounds: int) -> str:
    lines = [
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()}; {rounds} round(s) of the 47 adds per row.",
        "",
        "| add mode | LLM calls / add | prompt tokens / add | completion tokens / add | embedding calls / add "
        "| texts embedded / add | embedding tokens / add | all tokens / add | latency p50 ms | latency mean ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['llm_calls']:.2f} | {r['prompt']:.0f} | {r['completion']:.0f} | "
                     f"{r['embed_calls']:.2f} | {r['texts']:.2f} | {r['embedding']:.1f} | {r['total']:.0f} | "
                     f"{r['p50_ms']:.2f} | {r['mean_ms']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    res = asyncio.run(main(a))
    if a.json is not None:
        a.json.write_text(json.dumps(res, indent=1))
    print(markdown(res, a.rounds) if a.markdown else json.dumps(res, indent=1))
