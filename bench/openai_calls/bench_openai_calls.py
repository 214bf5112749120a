"""CPU per HTTP call of mem7-openai: the direct request path against ``client.post()``, the SDK's
resource methods and a bare HTTP-library floor, side by side in one run (issue #9).

The loopback server (``bench/overhead/loopback.py``: instant answers, 384-d embeddings) runs in its
own process, so the CPU measured here (``time.process_time()`` of this process) is the client's
alone. Each variant makes ``--calls`` sequential calls per round, after ``--warmup`` calls; rounds
rotate through the variants (``--rounds`` of them) so load on this shared machine falls on all
variants alike; the table gives the median over rounds of calls/s and CPU µs per call, and the
p50 latency over all calls.

Variants, per operation (embed: one 1-text embedding; generate: one JSON-mode chat call):

- ``mem7-openai direct``: the provider with ``request_path: direct`` (the default);
- ``mem7-openai sdk``: the provider with ``request_path: sdk`` (every call ``client.post()``);
- ``openai resource method``: ``client.embeddings.create`` / ``client.chat.completions.create``;
- ``bare httpx2 floor``: the same POST with the HTTP library the SDK uses, a pre-serialised body and
  two headers, no SDK at all (what any client built on that library costs at least).

    .venv/bin/python bench/openai_calls/bench_openai_calls.py          # writes bench/results/openai_calls.md

A ``## Notes`` section at the end of the results file is kept when the file is rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line
from bench._common.machine import cpu_model, git_state, versions  # noqa: E402 - after the sys.path line
from bench._common.measure import pct  # noqa: E402 - after the sys.path line

Call = Callable[[int], Awaitable[Any]]
MESSAGES = [
    {"role": "system", "content": "Extract the facts as json: {\"facts\": [...]}"},
    {"role": "user", "content": "I like green tea. My sister lives in Porto."},
]


async def _variants(srv: Loopback) -> tuple[dict[str, dict[str, Call]], Callable[[], Awaitable[None]]]:
    import openai

    from mem7_openai import OpenAIEmbedder, OpenAILLM
    from mem7_openai._client import _http_module

    http = _http_module()
    conn = {"api_key": srv.api_key, "base_url": srv.url}
    emb = {p: OpenAIEmbedder.from_config({**conn, "model": "m", "embedding_dims": 384, "request_path": p})
           for p in ("direct", "sdk")}
    llm = {p: OpenAILLM.from_config({**conn, "model": "m", "request_path": p}) for p in ("direct", "sdk")}
    client = openai.AsyncOpenAI(api_key=srv.api_key, base_url=srv.url, max_retries=0)
    bare = http.AsyncClient()
    headers = {"Authorization": f"Bearer {srv.api_key}", "Content-Type": "application/json"}
    embed_body = {"model": "m", "input": ["text"], "encoding_format": "base64", "dimensions": 384}
    chat_body = {"model": "m", "messages": MESSAGES, "max_tokens": 1000, "temperature": 0.0,
                 "response_format": {"type": "json_object"}}

    async def bare_post(path: str, body: dict[str, Any]) -> Any:
        response = await bare.post(srv.url + path, content=json.dumps(body).encode(), headers=headers)
        response.raise_for_status()
        return json.loads(response.content)

    def with_text(body: dict[str, Any], i: int) -> dict[str, Any]:
        return {**body, "input": [f"text {i}"]}

    variants: dict[str, dict[str, Call]] = {
        "embed": {
            "mem7-openai direct": lambda i: emb["direct"].embed([f"text {i}"]),
            "mem7-openai sdk": lambda i: emb["sdk"].embed([f"text {i}"]),
            "openai resource method": lambda i: client.embeddings.create(model="m", input=[f"text {i}"],
                                                                         dimensions=384),
            "bare httpx2 floor": lambda i: bare_post("/embeddings", with_text(embed_body, i)),
        },
        "generate": {
            "mem7-openai direct": lambda i: llm["direct"].generate(MESSAGES, response_format="json"),
            "mem7-openai sdk": lambda i: llm["sdk"].generate(MESSAGES, response_format="json"),
            "openai resource method": lambda i: client.chat.completions.create(
                model="m", messages=MESSAGES, max_tokens=1000, temperature=0.0,  # type: ignore[arg-type]
                response_format={"type": "json_object"}),
            "bare httpx2 floor": lambda i: bare_post("/chat/completions", chat_body),
        },
    }

    async def close() -> None:
        direct_calls = {f"{k} {p}": prov._http.direct_calls for k, d in (("embed", emb), ("llm", llm))
                        for p, prov in d.items()}
        assert direct_calls["embed direct"] > 0 and direct_calls["llm direct"] > 0, direct_calls
        assert direct_calls["embed sdk"] == 0 and direct_calls["llm sdk"] == 0, direct_calls
        for prov in (*emb.values(), *llm.values()):
            await prov.aclose()
        await client.close()
        await bare.aclose()

    return variants, close


async def run(args: argparse.Namespace) -> dict[str, Any]:
    srv = Loopback()
    try:
        variants, close = await _variants(srv)
        results: dict[str, dict[str, dict[str, list[float]]]] = {
            op: {name: {"rate": [], "cpu": [], "lat": []} for name in calls} for op, calls in variants.items()
        }
        for calls in variants.values():
            for fn in calls.values():
                for i in range(args.warmup):
                    await fn(i)
        for r in range(args.rounds):
            for op, calls in variants.items():
                names = list(calls)
                for name in names[r % len(names):] + names[:r % len(names)]:
                    fn, res = calls[name], results[op][name]
                    c0, t0 = time.process_time(), time.perf_counter()
                    for i in range(args.calls):
                        s = time.perf_counter()
                        await fn(i)
                        res["lat"].append(time.perf_counter() - s)
                    c1, t1 = time.process_time(), time.perf_counter()
                    res["rate"].append(args.calls / (t1 - t0))
                    res["cpu"].append((c1 - c0) / args.calls * 1e6)
        counts = srv.counts()
        await close()
        return {"results": results, "server_counts": dict(counts)}
    finally:
        srv.stop()


def _median(xs: list[float]) -> float:
    return pct(xs, 0.5)


def report(data: dict[str, Any], args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "# CPU per HTTP call: mem7-openai's request paths against the openai SDK and a bare httpx2 floor",
        "",
        ("One call at a time to the loopback OpenAI-compatible server (`bench/overhead/loopback.py`, its own "
        "process, answers instantly; 384-d base64 embeddings, scripted JSON chat). *CPU µs/call* is "
        "`time.process_time()` of the benchmark process (the client side only) per call; calls/s and CPU are "
        f"medians over {args.rounds} rounds of {args.calls} sequential calls per variant (variants rotate "
        f"within each round; {args.warmup} warm-up calls each first); p50 latency is over all calls."),
        "",
        ("- **mem7-openai direct**: the provider, `request_path: direct` (default): the request the `openai` "
        "client built once per endpoint, resent with each new JSON body through the client's own httpx2 client."),
        ("- **mem7-openai sdk**: the provider, `request_path: sdk`: every call `client.post(path, body=..., "
        "cast_to=httpx2.Response)` (the path before this change)."),
        ("- **openai resource method**: `client.embeddings.create` / `client.chat.completions.create` "
        "(pydantic response models)."),
        ("- **bare httpx2 floor**: `httpx2.AsyncClient.post` with a pre-serialised body and two headers, "
        "no SDK: the HTTP library's own cost."),
        "",
    ]
    res = data["results"]
    for op, title in (("embed", "embed (1 text, 384-d)"), ("generate", "generate (JSON mode)")):
        floor = _median(res[op]["bare httpx2 floor"]["cpu"])
        lines += [f"## {title}", "", "| variant | calls/s | CPU µs/call | CPU over floor µs | p50 ms |",
                  "|---|---:|---:|---:|---:|"]
        for name, r in res[op].items():
            cpu = _median(r["cpu"])
            lines.append(f"| {name} | {_median(r['rate']):,.0f} | {cpu:,.0f} | {cpu - floor:+,.0f} | "
                         f"{pct(r['lat'], 0.5) * 1e3:.2f} |")
        direct, sdk = _median(res[op]["mem7-openai direct"]["cpu"]), _median(res[op]["mem7-openai sdk"]["cpu"])
        lines += ["", f"direct vs sdk: {direct - sdk:+,.0f} µs CPU per call ({(direct / sdk - 1) * 100:+.0f} %).", ""]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines += [
        "## Machine",
        "",
        f"- CPU: {cpu_model()}; nproc {os.cpu_count()} (client and server processes share them)",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); {versions()}",
        f"- OS: {platform.platform()}",
        f"- code: {git_state()}",
        f"- load average when written: {load} (a shared machine: expect noise; CPU is steadier than wall)",
        f"- server requests: {data['server_counts']}; run time {seconds:.0f} s",
        "",
        "## Command",
        "",
        "```",
        ("cd /work/main && .venv/bin/python bench/openai_calls/bench_openai_calls.py "
         + " ".join(shlex.quote(a) for a in sys.argv[1:])).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=300, help="sequential calls per variant per round")
    p.add_argument("--rounds", type=int, default=7, help="rounds (variants rotate within each)")
    p.add_argument("--warmup", type=int, default=50, help="warm-up calls per variant")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "openai_calls.md")
    p.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = p.parse_args()
    t0 = time.perf_counter()
    data = asyncio.run(run(args))
    text = report(data, args, time.perf_counter() - t0)
    old = args.out.read_text() if args.out.exists() else ""
    if "\n## Notes" in old:  # hand-written notes survive a re-run (re-check their numbers)
        text += old[old.index("\n## Notes"):]
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(data))
    print(text)


if __name__ == "__main__":
    main()
