"""The ``huggingface`` embedder: a Text Embeddings Inference server, or a local sentence-transformers
model directory.

- ``base_url``: a Text Embeddings Inference (TEI) server's ``POST /embed`` through the official
  ``huggingface_hub.AsyncInferenceClient`` (``feature_extraction``): ``{"inputs": [...],
  "normalize", "truncate", "prompt_name"}`` -> ``[[...], ...]``. Batches over ``batch_size`` are
  split and sent concurrently (at most ``max_concurrency``).
- ``model_path``: a ``SentenceTransformer`` loaded from that directory (``local.py``), when torch
  and sentence-transformers are installed; ``encode`` runs in this provider's worker thread.

Set exactly one. ``query_prompt_name`` / ``document_prompt_name`` pick the model's prompts (e.g.
``query`` for E5 or BGE style models) for search queries and stored texts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers import Embedder
from mem7_core.providers.blocking import BlockingRunner
from mem7_core.providers.embedder import EmbedPurpose

from . import local
from ._tei import PROVIDER, TEIConnection, TEIProvider


class HuggingFaceEmbedderConfig(TEIConnection):
    """``embedder.config`` of the ``huggingface`` provider: ``base_url`` (TEI) or ``model_path`` (local).
    Unknown fields are errors."""

    model_path: str | None = Field(
        None, description="A local sentence-transformers model directory (needs torch and sentence-transformers); "
        "never downloaded.")
    model: str | None = Field(
        None, description="The model's name, recorded by the vector store with its vectors (default: the "
        "directory's name for model_path; none for a TEI server: set it to the server's --model-id).")
    embedding_dims: int | None = Field(
        None, gt=0, description="Vector length: required with base_url; with model_path, checked against the model.")
    normalize: bool = Field(True, description="L2-normalised vectors.")
    truncate: bool = Field(True, description="TEI: cut texts over the model's length instead of refusing them "
                                             "(the local model always cuts).")
    query_prompt_name: str | None = Field(None, description="The model's prompt for search queries (e.g. query).")
    document_prompt_name: str | None = Field(None, description="The model's prompt for stored texts (e.g. passage).")
    device: str | None = Field(None, description="Local model: torch device (cpu, cuda, mps); default: "
                                                 "sentence-transformers' choice.")

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        """mem0's ``huggingface_base_url`` is our ``base_url``."""
        if isinstance(data, dict) and "huggingface_base_url" in data:
            data = dict(data)
            url = data.pop("huggingface_base_url")
            data.setdefault("base_url", url)
        return data

    @model_validator(mode="after")
    def _one_backend(self) -> HuggingFaceEmbedderConfig:
        if (self.base_url is None) == (self.model_path is None):
            raise ValueError("set exactly one of base_url (a Text Embeddings Inference server) and model_path (a "
                             "local sentence-transformers model directory)")
        if self.base_url is not None and self.embedding_dims is None:
            raise ValueError("embedding_dims is required with base_url (the server does not say it): set it to the "
                             "model's vector length, e.g. 384 for all-MiniLM-L6-v2, 1024 for bge-large")
        return self


class HuggingFaceEmbedder(TEIProvider, Embedder):
    """Embeddings from a Text Embeddings Inference server or a local sentence-transformers model."""

    kind = "embedder"
    name = "huggingface"
    Config = HuggingFaceEmbedderConfig
    config: HuggingFaceEmbedderConfig

    def __init__(self, config: HuggingFaceEmbedderConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self._closed = False
        self._model_name: str | None = None
        self._client: Any = None
        self._model: Any = None
        if cfg.model_path is not None:
            folder = local.model_dir(cfg.model_path, "embedder.config.model_path")
            self.base_url = str(folder)
            self._model = local.load(folder, device=cfg.device, field="embedder.config.model_path")
            dims = local.dimension(self._model)
            if cfg.embedding_dims is not None and cfg.embedding_dims != dims:
                raise ConfigError(f"huggingface embedder: the model in {folder} makes {dims}-dimensional vectors "
                                  f"but embedder.config.embedding_dims is {cfg.embedding_dims}: set it to {dims} or "
                                  "drop it")
            self._dims = dims
            self._runner = BlockingRunner("mem7-huggingface")
            self._model_name = cfg.model or folder.name
        else:
            from huggingface_hub import AsyncInferenceClient  # here: discovering the plugin stays cheap

            self.base_url = str(cfg.base_url).rstrip("/")
            self._dims = int(cfg.embedding_dims or 0)
            token = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
            self._client = AsyncInferenceClient(model=f"{self.base_url}/embed", token=token, timeout=cfg.timeout)
            self._retry = self._policy(cfg)
            self._model_name = cfg.model

    @property
    def dims(self) -> int:
        return self._dims

    @property
    def model_name(self) -> str | None:
        return self._model_name

    def prompt_name(self, purpose: EmbedPurpose) -> str | None:
        cfg = self.config
        return cfg.query_prompt_name if purpose == "search" else cfg.document_prompt_name

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        if self._closed:
            raise ProviderError(PROVIDER, "embedder: embed() called after aclose()")
        batch = [t if t else " " for t in texts]  # TEI refuses an empty input
        if not batch:
            return []
        cfg = self.config
        prompt = self.prompt_name(purpose)
        if self._model is not None:
            try:
                rows = await self._runner.run(local.encode, self._model, batch, prompt_name=prompt,
                                              normalize=cfg.normalize, batch_size=cfg.batch_size)
            except (ValueError, RuntimeError) as exc:  # an unknown prompt name, an out-of-memory device
                raise ProviderError(PROVIDER, f"embedder: the local model failed: {exc}") from exc
            return self._checked(rows, len(batch))
        size = cfg.batch_size
        if len(batch) <= size:
            return await self._embed_batch(batch, prompt)
        gate = asyncio.Semaphore(cfg.max_concurrency)

        async def one(chunk: list[str]) -> list[list[float]]:
            async with gate:
                return await self._embed_batch(chunk, prompt)

        results = await asyncio.gather(*(one(batch[i:i + size]) for i in range(0, len(batch), size)))
        return [vec for part in results for vec in part]

    async def _embed_batch(self, batch: list[str], prompt: str | None) -> list[list[float]]:
        cfg, client = self.config, self._client

        async def call() -> Any:
            return await client.feature_extraction(batch, normalize=cfg.normalize, truncate=cfg.truncate,
                                                   prompt_name=prompt)

        array = await self._retried(self._retry, call)
        rows = array.tolist() if hasattr(array, "tolist") else array
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise self._malformed("the answer is not a list of vectors")
        return self._checked([[float(x) for x in row] for row in rows], len(batch))

    def _checked(self, rows: list[list[float]], count: int) -> list[list[float]]:
        if len(rows) != count:
            raise self._malformed(f"{len(rows)} embeddings for {count} texts")
        for row in rows:
            if len(row) != self._dims:
                raise ProviderError(PROVIDER, f"embedder: {self.base_url} returned {len(row)}-dimensional vectors but "
                                              f"embedding_dims is {self._dims}: set embedder.config.embedding_dims to "
                                              f"{len(row)}")
        return rows

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            await self._client.close()
        if self._model is not None:
            await self._runner.aclose()
            self._model = None

    def __repr__(self) -> str:
        where = "model_path" if self.config.model_path is not None else "base_url"
        return f"<HuggingFaceEmbedder {where}={self.base_url!r}>"

