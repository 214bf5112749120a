"""``AsyncMemory``: the engine's face. One async implementation; :class:`mem7_core.Memory` wraps it for sync code.

This class checks the caller's arguments (``inputs.py``) and hands each operation to its stage:

===================  =====================================================================
``add``              :mod:`.write` — the write pipeline (normalise → extract → candidates →
                     decide → reconcile → commit), beside the graph path (:mod:`.graph`)
``search``           :mod:`.read` — the read pipeline (embed ‖ prepare → retrieve → rerank →
                     score → cut → rehearse); scorers in :mod:`.scoring`
``update`` /         :mod:`.edit` — direct edits by id or by scope
``delete[_all]``
``import_memories``  :mod:`.importer` (items checked by :mod:`.restore`)
``get`` / lists      :mod:`.store_view` — reads with the filter push-down fallback
every write          :mod:`.unit_of_work` — one commit (or a compensating transaction) that
                     publishes what changed to the caches (keyword indexes, the write log)
===================  =====================================================================

Providers are built by :mod:`.assembly` from the config and the plugin registry.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from ..config import GraphStoreConfig, MemoryConfig, default_data_dir, load_config
from ..errors import ConfigError, FilterError
from ..ids import iso, parse_instant, utc_now
from ..models import RESERVED_PAYLOAD_KEYS, AddResult, Item, Relation
from ..plugins import PluginRegistry, get_registry
from ..providers import LLM, Embedder, GraphStore, HistoryStore, Reranker, Scorer, VectorStore
from ..providers import deadline as _budget
from ..providers import usage as _usage
from ..providers.llm_json import JsonAsker
from ..results import (
    AddResponse,
    HistoryEntry,
    ImportResponse,
    ListResponse,
    MemoryItem,
    MessageResponse,
    SearchResponse,
    UsageReport,
)
from ..retrieval.hybrid import HybridRetriever
from ..telemetry import traced
from ..unicode_safe import check_str, check_tree, scrub
from . import inputs
from .assembly import build_providers, wait_closing
from .edit import Editor
from .graph import GraphMemory
from .importer import Importer
from .limits import check_item_count, check_messages, check_metadata_size, check_text, gate
from .locks import ScopeLocks, WriteLog
from .messages import normalise_messages
from .metering import UsageMeter
from .read import Query, ReadPipeline
from .records import check_metadata, item_from_payload
from .restore import ON_CONFLICT, OnConflict, check_items
from .scoring import ScorerStage
from .store_view import StoreView
from .unit_of_work import UnitOfWork, WriteTools
from .write import AddRequest, WritePipeline

log = logging.getLogger("mem7.engine")

Clock = Callable[[], datetime]
IMPORT_BATCH_SIZE = 64
"""Memories ``import_memories`` embeds and writes per batch (one embedding call, one history batch)."""


def _config_arg(config_dict: Any, kwargs: dict[str, Any]) -> Any:
    """``from_config``'s config, given positionally, as ``config_dict=`` (mem0) or ``config=``."""
    if "config" in kwargs:
        if config_dict is not None:
            raise TypeError("from_config() got both config_dict and config; pass one")
        config_dict = kwargs.pop("config")
    if config_dict is None:
        raise TypeError("from_config() needs a config: a dict, a MemoryConfig or a config file path")
    return config_dict


