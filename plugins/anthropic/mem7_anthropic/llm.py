"""Claude as a mem7 LLM, through the official ``anthropic`` client and the Messages API.

One ``anthropic.AsyncAnthropic`` per instance (its own HTTP client: anthropic 2.x uses ``httpx2``,
so none is passed in), closed by ``aclose()``. The client's own retries are off: mem7's
:class:`~mem7_core.providers.http.RetryPolicy` retries, bounded and observable, on 408/409/429/5xx
(529 "overloaded" included) and transport errors, honouring ``retry-after`` and the call's time
budget. Every failure is a :class:`~mem7_core.errors.ProviderError` naming ``anthropic``.

mem7 speaks OpenAI-style chat messages; they are translated here: ``system`` messages become the
top-level ``system`` prompt, image parts become ``image`` content blocks (base64 or URL sources),
assistant ``tool_calls`` become ``tool_use`` blocks and ``tool`` messages ``tool_result`` blocks,
and OpenAI-style tool definitions become ``{name, description, input_schema}``.

JSON mode (the Messages API has no ``response_format``) is done the way Anthropic documents for
structured output: by default (``json_mode="tool"``) a tool whose input is the answer object is
offered and forced with ``tool_choice``; its ``input`` (a JSON object by construction) is the
answer. ``json_mode="prefill"`` starts the assistant's turn with ``{`` instead. Either way the
answer is parsed strictly: anything but a JSON object is a ``ProviderError`` (never prose).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import LLMResponse
from mem7_core.providers import LLM, LLMCapabilities, Message, ProviderConfig
from mem7_core.providers.http import (
    BudgetSpent,
    RetryPolicy,
    budget_error,
    retry_after,
    retryable_status,
    status_error,
    timeout_error,
    unreachable_error,
)

if TYPE_CHECKING:
    import anthropic

log = logging.getLogger("mem7.anthropic")

PROVIDER = "anthropic"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
JSON_TOOL = "json_response"
"""The tool JSON mode forces (``json_mode="tool"``): its input is the answer."""

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


class AnthropicLLMConfig(ProviderConfig):
    """``llm.config`` of the ``anthropic`` provider. Unknown fields are errors."""

    model: str = Field("claude-haiku-4-5", description="Claude model id, e.g. claude-sonnet-4-5, claude-haiku-4-5.")
    api_key: SecretStr | None = Field(None, description="API key; default ANTHROPIC_API_KEY.")
    base_url: str | None = Field(
        None,
        description="API root (the client appends /v1/messages); default ANTHROPIC_BASE_URL or "
        "https://api.anthropic.com. A trailing /v1 is dropped.",
    )
    temperature: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Sampling temperature (0-1). None: the model's default. The anthropic client has no "
        "typed parameter for it any more, so a set value travels as an extra body field.",
    )
    max_tokens: int = Field(1000, gt=0, description="Output token limit (required by the API).")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling (sent as temperature is).")
    enable_vision: bool = Field(
        True, description="Send image parts as image blocks (every current Claude model reads images). "
        "When false, images become short text placeholders.",
    )
    json_mode: Literal["tool", "prefill", "off"] = Field(
        "tool",
        description="How JSON mode is done: tool (a forced tool whose input is the answer), prefill "
        "(the assistant turn starts with '{'), or off (the prompt alone asks for JSON).",
    )
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    deadline: float | None = Field(
        30.0, gt=0,
        description="Time budget in seconds of one call, retries included. None: only timeout x (1 + max_retries).",
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 408/409/429/5xx/529, connection errors, timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
    default_headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers on every call.")


def _resolve_key(config: AnthropicLLMConfig) -> str:
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    key = key or os.environ.get(KEY_ENV) or None
    if not key:
        raise ConfigError(f"anthropic llm: no api_key. Set {KEY_ENV} or llm.config.api_key")
    return key


def _resolve_base_url(config: AnthropicLLMConfig) -> str:
    url = (config.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


# ------------------------------------------------------------------------- message translation
def _image_block(url: str, index: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` as an Anthropic image block (data URL → base64 source, else URL source)."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise ProviderError(PROVIDER, f"llm: {index}: a data URL must be base64 (data:<type>;base64,...)")
        if media_type not in _IMAGE_TYPES:
            raise ProviderError(PROVIDER, f"llm: {index}: image type {media_type!r} is not one the API reads "
                                          f"({', '.join(_IMAGE_TYPES)})")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError(PROVIDER, f"llm: {index}: the data URL is not valid base64") from exc
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ProviderError(PROVIDER, f"llm: {index}: an image must be a data: URL or an http(s) URL")


def _image_url(part: dict[str, Any]) -> str | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) else None


def _blocks(content: Any, *, vision: bool, where: str) -> list[dict[str, Any]]:
    """A message's content (str or OpenAI parts) as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return [{"type": "text", "text": str(content)}]
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            out.append({"type": "text", "text": str(part)})
        elif part.get("type") == "text":
            if part.get("text"):
                out.append({"type": "text", "text": str(part["text"])})
        elif part.get("type") == "image_url":
            url = _image_url(part) or ""
            if vision:
                out.append(_image_block(url, f"{where}.content[{j}]"))
            else:
                label = f"[image: {url}]" if url.startswith(("http://", "https://")) else "[image]"
                out.append({"type": "text", "text": label})
        elif part.get("type") in ("image", "tool_use", "tool_result"):  # already Anthropic-shaped
            out.append(part)
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def translate_messages(messages: Sequence[Message], *, vision: bool) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-style messages as ``(system, messages)`` of the Messages API.

    System messages (anywhere) join the system prompt; consecutive turns of one role are merged (the
    API alternates user and assistant); ``tool`` messages become user ``tool_result`` blocks.
    """
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            text = _text_of(m.get("content"))
            if text:
                system.append(text)
            continue
        blocks: list[dict[str, Any]]
        if role == "tool":
            role, blocks = "user", [{
                "type": "tool_result",
                "tool_use_id": str(m.get("tool_call_id") or ""),
                "content": _text_of(m.get("content")),
            }]
        elif role == "assistant":
            blocks = _blocks(m.get("content"), vision=False, where=where)
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                raw = fn.get("arguments") or "{}"
                try:
                    args = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    args = {}
                blocks.append({"type": "tool_use", "id": str(call.get("id") or ""), "name": str(fn.get("name") or ""),
                               "input": args if isinstance(args, dict) else {}})
        elif role == "user":
            blocks = _blocks(m.get("content"), vision=vision, where=where)
        else:
            raise ProviderError(PROVIDER, f"llm: {where}.role {role!r} is not system, user, assistant or tool")
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out or out[0]["role"] != "user":  # the API wants the conversation to open with the user
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "(start)"}]})
    return "\n\n".join(system), out


def translate_tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style tool definitions as Anthropic tools (``input_schema``); Anthropic-shaped ones pass."""
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if "input_schema" in tool:
            out.append(dict(tool))
            continue
        fn = tool.get("function") if tool.get("type") == "function" else tool
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ProviderError(PROVIDER, f"llm: tools[{i}] has no function name")
        entry: dict[str, Any] = {"name": fn["name"],
                                 "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
        if fn.get("description"):
            entry["description"] = fn["description"]
        out.append(entry)
    return out


# ------------------------------------------------------------------------------------ errors
def _hint(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return None if headers is None else retry_after(headers)


def is_retryable(exc: BaseException) -> bool:
    """Connection errors and timeouts, and 408/409/429/5xx (Anthropic's 529 "overloaded" too)."""
    import anthropic  # loaded: the client is built before any request fails

    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return retryable_status(exc.status_code)
    return False


def _is_timeout(exc: BaseException) -> bool:
    import anthropic

    return isinstance(exc, anthropic.APITimeoutError)


def _server_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            kind = err.get("type")
            return f"{kind}: {err['message']}" if kind else str(err["message"])
    return exc.message or ""


# ---------------------------------------------------------------------------------- provider
class AnthropicLLM(LLM):
    """Claude through ``anthropic.AsyncAnthropic.messages.create`` (``POST /v1/messages``)."""

    name = "anthropic"
    Config = AnthropicLLMConfig
    capabilities: ClassVar[LLMCapabilities] = LLMCapabilities(json_mode=True, tools=True, vision=True)
    config: AnthropicLLMConfig

    def __init__(self, config: AnthropicLLMConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.model = cfg.model
        self.base_url = _resolve_base_url(cfg)
        api_key = _resolve_key(cfg)  # before opening anything: a missing key leaves nothing to close
        import anthropic  # here, not at module level: discovering the plugin stays cheap (~2 s cold)

        self.capabilities = LLMCapabilities(  # type: ignore[misc]
            json_mode=cfg.json_mode != "off", tools=True, vision=cfg.enable_vision
        )
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=self.base_url,
            timeout=cfg.timeout,
            max_retries=0,  # ours are bounded, observable and budget-aware
            default_headers=cfg.default_headers or None,
        )
        self._retry = RetryPolicy(max_retries=cfg.max_retries, backoff=cfg.retry_backoff,
                                  max_backoff=cfg.retry_max_backoff, deadline=cfg.deadline, name=PROVIDER)
        self._closed = False

    # ---------------------------------------------------------------------------- request
    def request(
        self,
        messages: Sequence[Message],
        response_format: str = "text",
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for this call."""
        cfg = self.config
        system, sent = translate_messages(messages, vision=cfg.enable_vision)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens if max_tokens is not None else cfg.max_tokens,
            "messages": sent,
        }
        if system:
            kwargs["system"] = system
        # Sampling parameters: documented fields of the request body, no longer typed by the client.
        sampling: dict[str, float] = {}
        temp = cfg.temperature if temperature is None else min(1.0, max(0.0, temperature))
        if temp is not None:
            sampling["temperature"] = temp
        if cfg.top_p is not None:
            sampling["top_p"] = cfg.top_p
        if sampling:
            kwargs["extra_body"] = sampling
        offered = translate_tools(tools) if tools else []
        if response_format == "json" and cfg.json_mode == "tool":
            offered.append({
                "name": JSON_TOOL,
                "description": "Give the answer: its input is the JSON object the instructions ask for.",
                "input_schema": {"type": "object", "additionalProperties": True},
            })
            # forced when it is the only tool; with the caller's tools too, one of them must be used
            kwargs["tool_choice"] = {"type": "tool", "name": JSON_TOOL} if len(offered) == 1 else {"type": "any"}
        elif response_format == "json" and cfg.json_mode == "prefill":
            if sent[-1]["role"] == "assistant":
                sent[-1] = {"role": "assistant", "content": [*sent[-1]["content"], {"type": "text", "text": "{"}]}
            else:
                sent.append({"role": "assistant", "content": [{"type": "text", "text": "{"}]})
        if offered:
            kwargs["tools"] = offered
        return kwargs

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        response_format: Literal["text", "json"] = "text",
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        if self._closed:
            raise ProviderError(PROVIDER, "llm: generate() called after aclose()")
        kwargs = self.request(messages, response_format, tools, temperature, max_tokens)
        create = self._client.messages.create

        async def call() -> Any:
            return await create(**kwargs)

        message = await self._retry.run(call, retryable=is_retryable, describe=self._describe, hint=_hint,
                                        is_timeout=_is_timeout)
        return self._response(message, json_mode=self.config.json_mode if response_format == "json" else None)

    def _response(self, message: Any, *, json_mode: str | None) -> LLMResponse:
        blocks = getattr(message, "content", None)
        if not isinstance(blocks, list):
            raise self._malformed(f"no content list in {type(message).__name__}")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        answer: dict[str, Any] | None = None
        for block in blocks:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(str(getattr(block, "text", "")))
            elif kind == "tool_use":
                args = getattr(block, "input", None)
                name = getattr(block, "name", None)
                if json_mode == "tool" and name == JSON_TOOL:
                    if not isinstance(args, dict):
                        raise self._malformed(f"the {JSON_TOOL} tool input is a {type(args).__name__}, not an object")
                    answer = args
                    continue
                calls.append({"id": getattr(block, "id", None), "type": "function", "name": name,
                              "arguments": args if isinstance(args, dict) else {}})
        stop = getattr(message, "stop_reason", None)
        content = "".join(texts)
        if json_mode is not None and json_mode != "off":
            if json_mode == "tool":
                if answer is None and not calls:
                    raise self._json_error(stop, f"no {JSON_TOOL} tool call in the answer")
                if answer is not None:
                    content = json.dumps(answer, ensure_ascii=False)
            else:  # prefill: the answer continues the '{' the request started
                content = self._strict_object("{" + content, stop)
        usage: dict[str, int] = {}
        raw = getattr(message, "usage", None)
        if raw is not None:
            prompt = int(getattr(raw, "input_tokens", 0) or 0)
            completion = int(getattr(raw, "output_tokens", 0) or 0)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        return LLMResponse(content=content, tool_calls=calls, usage=usage)

    def _strict_object(self, text: str, stop: Any) -> str:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._json_error(stop, f"the answer is not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise self._json_error(stop, f"the answer is a JSON {type(data).__name__}, not an object")
        return json.dumps(data, ensure_ascii=False)

    def _json_error(self, stop: Any, detail: str) -> ProviderError:
        if stop == "max_tokens":
            return ProviderError(PROVIDER, f"llm: JSON mode answer cut at max_tokens ({detail}): raise "
                                           f"llm.config.max_tokens (now {self.config.max_tokens})")
        return self._malformed(f"JSON mode: {detail} (stop_reason {stop!r})")

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"llm: malformed response from {self.base_url}: {detail}", retryable=True)

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        import anthropic

        if isinstance(exc, ProviderError):
            return exc
        who, url = "llm", self.base_url
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field="llm.config.deadline")
        if isinstance(exc, anthropic.APITimeoutError):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts, detail=detail)
        if isinstance(exc, anthropic.APIStatusError):
            return status_error(exc.status_code, _server_message(exc), provider=PROVIDER, who=who, url=url,
                                attempts=attempts, key_hint=f"{KEY_ENV} or llm.config.api_key",
                                not_found_hint=f"check llm.config.model ({self.model!r}) and base_url")
        if isinstance(exc, (anthropic.APIResponseValidationError, ValueError, TypeError)):
            return self._malformed(f"{type(exc).__name__}: {exc}")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.close()

    def __repr__(self) -> str:
        return f"<AnthropicLLM model={self.model!r} base_url={self.base_url!r}>"
