"""Gemini embeddings: ``client.aio.models.embed_content`` (``POST /{version}/models/{model}:batchEmbedContents``).

The purpose of a call picks the API's task type: texts stored (``add``, ``update``) are embedded
as ``RETRIEVAL_DOCUMENT``, search queries as ``RETRIEVAL_QUERY`` (Gemini's asymmetric retrieval).
``output_dimensionality`` is the configured ``embedding_dims``; vectors shorter than the model's
full size are not normalised by the service, so they are L2-normalised here (``normalize``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from mem7_core.errors import ProviderError
from mem7_core.providers import Embedder
from mem7_core.providers.embedder import EmbedPurpose

from ._common import PROVIDER, GeminiConnection, GeminiProvider

if TYPE_CHECKING:
    from google.genai import types

TaskType = Literal[
    "RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY", "SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING",
    "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY",
]


class GeminiEmbedderConfig(GeminiConnection):
    """``embedder.config`` of the ``gemini`` provider. Unknown fields are errors."""

    model: str = Field("gemini-embedding-001", description="Embedding model, e.g. gemini-embedding-001.")
    embedding_dims: int = Field(768, gt=0, le=3072, description="Vector length (sent as output_dimensionality).")
    send_dimensions: bool = Field(True, description="Send output_dimensionality (false for models without it).")
    document_task_type: TaskType | None = Field(
        "RETRIEVAL_DOCUMENT", description="Task type of texts stored (add, update); None: not sent.")
    query_task_type: TaskType | None = Field(
        "RETRIEVAL_QUERY", description="Task type of search queries; None: not sent.")
    normalize: bool = Field(True, description="L2-normalise the vectors (the service does only at full size).")
    batch_size: int = Field(100, gt=0, le=100, description="Texts per request (the API takes at most 100).")
    max_concurrency: int = Field(4, gt=0, le=64, description="Requests in flight for one split batch.")


def _unit(vec: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm > 0 else vec


class GeminiEmbedder(GeminiProvider, Embedder):
    """Embeddings through the official ``google-genai`` client's async API."""

    kind = "embedder"
    name = "gemini"
    Config = GeminiEmbedderConfig
    config: GeminiEmbedderConfig

    def __init__(self, config: GeminiEmbedderConfig | None = None) -> None:
        super().__init__(config)
        self.model = self.config.model
        self._connect(self.config)

    @property
    def dims(self) -> int:
        return self.config.embedding_dims

    def task_type(self, purpose: EmbedPurpose) -> str | None:
        cfg = self.config
        return cfg.query_task_type if purpose == "search" else cfg.document_task_type

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        self._check_open("embed")
        batch = [t if t else " " for t in texts]  # the API rejects empty texts; a blank one embeds like a space
        if not batch:
            return []
        from google.genai import types

        config = types.EmbedContentConfig(
            task_type=self.task_type(purpose),
            output_dimensionality=self.dims if self.config.send_dimensions else None,
        )
        size = self.config.batch_size
        if len(batch) <= size:
            return await self._embed_batch(batch, config)
        gate = asyncio.Semaphore(self.config.max_concurrency)

        async def one(chunk: list[str]) -> list[list[float]]:
            async with gate:
                return await self._embed_batch(chunk, config)

        results = await asyncio.gather(*(one(batch[i:i + size]) for i in range(0, len(batch), size)))
        return [vec for part in results for vec in part]

    async def _embed_batch(self, batch: list[str], config: types.EmbedContentConfig) -> list[list[float]]:
        models = self._client.aio.models
        model = self.model
        contents: Any = batch

        async def call() -> types.EmbedContentResponse:
            return await models.embed_content(model=model, contents=contents, config=config)

        response = await self._call(call)
        embeddings = response.embeddings or []
        if len(embeddings) != len(batch):
            raise self._malformed(f"{len(embeddings)} embeddings for {len(batch)} texts")
        out: list[list[float]] = []
        for emb in embeddings:
            values = [float(x) for x in (emb.values or [])]
            if len(values) != self.dims:
                raise ProviderError(
                    PROVIDER,
                    f"embedder: model {self.model!r} returned {len(values)}-dimensional vectors but embedding_dims "
                    f"is {self.dims}; set embedder.config.embedding_dims to {len(values)}",
                )
            if not all(math.isfinite(x) for x in values):
                raise self._malformed("a vector has NaN or inf")
            out.append(_unit(values) if self.config.normalize else values)
        return out

    def __repr__(self) -> str:
        return f"<GeminiEmbedder model={self.model!r} dims={self.dims} base_url={self.base_url!r}>"
