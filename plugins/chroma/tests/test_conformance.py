"""mem7-chroma against the shared conformance suite: the embedded persistent client (with reopen,
and a second store of the same process on the same path), and a real ``chroma run`` server over
loopback (with a second client on the same collection)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mem7_chroma import ChromaVectorStore
from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance

DIMS = 8


def _store(**cfg: object) -> ChromaVectorStore:
    return ChromaVectorStore(ChromaVectorStore.Config.model_validate(cfg))


class TestChromaEmbedded(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True

    @pytest.fixture
    async def vector_store(self, tmp_path: Path):
        store = _store(path=str(tmp_path / "chroma"), batch_size=7)  # small batches: chunking exercised too
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, ChromaVectorStore)
        await store.aclose()
        return ChromaVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, ChromaVectorStore)
        return ChromaVectorStore(store.config)  # same process: shares Chroma's client on the path


class TestChromaServer(VectorStoreConformance):
    """The property tests run in embedded mode only: the same store code, and test time is scarce."""

    dims = DIMS
    supports_persistence = True
    run_property_tests = False

    @pytest.fixture
    async def vector_store(self, chroma_server):
        name = f"conf-{uuid.uuid4().hex[:12]}"
        store = _store(host=chroma_server.host, port=chroma_server.port, collection_name=name)
        yield store
        await store.aclose()
        cleanup = ChromaVectorStore(store.config)  # the suite may have closed it: drop the collection
        await cleanup.reset()
        await cleanup.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, ChromaVectorStore)
        await store.aclose()
        return ChromaVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, ChromaVectorStore)
        return ChromaVectorStore(store.config)
