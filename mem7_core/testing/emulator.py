"""The plumbing of a loopback emulator of a hosted HTTP JSON API, for a plugin's tests.

A provider whose service is hosted only is tested with its real client against an emulator of the
service's documented wire protocol (``docs/writing-a-provider.md``). What every such emulator needs
and none should write again is here: a stdlib HTTP/1.1 server (keep-alive) on 127.0.0.1 in a
background thread, every request recorded, and faults a test can inject (an error status with
``Retry-After``, a malformed body, a dropped connection, a late answer). A plugin's emulator
subclasses :class:`LoopbackEmulator` and writes only the API: :meth:`~LoopbackEmulator.answer`
(and, when the API checks something before anything else, :meth:`~LoopbackEmulator.reject`)::

    class EchoEmulator(LoopbackEmulator):
        name = "echo"
        fault_paths = ("/v1/echo",)

        def reject(self, rec: Recorded) -> Reply | None:
            if rec.headers.get("authorization") != "Bearer k":
                return 401, {"message": "invalid api key"}, {}
            return None

        def answer(self, rec: Recorded) -> Reply:
            if (rec.method, rec.path) != ("POST", "/v1/echo"):
                return self.not_found(rec)
            return 200, {"echo": rec.body}, {}

    with EchoEmulator() as emu:          # emu.url is the client's base URL
        emu.fail_next(2, 429, retry_after=0)
        ...
        assert emu.count("/v1/echo") == 3

The order of a request: :meth:`~LoopbackEmulator.reject` (auth, unknown routes: answered even when
a fault is queued, as the real service would), then a queued fault if the path is one of
``fault_paths`` (all paths when empty), then :meth:`~LoopbackEmulator.answer`. Anything an
emulator's handler raises is kept in ``errors`` (a test asserts it is empty) and answered 500.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["INVALID_JSON", "ApiError", "Fault", "LoopbackEmulator", "Recorded", "Reply"]

Reply = tuple[int, Any, dict[str, str]]
"""An answer: status, body (``bytes`` sent as they are, anything else as JSON), extra headers."""


class _InvalidJSON:
    def __repr__(self) -> str:
        return "INVALID_JSON"


INVALID_JSON: Any = _InvalidJSON()
"""``Recorded.body`` of a request whose body was not JSON (the raw bytes are in ``raw``)."""


class ApiError(Exception):
    """Raised by an emulator's :meth:`~LoopbackEmulator.reject` or :meth:`~LoopbackEmulator.answer`
    (or anything they call) to answer ``status`` with the API's :meth:`~LoopbackEmulator.error_body`
    of ``message``: the way to refuse a bad request from deep inside the validation."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


@dataclass
class Fault:
    """An injected answer for the next ``times`` requests on a faulted path.

    ``status`` 0 answers normally (only ``delay`` applies); ``drop`` closes the connection with no
    answer; ``body`` ``None`` is the emulator's :meth:`LoopbackEmulator.error_body`.
    """

    status: int = 500
    body: bytes | dict[str, Any] | None = None
    retry_after: str | None = None
    drop: bool = False
    delay: float = 0.0
    times: int = 1


