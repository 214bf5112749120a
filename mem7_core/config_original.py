"""The original mem7's (0.3) config shape, mapped onto ours, so its documented Python runs verbatim.

``mem7.config`` re-exports these classes under the original's names (``MemoryConfig``,
``LlmConfig``, ``EmbeddingConfig``, ``VectorConfig``, ``HistoryConfig``, ``GraphConfig``,
``RerankerConfig``, ``TelemetryConfig``, ``DecayConfig``, ``ContextConfig``); :func:`load_config`
(and so ``Memory(config)``, ``Memory.from_config``, config files and the CLI) accepts the same
shape as a plain dict — recognised by its ``embedding`` / ``vector`` / ``history`` / ``graph``
keys. Both are validated here first, so an error names the original's field
(``embedding.dims``), then translated into our :class:`~mem7_core.config.MemoryConfig`:

==============================================  ==================================================
original                                        ours
==============================================  ==================================================
``llm.provider``                                ``llm.provider`` (``openai-compatible``,
                                                ``azure_openai`` → ``openai``; ``lm-studio`` →
                                                ``lmstudio``; ``grok`` → ``xai``; ``ollama``,
                                                ``vllm``, ``deepseek``, ``groq``, ``together`` kept)
``llm.base_url/api_key/model/temperature/
max_tokens/enable_vision``                      ``llm.config.<same name>``
``embedding.provider``                          ``embedder.provider`` (as for ``llm``; ``groq``,
                                                ``xai``, ``deepseek`` → ``openai``; ``fastembed``)
``embedding.base_url/api_key/model``            ``embedder.config.<same name>`` (fastembed: its
                                                enum names, e.g. ``AllMiniLML6V2`` → the model id)
``embedding.dims``                              ``embedder.config.embedding_dims`` (checked against
                                                the vectors; sent as ``dimensions`` only to
                                                ``text-embedding-3-*``, as the original never sent it)
``embedding.cache_dir``                         ``embedder.config.cache_dir`` (fastembed)
``vector.provider``                             ``vector_store.provider``: ``flat`` (also
                                                ``memory``, ``in-memory``), ``upstash``, and ours
                                                ``qdrant``, ``pgvector``
``vector.collection_name``                      ``vector_store.config.collection_name``
``vector.dims``                                 ``vector_store.config.dims`` (not for flat, which
                                                takes it from the first vector)
``vector.upstash_url/upstash_token``            ``vector_store.config.url/token``
``vector.path`` (ours)                          ``vector_store.config.path``: persist flat; without
                                                it flat stays in memory, as in the original
``history.db_path``                             ``history_store: sqlite``, ``config.path``; unset:
                                                ``history_store: auto`` — in memory beside an
                                                in-memory flat store, the store's own database
                                                beside a persisted one, else ``mem7_history.db``
``graph.provider``                              ``graph_store.provider``: ``flat`` (also
                                                ``memory``), ``kuzu``, ``neo4j``
``graph.kuzu_db_path``                          ``graph_store.config.path``
``graph.neo4j_url/username/password/database``  ``graph_store.config.url/username/password/database``
``graph.custom_prompt`` / ``graph.llm``         ``graph_store.custom_prompt`` / ``graph_store.llm``
``graph.threshold`` (ours)                      ``graph_store.threshold``
``reranker.provider``                           ``cohere`` / ``llm`` → ``llm_rerank``
``reranker.model/api_key/base_url``             cohere: ``reranker.config.<same>``; llm:
                                                ``reranker.config.llm.config.<same>``
``reranker.top_k_multiplier``                   ``reranker.top_k_multiplier``
``telemetry.otlp_endpoint/service_name``        ``telemetry.<same>``; ``telemetry.enabled`` (ours,
                                                default false: the original never read this section)
``decay.*`` / ``context.*``                     ``decay.*`` / ``context.*`` (same fields; ``None``: off)
``custom_fact_extraction_prompt`` /
``custom_update_memory_prompt``                 the same keys
==============================================  ==================================================

mem0's key names inside the original shape (``embedder``, ``vector_store``, ``graph_store``,
``history_db_path``, ``{"provider": ..., "config": {...}}`` sections, ``baseURL``, ``apiKey``,
``embedding_dims``...) are accepted as the original accepted them. Other providers (any installed
plugin) are reached through our own shape: ``vector_store: {provider: ..., config: {...}}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .scorers.context import ContextConfig  # as mem7_core.config has them
from .scorers.decay import DecayConfig

__all__ = [
    "ContextConfig",
    "DecayConfig",
    "EmbeddingConfig",
    "GraphConfig",
    "HistoryConfig",
    "LlmConfig",
    "MemoryConfig",
    "OriginalMemoryConfig",
    "RerankerConfig",
    "TelemetryConfig",
    "VectorConfig",
    "adapt_original",
    "is_original_shape",
]

ORIGINAL_KEYS = ("embedding", "vector", "history", "graph")
"""Top-level keys only the original's shape has: a dict holding one is read as that shape."""
_TWINS = {"embedding": ("embedder",), "vector": ("vector_store",), "graph": ("graph_store",),
          "history": ("history_store", "history_db_path")}

