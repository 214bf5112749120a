"""Embeddings on Amazon Bedrock through ``InvokeModel`` (``POST /model/{modelId}/invoke``), with boto3.

Two request formats, picked from the model id (``request_format: auto``) or set:

- ``titan``: Amazon Titan Text Embeddings v2 (``amazon.titan-embed-text-v2:0``): one text per call,
  ``{"inputText", "dimensions": 256 | 512 | 1024, "normalize": true}`` -> ``{"embedding": [...]}``. A
  batch is sent as concurrent calls (at most ``max_concurrency`` at once). Titan v1
  (``amazon.titan-embed-text-v1``, 1536 dims) takes ``inputText`` alone.
- ``cohere``: Cohere Embed on Bedrock (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``,
  ``cohere.embed-v4:0``): up to 96 texts per call, ``{"texts", "input_type": "search_document" |
  "search_query", "truncate", "embedding_types": ["float"]}`` -> ``{"embeddings": {"float": [...]}}``;
  texts stored are ``search_document``, search queries ``search_query``.

Empty texts are sent as one space (both APIs reject an empty string). Vectors are L2-normalised
here when ``normalize`` is on (Titan normalises itself when asked; a Cohere vector is made unit).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from mem7_core.errors import ProviderError
from mem7_core.providers import Embedder
from mem7_core.providers.embedder import EmbedPurpose
from mem7_core.providers.usage import report_embedding_tokens

from ._common import PROVIDER, BedrockConnection, BedrockProvider

TITAN_V2_DIMS = (256, 512, 1024)
COHERE_BATCH = 96
"""Texts per Cohere Embed request (the API's limit)."""


def _titan_v1(model: str) -> bool:
    return "titan-embed-text-v1" in model or "titan-embed-g1-text" in model


def request_format_of(model: str) -> Literal["titan", "cohere"] | None:
    """The request format a model id implies (an inference profile's region prefix is ignored)."""
    if "cohere.embed" in model:
        return "cohere"
    if "titan-embed-text" in model or "titan-embed-g1-text" in model:
        return "titan"
    return None


class BedrockEmbedderConfig(BedrockConnection):
    """``embedder.config`` of the ``bedrock`` provider. Unknown fields are errors."""

    model: str = Field("amazon.titan-embed-text-v2:0", description="Embedding model id (Titan Text Embeddings or "
                                                                   "Cohere Embed), or an ARN with request_format set.")
    embedding_dims: int = Field(
        1024, gt=0, le=4096,
        description="Vector length: Titan v2 256, 512 or 1024 (sent as dimensions); Titan v1 1536; Cohere v3 1024; "
        "Cohere v4 256-1536 (sent as output_dimension).",
    )
    request_format: Literal["auto", "titan", "cohere"] = Field(
        "auto", description="The model's request body: auto (from the model id), titan or cohere.")
    normalize: bool = Field(True, description="L2-normalised vectors (Titan's normalize flag; done here for Cohere).")
    truncate: Literal["NONE", "START", "END"] = Field(
        "END", description="Cohere: how a text over the model's limit is cut (NONE: an error).")
    max_concurrency: int = Field(8, gt=0, le=64, description="Requests in flight for one batch (Titan: one per text).")

    @model_validator(mode="after")
    def _check_model(self) -> BedrockEmbedderConfig:
        fmt = self.request_format if self.request_format != "auto" else request_format_of(self.model)
        if fmt is None:
            raise ValueError(f"model {self.model!r} is neither a Titan Text Embeddings nor a Cohere Embed model id: "
                             "set request_format to titan or cohere")
        if fmt == "titan" and not _titan_v1(self.model) and self.embedding_dims not in TITAN_V2_DIMS:
            raise ValueError(f"embedding_dims {self.embedding_dims} is not one Titan Text Embeddings v2 makes: "
                             "use 256, 512 or 1024")
        return self


def _unit(vec: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm > 0 else vec


class BedrockEmbedder(BedrockProvider, Embedder):
    """Embeddings through ``bedrock-runtime`` ``invoke_model``."""

    kind = "embedder"
    name = "bedrock"
    aliases: ClassVar[tuple[str, ...]] = ("aws_bedrock",)  # mem0's name
    Config = BedrockEmbedderConfig
    config: BedrockEmbedderConfig

    def __init__(self, config: BedrockEmbedderConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.model = cfg.model
        fmt = cfg.request_format if cfg.request_format != "auto" else request_format_of(cfg.model)
        self.request_format: Literal["titan", "cohere"] = "cohere" if fmt == "cohere" else "titan"
        self._v1 = self.request_format == "titan" and _titan_v1(cfg.model)
        self._connect(cfg)

    @property
    def dims(self) -> int:
        return self.config.embedding_dims

    def body(self, texts: Sequence[str], purpose: EmbedPurpose) -> dict[str, Any]:
        """The JSON body of one ``invoke_model`` call (one text for Titan)."""
        cfg = self.config
        if self.request_format == "titan":
            if self._v1:
                return {"inputText": texts[0]}
            return {"inputText": texts[0], "dimensions": cfg.embedding_dims, "normalize": cfg.normalize}
        body: dict[str, Any] = {
            "texts": list(texts),
            "input_type": "search_query" if purpose == "search" else "search_document",
            "truncate": cfg.truncate,
            "embedding_types": ["float"],
        }
        if "embed-v4" in self.model:
            body["output_dimension"] = cfg.embedding_dims
        return body

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        self._check_open("embed")
        batch = [t if t.strip() else " " for t in texts]  # an empty text is rejected by both APIs
        if not batch:
            return []
        size = 1 if self.request_format == "titan" else COHERE_BATCH
        chunks = [batch[i:i + size] for i in range(0, len(batch), size)]
        if len(chunks) == 1:
            return await self._invoke(chunks[0], purpose)
        gate = asyncio.Semaphore(self.config.max_concurrency)

        async def one(chunk: list[str]) -> list[list[float]]:
            async with gate:
                return await self._invoke(chunk, purpose)

        results = await asyncio.gather(*(one(c) for c in chunks))
        return [vec for part in results for vec in part]

    async def _invoke(self, chunk: list[str], purpose: EmbedPurpose) -> list[list[float]]:
        payload = json.dumps(self.body(chunk, purpose)).encode()
        response = await self._call("invoke_model", modelId=self.model, body=payload,
                                    contentType="application/json", accept="application/json")
        stream = response.get("body")
        try:
            data = json.loads(stream.read() if stream is not None else b"")
        except ValueError as exc:
            raise self._malformed(f"the body is not JSON ({exc})") from exc
        rows = self._vectors(data)
        report_embedding_tokens(data.get("inputTextTokenCount"))  # Titan's; Cohere's body has none
        if len(rows) != len(chunk):
            raise self._malformed(f"{len(rows)} embeddings for {len(chunk)} texts")
        out: list[list[float]] = []
        for row in rows:
            if not isinstance(row, list) or not all(isinstance(x, (int, float)) for x in row):
                raise self._malformed("an embedding is not a list of numbers")
            vec = [float(x) for x in row]
            if len(vec) != self.dims:
                raise ProviderError(
                    PROVIDER,
                    f"embedder: model {self.model!r} returned {len(vec)}-dimensional vectors but embedding_dims is "
                    f"{self.dims}: set embedder.config.embedding_dims to {len(vec)}",
                )
            out.append(_unit(vec) if self.config.normalize else vec)
        return out

    def _vectors(self, data: Any) -> list[Any]:
        if not isinstance(data, dict):
            raise self._malformed(f"the body is a JSON {type(data).__name__}, not an object")
        if self.request_format == "titan":
            vec = data.get("embedding")
            if vec is None:
                vec = (data.get("embeddingsByType") or {}).get("float")
            if not isinstance(vec, list):
                raise self._malformed("no embedding in the answer")
            return [vec]
        found = data.get("embeddings")
        if isinstance(found, dict):  # embedding_types given: {"float": [[...]]}
            found = found.get("float")
        if not isinstance(found, list):
            raise self._malformed("no embeddings list in the answer")
        return found

    def __repr__(self) -> str:
        return f"<BedrockEmbedder model={self.model!r} endpoint={self.endpoint!r}>"
