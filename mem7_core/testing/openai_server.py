"""A loopback OpenAI-compatible HTTP server for tests and benchmarks.

It speaks the documented wire protocol of the OpenAI REST API closely enough for the real
``openai`` client (and any OpenAI-compatible client) to run against it unmodified:

- ``POST /v1/chat/completions``: answers with :func:`~mem7_core.testing.fakes.rule_based_reply`
  unless scripted; honours ``response_format`` (JSON mode), ``tools`` / ``tool_choice``, image
  parts in ``content``, ``stream`` (one content chunk, then ``[DONE]``).
- ``POST /v1/embeddings``: deterministic :func:`~mem7_core.testing.fakes.hash_embedding` vectors;
  ``dimensions``, ``encoding_format`` (``float`` / ``base64``), str or list input, usage.
- ``GET /v1/models`` and ``GET /v1/models/{id}``.
- Azure style: ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` and
  ``.../embeddings`` (``api-key`` header).

It is a raw ``asyncio`` HTTP/1.1 server with keep-alive, running its own event loop in a daemon
thread, so a round trip costs tens of microseconds of server time (benchmarks use it).

Scripting and fault injection (all thread-safe, callable from the test while the server runs)::

    with OpenAIServer(api_key="sk-test") as srv:
        srv.script(["plain text", {"facts": []}, ToolCall("get_weather", {"city": "Paris"})])
        srv.script(lambda messages: "hi")           # or a function of the messages
        srv.fail_next(2, status=429, retry_after=0)  # the next 2 requests get 429
        srv.malformed_next(1, body=b'{"choices": [')  # a truncated 200 body
        srv.drop_next(1)                             # close the connection without answering
        srv.latency = 0.05                           # seconds added to every call
        ...
        assert srv.count("chat") == 3
        assert srv.last_request("chat").body["response_format"] == {"type": "json_object"}

Endpoint names used by counters, recordings and fault filters: ``"chat"``, ``"embeddings"``,
``"models"`` (Azure routes count under the same names; ``RecordedRequest.deployment`` is set).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import ssl
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Self
from urllib.parse import parse_qsl, unquote

from .fakes import hash_embedding, rule_based_reply

__all__ = [
    "Fault",
    "OpenAIServer",
    "RecordedRequest",
    "ToolCall",
]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_EMBED_DIMS = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536, "text-embedding-ada-002": 1536}


# ------------------------------------------------------------------------------------ script items
@dataclass(frozen=True)
class ToolCall:
    """A scripted tool call reply (a list of them makes parallel calls)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass
class Fault:
    """An error or broken reply.

    :param status: HTTP status to answer with.
    :param body: raw body (bytes/str, sent as is: use it for malformed or empty bodies), a dict
        (sent as JSON), or None for an OpenAI-style error object.
    :param retry_after: seconds for the ``Retry-After`` header (omitted when None).
    :param headers: extra response headers.
    :param drop: close the connection without answering (a connection error for the client).
    :param delay: seconds to wait before answering (or dropping).
    :param endpoint: only requests to this endpoint consume the fault (None: any endpoint).
    :param times: how many requests it applies to.
    """

    status: int = 500
    body: bytes | str | dict[str, Any] | None = None
    retry_after: float | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0
    endpoint: str | None = None
    times: int = 1


@dataclass
class RecordedRequest:
    """One request the server received (headers lower-cased; ``body`` parsed JSON or None)."""

    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    deployment: str | None = None
    status: int = 0
    usage: dict[str, int] | None = None
    """The ``usage`` the server answered (chat and embeddings calls that succeeded)."""

    @property
    def json(self) -> Any:
        return self.body


Reply = str | dict[str, Any] | ToolCall | Sequence[ToolCall] | Fault
ReplyFn = Callable[..., Reply]


class _Response:
    __slots__ = ("body", "content_type", "delay", "drop", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        drop: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.drop = drop
        self.delay = delay


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None,
           param: str | None = None, headers: dict[str, str] | None = None) -> _Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return _Response(status, _dumps(body), headers=headers)


