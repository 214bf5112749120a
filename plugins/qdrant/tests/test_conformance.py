"""mem7-qdrant against the shared conformance suite, in qdrant-client's local mode.

No Qdrant server can run here, so the suite runs in local mode: in memory, and persisted to a
directory (with reopen). Server mode is covered by tests/test_qdrant.py (retries, timeouts,
indexes, error mapping) against loopback sockets and a recording client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mem7_core.filters import ALL_OPERATORS
from mem7_core.providers import VectorStore, VectorStoreCapabilities
from mem7_core.testing import VectorStoreConformance
from mem7_qdrant import QdrantVectorStore

DIMS = 8


def _store(**cfg: object) -> QdrantVectorStore:
    return QdrantVectorStore(QdrantVectorStore.Config.model_validate(cfg))


class TestQdrantInMemory(VectorStoreConformance):
    dims = DIMS

    @pytest.fixture
    async def vector_store(self):
        store = _store(location=":memory:", batch_size=7)  # small batches: the suite also exercises chunking
        yield store
        await store.aclose()


class TestQdrantPath(VectorStoreConformance):
    """Persisted local mode (on tmpfs when available, see ``fast_tmp``). The property tests stay off
    here: they exercise the same code as in memory, and each point is its own SQLite commit."""

    dims = DIMS
    supports_persistence = True
    run_property_tests = False

    @pytest.fixture
    async def vector_store(self, fast_tmp: Path):
        store = _store(path=str(fast_tmp / "qdrant"), collection_name="conformance", batch_size=64)
        yield store
        await store.aclose()

    async def reopen(self, store: VectorStore) -> VectorStore:
        assert isinstance(store, QdrantVectorStore)
        await store.aclose()
        return QdrantVectorStore(store.config)


class TestQdrantEveryOperator(VectorStoreConformance):
    """The same suite with every operator declared: contains/icontains (and string ranges) are then
    answered by the store itself (narrowed in Qdrant, re-checked here), and must still equal the
    reference semantics. Proves that a filter handed to the store directly is never mis-answered."""

    dims = DIMS

    @pytest.fixture
    async def vector_store(self):
        store = _store(location=":memory:")
        store.capabilities = VectorStoreCapabilities(filter_operators=ALL_OPERATORS, logical=True)  # type: ignore[misc]
        yield store
        await store.aclose()
