"""A loopback emulator of Amazon Bedrock's runtime API (``bedrock-runtime``: ``Converse`` and
``InvokeModel`` for embedding models), and this plugin's fixtures.

Bedrock is hosted only, so the real boto3 client (``endpoint_url`` pointed here, fake credentials
from the test) talks real HTTP to this stdlib server on 127.0.0.1, following the documented REST
protocol of ``bedrock-runtime`` (restJson1, API version 2023-09-30):

Every request must be signed with AWS Signature Version 4 for service ``bedrock``: the emulator
recomputes the signature with botocore's own signer from the request it received (method, path,
signed headers, body, ``X-Amz-Date``) and the known secret key, and answers 403
``UnrecognizedClientException`` for an unknown access key, 403 ``InvalidSignatureException`` for a
wrong signature or scope, 403 ``MissingAuthenticationTokenException`` for none.

``POST /model/{modelId}/converse``::

    {"messages": [{"role": "user" | "assistant", "content": [ContentBlock, ...]}],   # starts with user, alternates
     "system": [{"text"}], "inferenceConfig": {"maxTokens" >= 1, "temperature" 0-1, "topP" 0-1, "stopSequences"},
     "toolConfig": {"tools": [{"toolSpec": {"name", "description", "inputSchema": {"json": {...}}}}],
                    "toolChoice": {"auto": {}} | {"any": {}} | {"tool": {"name"}}},
     "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "<json>", "name"}}}},
     "additionalModelRequestFields": {...}}
    ContentBlock: {"text"} | {"image": {"format": png|jpeg|gif|webp, "source": {"bytes": <base64>} | {"s3Location"}}}
                  | {"toolUse": {"toolUseId", "name", "input"}} | {"toolResult": {"toolUseId", "content": [...]}}
    -> {"output": {"message": {"role": "assistant", "content": [{"text"} | {"toolUse": {...}}]}},
        "stopReason": "end_turn" | "tool_use" | ..., "usage": {"inputTokens", "outputTokens", "totalTokens"},
        "metrics": {"latencyMs"}}

``POST /model/{modelId}/invoke`` (Content-Type and Accept ``application/json``), embedding models:

- Titan Text Embeddings v2 (``amazon.titan-embed-text-v2:0``): ``{"inputText", "dimensions": 256|512|1024,
  "normalize", "embeddingTypes"}`` -> ``{"embedding": [...], "embeddingsByType": {"float": [...]},
  "inputTextTokenCount"}``; v1 (``amazon.titan-embed-text-v1``): ``{"inputText"}`` only, 1536 dims.
- Cohere Embed (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``, ``cohere.embed-v4:0``):
  ``{"texts": [1..96], "input_type", "truncate", "embedding_types", "output_dimension" (v4)}`` ->
  ``{"id", "texts", "embeddings": {"float": [[...]]} | [[...]], "response_type"}``.

Errors are ``{"message"}`` with the ``x-amzn-ErrorType`` header naming the exception (injected
faults carry it as the body's ``__type``, the protocol's other documented place): 400
``ValidationException`` (a bad body, an unknown or unsuitable model), 403 (auth, above), 404 for an
unknown route, and what a test injects (429 ``ThrottlingException``, 500 ``InternalServerException``,
503 ``ServiceUnavailableException``, 408 ``ModelTimeoutException``, 424 ``ModelErrorException``).

Chat answers are :func:`mem7_core.testing.fakes.rule_based_reply` of the conversation unless a test
scripts them; with ``toolChoice`` ``any`` / ``tool`` a tool is always called (its input the reply's
JSON object when the tool requires no field, else placeholders), with ``auto`` a tool named in the
last user text is. Embeddings are the kit's deterministic feature-hashing vectors (a search query's
differs a little; Cohere's are not unit length).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mem7_core.testing.emulator import LoopbackEmulator, Recorded, Reply
from mem7_core.testing.fakes import hash_embedding, rule_based_reply
from mem7_core.testing.openai_server import placeholder_args

ACCESS_KEY = "AKIAEMULATOR0000TEST"
SECRET_KEY = "emulator-secret-key-for-tests-only"
REGION = "us-east-1"
ENV_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI")
ERROR_CODES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
               408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
               500: "InternalServerException", 503: "ServiceUnavailableException"}
CHAT_MODELS = re.compile(r"^(?:(?:us|eu|apac|global)\.)?(?:anthropic\.claude|amazon\.nova|meta\.llama|mistral\.)")
TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V1 = "amazon.titan-embed-text-v1"
COHERE_MODELS = {"cohere.embed-english-v3": 1024, "cohere.embed-multilingual-v3": 1024, "cohere.embed-v4:0": 1536}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/([^/,]+)/aws4_request, *"
                   r"SignedHeaders=([a-z0-9;-]+), *Signature=([0-9a-f]{64})$")
_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "gif": b"GIF8", "webp": b"RIFF"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's real AWS credentials, profiles, region or endpoint, and the
    instance-metadata lookup of the credential chain is off (nothing leaves the machine)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path_factory.mktemp("aws") / "none"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class Invalid(Exception):
    """A request the real API rejects with 400 ``ValidationException``."""


def error(status: int, message: str, code: str | None = None) -> Reply:
    code = code or ERROR_CODES.get(status, "InternalServerException")
    return status, {"message": message}, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                          "x-amzn-RequestId": str(uuid.uuid4())}


def emulator_vector(text: str, dims: int, *, query: bool = False, unit: bool = True) -> list[float]:
    vec = hash_embedding(text, dims)
    if query:  # asymmetric: a query's vector differs a little from a document's
        vec = [-x if i % 17 == 0 else x for i, x in enumerate(vec)]
    if not unit:
        scale = 0.5 + (len(text) % 7) / 4
        vec = [x * scale for x in vec]
    return vec


class BedrockEmulator(LoopbackEmulator):
    """Loopback ``bedrock-runtime``; ``url`` is the client's ``endpoint_url``."""

    name = "bedrock"

    def __init__(self, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, region: str = REGION,
                 host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._replies: list[Any] = []

    def script(self, *replies: Any) -> None:
        """The next chat answers: a str (text), a dict (its JSON as text), or a dict with ``content``
        (a list of blocks) and optionally ``stopReason``, sent as they are."""
        with self._lock:
            self._replies.extend(replies)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests received; ``path`` may be an operation (``converse``, ``invoke``) or a full path."""
        if path in ("converse", "invoke"):
            with self._lock:
                return sum(1 for r in self.requests if r.path.endswith(f"/{path}"))
        return super().count(path, method)

    def error_body(self, status: int, message: str) -> Any:
        message = {429: "Too many requests, please wait before trying again.",
                   503: "Bedrock is unable to process your request.",
                   408: "Model has timed out in processing the request."}.get(status, message)
        return {"__type": ERROR_CODES.get(status, "InternalServerException"), "message": message}

    # ------------------------------------------------------------------ checked first
    def reject(self, rec: Recorded) -> Reply | None:
        parts = rec.path.split("/")
        if rec.method != "POST" or len(parts) != 4 or parts[1] != "model" or parts[3] not in ("converse", "invoke"):
            return error(404, f"Unknown operation {rec.method} {rec.path}", "UnknownOperationException")
        rec.extra["model"], rec.extra["operation"] = unquote(parts[2]), parts[3]
        auth = rec.headers.get("authorization")
        if not auth:
            return error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        m = _AUTH.match(auth)
        if m is None:
            return error(403, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters",
                         "IncompleteSignatureException")
        key, day, region, service, signed, signature = m.groups()
        if key != self.access_key:
            return error(403, "The security token included in the request is invalid.", "UnrecognizedClientException")
        date = rec.headers.get("x-amz-date", "")
        if region != self.region or service != "bedrock" or not date.startswith(day) or "host" not in signed.split(";"):
            return error(403, f"Credential should be scoped to a valid region ({self.region}) and service (bedrock).",
                         "InvalidSignatureException")
        if signature != self._signature(rec, key, signed.split(";"), date):
            return error(403, "The request signature we calculated does not match the signature you provided. Check "
                              "your AWS Secret Access Key and signing method.", "InvalidSignatureException")
        return None

    def _signature(self, rec: Recorded, key: str, signed: list[str], date: str) -> str:
        """The SigV4 signature of ``rec`` as botocore computes it, from what was received."""
        headers = {name: rec.headers.get(name, "") for name in signed}
        url = f"http://{rec.headers.get('host', '')}{rec.path}" + (f"?{rec.query}" if rec.query else "")
        request = AWSRequest(method=rec.method, url=url, data=rec.raw, headers=headers)
        request.context["timestamp"] = date
        signer = SigV4Auth(Credentials(key, self.secret_key, rec.headers.get("x-amz-security-token")), "bedrock",
                           self.region)
        canonical = signer.canonical_request(request)
        return str(signer.signature(signer.string_to_sign(request, canonical), request))

    # ------------------------------------------------------------------ the API
    def answer(self, rec: Recorded) -> Reply:
        model, operation = rec.extra["model"], rec.extra["operation"]
        try:
            if not isinstance(rec.body, dict):
                raise Invalid("Malformed input request, please reformat your input and try again.")
            if operation == "converse":
                if model in COHERE_MODELS or "embed" in model:
                    raise Invalid("This action doesn't support the model that you provided. Try again with a "
                                  "supported text or chat model.")
                if not CHAT_MODELS.match(model):
                    raise Invalid("The provided model identifier is invalid.")
                return self._converse(rec.body)
            if rec.headers.get("content-type", "").split(";")[0] != "application/json":
                raise Invalid("The provided Content-Type is not supported.")
            if model in (TITAN_V2, TITAN_V1):
                return self._titan(model, rec.body)
            if model in COHERE_MODELS:
                return self._cohere(model, rec.body)
            raise Invalid("The provided model identifier is invalid.")
        except Invalid as exc:
            return error(400, str(exc))

    # ------------------------------------------------------------------ embeddings
    @staticmethod
    def _titan(model: str, body: dict[str, Any]) -> Reply:
        allowed = {"inputText"} if model == TITAN_V1 else {"inputText", "dimensions", "normalize", "embeddingTypes"}
        extra = sorted(set(body) - allowed)
        if extra:
            raise Invalid(f"Malformed input request: #: extraneous key [{extra[0]}] is not permitted, please reformat "
                          "your input and try again.")
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            raise Invalid("Malformed input request: #/inputText: expected minLength: 1, actual: 0, please reformat "
                          "your input and try again.")
        if len(text) > 50_000:
            raise Invalid("Malformed input request: #/inputText: expected maxLength: 50000")
        dims = body.get("dimensions", 1024) if model == TITAN_V2 else 1536
        if dims not in (256, 512, 1024, 1536):
            raise Invalid("Malformed input request: #/dimensions: " + f"{dims} is not a valid enum value")
        normalize = body.get("normalize", True)
        if not isinstance(normalize, bool):
            raise Invalid("Malformed input request: #/normalize: expected type: Boolean")
        vec = emulator_vector(text, dims, unit=normalize)
        tokens = max(1, len(text.split()))
        return 200, {"embedding": vec, "embeddingsByType": {"float": vec}, "inputTextTokenCount": tokens}, {
            "X-Amzn-Bedrock-Input-Token-Count": str(tokens), "x-amzn-RequestId": str(uuid.uuid4())}

    @staticmethod
    def _cohere(model: str, body: dict[str, Any]) -> Reply:
        texts, input_type = body.get("texts"), body.get("input_type")
        if not isinstance(texts, list) or not 1 <= len(texts) <= 96:
            raise Invalid("Malformed input request: #/texts: expected between 1 and 96 items")
        if not all(isinstance(t, str) and t for t in texts):
            raise Invalid("Malformed input request: #/texts: each text must be a non-empty string")
        if input_type not in ("search_document", "search_query", "classification", "clustering"):
            raise Invalid(f"Malformed input request: #/input_type: {input_type} is not a valid enum value")
        if body.get("truncate", "NONE") not in ("NONE", "START", "END"):
            raise Invalid("Malformed input request: #/truncate: not a valid enum value")
        dims = COHERE_MODELS[model]
        if "output_dimension" in body:
            if model != "cohere.embed-v4:0" or body["output_dimension"] not in (256, 512, 1024, 1536):
                raise Invalid("Malformed input request: #: extraneous key [output_dimension] is not permitted")
            dims = body["output_dimension"]
        vectors = [emulator_vector(t, dims, query=input_type == "search_query", unit=False) for t in texts]
        types = body.get("embedding_types")
        out: Any = vectors if types is None else {"float": vectors}
        return 200, {"id": str(uuid.uuid4()), "texts": texts, "embeddings": out,
                     "response_type": "embeddings_floats" if types is None else "embeddings_by_type"}, {}

    # ------------------------------------------------------------------ converse
    def _converse(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Invalid("A conversation must start with a user message. Try again with a conversation that starts "
                          "with a user message.")
        tools = self._tools(body.get("toolConfig"))
        chat: list[dict[str, Any]] = []
        system = body.get("system") or []
        if not isinstance(system, list):
            raise Invalid("1 validation error detected: Value at 'system' failed to satisfy constraint: must be a list")
        text = " ".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
        if text:
            chat.append({"role": "system", "content": text})
        uses: set[str] = set()
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role not in ("user", "assistant"):
                raise Invalid(f"messages.{i}.role: must be user or assistant")
            if i == 0 and role != "user":
                raise Invalid("A conversation must start with a user message. Try again with a conversation that "
                              "starts with a user message.")
            if i > 0 and messages[i - 1].get("role") == role:
                raise Invalid("A conversation must alternate between user and assistant roles. Make sure the "
                              "conversation alternates between user and assistant roles and try again.")
            content = m.get("content")
            if not isinstance(content, list) or not content:
                raise Invalid(f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock "
                              "object to the content field and try again.")
            texts, image = [], False
            for j, block in enumerate(content):
                kind = self._check_block(block, f"messages.{i}.content.{j}", role, tools, uses)
                if kind == "text":
                    texts.append(str(block["text"]))
                image = image or kind == "image"
            joined = " ".join(texts)
            chat.append({"role": role, "content": [{"type": "text", "text": joined}] if image else joined})
        inference = body.get("inferenceConfig") or {}
        max_tokens = inference.get("maxTokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise Invalid("The maximum tokens you requested must be at least 1.")
        for name in ("temperature", "topP"):
            value = inference.get(name)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise Invalid(f"inferenceConfig.{name}: must be between 0 and 1")
        json_text = self._output_config(body.get("outputConfig"))
        choice = (body.get("toolConfig") or {}).get("toolChoice") or {"auto": {}}

        with self._lock:
            scripted = self._replies.pop(0) if self._replies else None
        stop = "end_turn"
        if isinstance(scripted, dict) and "content" in scripted:
            blocks, stop = scripted["content"], scripted.get("stopReason", stop)
        else:
            reply = scripted if scripted is not None else rule_based_reply(chat)
            blocks = self._reply_blocks(reply, chat, tools, choice, json_text)
            if any("toolUse" in b for b in blocks):
                stop = "tool_use"
        prompt = sum(len(str(m["content"]).split()) for m in chat) or 1
        out_tokens = sum(len(json.dumps(b).split()) for b in blocks)
        return 200, {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": stop,
            "usage": {"inputTokens": prompt, "outputTokens": out_tokens, "totalTokens": prompt + out_tokens},
            "metrics": {"latencyMs": 1},
        }, {"x-amzn-RequestId": str(uuid.uuid4())}

    @staticmethod
    def _tools(config: Any) -> dict[str, dict[str, Any]]:
        if config is None:
            return {}
        tools = config.get("tools") if isinstance(config, dict) else None
        if not isinstance(tools, list) or not tools:
            raise Invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
        declared: dict[str, dict[str, Any]] = {}
        for k, tool in enumerate(tools):
            spec = tool.get("toolSpec") if isinstance(tool, dict) else None
            if not isinstance(spec, dict) or not TOOL_NAME.match(str(spec.get("name", ""))):
                raise Invalid(f"toolConfig.tools.{k}.toolSpec.name: must match [a-zA-Z0-9_-]{{1,64}}")
            schema = (spec.get("inputSchema") or {}).get("json")
            if not isinstance(schema, dict):
                raise Invalid(f"toolConfig.tools.{k}.toolSpec.inputSchema.json: a JSON object is required")
            if spec["name"] in declared:
                raise Invalid(f"The toolConfig contains duplicate tool name {spec['name']}.")
            declared[spec["name"]] = spec
        choice = config.get("toolChoice")
        if choice is not None:
            if not isinstance(choice, dict) or len(choice) != 1 or next(iter(choice)) not in ("auto", "any", "tool"):
                raise Invalid("toolConfig.toolChoice: exactly one of auto, any, tool")
            if "tool" in choice and (choice["tool"] or {}).get("name") not in declared:
                raise Invalid("toolConfig.toolChoice.tool.name: not one of the tools")
        return declared

    @staticmethod
    def _output_config(config: Any) -> bool:
        if config is None:
            return False
        fmt = (config or {}).get("textFormat") if isinstance(config, dict) else None
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            raise Invalid("outputConfig.textFormat.type: must be json_schema")
        schema = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        try:
            parsed = json.loads(schema) if isinstance(schema, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise Invalid("outputConfig.textFormat.structure.jsonSchema.schema: must be a JSON schema string")
        return True

    @staticmethod
    def _check_block(block: Any, where: str, role: str, tools: dict[str, Any], uses: set[str]) -> str:
        kinds = [k for k in ("text", "image", "document", "toolUse", "toolResult", "reasoningContent")
                 if isinstance(block, dict) and k in block]
        if len(kinds) != 1:
            raise Invalid(f"The ContentBlock object at {where} must set exactly one of its members.")
        kind = kinds[0]
        value = block[kind]
        if kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise Invalid(f"The text field in the ContentBlock object at {where} is blank. Add text to the text "
                              "field, and try again.")
        elif kind == "image":
            if role != "user":
                raise Invalid(f"{where}: images are accepted in user messages only")
            fmt = value.get("format")
            source = value.get("source") or {}
            if fmt not in _MAGIC:
                raise Invalid(f"{where}.image.format: must be one of png, jpeg, gif, webp")
            if "bytes" in source:
                try:
                    raw = base64.b64decode(source["bytes"], validate=True)
                except (binascii.Error, ValueError, TypeError) as exc:
                    raise Invalid(f"{where}.image.source.bytes: invalid base64") from exc
                if not raw.startswith(_MAGIC[fmt]):
                    raise Invalid(f"{where}: Could not process image: the bytes are not a {fmt} image")
            elif not str((source.get("s3Location") or {}).get("uri", "")).startswith("s3://"):
                raise Invalid(f"{where}.image.source: bytes or s3Location is required")
        elif kind == "toolUse":
            if role != "assistant" or not tools:
                raise Invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
            uses.add(str(value.get("toolUseId")))
        elif kind == "toolResult":
            if role != "user" or not tools:
                raise Invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
            if str(value.get("toolUseId")) not in uses:
                raise Invalid(f"{where}: the toolResult blocks' toolUseId must match a toolUse of the previous turn")
        return kind

    @staticmethod
    def _reply_blocks(reply: Any, chat: list[dict[str, Any]], tools: dict[str, dict[str, Any]],
                      choice: dict[str, Any], json_text: bool) -> list[dict[str, Any]]:
        text = json.dumps(reply) if isinstance(reply, dict) else str(reply)
        if tools:
            last_user = next((m for m in reversed(chat) if m["role"] == "user"), None)
            said = str(last_user["content"]) if last_user else ""
            named = next((n for n in tools if n in said), None)
            if "tool" in choice:
                named = choice["tool"]["name"]
            elif "any" in choice and named is None:
                named = next(iter(tools))
            elif "auto" in choice and named is None:
                named = None
            if named is not None:
                schema = (tools[named].get("inputSchema") or {}).get("json") or {}
                if schema.get("required"):
                    args: Any = placeholder_args(schema)
                else:
                    try:
                        args = json.loads(text)
                    except ValueError:
                        args = {"response": text}
                    if not isinstance(args, dict):
                        args = {"response": args}
                return [{"toolUse": {"toolUseId": f"tooluse_{uuid.uuid4().hex[:20]}", "name": named, "input": args}}]
        if json_text:  # structured output: always a JSON object
            try:
                ok = isinstance(json.loads(text), dict)
            except ValueError:
                ok = False
            if not ok:
                text = json.dumps({"response": text})
        return [{"text": text}]


@pytest.fixture
def bedrock_server() -> Iterator[BedrockEmulator]:
    """A loopback bedrock-runtime emulator (access key ``ACCESS_KEY``, region ``us-east-1``), for this test."""
    with BedrockEmulator() as server:
        yield server


@pytest.fixture
def aws(bedrock_server: BedrockEmulator) -> dict[str, Any]:
    """A provider config pointed at ``bedrock_server`` with the emulator's credentials and no backoff."""
    return {"region": REGION, "endpoint_url": bedrock_server.url, "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY, "retry_backoff": 0.0}