_LLM_PROVIDERS = {
    "openai": "openai", "openai-compatible": "openai", "openai_compatible": "openai",
    "azure_openai": "openai", "azure-openai": "openai", "azure": "azure",
    "ollama": "ollama", "vllm": "vllm", "lmstudio": "lmstudio", "lm-studio": "lmstudio", "lm_studio": "lmstudio",
    "deepseek": "deepseek", "groq": "groq", "together": "together", "xai": "xai", "grok": "xai",
}
_EMBEDDING_PROVIDERS = {
    **_LLM_PROVIDERS, "groq": "openai", "xai": "openai", "grok": "openai", "deepseek": "openai",
    "fastembed": "fastembed",
}
_VECTOR_PROVIDERS = {
    "flat": "flat", "memory": "flat", "in-memory": "flat", "in_memory": "flat", "inmemory": "flat",
    "upstash": "upstash", "upstash_vector": "upstash", "upstash-vector": "upstash",
    "qdrant": "qdrant", "pgvector": "pgvector", "postgres": "pgvector", "postgresql": "pgvector",
}
_GRAPH_PROVIDERS = {
    "flat": "flat", "memory": "flat", "in-memory": "flat", "in_memory": "flat", "kuzu": "kuzu", "neo4j": "neo4j",
}
_RERANKER_PROVIDERS = {"cohere": "cohere", "llm": "llm_rerank", "llm_rerank": "llm_rerank", "llm-rerank": "llm_rerank"}

FASTEMBED_MODELS = {
    "allminilml6v2": "sentence-transformers/all-MiniLM-L6-v2",
    "allminilml6v2q": "sentence-transformers/all-MiniLM-L6-v2",
    "allminilml12v2": "sentence-transformers/all-MiniLM-L12-v2",
    "allminilml12v2q": "sentence-transformers/all-MiniLM-L12-v2",
    "bgesmallenv15": "BAAI/bge-small-en-v1.5",
    "bgesmallenv15q": "BAAI/bge-small-en-v1.5",
    "bgebaseenv15": "BAAI/bge-base-en-v1.5",
    "bgebaseenv15q": "BAAI/bge-base-en-v1.5",
    "bgelargeenv15": "BAAI/bge-large-en-v1.5",
    "bgelargeenv15q": "BAAI/bge-large-en-v1.5",
    "nomicembedtextv1": "nomic-ai/nomic-embed-text-v1",
    "nomicembedtextv15": "nomic-ai/nomic-embed-text-v1.5",
    "nomicembedtextv15q": "nomic-ai/nomic-embed-text-v1.5",
    "mxbaiembedlargev1": "mixedbread-ai/mxbai-embed-large-v1",
    "mxbaiembedlargev1q": "mixedbread-ai/mxbai-embed-large-v1",
    "gtebaseenv15": "Alibaba-NLP/gte-base-en-v1.5",
    "gtebaseenv15q": "Alibaba-NLP/gte-base-en-v1.5",
    "gtelargeenv15": "Alibaba-NLP/gte-large-en-v1.5",
    "gtelargeenv15q": "Alibaba-NLP/gte-large-en-v1.5",
    "paraphrasemlminilml12v2": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
    "paraphrasemlminilml12v2q": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
    "multilinguale5small": "intfloat/multilingual-e5-small",
    "multilinguale5base": "intfloat/multilingual-e5-base",
    "multilinguale5large": "intfloat/multilingual-e5-large",
}
"""The original's FastEmbed enum names (quantised ``...Q`` variants included) → fastembed model ids."""


