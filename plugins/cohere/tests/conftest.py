"""A loopback emulator of Cohere's ``POST /v2/rerank``, and the fixtures of this plugin's tests.

The emulator is a stdlib HTTP/1.1 server (keep-alive) on 127.0.0.1 in a background thread, so the
real ``cohere`` client talks real HTTP to it. It follows the documented v2 rerank API:

Request ``POST /v2/rerank`` with ``Authorization: Bearer <key>`` and a JSON body::

    {"model": "rerank-v3.5", "query": "...", "documents": ["...", ...],
     "top_n": 3,                 # optional, >= 1: at most this many results
     "max_tokens_per_doc": 4096} # optional, >= 1: each document truncated to this many tokens

Response 200::

    {"id": "<uuid>",
     "results": [{"index": 2, "relevance_score": 0.93}, ...],   # best first, at most top_n
     "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}

Errors are ``{"message": "..."}`` with the status: 400 (bad body: missing model/query, empty or
non-string documents, bad top_n), 401 (missing or wrong bearer token), 404 (unknown route, or a
model not named ``rerank-*``), and whatever a test injects (429 with ``Retry-After``, 5xx...).

Scores are deterministic: the share of the query's words found in the document (words are
lower-cased ``\\w+`` runs, a "token" for ``max_tokens_per_doc`` is one word), unless a test sets
``score_fn(query, document) -> float``. Ties keep the input order.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest

ENV_VARS = ("CO_API_KEY", "COHERE_API_KEY", "CO_API_URL")
_WORD = re.compile(r"\w+")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key or endpoint."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def lexical_score(query: str, document: str) -> float:
    """The emulator's default relevance: the share of the query's distinct words in the document."""
    q = set(words(query))
    return len(q & set(words(document))) / len(q) if q else 0.0


@dataclass
class Fault:
    """An injected answer for the next ``times`` requests."""

    status: int = 500
    body: bytes | dict[str, Any] | None = None
    retry_after: str | None = None
    drop: bool = False
    delay: float = 0.0
    times: int = 1


@dataclass
class Recorded:
    """One request the emulator received (headers lower-cased, body parsed JSON or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class CohereEmulator:
    """Loopback ``POST /v2/rerank``; ``url`` is the ``base_url`` for the cohere client."""

    def __init__(self, *, api_key: str = "co-test", host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.host = host
        self.score_fn: Callable[[str, str], float] = lexical_score
        self.latency = 0.0
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                emulator._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                emulator._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                exc = sys.exc_info()[1]
                if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
                    emulator.errors.append(exc)

        self._server = Server((self.host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cohere-emulator", daemon=True)
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
        assert self._server is not None, "emulator not started"
        return f"http://{self.host}:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ scripting
    def fail_next(self, times: int = 1, status: int = 500, *, retry_after: float | str | None = None,
                  body: bytes | dict[str, Any] | None = None) -> None:
        """The next ``times`` requests answer ``status`` (body ``{"message": ...}`` unless given)."""
        with self._lock:
            self._faults.append(Fault(status, body, None if retry_after is None else str(retry_after), times=times))

    def malformed_next(self, times: int = 1, *, body: bytes | dict[str, Any] = b'{"id": "x", "results": [{"ind',
                       status: int = 200) -> None:
        """The next ``times`` requests get a broken 200 body (default: truncated JSON)."""
        with self._lock:
            self._faults.append(Fault(status, body, times=times))

    def drop_next(self, times: int = 1) -> None:
        """The next ``times`` requests see the connection closed without an answer."""
        with self._lock:
            self._faults.append(Fault(drop=True, times=times))

    def slow_next(self, times: int = 1, *, delay: float) -> None:
        """The next ``times`` requests are answered normally, ``delay`` seconds late."""
        with self._lock:
            self._faults.append(Fault(status=0, delay=delay, times=times))

    def count(self) -> int:
        """Requests received on ``/v2/rerank``."""
        with self._lock:
            return sum(1 for r in self.requests if r.path == "/v2/rerank")

    def last(self) -> Recorded:
        with self._lock:
            return self.requests[-1]

    # ------------------------------------------------------------------ HTTP
    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        rec = Recorded(h.command, h.path.split("?", 1)[0], {k.lower(): v for k, v in h.headers.items()},
                       None if body is ValueError else body)
        with self._lock:
            self.requests.append(rec)
        fault = self._take_fault() if rec.path == "/v2/rerank" else None
        status, payload, headers = self._answer(rec, body, fault)
        delay = self.latency + (fault.delay if fault is not None else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.drop:
            h.close_connection = True  # no answer at all: the client sees the connection end
            return
        rec.status = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionError):  # the client gave up (timeout test)
            h.close_connection = True

    def _answer(self, rec: Recorded, body: Any, fault: Fault | None) -> tuple[int, Any, dict[str, str]]:
        if rec.method != "POST" or rec.path != "/v2/rerank":
            return 404, {"message": f"route {rec.method} {rec.path} not found"}, {}
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] != self.api_key:
            return 401, {"message": "invalid api token"}, {}
        if fault is not None and not fault.drop and fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            if fault.body is not None:
                return fault.status, fault.body, headers
            message = {429: "You are using a Trial key, which is limited to 10 API calls / minute.",
                       400: "invalid request"}.get(fault.status, "internal server error (injected)")
            return fault.status, {"message": message}, headers
        return self._rerank(body)

    def _rerank(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if body is ValueError or not isinstance(body, dict):
            return 400, {"message": "invalid request: body must be a JSON object"}, {}
        model, query, docs = body.get("model"), body.get("query"), body.get("documents")
        if not isinstance(model, str) or not model:
            return 400, {"message": "invalid request: model is required"}, {}
        if not model.startswith("rerank-"):
            return 404, {"message": f"model '{model}' not found, make sure the correct model ID was used"}, {}
        if not isinstance(query, str) or not query.strip():
            return 400, {"message": "invalid request: query must not be empty"}, {}
        if not isinstance(docs, list) or not docs:
            return 400, {"message": "invalid request: list of documents must not be empty"}, {}
        if not all(isinstance(d, str) for d in docs):
            return 400, {"message": "invalid request: documents must be strings"}, {}
        top_n = body.get("top_n")
        if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
            return 400, {"message": "invalid request: top_n must be a positive integer"}, {}
        max_tokens = body.get("max_tokens_per_doc")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            return 400, {"message": "invalid request: max_tokens_per_doc must be a positive integer"}, {}
        if max_tokens is not None:
            docs = [" ".join(words(d)[:max_tokens]) for d in docs]
        scored = [(i, float(self.score_fn(query, d))) for i, d in enumerate(docs)]
        scored.sort(key=lambda p: -p[1])  # stable: ties keep the input order
        if top_n is not None:
            scored = scored[:top_n]
        return 200, {
            "id": str(uuid.uuid4()),
            "results": [{"index": i, "relevance_score": s} for i, s in scored],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }, {}


@pytest.fixture
def cohere_server() -> Iterator[CohereEmulator]:
    """A loopback ``/v2/rerank`` emulator (key ``co-test``), started for this test."""
    with CohereEmulator() as server:
        yield server
