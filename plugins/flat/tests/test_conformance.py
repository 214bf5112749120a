"""mem7-flat against the shared conformance suite: in memory, persisted, and persisted with crash-style reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_flat import FlatVectorStore

DIMS = 8


def _store(path: Path | None = None, **cfg: object) -> FlatVectorStore:
    config = FlatVectorStore.Config.model_validate({"path": None if path is None else str(path), **cfg})
    return FlatVectorStore(config)


class TestFlatInMemory(VectorStoreConformance):
    dims = DIMS

    @pytest.fixture
    async def vector_store(self):
        store = _store(initial_capacity=4)  # small, so the suite also exercises growth
        yield store
        await store.aclose()


class TestFlatPersisted(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = _store(tmp_path / "vectors", snapshot_every=7, initial_capacity=4)
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, FlatVectorStore)
        await store.aclose()
        return FlatVectorStore(store.config)


class TestFlatPersistedNoSnapshotOnClose(TestFlatPersisted):
    """Reopen without aclose(): everything must come back from the log alone (a crash)."""

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, FlatVectorStore)
        assert store._persist is not None
        store._persist.close()  # no snapshot: simulate the process dying after the last fsync
        return FlatVectorStore(store.config)
