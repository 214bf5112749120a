"""``mem7 serve --workers N`` spreads connections over its workers (issue #19, bench/results/rest.md).

With one listening socket shared by every worker, the worker whose event loop woke first took
every connection waiting, so a keep-alive client that opened its connections together (a pool of
32) was served by one worker of four. On Linux each worker now has a socket of its own on the port
(``SO_REUSEPORT``): the kernel assigns each connection to a worker when it arrives, whichever
worker is running. The tests stop one worker (SIGSTOP) while connections arrive: the other may
only answer its share. Real ``mem7 serve`` processes on loopback (``_serve.py``).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _serve import ServeProcess, clean_env, mem7_exe

from mem7_core.server.rest import BALANCED_REUSEPORT

pytestmark = pytest.mark.skipif(not BALANCED_REUSEPORT, reason="SO_REUSEPORT balances connections on Linux only")

WORKERS_LINE = re.compile(r"listening on http://\S+ \((\d+) workers, pids ([\d, ]+)\)")
CONNECTIONS = 32
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def worker_pids(server: ServeProcess) -> list[int]:
    match = WORKERS_LINE.search(server.stderr)
    assert match, server.stderr
    return [int(p) for p in match.group(2).split(",")]


def answer_worker(raw: bytes) -> int:
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 200"), head
    match = re.search(r"^x-mem7-worker: (\d+)\r?$", head, re.I | re.M)
    assert match, head
    return int(match.group(1))


def read_answers(conns: list[socket.socket], answers: dict[int, int], quiet: float, deadline: float) -> None:
    """Read whole responses (the server closes each connection) into ``answers`` (index → worker pid)
    until every connection answered, ``quiet`` seconds pass without a byte, or ``deadline``."""
    buffers = {i: b"" for i in range(len(conns)) if i not in answers}
    with selectors.DefaultSelector() as sel:
        for i in buffers:
            sel.register(conns[i], selectors.EVENT_READ, i)
        while buffers and time.monotonic() < deadline:
            ready = sel.select(timeout=quiet)
            if not ready:
                return
            for key, _ in ready:
                i = key.data
                chunk = conns[i].recv(65536)
                if chunk:
                    buffers[i] += chunk
                    continue
                sel.unregister(conns[i])
                answers[i] = answer_worker(buffers.pop(i))


def test_connections_arriving_while_a_worker_is_stopped_wait_for_it(tmp_path: Path) -> None:
    with ServeProcess(clean_env(tmp_path / "data"), ["--workers", "2"]) as server:
        running, stopped = worker_pids(server)
        url = urlsplit(server.url)
        assert url.hostname and url.port
        os.kill(stopped, signal.SIGSTOP)
        conns: list[socket.socket] = []
        try:
            # The handshakes complete in the kernel; the requests wait for whichever worker owns them.
            conns = [socket.create_connection((url.hostname, url.port), timeout=30) for _ in range(CONNECTIONS)]
            for conn in conns:
                conn.sendall(REQUEST)
            answers: dict[int, int] = {}
            read_answers(conns, answers, quiet=2.0, deadline=time.monotonic() + 30)
            by_running = len(answers)
            os.kill(stopped, signal.SIGCONT)
            read_answers(conns, answers, quiet=30.0, deadline=time.monotonic() + 30)
        finally:
            os.kill(stopped, signal.SIGCONT)
            for conn in conns:
                conn.close()
    assert len(answers) == CONNECTIONS, answers
    assert set(answers.values()) == {running, stopped}, (
        f"every connection went to worker {running} (the stopped worker {stopped} answered none)"
    )
    # The stopped worker's connections waited for it: the running one did not take them over.
    assert by_running == sum(1 for pid in answers.values() if pid == running) < CONNECTIONS


def test_a_second_server_on_a_port_in_use_is_refused(tmp_path: Path) -> None:
    with ServeProcess(clean_env(tmp_path / "a"), ["--workers", "2"]) as first:
        port = urlsplit(first.url).port
        assert port
        second = subprocess.run(
            [mem7_exe(), "serve", "--port", str(port), "--workers", "2"], env=clean_env(tmp_path / "b"),
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert second.returncode == 2, second.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr, second.stderr
