"""An ArcadeDB server speaking Bolt on loopback, for the tests of the Bolt graph stores.

No Neo4j or Memgraph server can be installed here; ArcadeDB (``arcadedb-embedded`` on PyPI, with
its own JRE) speaks Bolt and openCypher, so ``neo4j`` and ``memgraph`` run their portable
statements through the real ``neo4j`` driver against it. The server runs in a separate process
(``python -m mem7_core.testing.arcadedb ROOT BOLT_PORT HTTP_PORT``, root password in
``ARCADEDB_ROOT_PASSWORD``): the JVM, started through JPype, must not share the pytest process
with other native libraries. It writes ``ROOT/ready`` once Bolt is up and serves until its
standard input closes (the test session ended, or died).

In a conftest::

    @pytest.fixture(scope="session")
    def arcadedb():
        pytest.importorskip("arcadedb_embedded")
        with run_arcadedb() as server:
            yield server
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 120.0
"""Seconds for the JVM and ArcadeDB to come up (about 5 s on an idle machine)."""


@dataclass(frozen=True)
class ArcadeDB:
    """A running server: its Bolt and HTTP URLs and the root credentials."""

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

    def empty(self, database: str) -> None:
        """Delete every node of ``database`` (through the HTTP API) and check it is empty."""
        self.query(database, "MATCH (n) DETACH DELETE n")
        left = self.query(database, "MATCH (n) RETURN count(n) AS c")
        if left != [{"c": 0}]:
            raise RuntimeError(f"ArcadeDB database {database} not emptied: {left!r}")

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


def free_port() -> int:
    """A loopback port free right now (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextmanager
def run_arcadedb() -> Iterator[ArcadeDB]:
    """Start an ArcadeDB server with the Bolt plugin on free loopback ports; stop it on exit.

    :raises RuntimeError: when it exits or does not come up within :data:`STARTUP_TIMEOUT`.
    """
    root = Path(tempfile.mkdtemp(prefix="mem7-arcadedb-"))
    bolt_port, http_port = free_port(), free_port()
    password = "mem7-" + secrets.token_hex(8)
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(root), str(bolt_port), str(http_port)],
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
                raise RuntimeError(f"ArcadeDB exited with {proc.returncode} before Bolt was up:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ArcadeDB did not start within {STARTUP_TIMEOUT:.0f}s:\n{_tail(log_path)}")
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


def _serve() -> None:
    root, bolt_port, http_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    password = os.environ["ARCADEDB_ROOT_PASSWORD"]
    os.chdir(root)  # ArcadeDB writes ./log relative to the working directory

    from arcadedb_embedded.server import ArcadeDBServer  # type: ignore[import-untyped, import-not-found, unused-ignore]

    server = ArcadeDBServer(
        str(root / "server"),
        password,
        config={
            "host": "127.0.0.1",
            "http_port": http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
        },
        jvm_kwargs={"heap_size": os.environ.get("ARCADEDB_HEAP", "512m")},
    )
    server.start()
    try:
        (root / "ready").write_text(f"{bolt_port} {http_port}\n")
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or exited
    finally:
        server.stop()


if __name__ == "__main__":
    _serve()
