"""Fixtures: one real Redis server with the Query Engine per test session (``redis_server.py``),
and stores on it, each on a collection of its own.

No server binary for this platform skips the tests with the reason, except under CI (``CI`` set),
where it fails: CI installs the wheels, so a missing server there is a broken setup.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _load(name: str, filename: str) -> Any:
    """Import a file next to this one under a private name (pytest runs with --import-mode=importlib;
    other plugins' tests share the process, so nothing is added to ``sys.path``)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


redis_server = _load("mem7_redis_test_server", "redis_server.py")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of the session's Redis server (started once, stopped at the end)."""
    with redis_server.running() as server:
        if isinstance(server, str):
            if os.environ.get("CI"):
                pytest.fail(f"Redis for the mem7-redis tests: {server}", pytrace=False)
            pytest.skip(f"Redis for the mem7-redis tests: {server}")
        yield server.url


def collection() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def make_store(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    """``make_store(**config)``: a RedisVectorStore on a fresh collection (``collection_name``
    may be given to share one); every collection made is reset and its index dropped afterwards."""
    from mem7_redis import RedisVectorStore

    stores: list[RedisVectorStore] = []
    names: set[str] = set()

    def make(**config: Any) -> RedisVectorStore:
        config.setdefault("url", redis_url)
        config.setdefault("collection_name", collection())
        names.add(config["collection_name"])
        store = RedisVectorStore(RedisVectorStore.Config(**config))
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()
    await redis_server.drop(redis_url, names)