class AsyncMemory:
    """The memory engine (async). ``AsyncMemory(config)`` is ready to use; no ``create`` step needed.

    :param config: a :class:`MemoryConfig` (or the original mem7's ``mem7.config.MemoryConfig``), a
        dict (ours, mem0's or the original mem7's shape), a path to a YAML/TOML/JSON file, or ``None``
        for the embedded default — the same as the CLI's and the servers': vectors and history in one
        database under ``MEM7_DATA_DIR`` (default ``~/.mem7``), local fastembed embeddings, the OpenAI
        LLM when ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` is set — under ``MEM7_CONFIG`` and
        ``MEM7_*`` variables. One INFO line on the ``mem7.engine`` logger says where.
    :param llm: use this LLM instead of building one from config (likewise the other providers).
    :param scorers: extra scorers to run besides those the config enables.
    :param registry: the plugin registry to build providers from (default: the process-wide one).
    :param clock: returns the current UTC time; tests inject one to age memories without sleeping.
    :param tracer_provider: an OpenTelemetry tracer provider to send spans to instead of the one
        the ``telemetry`` section describes (used only when ``telemetry.enabled``).
    :raises ConfigError: naming the section and field (e.g. an unknown provider, a bad option).
    """

    def __init__(
        self,
        config: MemoryConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        llm: LLM | None = None,
        embedder: Embedder | None = None,
        vector_store: VectorStore | None = None,
        history_store: HistoryStore | None = None,
        graph_store: GraphStore | None = None,
        reranker: Reranker | None = None,
        scorers: Sequence[Scorer] | None = None,
        registry: PluginRegistry | None = None,
        clock: Clock | None = None,
        tracer_provider: Any | None = None,
    ) -> None:
        data_dir = None
        if config is None:  # the embedded default, as the CLI, `mem7 serve` and `mem7 mcp` open it
            data_dir = default_data_dir()
            self.config = load_config(None, base=MemoryConfig.embedded(data_dir))
        else:
            self.config = config if isinstance(config, MemoryConfig) else load_config(config)
        self.registry = registry or get_registry()
        parts = build_providers(
            self.config,
            self.registry,
            llm=llm,
            embedder=embedder,
            vector_store=vector_store,
            history_store=history_store,
            graph_store=graph_store,
            reranker=reranker,
            scorers=scorers,
            tracer_provider=tracer_provider,
        )
        # Model calls share each provider fairly (limits.max_concurrent_provider_calls, chunked embeds),
        # each (chunk) counted by the usage meter (metering.py).
        limits = self.config.limits
        self._meter = UsageMeter()
        parts.llm, parts.embedder, parts.reranker = (
            gate(self._meter.wrap("llm", parts.llm), limits),
            gate(self._meter.wrap("embedder", parts.embedder), limits),
            gate(parts.reranker, limits),
        )
        parts.graph_llm = gate(self._meter.wrap("llm", parts.graph_llm), limits)
        # A reranker that asks an LLM (llm_rerank) keeps it as ``llm``: its calls are metered too.
        rerank_llm = getattr(parts.reranker, "llm", None)
        if isinstance(rerank_llm, LLM):
            parts.reranker.llm = self._meter.wrap("llm", rerank_llm)  # type: ignore[union-attr]
        self.llm: LLM | None = parts.llm
        self.embedder: Embedder = parts.embedder
        self.vector_store: VectorStore = parts.vector_store
        self.history_store: HistoryStore = parts.history
        self._atomic = parts.atomic_history
        self._check_store = parts.check_store
        """History lives in the vector store's database: each write is one ``commit``."""
        self.reranker: Reranker | None = parts.reranker
        self.scorers: list[Scorer] = parts.scorers
        self._owned = parts.owned
        self.graph_store: GraphStore | None = parts.graph_store
        self._telemetry = parts.telemetry
        self._clock: Clock = clock or utc_now
        self._background: set[asyncio.Task[Any]] = set()
        self._warned_no_llm = False
        self._closed = False

        # The stages (module docstring), wired once.
        self._locks = ScopeLocks()
        self._writes = WriteLog()  # what concurrent adds of a scope stored while another was deciding
        self._view = StoreView(self.vector_store)
        self._uow = UnitOfWork(self.vector_store, self.history_store, self.embedder, atomic=self._atomic)
        self._scoring = ScorerStage(self.scorers)
        def asker(llm: LLM | None) -> JsonAsker | None:  # the bounded-retry JSON call to ``llm``
            if llm is None:
                return None
            return JsonAsker(llm, retries=self.config.llm_retries, budget_secs=self.config.operation_timeout_secs)

        ask = asker(self.llm)
        self.graph: GraphMemory | None = (
            GraphMemory(
                parts.graph_store,
                ask=asker(parts.graph_llm or parts.llm),
                embedder=self.embedder,
                config=self.config.graph_store or GraphStoreConfig(),
                spawn=self._spawn,
            )
            if parts.graph_store is not None
            else None
        )
        """The graph pipeline (spec §8) when a graph store is configured or given, else ``None``."""
        self.retriever: HybridRetriever | None = (
            HybridRetriever(self.config.retrieval, self.vector_store, self._view.search)
            if self.config.retrieval.uses_index
            else None
        )
        """Hybrid retrieval and its per-scope keyword indexes (``None`` in plain dense mode)."""
        if self.retriever is not None:
            self._uow.listen(self.retriever.indexes)
        self._uow.listen(self._writes)
        tools = WriteTools(embedder=self.embedder, view=self._view, uow=self._uow, locks=self._locks, clock=self._now)
        self._write_path = WritePipeline(
            config=self.config,
            llm=self.llm,
            ask=ask,
            tools=tools,
            scorers=self._scoring,
            writes=self._writes,
            graph=self.graph,
        )
        rerank_multiplier = self.config.reranker.top_k_multiplier if self.config.reranker else 3
        self._read_path = ReadPipeline(
            embedder=self.embedder,
            view=self._view,
            retriever=self.retriever,
            reranker=self.reranker,
            rerank_multiplier=rerank_multiplier,
            scorers=self._scoring,
            graph=self.graph,
            llm=self.llm,
            locks=self._locks,
            spawn=self._spawn,
            embed_batch_size=self.config.limits.embed_batch_size,
        )
        self._edit = Editor(tools)
        self._import = Importer(tools)
        if self._telemetry is not None:  # spans for the @traced methods; nothing at all when disabled
            self._telemetry.instrument(self)
        if data_dir is not None:
            self._log_default_location(data_dir)

    def _log_default_location(self, data_dir: Path) -> None:
        vectors = self.config.vector_store.config.get("path") if self.config.vector_store.provider == "flat" else None
        if self._atomic:
            where = f"vectors and history in {vectors or data_dir} (one SQLite database)"
        else:
            history = self.config.history_store.config.get("path")
            where = (
                f"vectors: {self.config.vector_store.provider} {vectors or ''}, "
                f"history: {self.history_store.name} {history or ''}"
            )
        log.info(
            "mem7: no config given; the embedded default in %s: %s; embedder %s; LLM %s",
            data_dir,
            where,
            self.embedder.name,
            self.llm.name if self.llm is not None else "none (add() stores verbatim)",
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    async def create(
        cls, config: MemoryConfig | Mapping[str, Any] | str | Path | None = None, **kwargs: Any
    ) -> AsyncMemory:
        """Same as ``AsyncMemory(config, ...)``; kept for code written against mem0's ``AsyncMemory``."""
        try:
            engine = cls(config, **kwargs)
        except BaseException:
            await wait_closing()  # a failed build has closed what it opened before we return
            raise
        try:
            await engine.check_store()
        except BaseException:
            await engine.aclose()
            raise
        return engine

    async def check_store(self) -> None:
        """Check now that the embedder's vectors are comparable with those the vector store holds
        (same dims, same model when the store recorded one); otherwise checked before the store's
        first use. ``create`` and ``Memory`` check when they open. Reads only. A graph store, when
        configured, is connected too (:meth:`~mem7_core.providers.GraphStore.connect`): an
        unreachable graph server, wrong credentials or an unknown database fail here.

        :raises ConfigError: naming both embedders and the ways out; or the graph store's refused
            credentials or database.
        :raises ProviderError: the graph server cannot be reached.
        """
        await self._check_store()
        if self.graph_store is not None:
            await self.graph_store.connect()

    @classmethod
    def from_config(
        cls, config_dict: MemoryConfig | Mapping[str, Any] | str | Path | None = None, **kwargs: Any
    ) -> AsyncMemory:
        """Build from a config object, a dict (ours, mem0's or the original mem7's shape) or a config
        file path. mem0 names the argument ``config_dict``; ``config=`` is accepted too."""
        return cls(_config_arg(config_dict, kwargs), **kwargs)

    async def aclose(self) -> None:
        """Wait for background rehearsals, then close the providers this engine built. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        for provider in reversed(self._owned):
            try:
                await provider.aclose()
            except Exception as exc:
                log.warning("closing %r failed: %s", provider, exc)

    async def drain(self) -> None:
        """Wait until every background task (rehearsal) has finished."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(
            f"{k}={getattr(p, 'name', None)!r}"
            for k, p in (("llm", self.llm), ("embedder", self.embedder), ("vector_store", self.vector_store))
        )
        return f"<AsyncMemory {names}>"

    def _now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ usage
    @property
    def usage(self) -> UsageReport:
        """This engine's model calls and tokens since it was built or :meth:`reset_usage` (every
        operation's ``usage`` added up, by provider and model). Safe from any thread or task."""
        return self._meter.totals.to_dict()  # type: ignore[return-value]  # the UsageReport shape

    def reset_usage(self) -> UsageReport:
        """Start the running totals (:attr:`usage`) again from zero; returns them as they were."""
        return self._meter.totals.reset()  # type: ignore[return-value]  # the UsageReport shape

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background set (awaited by :meth:`drain` and :meth:`aclose`)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------------ add
    @traced("add")
    async def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
        infer: bool = True,
        memory_type: str | None = None,
        prompt: str | None = None,
        enable_graph: bool | None = None,
        timestamp: datetime | str | float | None = None,
    ) -> AddResponse:
        """Remember what matters in ``messages`` for this scope.

        :param messages: a string, a ``{role, content}`` dict, or a list of dicts, pairs or strings.
        :param metadata: stored with every memory this call creates (reserved keys are refused).
        :param filters: scope ids given the mem0 way (``{"user_id": ...}``); other keys are refused.
        :param infer: ``False`` stores the non-system messages verbatim, one memory each.
        :param memory_type: force the type of every memory stored (factual, preference, procedural,
            episodic; ``procedural_memory`` is accepted).
        :param prompt: a fact-extraction prompt for this call only.
        :param enable_graph: mem0's switch. ``False`` skips the graph path for this call; ``True``
            requires a graph store (else ``ConfigError``); ``None`` (default): the graph path runs
            when a graph store is configured.
        :param timestamp: when the conversation happened (importing an old one), else now: an aware
            ``datetime``; a naive one or an ISO-8601 string without offset (UTC); a date-only
            string (midnight UTC); or Unix epoch seconds (an int or float; milliseconds are
            refused). Memories this call creates get it as ``created_at`` and ``updated_at``,
            memories it updates as ``updated_at``; the LLM's "today" is its date; history keeps
            it as ``stated_at`` beside the wall-clock ``created_at``.
        :returns: ``{"results": [MemoryAction], "relations": [GraphRelationResult]}`` as plain dicts
            (relations: the graph's new or bumped triples, when a graph store is configured).
        """
        if not isinstance(infer, bool):
            raise ValueError(f"infer must be true or false, got {infer!r}")
        scope, rest = inputs.scope_of(user_id, agent_id, run_id, filters, operation="add()")
        if rest is not None:
            raise FilterError("add() takes only scope ids in filters (user_id, agent_id, run_id)")
        if enable_graph and self.graph is None:
            raise ConfigError(
                "add(enable_graph=True) needs a graph store; configure one, e.g. "
                "graph_store={'provider': 'flat'}, or leave enable_graph unset"
            )
        meta = check_metadata(metadata)
        forced_type = inputs.memory_type(memory_type)
        stated_at = parse_instant(timestamp, "timestamp") if timestamp is not None else None
        check_str(prompt, "prompt")
        normalised = normalise_messages(messages)
        check_messages(normalised, self.config.limits)  # sizes before anything else reads them
        check_text(prompt, "prompt", self.config.limits)
        check_metadata_size(meta, self.config.limits)
        for i, m in enumerate(normalised):  # valid Unicode only: a stored surrogate breaks every read
            check_tree(m["content"], f"messages[{i}].content")
            check_str(m.get("name"), f"messages[{i}].name")
        msgs = [m for m in normalised if m["role"] != "system"]
        if not msgs:
            return AddResult(results=[]).to_dict()  # type: ignore[return-value]
        if infer and self.llm is None:
            if not self._warned_no_llm:
                log.warning("add: no LLM configured; storing messages verbatim (infer=False)")
                self._warned_no_llm = True
            infer = False
        request = AddRequest(
            msgs=msgs,
            scope=scope,
            metadata=meta,
            forced_type=forced_type,
            prompt=prompt,
            infer=infer,
            with_graph=self.graph is not None and enable_graph is not False,
            stated_at=stated_at,
        )
        with _budget.budget(self.config.operation_timeout_secs), _usage.operation() as used:
            result = await self._write_path.run(request)  # one time budget for the add's LLM calls
        out: AddResponse = scrub(result.to_dict())
        if used:
            out["usage"] = used.to_dict()  # type: ignore[typeddict-item]  # a UsageReport's plain dict
        return out

    # ------------------------------------------------------------------ search
    @traced("search")
    async def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        top_k: int | None = None,
        rerank: bool = True,
        threshold: float | None = None,
        task_type: str | None = None,
        now: datetime | str | float | None = None,
        explain: bool = False,
        rehearse: bool = True,
    ) -> SearchResponse:
        """The memories of this scope most relevant to ``query``, best first.

        :param filters: metadata filters (spec §7); scope ids in it count as scope.
        :param top_k: mem0's name for ``limit`` (``search(q, filters={"user_id": ...}, top_k=5)``).
        :param rerank: use the configured reranker (if any).
        :param threshold: drop hits whose final score is below it (the fused score in hybrid mode,
            after rerank and scorers; see ``retrieval`` in the config).
        :param task_type: skip query classification and use this task type for context scoring.
        :param now: search as of this time (a datetime, ISO-8601 text with or without offset (none
            means UTC; a date means its midnight UTC), or Unix epoch seconds): what the query's "last
            week" or "two days ago" counts from (the ``temporal`` scorer) and the decay clock.
            Default: the engine's clock. Rehearsal still stamps the engine's clock.
        :param explain: give each result ``score_parts`` (the named numbers behind its score: cosine,
            keyword score, decay factor, ...) and ``score_steps`` (how they combine into ``score``).
        :param rehearse: with decay on, a search counts as an access of what it returns (access count
            + 1, last access stamped: the memory is remembered longer). ``False`` looks without
            touching: nothing is written (the dashboard's playground, an operator's inspection).
        :returns: ``{"results": [MemoryItem], "memories": same, "relations": [GraphRelationResult with score]}``
            (relations when a graph store is configured; a failing graph path gives ``[]``).
        """
        check_text(query, "query", self.config.limits)
        inputs.non_empty_text(query, "query")
        check_str(task_type, "task_type")
        clock = self._now()
        as_of = clock if now is None else parse_instant(now, "now")
        limit = inputs.positive_int(inputs.limit_or_top_k(limit, top_k))
        if threshold is not None and (
            not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold)
        ):  # NaN would drop every result without a word; inf too
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        if not isinstance(explain, bool):
            raise ValueError(f"explain must be true or false, got {explain!r}")
        if not isinstance(rehearse, bool):
            raise ValueError(f"rehearse must be true or false, got {rehearse!r}")
        scope, node = inputs.scope_of(user_id, agent_id, run_id, filters, operation="search()")
        query_ = Query(
            text=query,
            scope=scope,
            node=node,
            limit=limit,
            rerank=rerank,
            threshold=threshold,
            task_type=task_type,
            now=as_of,
            accessed_at=clock,
            explain=explain,
            rehearse=rehearse,
        )
        with _usage.operation() as used:
            items, relations = await self._read_path.run(query_)
        out: dict[str, Any] = {"results": items, "memories": items,
                               "relations": scrub([r.to_dict() for r in relations])}
        if used:
            out["usage"] = used.to_dict()
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ read by id / list
    @traced("get")
    async def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MemoryItem | None:
        """One memory by id, or ``None``. With a scope given, a memory of another scope is ``None``."""
        scope, _ = inputs.scope_of(user_id, agent_id, run_id, required=False)
        record = await self._view.get(memory_id)
        if record is None or not scope.matches(record.payload):
            return None
        return item_from_payload(record.id, record.payload).to_dict()  # type: ignore[return-value]

    @traced("get_all")
    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = 100,
        top_k: int | None = None,
    ) -> ListResponse:
        """The memories of a scope passing ``filters``, oldest first, at most ``limit``.

        :param limit: at most this many; ``None``: all of them (as the original mem7's ``get_all``).
        :param top_k: mem0's name for ``limit``.
        """
        limit = inputs.limit_or_top_k(limit, top_k, none_is_all=True)
        scope, node = inputs.scope_of(user_id, agent_id, run_id, filters, operation="get_all()")
        records = await self._view.records(scope, node, limit)
        listed = [item_from_payload(r.id, r.payload).to_dict() for r in records]
        relations: list[Relation] | None = await self.graph.get_all(scope, limit) if self.graph is not None else None
        out: dict[str, Any] = {"results": listed, "memories": listed}
        if relations is not None:
            out["relations"] = scrub([r.to_dict() for r in relations])
        return out  # type: ignore[return-value]

    @traced("history")
    async def history(self, memory_id: str) -> list[HistoryEntry]:
        """Every ADD / UPDATE / DELETE of one memory, oldest first."""
        inputs.non_empty_text(memory_id, "memory_id")
        return scrub([e.to_dict() for e in await self.history_store.get(memory_id)])  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ bulk restore / export
    @traced("export_memories")
    async def export_memories(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> list[MemoryItem]:
        """Every memory of a scope, or of the whole store when no id is given, oldest first.

        Unlike ``get_all`` there is no limit and no scope is required: this is the backup side
        of :meth:`import_memories` (``mem7 export``), an operator's tool rather than an agent's.
        """
        scope, _ = inputs.scope_of(user_id, agent_id, run_id, required=False)
        records = await self.vector_store.list(scope=scope, limit=None)
        return [item_from_payload(r.id, r.payload).to_dict() for r in records]  # type: ignore[misc]

    @traced("import_memories")
    async def import_memories(
        self,
        items: Iterable[Mapping[str, Any] | Item],
        *,
        on_conflict: OnConflict = "skip",
        batch_size: int = IMPORT_BATCH_SIZE,
    ) -> ImportResponse:
        """Restore memories verbatim: their ids, scope, metadata, timestamps and access counters.

        No LLM is asked and nothing is deduplicated: this is the restore side of
        :meth:`export_memories` (``mem7 import``). Each item is a memory as ``get_all`` returns it
        (see :mod:`mem7_core.engine.restore`); a missing ``id`` gets a new one, a missing
        ``created_at`` is now. Every item is checked before anything is written.

        Batches of ``batch_size`` items are embedded in one call and written all-or-nothing under
        their scopes' locks (history first, then vectors, undone together on a failure, as every
        write); a failing batch stops the call, the batches before it stay written.

        :param on_conflict: what to do with an id already stored: ``"skip"`` (leave the stored
            memory; importing a file twice changes nothing), ``"replace"`` (overwrite it, possibly
            into another scope; history gets an UPDATE event), ``"error"`` (raise
            :class:`MemoryConflictError` before writing anything).
        :returns: ``{"imported", "replaced", "skipped"}`` counts.
        :raises ValueError: a bad item, named as ``items[i].field``; a bad ``on_conflict``.
        :raises MemoryConflictError: ``on_conflict="error"`` and an id is already stored.
        """
        if on_conflict not in ON_CONFLICT:
            raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, got {on_conflict!r}")
        inputs.positive_int(batch_size, "batch_size")
        limits = self.config.limits
        if isinstance(items, Iterable) and not isinstance(items, (str, bytes, Mapping)):
            items = list(itertools.islice(iter(items), limits.max_import_items + 1))
            check_item_count(len(items), limits)
        restored = check_items(items, iso(self._now()))
        for r in restored:
            check_text(r.text, f"items[{r.index}].memory", limits)
            meta_of = {k: v for k, v in r.payload.items() if k not in RESERVED_PAYLOAD_KEYS}
            check_metadata_size(meta_of, limits, f"items[{r.index}].metadata")
        with _usage.operation() as used:
            result = await self._import.run(restored, on_conflict, batch_size)
        out = result.to_dict()
        if used:
            out["usage"] = used.to_dict()
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ change by id
    @traced("update")
    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        *,
        data: str | None = None,
        new_text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> MessageResponse:
        """Replace a memory's text (re-embedded; created_at kept) and merge ``metadata`` into its own.

        :param data: mem0's name for ``text``; ``new_text``: the original mem7's.
        :raises MemoryNotFoundError: no such memory (in the given scope, when one is given).
        """
        given = {k: v for k, v in (("text", text), ("data", data), ("new_text", new_text)) if v is not None}
        texts = list(given.values())
        if any(t != texts[0] for t in texts):
            raise ValueError(f"update() got {' and '.join(given)}, one argument under several names; pass one")
        text = texts[0] if texts else None
        check_text(text, "text", self.config.limits)
        text = inputs.non_empty_text(text, "text")
        meta = check_metadata(metadata)
        check_metadata_size(meta, self.config.limits)
        scope, _ = inputs.scope_of(user_id, agent_id, run_id, required=False)
        with _usage.operation() as used:
            await self._edit.update(memory_id, text, meta, scope)
        out: MessageResponse = {"message": f"Memory {memory_id} updated"}
        if used:
            out["usage"] = used.to_dict()  # type: ignore[typeddict-item]  # a UsageReport's plain dict
        return out

    @traced("delete")
    async def delete(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MessageResponse:
        """Delete one memory (history keeps a DELETE event).

        :raises MemoryNotFoundError: no such memory (in the given scope, when one is given).
        """
        scope, _ = inputs.scope_of(user_id, agent_id, run_id, required=False)
        await self._edit.delete(memory_id, scope)
        return {"message": f"Memory {memory_id} deleted"}

    @traced("delete_all")
    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> MessageResponse:
        """Delete every memory of a scope (a scope is required: ``reset()`` wipes everything)."""
        scope, node = inputs.scope_of(user_id, agent_id, run_id, filters, operation="delete_all()")
        count = await self._edit.delete_all(scope, node)
        if self.graph is not None and node is None:  # a metadata filter selects memories, not relations
            await self.graph.delete_all(scope)
        return {"message": f"Deleted {count} {'memory' if count == 1 else 'memories'}"}

    @traced("reset")
    async def reset(self) -> MessageResponse:
        """Delete every memory and every history event of this engine's stores."""
        await self.drain()
        await self.vector_store.reset()
        if self.retriever is not None:
            self.retriever.indexes.invalidate()
        await self.history_store.reset()
        if self.graph is not None:
            await self.graph.reset()
        return {"message": "Memory store reset"}


__all__ = ["AsyncMemory"]
