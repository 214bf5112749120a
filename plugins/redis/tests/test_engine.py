"""The provider as users meet it: selected by name in a config, through the installed entry point,
under a real engine; and two engines in two OS processes on one collection."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory, ConfigError, get_registry
from mem7_redis import RedisVectorStore

ROOT = Path(__file__).resolve().parents[3]


def config(url: str, collection: str, mode: str = "hybrid") -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 32}},
        "vector_store": {"provider": "redis", "config": {"url": url, "collection_name": collection}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "retrieval": {"mode": mode},
    }


@pytest.fixture
def collection(redis_url: str):
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    redis_server = sys.modules["mem7_redis_test_server"]
    asyncio.run(redis_server.drop(redis_url, {name}))


def test_the_entry_point_registers_the_provider() -> None:
    assert get_registry().get("vector_store", "redis") is RedisVectorStore


def test_a_typo_in_its_config_is_named() -> None:
    with pytest.raises(ConfigError, match=r"vector_store\.config\.urll"):
        AsyncMemory({"llm": None, "embedder": {"provider": "hash"},
                     "vector_store": {"provider": "redis", "config": {"urll": "redis://localhost"}}})


async def test_an_engine_remembers_through_it_and_a_new_one_finds_it(redis_url: str, collection: str) -> None:
    async with AsyncMemory(config(redis_url, collection)) as memory:
        await memory.add("I keep my bike in the garage", user_id="alice", infer=False)
        await memory.add("Bob's bike is red", user_id="bob", infer=False)
    async with AsyncMemory(config(redis_url, collection)) as memory:  # a new engine on the same collection
        found = await memory.search("where is the bike", user_id="alice")
        assert [r["memory"] for r in found["results"]] == ["I keep my bike in the garage"]
        assert memory.retriever.indexes.builds == 0  # keywords ranked in Redis: no per-process index


# The child: an engine serving commands until EOF, one JSON object per line.
CHILD = r"""
import asyncio, json, sys
from mem7_core import AsyncMemory

async def main(url, collection):
    cfg = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 32}},
        "vector_store": {"provider": "redis", "config": {"url": url, "collection_name": collection}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "retrieval": {"mode": "bm25"},
    }
    async with AsyncMemory(cfg) as memory:
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            cmd = json.loads(line)
            try:
                if cmd["op"] == "add":
                    res = await memory.add(cmd["text"], user_id="alice", infer=False)
                    out = {"id": res["results"][0]["id"]}
                elif cmd["op"] == "update":
                    await memory.update(cmd["id"], cmd["text"])
                    out = {}
                else:
                    res = await memory.search(cmd["query"], user_id="alice", limit=10)
                    out = {"results": [[r["id"], r["score"]] for r in res["results"]]}
            except Exception as exc:
                out = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def call(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=120)
        assert line, f"the child process exited ({await self.proc.wait()})"
        out = json.loads(line)
        assert "error" not in out, out["error"]
        return out

    async def search(self, query: str) -> list[tuple[str, float]]:
        return [(str(i), float(s)) for i, s in (await self.call(op="search", query=query))["results"]]


async def test_two_processes_see_each_other_s_writes_and_rank_alike(redis_url: str, collection: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, redis_url, collection,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(ROOT), env=dict(os.environ),
    )
    child = Child(proc)
    try:
        async with AsyncMemory(config(redis_url, collection, "bm25")) as memory:

            async def search(query: str) -> list[tuple[str, float]]:
                res = await memory.search(query, user_id="alice", limit=10)
                return [(r["id"], r["score"]) for r in res["results"]]

            tea = (await memory.add("Alice drinks green tea every morning", user_id="alice", infer=False))["results"][0]["id"]
            assert [i for i, _ in await child.search("green tea")] == [tea]  # written here, found there
            chess = (await child.call(op="add", text="Bob taught Alice to play chess"))["id"]
            assert [i for i, _ in await search("chess")] == [chess]  # written there, found here
            await child.call(op="update", id=tea, text="Alice drinks black coffee at noon")
            assert [i for i, _ in await search("coffee noon")] == [tea]
            assert await search("green tea") == []
            await memory.add("Alice's tea ceremony in Kyoto", user_id="alice", infer=False)
            for query in ("tea", "Alice", "coffee chess", "Kyoto tea"):
                mine, theirs = await search(query), await child.search(query)
                assert [i for i, _ in mine] == [i for i, _ in theirs], query
                assert [s for _, s in mine] == pytest.approx([s for _, s in theirs], rel=1e-9), query
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