def _provider(value: Any, table: Mapping[str, str], kind: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} provider must be a non-empty name, e.g. {next(iter(table))!r}")
    name = value.strip().lower().replace(" ", "-")
    if name not in table:
        supported = ", ".join(sorted(set(table)))
        raise ValueError(
            f"Unsupported {kind} provider {value!r}. In the original mem7's config shape mem7 supports: "
            f"{supported}. Any other installed plugin is reached through mem7's own shape, e.g. "
            f"{{'{_CORE_SECTION[kind]}': {{'provider': ..., 'config': {{...}}}}}}"
        )
    return table[name]


_CORE_SECTION = {"LLM": "llm", "embedding": "embedder", "vector": "vector_store", "graph": "graph_store",
                 "reranker": "reranker"}


def _rename(data: dict[str, Any], aliases: Mapping[str, str], where: str) -> dict[str, Any]:
    for alias, name in aliases.items():
        if alias in data:
            value = data.pop(alias)
            if name in data and data[name] != value:
                raise ValueError(f"{where}: {alias!r} and {name!r} name the same field with different values; keep one")
            data.setdefault(name, value)
    return data


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    _aliases: ClassVar[dict[str, str]] = {}
    _where: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _mem0_shape(cls, data: Any) -> Any:
        # {"provider": X, "config": {...}} (mem0's shape, which the original accepted too) → flat fields.
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        inner = data.get("config")
        if isinstance(inner, Mapping) and "config" not in cls.model_fields:
            data.pop("config")
            for key, value in inner.items():
                if key in data and data[key] != value:
                    raise ValueError(f"{cls._where}: {key!r} is given both beside and inside 'config'; keep one")
                data[key] = value
        return _rename(data, {"baseURL": "base_url", "apiKey": "api_key", **cls._aliases}, cls._where)


class LlmConfig(_Section):
    """The original's ``LlmConfig``: any OpenAI-compatible chat server."""

    _where: ClassVar[str] = "llm"

    provider: str = "openai"
    base_url: str = "https://api.openai.com/v1"
    api_key: str = Field(default_factory=lambda: os.environ.get("OPENAI_API_KEY", ""), repr=False)
    model: str = "gpt-4.1-nano"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1000, gt=0)
    enable_vision: bool = False

    @field_validator("provider", mode="before")
    @classmethod
    def _known(cls, v: Any) -> str:
        return _provider(v, _LLM_PROVIDERS, "LLM")


class EmbeddingConfig(_Section):
    """The original's ``EmbeddingConfig``: an OpenAI-compatible embeddings server, or local FastEmbed."""

    _where: ClassVar[str] = "embedding"
    _aliases: ClassVar[dict[str, str]] = {
        "embedding_dims": "dims", "embedding_model_dims": "dims", "cacheDir": "cache_dir",
    }

    provider: str = "openai"
    base_url: str = "https://api.openai.com/v1"
    api_key: str = Field(default_factory=lambda: os.environ.get("OPENAI_API_KEY", ""), repr=False)
    model: str = "text-embedding-3-small"
    dims: int = Field(1536, gt=0, le=65536)
    cache_dir: str | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _known(cls, v: Any) -> str:
        return _provider(v, _EMBEDDING_PROVIDERS, "embedding")


