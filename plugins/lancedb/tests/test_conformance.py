"""mem7-lancedb against the shared conformance suite, on a real embedded LanceDB directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mem7_core.filters import ALL_OPERATORS
from mem7_core.providers import VectorStore, VectorStoreCapabilities
from mem7_core.testing import VectorStoreConformance
from mem7_lancedb import LanceDBVectorStore

DIMS = 8


def _store(**cfg: object) -> LanceDBVectorStore:
    return LanceDBVectorStore(LanceDBVectorStore.Config.model_validate(cfg))


class TestLanceDB(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = _store(path=str(tmp_path / "lance"), collection_name="conformance")
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, LanceDBVectorStore)
        await store.aclose()
        return LanceDBVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, LanceDBVectorStore)
        return LanceDBVectorStore(store.config.model_copy())


class TestLanceDBEveryOperator(VectorStoreConformance):
    """Every operator declared: ranges and contains/icontains are then answered by the store itself
    (SQL for the rest, Python for those), and must still equal the reference semantics."""

    dims = DIMS
    run_property_tests = False

    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = _store(path=str(tmp_path / "lance-all"), compact_every=3)  # small: compaction runs mid-test
        store.capabilities = VectorStoreCapabilities(filter_operators=ALL_OPERATORS, logical=True, persistent=True)  # type: ignore[misc]
        yield store
        await store.aclose()
