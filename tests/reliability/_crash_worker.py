"""Bulk-add worker for the crash-safety test (run as a script, killed with SIGKILL mid-way).

    python _crash_worker.py DATA_DIR START COUNT BATCH SNAPSHOT_EVERY [HISTORY]

Adds COUNT memories (``infer=False``, BATCH messages per call) in scope ``user_id="crash"`` to a
persisted flat store + history under DATA_DIR (HISTORY ``sqlite``: a separate SQLite file;
``auto``: in the store's own database, one transaction per add), with the hash embedder and no LLM. After each
add returns it prints the returned ids as one JSON line and flushes: a printed id is an
acknowledged memory. Prints ``READY`` first and ``DONE`` at the end.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def main(data_dir: str, start: int, count: int, batch: int, snapshot_every: int, history: str) -> None:
    from mem7_core import AsyncMemory

    cfg = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 64}},
        "vector_store": {"provider": "flat", "config": {"path": f"{data_dir}/vectors", "snapshot_every": snapshot_every}},
        "history_store": {"provider": history, "config": {"path": f"{data_dir}/history.db"}},
    }
    mem = AsyncMemory(cfg)
    print("READY", flush=True)
    i = start
    while i < start + count:
        msgs = [f"bulk memory number {j} about topic {j % 17}" for j in range(i, min(i + batch, start + count))]
        out = await mem.add(msgs, user_id="crash", infer=False, metadata={"n": i})
        print(json.dumps([r["id"] for r in out["results"]]), flush=True)
        i += len(msgs)
    await mem.aclose()
    print("DONE", flush=True)


if __name__ == "__main__":
    d, s, c, b, e = sys.argv[1], *map(int, sys.argv[2:6])
    asyncio.run(main(d, s, c, b, e, sys.argv[6] if len(sys.argv) > 6 else "sqlite"))
