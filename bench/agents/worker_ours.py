"""Worker for ``bench/agents/bench_agents.py``: our engine (``from mem7 import AsyncMemory``, the
config the peers harness gives ours). One JSON command per stdin line, one JSON answer per line:

    {"cmd": "init", "base_url": URL, "workdir": DIR, "dims": 384, "users": [...], "populate": [...]}
        -> {"ok": true}: a fresh engine; each scope gets the ``populate`` texts (one verbatim add each)
    {"cmd": "burst", "texts": [...], "users": [...]}
        -> {"wall_ms": ..., "errors": n, "stored": n, "first_error": str | null}: the adds all
           start at once (``asyncio.gather``), ``texts[i]`` in scope ``users[i]``; ``stored``
           counts the memories they left in their scopes
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any


class Worker:
    def __init__(self) -> None:
        self.mem: Any = None
        self.before: dict[str, int] = {}
        self.n = 0

    async def init(self, cmd: dict[str, Any]) -> dict[str, Any]:
        from mem7 import AsyncMemory

        if self.mem is not None:
            await self.mem.aclose()
        self.n += 1
        conn = {"base_url": cmd["base_url"], "api_key": "sk-bench"}
        self.mem = AsyncMemory.from_config({
            "llm": {"provider": "openai", "config": {**conn, "model": "bench-llm"}},
            "embedder": {"provider": "openai", "config": {**conn, "model": "bench-emb", "embedding_dims": cmd["dims"]}},
            "vector_store": {"provider": "flat", "config": {}},
            "history_db_path": os.path.join(cmd["workdir"], f"ours_history_{self.n}.db"),
        })
        populate = cmd.get("populate") or []
        for u in dict.fromkeys(cmd["users"]):
            if populate:
                await self.mem.add([{"role": "user", "content": t} for t in populate], user_id=u, infer=False)
            self.before[u] = len(populate)
        return {"ok": True}

    async def burst(self, cmd: dict[str, Any]) -> dict[str, Any]:
        mem = self.mem
        t0 = time.perf_counter()
        outs = await asyncio.gather(
            *(mem.add([{"role": "user", "content": t}], user_id=u) for t, u in zip(cmd["texts"], cmd["users"])),
            return_exceptions=True,
        )
        wall = (time.perf_counter() - t0) * 1e3
        bad = [o for o in outs if isinstance(o, BaseException)]
        stored = 0
        for u in dict.fromkeys(cmd["users"]):
            stored += len((await mem.get_all(user_id=u, limit=100_000))["results"]) - self.before.get(u, 0)
        return {"wall_ms": wall, "errors": len(bad), "stored": stored, "first_error": repr(bad[0]) if bad else None}


def main() -> None:
    import mem7

    print(json.dumps({"hello": True, "version": f"mem7 (ours) from {os.path.dirname(mem7.__file__)}"}), flush=True)
    worker = Worker()
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        if line.strip():
            cmd = json.loads(line)
            out = loop.run_until_complete(worker.init(cmd) if cmd["cmd"] == "init" else worker.burst(cmd))
            print(json.dumps(out), flush=True)
    if worker.mem is not None:
        loop.run_until_complete(worker.mem.aclose())


if __name__ == "__main__":
    main()
