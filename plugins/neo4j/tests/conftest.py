"""Fixtures: an ArcadeDB server speaking Bolt on loopback (one per session), a fresh database per
test (emptied, or new), and loopback sockets that refuse or never answer.

No Neo4j server can be installed here. ArcadeDB (``arcadedb-embedded`` on PyPI, with its own JRE)
speaks Bolt and Neo4j-dialect Cypher, so the store runs through the real ``neo4j`` driver against
it. The server runs in a separate process (see ``arcadedb_server.py``); tests get an emptied
database (or a new one), managed through ArcadeDB's HTTP API.

``MEM7_NEO4J_URL`` (with ``MEM7_NEO4J_USERNAME`` / ``MEM7_NEO4J_PASSWORD`` / ``MEM7_NEO4J_DATABASE``)
names a real Neo4j 5 server for the tests that need one (vector index); they are skipped without it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 120.0
"""Seconds for the JVM and ArcadeDB to come up (about 5 s on an idle machine)."""


@dataclass(frozen=True)
class ArcadeDB:
    bolt_url: str
    http_url: str
    username: str
    password: str

    def command(self, command: str) -> object:
        """A server command (``create database x``...) through the HTTP API; returns its result."""
        return self._post("/api/v1/server", {"command": command})

    def query(self, database: str, cypher: str) -> list[dict[str, object]]:
        """A Cypher command on ``database`` through the HTTP API (independent of the store under test)."""
        return self._post(f"/api/v1/command/{database}", {"language": "cypher", "command": cypher})  # type: ignore[return-value]

    def _post(self, path: str, body: dict[str, str]) -> object:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        req = urllib.request.Request(
            f"{self.http_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())["result"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"ArcadeDB {path} {body!r} failed: HTTP {exc.code} {exc.read()[:300]!r}") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def arcadedb() -> Iterator[ArcadeDB]:
    """An ArcadeDB server with the Bolt plugin on free loopback ports, for the whole session."""
    pytest.importorskip("arcadedb_embedded", reason="arcadedb-embedded is in mem7-neo4j's [test] extra")
    root = Path(tempfile.mkdtemp(prefix="mem7-arcadedb-"))
    bolt_port, http_port = _free_port(), _free_port()
    password = "mem7-" + secrets.token_hex(8)
    log_path = root / "server.log"
    script = Path(__file__).with_name("arcadedb_server.py")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root), str(bolt_port), str(http_port)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ARCADEDB_ROOT_PASSWORD": password},
            cwd=root,
            # Its own session: a ^C or SIGTERM aimed at pytest's process group does not reach the
            # JVM (whose SIGTERM handler crashes inside JPype); it stops at stdin EOF instead,
            # which also happens when pytest dies.
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (root / "ready").exists():
            if proc.poll() is not None:
                pytest.fail(f"ArcadeDB exited with {proc.returncode} before Bolt was up:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"ArcadeDB did not start within {STARTUP_TIMEOUT:.0f}s:\n{_tail(log_path)}")
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", bolt_port), timeout=10):
            pass  # the Bolt listener accepts connections
        yield ArcadeDB(f"bolt://127.0.0.1:{bolt_port}", f"http://127.0.0.1:{http_port}", "root", password)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server stops cleanly at EOF
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


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
    arcadedb.query(_shared_database, "MATCH (n) DETACH DELETE n")
    left = arcadedb.query(_shared_database, "MATCH (n) RETURN count(n) AS c")
    assert left == [{"c": 0}], left
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
    return _free_port()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: the Bolt handshake times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]
