"""A loopback emulator of Anthropic's Messages API (``POST /v1/messages``), and this plugin's fixtures.

The real service cannot be reached from the test machines, so the real ``anthropic`` client talks
real HTTP to this stdlib HTTP/1.1 server (keep-alive, one thread per connection) on 127.0.0.1. It
follows the documented wire protocol:

Request headers ``x-api-key: <key>`` (or ``Authorization: Bearer <key>``, which anthropic 2.x sends)
and ``anthropic-version``; body::

    {"model": "...", "max_tokens": 1000,                      # both required
     "system": "..." | [{"type": "text", "text": "..."}],    # optional
     "messages": [{"role": "user" | "assistant",
                   "content": "..." | [{"type": "text", "text": "..."},
                                       {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                    "data": "..."} | {"type": "url", "url": "..."}},
                                       {"type": "tool_use", "id", "name", "input"},
                                       {"type": "tool_result", "tool_use_id", "content"}]}],
     "temperature": 0..1, "top_p": ..., "tools": [{"name", "description", "input_schema"}],
     "tool_choice": {"type": "auto" | "any" | "tool" | "none", "name": ...}}

Response 200::

    {"id": "msg_...", "type": "message", "role": "assistant", "model": "...",
     "content": [{"type": "text", "text": "..."} | {"type": "tool_use", "id": "toolu_...", "name", "input"}],
     "stop_reason": "end_turn" | "tool_use" | "max_tokens", "stop_sequence": null,
     "usage": {"input_tokens": n, "output_tokens": n}}

Errors: ``{"type": "error", "error": {"type": "<error type>", "message": "..."}}`` with 400
``invalid_request_error``, 401 ``authentication_error``, 404 ``not_found_error`` (unknown route, or a
model not named ``claude-*``), and what a test injects: 429 ``rate_limit_error`` (with
``retry-after``), 500 ``api_error``, 529 ``overloaded_error``. Every answer carries ``request-id``.

Answers are :func:`mem7_core.testing.fakes.rule_based_reply` of the conversation (so mem7's
extraction and update prompts get sensible JSON), unless a test scripts them. A forced tool
(``tool_choice`` ``tool`` / ``any``) is called with the reply as its input when the reply is a JSON
object, else with placeholder arguments satisfying its schema; with ``auto``, a tool named in the
last user text is called. A trailing assistant turn is a prefill: the reply continues it.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest

from mem7_core.testing.fakes import rule_based_reply

ENV_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN")
API_KEY = "sk-ant-test"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key or endpoint."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


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


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def placeholder_args(schema: Any) -> dict[str, Any]:
    """Arguments satisfying a JSON schema's required properties (deterministic)."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        kind = (props.get(name) or {}).get("type")
        out[name] = {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}.get(kind, "test")
    return out


class Invalid(Exception):
    """A request the real API would reject with 400 ``invalid_request_error``."""


