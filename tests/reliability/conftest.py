"""Reliability and security suite (issue 7). Helpers live in ``_kit.py`` next to this file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # --import-mode=importlib: make ``import _kit`` work from the tests
    sys.path.insert(0, str(HERE))

from _kit import ENV_VARS  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's keys, endpoints or config file."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


# --------------------------------------------------------------------- servers for other stores
# The store-parametrised tests (``_stores.STORES``) reuse the plugins' own test servers: the
# embedded PostgreSQL of mem7-pgvector's tests and the loopback Upstash emulator.
from _stores import HASH_DIMS, REPO, load_module  # noqa: E402

if importlib.util.find_spec("psycopg") is not None:
    pg_dsn = load_module("_mem7_reliability_pg", REPO / "plugins/pgvector/tests/conftest.py").pg_dsn

if importlib.util.find_spec("mem7_redis") is not None:
    redis_url = load_module("_mem7_reliability_redis", REPO / "plugins/redis/tests/conftest.py").redis_url


@pytest.fixture(scope="session")
def reliability_pinecone():
    emulator = load_module("_mem7_reliability_pinecone", REPO / "plugins/pinecone/tests/pinecone_emulator.py")
    with emulator.PineconeEmulator(dimension=HASH_DIMS) as server:
        yield server


@pytest.fixture(scope="session")
def reliability_upstash():
    emulator = load_module("_mem7_reliability_upstash", REPO / "plugins/upstash/tests/upstash_emulator.py")
    with emulator.UpstashEmulator(dimension=HASH_DIMS) as server:
        yield server
