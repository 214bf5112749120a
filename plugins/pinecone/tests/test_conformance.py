"""mem7-pinecone against the core's vector-store conformance suite: the real ``pinecone`` SDK's
async REST client talking to the loopback emulator of Pinecone's API (``pinecone_emulator.py``).

Two configurations: the defaults, and ``max_top_k=2`` / ``page_size=3`` / ``batch_size=2``, so the
widening queries, the full-scan fallback of a search, paged ``fetch_by_metadata`` and batched
upserts run on every test of the suite too.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pinecone_emulator import API_KEY, PineconeEmulator

from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_pinecone import PineconeVectorStore


def make_store(server: PineconeEmulator, **cfg: Any) -> PineconeVectorStore:
    cfg = {"host": server.url, "api_key": API_KEY, "retry_backoff": 0.0, **cfg}
    return PineconeVectorStore(PineconeVectorStore.Config.model_validate(cfg))


async def _drop(store: PineconeVectorStore) -> None:
    """Empty the test's namespace (with a new client when the test closed its own)."""
    if store._closed:
        store = PineconeVectorStore(store.config)
    await store.reset()
    await store.aclose()


class TestPinecone(VectorStoreConformance):
    dims = 8
    supports_persistence = True  # hosted: a new client on the same index sees everything

    @pytest.fixture
    async def vector_store(self, shared_pinecone: PineconeEmulator):
        store = make_store(shared_pinecone, namespace=f"cf-{uuid.uuid4().hex[:12]}")
        yield store
        await _drop(store)

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, PineconeVectorStore)
        await store.aclose()
        return PineconeVectorStore(store.config)

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        assert isinstance(store, PineconeVectorStore)
        return PineconeVectorStore(store.config)


class TestPineconeSmallPages(TestPinecone):
    """Every read through the fallbacks: top_k capped at 2, pages of 3, upserts of 2."""

    @pytest.fixture
    async def vector_store(self, shared_pinecone: PineconeEmulator):
        store = make_store(shared_pinecone, namespace=f"sp-{uuid.uuid4().hex[:12]}", max_top_k=2, page_size=3,
                           batch_size=2)
        yield store
        await _drop(store)
