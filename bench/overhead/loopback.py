"""The loopback OpenAI-compatible server in its own process, for benchmarks.

Driven over stdin / stdout, one JSON object per line (the protocol: ``bench/_common/loopback.py``):
on start it prints ``{"url": ..., "api_key": ...}``; then ``counts``, ``chat_latency`` (seconds
added to chat calls only), ``errors``, ``stop``.

Chat replies: fact extraction is the server's default rule-based answer (each user sentence of two
or more words is a fact). The update decision is scripted here (:func:`decide`) to look like a real
model's: per new fact, a deterministic mix of ADD (50 %), UPDATE of a shown candidate (30 %) and
NONE (20 %), every other shown candidate accounted for with NONE. Embeddings are the server's
deterministic hash embeddings.

    .venv/bin/python bench/overhead/loopback.py [--port 0] [--api-key sk-bench]
"""

from __future__ import annotations

import re
import sys
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._common.loopback import BenchServer, serve, server_arguments
from mem7_core.providers.tasks import UPDATE_MEMORY_MARKER

__all__ = ["BenchServer", "decide", "main"]

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


def main() -> None:
    args = server_arguments(__doc__.split("\n\n")[0])
    srv = BenchServer(api_key=args.api_key, port=args.port, embedding_dims=args.embedding_dims,
                      max_recorded=args.max_recorded)
    srv.script(decide)
    serve(srv, args.api_key)


if __name__ == "__main__":
    main()
