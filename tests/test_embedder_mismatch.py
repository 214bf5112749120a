"""A store opened with an embedder it was not written with (issue #18 follow-up).

Before: mem7-flat opened a 384-dim collection under a 768-dim embedder silently and every add and
search then failed with numpy's bare ``ValueError``; a different model of the same dims silently
ranked by noise. Now the engine compares the embedder with what the store holds (its dims, and the
embedder the store recorded with its first vectors) and refuses with a ``ConfigError`` naming both
sides and the ways out; nothing stored is touched, and a read-only open writes nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from mem7_core import AsyncMemory, Memory
from mem7_core.cli import main
from mem7_core.errors import ConfigError
from mem7_core.testing.fakes import HashEmbedder


class NamedHash(HashEmbedder):
    """The hash embedder under a model name: two names stand for two models of equal dims."""

    name = "named-hash"

    class Config(HashEmbedder.Config):
        model: str = Field("model-a", min_length=1)

    config: Config  # type: ignore[assignment]


def config(data: Path, dims: int = 384, **embedder: Any) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": dims}, **embedder},
        "vector_store": {"provider": "flat", "config": {"path": str(data)}},
        "history_store": {"provider": "auto"},
    }


def named(model: str) -> NamedHash:
    return NamedHash(NamedHash.Config.model_validate({"model": model, "dims": 384}))


def dump(data: Path) -> list[str]:
    """The whole database, as SQL: what a reader must leave as it was."""
    conn = sqlite3.connect(data / "mem7_memories" / "mem7.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def meta(data: Path, key: str) -> str | None:
    conn = sqlite3.connect(data / "mem7_memories" / "mem7.db")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
    finally:
        conn.close()


TEXTS = ["I live in Lisbon", "I surf every weekend", "My sister is called Ana"]


def write(data: Path, **kwargs: Any) -> list[str]:
    with Memory(config(data), **kwargs) as m:
        for text in TEXTS:
            m.add(text, user_id="alice", infer=False)
        return sorted(r["id"] for r in m.get_all(user_id="alice")["results"])


def test_other_dims_are_refused_at_open_naming_both_sides_and_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = write(data)
    before = dump(data)
    with pytest.raises(ConfigError) as info:
        Memory(config(data, dims=768))
    text = str(info.value)
    assert "holds 384-dim vectors written by hash" in text
    assert "hash gives 768-dim vectors" in text
    assert str(data) in text and "'mem7_memories'" in text
    assert "configure the embedder the store was written with" in text.lower()
    assert "collection_name" in text and "mem7 export" in text and "mem7 import" in text
    assert dump(data) == before  # nothing written, nothing lost
    with Memory(config(data)) as m:  # the right embedder reads everything back, and searches
        assert sorted(r["id"] for r in m.get_all(user_id="alice")["results"]) == ids
        (hit, *_) = m.search("where do I live", user_id="alice")["results"]
        assert hit["memory"] == "I live in Lisbon"


async def test_async_engine_built_directly_refuses_before_the_store_is_touched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data)
    before = dump(data)
    m = AsyncMemory(config(data, dims=768))  # construction is sync: checked before the first use
    try:
        with pytest.raises(ConfigError, match="holds 384-dim vectors"):
            await m.add("I moved to Porto", user_id="alice", infer=False)
        with pytest.raises(ConfigError, match="holds 384-dim vectors"):
            await m.search("where", user_id="alice")
        with pytest.raises(ConfigError, match="holds 384-dim vectors"):
            await m.get_all(user_id="alice")
    finally:
        await m.aclose()
    assert dump(data) == before
    with pytest.raises(ConfigError, match="holds 384-dim vectors"):
        await AsyncMemory.create(config(data, dims=768))


def test_same_dims_another_model_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = write(data, embedder=named("model-a"))
    assert meta(data, "embedder") == '{"dims": 384, "model": "model-a", "provider": "named-hash"}'
    before = dump(data)
    with pytest.raises(ConfigError) as info:
        Memory(config(data), embedder=named("model-b"))
    text = str(info.value)
    assert "written by the embedder named-hash 'model-a' (384 dims)" in text
    assert "the configured embedder is named-hash 'model-b' (384 dims)" in text
    assert "embedder.allow_model_change: true" in text and "mem7 export" in text
    with pytest.raises(ConfigError, match="'model-a'"):  # nor the model-less hash embedder of equal dims
        Memory(config(data))
    assert dump(data) == before
    with Memory(config(data), embedder=named(" Model-A ")) as m:  # the same name, spelt otherwise
        assert sorted(r["id"] for r in m.get_all(user_id="alice")["results"]) == ids


def test_allow_model_change_opens_and_the_next_write_records_the_new_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    write(data, embedder=named("model-a"))
    with caplog.at_level(logging.WARNING, logger="mem7.engine"):
        m = Memory(config(data, allow_model_change=True), embedder=named("model-b"))
    with m:
        assert "allow_model_change" in caplog.text and "'model-a'" in caplog.text
        assert len(m.get_all(user_id="alice")["results"]) == 3
        assert "model-a" in (meta(data, "embedder") or "")  # reading recorded nothing
        m.add("I moved to Porto", user_id="alice", infer=False)
    assert meta(data, "embedder") == '{"dims": 384, "model": "model-b", "provider": "named-hash"}'
    with pytest.raises(ConfigError, match="'model-b'"):
        Memory(config(data), embedder=named("model-a"))


def test_a_read_only_open_writes_nothing_and_the_first_write_records_the_embedder(tmp_path: Path) -> None:
    """A store written before embedders were recorded (no ``meta.embedder``): opening it and reading
    leaves the database exactly as it was; the first write records the embedder, in its transaction."""
    data = tmp_path / "data"
    ids = write(data)
    conn = sqlite3.connect(data / "mem7_memories" / "mem7.db")
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'embedder'")
    conn.close()
    before = dump(data)
    with Memory(config(data)) as m:
        assert sorted(r["id"] for r in m.get_all(user_id="alice")["results"]) == ids
        assert m.get(ids[0]) is not None and m.history(ids[0])
    assert dump(data) == before
    with pytest.raises(ConfigError, match="holds 384-dim vectors, but"):  # dims still checked without it
        Memory(config(data, dims=512))
    assert dump(data) == before
    with Memory(config(data)) as m:
        m.add("I moved to Porto", user_id="alice", infer=False)
    assert meta(data, "embedder") == '{"dims": 384, "model": null, "provider": "hash"}'


def test_reset_forgets_the_recorded_embedder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data)
    with Memory(config(data)) as m:
        m.reset()
    assert meta(data, "embedder") is None and meta(data, "dims") is None
    with Memory(config(data, dims=768)) as m:  # an empty store takes any embedder
        m.add("I moved to Porto", user_id="alice", infer=False)
        assert len(m.get_all(user_id="alice")["results"]) == 1
    assert meta(data, "dims") == "768"


def test_the_cli_names_the_fix_and_export_import_moves_the_memories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The way out the message names works: export with the old embedder, import with the new one
    into a new path (import embeds again), and the new store searches with the new embedder."""
    for name in list(os.environ):
        if name in ("OPENAI_API_KEY", "OPENAI_BASE_URL") or name.startswith("MEM7_"):
            monkeypatch.delenv(name)
    old, new = tmp_path / "old", tmp_path / "new"
    monkeypatch.setenv("MEM7_EMBEDDER__PROVIDER", "hash")
    for text in TEXTS:
        assert main(["--data-dir", str(old), "add", "--no-infer", "-u", "alice", text]) == 0
    capsys.readouterr()
    monkeypatch.setenv("MEM7_EMBEDDER__CONFIG__DIMS", "768")
    assert main(["--data-dir", str(old), "list", "-u", "alice"]) == 2
    err = capsys.readouterr().err
    assert "holds 384-dim vectors" in err and "mem7 export" in err
    monkeypatch.delenv("MEM7_EMBEDDER__CONFIG__DIMS")
    dumped = tmp_path / "memories.jsonl"
    assert main(["--data-dir", str(old), "export", "-o", str(dumped)]) == 0
    monkeypatch.setenv("MEM7_EMBEDDER__CONFIG__DIMS", "768")
    assert main(["--data-dir", str(new), "import", "-q", str(dumped)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(new), "--json", "search", "-u", "alice", "where do I live"]) == 0
    out = capsys.readouterr().out
    assert '"I live in Lisbon"' in out
    assert meta(new / "vectors", "dims") == "768"


def test_a_store_instance_given_to_the_engine_is_checked_too() -> None:
    from mem7_flat import FlatVectorStore

    store = FlatVectorStore()  # in memory, shared by two engines of this process
    memory_only = {"llm": None, "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}}
    with Memory({**memory_only, "embedder": {"provider": "hash", "config": {"dims": 384}}}, vector_store=store) as m:
        m.add("I live in Lisbon", user_id="alice", infer=False)
        with pytest.raises(ConfigError, match="holds 384-dim vectors written by hash, but"):
            Memory({**memory_only, "embedder": {"provider": "hash", "config": {"dims": 64}}}, vector_store=m.engine.vector_store)
    assert len(store) == 1
