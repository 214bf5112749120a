"""mem7-litevec against the core's vector-store conformance suite, in memory and in a file."""

from pathlib import Path

import pytest

from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_litevec import LiteVecStore


class TestLiteVecInMemory(VectorStoreConformance):
    dims = 8

    @pytest.fixture
    async def vector_store(self):
        store = LiteVecStore(LiteVecStore.Config())
        yield store
        await store.aclose()


class TestLiteVecFile(VectorStoreConformance):
    dims = 8
    supports_persistence = True

    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = LiteVecStore(LiteVecStore.Config(path=str(tmp_path / "vectors.db")))
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, LiteVecStore)
        await store.aclose()
        return LiteVecStore(store.config)