class VectorConfig(_Section):
    """The original's ``VectorConfig``. ``flat`` stays in memory unless ``path`` (ours) is set;
    ``qdrant`` and ``pgvector`` (ours) take their other options as extra keys."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    _where: ClassVar[str] = "vector"
    _aliases: ClassVar[dict[str, str]] = {
        "dimension": "dims", "embedding_model_dims": "dims", "collectionName": "collection_name",
        "upstashUrl": "upstash_url", "upstashToken": "upstash_token",
    }

    provider: str = "flat"
    collection_name: str = "mem7_memories"
    dims: int = Field(1536, gt=0, le=65536)
    upstash_url: str | None = None
    upstash_token: str | None = Field(None, repr=False)
    path: str | None = None
    """(ours) Persist the flat store in this directory, its history in the same database."""

    @field_validator("provider", mode="before")
    @classmethod
    def _known(cls, v: Any) -> str:
        return _provider(v, _VECTOR_PROVIDERS, "vector")

    @model_validator(mode="after")
    def _extras_only_for_plugins(self) -> VectorConfig:
        extra = sorted(self.__pydantic_extra__ or {})
        if extra and self.provider in ("flat", "upstash"):
            raise ValueError(
                f"vector: unknown field(s) {', '.join(extra)} for provider {self.provider!r}; its fields are "
                "provider, collection_name, dims, upstash_url, upstash_token, path"
            )
        return self


class HistoryConfig(_Section):
    """The original's ``HistoryConfig``. ``db_path`` unset (our default): the history is kept with
    the vectors — in memory beside an in-memory flat store, in a persisted store's own database,
    else in ``mem7_history.db``. A path (or ``":memory:"``) puts it in that SQLite file."""

    _where: ClassVar[str] = "history"

    db_path: str | None = None


class GraphConfig(_Section):
    """The original's ``GraphConfig``: ``flat`` (in memory), ``kuzu`` (embedded file), ``neo4j``."""

    _where: ClassVar[str] = "graph"
    _aliases: ClassVar[dict[str, str]] = {
        "url": "neo4j_url", "username": "neo4j_username", "password": "neo4j_password", "database": "neo4j_database",
        "kuzuDbPath": "kuzu_db_path", "db": "kuzu_db_path", "path": "kuzu_db_path",
    }

    provider: str = "flat"
    kuzu_db_path: str = "mem7_graph.kuzu"
    neo4j_url: str | None = None
    neo4j_username: str | None = None
    neo4j_password: str | None = Field(None, repr=False)
    neo4j_database: str | None = None
    custom_prompt: str | None = None
    llm: LlmConfig | None = None
    threshold: float | None = Field(None, ge=-1.0, le=1.0)
    """(ours) Cosine an entity must reach to match; default 0.5."""

    @field_validator("provider", mode="before")
    @classmethod
    def _known(cls, v: Any) -> str:
        return _provider(v, _GRAPH_PROVIDERS, "graph")


class RerankerConfig(_Section):
    """The original's ``RerankerConfig``: ``cohere`` or ``llm`` (any OpenAI-compatible chat server)."""

    _where: ClassVar[str] = "reranker"

    provider: str = "cohere"
    model: str | None = None
    api_key: str | None = Field(None, repr=False)
    base_url: str | None = None
    top_k_multiplier: int = Field(3, ge=1, le=50)

    @field_validator("provider", mode="before")
    @classmethod
    def _known(cls, v: Any) -> str:
        return _provider(v, _RERANKER_PROVIDERS, "reranker")

    @model_validator(mode="after")
    def _llm_needs(self) -> RerankerConfig:
        if self.provider == "llm_rerank":
            if not self.base_url:
                raise ValueError("reranker.base_url is required for the llm reranker")
            if not self.model:
                raise ValueError("reranker.model is required for the llm reranker")
        return self


class TelemetryConfig(_Section):
    """The original's ``TelemetryConfig``. It never read this section; here ``enabled=True`` (ours)
    exports spans (``pip install 'mem7-core[otel]'``)."""

    _where: ClassVar[str] = "telemetry"

    otlp_endpoint: str = "http://localhost:4317"
    service_name: str = "mem7"
    enabled: bool = False


