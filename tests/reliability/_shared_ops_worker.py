"""Random add/update/delete worker of the shared-store property test (run as a script).

    python _shared_ops_worker.py DATA_DIR NAME SCRIPT_JSON

Opens ``AsyncMemory(MemoryConfig.embedded(DATA_DIR, embedder=hash))``, prints ``READY``, waits for
one line on stdin (the start signal, so every worker starts together), then runs SCRIPT_JSON, a
list of ``[op, pick]`` (op ``add`` / ``update`` / ``delete``, ``pick`` a float in [0, 1) choosing
the target among the memories the store lists right before the operation). After each operation
returns it prints one JSON line and flushes::

    {"op": "add", "id": ID, "text": TEXT}                      the add returned ID
    {"op": "update", "id": ID, "text": TEXT, "ok": true}       the update returned
    {"op": "update", "id": ID, "text": TEXT, "ok": false}      MemoryNotFoundError (deleted meanwhile)
    {"op": "delete", "id": ID, "ok": true | false}             likewise
    {"op": "update" | "delete", "id": null}                    nothing listed to target

Texts are unique per worker and operation (``NAME add K`` / ``NAME upd K``). Prints ``DONE`` at the end.
"""

from __future__ import annotations

import asyncio
import json
import sys

USER = "prop"


async def main(data_dir: str, name: str, script: list[list]) -> None:
    from mem7_core import AsyncMemory, MemoryConfig
    from mem7_core.errors import MemoryNotFoundError

    mem = AsyncMemory(MemoryConfig.embedded(data_dir, embedder={"provider": "hash"}))
    print("READY", flush=True)
    sys.stdin.readline()

    def say(**out: object) -> None:
        print(json.dumps(out), flush=True)

    for k, (op, pick) in enumerate(script):
        if op == "add":
            text = f"{name} add {k}"
            out = await mem.add(text, user_id=USER, infer=False)
            [added] = out["results"]
            say(op="add", id=added["id"], text=text, event=added["event"])
            continue
        listed = (await mem.get_all(user_id=USER, limit=10_000))["results"]
        if not listed:
            say(op=op, id=None)
            continue
        target = listed[int(pick * len(listed)) % len(listed)]["id"]
        try:
            if op == "update":
                text = f"{name} upd {k}"
                await mem.update(target, text)
                say(op=op, id=target, text=text, ok=True)
            else:
                await mem.delete(target)
                say(op=op, id=target, ok=True)
        except MemoryNotFoundError:
            say(op=op, id=target, text=f"{name} upd {k}" if op == "update" else None, ok=False)
    await mem.aclose()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
