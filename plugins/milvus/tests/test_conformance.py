"""mem7-milvus against the shared conformance suite: Milvus Lite on a local ``.db`` (with reopen, and
a second store of the same process on the same path), and a Milvus gRPC server over loopback (with a
second client on the same collection)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_milvus import MilvusVectorStore

DIMS = 8


def _store(**cfg: object) -> MilvusVectorStore:
    return MilvusVectorStore(MilvusVectorStore.Config.model_validate(cfg))


class _Milvus(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, MilvusVectorStore)
        await store.aclose()
        return MilvusVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        """Milvus Lite: a store of the same process, sharing its instance; a server: another client."""
        assert isinstance(store, MilvusVectorStore)
        return MilvusVectorStore(store.config)


class TestMilvusLite(_Milvus):
    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = _store(uri=str(tmp_path / "milvus.db"), batch_size=7)  # small batches: chunking exercised too
        yield store
        await store.aclose()


class TestMilvusServer(_Milvus):
    """The property tests run on Milvus Lite only: the same store code, and test time is scarce."""

    run_property_tests = False

    @pytest.fixture
    async def vector_store(self, milvus_server):
        store = _store(uri=milvus_server.uri, collection_name=f"conf_{uuid.uuid4().hex[:12]}")
        yield store
        await store.aclose()
        cleanup = MilvusVectorStore(store.config)  # the suite may have closed it: drop the collection
        await cleanup.reset()
        await cleanup.aclose()
