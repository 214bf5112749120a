"""Two engines in two OS processes on one pgvector table: the keyword half of retrieval is the
store's, so a write through one is in the other's keyword ranking on its very next request, and
both give the same ranking (issue 14: "shared, durable state").

Engine A runs in the test process, engine B in a child Python process driven over stdin/stdout
(one JSON object per line). Both: hash embedder (32 dims), the same pgvector table, their own
SQLite history in memory, one engine per retrieval mode (``bm25`` and the default ``hybrid``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory

ROOT = Path(__file__).resolve().parents[3]
MODES = ("bm25", "hybrid")

# The child: the same engines as Replica below, serving commands until EOF.
CHILD = r"""
import asyncio, json, sys
from mem7_core import AsyncMemory

def config(dsn, table, mode):
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 32}},
        "vector_store": {"provider": "pgvector", "config": {"dsn": dsn, "collection_name": table}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "retrieval": {"mode": mode},
    }

async def main(dsn, table):
    engines = {mode: AsyncMemory(config(dsn, table, mode)) for mode in ("bm25", "hybrid")}
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        try:
            if cmd["op"] == "add":
                res = await engines["bm25"].add(cmd["text"], user_id=cmd["user"], infer=False)
                out = {"id": res["results"][0]["id"]}
            elif cmd["op"] == "update":
                await engines["bm25"].update(cmd["id"], cmd["text"])
                out = {}
            else:
                res = await engines[cmd["mode"]].search(cmd["query"], user_id=cmd["user"], limit=cmd["limit"])
                out = {"results": [[r["id"], r["score"]] for r in res["results"]],
                       "builds": engines[cmd["mode"]].retriever.indexes.builds}
        except Exception as exc:
            out = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    for e in engines.values():
        await e.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def config(dsn: str, table: str, mode: str) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 32}},
        "vector_store": {"provider": "pgvector", "config": {"dsn": dsn, "collection_name": table}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "retrieval": {"mode": mode},
    }


class Replica:
    """Engine A, in this process (the same engines and answers as the child's)."""

    def __init__(self, dsn: str, table: str) -> None:
        self.engines = {mode: AsyncMemory(config(dsn, table, mode)) for mode in MODES}

    async def add(self, text: str, user: str = "alice") -> str:
        res = await self.engines["bm25"].add(text, user_id=user, infer=False)
        return str(res["results"][0]["id"])

    async def update(self, memory_id: str, text: str) -> None:
        await self.engines["bm25"].update(memory_id, text)

    async def search(self, mode: str, query: str, user: str = "alice", limit: int = 10) -> list[tuple[str, float]]:
        res = await self.engines[mode].search(query, user_id=user, limit=limit)
        return [(r["id"], r["score"]) for r in res["results"]]

    async def aclose(self) -> None:
        for e in self.engines.values():
            await e.aclose()


class Child:
    """Engine B, in another OS process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.builds = 0

    @classmethod
    async def start(cls, dsn: str, table: str) -> Child:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, dsn, table,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(ROOT), env=env,
        )
        return cls(proc)

    async def _call(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=60)
        assert line, f"the child process exited ({await self.proc.wait()})"
        out = json.loads(line)
        assert "error" not in out, out["error"]
        return out

    async def add(self, text: str, user: str = "alice") -> str:
        return str((await self._call(op="add", text=text, user=user))["id"])

    async def update(self, memory_id: str, text: str) -> None:
        await self._call(op="update", id=memory_id, text=text)

    async def search(self, mode: str, query: str, user: str = "alice", limit: int = 10) -> list[tuple[str, float]]:
        out = await self._call(op="search", mode=mode, query=query, user=user, limit=limit)
        self.builds = max(self.builds, int(out["builds"]))
        return [(str(i), float(s)) for i, s in out["results"]]

    async def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    return [i for i, _ in a] == [i for i, _ in b] and all(
        x == pytest.approx(y, rel=1e-9, abs=1e-12) for (_, x), (_, y) in zip(a, b)
    )


SEED = [
    "Alice drinks green tea every morning",
    "Alice plays tennis on Sundays with Bob",
    "Alice adopted a cat named Miso",
    "The tea ceremony in Kyoto was the highlight of Alice's trip",
    "Alice prefers coffee when she works late",
    "Bob taught Alice to play chess",
]
QUERIES = ["tea", "green tea morning", "tennis Sundays", "cat Miso", "Kyoto trip", "coffee", "chess with Bob"]


async def test_a_write_through_one_process_is_in_the_others_keyword_ranking(pg_dsn: str, table_name: str):
    a = Replica(pg_dsn, table_name)
    ids = [await a.add(text) for text in SEED]
    await a.add("tea and tennis and oolong for Bob", user="bob")  # another scope: never in alice's answers
    b = await Child.start(pg_dsn, table_name)
    try:
        # B answers before A writes again: a per-process index built now would go stale below.
        for mode in MODES:
            for query in QUERIES:
                assert same(await b.search(mode, query), await a.search(mode, query)), (mode, query)

        # Added through A: found by keywords through B on its next request, ranked as A ranks it.
        new = await a.add("Alice bought a tin of oolong tea in Kyoto")
        got = await b.search("bm25", "oolong")
        assert [i for i, _ in got] == [new]
        for mode in MODES:
            for query in ["oolong tea", "Kyoto", *QUERIES]:
                assert same(await b.search(mode, query), await a.search(mode, query)), (mode, query)

        # Reworded through A: B finds it by its new words, no longer by its old ones.
        tennis = ids[1]
        await a.update(tennis, "Alice plays badminton on Saturdays with Bob")
        assert [i for i, _ in await b.search("bm25", "badminton")] == [tennis]
        assert tennis not in [i for i, _ in await b.search("bm25", "tennis Sundays")]
        assert await b.search("bm25", "tennis") == []  # bob's memory holds "tennis": other scope
        for mode in MODES:
            for query in ["badminton Saturdays", "Bob", "tennis", *QUERIES]:
                assert same(await b.search(mode, query), await a.search(mode, query)), (mode, query)

        # And the other way round: written through B, found through A.
        chess = ids[5]
        await b.update(chess, "Bob taught Alice to play go and shogi")
        bike = await b.add("Alice fixed the chain of her bicycle")
        assert [i for i, _ in await a.search("bm25", "shogi")] == [chess]
        assert [i for i, _ in await a.search("bm25", "bicycle chain")] == [bike]
        for mode in MODES:
            for query in ["shogi", "chess", "bicycle", "Alice", *QUERIES]:
                assert same(await a.search(mode, query), await b.search(mode, query)), (mode, query)

        # Neither process built a keyword index of its own.
        assert b.builds == 0
        assert all(e.retriever is not None and e.retriever.indexes.builds == 0 for e in a.engines.values())
    finally:
        await b.stop()
        await a.aclose()
