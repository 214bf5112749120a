"""Reliability and security suite (issue 7). Helpers live in ``_kit.py`` next to this file."""

from __future__ import annotations

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
