"""mem7-flat against the shared conformance suite: in memory, persisted, and persisted reopened beside a live instance."""

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

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, FlatVectorStore)
        return FlatVectorStore(store.config)


class TestFlatPersistedOpenTwice(TestFlatPersisted):
    """Reopen without closing the first store: a second instance (as a second process would) on
    the same directory sees every acknowledged write while the first is still open."""

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, FlatVectorStore)
        return FlatVectorStore(store.config)
