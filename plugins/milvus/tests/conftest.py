"""A Milvus server for the tests: Milvus Lite's own gRPC server (``milvus-lite server``, the CLI of
the ``milvus-lite`` wheel, speaking Milvus's gRPC protocol) on a free loopback port with a temporary
data directory, started once per test session and stopped at its end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class MilvusServer:
    uri: str
    path: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def milvus_server() -> Iterator[MilvusServer]:
    data = Path(tempfile.mkdtemp(prefix="mem7-milvus-server-"))
    port = _free_port()
    log = open(data.parent / f"{data.name}.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data / "db"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"milvus-lite server exited with {proc.returncode}: {log.read()[-2000:].decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("milvus-lite server did not listen within 60 s")
                time.sleep(0.1)
        yield MilvusServer(f"http://127.0.0.1:{port}", data / "db")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink()
        shutil.rmtree(data, ignore_errors=True)
