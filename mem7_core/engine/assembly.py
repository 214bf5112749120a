"""Building an engine's providers from a :class:`MemoryConfig` through the plugin registry.

All or nothing: if any provider fails to build (unknown name, bad field, missing key), the ones
already built are closed and the error propagates, so nothing is left half-initialised.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .._proxy import CoroutineProxy
from ..config import MemoryConfig
from ..errors import ConfigError, close_names
from ..plugins import PluginRegistry
from ..providers import LLM, Embedder, EmbeddingSpace, GraphStore, HistoryStore, Reranker, Scorer, VectorStore
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
    check_store: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())
    """Checks now that ``embedder`` writes vectors comparable with the store's (:func:`check_embedder`;
    otherwise run before the store's first use). :raises ConfigError: they are not."""


async def _nothing() -> None:
    return None


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

    def make(
        kind: str, spec: Any, given: Any, where: str | None = None, inner: Callable[[Any], Any] | None = None
    ) -> Any:
        if given is None and spec is None:
            return None
        if given is None:
            try:
                given = registry.create(kind, spec.provider, _section(spec))
            except ValidationError as exc:
                fields = getattr(getattr(registry.get(kind, spec.provider), "Config", None), "model_fields", {})
                raise ConfigError(_describe(exc, where or f"{kind}.config", spec.provider, list(fields))) from exc
            owned.append(given)
        if inner is not None:
            given = inner(given)
        return telemetry.wrap(kind, given) if telemetry is not None else given

    checked: list[EmbeddingGuard] = []

    def guard(store: VectorStore) -> Any:
        # A given store may be a proxy or a duck-typed wrapper: look at the method it answers with.
        method = getattr(store, "embedding_space", None)
        method = inspect.unwrap(method) if method is not None else None  # through proxies' functools.wraps
        if getattr(method, "__func__", VectorStore.embedding_space) is VectorStore.embedding_space:
            return store  # it cannot tell (the contract's default, or no such method): nothing to check
        checked.append(EmbeddingGuard(store, built_embedder, allow_model_change=config.embedder.allow_model_change))
        return checked[0]

    try:
        built_llm = make("llm", config.llm, llm)
        built_embedder = make("embedder", config.embedder, embedder)
        built_vectors = make("vector_store", config.vector_store, vector_store, inner=guard)
        record = getattr(built_vectors, "record_embedder", None)  # a duck-typed store may lack it
        if record is not None:
            record(space_of(built_embedder))
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
        check_store=checked[0].check if checked else _nothing,
    )


def space_of(embedder: Embedder) -> EmbeddingSpace:
    """The space of ``embedder``'s vectors: its dims, provider name and model."""
    model = getattr(embedder, "model_name", None)  # an Embedder's; a duck-typed stand-in may lack it
    return EmbeddingSpace(dims=embedder.dims, provider=embedder.name, model=model if isinstance(model, str) else None)


def _store_where(store: VectorStore) -> str:
    cfg = store.config
    parts = [store.name]
    for key in ("collection_name", "path"):
        value = getattr(cfg, key, None)
        if value:
            parts.append(f"{key}={value!r}" if key != "collection_name" else repr(value))
    return " ".join(parts)


_MOVE_HINT = (
    "or move the memories to the new embedder: `mem7 export -o memories.jsonl` with the old embedder "
    "configured, then `mem7 import memories.jsonl` with the new one and a new vector_store path or "
    "collection_name (import embeds every memory again). Nothing was changed"
)


async def check_embedder(store: VectorStore, embedder: Embedder, *, allow_model_change: bool = False) -> None:
    """Refuse ``embedder`` when its vectors would not be comparable with those ``store`` holds.

    Reads only (:meth:`VectorStore.embedding_space`); a store that cannot tell passes.

    :raises ConfigError: other dims (always), or another model of the same dims (unless
        ``allow_model_change``), naming both sides and the ways out.
    """
    stored = await store.embedding_space()
    if stored is None:
        return
    configured = space_of(embedder)
    conflict = stored.conflict(configured)
    if conflict is None:
        return
    where = _store_where(store)
    written = f" written by {who}" if (who := stored.embedder()) else ""
    if conflict == "dims":
        raise ConfigError(
            f"embedder: the vector store ({where}) holds {stored.dims}-dim vectors{written}, but the "
            f"configured embedder {configured.embedder()} gives {configured.dims}-dim vectors, so every "
            f"add and search would fail. Configure the embedder the store was written with, point "
            f"vector_store at a new path or collection_name, {_MOVE_HINT}"
        )
    if allow_model_change:
        log.warning(
            "mem7: the vector store (%s) was written by %s; embedder.allow_model_change lets %s use it",
            where, stored.describe(), configured.describe(),
        )
        return
    raise ConfigError(
        f"embedder: the vector store ({where}) was written by the embedder {stored.describe()}, but the "
        f"configured embedder is {configured.describe()}: vectors of two models are not comparable, so "
        f"search would rank by noise. Configure the embedder the store was written with, point "
        f"vector_store at a new path or collection_name, {_MOVE_HINT}. If both name the same model, set "
        f"embedder.allow_model_change: true (the next write records the new name)"
    )


class EmbeddingGuard(CoroutineProxy):
    """A vector store whose first use (any coroutine method) runs :func:`check_embedder` first.

    A failed check is remembered: every later call raises the same :class:`ConfigError`, and
    nothing reaches the store. Once it passed, calls go straight to the store.
    """

    __slots__ = ("_allow", "_embedder", "_error", "_ok")

    def __init__(self, inner: VectorStore, embedder: Embedder, *, allow_model_change: bool) -> None:
        super().__init__(inner)
        object.__setattr__(self, "_embedder", embedder)
        object.__setattr__(self, "_allow", allow_model_change)
        object.__setattr__(self, "_ok", False)
        object.__setattr__(self, "_error", None)

    async def check(self) -> None:
        """Run the check now (once; a failure is raised again on every call)."""
        if self._ok:
            return
        if self._error is not None:
            raise ConfigError(str(self._error))
        try:
            await check_embedder(self._inner, self._embedder, allow_model_change=self._allow)
        except ConfigError as exc:
            object.__setattr__(self, "_error", exc)
            raise
        object.__setattr__(self, "_ok", True)

    def __getattr__(self, name: str) -> Any:
        if self._ok:
            return getattr(self._inner, name)
        return super().__getattr__(name)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            await self.check()
            return await method(*args, **kwargs)

        return checked

    def __repr__(self) -> str:
        return repr(self._inner)


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


def _describe(exc: ValidationError, where: str, provider: str, fields: list[str] | None = None) -> str:
    """One line per bad field, each named by its full config path (``vector_store.config.path``); an
    unknown field close to one of the provider's ``fields`` names it (``modell``: did you mean model?)."""
    problems = []
    for err in exc.errors():
        parts = err.get("loc", ())
        loc = ".".join(str(part) for part in parts)
        problem = f"{where}.{loc}: {err.get('msg')}" if loc else f"{where}: {err.get('msg')}"
        if err.get("type") == "extra_forbidden" and len(parts) == 1 and fields:
            close = close_names(str(parts[0]).lower(), fields)
            if close:
                problem += f" (did you mean {close[0]}?)"
        problems.append(problem)
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
