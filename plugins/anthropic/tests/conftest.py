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
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mem7_core.testing.emulator import ApiError, LoopbackEmulator, Recorded, Reply
from mem7_core.testing.fakes import rule_based_reply
from mem7_core.testing.openai_server import placeholder_args

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


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""




class Invalid(ApiError):
    """A request the real API would reject with 400 ``invalid_request_error``."""


class AnthropicEmulator(LoopbackEmulator):
    """Loopback ``POST /v1/messages``; ``url`` is the ``base_url`` for the anthropic client."""

    name = "anthropic"
    fault_paths = ("/v1/messages",)

    def __init__(self, *, api_key: str = API_KEY, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.api_key = api_key
        self._replies: list[Any] = []

    # ------------------------------------------------------------------ scripting
    def script(self, *replies: Any) -> None:
        """The next answers, in order: a str (text), a dict (JSON text, or a forced tool's input), or
        a list of content blocks sent as they are (with ``stop_reason`` ``tool_use`` when one is)."""
        with self._lock:
            self._replies.extend(replies)

    def count(self, path: str | None = "/v1/messages", method: str | None = None) -> int:
        """Requests received on ``/v1/messages`` (by default)."""
        return super().count(path, method)

    # ------------------------------------------------------------------ HTTP
    def extra_headers(self, rec: Recorded) -> dict[str, str]:
        return {"request-id": f"req_{rec.seq:08d}"}

    def error_body(self, status: int, message: str) -> Any:
        kind = ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def fault_body(self, status: int) -> Any:
        return self.error_body(status, {429: "Number of request tokens has exceeded your per-minute rate limit",
                                        529: "Overloaded"}.get(status, "Internal server error (injected)"))

    def reject(self, rec: Recorded) -> Reply | None:
        if rec.method != "POST" or rec.path != "/v1/messages":
            return 404, self.error_body(404, f"Not found: {rec.method} {rec.path}"), {}
        auth = rec.headers.get("authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else None
        if self.api_key not in (rec.headers.get("x-api-key"), bearer):
            return 401, self.error_body(401, "invalid x-api-key"), {}
        if not rec.headers.get("anthropic-version"):
            raise Invalid("anthropic-version: header is required")
        return None

    def answer(self, rec: Recorded) -> Reply:
        return self._messages(rec.body, rec.seq)

    def _messages(self, body: Any, seq: int) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict):
            raise Invalid("request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Invalid("model: Field required")
        if not model.startswith("claude-"):
            raise ApiError(f"model: {model}", 404)
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

