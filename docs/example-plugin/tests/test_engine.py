"""The provider as users meet it: selected by name in a config, through the installed entry point."""

import pytest

from mem7_core import AsyncMemory, ConfigError, get_registry
from mem7_litevec import LiteVecStore


def test_the_entry_point_registers_the_provider():
    assert get_registry().get("vector_store", "litevec") is LiteVecStore


def test_a_typo_in_its_config_is_named():
    with pytest.raises(ConfigError, match=r"vector_store.config.pathh"):
        AsyncMemory({"llm": None, "embedder": {"provider": "hash"},
                     "vector_store": {"provider": "litevec", "config": {"pathh": "x.db"}}})


@pytest.mark.asyncio  # pytest-asyncio's default (strict) mode runs only marked async tests
async def test_an_engine_remembers_through_it(tmp_path):
    config = {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "litevec", "config": {"path": str(tmp_path / "memories.db")}},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / "history.db")}},
    }
    async with AsyncMemory(config) as memory:
        await memory.add("I keep my bike in the garage", user_id="alice")
        await memory.add("Bob's bike is red", user_id="bob")
    async with AsyncMemory(config) as memory:  # a new engine on the same file
        found = await memory.search("where is the bike", user_id="alice")
        assert [r["memory"] for r in found["results"]] == ["I keep my bike in the garage"]
