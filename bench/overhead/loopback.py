"""The loopback OpenAI-compatible server in its own process, for benchmarks.

``mem7_core.testing.openai_server.OpenAIServer`` serves from a thread of the process that starts
it; a benchmark that ran it in-process would share the GIL (and its CPU time) with the engine it
measures. This script runs it alone in a process and is driven over stdin / stdout, one JSON object
per line:

- on start it prints ``{"url": "http://127.0.0.1:<port>/v1", "api_key": ...}``;
- ``{"cmd": "counts"}`` → ``{"chat": n, "embeddings": n, ...}`` (cumulative; diff them);
- ``{"cmd": "chat_latency", "value": 0.05}`` → seconds added to every chat call only
  (``OpenAIServer.latency`` would delay embeddings too);
- ``{"cmd": "stop"}`` (or EOF) stops it.

Chat replies: fact extraction is the server's default rule-based answer (each user sentence of two
or more words is a fact). The update decision is scripted here (:func:`decide`) to look like a real
model's: per new fact, a deterministic mix of ADD (50 %), UPDATE of a shown candidate (30 %) and
NONE (20 %), every other shown candidate accounted for with NONE. Embeddings are the server's
deterministic hash embeddings.

    .venv/bin/python bench/overhead/loopback.py [--port 0] [--api-key sk-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import zlib
from typing import Any

from mem7_core.engine.prompts import UPDATE_MEMORY_MARKER
from mem7_core.testing.openai_server import OpenAIServer

_LINE = re.compile(r"^(\d+): (.*)$")


def decide(messages: list[dict[str, Any]]) -> Any:
    """Scripted update decision (None: let the server's default rule-based reply answer)."""
    system = next((m.get("content") for m in messages if m.get("role") == "system"), "")
    if not isinstance(system, str) or not system.startswith(UPDATE_MEMORY_MARKER):
        return None
    user = "\n".join(m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str))
    existing_part, _, facts_part = user.partition("New facts:")
    existing: dict[str, str] = {}
    for line in existing_part.splitlines():
        m = _LINE.match(line.strip())
        if m:
            existing[m.group(1)] = m.group(2)
    facts = [ln.strip()[2:].strip() for ln in facts_part.splitlines() if ln.strip().startswith("- ")]
    out: list[dict[str, str]] = []
    used: set[str] = set()
    next_id = len(existing)
    for fact in facts:
        free = [k for k in existing if k not in used]
        same = next((k for k, v in existing.items() if v.strip().lower() == fact.lower()), None)
        r = zlib.crc32(fact.encode()) % 10
        if same is not None:
            out.append({"id": same, "text": existing[same], "event": "NONE"})
            used.add(same)
        elif r < 5 or not free:
            out.append({"id": str(next_id), "text": fact, "event": "ADD"})
            next_id += 1
        elif r < 8:
            k = free[0]
            out.append({"id": k, "text": f"{existing[k]}; {fact}", "event": "UPDATE", "old_memory": existing[k]})
            used.add(k)
        else:
            k = free[0]
            out.append({"id": k, "text": existing[k], "event": "NONE"})
            used.add(k)
    for k, v in existing.items():
        if k not in used:
            out.append({"id": k, "text": v, "event": "NONE"})
    return {"memory": out}


class BenchServer(OpenAIServer):
    """OpenAIServer with a latency that applies to chat calls only."""

    chat_latency = 0.0

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        resp = await super()._dispatch(method, target, headers, raw)
        if self.chat_latency and self._route(method, target.partition("?")[0])[0] == "chat":
            await asyncio.sleep(self.chat_latency)
        return resp


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default="sk-bench")
    p.add_argument("--embedding-dims", type=int, default=384)
    args = p.parse_args()
    srv = BenchServer(api_key=args.api_key, port=args.port, embedding_dims=args.embedding_dims)
    srv.script(decide)
    srv.start()
    print(json.dumps({"url": srv.url, "api_key": args.api_key}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name == "counts":
                reply: Any = srv.counts
            elif name == "chat_latency":
                srv.chat_latency = float(cmd["value"])
                reply = {"chat_latency": srv.chat_latency}
            elif name == "errors":
                reply = {"errors": [repr(e) for e in srv.errors]}
            elif name == "stop":
                break
            else:
                reply = {"error": f"unknown command {name!r}"}
            print(json.dumps(reply), flush=True)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
