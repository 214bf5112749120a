"""Fixtures of mem7-pinecone's tests: the loopback Pinecone emulator (``pinecone_emulator.py``),
one per session for the conformance suite (a namespace per test), fresh ones where a test needs it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if "pinecone_emulator" not in sys.modules:  # --import-mode=importlib: load it by path, leave sys.path alone
    _spec = importlib.util.spec_from_file_location("pinecone_emulator", Path(__file__).with_name("pinecone_emulator.py"))
    assert _spec is not None and _spec.loader is not None
    sys.modules["pinecone_emulator"] = _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)

from pinecone_emulator import PineconeEmulator


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key or control plane."""
    for var in ("PINECONE_API_KEY", "PINECONE_CONTROLLER_HOST"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def shared_pinecone() -> Iterator[PineconeEmulator]:
    """One 8-dimensional cosine index for the session; tests use namespaces of their own."""
    with PineconeEmulator(dimension=8) as server:
        yield server


@pytest.fixture
def pinecone_server() -> Iterator[PineconeEmulator]:
    """A fresh 8-dimensional cosine index, for tests that inject faults or count requests."""
    with PineconeEmulator(dimension=8) as server:
        yield server
