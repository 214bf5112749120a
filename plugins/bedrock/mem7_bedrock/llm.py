"""Chat models on Amazon Bedrock through the Converse API (``bedrock-runtime`` ``Converse``,
``POST /model/{modelId}/converse``), with boto3.

mem7 speaks OpenAI-style chat messages; they are translated here: ``system`` messages become the
``system`` blocks, image parts ``image`` blocks (a ``data:`` URL's bytes, or an ``s3://`` location),
assistant ``tool_calls`` ``toolUse`` blocks, ``tool`` messages user ``toolResult`` blocks, and
OpenAI-style tool definitions ``toolConfig.tools[].toolSpec``. Consecutive turns of one role are
merged (Converse wants user and assistant to alternate, starting with the user).

JSON mode (``json_mode``), as Bedrock allows it:

- ``tool`` (default): a tool whose input is the answer object is offered and forced with
  ``toolChoice: {any: {}}`` (every model with tool use supports ``any``; ``tool`` is Claude and
  Nova only); its ``input`` is the answer.
- ``schema``: Converse structured output (``outputConfig.textFormat`` of type ``json_schema``, with
  ``response_schema``), for the models that support it.
- ``prompt``: the system prompt asks for JSON only; the answer's object is extracted (code fences
  and prose around it dropped).
- ``off``: nothing is asked (the engine's prompts ask for JSON themselves).

Whatever the mode, a JSON-mode answer is a JSON object or a ``ProviderError`` (never prose).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from mem7_core.errors import ProviderError
from mem7_core.models import LLMResponse
from mem7_core.providers import LLM, LLMCapabilities, Message
from mem7_core.providers.llm_json import parse_json_object

from ._common import PROVIDER, BedrockConnection, BedrockProvider

JSON_TOOL = "json_response"
"""The tool JSON mode forces (``json_mode="tool"``): its input is the answer."""

JSON_PROMPT = "Answer with one JSON object only: no prose, no code fences."

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
_S3_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}
_BLOCKED = ("guardrail_intervened", "content_filtered")


class BedrockLLMConfig(BedrockConnection):
    """``llm.config`` of the ``bedrock`` provider. Unknown fields are errors."""

    model: str = Field(
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        description="Model id, inference profile id or ARN, e.g. us.amazon.nova-lite-v1:0, "
        "anthropic.claude-3-5-haiku-20241022-v1:0.",
    )
    temperature: float | None = Field(0.0, ge=0.0, le=1.0, description="Sampling temperature; None: the model's.")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Nucleus sampling; None: the model's.")
    max_tokens: int = Field(1000, gt=0, description="Output token limit (inferenceConfig.maxTokens).")
    enable_vision: bool = Field(
        True, description="Send image parts as image blocks (data: URLs and s3:// locations). When false, or for "
        "an http(s) URL (Converse takes no URL), an image becomes a short text placeholder.",
    )
    json_mode: Literal["tool", "schema", "prompt", "off"] = Field(
        "tool",
        description="How JSON mode is done: tool (a forced tool whose input is the answer), schema (Converse "
        "structured output, outputConfig json_schema), prompt (the system prompt asks for JSON), or off.",
    )
    response_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="The JSON schema of JSON mode's answer (the forced tool's input schema; json_mode schema's "
        "structure).",
    )
    additional_model_request_fields: dict[str, Any] = Field(
        default_factory=dict, description="Model-specific fields sent as additionalModelRequestFields (e.g. top_k).")


# ------------------------------------------------------------------------- message translation
def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _image_block(url: str, where: str) -> dict[str, Any] | None:
    """An ``image_url`` as a Converse image block; None for an http(s) URL (Converse takes none)."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        fmt = _IMAGE_FORMATS.get(mime.lower())
        if not sep or encoding != "base64" or fmt is None:
            raise ProviderError(PROVIDER, f"llm: {where}: an image must be a data:image/<png|jpeg|gif|webp>;base64,... "
                                          "URL")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError(PROVIDER, f"llm: {where}: the data URL is not valid base64") from exc
        return {"image": {"format": fmt, "source": {"bytes": raw}}}
    if url.startswith("s3://"):
        suffix = url[url.rfind("."):].lower() if "." in url.rsplit("/", 1)[-1] else ""
        return {"image": {"format": _S3_FORMATS.get(suffix, "png"), "source": {"s3Location": {"uri": url}}}}
    if url.startswith(("http://", "https://")):
        return None
    raise ProviderError(PROVIDER, f"llm: {where}: an image must be a data: URL, an s3:// URI or an http(s) URL")


