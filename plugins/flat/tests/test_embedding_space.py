"""The flat store's record of the embedder that wrote it (``meta.embedder``), read without writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mem7_core.errors import ConfigError
from mem7_core.models import VectorRecord
from mem7_core.providers import EmbeddingSpace
from mem7_flat import FlatVectorStore

SPACE = EmbeddingSpace(dims=4, provider="fastembed", model="sentence-transformers/all-MiniLM-L6-v2")


def store(path: Path | None, **cfg: object) -> FlatVectorStore:
    return FlatVectorStore(FlatVectorStore.Config.model_validate({"path": None if path is None else str(path), **cfg}))


def rec(i: int) -> VectorRecord:
    return VectorRecord(id=f"r{i}", vector=[1.0, float(i), 0.0, 0.5], payload={"data": f"m{i}", "user_id": "u"})


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path / "mem7_memories" / "mem7.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


async def test_a_store_not_written_yet_reports_nothing_and_creates_nothing(tmp_path: Path) -> None:
    s = store(tmp_path / "data")
    s.record_embedder(SPACE)
    assert await s.embedding_space() is None
    await s.aclose()
    assert not (tmp_path / "data").exists()


async def test_the_first_put_records_the_embedder_and_another_instance_reads_it_without_writing(
    tmp_path: Path,
) -> None:
    s = store(tmp_path)
    s.record_embedder(SPACE)
    await s.insert([rec(1)])
    assert await s.embedding_space() == SPACE
    await s.aclose()
    before = dump(tmp_path)
    reader = store(tmp_path)
    reader.record_embedder(EmbeddingSpace(dims=4, provider="hash"))  # told, but it only reads
    assert await reader.embedding_space() == SPACE
    assert [r.id for r in await reader.get(["r1"])] == ["r1"]
    await reader.aclose()
    assert dump(tmp_path) == before


async def test_a_collection_without_a_record_reports_its_dims_only(tmp_path: Path) -> None:
    s = store(tmp_path)
    await s.insert([rec(1)])  # nothing recorded: the engine never said
    assert await s.embedding_space() == EmbeddingSpace(dims=4)
    s.record_embedder(SPACE)
    await s.delete(["r1"])  # no vectors put: still nothing recorded
    assert await s.embedding_space() == EmbeddingSpace(dims=4)
    await s.insert([rec(2)])
    assert await s.embedding_space() == SPACE
    await s.reset()
    assert await s.embedding_space() is None
    await s.aclose()


async def test_in_memory_the_record_lives_beside_the_vectors() -> None:
    s = store(None)
    s.record_embedder(SPACE)
    assert await s.embedding_space() is None
    await s.insert([rec(1)])
    assert await s.embedding_space() == SPACE
    await s.reset()
    assert await s.embedding_space() is None


async def test_an_unreadable_record_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = store(tmp_path)
    await s.insert([rec(1)])
    await s.aclose()
    conn = sqlite3.connect(tmp_path / "mem7_memories" / "mem7.db")
    with conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('embedder', '{\"dims\": \"x\"}')")
    conn.close()
    s = store(tmp_path)
    assert await s.embedding_space() == EmbeddingSpace(dims=4)
    assert "unreadable embedder record" in caplog.text
    await s.aclose()


async def test_config_dims_other_than_the_collection_is_a_config_error_naming_the_fix(tmp_path: Path) -> None:
    s = store(tmp_path)
    await s.insert([rec(1)])
    await s.aclose()
    with pytest.raises(ConfigError) as info:
        store(tmp_path, dims=8)
    assert "dims (embedding_model_dims) is 8" in str(info.value) and "use dims: 4" in str(info.value)
