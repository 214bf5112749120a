"""The OpenAI embedder (also Azure OpenAI and OpenAI-compatible servers, through aliases)."""

from __future__ import annotations

import asyncio
import base64
import sys
from array import array
from collections.abc import Sequence
from typing import Any, ClassVar

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers import Embedder, EmbedPurpose
from mem7_core.providers.usage import report_embedding_tokens

from ._common import EMBEDDER_ALIASES, PROVIDER, Alias, resolve_alias
from ._provider import OpenAIProvider
from .config import OpenAIEmbedderConfig


def _vector(embedding: Any) -> list[float]:
    """One embedding from the JSON answer: base64 of little-endian float32, or a list of numbers
    (servers that ignore ``encoding_format``)."""
    if isinstance(embedding, str):
        raw = base64.b64decode(embedding)
        if len(raw) % 4:
            raise ValueError("base64 embedding is not a whole number of float32 values")
        values = array("f")
        values.frombytes(raw)
        if sys.byteorder != "little":  # the wire format is little-endian
            values.byteswap()
        return values.tolist()
    if not isinstance(embedding, list):
        raise TypeError(f"embedding is a {type(embedding).__name__}, not a list or base64 string")
    return [float(x) for x in embedding]


def supports_dimensions(model: str) -> bool:
    """Models that accept the ``dimensions`` parameter (OpenAI's text-embedding-3 family)."""
    return "text-embedding-3" in model


class OpenAIEmbedder(OpenAIProvider, Embedder):
    """Embeddings through the official ``openai`` client: one client per instance, batches split
    into ``batch_size`` requests sent concurrently (at most ``max_concurrency`` in flight)."""

    kind = "embedder"  # as the base's: restated so the mixin's ClassVar[ProviderKind] and this agree for mypy
    name = "openai"
    aliases: ClassVar[tuple[str, ...]] = EMBEDDER_ALIASES
    Config = OpenAIEmbedderConfig
    config: OpenAIEmbedderConfig

    def __init__(self, config: OpenAIEmbedderConfig | None = None, *, alias: str | Alias = "openai") -> None:
        super().__init__(config)
        cfg = self.config
        self.alias = alias if isinstance(alias, Alias) else resolve_alias(alias)
        if not self.alias.embeddings:
            raise ConfigError(f"{self.alias.name} has no embeddings API: choose another embedder provider")
        explicit = cfg.model_fields_set
        if "model" not in explicit and self.alias.embed_model is None:
            raise ConfigError(
                f"{self.alias.name} embedder: no model. Set embedder.config.model (and embedding_dims) "
                f"to the embedding model the server serves"
            )
        self.model = cfg.model if "model" in explicit else (self.alias.embed_model or cfg.model)
        dims_explicit = "embedding_dims" in explicit
        self._dims = cfg.embedding_dims if dims_explicit else (self.alias.embed_dims or cfg.embedding_dims)
        if cfg.send_dimensions is not None:
            self.send_dimensions = cfg.send_dimensions
        else:
            self.send_dimensions = dims_explicit or supports_dimensions(self.model)
        self._connect(azure_deployment=cfg.azure_deployment)

    @property
    def dims(self) -> int:
        return self._dims

    @property
    def model_name(self) -> str:
        return self.model  # an alias's default model when the config names none

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        self._check_open("embed")
        # The API rejects empty strings; a blank text embeds like a space.
        batch = [t if t else " " for t in texts]
        if not batch:
            return []
        size = self.config.batch_size
        if len(batch) <= size:
            return await self._embed_batch(batch)
        chunks = [batch[i:i + size] for i in range(0, len(batch), size)]
        gate = asyncio.Semaphore(self.config.max_concurrency)

        async def one(chunk: list[str]) -> list[list[float]]:
            async with gate:
                return await self._embed_batch(chunk)

        results = await asyncio.gather(*(one(c) for c in chunks))
        return [vec for part in results for vec in part]

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        # base64 (as the official client asks by default): 4 bytes per component on the wire and
        # one frombuffer to decode, instead of decimal text parsed number by number.
        body: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "base64"}
        if self.send_dimensions:
            body["dimensions"] = self._dims
        response = await self._post("/embeddings", body)
        try:
            data = sorted(response["data"], key=lambda d: d["index"])
            vectors = [_vector(d["embedding"]) for d in data]
            used = response.get("usage")
            if isinstance(used, dict):  # the request's input tokens, for the engine's usage figures
                report_embedding_tokens(used.get("prompt_tokens"))
        except Exception as exc:
            raise self._describe(exc, 1) from exc
        if len(vectors) != len(batch):
            raise ProviderError(PROVIDER, f"embedder: {self.base_url} returned {len(vectors)} vectors for "
                                f"{len(batch)} texts")
        for vec in vectors:
            if len(vec) != self._dims:
                raise ProviderError(
                    PROVIDER,
                    f"embedder: model {self.model!r} returned {len(vec)}-dimensional vectors but "
                    f"embedding_dims is {self._dims}; set embedder.config.embedding_dims to {len(vec)}",
                )
        return vectors

    def __repr__(self) -> str:
        return f"<OpenAIEmbedder {self.alias.name} model={self.model!r} dims={self._dims}>"
