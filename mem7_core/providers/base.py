"""What every provider has: a name, a kind, a pydantic ``Config``, and an async ``aclose``."""

from __future__ import annotations

from abc import ABC
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import TypeVar  # TypeVar(default=...) (PEP 696) before Python 3.13

if TYPE_CHECKING:  # the registry imports this module
    from ..plugins import PluginRegistry

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


ConfigT = TypeVar("ConfigT", bound=ProviderConfig, default=ProviderConfig)


class Provider(ABC, Generic[ConfigT]):
    """Base class of all providers.

    A subclass sets ``name`` (what the config selects it by, lower case), optionally ``aliases``,
    and a nested ``Config`` model, and implements every abstract method of its kind's base class (a
    class missing one cannot be built: the base's body would silently do nothing). The engine
    builds it as ``cls(cls.Config.model_validate(section))``, so a bad field fails with pydantic's
    message naming it, before anything is touched.

    Generic over its config model for type checkers: ``class MyProvider(Provider[MyConfig])`` types
    ``self.config`` as ``MyConfig``. A subclass that does not parametrise it (``Provider`` alone, as
    the kind bases such as :class:`~mem7_core.providers.vector_store.VectorStore` do) gets
    ``ProviderConfig``, and may still narrow the attribute itself with ``config: Config``.
    """

    kind: ClassVar[ProviderKind]
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    # A ClassVar cannot name a type variable: ``Config`` is the class that builds ``ConfigT``.
    Config: ClassVar[type[ProviderConfig]] = ProviderConfig
    config: ConfigT

    def __init__(self, config: ConfigT | None = None) -> None:
        # Config() is this class's ConfigT when the subclass sets Config and ConfigT alike.
        self.config = config if config is not None else cast(ConfigT, type(self).Config())

    @classmethod
    def from_config(
        cls,
        section: dict[str, Any] | ProviderConfig | None = None,
        *,
        selected_as: str | None = None,
        registry: PluginRegistry | None = None,
    ) -> Self:
        """Validate ``section`` with this provider's ``Config`` and build the provider.

        :param section: the provider's own config section.
        :param selected_as: the name the config used (an alias such as ``ollama`` may imply defaults).
        :param registry: the registry building it (the engine's): a provider that builds other
            providers from its config (an LLM-backed reranker's LLM) looks them up there. The base
            class ignores it.
        """
        # cls.Config builds this class's ConfigT (a given model is taken as it is, unchecked).
        if isinstance(section, ProviderConfig):
            return cls(cast(ConfigT, section))
        return cls(cast(ConfigT, cls.Config.model_validate(section or {})))

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        """Whether several processes may each open this provider with ``config`` (its validated
        ``Config``) and share what it holds, as ``mem7 serve --workers N`` does: ``None`` if they
        may (the default: a server or a database several clients share), else why not, as a
        phrase naming it ("the flat vector store has no path (...)"). ``serve`` refuses
        ``workers > 1`` with the reasons (:func:`mem7_core.server.rest.single_process_stores`).

        Override it in a store kept in one process's memory, or whose files one process locks.
        """
        return None

    async def aclose(self) -> None:
        """Release connections and files. Idempotent."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}:{self.name}>"


class ProviderSpec(BaseModel):
    """Which provider to use and its own config section: ``{"provider": "openai", "config": {...}}``.

    The shape of every provider section of the engine's config (``llm``, ``embedder``, ...), and of
    a provider's config that names another provider (an LLM-backed reranker's ``llm``). Keys beside
    ``provider`` and ``config`` are folded into ``config`` (``{"provider": "openai", "model": "x"}``
    is ``{"provider": "openai", "config": {"model": "x"}}``); the name is lower-cased.
    """

    model_config = ConfigDict(extra="allow")

    provider: str
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fold_extras(self) -> ProviderSpec:
        extras = dict(self.__pydantic_extra__ or {})
        if extras:
            merged = {**extras, **self.config}
            object.__setattr__(self, "config", merged)
            self.__pydantic_extra__.clear()  # type: ignore[union-attr]
            self.__pydantic_fields_set__.add("config")  # so model_dump(exclude_unset=True) keeps it
        return self

    @field_validator("provider")
    @classmethod
    def _provider_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("provider must be a non-empty name, e.g. 'openai'")
        return v.lower()
