"""Fixtures: an ArcadeDB server speaking Bolt on loopback (one per session, through
:mod:`mem7_core.testing.arcadedb`) with one database emptied before each test, and loopback ports
that refuse connections.

No Memgraph server can be installed here (no wheel, no Debian package). ArcadeDB speaks Bolt and
openCypher, so the store's portable statements (the ``cypher`` dialect, which ``dialect: auto``
picks on a server that does not answer ``mg.procedures()``) run through the real ``neo4j`` driver
against it. The Memgraph-only statements are pinned by text in ``test_memgraph.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mem7_core.testing.arcadedb import ArcadeDB, free_port, run_arcadedb

DATABASE = "memgraph_tests"


@pytest.fixture(scope="session")
def arcadedb() -> Iterator[ArcadeDB]:
    pytest.importorskip("arcadedb_embedded", reason="arcadedb-embedded is in mem7-memgraph's [test] extra")
    with run_arcadedb() as server:
        server.command(f"create database {DATABASE}")
        yield server


@pytest.fixture
def database(arcadedb: ArcadeDB) -> str:
    """The session's database, emptied (through the HTTP API, not the store) before the test."""
    arcadedb.empty(DATABASE)
    return DATABASE


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused."""
    return free_port()
