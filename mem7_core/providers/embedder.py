"""The embedder interface."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Literal

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
