"""Building an engine's providers from a :class:`MemoryConfig` through the plugin registry.

All or nothing: if any provider fails to build (unknown name, bad field, missing key), the ones
already built are closed and the error propagates, so nothing is left half-initialised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..config import MemoryConfig
from ..errors import ConfigError
from ..plugins import PluginRegistry
from ..providers import LLM, Embedder, GraphStore, HistoryStore, Reranker, Scorer, VectorStore
from ..telemetry import Telemetry

log = logging.getLogger("mem7.engine")


@dataclass(slots=True)
class Providers:
    """The parts an engine runs on. ``owned`` are the ones the engine built and must close."""

    llm: LLM | None
    embedder: Embedder
    vector_store: VectorStore
    history: HistoryStore
    reranker: Reranker | None = None
    graph_store: GraphStore | None = None
    graph_llm: LLM | None = None
    """The graph's own LLM (``graph_store.llm``); ``None`` means the graph uses ``llm``."""
    scorers: list[Scorer] = field(default_factory=list)
    owned: list[Any] = field(default_factory=list)
    telemetry: Telemetry | None = None
    """Set when ``telemetry.enabled``: the providers above are then wrapped in tracing proxies."""
    atomic_history: bool = False
    """``history`` lives in the vector store's own database: one ``commit`` writes both."""


def _section(spec: Any) -> dict[str, Any]:
    return dict(spec.config) if spec is not None else {}


def build_providers(
    config: MemoryConfig,
    registry: PluginRegistry,
    *,
    llm: LLM | None = None,
    embedder: Embedder | None = None,
    vector_store: VectorStore | None = None,
    history_store: HistoryStore | None = None,
    graph_store: GraphStore | None = None,
    reranker: Reranker | None = None,
    scorers: Sequence[Scorer] | None = None,
    tracer_provider: Any | None = None,
) -> Providers:
    """Instances passed in are used as they are; the rest are built from ``config``.

    With ``telemetry.enabled`` each provider (given or built) is wrapped in a tracing proxy, and
    ``tracer_provider`` (an OpenTelemetry one, e.g. the SDK's with an in-memory exporter) replaces
    the one the config describes.
    """
    owned: list[Any] = []
    telemetry = Telemetry.from_config(config.telemetry, tracer_provider)
    if telemetry is not None:
        owned.append(telemetry)  # closed last (owned closes in reverse): flushes the providers' spans

    def make(kind: str, spec: Any, given: Any, where: str | None = None) -> Any:
        if given is not None:
            return telemetry.wrap(kind, given) if telemetry is not None else given
        if spec is None:
            return None
        try:
            provider = registry.create(kind, spec.provider, _section(spec))
        except ValidationError as exc:
            raise ConfigError(_describe(exc, where or f"{kind}.config", spec.provider)) from exc
        owned.append(provider)
        return telemetry.wrap(kind, provider) if telemetry is not None else provider

    try:
        built_llm = make("llm", config.llm, llm)
        built_embedder = make("embedder", config.embedder, embedder)
        built_vectors = make("vector_store", config.vector_store, vector_store)
        built_history, atomic = _history(config, built_vectors, history_store, make)
        built_reranker = make("reranker", config.reranker, reranker)
        graph_spec = config.graph_store
        built_graph = make("graph_store", graph_spec, graph_store, "graph_store.config")
        built_graph_llm = (
            make("llm", graph_spec.llm, None, "graph_store.llm.config") if graph_spec and built_graph else None
        )
        built_scorers: list[Scorer] = []
        if config.decay.enabled:
            built_scorers.append(make("scorer", _Spec("decay", config.decay.model_dump()), None, "decay"))
        if config.context.enabled:
            built_scorers.append(make("scorer", _Spec("context", config.context.model_dump()), None, "context"))
        if config.temporal.enabled:
            built_scorers.append(make("scorer", _Spec("temporal", config.temporal.model_dump()), None, "temporal"))
        for spec in config.scorers:
            built_scorers.append(make("scorer", spec, None))
        built_scorers.extend(scorers or ())
        built_scorers.sort(key=lambda s: type(s).order)
    except BaseException:
        _close_quietly(owned)
        raise
    return Providers(
        llm=built_llm,
        embedder=built_embedder,
        vector_store=built_vectors,
        history=built_history,
        reranker=built_reranker,
        graph_store=built_graph,
        graph_llm=built_graph_llm,
        scorers=built_scorers,
        owned=owned,
        telemetry=telemetry,
        atomic_history=atomic,
    )


AUTO_HISTORY = "auto"
"""``history_store.provider: auto``: the vector store's own history when it keeps one (flat with a
``path``: the same SQLite database, written in one transaction with the vectors), else SQLite at
``history_store.config.path`` (which, with the store's own, is migrated from once if it exists).
With no ``path`` the history persists exactly when the vectors do: SQLite in memory beside a store
kept in memory, SQLite's default file beside a persistent one, so a restart never finds one without
the other."""


def _history(
    config: MemoryConfig, vectors: VectorStore, given: HistoryStore | None, make: Any
) -> tuple[HistoryStore, bool]:
    spec = config.history_store
    if given is not None or spec.provider != AUTO_HISTORY:
        return make("history_store", spec, given), False
    section = _section(spec)
    if vectors.capabilities.atomic_history:
        own = vectors.own_history(migrate_from=section.get("path"))
        if own is not None:
            return make("history_store", None, own), True
    if section.get("path") is None:
        section.pop("path", None)
        if not vectors.capabilities.persistent:
            section["path"] = ":memory:"
    return make("history_store", _Spec("sqlite", section), None, "history_store.config"), False


def _describe(exc: ValidationError, where: str, provider: str) -> str:
    """One line per bad field, each named by its full config path (``vector_store.config.path``)."""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()))
        problems.append(f"{where}.{loc}: {err.get('msg')}" if loc else f"{where}: {err.get('msg')}")
    return f"Invalid config for the {provider!r} provider: " + "; ".join(problems)


@dataclass(slots=True)
class _Spec:
    provider: str
    config: dict[str, Any]


def _close_quietly(providers: list[Any]) -> None:
    """Close providers from sync code after a failed build (no loop may be running here)."""

    async def close_all() -> None:
        for p in providers:
            try:
                await p.aclose()
            except Exception as exc:  # closing after a failure must not mask the failure
                log.debug("closing %r after a failed build: %s", p, exc)

    if not providers:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(close_all())
        return
    # Inside a running loop: schedule; the original error is what the caller needs to see.
    # Keep a reference (a bare task may be garbage-collected) so callers can await it.
    task = asyncio.ensure_future(close_all())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[None]] = set()


async def wait_closing() -> None:
    """Wait for the closes a failed build scheduled on this loop (``Memory`` stops its loop after)."""
    loop = asyncio.get_running_loop()
    pending = [t for t in _closing if t.get_loop() is loop]
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
