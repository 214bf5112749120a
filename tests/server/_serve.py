"""Run the real ``mem7 serve`` console script as a subprocess on a free loopback port.

The server is started with ``--port 0`` and prints ``mem7 serve: listening on <url>`` on stderr
once its engine is up; :class:`ServeProcess` waits for that line, so no port is guessed and no
test sleeps. stderr is drained by a thread (kept in :attr:`ServeProcess.stderr_lines`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"mem7 serve: listening on (http://\S+)")
_CLEARED_PREFIXES = ("MEM7_", "OPENAI_")

ADMIN = "tok-admin-0123456789"
ALICE = "tok-alice-0123456789"
BOB = "tok-bob-0123456789"
TOKENS: dict[str, dict[str, str] | None] = {ADMIN: None, ALICE: {"user_id": "alice"}, BOB: {"user_id": "bob"}}
"""Bearer tokens of the shared test server: one unrestricted, two pinned to a user each."""


def mem7_exe() -> str:
    """The installed console script next to this interpreter (the venv's), else on PATH."""
    exe = shutil.which("mem7", path=str(Path(sys.executable).parent)) or shutil.which("mem7")
    assert exe, "the mem7 console script is not installed (pip install -e '.[server,mcp]' in the venv)"
    return exe


def clean_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without MEM7_* / OPENAI_* settings, on the instant hash embedder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED_PREFIXES)}
    env.update({"MEM7_DATA_DIR": str(data_dir), "MEM7_EMBEDDER__PROVIDER": "hash", "MEM7_USER_ID": "default-user"})
    env.update(extra or {})
    return env


class ServeProcess:
    """``mem7 serve --port 0`` (or ``command``) in a subprocess; a context manager that stops it (SIGTERM) on exit."""

    def __init__(
        self, env: Mapping[str, str], args: Sequence[str] = (), *, command: Sequence[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.args = [*(command or [mem7_exe(), "serve", "--port", "0"]), *args]
        self.env = dict(env)
        self.startup_timeout = startup_timeout
        self.url = ""
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            match = LISTENING.search(line)
            if match and not self.url:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()  # EOF: the process ended (maybe before it was ready)

    def start(self) -> Self:
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.startup_timeout) or not self.url:
            self.stop()
            raise AssertionError(f"mem7 serve did not start: {self.stderr}")
        return self

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.terminate()
        try:
            return self.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

