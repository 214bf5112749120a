"""What every provider has: a name, a kind, a pydantic ``Config``, and an async ``aclose``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

ProviderKind = Literal["llm", "embedder", "vector_store", "graph_store", "reranker", "scorer", "history_store"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = (
    "llm",
    "embedder",
    "vector_store",
    "graph_store",
    "reranker",
    "scorer",
    "history_store",
)


class ProviderConfig(BaseModel):
    """Base of every provider's ``Config``: unknown keys are errors, so typos surface at startup."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class Provider:
    """Base class of all providers.

    A subclass sets ``name`` (what the config selects it by), optionally ``aliases``, and a nested
    ``Config`` model. The engine builds it as ``cls(cls.Config.model_validate(section))``, so a bad
    field fails with pydantic's message naming it, before anything is touched.
    """

    kind: ClassVar[ProviderKind]
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[ProviderConfig]] = ProviderConfig

    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config if config is not None else type(self).Config()

    @classmethod
    def from_config(
        cls, section: dict[str, Any] | ProviderConfig | None = None, *, selected_as: str | None = None
    ) -> Provider:
        """Validate ``section`` with this provider's ``Config`` and build the provider.

        :param section: the provider's own config section.
        :param selected_as: the name the config used (an alias such as ``ollama`` may imply defaults).
        """
        if isinstance(section, ProviderConfig):
            return cls(section)
        return cls(cls.Config.model_validate(section or {}))

    async def aclose(self) -> None:
        """Release connections and files. Idempotent."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}:{self.name}>"