@lru_cache(maxsize=8192)
def _embedding_f32(text: str, dims: int) -> bytes:
    """float32 little-endian bytes of the embedding (cached: benchmarks embed the same texts)."""
    return array("f", hash_embedding(text, dims)).tobytes()


@lru_cache(maxsize=8192)
def _embedding_b64(text: str, dims: int) -> str:
    return base64.b64encode(_embedding_f32(text, dims)).decode()


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def placeholder_args(schema: Any) -> dict[str, Any]:
    """Arguments satisfying a tool's JSON schema's required properties (deterministic): an enum's
    first value, 0, False, [], a nested object filled the same way, else ``"test"``. Types are read
    case-insensitively (Gemini writes ``STRING``). Every loopback emulator of a tool-calling API
    uses it for a forced tool call."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        spec = props.get(name) or {}
        kind = str(spec.get("type", "string")).lower()
        if spec.get("enum"):
            out[name] = spec["enum"][0]
        elif kind in ("integer", "number"):
            out[name] = 0
        elif kind == "boolean":
            out[name] = False
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = placeholder_args(spec)
        else:
            out[name] = "test"
    return out


# ------------------------------------------------------------------------------------------ server
class OpenAIServer:
    """Loopback OpenAI-compatible server in a background thread.

    :param api_key: when set, requests must carry ``Authorization: Bearer <key>`` or ``api-key: <key>``
        (else 401, as the real API answers).
    :param port: 0 picks a free port.
    :param latency: seconds added to every chat / embeddings call (an ``asyncio.sleep``: concurrent
        calls overlap, as on a real server).
    :param embedding_dims: vector size when the request gives no ``dimensions`` and the model is unknown.
    :param vision: False makes image parts a 400 error, like a text-only model.
    :param require_json_word: JSON mode needs the word "json" in the messages (400 otherwise), as the
        real API requires.
    :param models: ids listed by ``GET /v1/models``.
    :param max_recorded: how many recent requests are kept.
    :param count_tokens: the tokens of a text, for the ``usage`` of each answer (default: its
        whitespace-separated words; benchmarks pass a real tokenizer's count).
    :param ssl_context: serve HTTPS with this server-side context (``url`` then starts ``https://``;
        clients must trust its certificate, e.g. through ``SSL_CERT_FILE``).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        embedding_dims: int = 1536,
        vision: bool = True,
        require_json_word: bool = True,
        models: Sequence[str] = ("gpt-4.1-nano", "gpt-4.1-mini", "text-embedding-3-small", "text-embedding-3-large"),
        max_recorded: int = 256,
        count_tokens: Callable[[str], int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.ssl_context = ssl_context
        self.connections = 0
        """Connections accepted so far (a client that reuses its connections opens few)."""
        self.count_tokens: Callable[[str], int] = count_tokens or _tokens
        self.host = host
        self._requested_port = port
        self.latency = latency
        self.embedding_dims = embedding_dims
        self.vision = vision
        self.require_json_word = require_json_word
        self.models = list(models)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._faults: list[Fault] = []
        self._replies: list[Reply] = []
        self._reply_fn: ReplyFn | None = None
        self._reply_fn_arity = 1
        self._embed_fn: Callable[[str, int], Sequence[float]] | None = None
        self._seq = 0
        self.errors: list[BaseException] = []
        """Exceptions raised while serving (a failing script function, unparsable framing)."""
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Start serving (idempotent); returns self."""
        if self._thread is not None:
            return self
        self._started.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name="mem7-openai-loopback", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(f"loopback OpenAI server failed to start: {self._start_error}") from self._start_error
        if self._port is None:
            raise RuntimeError("loopback OpenAI server did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop serving and close open connections (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            except Exception:  # noqa: BLE001 - loop already gone: just make sure it stops
                pass
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # loop already closed
                pass
        thread.join(10)
        self._thread = None
        self._loop = None
        self._port = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()  # handlers see the connection end and return on their own
        pending = [t for t in self._handlers if not t.done()]
        for t in pending:  # handlers sleeping on an injected delay or latency
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self._requested_port, backlog=1024, limit=2**24,
                                     ssl=self.ssl_context)
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._shutdown())
                tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in tasks:
                    t.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            finally:
                loop.close()

    # ------------------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the Azure endpoint); ``https://`` with ``ssl_context``."""
        return f"{'https' if self.ssl_context is not None else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (the OpenAI base_url)."""
        return f"{self.root_url}/v1"

    # ------------------------------------------------------------------------------ scripting
    def script(self, replies: Sequence[Reply] | ReplyFn | None) -> None:
        """Set chat replies: a list consumed in order (then the default answers again), a function
        of the messages (``fn(messages)`` or ``fn(messages, body)``), or None for the default.

        A reply is a str (the content), a dict (sent as JSON content), a :class:`ToolCall` or a list
        of them, or a :class:`Fault`.
        """
        with self._lock:
            if replies is None:
                self._replies, self._reply_fn = [], None
            elif callable(replies):
                self._replies, self._reply_fn = [], replies
                try:
                    params = inspect.signature(replies).parameters.values()
                    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
                    self._reply_fn_arity = 2 if (varargs or len(positional) >= 2) else 1
                except (TypeError, ValueError):
                    self._reply_fn_arity = 1
            else:
                self._replies, self._reply_fn = list(replies), None

    def queue_reply(self, *replies: Reply) -> None:
        """Append replies to the scripted queue."""
        with self._lock:
            self._replies.extend(replies)

    def set_embedding_fn(self, fn: Callable[[str, int], Sequence[float]] | None) -> None:
        """Replace the deterministic embedding function (``fn(text, dims)``); None restores it."""
        with self._lock:
            self._embed_fn = fn

    def inject(self, fault: Fault) -> None:
        """Queue a fault for the next ``fault.times`` matching requests."""
        with self._lock:
            self._faults.append(fault)

    def fail_next(
        self,
        times: int = 1,
        status: int = 500,
        *,
        retry_after: float | str | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        endpoint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` requests (to ``endpoint``, or any) answer ``status``."""
        self.inject(Fault(status, body, retry_after, dict(headers or {}), endpoint=endpoint, times=times))

    def malformed_next(self, times: int = 1, *, body: bytes | str = b'{"id": "chatcmpl-x", "choices": [',
                       status: int = 200, endpoint: str | None = None) -> None:
        """The next ``times`` requests get a broken body (default: truncated JSON; ``b""``: empty)."""
        self.inject(Fault(status, body, endpoint=endpoint, times=times))

    def drop_next(self, times: int = 1, *, endpoint: str | None = None) -> None:
        """The next ``times`` requests see the connection closed without an answer."""
        self.inject(Fault(drop=True, endpoint=endpoint, times=times))

    def reset(self) -> None:
        """Forget scripts, faults, counters and recordings; latency back to 0."""
        with self._lock:
            self._replies, self._reply_fn, self._embed_fn = [], None, None
            self._faults.clear()
            self._counts.clear()
            self._requests.clear()
            self.errors.clear()
            self.latency = 0.0

    # ------------------------------------------------------------------------------ inspection
    def count(self, endpoint: str | None = None) -> int:
        """Requests received for ``endpoint`` (``"chat"``, ``"embeddings"``, ``"models"``), or all."""
        with self._lock:
            return sum(self._counts.values()) if endpoint is None else self._counts[endpoint]

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def requests(self, endpoint: str | None = None) -> list[RecordedRequest]:
        """Recent requests, oldest first (optionally only to ``endpoint``)."""
        with self._lock:
            return [r for r in self._requests if endpoint is None or r.endpoint == endpoint]

    def last_request(self, endpoint: str | None = None) -> RecordedRequest | None:
        found = self.requests(endpoint)
        return found[-1] if found else None

    # ------------------------------------------------------------------------------ HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size_line = await reader.readuntil(b"\r\n")
                        size = int(size_line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                                pass
                            break
                        chunks.append(await reader.readexactly(size))
                        await reader.readexactly(2)
                    raw = b"".join(chunks)
                else:
                    length = int(headers.get("content-length") or 0)
                    raw = await reader.readexactly(length) if length else b""
                keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"

                resp = await self._dispatch(method, target, headers, raw)
                if resp.delay:
                    await asyncio.sleep(resp.delay)
                if resp.drop:
                    writer.transport.abort()
                    return
                reason = _REASONS.get(resp.status, "Status")
                out = [
                    f"HTTP/1.1 {resp.status} {reason}\r\n"
                    f"Content-Type: {resp.content_type}\r\n"
                    f"Content-Length: {len(resp.body)}\r\n"
                ]
                if resp.headers:
                    out.extend(f"{k}: {v}\r\n" for k, v in resp.headers.items())
                if not keep_alive:
                    out.append("Connection: close\r\n")
                out.append("\r\n")
                writer.write("".join(out).encode("latin-1") + resp.body)
                if not keep_alive:
                    await writer.drain()
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a cancelled handler ends quietly (asyncio's stream callback logs cancellations)
        except Exception as exc:  # noqa: BLE001 - unparsable request framing: drop the connection
            self.errors.append(exc)
            return
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - best effort on a dead socket
                pass

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Response:
        path, _, qs = target.partition("?")
        path = unquote(path)
        query = dict(parse_qsl(qs)) if qs else {}
        endpoint, deployment = self._route(method, path)
        body: Any = None
        parse_error: str | None = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                parse_error = str(exc)
        rec = RecordedRequest(method, path, endpoint, query, headers, body, deployment)
        with self._lock:
            self._counts[endpoint] += 1
            self._requests.append(rec)
            fault = self._take_fault(endpoint)
        try:
            resp = self._respond(rec, fault, parse_error)
        except Exception as exc:  # noqa: BLE001 - a broken script must not kill the connection
            self.errors.append(exc)
            resp = _error(500, f"loopback server error: {type(exc).__name__}: {exc}", type_="server_error")
        if endpoint in ("chat", "embeddings") and self.latency:
            await asyncio.sleep(self.latency)
        rec.status = resp.status
        return resp

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, str | None]:
        p = path.rstrip("/")
        if p.startswith("/openai/deployments/"):
            rest = p[len("/openai/deployments/"):]
            deployment, _, tail = rest.partition("/")
            if tail == "chat/completions" and method == "POST":
                return "chat", deployment
            if tail == "embeddings" and method == "POST":
                return "embeddings", deployment
            return "unknown", deployment
        if p in ("/v1/chat/completions", "/chat/completions") and method == "POST":
            return "chat", None
        if p in ("/v1/embeddings", "/embeddings") and method == "POST":
            return "embeddings", None
        if (p in ("/v1/models", "/models") or p.startswith(("/v1/models/", "/models/"))) and method == "GET":
            return "models", None
        return "unknown", None

    def _take_fault(self, endpoint: str) -> Fault | None:
        for i, f in enumerate(self._faults):
            if f.endpoint is None or f.endpoint == endpoint:
                f.times -= 1
                if f.times <= 0:
                    del self._faults[i]
                return f
        return None

    def _respond(self, rec: RecordedRequest, fault: Fault | None, parse_error: str | None) -> _Response:
        if rec.endpoint == "unknown":
            return _error(404, f"Unknown request URL: {rec.method} {rec.path}.", code="unknown_url")
        if self.api_key is not None:
            auth = rec.headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else rec.headers.get("api-key")
            if given != self.api_key:
                shown = (given[:3] + "***" + given[-2:]) if given and len(given) > 5 else (given or "")
                return _error(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")
        if fault is not None:
            return self._fault_response(fault)
        if rec.endpoint == "models":
            return self._models(rec)
        if parse_error is not None:
            return _error(400, f"We could not parse the JSON body of your request. ({parse_error})")
        if not isinstance(rec.body, dict):
            return _error(400, "The request body must be a JSON object.")
        if rec.endpoint == "chat":
            return self._chat(rec)
        return self._embeddings(rec)

    @staticmethod
    def _fault_response(fault: Fault) -> _Response:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.drop:
            return _Response(0, b"", drop=True, delay=fault.delay)
        if fault.body is None:
            kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(fault.status, "server_error")
            msg = {
                429: "Rate limit reached (loopback fault injection).",
                401: "Incorrect API key provided (loopback fault injection).",
            }.get(fault.status, f"Injected error {fault.status} (loopback fault injection).")
            resp = _error(fault.status, msg, type_=kind, code=kind, headers=headers)
        elif isinstance(fault.body, dict):
            resp = _Response(fault.status, _dumps(fault.body), headers=headers)
        else:
            raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
            resp = _Response(fault.status, raw, headers=headers)
        resp.delay = fault.delay
        return resp

    # ------------------------------------------------------------------------------ endpoints
    def _models(self, rec: RecordedRequest) -> _Response:
        items = [{"id": m, "object": "model", "created": 0, "owned_by": "mem7-loopback"} for m in self.models]
        parts = rec.path.rstrip("/").split("/models/", 1)
        if len(parts) == 2:
            model_id = parts[1]
            for item in items:
                if item["id"] == model_id:
                    return _Response(200, _dumps(item))
            return _error(404, f"The model '{model_id}' does not exist", code="model_not_found")
        return _Response(200, _dumps({"object": "list", "data": items}))

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{prefix}-{self._seq:08d}"

    def _chat(self, rec: RecordedRequest) -> _Response:
        body = rec.body
        messages = body.get("messages")
        model = body.get("model") or rec.deployment
        if not model:
            return _error(400, "you must provide a model parameter", param="model")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array", param="messages")
        has_image = False
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return _error(400, f"Invalid value for 'messages[{i}].role'.", param=f"messages[{i}].role")
            msg_content = m.get("content")
            if isinstance(msg_content, list):
                for j, part in enumerate(msg_content):
                    ptype = part.get("type") if isinstance(part, dict) else None
                    if ptype == "image_url":
                        image = part.get("image_url")
                        url = image.get("url") if isinstance(image, dict) else None
                        if not url:
                            return _error(400, f"messages[{i}].content[{j}].image_url.url is required",
                                          param=f"messages[{i}].content[{j}].image_url")
                        has_image = True
                    elif ptype not in ("text", "input_audio", "file", "refusal"):
                        return _error(400, f"Invalid content part type {ptype!r} in messages[{i}].content[{j}].",
                                      param=f"messages[{i}].content[{j}].type")
        if has_image and not self.vision:
            return _error(400, "Image input is not supported by this model.", code="image_not_supported")
        rf = body.get("response_format")
        json_mode = isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")
        if isinstance(rf, dict) and rf.get("type") == "json_object" and self.require_json_word:
            if not any("json" in _content_text(m.get("content")).lower() for m in messages):
                return _error(
                    400,
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                    "'json_object'.",
                    param="messages",
                )
        tools = body.get("tools") or []

        # Pick the reply: scripted queue, scripted function, forced/named tool, default rule-based.
        with self._lock:
            reply: Reply | None = self._replies.pop(0) if self._replies else None
            fn, arity = self._reply_fn, self._reply_fn_arity
        if reply is None and fn is not None:
            reply = fn(messages, body) if arity == 2 else fn(messages)
        if reply is None:
            reply = self._default_tool_call(messages, tools, body.get("tool_choice"))
        if reply is None:
            reply = rule_based_reply(messages)

        if isinstance(reply, Fault):
            return self._fault_response(reply)
        tool_calls: list[dict[str, Any]] = []
        if isinstance(reply, ToolCall) or (
            isinstance(reply, (list, tuple)) and reply and all(isinstance(r, ToolCall) for r in reply)
        ):
            calls = [reply] if isinstance(reply, ToolCall) else list(reply)
            for c in calls:
                args = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments)
                tool_calls.append({"id": c.id or self._next_id("call"), "type": "function",
                                   "function": {"name": c.name, "arguments": args}})
            content: str | None = None
        elif isinstance(reply, dict):
            content = json.dumps(reply)
        else:
            content = str(reply)
        if json_mode and content is not None:
            try:
                ok = isinstance(json.loads(content), dict)
            except ValueError:
                ok = False
            if not ok:  # JSON mode guarantees a JSON object
                content = json.dumps({"response": content})

        count = self.count_tokens
        prompt_tokens = sum(count(_content_text(m.get("content"))) for m in messages)
        completion_tokens = count(content or "") + sum(count(t["function"]["arguments"]) for t in tool_calls)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        rec.usage = usage
        finish = "tool_calls" if tool_calls else "stop"
        cid = self._next_id("chatcmpl")
        created = int(time.time())
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        if body.get("stream"):
            return self._stream(cid, created, model, message, finish, usage, body)
        out = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_mem7_loopback",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
        return _Response(200, _dumps(out))

    @staticmethod
    def _default_tool_call(messages: list[Any], tools: list[Any], choice: Any) -> Reply | None:
        """A tool call when forced by ``tool_choice``, or when the last user message names a tool."""
        if not tools or choice == "none":
            return None
        fns = [t.get("function") or {} for t in tools if isinstance(t, dict)]
        by_name = {f["name"]: f for f in fns if f.get("name")}
        picked = None
        if isinstance(choice, dict):
            picked = by_name.get((choice.get("function") or {}).get("name"))
        elif choice == "required" and fns:
            picked = fns[0]
        else:
            last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
            text = _content_text(last_user.get("content")) if last_user else ""
            picked = next((f for n, f in by_name.items() if n in text), None)
        if picked is None:
            return None
        return ToolCall(picked["name"], placeholder_args(picked.get("parameters")))

    def _stream(self, cid: str, created: int, model: str, message: dict[str, Any], finish: str,
                usage: dict[str, int], body: dict[str, Any]) -> _Response:
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_mem7_loopback"}
        delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
        if "tool_calls" in message:
            delta["tool_calls"] = [dict(tc, index=i) for i, tc in enumerate(message["tool_calls"])]
        chunks = [
            dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]),
            dict(base, choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]),
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(dict(base, choices=[], usage=usage))
        payload = b"".join(b"data: " + _dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        return _Response(200, payload, content_type="text/event-stream")

    def _embeddings(self, rec: RecordedRequest) -> _Response:
        body = rec.body
        model = body.get("model") or rec.deployment
        if not model:
            return _error(400, "you must provide a model parameter", param="model")
        raw_input = body.get("input")
        if isinstance(raw_input, str):
            texts = [raw_input]
        elif isinstance(raw_input, list) and raw_input:
            if all(isinstance(x, int) for x in raw_input):  # one pre-tokenised text
                texts = [" ".join(map(str, raw_input))]
            else:
                texts = []
                for x in raw_input:
                    if isinstance(x, str):
                        texts.append(x)
                    elif isinstance(x, list) and all(isinstance(t, int) for t in x):
                        texts.append(" ".join(map(str, x)))
                    else:
                        return _error(400, "'input' must be a string, an array of strings, or token arrays",
                                      param="input")
        else:
            return _error(400, "'input' must be a non-empty string or array", param="input")
        if any(t == "" for t in texts):
            return _error(400, "'$.input' is invalid: empty strings are not allowed.", param="input")
        if len(texts) > 2048:
            return _error(400, "'input' must have at most 2048 items.", param="input")
        dims = body.get("dimensions")
        if dims is not None:
            if model == "text-embedding-ada-002":
                return _error(400, "This model does not support specifying dimensions.", param="dimensions")
            if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
                return _error(400, "'dimensions' must be a positive integer.", param="dimensions")
        else:
            dims = _EMBED_DIMS.get(model, self.embedding_dims)
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            return _error(400, "'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
        with self._lock:
            fn = self._embed_fn
        data = []
        for i, text in enumerate(texts):
            if fn is not None:
                vec = list(fn(text, dims))
                emb: Any = base64.b64encode(array("f", vec).tobytes()).decode() if fmt == "base64" else vec
            elif fmt == "base64":
                emb = _embedding_b64(text, dims)
            else:
                emb = array("f", _embedding_f32(text, dims)).tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(self.count_tokens(t) for t in texts)
        rec.usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        out = {"object": "list", "data": data, "model": model, "usage": rec.usage}
        return _Response(200, _dumps(out))

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "stopped"
        return f"<OpenAIServer {where}>"
