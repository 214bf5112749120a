"""pytest fixtures shipped with mem7-core (loaded through the ``pytest11`` entry point).

pytest loads this module in every run, so it imports nothing heavy: the loopback server module is
imported only when a test asks for one of its fixtures.

- ``openai_server``: a fresh loopback OpenAI-compatible server per test
  (:class:`mem7_core.testing.openai_server.OpenAIServer`; ``.url`` is the ``base_url``).
- ``openai_server_session``: one server for the whole session (cheaper; scripts, faults and
  counters are shared, so call ``openai_server_session.reset()`` where that matters).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A loopback OpenAI-compatible server, started for this test and stopped after it."""
    from .openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[OpenAIServer]:
    """One loopback OpenAI-compatible server shared by the whole test session."""
    from .openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server
