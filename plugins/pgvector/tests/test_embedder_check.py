"""The engine refuses an embedder of other dims than a pgvector table holds, with the same
``ConfigError`` as on any store; the refused open creates and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError
from mem7_pgvector import PgVectorStore


def config(section: dict[str, Any], dims: int) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": dims}},
        "vector_store": {"provider": "pgvector", "config": section},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }


async def test_other_dims_are_a_config_error_and_the_table_is_kept(pg_config: Any, table_name: str) -> None:
    section = pg_config(collection_name=table_name)
    async with await AsyncMemory.create(config(section, 16)) as m:
        await m.add("I like green tea", user_id="alice", infer=False)
    with pytest.raises(ConfigError) as info:
        await AsyncMemory.create(config(section, 32))
    text = str(info.value)
    assert f"the vector store (pgvector '{table_name}')" in text and "holds 16-dim vectors, but" in text
    assert "hash gives 32-dim vectors" in text and "mem7 export" in text
    async with await AsyncMemory.create(config(section, 16)) as m:
        assert [r["memory"] for r in (await m.get_all(user_id="alice"))["results"]] == ["I like green tea"]


async def test_no_table_yet_reports_nothing_and_creates_no_table(
    pg_config: Any, table_name: str, pg_admin: Any
) -> None:
    s = PgVectorStore.from_config(pg_config(collection_name=table_name))
    try:
        assert await s.embedding_space() is None
    finally:
        await s.aclose()
    row = pg_admin.execute("SELECT to_regclass(%s)", [table_name]).fetchone()
    assert row[0] is None
