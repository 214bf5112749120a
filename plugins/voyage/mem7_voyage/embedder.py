"""Voyage AI embeddings (``voyage-3.5``, ``voyage-3-large``, ...) through
``voyageai.AsyncClient.embed`` (``POST /v1/embeddings``).

The purpose of a call picks the API's ``input_type``: texts stored (``add``, ``update``) are
embedded as ``document``, search queries as ``query`` (Voyage prepends its retrieval prompt).
``output_dimension`` is the configured ``embedding_dims``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from mem7_core.providers import Embedder
from mem7_core.providers.embedder import EmbedPurpose, checked_vectors, embed_in_batches
from mem7_core.providers.usage import report_embedding_tokens

from ._common import PROVIDER, VoyageConnection, VoyageProvider

InputType = Literal["query", "document"]


class VoyageEmbedderConfig(VoyageConnection):
    """``embedder.config`` of the ``voyage`` provider. Unknown fields are errors."""

    model: str = Field("voyage-3.5", description="Embedding model, e.g. voyage-3.5, voyage-3-large, voyage-code-3.")
    embedding_dims: int = Field(1024, gt=0, le=4096, description="Vector length (sent as output_dimension).")
    send_dimensions: bool = Field(
        True, description="Send output_dimension (false for models with one fixed size, e.g. voyage-3.5-lite's 1024).")
    document_input_type: InputType | None = Field(
        "document", description="input_type of texts stored (add, update); None: not sent.")
    query_input_type: InputType | None = Field("query", description="input_type of search queries; None: not sent.")
    normalize: bool = Field(True, description="L2-normalise the vectors (Voyage's already are; cheap insurance).")
    batch_size: int = Field(128, gt=0, le=1000, description="Texts per request (the API takes at most 1000).")
    max_concurrency: int = Field(4, gt=0, le=64, description="Requests in flight for one split batch.")


class VoyageEmbedder(VoyageProvider, Embedder):
    """Embeddings through the official ``voyageai`` client's async API."""

    kind = "embedder"
    name = "voyage"
    Config = VoyageEmbedderConfig
    config: VoyageEmbedderConfig

    def __init__(self, config: VoyageEmbedderConfig | None = None) -> None:
        super().__init__(config)
        self.model = self.config.model
        self._connect(self.config)

    @property
    def dims(self) -> int:
        return self.config.embedding_dims

    def input_type(self, purpose: EmbedPurpose) -> str | None:
        cfg = self.config
        return cfg.query_input_type if purpose == "search" else cfg.document_input_type

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        self._check_open("embed")
        batch = [t if t else " " for t in texts]  # never an empty string in a request
        input_type = self.input_type(purpose)
        return await embed_in_batches(batch, lambda chunk: self._embed_batch(chunk, input_type),
                                      batch_size=self.config.batch_size, max_concurrency=self.config.max_concurrency)

    async def _embed_batch(self, batch: list[str], input_type: str | None) -> list[list[float]]:
        client, cfg = self._client, self.config
        dimension = self.dims if cfg.send_dimensions else None

        async def call() -> Any:
            return await client.embed(batch, model=self.model, input_type=input_type, truncation=cfg.truncation,
                                      output_dimension=dimension)

        response = await self._call(call)
        report_embedding_tokens(getattr(response, "total_tokens", None))
        embeddings = getattr(response, "embeddings", None)
        if not isinstance(embeddings, list) or len(embeddings) != len(batch):
            count = len(embeddings) if isinstance(embeddings, list) else "no"
            raise self._malformed(f"{count} embeddings for {len(batch)} texts")
        try:
            return checked_vectors(embeddings, dims=self.dims, provider=PROVIDER, model=self.model,
                                   normalize=cfg.normalize)
        except ValueError as exc:
            raise self._malformed(str(exc)) from None

    def __repr__(self) -> str:
        return f"<VoyageEmbedder model={self.model!r} dims={self.dims} base_url={self.base_url!r}>"