@dataclass
class Recorded:
    """One request the emulator received: headers lower-cased, ``body`` the parsed JSON (``None``
    when empty, :data:`INVALID_JSON` when not JSON), ``query`` the raw query string, ``seq`` its
    number (1 for the first request the emulator received)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""
    query: str = ""
    seq: int = 0
    status: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class LoopbackEmulator:
    """Base of a loopback emulator: subclass it and write :meth:`answer` (see the module docstring).

    ``latency`` delays every answer (seconds); ``requests`` and ``errors`` are what it received and
    what its handler raised.
    """

    name = "emulator"
    """The server thread's name (``<name>-emulator``)."""

    fault_paths: tuple[str, ...] = ()
    """Paths whose requests take queued faults; empty means every path."""

    content_type = "application/json"

    malformed_body: bytes = b'{"truncat'
    """What :meth:`malformed_next` sends by default: a cut-off answer of the API."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.latency = 0.0
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what a subclass writes
    def answer(self, rec: Recorded) -> Reply:
        """The API's answer to ``rec`` (no fault applies)."""
        raise NotImplementedError(f"{type(self).__name__} must implement answer()")

    def reject(self, rec: Recorded) -> Reply | None:
        """An answer given before any fault (a bad key, an unknown route), or ``None``."""
        return None

    def error_body(self, status: int, message: str) -> Any:
        """The API's error body (an :class:`ApiError`, :meth:`not_found`, an injected fault)."""
        return {"message": message}

    def fault_body(self, status: int) -> Any:
        """The body of an injected ``status`` fault queued without one (the service's own words
        for a 429 or a 5xx, when a client shows them)."""
        return self.error_body(status, f"injected {status}")

    def extra_headers(self, rec: Recorded) -> dict[str, str]:
        """Headers sent with every answer to ``rec`` (a request id...); none by default."""
        return {}

    def not_found(self, rec: Recorded) -> Reply:
        return 404, self.error_body(404, f"route {rec.method} {rec.path} not found"), {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def _any(self) -> None:
                emulator._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                exc = sys.exc_info()[1]
                if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
                    emulator.errors.append(exc)

        self._server = Server((self.host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the base URL to give the client."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started: call start() or use it as a context manager")
        return f"http://{self.host}:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ scripting
    def fail_next(self, times: int = 1, status: int = 500, *, retry_after: float | str | None = None,
                  body: bytes | dict[str, Any] | None = None, delay: float = 0.0) -> None:
        """The next ``times`` faulted requests answer ``status`` (body :meth:`error_body` unless given)."""
        self._queue(Fault(status, body, None if retry_after is None else str(retry_after), delay=delay, times=times))

    def malformed_next(self, times: int = 1, *, body: bytes | dict[str, Any] | None = None, status: int = 200) -> None:
        """The next ``times`` faulted requests get a broken ``status`` body (default :attr:`malformed_body`)."""
        self._queue(Fault(status, self.malformed_body if body is None else body, times=times))

    def drop_next(self, times: int = 1) -> None:
        """The next ``times`` faulted requests see the connection closed without an answer."""
        self._queue(Fault(drop=True, times=times))

    def slow_next(self, times: int = 1, *, delay: float) -> None:
        """The next ``times`` faulted requests are answered normally, ``delay`` seconds late."""
        self._queue(Fault(status=0, delay=delay, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests received (on ``path`` / with ``method`` when given)."""
        with self._lock:
            return sum(1 for r in self.requests
                       if (path is None or r.path == path) and (method is None or r.method == method))

    def last(self, path: str | None = None) -> Recorded:
        """The last request received (on ``path`` when given)."""
        with self._lock:
            for rec in reversed(self.requests):
                if path is None or rec.path == path:
                    return rec
        raise AssertionError(f"{type(self).__name__} received no request" + (f" on {path}" if path else ""))

    # ------------------------------------------------------------------ HTTP
    def _queue(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, rec: Recorded) -> Fault | None:
        if self.fault_paths and rec.path not in self.fault_paths:
            return None
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault

    def _respond(self, rec: Recorded) -> tuple[Reply, Fault | None]:
        try:
            rejected = self.reject(rec)
        except ApiError as exc:
            return (exc.status, self.error_body(exc.status, exc.message), {}), None
        if rejected is not None:
            return rejected, None
        fault = self._take_fault(rec)
        if fault is not None and not fault.drop and fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            body = fault.body if fault.body is not None else self.fault_body(fault.status)
            return (fault.status, body, headers), fault
        try:
            return self.answer(rec), fault
        except ApiError as exc:
            return (exc.status, self.error_body(exc.status, exc.message), {}), fault

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = INVALID_JSON
        path, _, query = h.path.partition("?")
        rec = Recorded(h.command, path, {k.lower(): v for k, v in h.headers.items()}, body, raw, query)
        with self._lock:
            self.requests.append(rec)
            rec.seq = len(self.requests)
        try:
            (status, payload, headers), fault = self._respond(rec)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        except Exception as exc:  # an emulator bug: recorded for the test, answered 500
            self.errors.append(exc)
            status, headers, fault = 500, {}, None
            data = json.dumps(self.error_body(500, f"emulator error: {exc!r}")).encode()
        delay = self.latency + (fault.delay if fault is not None else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.drop:
            h.close_connection = True  # no answer at all: the client sees the connection end
            return
        rec.status = status
        try:
            h.send_response(status)
            if not any(k.lower() == "content-type" for k in headers):
                h.send_header("Content-Type", self.content_type)
            h.send_header("Content-Length", str(len(data)))
            for k, v in {**self.extra_headers(rec), **headers}.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionError):  # the client gave up (a timeout test)
            h.close_connection = True
