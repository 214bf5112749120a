"""The engine with graph memory on ``memgraph`` (chosen by name, loaded through the entry point),
against ArcadeDB over Bolt; what it wrote is read back by another process through a new store.

The LLM is the core's ScriptedLLM with its rule-based model; embeddings are the hash embedder.
"""

from __future__ import annotations

import json
import subprocess
import sys

from mem7_core import AsyncMemory
from mem7_core.models import Scope
from mem7_core.testing.fakes import ScriptedLLM
from mem7_memgraph import MemgraphGraphStore

READER = """
import asyncio, json, sys
from mem7_core.models import Scope
from mem7_memgraph import MemgraphGraphStore

async def main():
    store = MemgraphGraphStore(MemgraphGraphStore.Config.model_validate(json.loads(sys.argv[1])))
    try:
        rels = await store.get_all(Scope(user_id="u1"))
        print(json.dumps([[*r.triple, r.mentions] for r in rels]))
    finally:
        await store.aclose()

asyncio.run(main())
"""


async def test_engine_graph_memory_seen_by_another_process(arcadedb, database) -> None:
    store_config = {
        "url": arcadedb.bolt_url, "username": arcadedb.username, "password": arcadedb.password, "database": database,
    }  # fmt: skip
    config = {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "graph_store": {"provider": "memgraph", "config": store_config},
    }
    async with AsyncMemory(config, llm=ScriptedLLM()) as mem:
        assert isinstance(mem.graph_store, MemgraphGraphStore)
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        await mem.add("Ana lives in Porto", user_id="u2", infer=False)
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        assert mem.graph_store.dialect == "cypher"
        found = await mem.search("where does Ana live", user_id="u1")
        assert [(r["source"], r["relationship"], r["destination"]) for r in found["relations"]] == [
            ("ana", "lives_in", "lisbon")
        ]
        out = subprocess.run(
            [sys.executable, "-c", READER, json.dumps(store_config)], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [["ana", "lives_in", "lisbon", 2]]
        await mem.delete_all(user_id="u1")
        assert await mem.graph_store.entity_count(Scope(user_id="u1")) == 0
        assert await mem.graph_store.entity_count(Scope(user_id="u2")) == 2
