"""FlatGraphStore against the shared graph-store conformance suite: in memory, persisted, and
persisted with a crash-style reopen (no snapshot on the way out)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mem7_core.providers import GraphStore
from mem7_core.testing import GraphStoreConformance
from mem7_flat.graph import FlatGraphStore


def _store(path: Path | None = None, **cfg: object) -> FlatGraphStore:
    return FlatGraphStore(FlatGraphStore.Config.model_validate({"path": None if path is None else str(path), **cfg}))


class TestFlatGraphInMemory(GraphStoreConformance):
    @pytest.fixture
    async def graph_store(self) -> AsyncIterator[FlatGraphStore]:
        store = _store()
        yield store
        await store.aclose()


class TestFlatGraphPersisted(GraphStoreConformance):
    supports_persistence = True

    @pytest.fixture
    async def graph_store(self, tmp_path: Path) -> AsyncIterator[FlatGraphStore]:
        store = _store(tmp_path / "graph", snapshot_every=7)  # small, so snapshots happen mid-test
        yield store
        await store.aclose()

    async def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, FlatGraphStore)
        await store.aclose()
        return FlatGraphStore(store.config)


class TestFlatGraphPersistedNoSnapshotOnClose(TestFlatGraphPersisted):
    """Reopen without aclose(): everything must come back from the log alone (a crash)."""

    async def reopen(self, store: GraphStore) -> GraphStore:
        assert isinstance(store, FlatGraphStore)
        assert store._persist is not None
        store._persist.close()  # no snapshot: simulate the process dying after the last fsync
        return FlatGraphStore(store.config)
