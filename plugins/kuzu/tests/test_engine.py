"""mem7-kuzu behind the engine: ``graph_store: {provider: kuzu}`` in an AsyncMemory config.

Hash embedder, flat vector store, SQLite history in memory, and the core's ScriptedLLM (its
rule-based model answers the graph prompts), so every graph call is a real parse of a real JSON
answer and every triple goes through the Kuzu store on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mem7_core import AsyncMemory
from mem7_core.models import Scope
from mem7_core.testing.fakes import ScriptedLLM
from mem7_kuzu import KuzuGraphStore


def _config(path: Path) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "graph_store": {
            "provider": "kuzu",
            "config": {"path": str(path), "max_num_threads": 2},
        },
    }


def _triples(relations: Any) -> list[tuple[str, str, str]]:
    return [(r["source"], r["relationship"], r["destination"]) for r in relations]


async def test_engine_graph_memory_on_kuzu(tmp_path: Path) -> None:
    path = tmp_path / "graph" / "mem7_graph.kuzu"
    async with AsyncMemory(_config(path), llm=ScriptedLLM()) as mem:
        assert isinstance(mem.graph_store, KuzuGraphStore)
        out = await mem.add("I live in Lisbon", user_id="alice", infer=False)
        assert _triples(out["relations"]) == [("alice", "live_in", "lisbon")]
        await mem.add("I live in Lisbon", user_id="alice", infer=False)
        await mem.add("I live in Porto", user_id="bob", infer=False)
        found = await mem.search("where does alice live", user_id="alice")
        assert _triples(found["relations"]) == [("alice", "live_in", "lisbon")]
        (rel,) = await mem.graph_store.get_all(Scope(user_id="alice"))
        assert rel.valid and rel.mentions == 2  # the repeat counted (decay is off: no rehearsal)
        assert _triples((await mem.get_all(user_id="bob"))["relations"]) == [("bob", "live_in", "porto")]

    # A new engine on the same file finds the graph; deletes stay in their user.
    async with AsyncMemory(_config(path), llm=ScriptedLLM()) as mem:
        assert _triples((await mem.get_all(user_id="alice"))["relations"]) == [("alice", "live_in", "lisbon")]
        await mem.delete_all(user_id="alice")
        assert (await mem.get_all(user_id="alice"))["relations"] == []
        assert mem.graph_store is not None
        assert await mem.graph_store.entity_count(Scope(user_id="alice")) == 0
        assert _triples((await mem.search("where does bob live", user_id="bob"))["relations"]) == [
            ("bob", "live_in", "porto")
        ]
        await mem.reset()
        assert await mem.graph_store.entity_count(Scope()) == 0
