"""mem7-upstash against the shared conformance suite, with the real upstash-vector client talking
to the loopback emulator of Upstash's REST API (``upstash_emulator.py``).

Two configurations: the defaults (filtered queries, list by one query), and a small ``max_top_k`` /
``range_page_size`` with ``list_strategy="scan"``, so the widening loop, the range-scan fallbacks
and paging run on every test of the suite too.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from upstash_emulator import TOKEN, UpstashEmulator

from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_upstash import UpstashVectorStore

DIMS = 8


def make_store(server: UpstashEmulator, **cfg: Any) -> UpstashVectorStore:
    cfg.setdefault("url", server.url)
    cfg.setdefault("token", TOKEN)
    cfg.setdefault("retry_backoff", 0.0)
    return UpstashVectorStore(UpstashVectorStore.Config.model_validate(cfg))


class TestUpstash(VectorStoreConformance):
    dims = DIMS
    supports_persistence = True  # hosted: a new client on the same index sees everything

    @pytest.fixture
    async def vector_store(self, shared_upstash_server: UpstashEmulator):
        # One index for the session, one namespace per test: the suite also checks isolation.
        store = make_store(shared_upstash_server, collection_name=f"cf-{uuid.uuid4().hex[:12]}")
        yield store
        await store.reset()
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, UpstashVectorStore)
        await store.aclose()
        return UpstashVectorStore(store.config)


class TestUpstashScanPaths(TestUpstash):
    """Every read through the fallbacks: topK capped at 8, range pages of 10, batches of 10, list by scan."""

    @pytest.fixture
    async def vector_store(self, shared_upstash_server: UpstashEmulator):
        store = make_store(
            shared_upstash_server, collection_name=f"sp-{uuid.uuid4().hex[:12]}", max_top_k=8,
            range_page_size=10, list_strategy="scan", batch_size=10, overfetch=1,
        )
        yield store
        await store.reset()
        await store.aclose()
