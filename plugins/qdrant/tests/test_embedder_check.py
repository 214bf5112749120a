"""The engine refuses an embedder of other dims than a Qdrant collection holds (local mode), with
the same ``ConfigError`` as on any store; nothing is created or changed by the refused open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError
from mem7_qdrant import QdrantVectorStore


def config(path: Path, dims: int) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": dims}},
        "vector_store": {"provider": "qdrant", "config": {"path": str(path), "collection_name": "emb"}},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }


async def test_other_dims_are_a_config_error_and_the_collection_is_kept(fast_tmp: Path) -> None:
    path = fast_tmp / "q"
    async with await AsyncMemory.create(config(path, 16)) as m:
        await m.add("I like green tea", user_id="alice", infer=False)
    with pytest.raises(ConfigError) as info:
        await AsyncMemory.create(config(path, 32))
    text = str(info.value)
    assert "the vector store (qdrant 'emb' path=" in text and "holds 16-dim vectors, but" in text
    assert "hash gives 32-dim vectors" in text and "mem7 export" in text
    async with await AsyncMemory.create(config(path, 16)) as m:
        assert [r["memory"] for r in (await m.get_all(user_id="alice"))["results"]] == ["I like green tea"]


async def test_the_store_reports_its_collection_dims_and_nothing_before_it_exists(fast_tmp: Path) -> None:
    s = QdrantVectorStore.from_config({"path": str(fast_tmp / "q2"), "collection_name": "emb"})
    try:
        assert await s.embedding_space() is None
        assert not await s._call("checking", lambda c: c.collection_exists("emb"))  # created nothing
    finally:
        await s.aclose()
