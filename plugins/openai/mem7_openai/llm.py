"""The OpenAI chat LLM (also Azure OpenAI and every OpenAI-compatible server, through aliases)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from mem7_core.errors import ConfigError
from mem7_core.models import LLMResponse
from mem7_core.providers import LLM, LLMCapabilities, Message

from ._common import LLM_ALIASES, Alias, resolve_alias
from ._provider import OpenAIProvider
from .config import OpenAILLMConfig

log = logging.getLogger("mem7.openai")

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "response", "schema": {"type": "object"}},
}


def _is_reasoning_model(model: str) -> bool:
    """OpenAI reasoning models take ``max_completion_tokens`` and no ``temperature``."""
    return model.split("/")[-1].lower().startswith(_REASONING_PREFIXES)


def _image_placeholder(part: dict[str, Any]) -> str:
    url = part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return f"[image: {url}]"
    return "[image]"


def text_only(messages: Sequence[Message]) -> list[Message]:
    """Messages with image parts replaced by text placeholders, and part lists flattened to str.

    Used when ``enable_vision`` is false: text-only models (and many OpenAI-compatible servers)
    reject image parts, and some reject list content altogether.
    """
    out: list[Message] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                if not isinstance(part, dict):
                    texts.append(str(part))
                elif part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "image_url":
                    texts.append(_image_placeholder(part))
            m = {**m, "content": "\n".join(t for t in texts if t)}
        out.append(m)
    return out


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    raw = fn.get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        args = None
    out: dict[str, Any] = {
        "id": call.get("id"),
        "type": call.get("type") or "function",
        "name": fn.get("name"),
        "arguments": args if isinstance(args, dict) else {},
    }
    if not isinstance(args, dict):
        out["raw_arguments"] = raw
    return out


class OpenAILLM(OpenAIProvider, LLM):
    """Chat completions through the official ``openai`` client.

    One ``AsyncOpenAI`` (or ``AsyncAzureOpenAI``) client per instance, so calls share its
    keep-alive connection pool. Selected as ``openai`` or one of :data:`aliases`, which set the
    base URL, API-key variable and default model of that service.
    """

    kind = "llm"  # as the base's: restated so the mixin's ClassVar[ProviderKind] and this agree for mypy
    name = "openai"
    aliases: ClassVar[tuple[str, ...]] = LLM_ALIASES
    Config = OpenAILLMConfig
    capabilities: ClassVar[LLMCapabilities] = LLMCapabilities(json_mode=True, tools=True, vision=False)
    config: OpenAILLMConfig

    def __init__(self, config: OpenAILLMConfig | None = None, *, alias: str | Alias = "openai") -> None:
        super().__init__(config)
        cfg = self.config
        self.alias = alias if isinstance(alias, Alias) else resolve_alias(alias)
        explicit = cfg.model_fields_set
        if "model" not in explicit and self.alias.llm_model is None:
            raise ConfigError(
                f"{self.alias.name} llm: no model. Set llm.config.model to the model the server serves"
            )
        self.model = cfg.model if "model" in explicit else (self.alias.llm_model or cfg.model)
        self.json_mode = cfg.json_mode or self.alias.json_mode
        self._connect(azure_deployment=cfg.azure_deployment)
        # Instance-level capabilities: vision and JSON mode depend on the config.
        self.capabilities = LLMCapabilities(  # type: ignore[misc]
            json_mode=self.json_mode != "off", tools=True, vision=cfg.enable_vision
        )

    # --------------------------------------------------------------------------------- calls
    def _request(
        self,
        messages: Sequence[Message],
        response_format: str,
        tools: Sequence[dict[str, Any]] | None,
        temperature: float | None,
        max_tokens: int | None,
    ) -> dict[str, Any]:
        cfg = self.config
        sent = list(messages) if cfg.enable_vision else text_only(messages)
        kwargs: dict[str, Any] = {"model": self.model, "messages": sent}
        limit = max_tokens if max_tokens is not None else cfg.max_tokens
        if self.alias.name in ("openai", "azure") and _is_reasoning_model(self.model):
            kwargs["max_completion_tokens"] = limit
        else:
            kwargs["max_tokens"] = limit
            kwargs["temperature"] = cfg.temperature if temperature is None else temperature
            if cfg.top_p is not None:
                kwargs["top_p"] = cfg.top_p
        if response_format == "json":
            if self.json_mode == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
            elif self.json_mode == "json_schema":
                kwargs["response_format"] = _JSON_SCHEMA_FORMAT
        if tools:
            kwargs["tools"] = list(tools)
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
        self._check_open("generate")
        body = self._request(messages, response_format, tools, temperature, max_tokens)
        response = await self._post("/chat/completions", body)
        try:
            choices = response["choices"]
            if not choices:
                raise ValueError("the response has no choices")
            message = choices[0]["message"]
            content = message.get("content") or ""
            if not isinstance(content, str):
                raise TypeError(f"message content is a {type(content).__name__}, not a string")
            tool_calls = [_tool_call(c) for c in (message.get("tool_calls") or [])]
            usage: dict[str, int] = {}
            raw_usage = response.get("usage")
            if isinstance(raw_usage, dict):
                usage = {
                    "prompt_tokens": int(raw_usage.get("prompt_tokens") or 0),
                    "completion_tokens": int(raw_usage.get("completion_tokens") or 0),
                    "total_tokens": int(raw_usage.get("total_tokens") or 0),
                }
        except Exception as exc:  # a body that parsed as JSON but is not a chat completion
            raise self._describe(exc, 1) from exc
        return LLMResponse(content=content, tool_calls=tool_calls, usage=usage)

    def __repr__(self) -> str:
        return f"<OpenAILLM {self.alias.name} model={self.model!r} base_url={self.base_url!r}>"
