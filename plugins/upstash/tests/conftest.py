"""Fixtures: the loopback Upstash Vector emulator (``upstash_emulator.py``) and its servers."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _load_emulator() -> None:
    """Make ``import upstash_emulator`` work in the test modules without touching ``sys.path``
    (pytest runs with --import-mode=importlib; other plugins' tests share the process)."""
    if "upstash_emulator" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("upstash_emulator", Path(__file__).with_name("upstash_emulator.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["upstash_emulator"] = module
    spec.loader.exec_module(module)


_load_emulator()

from upstash_emulator import TOKEN, UpstashEmulator  # noqa: E402

ENV_VARS = ("UPSTASH_VECTOR_REST_URL", "UPSTASH_VECTOR_REST_TOKEN")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real Upstash credentials."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def upstash_server() -> Iterator[UpstashEmulator]:
    """A fresh emulated index (8 dims, cosine) on 127.0.0.1, for this test."""
    with UpstashEmulator(token=TOKEN, dimension=8) as server:
        yield server


@pytest.fixture(scope="session")
def shared_upstash_server() -> Iterator[UpstashEmulator]:
    """One emulated index for the whole session (8 dims, cosine): give each test its own namespace."""
    with UpstashEmulator(token=TOKEN, dimension=8) as server:
        yield server
