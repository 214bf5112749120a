"""Configuration: typed models, mem0-style dicts, YAML/TOML/JSON files and ``MEM7_*`` variables.

Every shape ends as one :class:`MemoryConfig`. Each provider section is a :class:`ProviderSpec`
(``{"provider": name, "config": {...}}``); the named provider's own pydantic ``Config`` validates
the ``config`` part when the engine builds it, so a bad field is reported by the provider that
owns it. Flat fields are accepted too: ``LlmConfig(provider="openai", model="gpt-4.1-nano")`` is
``{"provider": "openai", "config": {"model": "gpt-4.1-nano"}}``.

Precedence, lowest first: defaults < config file (``MEM7_CONFIG`` or the path given) < ``MEM7_*``
environment variables < the object or dict passed in code.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError, close_names
from .providers.base import ProviderSpec as ProviderSpec  # the contract's: plugins name providers in it too
from .providers.keywords import stemmer_languages
from .scorers.context import DEFAULT_CONTEXT_WEIGHTS as DEFAULT_CONTEXT_WEIGHTS  # each scorer owns its Config
from .scorers.context import ContextConfig
from .scorers.decay import DecayConfig
from .scorers.temporal import TemporalConfig

ENV_PREFIX = "MEM7_"
CONFIG_PATH_ENV = "MEM7_CONFIG"
DATA_DIR_ENV = "MEM7_DATA_DIR"
DEFAULT_DATA_DIR = "~/.mem7"
"""Where the embedded default keeps its data (``Memory()`` with no config, the CLI, the servers)."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``MEM7_DATA_DIR``, else ``~/.mem7``, expanded."""
    env = os.environ if environ is None else environ
    return Path(env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
#: MEM7_* variables that are not config fields.
_NON_CONFIG_ENV = {
    "MEM7_CONFIG", "MEM7_DISABLE_PLUGINS", "MEM7_DATA_DIR", "MEM7_LOG_LEVEL", "MEM7_NEO4J_URL", "MEM7_USER_ID",
}
_NON_CONFIG_ENV_PREFIXES = ("MEM7_SERVER_",)
"""Settings of ``mem7 serve`` / ``mem7 mcp`` (tokens, host), not engine config."""


class LlmConfig(ProviderSpec):
    provider: str = "openai"


class EmbedderConfig(ProviderSpec):
    provider: str = "openai"
    allow_model_change: bool = False
    """Open a vector store that another model of the same dims wrote (by default a
    :class:`~mem7_core.errors.ConfigError`): for the same model under another name. Vectors of two
    different models are not comparable, so search would rank by noise. The next write records
    this embedder as the store's. Other dims are always refused (every add and search would fail)."""


class VectorStoreConfig(ProviderSpec):
    provider: str = "flat"


class HistoryStoreConfig(ProviderSpec):
    """The audit log. ``auto`` keeps it in the vector store's own database when the store has one
    (flat with a ``path``: one transaction per write for both), else SQLite at ``config.path``."""

    provider: str = "sqlite"


class RerankerConfig(ProviderSpec):
    provider: str = "cohere"
    top_k_multiplier: int = Field(3, ge=1, le=50)


class GraphStoreConfig(ProviderSpec):
    """Graph memory (spec §8): the store (``provider`` + its ``config``) and the pipeline's knobs.

    - ``llm``: a separate LLM for the graph calls (default: the engine's ``llm``).
    - ``custom_prompt``: extra instructions appended to the entity/relation extraction prompt.
    - ``threshold``: cosine an entity must reach to match (conflict check and search).
    - ``search_multiplier``: search takes ``limit × search_multiplier`` relations before BM25.
    - ``conflict_limit``: at most this many existing relations go to the conflict check.
    """

    provider: str = "flat"
    llm: LlmConfig | None = None
    custom_prompt: str | None = None
    threshold: float = Field(0.5, ge=-1.0, le=1.0)
    search_multiplier: int = Field(3, ge=1, le=50)
    conflict_limit: int = Field(50, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _threshold_in_config(cls, data: Any) -> Any:
        # mem0 puts the threshold inside the store's section: graph_store.config.threshold.
        if (
            not isinstance(data, Mapping)
            or not isinstance(data.get("config"), Mapping)
            or "threshold" not in data["config"]
        ):
            return data
        data = dict(data)
        inner = dict(data["config"])
        value = inner.pop("threshold")
        if data.get("threshold") is not None and data["threshold"] != value:
            raise ValueError(
                f"threshold is given twice: graph_store.threshold={data['threshold']!r} and "
                f"graph_store.config.threshold={value!r}; keep one"
            )
        data["threshold"] = value
        data["config"] = inner
        return data


class ScorerConfig(ProviderSpec):
    """A third-party scorer to run after the built-in ones."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpandConfig(_Section):
    """Neighbour expansion (retrieval): a memory next to a strong hit gains.

    ``final = own + weight · Σ own(neighbour)`` over the ``window`` memories before and after it in
    creation order (``created_at``, then insertion) among the memories of its scope; and, before
    that, its keyword score takes ``keyword_weight`` × the best keyword score among the same
    neighbours (so a reply without the question's words can still be a keyword candidate):

    - ``group_by`` null (default): by time — the scope's memories form one sequence, cut wherever
      two consecutive ones were stored more than ``max_gap_secs`` apart (a pause in the
      conversation), so no caller needs to tag sessions;
    - ``group_by`` a payload key (``run_id``, ``created_at`` for "stored by the same add call", or
      any metadata key such as a session id): the memories sharing its value; memories without it
      are left alone.
    """

    enabled: bool | None = None
    """null (default): on in ``hybrid`` mode with ``weighted`` fusion, unless the vector store ranks
    keywords itself (``keyword_search``: pgvector; its ranking, the same for every process, is
    kept); off in ``dense`` and ``bm25`` modes and with ``rrf``, whose scores keep their plain
    meaning. true / false: always / never."""
    group_by: str | None = None
    """null: by time (creation order, cut at pauses longer than ``max_gap_secs``); else a payload key
    whose value the neighbours share (``run_id``, ``created_at``: the same add call, a metadata key)."""
    max_gap_secs: float = Field(1800.0, ge=0)
    """With ``group_by`` null: the longest pause between two memories that are still neighbours."""
    window: int = Field(2, ge=1, le=10)
    weight: float = Field(0.15, gt=0, le=1)
    """What a memory gains from each neighbour: this fraction of the neighbour's own fused score."""
    keyword_weight: float = Field(0.4, ge=0, le=1)
    """A memory's keyword score also takes this fraction of the best keyword score among its
    ``window`` neighbours on each side (capped at 1), before fusion: a turn such as "Yes, twice last
    year!" matches the words of the question it answers. 0: keyword scores stay each memory's own."""

    @field_validator("group_by")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError(
                "retrieval.expand.group_by must be a payload key, e.g. 'run_id', or null to group by time"
            )
        return v


class RetrievalConfig(_Section):
    """How search finds candidates (spec §6's vector search, widened with a keyword signal).

    - ``mode``: ``hybrid`` (vector + BM25, fused), ``dense`` (vector only, the score is the store's
      cosine) or ``bm25`` (keywords only).
    - ``fusion``: ``weighted`` — score = cosine + (1 − ``dense_weight``) / ``dense_weight`` ·
      min(1, BM25 / idf mass of the query): the weighted sum on the cosine's scale, never below
      the cosine, so a threshold tuned on cosine keeps its meaning — or ``rrf`` — score =
      Σ 1 / (``rrf_k`` + rank).
    - ``candidates``: how many hits each signal contributes before fusion (at least the fetch size).
    - ``k1``, ``b``, ``stopwords``, ``stemmer``: BM25 parameters and tokeniser (``stemmer``: the
      Snowball language whose stems the keyword index matches, so "paintings" finds "painted";
      null: words as written).
    - ``max_scopes``: how many scopes' keyword indexes an engine keeps in memory.
    """

    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    fusion: Literal["weighted", "rrf"] = "weighted"
    dense_weight: float = Field(0.5, ge=0, le=1)
    rrf_k: float = Field(60.0, gt=0)
    candidates: int = Field(50, ge=1, le=10000)
    k1: float = Field(1.2, ge=0)
    b: float = Field(0.75, ge=0, le=1)
    stopwords: bool = True
    stemmer: str | None = "english"
    """The Snowball language of the keyword index's stems ("paintings" finds "painted"); null: words
    as written. Stores ranking keywords themselves (pgvector, qdrant) do not stem."""
    max_scopes: int = Field(256, ge=1)
    expand: ExpandConfig = Field(default_factory=ExpandConfig)

    @field_validator("mode", "fusion", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("stemmer", mode="before")
    @classmethod
    def _stemmer(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        name = v.strip().lower()
        if name not in stemmer_languages():
            raise ValueError(
                f"retrieval.stemmer {v!r} is not a Snowball language; use one of "
                f"{', '.join(stemmer_languages())}, or null for no stemming"
            )
        return name

    @property
    def uses_index(self) -> bool:
        """Whether search needs the keyword index (any mode but plain dense, or expansion on)."""
        return self.mode != "dense" or self.expand.enabled is True

    def expanding(self, store_ranks_keywords: bool) -> bool:
        """Whether neighbour expansion runs (``expand.enabled``, null resolved) with a store that
        does (or does not) rank keywords itself."""
        if self.expand.enabled is not None:
            return self.expand.enabled
        return self.mode == "hybrid" and self.fusion == "weighted" and not store_ranks_keywords


class TelemetryConfig(_Section):
    """OpenTelemetry spans (spec §11; ``mem7_core.telemetry``). Off unless enabled, and nothing is
    sent anywhere until it is; the search query is recorded only with ``record_query_text``.
    Needs the extra: ``pip install 'mem7-core[otel]'``."""

    enabled: bool = False
    """Open a span per operation and a child span per provider call."""
    exporter: Literal["otlp", "global"] = "otlp"
    """``otlp``: mem7 exports to ``otlp_endpoint`` itself; ``global``: spans go to the application's
    own global tracer provider (which it configured with ``opentelemetry.trace.set_tracer_provider``)."""
    otlp_endpoint: str = "http://localhost:4317"
    """The collector (``exporter: otlp``). For ``http/protobuf`` the ``/v1/traces`` path is added."""
    otlp_protocol: Literal["grpc", "http/protobuf"] = "grpc"
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every export, e.g. ``{"authorization": "Bearer ..."}``."""
    otlp_timeout_secs: float = Field(10.0, gt=0)
    service_name: str = "mem7"
    """The ``service.name`` resource attribute of the spans mem7 exports itself."""
    record_query_text: bool = False
    """Put the search query on the ``search`` span as ``mem7.query`` (off: queries can be private)."""


class LimitsConfig(_Section):
    """Size and concurrency limits (hostile or careless input). Every size is checked before any
    model call: an input over a limit is refused with a ``ValueError`` naming the field and the
    limit (a REST 422), and nothing is stored. The REST server's request body limit is separate
    (``mem7 serve --max-body-bytes``, docs/server.md)."""

    max_text_chars: int = Field(32_000, ge=1)
    """Characters per message text, per memory text (``update``, each imported item), per search
    query and per ``add(prompt=...)``."""
    max_messages: int = Field(1_000, ge=1)
    """Messages per ``add`` call."""
    max_metadata_bytes: int = Field(16_384, ge=2)
    """Size of ``metadata`` encoded as JSON (UTF-8 bytes), per ``add`` / ``update`` and per imported item."""
    max_import_items: int = Field(10_000, ge=1)
    """Items per ``import_memories`` call (``mem7 import`` sends larger files in several calls)."""
    max_concurrent_provider_calls: int = Field(64, ge=1)
    """Calls in flight at once to each model provider (the LLM, the embedder, the reranker); more
    wait their turn, first come first served."""
    embed_batch_size: int = Field(64, ge=1)
    """Texts per embedder call: a larger batch is sent in several calls, one after the other, so one
    huge ``add`` or import lets other requests' calls in between."""


class MemoryConfig(BaseModel):
    """Everything an engine is built from. Unknown top-level keys are errors."""

    model_config = ConfigDict(extra="forbid")

    version: str = "v1.1"
    llm: LlmConfig | None = Field(default_factory=LlmConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    vector_store: VectorStoreConfig = Field(default_factory=VectorStoreConfig)
    history_store: HistoryStoreConfig = Field(default_factory=HistoryStoreConfig)
    history_db_path: str | None = None
    graph_store: GraphStoreConfig | None = None
    reranker: RerankerConfig | None = None
    scorers: list[ScorerConfig] = Field(default_factory=list)
    decay: DecayConfig = Field(default_factory=DecayConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    """Time-aware retrieval, on by default: a query naming a time ("last May") prefers memories from then."""
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    custom_fact_extraction_prompt: str | None = None
    """Replaces the fact-extraction prompt (the JSON answer format is added to it). mem0 2.x's
    ``custom_instructions`` is this setting under its new name, and is accepted as such."""
    custom_update_memory_prompt: str | None = None
    candidates_per_fact: int = Field(5, ge=1, le=100)
    llm_retries: int = Field(1, ge=0, le=5)
    """How many times a malformed or failed LLM answer is asked again before add() gives up."""
    operation_timeout_secs: float | None = Field(30.0, gt=0)
    """Time budget of the LLM calls of one ``add()``, retries included (the engine's and the
    provider's): when it runs out the add fails with ``ProviderTimeoutError`` (REST: 504) and
    nothing is stored. A timed-out request is not retried beyond it. None: no budget."""
    add_mode: Literal["two_call", "one_call"] = "two_call"
    """How ``add(infer=True)`` asks the LLM (spec §3; measured in ``bench/results/addmode.md``).

    - ``two_call`` (default): extract facts (call 1), retrieve each fact's nearest memories, then
      decide ADD / UPDATE / DELETE / NONE against them (call 2).
    - ``one_call``: embed the conversation's sentences, retrieve their nearest memories first, and
      let one call return both the facts and the decisions (half the LLM latency per add; UPDATE
      and DELETE kept). A custom extraction or update prompt (config or ``prompt=``) is written for
      its own call, so an add that uses one runs ``two_call``.
    """

    @field_validator("add_mode", mode="before")
    @classmethod
    def _add_mode(cls, v: Any) -> Any:
        return v.strip().lower().replace("-", "_") if isinstance(v, str) else v

    @model_validator(mode="before")
    @classmethod
    def _custom_instructions(cls, data: Any) -> Any:
        # mem0 2.x renamed custom_fact_extraction_prompt to custom_instructions (its docs say so).
        if not isinstance(data, Mapping) or "custom_instructions" not in data:
            return data
        data = dict(data)
        value = data.pop("custom_instructions")
        if data.get("custom_fact_extraction_prompt") not in (None, value):
            raise ValueError(
                "custom_instructions (mem0 2.x's name) and custom_fact_extraction_prompt are one "
                "setting, the fact-extraction prompt; keep one"
            )
        data["custom_fact_extraction_prompt"] = value
        return data

    @model_validator(mode="after")
    def _history_path(self) -> MemoryConfig:
        # mem0's top-level history_db_path feeds the SQLite history store's ``path``.
        if self.history_db_path and self.history_store.provider in ("sqlite", "auto"):
            self.history_store.config.setdefault("path", self.history_db_path)
        return self

    @classmethod
    def embedded(cls, data_dir: str | Path, **overrides: Any) -> MemoryConfig:
        """The embedded default: no service needed.

        Flat store persisted under ``data_dir`` (one SQLite database shared by every process that
        opens the directory) with the history in the same database (``auto``; a ``history.db``
        written by earlier versions is copied in once), the local fastembed
        embedder (all-MiniLM-L6-v2, 384 dims), and the OpenAI LLM only when ``OPENAI_API_KEY`` or
        ``OPENAI_BASE_URL`` is set (otherwise none: add() stores verbatim).
        """
        data = Path(data_dir).expanduser()
        llm: dict[str, Any] | None = None
        if os.environ.get("OPENAI_API_KEY"):
            llm = {"provider": "openai", "config": {}}
        elif os.environ.get("OPENAI_BASE_URL"):
            # A self-hosted OpenAI-compatible server (vLLM, llama.cpp...) usually needs no key.
            llm = {"provider": "openai", "config": {"api_key": "not-needed"}}
        base: dict[str, Any] = {
            "llm": llm,
            "embedder": {"provider": "fastembed", "config": {}},
            "vector_store": {"provider": "flat", "config": {"path": str(data / "vectors")}},
            "history_store": {"provider": "auto", "config": {"path": str(data / "history.db")}},
        }
        return cls.model_validate(_deep_merge(base, overrides))


# ------------------------------------------------------------------------------------- loading
def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively; a provider section naming another provider replaces the
    lower one whole (flat's ``path`` must not follow a switch to pgvector)."""
    out = dict(base)
    for key, value in top.items():
        lower = out.get(key)
        if isinstance(value, Mapping) and isinstance(lower, Mapping):
            switched = "provider" in value and "provider" in lower and value["provider"] != lower["provider"]
            out[key] = dict(value) if switched else _deep_merge(lower, value)
        else:
            out[key] = value
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml), TOML (.toml) or JSON (.json) config file into a dict.

    A TOML file may put the config under a ``[mem7]`` table (e.g. inside pyproject.toml's
    ``[tool.mem7]``) or at top level.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"Config file {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif p.suffix == ".toml":
            data = tomllib.loads(text)
            data = data.get("tool", {}).get("mem7", data.get("mem7", data))
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"Config file {str(p)!r}: use a .yaml, .yml, .toml or .json file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Config file {str(p)!r} is not valid {p.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(p)!r} must hold a mapping at top level")
    return data


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``MEM7_A__B__C=value`` becomes ``{"a": {"b": {"c": value}}}``; values are JSON when they parse.

    Example: ``MEM7_LLM__CONFIG__MODEL=gpt-4.1-mini``, ``MEM7_DECAY__ENABLED=true``.
    """
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in _NON_CONFIG_ENV or name.startswith(_NON_CONFIG_ENV_PREFIXES):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__") if part]
        if not path:
            continue
        node = out
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"Environment variable {name} conflicts with another MEM7_ variable")
            node = nxt
        value = _env_value(raw)
        existing = node.get(path[-1])
        if isinstance(existing, dict):  # MEM7_A__B seen before MEM7_A: the more specific one wins
            if not isinstance(value, dict):
                raise ConfigError(f"Environment variable {name} conflicts with another MEM7_ variable")
            value = _deep_merge(value, existing)
        node[path[-1]] = value
    return out


def load_config(
    source: MemoryConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base: MemoryConfig | Mapping[str, Any] | None = None,
) -> MemoryConfig:
    """Build a :class:`MemoryConfig` from any accepted shape, with file and environment layers.

    :param source: a config object (ours, or the original mem7's ``mem7.config.MemoryConfig``), a
        dict (ours, mem0's shape or the original mem7's: ``embedding`` / ``vector`` / ``history`` /
        ``graph``), or a path to a config file holding one of those shapes.
    :param environ: the environment to read ``MEM7_*`` from (default ``os.environ``).
    :param base: defaults under everything else (the CLI passes the embedded default here).
    :raises ConfigError: naming the field and the fix.
    """
    from .config_original import OriginalMemoryConfig, adapt_original

    env = os.environ if environ is None else environ
    layers: list[Mapping[str, Any]] = []
    if base is not None:
        layers.append(base.model_dump(exclude_unset=True) if isinstance(base, MemoryConfig) else adapt_original(base))
    file_path = source if isinstance(source, (str, Path)) else env.get(CONFIG_PATH_ENV)
    if file_path:
        layers.append(adapt_original(read_config_file(file_path), where=f"config file {str(file_path)!r}"))
    layers.append(adapt_original(config_from_env(env), where="MEM7_* environment variables", complete=False))
    if isinstance(source, OriginalMemoryConfig):
        source = source.to_core_dict()
    if isinstance(source, MemoryConfig):
        if len(layers) == 1 and not layers[0]:
            return source
        layers.append(source.model_dump(exclude_unset=True))
    elif isinstance(source, Mapping):
        layers.append(adapt_original(source))
    elif source is not None and not isinstance(source, (str, Path)):
        raise ConfigError(f"config must be a MemoryConfig, a dict or a file path, got {type(source).__name__}")
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _deep_merge(merged, layer)
    try:
        return MemoryConfig.model_validate(merged)
    except ValueError as exc:
        hints = _unknown_key_hints(exc)
        raise ConfigError(f"Invalid mem7 config{f' ({hints})' if hints else ''}: {exc}") from exc


#: Top-level keys of other engines' configs that mem7 does not take, and what to do instead.
_FOREIGN_KEYS = {
    "enable_graph": "mem0's switch (enableGraph in its TypeScript SDK): graph memory is on when the config "
                    "has a graph_store section, e.g. graph_store: {provider: flat}; "
                    "add(enable_graph=False) skips it per call",
}


def _unknown_key_hints(exc: ValueError) -> str:
    """For the unknown top-level keys of a validation error: what to write instead (another engine's
    key) or the field name it is closest to ("vectorstore" → vector_store)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return ""
    hints = []
    for err in errors():
        loc: tuple[Any, ...] = tuple(err.get("loc") or ())
        if err.get("type") != "extra_forbidden" or len(loc) != 1 or not isinstance(loc[0], str):
            continue
        key = loc[0]
        if key in _FOREIGN_KEYS:
            hints.append(f"{key}: {_FOREIGN_KEYS[key]}")
            continue
        close = close_names(key.lower(), MemoryConfig.model_fields)
        if close:
            hints.append(f"{key}: did you mean {close[0]}?")
    return "; ".join(hints)
