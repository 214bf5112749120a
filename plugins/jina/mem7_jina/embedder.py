"""Jina AI embeddings (``jina-embeddings-v3``, ``jina-embeddings-v4``, ...) over the documented
``POST /v1/embeddings``.

The purpose of a call picks the API's ``task`` (a LoRA adapter of v3/v4): texts stored (``add``,
``update``) are embedded as ``retrieval.passage``, search queries as ``retrieval.query``.
``dimensions`` is the configured ``embedding_dims`` (Matryoshka truncation), ``normalized`` asks the
service for unit vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from mem7_core.providers import Embedder
from mem7_core.providers.embedder import EmbedPurpose, checked_vectors, embed_in_batches
from mem7_core.providers.usage import report_embedding_tokens

from ._common import PROVIDER, JinaConnection, JinaProvider

Task = Literal["retrieval.query", "retrieval.passage", "text-matching", "classification", "separation", "code.query",
               "code.passage"]


class JinaEmbedderConfig(JinaConnection):
    """``embedder.config`` of the ``jina`` provider. Unknown fields are errors."""

    model: str = Field("jina-embeddings-v3",
                       description="Embedding model, e.g. jina-embeddings-v3, jina-embeddings-v4.")
    embedding_dims: int = Field(1024, gt=0, le=4096, description="Vector length (sent as dimensions).")
    send_dimensions: bool = Field(True, description="Send dimensions (false for models of one fixed size).")
    document_task: Task | None = Field("retrieval.passage",
                                       description="task of texts stored (add, update); None: not sent.")
    query_task: Task | None = Field("retrieval.query", description="task of search queries; None: not sent.")
    truncate: bool = Field(
        True, description="Let the service truncate texts over the model's context (false: it rejects them).")
    batch_size: int = Field(128, gt=0, le=2048, description="Texts per request (the API takes at most 2048).")
    max_concurrency: int = Field(4, gt=0, le=64, description="Requests in flight for one split batch.")


class JinaEmbedder(JinaProvider, Embedder):
    """Embeddings over Jina's HTTP API."""

    kind = "embedder"
    name = "jina"
    Config = JinaEmbedderConfig
    config: JinaEmbedderConfig

    def __init__(self, config: JinaEmbedderConfig | None = None) -> None:
        super().__init__(config)
        self.model = self.config.model
        self._connect(self.config)

    @property
    def dims(self) -> int:
        return self.config.embedding_dims

    def task(self, purpose: EmbedPurpose) -> str | None:
        cfg = self.config
        return cfg.query_task if purpose == "search" else cfg.document_task

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        self._check_open("embed")
        batch = [t if t else " " for t in texts]  # never an empty string in a request
        task = self.task(purpose)
        return await embed_in_batches(batch, lambda chunk: self._embed_batch(chunk, task),
                                      batch_size=self.config.batch_size, max_concurrency=self.config.max_concurrency)

    async def _embed_batch(self, batch: list[str], task: str | None) -> list[list[float]]:
        cfg = self.config
        body: dict[str, Any] = {"model": self.model, "input": batch, "embedding_type": "float", "normalized": True,
                                "truncate": cfg.truncate}
        if task is not None:
            body["task"] = task
        if cfg.send_dimensions:
            body["dimensions"] = self.dims
        answer = await self._post("/embeddings", body)
        used = answer.get("usage")
        if isinstance(used, dict):
            report_embedding_tokens(used.get("prompt_tokens", used.get("total_tokens")))
        data = answer.get("data")
        if not isinstance(data, list) or len(data) != len(batch):
            count = len(data) if isinstance(data, list) else "no"
            raise self._malformed(f"{count} embeddings for {len(batch)} texts")
        rows: dict[int, Any] = {}
        for position, item in enumerate(data):
            index = item.get("index", position) if isinstance(item, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(batch) or index in rows:
                raise self._malformed(f"embedding index {index!r} is not a new index into the {len(batch)} texts")
            rows[index] = item.get("embedding")
        try:
            return checked_vectors([rows[i] for i in range(len(batch))], dims=self.dims, provider=PROVIDER,
                                   model=self.model)
        except ValueError as exc:
            raise self._malformed(str(exc)) from None

    def __repr__(self) -> str:
        return f"<JinaEmbedder model={self.model!r} dims={self.dims} base_url={self.base_url!r}>"