def _blocks(content: Any, *, vision: bool, where: str) -> list[dict[str, Any]]:
    """A message's content (str or OpenAI parts) as Converse content blocks (no blank text)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        return [{"text": str(content)}]
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            out.append({"text": str(part)})
        elif part.get("type") == "text":
            if str(part.get("text") or "").strip():
                out.append({"text": str(part["text"])})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            url = url if isinstance(url, str) else ""
            block = _image_block(url, f"{where}.content[{j}]") if vision else None
            if block is None:
                shown = url.startswith(("http://", "https://", "s3://"))
                out.append({"text": f"[image: {url}]" if shown else "[image]"})
            else:
                out.append(block)
    return out


def translate_messages(
    messages: Sequence[Message], *, vision: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI-style messages as Converse ``(system, messages)``."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages[{i}]"
        blocks: list[dict[str, Any]]
        if role in ("system", "developer"):
            text = _text_of(m.get("content"))
            if text.strip():
                system.append({"text": text})
            continue
        if role == "tool":
            raw = _text_of(m.get("content"))
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            result = {"json": value} if isinstance(value, dict) else {"text": raw or "(empty)"}
            role, blocks = "user", [{"toolResult": {"toolUseId": str(m.get("tool_call_id") or ""),
                                                    "content": [result]}}]
        elif role == "assistant":
            blocks = _blocks(m.get("content"), vision=False, where=where)
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                raw_args = fn.get("arguments") or "{}"
                try:
                    args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
                except ValueError:
                    args = {}
                blocks.append({"toolUse": {"toolUseId": str(call.get("id") or ""), "name": str(fn.get("name") or ""),
                                           "input": args if isinstance(args, dict) else {}}})
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
    if not out or out[0]["role"] != "user":  # a conversation must start with a user message
        out.insert(0, {"role": "user", "content": [{"text": "(start)"}]})
    return system, out


def without_tool_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with their ``toolUse`` / ``toolResult`` blocks as text: Converse refuses them in a
    call that offers no tools (a history of earlier tool calls sent without its tools)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks: list[dict[str, Any]] = []
        for block in message["content"]:
            if "toolUse" in block:
                use = block["toolUse"]
                blocks.append({"text": f"[called {use['name']}({json.dumps(use['input'], ensure_ascii=False)})]"})
            elif "toolResult" in block:
                parts = block["toolResult"]["content"]
                shown = " ".join(json.dumps(p["json"], ensure_ascii=False) if "json" in p else str(p.get("text", ""))
                                 for p in parts)
                blocks.append({"text": f"[tool result: {shown}]"})
            else:
                blocks.append(block)
        out.append({"role": message["role"], "content": blocks})
    return out


def translate_tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style tool definitions as Converse ``toolSpec`` entries (ones already so shaped pass)."""
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if "toolSpec" in tool:
            out.append(dict(tool))
            continue
        fn = tool.get("function") if tool.get("type") == "function" else tool
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ProviderError(PROVIDER, f"llm: tools[{i}] has no function name")
        spec: dict[str, Any] = {"name": fn["name"],
                                "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}}}
        if fn.get("description"):
            spec["description"] = fn["description"]
        out.append({"toolSpec": spec})
    return out


# ---------------------------------------------------------------------------------- provider
class BedrockLLM(BedrockProvider, LLM):
    """Chat through ``bedrock-runtime`` ``converse``."""

    kind = "llm"
    name = "bedrock"
    aliases: ClassVar[tuple[str, ...]] = ("aws_bedrock",)  # mem0's name
    Config = BedrockLLMConfig
    capabilities: ClassVar[LLMCapabilities] = LLMCapabilities(json_mode=True, tools=True, vision=True)
    config: BedrockLLMConfig

    def __init__(self, config: BedrockLLMConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.model = cfg.model
        self.capabilities = LLMCapabilities(  # type: ignore[misc]
            json_mode=cfg.json_mode != "off", tools=True, vision=cfg.enable_vision
        )
        self._connect(cfg)

    def request(
        self,
        messages: Sequence[Message],
        response_format: str = "text",
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``client.converse`` for this call."""
        cfg = self.config
        system, sent = translate_messages(messages, vision=cfg.enable_vision)
        inference: dict[str, Any] = {"maxTokens": max_tokens if max_tokens is not None else cfg.max_tokens}
        temp = cfg.temperature if temperature is None else min(1.0, max(0.0, temperature))
        if temp is not None:
            inference["temperature"] = temp
        if cfg.top_p is not None:
            inference["topP"] = cfg.top_p
        json_mode = cfg.json_mode if response_format == "json" else "off"
        if json_mode == "prompt":
            system.append({"text": JSON_PROMPT})
        kwargs: dict[str, Any] = {"modelId": self.model, "messages": sent, "inferenceConfig": inference}
        if system:
            kwargs["system"] = system
        offered = translate_tools(tools) if tools else []
        choice: dict[str, Any] = {"auto": {}}
        if json_mode == "tool":
            offered.append({"toolSpec": {
                "name": JSON_TOOL,
                "description": "Give the answer: its input is the JSON object the instructions ask for.",
                "inputSchema": {"json": cfg.response_schema},
            }})
            choice = {"any": {}}  # forced: the JSON tool, or one of the caller's
        elif json_mode == "schema":
            kwargs["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
                "schema": json.dumps(cfg.response_schema), "name": "response",
            }}}}
        if offered:
            kwargs["toolConfig"] = {"tools": offered, "toolChoice": choice}
        else:
            kwargs["messages"] = without_tool_blocks(sent)
        if cfg.additional_model_request_fields:
            kwargs["additionalModelRequestFields"] = dict(cfg.additional_model_request_fields)
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
        kwargs = self.request(messages, response_format, tools, temperature, max_tokens)
        response = await self._call("converse", **kwargs)
        return self._response(response, json_mode=self.config.json_mode if response_format == "json" else "off")

    def _response(self, response: dict[str, Any], *, json_mode: str) -> LLMResponse:
        message = (response.get("output") or {}).get("message")
        blocks = message.get("content") if isinstance(message, dict) else None
        if not isinstance(blocks, list):
            raise self._malformed("no output.message.content list")
        stop = str(response.get("stopReason") or "")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        answer: dict[str, Any] | None = None
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if "text" in block:
                texts.append(str(block["text"]))
            elif "toolUse" in block:
                use = block["toolUse"] or {}
                args = use.get("input")
                if json_mode == "tool" and use.get("name") == JSON_TOOL:
                    if not isinstance(args, dict):
                        raise self._malformed(f"the {JSON_TOOL} tool input is a {type(args).__name__}, not an object")
                    answer = args
                    continue
                calls.append({"id": use.get("toolUseId"), "type": "function", "name": use.get("name"),
                              "arguments": args if isinstance(args, dict) else {}})
        content = "".join(texts)
        if not texts and not calls and answer is None and stop in _BLOCKED:
            raise ProviderError(PROVIDER, f"llm: the answer was blocked (stopReason {stop}) by {self.endpoint}")
        if json_mode == "tool" and not calls:
            if answer is None:
                raise self._json_error(stop, f"no {JSON_TOOL} tool call in the answer")
            content = json.dumps(answer, ensure_ascii=False)
        elif json_mode in ("schema", "prompt") and not calls:
            content = self._object(content, stop, strict=json_mode == "schema")
        usage: dict[str, int] = {}
        raw = response.get("usage")
        if isinstance(raw, dict):
            prompt = int(raw.get("inputTokens") or 0)
            completion = int(raw.get("outputTokens") or 0)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": int(raw.get("totalTokens") or prompt + completion)}
        return LLMResponse(content=content, tool_calls=calls, usage=usage)

    def _object(self, text: str, stop: str, *, strict: bool) -> str:
        """The answer's JSON object: the whole text (structured output), or found in it (prompt mode)."""
        if strict:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise self._json_error(stop, f"the answer is not JSON ({exc})") from exc
            if not isinstance(data, dict):
                raise self._json_error(stop, f"the answer is a JSON {type(data).__name__}, not an object")
        else:
            try:
                data = parse_json_object(text)
            except ValueError as exc:
                raise self._json_error(stop, str(exc)) from exc
        return json.dumps(data, ensure_ascii=False)

    def _json_error(self, stop: str, detail: str) -> ProviderError:
        if stop == "max_tokens":
            return ProviderError(PROVIDER, f"llm: JSON mode answer cut at max_tokens ({detail}): raise "
                                           f"llm.config.max_tokens (now {self.config.max_tokens})")
        return self._malformed(f"JSON mode: {detail} (stopReason {stop!r})")

    def __repr__(self) -> str:
        return f"<BedrockLLM model={self.model!r} endpoint={self.endpoint!r}>"