class AnthropicEmulator:
    """Loopback ``POST /v1/messages``; ``url`` is the ``base_url`` for the anthropic client."""

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
                                        name="anthropic-emulator", daemon=True)
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
        """The next answers, in order: a str (text), a dict (JSON text, or a forced tool's input), or
        a list of content blocks sent as they are (with ``stop_reason`` ``tool_use`` when one is)."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(self, times: int = 1, status: int = 500, *, retry_after: float | str | None = None,
                  body: bytes | dict[str, Any] | None = None, delay: float = 0.0) -> None:
        """The next ``times`` requests answer ``status`` with an Anthropic error body (unless ``body``)."""
        with self._lock:
            self._faults.append(Fault(status, body, None if retry_after is None else str(retry_after),
                                      delay=delay, times=times))

    def drop_next(self, times: int = 1) -> None:
        """The next ``times`` requests see the connection closed without an answer."""
        with self._lock:
            self._faults.append(Fault(drop=True, times=times))

    def slow_next(self, times: int = 1, *, delay: float) -> None:
        """The next ``times`` requests are answered normally, ``delay`` seconds late."""
        with self._lock:
            self._faults.append(Fault(status=0, delay=delay, times=times))

    def count(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == "/v1/messages")

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
            self._seq += 1
            seq = self._seq
        fault = self._take_fault() if rec.path == "/v1/messages" else None
        try:
            status, payload, headers = self._answer(rec, body, fault, seq)
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
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("request-id", f"req_{seq:08d}")
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionError):  # the client gave up (timeout test)
            h.close_connection = True

    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        kind = ERROR_TYPES.get(status, "api_error")
        return status, {"type": "error", "error": {"type": kind, "message": message}}, headers or {}

    def _answer(self, rec: Recorded, body: Any, fault: Fault | None, seq: int) -> tuple[int, Any, dict[str, str]]:
        if rec.method != "POST" or rec.path != "/v1/messages":
            return self._error(404, f"Not found: {rec.method} {rec.path}")
        auth = rec.headers.get("authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else None
        if self.api_key not in (rec.headers.get("x-api-key"), bearer):
            return self._error(401, "invalid x-api-key")
        if not rec.headers.get("anthropic-version"):
            raise Invalid("anthropic-version: header is required")
        if fault is not None and not fault.drop and fault.status:
            headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
            if fault.body is not None:
                return fault.status, fault.body, headers
            message = {429: "Number of request tokens has exceeded your per-minute rate limit",
                       529: "Overloaded"}.get(fault.status, "Internal server error (injected)")
            return self._error(fault.status, message, headers)
        return self._messages(body, seq)

    def _messages(self, body: Any, seq: int) -> tuple[int, Any, dict[str, str]]:
        if body is ValueError or not isinstance(body, dict):
            raise Invalid("request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Invalid("model: Field required")
        if not model.startswith("claude-"):
            return self._error(404, f"model: {model}")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise Invalid("max_tokens: Field required (a positive integer)")
        temperature = body.get("temperature")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 1):
            raise Invalid("temperature: range: 0..1")
        system = body.get("system", "")
        if isinstance(system, list):
            system = _text(system)
        if not isinstance(system, str):
            raise Invalid("system: Input should be a valid string or list of text blocks")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Invalid("messages: at least one message is required")
        chat: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        prefill = ""
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role not in ("user", "assistant"):
                raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if i == 0 and role != "user":
                raise Invalid("messages: first message must use the \"user\" role")
            content = m["content"]
            image = False
            if isinstance(content, list):
                for j, block in enumerate(content):
                    image = self._check_block(block, f"messages.{i}.content.{j}", role) or image
            elif not isinstance(content, str):
                raise Invalid(f"messages.{i}.content: Input should be a valid string or list")
            if role == "assistant" and i == len(messages) - 1:
                prefill = _text(content)
                continue
            text = _text(content)
            chat.append({"role": role, "content": [{"type": "text", "text": text}] if image else text})
        tools = body.get("tools") or []
        by_name: dict[str, dict[str, Any]] = {}
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
                raise Invalid(f"tools.{k}: name and input_schema (an object) are required")
            if tool["input_schema"].get("type") != "object":
                raise Invalid(f"tools.{k}.input_schema.type: Input should be 'object'")
            by_name[tool["name"]] = tool
        choice = body.get("tool_choice")
        if choice is not None:
            if not tools:
                raise Invalid("tool_choice may only be specified while providing tools")
            if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
                raise Invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
            if choice["type"] == "tool" and choice.get("name") not in by_name:
                raise Invalid(f"tool_choice.name: no tool named {choice.get('name')!r}")
        if prefill and choice is not None and choice["type"] in ("any", "tool"):
            raise Invalid("Prefilling assistant messages is not supported when forcing tool use")

        with self._lock:
            scripted = self._replies.pop(0) if self._replies else None
        reply = scripted if scripted is not None else rule_based_reply(chat)
        blocks: list[dict[str, Any]]
        if isinstance(reply, list):
            blocks = reply
        else:
            blocks = self._reply_blocks(reply, chat, by_name, choice, prefill, seq)
        out_tokens = sum(len(json.dumps(b).split()) for b in blocks)
        stop = "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"
        in_tokens = sum(len(_text(m["content"]).split()) for m in chat) or 1
        return 200, {
            "id": f"msg_{seq:020d}", "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": in_tokens, "output_tokens": out_tokens},
        }, {}

    @staticmethod
    def _reply_blocks(reply: Any, chat: list[dict[str, Any]], by_name: dict[str, dict[str, Any]], choice: Any,
                      prefill: str, seq: int) -> list[dict[str, Any]]:
        text = json.dumps(reply) if isinstance(reply, dict) else str(reply)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        tool = None
        kind = choice.get("type") if isinstance(choice, dict) else "auto"
        if kind == "tool":
            tool = by_name[choice["name"]]
        elif kind in ("auto", "any") and by_name:
            last_user = next((m for m in reversed(chat) if m["role"] == "user"), None)
            said = _text(last_user["content"]) if last_user else ""
            tool = next((t for n, t in by_name.items() if n in said), None)
            if tool is None and kind == "any":
                tool = next(iter(by_name.values()))
        if tool is not None:
            required = tool["input_schema"].get("required") or []
            forced_answer = kind != "auto" and isinstance(parsed, dict) and all(r in parsed for r in required)
            args = parsed if forced_answer else placeholder_args(tool["input_schema"])
            return [{"type": "tool_use", "id": f"toolu_{seq:020d}", "name": tool["name"], "input": args}]
        if prefill and text.startswith(prefill):
            text = text[len(prefill):]
        return [{"type": "text", "text": text}]

    def _check_block(self, block: Any, where: str, role: str) -> bool:
        """Validate one content block; True when it is an image."""
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise Invalid(f"{where}.text: Field required")
            return False
        if kind == "image":
            if role != "user":
                raise Invalid(f"{where}: images are only allowed in user messages")
            source = block.get("source") or {}
            if source.get("type") == "base64":
                if source.get("media_type") not in IMAGE_TYPES:
                    raise Invalid(f"{where}.source.media_type: Input should be one of {', '.join(IMAGE_TYPES)}")
                try:
                    base64.b64decode(source.get("data") or "", validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise Invalid(f"{where}.source.data: invalid base64") from exc
            elif source.get("type") == "url":
                if not str(source.get("url", "")).startswith(("http://", "https://")):
                    raise Invalid(f"{where}.source.url: must be an http(s) URL")
            else:
                raise Invalid(f"{where}.source.type: Input should be 'base64' or 'url'")
            return True
        if kind == "tool_use" and role == "assistant":
            if not block.get("id") or not block.get("name") or not isinstance(block.get("input"), dict):
                raise Invalid(f"{where}: tool_use needs id, name and an input object")
            return False
        if kind == "tool_result" and role == "user":
            if not block.get("tool_use_id"):
                raise Invalid(f"{where}.tool_use_id: Field required")
            return False
        raise Invalid(f"{where}.type: {kind!r} is not a valid content block here")


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicEmulator]:
    """A loopback Messages API emulator (key ``sk-ant-test``), started for this test."""
    with AnthropicEmulator() as server:
        yield server


@pytest.fixture
def make_llm() -> Callable[..., Any]:
    """``make_llm(server, **config)``: an ``AnthropicLLM`` pointed at the emulator (no backoff waits)."""
    from mem7_anthropic import AnthropicLLM

    def make(server: AnthropicEmulator, **cfg: Any) -> AnthropicLLM:
        return AnthropicLLM.from_config({"api_key": API_KEY, "base_url": server.url, "retry_backoff": 0.0, **cfg})

    return make