class MemoryConfig(BaseModel):
    """The original mem7's ``MemoryConfig``; ``Memory(config=...)`` takes it as it is."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    llm: LlmConfig | None = Field(default_factory=LlmConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    vector: VectorConfig = Field(default_factory=VectorConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    reranker: RerankerConfig | None = None
    graph: GraphConfig | None = None
    telemetry: TelemetryConfig | None = None
    decay: DecayConfig | None = None
    context: ContextConfig | None = None
    custom_fact_extraction_prompt: str | None = None
    custom_update_memory_prompt: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        # The original's MemoryConfig(**mem0_dict): embedder / vector_store / graph_store / history_db_path.
        if not isinstance(data, Mapping):
            return data
        renames = {"embedder": "embedding", "vector_store": "vector", "graph_store": "graph"}
        data = _rename(dict(data), renames, "config")
        if "history_db_path" in data:
            path = data.pop("history_db_path")
            history = data.get("history")
            if isinstance(history, HistoryConfig):
                history = history.model_dump(exclude_unset=True)
            history = dict(history or {})
            if history.get("db_path") not in (None, path):
                raise ValueError("history_db_path and history.db_path differ; keep one")
            history["db_path"] = path
            data["history"] = history
        return data

    def to_json(self) -> str:
        """The config as JSON (the original's method)."""
        return self.model_dump_json()

    def to_core_dict(self, *, complete: bool = True, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """This config in mem7's own shape (a dict for :class:`mem7_core.config.MemoryConfig`).

        ``complete``: the sections left out take the original's defaults (an OpenAI LLM and embedder,
        flat in memory, history beside it); otherwise only what was set is translated (an
        environment layer). ``skip``: our section names given beside, which keep their own value.
        """
        given = self.model_dump(exclude_unset=True)
        out: dict[str, Any] = {}
        if "llm" in given:
            out["llm"] = None if self.llm is None else _llm(given["llm"], complete=complete)
        elif complete:
            out["llm"] = {"provider": "openai", "config": {}}
        if "embedding" in given or (complete and "embedder" not in skip):
            out["embedder"] = _embedding(given.get("embedding", {}), complete=complete)
        if "vector" in given or (complete and "vector_store" not in skip):
            out["vector_store"] = _vector(given.get("vector", {}), complete=complete)
        if "history" in given or (complete and not skip & {"history_store", "history_db_path"}):
            history = _history(given.get("history", {}), complete=complete)
            if history is not None:
                out["history_store"] = history
        if "graph" in given:
            out["graph_store"] = None if self.graph is None else _graph(given["graph"])
        if "reranker" in given:
            out["reranker"] = None if self.reranker is None else _reranker(given["reranker"])
        if given.get("telemetry") is not None:
            out["telemetry"] = dict(given["telemetry"])
        if given.get("decay") is not None:
            out["decay"] = dict(given["decay"])
        if given.get("context") is not None:
            out["context"] = {k: v for k, v in given["context"].items() if v is not None}
        for key in ("custom_fact_extraction_prompt", "custom_update_memory_prompt"):
            if key in given:
                out[key] = given[key]
        return out


OriginalMemoryConfig = MemoryConfig


# ---------------------------------------------------------------------------------- translation
def _llm(d: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any]:
    cfg = {k: d[k] for k in ("base_url", "model", "temperature", "max_tokens", "enable_vision") if k in d}
    if d.get("api_key"):
        cfg["api_key"] = d["api_key"]
    out: dict[str, Any] = {"config": cfg}
    if "provider" in d or complete:
        out["provider"] = d.get("provider", "openai")
    return out


def _embedding(d: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any]:
    provider = d.get("provider", "openai" if complete else None)
    cfg: dict[str, Any] = {}
    if "dims" in d:
        cfg["embedding_dims"] = d["dims"]
    if provider == "fastembed":
        if "model" in d:
            cfg["model"] = FASTEMBED_MODELS.get(d["model"].replace("_", "").replace("-", "").lower(), d["model"])
        if d.get("cache_dir"):
            cfg["cache_dir"] = d["cache_dir"]
    else:
        cfg.update({k: d[k] for k in ("base_url", "model") if k in d})
        if d.get("api_key"):
            cfg["api_key"] = d["api_key"]
        model = str(d.get("model", "text-embedding-3-small"))
        if provider is not None and "dims" in d and not model.startswith("text-embedding-3"):
            cfg["send_dimensions"] = False  # the original never sent `dimensions`; most servers refuse it
    out: dict[str, Any] = {"config": cfg}
    if provider is not None:
        out["provider"] = provider
    return out


def _vector(d: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any]:
    provider = d.get("provider", "flat" if complete else None)
    known = {"provider", "collection_name", "dims", "upstash_url", "upstash_token", "path"}
    cfg: dict[str, Any] = {k: v for k, v in d.items() if k not in known}
    if "collection_name" in d:
        cfg["collection_name"] = d["collection_name"]
    if "path" in d:
        cfg["path"] = d["path"]
    elif provider == "flat" and complete:
        cfg["path"] = None  # the original's flat index lives in memory (also over a persisted base layer)
    if provider == "upstash":
        if d.get("upstash_url"):
            cfg["url"] = d["upstash_url"]
        if d.get("upstash_token"):
            cfg["token"] = d["upstash_token"]
    if "dims" in d and provider != "flat":
        cfg["dims"] = d["dims"]
    out: dict[str, Any] = {"config": cfg}
    if provider is not None:
        out["provider"] = provider
    return out


def _history(d: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any] | None:
    if d.get("db_path"):
        return {"provider": "sqlite", "config": {"path": d["db_path"]}}
    if not complete:
        return None
    return {"provider": "auto", "config": {"path": None}}  # with the vectors (see the assembly's auto rule)


def _graph(d: Mapping[str, Any]) -> dict[str, Any]:
    provider = d.get("provider", "flat")
    cfg: dict[str, Any] = {}
    if provider == "kuzu" and "kuzu_db_path" in d:
        cfg["path"] = d["kuzu_db_path"]
    elif provider == "neo4j":
        for src, dst in (("neo4j_url", "url"), ("neo4j_username", "username"),
                         ("neo4j_password", "password"), ("neo4j_database", "database")):
            if d.get(src) is not None:
                cfg[dst] = d[src]
    out: dict[str, Any] = {"provider": provider, "config": cfg}
    if d.get("custom_prompt") is not None:
        out["custom_prompt"] = d["custom_prompt"]
    if d.get("llm") is not None:
        out["llm"] = _llm(d["llm"])
    if d.get("threshold") is not None:
        out["threshold"] = d["threshold"]
    return out


def _reranker(d: Mapping[str, Any]) -> dict[str, Any]:
    provider = d.get("provider", "cohere")
    conn = {k: d[k] for k in ("model", "api_key", "base_url") if d.get(k) is not None}
    if provider == "llm_rerank":
        cfg: dict[str, Any] = {"llm": {"provider": "openai", "config": conn}}
    else:
        cfg = conn
    out: dict[str, Any] = {"provider": provider, "config": cfg}
    if "top_k_multiplier" in d:
        out["top_k_multiplier"] = d["top_k_multiplier"]
    return out


_OWN_KEYS = frozenset(MemoryConfig.model_fields) | {"embedder", "vector_store", "graph_store", "history_db_path"}


def is_original_shape(layer: Any) -> bool:
    """Whether a config dict is in the original mem7's shape (it has one of :data:`ORIGINAL_KEYS`)."""
    return isinstance(layer, Mapping) and any(key in layer for key in ORIGINAL_KEYS)


def adapt_original(layer: Mapping[str, Any], *, where: str | None = None, complete: bool = True) -> Mapping[str, Any]:
    """``layer`` in our shape: unchanged unless it is in the original's shape, then validated (errors
    name the original's fields) and translated. Keys only we have (``retrieval``, ``add_mode``...)
    pass through; a section given under both names (``embedding`` and ``embedder``) is an error.

    :param complete: the layer is a whole config (code, a file), so the sections it leaves out take
        the original's defaults; ``False`` for the environment layer, which only overrides fields.
    """
    if not is_original_shape(layer):
        return layer
    label = f" ({where})" if where else ""
    for key, twins in _TWINS.items():
        both = [t for t in twins if t in layer]
        if key in layer and both:
            raise ConfigError(
                f"Invalid mem7 config{label}: {key!r} (the original mem7's name) and {both[0]!r} (mem0's) "
                "name the same section; keep one"
            )
    ours = {k: v for k, v in layer.items() if k not in _OWN_KEYS}
    theirs = {k: v for k, v in layer.items() if k in _OWN_KEYS}
    skip = frozenset(
        k for k in ("embedder", "vector_store", "graph_store", "history_store", "history_db_path") if k in layer
    )
    # mem0's names given beside the original's: those sections stay in our shape, untouched.
    for key in ("embedder", "vector_store", "graph_store", "history_db_path"):
        if key in theirs:
            ours[key] = theirs.pop(key)
    try:
        original = MemoryConfig.model_validate(theirs)
    except ValidationError as exc:
        raise ConfigError(f"Invalid mem7 config{label} (the original mem7's shape): {exc}") from exc
    return {**ours, **original.to_core_dict(complete=complete, skip=skip | frozenset(ours))}
