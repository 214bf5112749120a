"""mem7-kuzu against the shared graph-store conformance suite.

The engine comes from ``MEM7_KUZU_ENGINE`` (default ``kuzu``): ``tests/test_kuzu.py`` reruns this
module with ``MEM7_KUZU_ENGINE=ladybug`` in a subprocess, because kuzu and ladybug must never be
loaded in one process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import pytest

from mem7_core.providers import GraphStore
from mem7_core.testing.graph_store import GraphStoreConformance
from mem7_kuzu import KuzuGraphStore

ENGINE = os.environ.get("MEM7_KUZU_ENGINE", "kuzu")


def _store(path: str, *, cache_embeddings: bool = True) -> KuzuGraphStore:
    # Two engine threads per query: the test machine's cores are shared with other jobs.
    cfg = {"path": path, "engine": ENGINE, "max_num_threads": 2, "cache_embeddings": cache_embeddings}
    return KuzuGraphStore(KuzuGraphStore.Config.model_validate(cfg))


class TestKuzuOnDisk(GraphStoreConformance):
    """A database file per test, reopened on the same path for the persistence tests; search
    scores the in-memory mirror of the embeddings (the default)."""

    supports_persistence = True

    @pytest.fixture
    async def graph_store(self, tmp_path: Path):
        store = _store(str(tmp_path / "graph" / "mem7_graph.kuzu"))
        yield store
        await store.aclose()

    async def reopen(self, store: GraphStore) -> GraphStore:
        kuzu_store = cast(KuzuGraphStore, store)
        await kuzu_store.aclose()
        return _store(kuzu_store.config.path)  # a new cache, loaded from the file


class TestKuzuInMemory(GraphStoreConformance):
    """``:memory:``, with search reading the embeddings from the database each time (no cache); no
    persistence."""

    @pytest.fixture
    async def graph_store(self):
        store = _store(":memory:", cache_embeddings=False)
        yield store
        await store.aclose()
