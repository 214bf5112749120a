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
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from mem7_core.testing.emulator import ApiError, LoopbackEmulator, Recorded, Reply
from mem7_core.testing.fakes import hash_embedding, rule_based_reply
from mem7_core.testing.openai_server import placeholder_args

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


class Invalid(ApiError):
    """A request the real API rejects with 400 ``INVALID_ARGUMENT``."""


def rpc_of(rec: Recorded) -> tuple[str, str]:
    """``(model, rpc)`` of a request on ``/v1beta/models/<model>:<rpc>`` (empty strings if not)."""
    model, _, rpc = rec.path.rpartition("/models/")[2].partition(":")
    return model, rpc


def _get(d: dict[str, Any], camel: str) -> Any:
    """``d[camel]``, or its snake_case spelling (the proto JSON mapping accepts both)."""
    if camel in d:
        return d[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return d.get(snake)




def emulator_vector(text: str, dims: int, task_type: str | None) -> list[float]:
    vec = hash_embedding(text, dims)
    if task_type == "RETRIEVAL_QUERY":  # asymmetric: a query's vector differs a little from a document's
        vec = [-x if i % 17 == 0 else x for i, x in enumerate(vec)]
    if dims < FULL_DIMS:  # not normalised below full size
        scale = 0.5 + (len(text) % 7) / 4
        vec = [x * scale for x in vec]
    return vec


class GeminiEmulator(LoopbackEmulator):
    """Loopback Gemini API; ``url`` is the ``base_url`` of ``http_options``. ``rec.extra`` of each
    request has its ``model``, ``rpc`` (``generateContent``, ``batchEmbedContents``...) and ``query``."""

    name = "gemini"
    content_type = "application/json; charset=UTF-8"

    def __init__(self, *, api_key: str = API_KEY, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.api_key = api_key
        self._replies: list[Any] = []

    # ------------------------------------------------------------------ scripting
    def script(self, *replies: Any) -> None:
        """The next chat answers: a str (text), a dict (JSON text), or a list of parts sent as they are
        (a dict with ``finishReason`` / ``parts`` keys sets the candidate's fields)."""
        with self._lock:
            self._replies.extend(replies)

    def count(self, path: str | None = None, method: str | None = None, *, rpc: str | None = None) -> int:
        """Requests received (of one RPC when ``rpc`` is given: ``generateContent``...)."""
        if rpc is None:
            return super().count(path, method)
        with self._lock:
            return sum(1 for r in self.requests if rpc_of(r)[1] == rpc)

    # ------------------------------------------------------------------ HTTP
    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}

    def fault_body(self, status: int) -> Any:
        return self.error_body(status, {429: "Resource has been exhausted (e.g. check quota).",
                                        503: "The model is overloaded. Please try again later."}.get(
            status, "An internal error has occurred (injected)."))

    def reject(self, rec: Recorded) -> Reply | None:
        model, rpc = rpc_of(rec)
        rec.extra.update(model=model, rpc=rpc, query=dict(parse_qsl(rec.query)))
        version = rec.path.split("/")[1] if rec.path.count("/") >= 2 else ""
        if rec.method != "POST" or version not in ("v1", "v1beta") or rpc not in (
                "generateContent", "batchEmbedContents", "embedContent"):
            return self.not_found(rec)
        key = rec.headers.get("x-goog-api-key") or rec.extra["query"].get("key")
        if not key:
            return 403, self.error_body(403, "Method doesn't allow unregistered callers. Please use API Key."), {}
        if key != self.api_key:
            body = self.error_body(400, "API key not valid. Please pass a valid API key.")
            body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                         "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]
            return 400, body, {}
        return None

    def not_found(self, rec: Recorded) -> Reply:
        return 404, self.error_body(404, f"Not found: {rec.method} {rec.path}"), {}

    def answer(self, rec: Recorded) -> Reply:
        body, model, rpc = rec.body, rec.extra["model"], rec.extra["rpc"]
        version = rec.path.split("/")[1]
        if not isinstance(body, dict):
            raise Invalid("Invalid JSON payload received.")
        if rpc == "generateContent":
            if not model.startswith("gemini-") or "embedding" in model:
                raise ApiError(f"models/{model} is not found for API version {version}, or is not "
                               "supported for generateContent.", 404)
            return self._generate(model, body, rec.seq)
        if "embedding" not in model:
            raise ApiError(f"models/{model} is not found for API version {version}, or is not "
                           "supported for embedContent.", 404)
        if rpc == "embedContent":
            return 200, {"embedding": {"values": self._embed_one(model, body, "")}}, {}
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise Invalid("requests: at least one request is required")
        if len(requests) > 100:
            raise Invalid("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
        return 200, {"embeddings": [{"values": self._embed_one(model, r, f"requests[{i}].")}
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
