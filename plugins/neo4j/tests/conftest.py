"""Fixtures: an ArcadeDB server speaking Bolt on loopback (one per session), a fresh database per
test (emptied, or new), and loopback sockets that refuse or never answer.

No Neo4j server can be installed here. ArcadeDB (``arcadedb-embedded`` on PyPI, with its own JRE)
speaks Bolt and Neo4j-dialect Cypher, so the store runs through the real ``neo4j`` driver against
it. The server runs in a separate process (:mod:`mem7_core.testing.arcadedb`); tests get an emptied
database (or a new one), managed through ArcadeDB's HTTP API.

``MEM7_NEO4J_URL`` (with ``MEM7_NEO4J_USERNAME`` / ``MEM7_NEO4J_PASSWORD`` / ``MEM7_NEO4J_DATABASE``)
names a real Neo4j 5 server for the tests that need one (vector index); they are skipped without it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mem7_core.testing.arcadedb import ArcadeDB, free_port, run_arcadedb


@pytest.fixture(scope="session")
def arcadedb() -> Iterator[ArcadeDB]:
    """An ArcadeDB server with the Bolt plugin on free loopback ports, for the whole session."""
    pytest.importorskip("arcadedb_embedded", reason="arcadedb-embedded is in mem7-neo4j's [test] extra")
    with run_arcadedb() as server:
        yield server


@pytest.fixture
def fresh_database(arcadedb: ArcadeDB) -> Iterator[str]:
    """A new, empty database on the session's server, dropped after the test."""
    name = "t" + secrets.token_hex(6)
    arcadedb.command(f"create database {name}")
    try:
        yield name
    finally:
        try:
            arcadedb.command(f"drop database {name}")
        except RuntimeError:
            pass  # best effort: the server directory is removed at session end anyway


@pytest.fixture(scope="session")
def _shared_database(arcadedb: ArcadeDB) -> str:
    name = "conformance"
    arcadedb.command(f"create database {name}")
    return name


@pytest.fixture
def arcadedb_database(arcadedb: ArcadeDB, _shared_database: str) -> str:
    """The session's test database, emptied before the test.

    One database for all tests rather than one each: ArcadeDB plans and caches queries per
    database, so a new database per test costs about a second of cold queries each. Emptied here
    through the HTTP API, not through the store under test.
    """
    arcadedb.empty(_shared_database)
    return _shared_database


@dataclass(frozen=True)
class Neo4jServer:
    url: str
    username: str | None
    password: str | None
    database: str | None


@pytest.fixture
def real_neo4j() -> Neo4jServer:
    """A real Neo4j 5 server named by ``MEM7_NEO4J_URL``; the test is skipped without one."""
    url = os.environ.get("MEM7_NEO4J_URL")
    if not url:
        pytest.skip("needs a real Neo4j 5.11+ server (vector index): set MEM7_NEO4J_URL (+ _USERNAME/_PASSWORD/_DATABASE)")
    return Neo4jServer(
        url,
        os.environ.get("MEM7_NEO4J_USERNAME", "neo4j"),
        os.environ.get("MEM7_NEO4J_PASSWORD"),
        os.environ.get("MEM7_NEO4J_DATABASE"),
    )


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused."""
    return free_port()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: the Bolt handshake times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]
