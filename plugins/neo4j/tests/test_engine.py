"""mem7's engine with graph memory on the neo4j store (chosen by name in the config, loaded through
the entry point), against ArcadeDB over Bolt: adds per user, one-hop search, delete_all, reset.

The LLM is the core's ScriptedLLM with its rule-based model (real JSON answers, parsed for real);
embeddings are the hash embedder. Everything else is real.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import Scope
from mem7_core.testing.fakes import ScriptedLLM
from mem7_neo4j import Neo4jGraphStore


def triples(relations: list[Any]) -> list[tuple[str, str, str]]:
    return [(r["source"], r["relationship"], r["destination"]) for r in relations]


async def test_engine_graph_memory_per_user(arcadedb, arcadedb_database) -> None:
    config = {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "graph_store": {
            "provider": "neo4j",
            "config": {"url": arcadedb.bolt_url, "username": arcadedb.username, "password": arcadedb.password,
                       "database": arcadedb_database},
        },
    }
    async with AsyncMemory(config, llm=ScriptedLLM()) as mem:
        assert isinstance(mem.graph_store, Neo4jGraphStore)
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        await mem.add("Ana lives in Porto", user_id="u2", infer=False)
        await mem.add("Ana lives in Lisbon", user_id="u1", infer=False)
        # Same name, two users: two entities, and u2's Porto invalidated nothing of u1's.
        assert await mem.graph_store.entity_count(Scope(user_id="u1")) == 2
        (rel,) = await mem.graph_store.get_all(Scope(user_id="u1"))
        assert rel.triple == ("ana", "lives_in", "lisbon") and rel.mentions == 2
        found = await mem.search("where does Ana live", user_id="u1")
        assert triples(found["relations"]) == [("ana", "lives_in", "lisbon")]
        found = await mem.search("where does Ana live", user_id="u2")
        assert triples(found["relations"]) == [("ana", "lives_in", "porto")]
        assert triples((await mem.get_all(user_id="u2"))["relations"]) == [("ana", "lives_in", "porto")]
        await mem.delete_all(user_id="u1")
        assert await mem.graph_store.entity_count(Scope(user_id="u1")) == 0
        assert triples((await mem.get_all(user_id="u2"))["relations"]) == [("ana", "lives_in", "porto")]
        await mem.reset()
        assert await mem.graph_store.entity_count(Scope()) == 0


# ============================================================================ a bad graph config fails where the engine is built
def mem0_config(url: str, username: str, password: str, database: str | None) -> dict[str, Any]:
    """mem0's documented graph config (only ``graph_store``), on a hash embedder and no LLM."""
    graph: dict[str, Any] = {"url": url, "username": username, "password": password}
    if database is not None:
        graph["database"] = database
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat"},
        "graph_store": {"provider": "neo4j", "config": graph},
    }


def test_memory_from_config_with_a_wrong_password_fails_at_construction(arcadedb, arcadedb_database) -> None:
    # mem0's Memory.from_config connects to Neo4j, so a wrong password fails there; it used to be
    # accepted here, then every add() kept its memories and reported the refusal in graph_error.
    config = mem0_config(arcadedb.bolt_url, arcadedb.username, "not-the-password", arcadedb_database)
    with pytest.raises(ConfigError) as info:
        Memory.from_config(config)
    msg = str(info.value)
    assert "authentication failed" in msg and repr(arcadedb.username) in msg and "graph_store.config.username" in msg
    assert "not-the-password" not in msg


def test_memory_with_an_unknown_database_fails_at_construction(arcadedb) -> None:
    config = mem0_config(arcadedb.bolt_url, arcadedb.username, arcadedb.password, "nosuchdb")
    with pytest.raises(ConfigError, match=r"database 'nosuchdb' does not exist.*graph_store\.config\.database"):
        Memory(config)


async def test_async_create_with_an_unreachable_server_fails_naming_the_url(closed_port: int) -> None:
    url = f"bolt://127.0.0.1:{closed_port}"
    config = mem0_config(url, "neo4j", "pw", None)
    config["graph_store"]["config"]["connect_timeout"] = 1
    with pytest.raises(ProviderError, match=r"\[neo4j\] cannot reach the server at " + re.escape(url) + r".*graph_store\.config\.url"):
        await AsyncMemory.create(config)
    # AsyncMemory(config) itself stays lazy (no I/O in a constructor): the graph connects on first use.
    async with AsyncMemory(config) as mem:
        assert isinstance(mem.graph_store, Neo4jGraphStore)


def test_memory_from_config_connects_the_graph_store(arcadedb, arcadedb_database) -> None:
    config = mem0_config(arcadedb.bolt_url, arcadedb.username, arcadedb.password, arcadedb_database)
    with Memory.from_config(config) as m:
        store = m.engine.graph_store
        assert isinstance(store, Neo4jGraphStore) and store.similarity == "function"  # probed at construction
