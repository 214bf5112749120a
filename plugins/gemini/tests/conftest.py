"""A loopback emulator of the Gemini Developer API (``generateContent``, ``batchEmbedContents``,
``embedContent``), and this plugin's fixtures.

The real service cannot be reached from the test machines, so the real ``google-genai`` client
(its base URL set through ``http_options``) talks real HTTP to this stdlib HTTP/1.1 server on
127.0.0.1. It follows the documented REST protocol (JSON field names in lowerCamel; the proto
JSON mapping's snake_case names are accepted too, as the service does):

``POST /{v1|v1beta}/models/{model}:generateContent`` with ``x-goog-api-key: <key>`` (or ``?key=``)::

    {"contents": [{"role": "user" | "model", "parts": [{"text"} | {"inlineData": {"mimeType", "data"}} |
                   {"fileData": {"fileUri", "mimeType"}} | {"functionCall": {"name", "args"}} |
                   {"functionResponse": {"name", "response"}}]}],
     "systemInstruction": {"parts": [{"text"}]},
     "generationConfig": {"temperature": 0..2, "topP", "maxOutputTokens",
                          "responseMimeType": "text/plain" | "application/json",
                          "responseSchema" | "responseJsonSchema": {...}},     # JSON mime type only
     "tools": [{"functionDeclarations": [{"name", "description", "parameters" | "parametersJsonSchema"}]}],
     "toolConfig": {"functionCallingConfig": {"mode": "AUTO" | "ANY" | "NONE", "allowedFunctionNames"}}}

    -> {"candidates": [{"content": {"role": "model", "parts": [{"text"} | {"functionCall": {"name", "args"}}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount", "candidatesTokenCount", "totalTokenCount"},
        "modelVersion": "...", "responseId": "..."}

``POST /{version}/models/{model}:batchEmbedContents``::

    {"requests": [{"model": "models/{model}", "content": {"parts": [{"text"}]},
                   "taskType": "RETRIEVAL_DOCUMENT" | "RETRIEVAL_QUERY" | ..., "outputDimensionality": n}]}
    -> {"embeddings": [{"values": [...]}]}

(``:embedContent`` takes one request's fields and answers ``{"embedding": {"values"}}``.)

Errors are ``{"error": {"code", "message", "status"}}``: 400 ``INVALID_ARGUMENT`` (a bad body; and a
wrong API key, as the real service answers, with reason ``API_KEY_INVALID``), 403
``PERMISSION_DENIED`` (no key), 404 ``NOT_FOUND`` (unknown model or route), and what a test injects
(429 ``RESOURCE_EXHAUSTED`` with ``Retry-After``, 500 ``INTERNAL``, 503 ``UNAVAILABLE``).

Chat answers are :func:`mem7_core.testing.fakes.rule_based_reply` of the conversation unless a test
scripts them; a declared function named in the last user text is called (mode ``AUTO``), the first
allowed one always (``ANY``). Embeddings are the kit's deterministic feature-hashing vectors (the
task type flips a few components, as asymmetric models do), scaled by a text-dependent factor below
full size (3072), as the real service does not normalise truncated vectors.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl

import pytest

from mem7_core.testing.fakes import hash_embedding, rule_based_reply

ENV_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION")
API_KEY = "gm-test"
FULL_DIMS = 3072
TASK_TYPES = ("RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY", "SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING",
              "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY", "TASK_TYPE_UNSPECIFIED")
STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key or endpoint."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@dataclass
class Fault:
    status: int = 500
    body: bytes | dict[str, Any] | None = None
    retry_after: str | None = None
    drop: bool = False
    delay: float = 0.0
    times: int = 1


@dataclass
class Recorded:
    """One request (headers lower-cased, body parsed JSON or None); ``method`` is the RPC name."""

    path: str
    model: str
    method: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Invalid(Exception):
    """A request the real API rejects with 400 ``INVALID_ARGUMENT``."""


def _get(d: dict[str, Any], camel: str) -> Any:
    """``d[camel]``, or its snake_case spelling (the proto JSON mapping accepts both)."""
    if camel in d:
        return d[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return d.get(snake)


def placeholder_args(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        kind = str((props.get(name) or {}).get("type", "string")).lower()
        out[name] = {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}.get(kind, "test")
    return out


def emulator_vector(text: str, dims: int, task_type: str | None) -> list[float]:
    vec = hash_embedding(text, dims)
    if task_type == "RETRIEVAL_QUERY":  # asymmetric: a query's vector differs a little from a document's
        vec = [-x if i % 17 == 0 else x for i, x in enumerate(vec)]
    if dims < FULL_DIMS:  # not normalised below full size
        scale = 0.5 + (len(text) % 7) / 4
        vec = [x * scale for x in vec]
    return vec


class GeminiEmulator:
    """Loopback Gemini API; ``url`` is the ``base_url`` of ``http_options``."""

    def __init__(self, *, api_key: str = API_KEY, host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.host = host
        self.latency = 0.0
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []
        self._faults: list[Fault] = []
        self._replies: list[Any] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

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
                                        name="gemini-emulator", daemon=True)
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
    def script(self, *replies: Any) -> None:
        """The next chat answers: a str (text), a dict (JSON text), or a list of parts sent as they are
        (a dict with ``finishReason`` / ``parts`` keys sets the candidate's fields)."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(self, times: int = 1, status: int = 500, *, retry_after: float | str | None = None,
                  body: bytes | dict[str, Any] | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(status, body, None if retry_after is None else str(retry_after), times=times))

    def drop_next(self, times: int = 1) -> None:
        with self._lock:
            self._faults.append(Fault(drop=True, times=times))

    def slow_next(self, times: int = 1, *, delay: float) -> None:
        with self._lock:
            self._faults.append(Fault(status=0, delay=delay, times=times))

    def count(self, method: str | None = None) -> int:
        """Requests received (of one RPC: ``generateContent``, ``batchEmbedContents``...)."""
        with self._lock:
            return sum(1 for r in self.requests if method is None or r.method == method)

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
        path, _, query = h.path.partition("?")
        model, _, method = path.rpartition("/models/")[2].partition(":")
        rec = Recorded(path, model, method, {k.lower(): v for k, v in h.headers.items()},
                       None if body is ValueError else body)
        rec.extra["query"] = dict(parse_qsl(query))
        with self._lock:
            self.requests.append(rec)
            self._seq += 1
            seq = self._seq
        fault = self._take_fault()
        try:
            status, payload, headers = self._answer(h.command, rec, body, fault, seq)
        except Invalid as exc:
            status, payload, headers = self._error(400, str(exc))
        delay = self.latency + (fault.delay if fault is not None else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.drop:
            h.close_connection = True
            return
        rec.status = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=UTF-8")
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionError):
            h.close_connection = True

    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str] | None = None,
               details: list[dict[str, Any]] | None = None) -> tuple[int, Any, dict[str, str]]:
        err: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
        if details:
            err["details"] = details
        return status, {"error": err}, headers or {}

    def _answer(self, verb: str, rec: Recorded, body: Any, fault: Fault | None,
                seq: int) -> tuple[int, Any, dict[str, str]]:
        version = rec.path.split("/")[1] if rec.path.count("/") >= 2 else ""
        if verb != "POST" or version not in ("v1", "v1beta") or rec.method not in (
                "generateContent", "batchEmbedContents", "embedContent"):
            return self._error(404, f"Not found: {verb} {rec.path}")
        key = rec.headers.get("x-goog-api-key") or rec.extra["query"].get("key")
        if not key:
            return self._error(403, "Method doesn't allow unregistered callers. Please use API Key.")
        if key != self.api_key:
            return self._error(400, "API key not valid. Please pass a valid API key.", details=[
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com"}])
        if fault is not None and not fault.drop and fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            if fault.body is not None:
                return fault.status, fault.body, headers
            message = {429: "Resource has been exhausted (e.g. check quota).",
                       503: "The model is overloaded. Please try again later."}.get(
                fault.status, "An internal error has occurred (injected).")
            return self._error(fault.status, message, headers)
        if body is ValueError or not isinstance(body, dict):
            raise Invalid("Invalid JSON payload received.")
        if rec.method == "generateContent":
            if not rec.model.startswith("gemini-") or "embedding" in rec.model:
                return self._error(404, f"models/{rec.model} is not found for API version {version}, or is not "
                                        "supported for generateContent.")
            return self._generate(rec.model, body, seq)
        if "embedding" not in rec.model:
            return self._error(404, f"models/{rec.model} is not found for API version {version}, or is not "
                                    "supported for embedContent.")
        if rec.method == "embedContent":
            return 200, {"embedding": {"values": self._embed_one(rec.model, body, "")}}, {}
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise Invalid("requests: at least one request is required")
        if len(requests) > 100:
            raise Invalid("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
        return 200, {"embeddings": [{"values": self._embed_one(rec.model, r, f"requests[{i}].")}
                                    for i, r in enumerate(requests)]}, {}

    # ------------------------------------------------------------------ embeddings
    @staticmethod
    def _embed_one(model: str, req: Any, where: str) -> list[float]:
        if not isinstance(req, dict):
            raise Invalid(f"{where}: must be an object")
        named = req.get("model")
        if named is not None and named != f"models/{model}":
            raise Invalid(f"{where}model: {named} does not match the path's models/{model}")
        parts = (req.get("content") or {}).get("parts") or []
        texts = [p.get("text") for p in parts if isinstance(p, dict)]
        if not texts or not all(isinstance(t, str) for t in texts):
            raise Invalid(f"{where}content: text parts are required")
        text = " ".join(texts)
        if not text:
            raise Invalid(f"* {where}content.parts[0].data: required oneof field 'data' must have one initialized field")
        task = _get(req, "taskType")
        if task is not None and task not in TASK_TYPES:
            raise Invalid(f"{where}task_type: invalid value {task!r}")
        dims = _get(req, "outputDimensionality")
        if dims is None:
            dims = FULL_DIMS
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= FULL_DIMS:
            raise Invalid(f"{where}output_dimensionality: must be between 1 and {FULL_DIMS}")
        return emulator_vector(text, dims, task)

    # ------------------------------------------------------------------ generateContent
    def _generate(self, model: str, body: dict[str, Any], seq: int) -> tuple[int, Any, dict[str, str]]:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise Invalid("* GenerateContentRequest.contents: contents is not specified")
        chat: list[dict[str, Any]] = []
        system = _get(body, "systemInstruction")
        if system is not None:
            text = " ".join(str(p.get("text", "")) for p in (system.get("parts") or []) if isinstance(p, dict))
            if text:
                chat.append({"role": "system", "content": text})
        for i, c in enumerate(contents):
            role = c.get("role", "user") if isinstance(c, dict) else None
            if role not in ("user", "model", "function"):
                raise Invalid(f"* GenerateContentRequest.contents[{i}].role: Please use a valid role: user, model.")
            parts = c.get("parts")
            if not isinstance(parts, list) or not parts:
                raise Invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
            texts, image = [], False
            for j, p in enumerate(parts):
                kind = self._check_part(p, f"contents[{i}].parts[{j}]")
                if kind == "text":
                    texts.append(str(p["text"]))
                image = image or kind in ("inlineData", "fileData")
            text = " ".join(texts)
            chat.append({"role": "assistant" if role == "model" else "user",
                         "content": [{"type": "text", "text": text}] if image else text})
        gen = _get(body, "generationConfig") or {}
        temperature = gen.get("temperature")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
            raise Invalid("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]")
        max_out = _get(gen, "maxOutputTokens")
        if max_out is not None and (not isinstance(max_out, int) or max_out < 1):
            raise Invalid("* GenerateContentRequest.generation_config.max_output_tokens: must be positive")
        mime = _get(gen, "responseMimeType") or "text/plain"
        if mime not in ("text/plain", "application/json", "text/x.enum"):
            raise Invalid(f"* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are "
                          f"text/plain, application/json, text/x.enum; got {mime}")
        schema = _get(gen, "responseSchema") or _get(gen, "responseJsonSchema")
        if schema is not None and mime == "text/plain":
            raise Invalid("* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must "
                          "be application/json when a response schema is set")
        declared: dict[str, dict[str, Any]] = {}
        for k, tool in enumerate(body.get("tools") or []):
            for d in _get(tool, "functionDeclarations") or []:
                if not isinstance(d, dict) or not d.get("name"):
                    raise Invalid(f"* GenerateContentRequest.tools[{k}].function_declarations: name is required")
                declared[d["name"]] = d
        calling = _get(_get(body, "toolConfig") or {}, "functionCallingConfig") or {}
        mode = calling.get("mode", "AUTO")
        if mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
            raise Invalid(f"* GenerateContentRequest.tool_config.function_calling_config.mode: invalid {mode!r}")

        with self._lock:
            scripted = self._replies.pop(0) if self._replies else None
        candidate: dict[str, Any] = {"index": 0, "finishReason": "STOP"}
        if isinstance(scripted, dict) and ("parts" in scripted or "finishReason" in scripted):
            candidate.update({k: v for k, v in scripted.items() if k != "parts"})
            parts_out = scripted.get("parts", [])
        elif isinstance(scripted, list):
            parts_out = scripted
        else:
            reply = scripted if scripted is not None else rule_based_reply(chat)
            parts_out = self._reply_parts(reply, chat, declared, mode, calling, mime)
        candidate["content"] = {"role": "model", "parts": parts_out}
        prompt = sum(len(str(m["content"]).split()) for m in chat) or 1
        out_tokens = sum(len(json.dumps(p).split()) for p in parts_out)
        return 200, {
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": out_tokens,
                              "totalTokenCount": prompt + out_tokens},
            "modelVersion": model, "responseId": f"resp-{seq:08d}",
        }, {}

    @staticmethod
    def _reply_parts(reply: Any, chat: list[dict[str, Any]], declared: dict[str, dict[str, Any]], mode: str,
                     calling: dict[str, Any], mime: str) -> list[dict[str, Any]]:
        if declared and mode != "NONE":
            allowed = _get(calling, "allowedFunctionNames") or list(declared)
            fn = None
            if mode == "ANY":
                fn = declared.get(allowed[0])
            else:
                last_user = next((m for m in reversed(chat) if m["role"] == "user"), None)
                said = str(last_user["content"]) if last_user else ""
                fn = next((d for n, d in declared.items() if n in said and n in allowed), None)
            if fn is not None:
                schema = fn.get("parameters") or _get(fn, "parametersJsonSchema")
                return [{"functionCall": {"name": fn["name"], "args": placeholder_args(schema)}}]
        text = json.dumps(reply) if isinstance(reply, dict) else str(reply)
        if mime == "application/json":  # constrained decoding: always a JSON value
            try:
                json.loads(text)
            except ValueError:
                text = json.dumps({"response": text})
        return [{"text": text}]

    @staticmethod
    def _check_part(p: Any, where: str) -> str:
        if not isinstance(p, dict):
            raise Invalid(f"* {where}: must be an object")
        kinds = [k for k in ("text", "inlineData", "fileData", "functionCall", "functionResponse")
                 if _get(p, k) is not None]
        if len(kinds) != 1:
            raise Invalid(f"* {where}.data: required oneof field 'data' must have one initialized field")
        kind = kinds[0]
        value = _get(p, kind)
        if kind == "inlineData":
            mime = _get(value, "mimeType")
            if not isinstance(mime, str) or "/" not in mime:
                raise Invalid(f"* {where}.inline_data.mime_type: required")
            try:
                base64.b64decode(value.get("data") or "", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Invalid(f"* {where}.inline_data.data: Base64 decoding failed") from exc
        elif kind == "fileData":
            if not _get(value, "fileUri"):
                raise Invalid(f"* {where}.file_data.file_uri: required")
        elif kind in ("functionCall", "functionResponse"):
            if not value.get("name"):
                raise Invalid(f"* {where}.{kind}.name: Name cannot be empty.")
        return kind


@pytest.fixture
def gemini_server() -> Iterator[GeminiEmulator]:
    """A loopback Gemini API emulator (key ``gm-test``), started for this test."""
    with GeminiEmulator() as server:
        yield server
