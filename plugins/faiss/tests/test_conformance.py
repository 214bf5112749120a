"""mem7-faiss against the shared conformance suite: persisted, reopened, and opened twice (as a
second process would) on one directory. Every filter operator is declared pushed down (the
default capabilities), so every filter case runs against the store itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from mem7_core.filters import ALL_OPERATORS
from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_faiss import FaissVectorStore

DIMS = 8


def _store(path: Path, **cfg: object) -> FaissVectorStore:
    return FaissVectorStore(FaissVectorStore.Config.model_validate({"path": str(path), "fsync": False, **cfg}))


class TestFaiss(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = _store(tmp_path / "faiss")
        assert store.capabilities.filter_operators == ALL_OPERATORS and store.capabilities.logical
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, FaissVectorStore)
        await store.aclose()
        return FaissVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, FaissVectorStore)
        return FaissVectorStore(store.config)


class TestFaissOpenTwice(TestFaiss):
    """Reopen without closing the first store: a second instance on the same directory sees every
    acknowledged write while the first is still open. The property tests run once, above."""

    run_property_tests = False

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, FaissVectorStore)
        return FaissVectorStore(store.config)
