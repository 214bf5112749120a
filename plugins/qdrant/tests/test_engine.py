"""mem7's engine end to end on the Qdrant store (local mode): provider lookup by name through the
entry point, verbatim adds, scoped search with pushed-down and engine-evaluated filters, get_all
order, update, delete, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mem7_core import AsyncMemory
from mem7_qdrant import QdrantVectorStore


def config(**store: Any) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "qdrant", "config": store},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }


async def test_engine_round_trip(fast_tmp: Path) -> None:
    m = AsyncMemory(config(path=str(fast_tmp / "q"), collection_name="engine"))
    try:
        assert isinstance(m.vector_store, QdrantVectorStore)
        facts = [("I like green tea", "food", ["drink"]), ("My cat is called Ada", "pets", ["cat"]),
                 ("I drink coffee on Mondays", "food", ["drink", "weekly"])]
        ids = []
        for text, cat, tags in facts:
            res = await m.add(text, user_id="alice", metadata={"cat": cat, "tags": tags}, infer=False)
            ids.append(res["results"][0]["id"])
        await m.add("Bob likes tea too", user_id="bob", metadata={"cat": "food"}, infer=False)

        hits = await m.search("green tea", user_id="alice", filters={"cat": "food"})
        assert {h["memory"] for h in hits["results"]} == {"I like green tea", "I drink coffee on Mondays"}
        # contains is not declared by the store: the engine evaluates it, the answer is the same.
        hits = await m.search("tea", user_id="alice", filters={"tags": {"contains": "weekly"}})
        assert [h["memory"] for h in hits["results"]] == ["I drink coffee on Mondays"]
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

    again = AsyncMemory(config(path=str(fast_tmp / "q"), collection_name="engine"))
    try:
        assert [r["memory"] for r in (await again.get_all(user_id="alice"))["results"]] == [
            "I like jasmine tea", "I drink coffee on Mondays"
        ]
    finally:
        await again.aclose()
