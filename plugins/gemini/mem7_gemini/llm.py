"""Gemini as a mem7 LLM: ``client.aio.models.generate_content`` (``POST /{version}/models/{model}:generateContent``).

mem7's OpenAI-style chat is translated: ``system`` messages become ``system_instruction``, the
assistant role is ``model``, image parts become ``inline_data`` (data URLs) or ``file_data`` (http(s)
URLs) parts, assistant ``tool_calls`` become ``function_call`` parts and ``tool`` messages
``function_response`` parts; OpenAI-style tools become function declarations (their JSON schema as
``parameters_json_schema``). JSON mode is the API's own: ``response_mime_type="application/json"``
with a response schema (``{"type": "object"}`` unless the config gives one); the answer is parsed
strictly (a JSON object or a ``ProviderError``).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from mem7_core.errors import ProviderError
from mem7_core.models import LLMResponse
from mem7_core.providers import LLM, LLMCapabilities, Message

from ._common import PROVIDER, GeminiConnection, GeminiProvider

if TYPE_CHECKING:
    from google.genai import types

_BLOCKED_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


class GeminiLLMConfig(GeminiConnection):
    """``llm.config`` of the ``gemini`` provider. Unknown fields are errors."""

    model: str = Field("gemini-2.5-flash", description="Gemini model id, e.g. gemini-2.5-flash, gemini-2.5-pro.")
    temperature: float | None = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; None: the model's.")
    max_tokens: int = Field(1000, gt=0, description="max_output_tokens.")
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    enable_vision: bool = Field(
        True, description="Send image parts to the model (every Gemini model reads images). When false, images "
        "become short text placeholders.",
    )
    json_mode: Literal["schema", "mime", "off"] = Field(
        "schema",
        description="How JSON mode is asked for: schema (response_mime_type application/json + response_json_schema), "
        "mime (the mime type alone), or off (the prompt alone asks for JSON).",
    )
    response_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="The JSON schema sent in JSON mode (json_mode: schema); default any object.",
    )


def _image_part(url: str, where: str) -> types.Part:
    from google.genai import types

    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not mime.startswith("image/"):
            raise ProviderError(PROVIDER, f"llm: {where}: a data URL must be data:image/<type>;base64,...")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError(PROVIDER, f"llm: {where}: the data URL is not valid base64") from exc
        return types.Part(inline_data=types.Blob(mime_type=mime, data=raw))
    if url.startswith(("http://", "https://")):
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return types.Part(file_data=types.FileData(file_uri=url, mime_type=mime))
    raise ProviderError(PROVIDER, f"llm: {where}: an image must be a data: URL or an http(s) URL")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _parts(content: Any, *, vision: bool, where: str) -> list[types.Part]:
    from google.genai import types

    if content is None:
        return []
    if isinstance(content, str):
        return [types.Part(text=content)] if content else []
    if not isinstance(content, list):
        return [types.Part(text=str(content))]
    out: list[types.Part] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            out.append(types.Part(text=str(part)))
        elif part.get("type") == "text":
            if part.get("text"):
                out.append(types.Part(text=str(part["text"])))
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            url = url if isinstance(url, str) else ""
            if vision:
                out.append(_image_part(url, f"{where}.content[{j}]"))
            else:
                label = f"[image: {url}]" if url.startswith(("http://", "https://")) else "[image]"
                out.append(types.Part(text=label))
    return out


def translate_messages(messages: Sequence[Message], *, vision: bool) -> tuple[str, list[types.Content]]:
    """OpenAI-style messages as ``(system_instruction, contents)``; consecutive turns of one role merge."""
    from google.genai import types

    system: list[str] = []
    out: list[types.Content] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the function_response parts
    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages[{i}]"
        parts: list[types.Part]
        if role in ("system", "developer"):
            text = _text_of(m.get("content"))
            if text:
                system.append(text)
            continue
        if role == "tool":
            call_id = str(m.get("tool_call_id") or "")
            raw = _text_of(m.get("content"))
            try:
                result = json.loads(raw)
            except ValueError:
                result = raw
            role, parts = "user", [types.Part(function_response=types.FunctionResponse(
                id=call_id or None, name=names.get(call_id, m.get("name") or "tool"),
                response=result if isinstance(result, dict) else {"result": result}))]
        elif role == "assistant":
            role, parts = "model", _parts(m.get("content"), vision=False, where=where)
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                raw_args = fn.get("arguments") or "{}"
                try:
                    args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
                except ValueError:
                    args = {}
                name = str(fn.get("name") or "")
                if call.get("id"):
                    names[str(call["id"])] = name
                parts.append(types.Part(function_call=types.FunctionCall(
                    id=call.get("id"), name=name, args=args if isinstance(args, dict) else {})))
        elif role == "user":
            parts = _parts(m.get("content"), vision=vision, where=where)
        else:
            raise ProviderError(PROVIDER, f"llm: {where}.role {role!r} is not system, user, assistant or tool")
        if not parts:
            continue
        if out and out[-1].role == role:
            out[-1].parts = [*(out[-1].parts or []), *parts]
        else:
            out.append(types.Content(role=role, parts=parts))
    if not out:  # a system prompt alone: the API needs one content
        out.append(types.Content(role="user", parts=[types.Part(text="(start)")]))
    return "\n\n".join(system), out


def translate_tools(tools: Sequence[dict[str, Any]]) -> list[types.Tool]:
    from google.genai import types

    declarations: list[types.FunctionDeclaration] = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if tool.get("type") == "function" else tool
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ProviderError(PROVIDER, f"llm: tools[{i}] has no function name")
        declarations.append(types.FunctionDeclaration(
            name=fn["name"], description=fn.get("description"),
            parameters_json_schema=fn.get("parameters") or {"type": "object", "properties": {}},
        ))
    return [types.Tool(function_declarations=declarations)]


class GeminiLLM(GeminiProvider, LLM):
    """Gemini chat through the official ``google-genai`` client's async API."""

    kind = "llm"
    name = "gemini"
    Config = GeminiLLMConfig
    capabilities: ClassVar[LLMCapabilities] = LLMCapabilities(json_mode=True, tools=True, vision=True)
    config: GeminiLLMConfig

    def __init__(self, config: GeminiLLMConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.model = cfg.model
        self._connect(cfg)
        self.capabilities = LLMCapabilities(  # type: ignore[misc]
            json_mode=cfg.json_mode != "off", tools=True, vision=cfg.enable_vision
        )

    def request(
        self,
        messages: Sequence[Message],
        response_format: str = "text",
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        """The ``contents`` and ``config`` of ``generate_content`` for this call."""
        from google.genai import types

        cfg = self.config
        system, contents = translate_messages(messages, vision=cfg.enable_vision)
        config = types.GenerateContentConfig(
            max_output_tokens=max_tokens if max_tokens is not None else cfg.max_tokens,
            temperature=cfg.temperature if temperature is None else temperature,
            top_p=cfg.top_p,
            system_instruction=system or None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if response_format == "json" and cfg.json_mode != "off":
            config.response_mime_type = "application/json"
            if cfg.json_mode == "schema":
                config.response_json_schema = cfg.response_schema
        if tools:
            config.tools = list(translate_tools(tools))
            config.tool_config = types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.AUTO))
        return contents, config

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
        contents, config = self.request(messages, response_format, tools, temperature, max_tokens)
        models = self._client.aio.models
        model = self.model

        async def call() -> types.GenerateContentResponse:
            return await models.generate_content(model=model, contents=contents, config=config)

        response = await self._call(call)
        json_mode = response_format == "json" and self.config.json_mode != "off"
        return self._response(response, json_mode=json_mode)

    def _response(self, response: types.GenerateContentResponse, *, json_mode: bool) -> LLMResponse:
        candidates = response.candidates or []
        if not candidates:
            feedback = response.prompt_feedback
            reason = getattr(feedback, "block_reason", None) if feedback is not None else None
            if reason is not None:
                raise ProviderError(PROVIDER, f"llm: the prompt was blocked ({reason}) by {self.base_url}")
            raise self._malformed("the response has no candidates")
        candidate = candidates[0]
        finish = str(getattr(candidate.finish_reason, "value", candidate.finish_reason) or "")
        parts = (candidate.content.parts if candidate.content is not None else None) or []
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in parts:
            if part.thought:
                continue
            if part.text:
                texts.append(part.text)
            if part.function_call is not None:
                fc = part.function_call
                calls.append({"id": fc.id, "type": "function", "name": fc.name,
                              "arguments": dict(fc.args) if isinstance(fc.args, dict) else {}})
        content = "".join(texts)
        if not parts and finish in _BLOCKED_FINISH:
            raise ProviderError(PROVIDER, f"llm: the answer was blocked (finish_reason {finish}) by {self.base_url}")
        if json_mode and not calls:
            content = self._strict_object(content, finish)
        usage: dict[str, int] = {}
        meta = response.usage_metadata
        if meta is not None:
            prompt = int(meta.prompt_token_count or 0)
            completion = int(meta.candidates_token_count or 0)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": int(meta.total_token_count or prompt + completion)}
        return LLMResponse(content=content, tool_calls=calls, usage=usage)

    def _strict_object(self, text: str, finish: str) -> str:
        try:
            data = json.loads(text)
        except ValueError as exc:
            if finish == "MAX_TOKENS":
                raise ProviderError(PROVIDER, f"llm: JSON mode answer cut at max_tokens: raise llm.config.max_tokens "
                                              f"(now {self.config.max_tokens})") from exc
            raise self._malformed(f"JSON mode: the answer is not JSON ({exc}; finish_reason {finish!r})") from exc
        if not isinstance(data, dict):
            raise self._malformed(f"JSON mode: the answer is a JSON {type(data).__name__}, not an object")
        return text.strip()

    def __repr__(self) -> str:
        return f"<GeminiLLM model={self.model!r} base_url={self.base_url!r}>"
