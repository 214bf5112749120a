"""The embedder interface."""

from __future__ import annotations

import asyncio
import math
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from ..errors import ProviderError
from .base import Provider

EmbedPurpose = Literal["add", "search", "update"]


class Embedder(Provider):
    """Turns texts into vectors. One call embeds a whole batch."""

    kind = "embedder"

    @property
    @abstractmethod
    def dims(self) -> int:
        """Length of every vector this embedder returns."""

    @property
    def model_name(self) -> str | None:
        """The model whose vectors this embedder returns (``None``: it has no model name). Vector
        stores record it with the first vectors they keep, and the engine refuses to open a store
        written by another model. The default is the config's ``model`` field, if there is one;
        override it when the model is chosen otherwise (an alias's default model)."""
        model = getattr(self.config, "model", None)
        return model if isinstance(model, str) and model.strip() else None

    @abstractmethod
    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        """Embed ``texts`` in one batch, in order.

        :param texts: the texts; an empty list gives an empty list without a call.
        :param purpose: why: models with separate query/document prompts use it.
        :returns: one vector of length :attr:`dims` per text (a list, or a 2-D numpy array).
        :raises ProviderError: naming the provider, after its bounded retries.
        """


async def embed_in_batches(
    texts: Sequence[str],
    embed_batch: Callable[[list[str]], Awaitable[list[list[float]]]],
    *,
    batch_size: int,
    max_concurrency: int = 4,
) -> list[list[float]]:
    """Embed ``texts`` with ``embed_batch`` in requests of at most ``batch_size`` texts, at most
    ``max_concurrency`` in flight, the vectors in the order of ``texts`` (for a service that caps
    the texts of one request). One request when they fit; ``[]`` without a call for no texts."""
    batch = list(texts)
    if len(batch) <= batch_size:
        return await embed_batch(batch) if batch else []
    gate = asyncio.Semaphore(max_concurrency)

    async def one(chunk: list[str]) -> list[list[float]]:
        async with gate:
            return await embed_batch(chunk)

    parts = await asyncio.gather(*(one(batch[i:i + batch_size]) for i in range(0, len(batch), batch_size)))
    return [vec for part in parts for vec in part]


def checked_vectors(rows: Sequence[Any], *, dims: int, provider: str, model: str | None,
                    normalize: bool = True) -> list[list[float]]:
    """The vectors an embedding service answered, checked: each a list of ``dims`` finite numbers,
    L2-normalised when ``normalize``.

    :raises ProviderError: naming ``embedding_dims`` and the size to set, when the service answered
        vectors of another size (the model's size differs from the config's).
    :raises ValueError: saying what is wrong when a row is not a list of finite numbers; a plugin
        reports it as a malformed answer.
    """
    out: list[list[float]] = []
    for row in rows:
        if not isinstance(row, (list, tuple)) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in row):
            raise ValueError("an embedding is not a list of numbers")
        if len(row) != dims:
            raise ProviderError(provider, f"embedder: model {model!r} returned {len(row)}-dimensional vectors but "
                                          f"embedding_dims is {dims}; set embedder.config.embedding_dims to {len(row)}")
        values = [float(x) for x in row]
        if not all(math.isfinite(x) for x in values):
            raise ValueError("a vector has NaN or inf")
        norm = math.sqrt(sum(x * x for x in values)) if normalize else 0.0
        out.append([x / norm for x in values] if norm > 0 else values)
    return out
