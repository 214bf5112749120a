"""mem7's engine with graph memory on the falkordb store (chosen by name in the config, loaded
through the entry point), against the session's FalkorDB server: adds per user, one-hop search,
delete_all, reset.

The LLM is the core's ScriptedLLM with its rule-based model; embeddings are the hash embedder.
"""

from __future__ import annotations

from typing import Any

from mem7_core import AsyncMemory
from mem7_core.models import Scope
from mem7_core.testing.fakes import ScriptedLLM
from mem7_falkordb import FalkorDBGraphStore


def triples(relations: list[Any]) -> list[tuple[str, str, str]]:
    return [(r["source"], r["relationship"], r["destination"]) for r in relations]


async def test_engine_graph_memory_per_user(falkordb_server, graph_name) -> None:
    config = {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "graph_store": {"provider": "falkordb", "config": {"url": falkordb_server.url, "graph": graph_name}},
    }
    async with AsyncMemory(config, llm=ScriptedLLM()) as mem:
        assert isinstance(mem.graph_store, FalkorDBGraphStore)
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        await mem.add("Ana lives in Porto", user_id="u2", infer=False)
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        assert await mem.graph_store.entity_count(Scope(user_id="u1")) == 2
        (rel,) = await mem.graph_store.get_all(Scope(user_id="u1"))
        assert rel.triple == ("ana", "lives_in", "lisbon") and rel.mentions == 2
        found = await mem.search("where does Ana live", user_id="u1")
        assert triples(found["relations"]) == [("ana", "lives_in", "lisbon")]
        found = await mem.search("where does Ana live", user_id="u2")
        assert triples(found["relations"]) == [("ana", "lives_in", "porto")]
        await mem.delete_all(user_id="u1")
        assert await mem.graph_store.entity_count(Scope(user_id="u1")) == 0
        assert triples((await mem.get_all(user_id="u2"))["relations"]) == [("ana", "lives_in", "porto")]
        await mem.reset()
        assert await mem.graph_store.entity_count(Scope()) == 0
