"""mem7's engine end to end on the Milvus store (Milvus Lite): provider lookup by name through the
entry point, config errors named, verbatim adds, scoped search with filters, get_all order, update,
delete, history, and a new engine on the same file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory, ConfigError, get_registry
from mem7_milvus import MilvusVectorStore


def config(tmp: Path, **store: Any) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "milvus", "config": store},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp / "history.db")}},
    }


def test_the_entry_point_registers_the_provider() -> None:
    assert get_registry().get("vector_store", "milvus") is MilvusVectorStore


@pytest.mark.parametrize(
    ("store", "named"),
    [({"urii": "x.db"}, r"vector_store\.config\.urii"), ({"uri": "/tmp/nodb"}, r"uri.*\.db")],
)
def test_bad_config_is_named_at_start(tmp_path: Path, store: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        AsyncMemory(config(tmp_path, **store))


async def test_engine_round_trip(tmp_path: Path) -> None:
    cfg = config(tmp_path, uri=str(tmp_path / "m.db"), collection_name="engine")
    m = AsyncMemory(cfg)
    try:
        assert isinstance(m.vector_store, MilvusVectorStore)
        facts = [("I like green tea", "food", ["drink"]), ("My cat is called Ada", "pets", ["cat"]),
                 ("I drink coffee on Mondays", "food", ["drink", "weekly"])]
        ids = []
        for text, cat, tags in facts:
            res = await m.add(text, user_id="alice", metadata={"cat": cat, "tags": tags}, infer=False)
            ids.append(res["results"][0]["id"])
        await m.add("Bob likes tea too", user_id="bob", metadata={"cat": "food"}, infer=False)

        hits = await m.search("green tea", user_id="alice", filters={"cat": "food"})
        assert {h["memory"] for h in hits["results"]} == {"I like green tea", "I drink coffee on Mondays"}
        hits = await m.search("tea", user_id="alice", filters={"OR": [{"cat": "pets"}, {"tags": {"contains": "weekly"}}]})
        assert {h["memory"] for h in hits["results"]} == {"My cat is called Ada", "I drink coffee on Mondays"}

        listed = await m.get_all(user_id="alice", limit=2)
        assert [r["id"] for r in listed["results"]] == ids[:2]
        await m.update(ids[0], "I like jasmine tea", user_id="alice")
        assert (await m.get(ids[0], user_id="alice"))["memory"] == "I like jasmine tea"
        await m.delete(ids[1], user_id="alice")
        assert [r["id"] for r in (await m.get_all(user_id="alice"))["results"]] == [ids[0], ids[2]]
        assert [e["event"] for e in await m.history(ids[0])] == ["ADD", "UPDATE"]
        assert [r["memory"] for r in (await m.get_all(user_id="bob"))["results"]] == ["Bob likes tea too"]
    finally:
        await m.aclose()

    again = AsyncMemory(cfg)  # a new engine on the same file
    try:
        assert [r["memory"] for r in (await again.get_all(user_id="alice"))["results"]] == [
            "I like jasmine tea", "I drink coffee on Mondays"
        ]
    finally:
        await again.aclose()
