"""A real Chroma server for the tests: ``chroma run`` (the CLI of the ``chromadb`` wheel) on a free
loopback port with a temporary data directory, started once per test session and stopped at its end.
"""

from __future__ import annotations

import os
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
class ChromaServer:
    host: str
    port: int
    path: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chroma_cli() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if found is None:
        pytest.fail("the `chroma` CLI is missing: pip install -e plugins/chroma[test]")
    return found


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    data = Path(tempfile.mkdtemp(prefix="mem7-chroma-server-"))
    port = _free_port()
    log = open(data.parent / f"{data.name}.log", "w+b")  # noqa: SIM115 - closed below
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHROMA_")}
    proc = subprocess.Popen(
        [_chroma_cli(), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"chroma run exited with {proc.returncode}: {log.read()[-2000:].decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("chroma run did not listen within 60 s")
                time.sleep(0.1)
        yield ChromaServer("127.0.0.1", port, data / "db")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)
        shutil.rmtree(data, ignore_errors=True)
