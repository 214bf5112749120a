"""``AsyncMemory``: the engine. One async implementation; :class:`mem7_core.Memory` wraps it for sync code.

Write path (``add`` with ``infer=True``, spec §3)::

    extract facts (LLM 1) → embed facts (1 batch) → each fact's candidates (one ``search_many`` round)
    → [write-path scorers order and cut them] → decide (LLM 2, integer ids) → plan
    → embed the texts to write (1 batch)
    → under the scope's lock: re-validate targets, history (one atomic batch) then vectors;
      on a vector failure, undo and drop the events.

    ``add_mode="one_call"``: embed the conversation's sentences (1 batch) → their candidates
    (one ``search_many``) → one LLM call returns facts and decisions → plan, embed, apply as above.

Read path (``search``, spec §6)::

    embed query ‖ scorers' prepare (e.g. classify the query) → retrieval in scope: vector search,
    BM25 and their fusion by default (``mem7_core.retrieval``), or vector search alone
    → rerank (fallback: keep order) → scorers in order (re-sort after each) → threshold → limit
    → rehearsal in the background (never delays the result, writes no history).

Every successful write also updates the per-scope keyword indexes (built lazily on first search).

Nothing here holds a lock across an LLM or embedding call: concurrent adds overlap fully, and
only writes to one scope are serialised (what that ordering guarantees: ``locks.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .. import deadline as _budget
from ..config import GraphStoreConfig, MemoryConfig, default_data_dir, load_config
from ..errors import (
    ConfigError,
    FilterError,
    LLMOutputError,
    MemoryConflictError,
    MemoryNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ScopeError,
    StoreConflictError,
)
from ..filters import Filter, evaluate, operators_of, parse_filters, split_scope
from ..ids import iso, text_hash, utc_now, uuid7
from ..models import (
    MEMORY_TYPES,
    RESERVED_PAYLOAD_KEYS,
    SCOPE_KEYS,
    ActionResult,
    AddResult,
    HistoryEvent,
    Item,
    Relation,
    Scope,
    ScoredRecord,
    VectorRecord,
    memory_type_of,
)
from ..plugins import PluginRegistry, get_registry
from ..providers import Embedder, GraphStore, HistoryStore, LLM, Reranker, Scorer, VectorStore, WriteBatch
from ..providers.graph_store import GraphRelation
from ..providers.scorer import QueryContext, ScoredHit
from ..retrieval.hybrid import HybridRetriever
from ..unicode_safe import check_str, check_tree, scrub
from . import prompts
from ..telemetry import traced
from .assembly import build_providers, wait_closing
from .graph import GraphMemory
from .inference import (
    Decision,
    Fact,
    Plan,
    norm_text,
    parse_decisions,
    parse_extract_and_decide,
    parse_facts,
    plan_changes,
    retrieval_queries,
)
from .limits import check_item_count, check_messages, check_metadata_size, check_text, gate
from .locks import ScopeLocks, WriteLog
from .messages import image_parts, normalise_messages, text_of
from .parsing import parse_json_object
from .records import check_metadata, item_from_payload, new_payload
from .restore import ON_CONFLICT, ImportResult, OnConflict, Restored, check_items
from ..results import (
    AddResponse,
    HistoryEntry,
    ImportResponse,
    ListResponse,
    MemoryItem,
    MessageResponse,
    SearchResponse,
)

log = logging.getLogger("mem7.engine")
T = TypeVar("T")

CONFLICT_ATTEMPTS = 8
"""How many times an operation is read and decided again when another process changed what it
read before it could commit (a :class:`StoreConflictError`)."""

Clock = Callable[[], datetime]
IMPORT_BATCH_SIZE = 64
"""Memories ``import_memories`` embeds and writes per batch (one embedding call, one history batch)."""
_WRITE_PATH_OVERFETCH = 3
"""With write-path scorers on, fetch this many times the candidates, then score and cut."""


def _memory_type(value: str | None) -> str | None:
    try:
        return memory_type_of(value)
    except ValueError:
        raise ValueError(f"memory_type must be one of {', '.join(MEMORY_TYPES)} (or None), got {value!r}") from None


def _check_text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    return check_str(value, field)


def _check_limit(value: Any, field: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field} must be a positive integer, got {value!r}")
    return value


MAX_FILTER_DEPTH = 64
"""How deep a filter may nest (AND / OR / NOT inside each other): parsing it recurses."""


def _check_filter_depth(filters: Mapping[str, Any] | None) -> None:
    """Refuse a filter nested deeper than :data:`MAX_FILTER_DEPTH` before it is parsed, so a
    hostile one (a REST body nested a thousand times) is a ``FilterError``, not a ``RecursionError``.
    Walked without recursion."""
    todo: list[tuple[Any, int]] = [(filters, 0)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(f"filters nest deeper than {MAX_FILTER_DEPTH} levels; flatten the AND / OR / NOT groups")
        todo.extend((child, depth + 1) for child in children)


def _config_arg(config_dict: Any, kwargs: dict[str, Any]) -> Any:
    """``from_config``'s config, given positionally, as ``config_dict=`` (mem0) or ``config=``."""
    if "config" in kwargs:
        if config_dict is not None:
            raise TypeError("from_config() got both config_dict and config; pass one")
        config_dict = kwargs.pop("config")
    if config_dict is None:
        raise TypeError("from_config() needs a config: a dict, a MemoryConfig or a config file path")
    return config_dict


def _with_json_hint(prompt: str, shape: str) -> str:
    """JSON mode on OpenAI needs the word "json" in the prompt; custom prompts may lack it."""
    if "json" in prompt.lower():
        return prompt
    return f"{prompt}\n\nAnswer with JSON only, of this shape: {shape}"


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
        # Model calls share each provider fairly (limits.max_concurrent_provider_calls, chunked embeds).
        limits = self.config.limits
        parts.llm, parts.embedder, parts.reranker = gate(parts.llm, limits), gate(parts.embedder, limits), gate(parts.reranker, limits)
        parts.graph_llm = gate(parts.graph_llm, limits)
        self.llm: LLM | None = parts.llm
        self.embedder: Embedder = parts.embedder
        self.vector_store: VectorStore = parts.vector_store
        self.history_store: HistoryStore = parts.history
        self._atomic = parts.atomic_history
        """History lives in the vector store's database: each write is one ``commit``."""
        self.reranker: Reranker | None = parts.reranker
        self.scorers: list[Scorer] = parts.scorers
        self._owned = parts.owned
        self.graph_store: GraphStore | None = parts.graph_store
        self.graph: GraphMemory | None = self._graph_memory(parts.graph_store, parts.graph_llm or parts.llm)
        """The graph pipeline (spec §8) when a graph store is configured or given, else ``None``."""
        self._telemetry = parts.telemetry
        if self._telemetry is not None:  # spans for the @traced methods; nothing at all when disabled
            self._telemetry.instrument(self)
        self._clock: Clock = clock or utc_now
        self._locks = ScopeLocks()
        self._writes = WriteLog()  # what concurrent adds of a scope stored while another was deciding
        self._background: set[asyncio.Task[Any]] = set()
        self._warned_no_llm = False
        self._closed = False
        self._rehearses = any(s.rehearses for s in self.scorers)
        caps = self.vector_store.capabilities
        self._store_ops = set(caps.filter_operators) | ({"AND", "OR", "NOT"} if caps.logical else set())
        self.retriever: HybridRetriever | None = (
            HybridRetriever(self.config.retrieval, self.vector_store, self._store_search)
            if self.config.retrieval.uses_index
            else None
        )
        """Hybrid retrieval and its per-scope keyword indexes (``None`` in plain dense mode)."""
        if data_dir is not None:
            self._log_default_location(data_dir)

    def _log_default_location(self, data_dir: Path) -> None:
        vectors = self.config.vector_store.config.get("path") if self.config.vector_store.provider == "flat" else None
        if self._atomic:
            where = f"vectors and history in {vectors or data_dir} (one SQLite database)"
        else:
            history = self.config.history_store.config.get("path")
            where = f"vectors: {self.config.vector_store.provider} {vectors or ''}, history: {self.history_store.name} {history or ''}"
        log.info(
            "mem7: no config given; the embedded default in %s: %s; embedder %s; LLM %s",
            data_dir, where, self.embedder.name, self.llm.name if self.llm is not None else "none (add() stores verbatim)",
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    async def create(cls, config: MemoryConfig | Mapping[str, Any] | str | Path | None = None, **kwargs: Any) -> AsyncMemory:
        """Same as ``AsyncMemory(config, ...)``; kept for code written against mem0's ``AsyncMemory``."""
        try:
            return cls(config, **kwargs)
        except BaseException:
            await wait_closing()  # a failed build has closed what it opened before we return
            raise

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

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(
            f"{k}={getattr(p, 'name', None)!r}"
            for k, p in (("llm", self.llm), ("embedder", self.embedder), ("vector_store", self.vector_store))
        )
        return f"<AsyncMemory {names}>"

    # ------------------------------------------------------------------ scope and filters
    def _scope(
        self,
        user_id: str | None,
        agent_id: str | None,
        run_id: str | None,
        filters: Mapping[str, Any] | None = None,
        *,
        required: bool = True,
        operation: str = "this operation",
    ) -> tuple[Scope, Filter | None]:
        """The caller's scope (arguments plus scope ids given in ``filters``) and the parsed rest.

        :raises ScopeError: when no id is given (and one is required) or arguments and filters disagree.
        :raises FilterError: when the filter is malformed.
        """
        if filters is not None and not isinstance(filters, Mapping):
            raise FilterError(f"filters must be a dict, got {type(filters).__name__}")
        _check_filter_depth(filters)
        check_tree(filters, "filters", FilterError)
        from_filters, rest = split_scope(filters, SCOPE_KEYS)
        ids: dict[str, str | None] = {}
        for key, given in zip(SCOPE_KEYS, (user_id, agent_id, run_id)):
            in_filter = from_filters.get(key)
            if given is not None and in_filter is not None and given != in_filter:
                raise ScopeError(f"{key} is {given!r} but filters say {in_filter!r}; pass one of them")
            ids[key] = check_str(given if given is not None else in_filter, key)
        try:
            scope = Scope(**ids)
        except ValueError as exc:
            raise ScopeError(str(exc)) from exc
        if required and scope.is_empty:
            raise ScopeError(
                f"{operation} needs at least one of user_id, agent_id or run_id "
                "(e.g. user_id='alice'); reset() wipes everything"
            )
        return scope, parse_filters(rest)

    def _check_owner(self, memory_id: str, payload: Mapping[str, Any], scope: Scope) -> None:
        """By-id operations given a scope only touch memories of that scope (else: not found)."""
        if not scope.is_empty and not scope.matches(payload):
            raise MemoryNotFoundError(memory_id)

    @staticmethod
    def _payload_scope(payload: Mapping[str, Any]) -> Scope:
        return Scope(**{k: payload.get(k) for k in SCOPE_KEYS})

    def _now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ store access
    async def _store_search(self, vector: Any, scope: Scope, limit: int, node: Filter | None) -> list[ScoredRecord]:
        """Search with the filter pushed down when the store can evaluate all of it; else here."""
        if node is None or operators_of(node) <= self._store_ops:
            return await self.vector_store.search(vector, scope=scope, limit=limit, filters=node)
        # The store cannot evaluate this filter: rank the whole scope, filter here, never ignore it.
        total = await self.vector_store.count(scope=scope)
        if total == 0:
            return []
        hits = await self.vector_store.search(vector, scope=scope, limit=total, filters=None)
        return [h for h in hits if evaluate(node, h.payload)][:limit]

    async def _store_list(self, scope: Scope, node: Filter | None, limit: int | None) -> list[VectorRecord]:
        if node is None or operators_of(node) <= self._store_ops:
            return await self.vector_store.list(scope=scope, filters=node, limit=limit)
        records = [r for r in await self.vector_store.list(scope=scope) if evaluate(node, r.payload)]
        return records if limit is None else records[:limit]

    async def _owned_record(self, memory_id: str, scope: Scope) -> VectorRecord:
        """The stored record, still the caller's (a restore may have moved it), read under its lock.

        :raises MemoryNotFoundError: gone, or not in ``scope``.
        """
        record = await self._get_record(memory_id)
        if record is None:
            raise MemoryNotFoundError(memory_id)
        self._check_owner(memory_id, record.payload, scope)
        return record

    async def _get_record(self, memory_id: str) -> VectorRecord | None:
        if not isinstance(memory_id, str) or not memory_id:
            raise ValueError(f"memory_id must be a non-empty string, got {memory_id!r}")
        check_str(memory_id, "memory_id")
        found = await self.vector_store.get([memory_id])
        return found[0] if found else None

    # ------------------------------------------------------------------ LLM calls
    async def _ask_json(
        self, messages: list[dict[str, Any]], parse: Callable[[dict[str, Any]], Any], what: str, *, llm: LLM | None = None
    ) -> Any:
        """One JSON-mode call, retried ``llm_retries`` times on a failed call or unreadable answer.

        :param llm: ask this LLM instead of the engine's (the graph's own ``graph_store.llm``).
        :raises LLMOutputError: the answer could not be read after the retries (nothing is written).
        :raises ProviderError: the LLM itself kept failing (server down, timeout), naming it.
        """
        llm = llm or self.llm
        assert llm is not None
        attempts = 1 + self.config.llm_retries
        last: Exception | None = None
        for attempt in range(attempts):
            left = _budget.remaining()
            if left is not None and left <= 0:
                raise ProviderTimeoutError(
                    llm.name, f"{what}: the operation's time budget (operation_timeout_secs="
                    f"{self.config.operation_timeout_secs:g}) ran out after {attempt} LLM attempt(s)"
                ) from last
            try:
                if left is None:
                    resp = await llm.generate(messages, response_format="json", temperature=0.0)
                else:
                    async with asyncio.timeout(left) as scope:
                        resp = await llm.generate(messages, response_format="json", temperature=0.0)
            except TimeoutError as exc:  # the budget ran out mid-call: not asked again
                if left is None or not scope.expired():
                    raise
                raise ProviderTimeoutError(
                    llm.name, f"{what}: no answer from the LLM within the operation's time budget "
                    f"(operation_timeout_secs={self.config.operation_timeout_secs:g}; attempt {attempt + 1})"
                ) from exc
            except ProviderError as exc:
                if not exc.retryable or isinstance(exc, ProviderTimeoutError):  # 401, 403, 404, 400 / budget spent
                    raise
                last = exc
                log.warning("%s: LLM call failed (attempt %d/%d): %s", what, attempt + 1, attempts, exc)
                continue
            try:
                return parse(parse_json_object(resp.content))
            except ValueError as exc:
                last = exc
                log.warning("%s: unreadable LLM answer (attempt %d/%d): %s", what, attempt + 1, attempts, exc)
        if isinstance(last, ProviderError) and not isinstance(last, LLMOutputError):
            raise last
        raise LLMOutputError(
            llm.name,
            f"{what}: the LLM's answer could not be read after {attempts} attempt(s): {last}. "
            "Nothing was stored. Check the model supports JSON output, or raise llm_retries.",
        ) from last

    async def _describe_images(self, msgs: list[dict[str, Any]]) -> list[str]:
        """Each message's text, with a description of each of its images appended (vision LLMs)."""
        texts = [text_of(m["content"]) for m in msgs]
        if self.llm is None or not getattr(self.llm.capabilities, "vision", False):
            return texts
        jobs: list[tuple[int, dict[str, Any]]] = [(i, part) for i, m in enumerate(msgs) for part in image_parts(m["content"])]
        if not jobs:
            return texts

        async def describe(part: dict[str, Any]) -> str:
            resp = await self.llm.generate(  # type: ignore[union-attr]
                [
                    {"role": "system", "content": prompts.DESCRIBE_IMAGE_PROMPT},
                    {"role": "user", "content": [part]},
                ],
                max_tokens=300,
            )
            return resp.content.strip()

        described = await asyncio.gather(*(describe(p) for _, p in jobs), return_exceptions=True)
        for (i, _), text in zip(jobs, described):
            if isinstance(text, BaseException):
                log.warning("add: describing an image failed (%s); the image is left out", text)
                continue
            if text:
                texts[i] = f"{texts[i]}\n[image: {text}]".strip()
        return texts

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
        :returns: ``{"results": [MemoryAction], "relations": [GraphRelationResult]}`` as plain dicts
            (relations: the graph's new or bumped triples, when a graph store is configured).
        """
        scope, rest = self._scope(user_id, agent_id, run_id, filters, operation="add()")
        if rest is not None:
            raise FilterError("add() takes only scope ids in filters (user_id, agent_id, run_id)")
        if enable_graph and self.graph is None:
            raise ConfigError(
                "add(enable_graph=True) needs a graph store; configure one, e.g. "
                "graph_store={'provider': 'flat'}, or leave enable_graph unset"
            )
        meta = check_metadata(metadata)
        forced_type = _memory_type(memory_type)
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
        if not infer:
            vector_path = self._add_verbatim(msgs, scope, meta, forced_type)
        else:
            vector_path = self._add_inferred(msgs, scope, meta, forced_type, prompt)
        with _budget.budget(self.config.operation_timeout_secs):  # one time budget for the add's LLM calls
            if self.graph is None or enable_graph is False:
                return scrub((await vector_path).to_dict())  # type: ignore[no-any-return]
            return scrub((await self._add_with_graph(vector_path, msgs, scope)).to_dict())  # type: ignore[no-any-return]

    def _graph_memory(self, store: GraphStore | None, llm: LLM | None) -> GraphMemory | None:
        if store is None:
            return None

        async def ask(messages: list[dict[str, Any]], parse: Callable[[dict[str, Any]], Any], what: str) -> Any:
            return await self._ask_json(messages, parse, what, llm=llm)

        return GraphMemory(
            store, llm=llm, embedder=self.embedder, config=self.config.graph_store or GraphStoreConfig(), ask=ask, spawn=self._spawn
        )

    async def _add_with_graph(self, vector_path: Awaitable[AddResult], msgs: list[dict[str, Any]], scope: Scope) -> AddResult:
        """The vector path ‖ the graph path (spec §8), both to the end, whatever the other does.

        Failure policy: the vector path decides. Its error propagates (its store is unchanged; the
        graph may have been written). A graph error after a successful vector path does not undo
        the committed memories: it is logged and reported in ``graph_error``, with no relations.
        """
        assert self.graph is not None
        lines = [f"{m['role']}: {t}" for m in msgs if (t := text_of(m["content"]).strip())]
        result, graph = await asyncio.gather(vector_path, self.graph.add(scope, lines, iso(self._now())), return_exceptions=True)
        if isinstance(result, BaseException):
            raise result
        if isinstance(graph, BaseException):
            if not isinstance(graph, Exception):
                raise graph
            log.error("add: the graph path failed (%s); the %d memory change(s) are kept", graph, len(result.results))
            return AddResult(results=result.results, graph_error=f"{type(graph).__name__}: {graph}")
        return AddResult(results=result.results, relations=graph)

    async def _add_verbatim(
        self, msgs: list[dict[str, Any]], scope: Scope, meta: dict[str, Any], forced_type: str | None
    ) -> AddResult:
        kept = [(m, text) for m in msgs if (text := text_of(m["content"]).strip())]
        if not kept:
            return AddResult(results=[])
        vectors = await self.embedder.embed([t for _, t in kept], purpose="add")
        now = iso(self._now())
        records: list[VectorRecord] = []
        events: list[HistoryEvent] = []
        for (m, text), vector in zip(kept, vectors):
            mem_id = uuid7()
            payload = new_payload(
                text, scope=scope, now=now, metadata=meta, memory_type=forced_type, role=m["role"], actor_id=m.get("name")
            )
            records.append(VectorRecord(id=mem_id, vector=vector, payload=payload))
            events.append(self._event(mem_id, None, text, "ADD", now, payload))
        async with self._locks.hold(scope.key()):
            await self._write(events, inserts=records)
        return AddResult(
            results=[
                ActionResult.model_construct(
                    id=r.id, memory=r.payload["data"], event="ADD", action="ADD", old_value=None, new_value=r.payload["data"]
                ).with_author(r.payload.get("role"), r.payload.get("actor_id"))
                for r in records
            ]
        )

    def _extraction_messages(self, msgs: list[dict[str, Any]], texts: list[str], scope: Scope, prompt: str | None) -> list[dict[str, Any]]:
        agent_mode = scope.agent_id is not None and any(m["role"] == "assistant" for m in msgs)
        today = self._now().date().isoformat()
        custom = prompt or self.config.custom_fact_extraction_prompt
        if custom:
            system = custom.replace("{today}", today)
            if "{today}" not in custom:
                system = f"{system}\n\nToday's date is {today}."
            system = _with_json_hint(system, '{"facts": [{"text": "...", "category": "factual"}]}')
            # Keep the task marker so logs and test doubles can tell the call apart.
            marker = prompts.AGENT_FACT_EXTRACTION_MARKER if agent_mode else prompts.FACT_EXTRACTION_MARKER
            if not system.startswith("# mem7:"):
                system = f"{marker}\n{system}"
        else:
            template = prompts.AGENT_FACT_EXTRACTION_PROMPT if agent_mode else prompts.USER_FACT_EXTRACTION_PROMPT
            system = template.format(today=today)
        lines = [f"{m['role']}: {t}" for m, t in zip(msgs, texts) if t.strip()]
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]

    async def _candidates(self, vectors: Sequence[Any], scope: Scope) -> list[tuple[str, str, dict[str, Any]]]:
        """The union of each vector's nearest memories in scope (a fact's; in one_call mode a
        sentence's), as ``(id, text, payload)``, oldest first. One ``search_many`` store round.

        With write-path scorers (decay), each fact's neighbours are over-fetched, re-scored and cut,
        so stale memories really drop out of what the LLM sees.
        """
        per_fact = self.config.candidates_per_fact
        write_scorers = [s for s in self.scorers if type(s).score_candidates is not Scorer.score_candidates]
        fetch = per_fact * _WRITE_PATH_OVERFETCH if write_scorers else per_fact
        found = await self.vector_store.search_many(vectors, scope=scope, limit=fetch)  # one store round
        now = self._now()
        union: dict[str, tuple[str, dict[str, Any]]] = {}
        for hits in found:
            if write_scorers:
                scored = [_hit(h) for h in hits]
                for s in write_scorers:
                    s.score_candidates(scored, now)
                scored.sort(key=lambda h: (-h.score, h.id))
                keep = {h.id for h in scored[:per_fact]}
                hits = [h for h in hits if h.id in keep]
            for h in hits:
                union.setdefault(h.id, (str(h.payload.get("data", "")), h.payload))
        # Deterministic presentation: by creation time, then id (UUIDv7 ids sort by creation too).
        ordered = sorted(union.items(), key=lambda kv: (str(kv[1][1].get("created_at") or ""), kv[0]))
        return [(mem_id, text, payload) for mem_id, (text, payload) in ordered]

    def _agent_mode(self, msgs: list[dict[str, Any]], scope: Scope) -> bool:
        """Remember the assistant's facts (not the user's): an agent scope and an assistant turn."""
        return scope.agent_id is not None and any(m["role"] == "assistant" for m in msgs)

    def _uses_one_call(self, prompt: str | None) -> bool:
        """One-call mode, unless a custom prompt written for one of the two calls is in play."""
        if self.config.add_mode != "one_call":
            return False
        return not (prompt or self.config.custom_fact_extraction_prompt or self.config.custom_update_memory_prompt)

    async def _add_inferred(
        self,
        msgs: list[dict[str, Any]],
        scope: Scope,
        meta: dict[str, Any],
        forced_type: str | None,
        prompt: str | None,
    ) -> AddResult:
        texts = await self._describe_images(msgs)
        key = scope.key()
        seen = self._writes.begin(key)  # before candidates are retrieved: later writes are unseen
        try:
            if self._uses_one_call(prompt):
                facts, plan, vector_of = await self._infer_one_call(msgs, texts, scope)
            else:
                facts, plan, vector_of = await self._infer_two_call(msgs, texts, scope, prompt)
            if not facts:
                return AddResult(results=[])
            # The new texts' vectors before the scope lock: nothing waits on an embedding call.
            vector_of = await self._embed_new_texts(plan, vector_of)
            return await self._apply(plan, facts, vector_of, scope, meta, forced_type, seen=seen)
        finally:
            self._writes.end(key, seen)

    async def _infer_two_call(
        self, msgs: list[dict[str, Any]], texts: list[str], scope: Scope, prompt: str | None
    ) -> tuple[list[Fact], Plan, dict[str, Any]]:
        """Extract (LLM 1) → embed the facts → their candidates → decide (LLM 2), as a plan."""
        facts: list[Fact] = await self._ask_json(
            self._extraction_messages(msgs, texts, scope, prompt), parse_facts, "fact extraction"
        )
        if not facts:
            return facts, Plan(), {}
        fact_vectors = list(await self.embedder.embed([f.text for f in facts], purpose="add"))
        vector_of = {f.text: v for f, v in zip(facts, fact_vectors)}
        pairs = [(mem_id, text) for mem_id, text, _ in await self._candidates(fact_vectors, scope)]
        open_facts = self._open_facts(facts, pairs)
        if not pairs or not open_facts:
            return facts, self._plan_without_llm(facts, pairs), vector_of
        system = self.config.custom_update_memory_prompt or prompts.UPDATE_MEMORY_PROMPT
        system = _with_json_hint(system, '{"memory": [{"id": "0", "text": "...", "event": "ADD|UPDATE|DELETE|NONE"}]}')
        if not system.startswith("# mem7:"):  # keep the task marker on a custom prompt too
            system = f"{prompts.UPDATE_MEMORY_MARKER}\n{system}"
        user = prompts.UPDATE_MEMORY_USER.format(
            existing="\n".join(f"{i}: {text}" for i, (_, text) in enumerate(pairs)),
            facts="\n".join(f"- {f.text}" for f in open_facts),
        )
        decisions = await self._ask_json(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            parse_decisions,
            "update decision",
        )
        return facts, plan_changes(decisions, facts, pairs), vector_of

    async def _infer_one_call(
        self, msgs: list[dict[str, Any]], texts: list[str], scope: Scope
    ) -> tuple[list[Fact], Plan, dict[str, Any]]:
        """Embed the conversation's sentences → their candidates → one LLM call for facts and decisions.

        The plan goes through the same :func:`plan_changes` as the two-call pipeline, so every guard
        holds here too: integer ids mapped back, unknown ids, facts the decisions left out, typing.
        """
        agent_mode = self._agent_mode(msgs, scope)
        speaker = "assistant" if agent_mode else "user"
        lines = [t for m, t in zip(msgs, texts) if m["role"] == speaker and t.strip()] or [t for t in texts if t.strip()]
        queries = retrieval_queries(lines)
        vectors = list(await self.embedder.embed(queries, purpose="add")) if queries else []
        vector_of = dict(zip(queries, vectors))  # a fact worded exactly as a sentence reuses its vector
        pairs = [(mem_id, text) for mem_id, text, _ in await self._candidates(vectors, scope)] if vectors else []
        template = prompts.AGENT_EXTRACT_AND_UPDATE_PROMPT if agent_mode else prompts.USER_EXTRACT_AND_UPDATE_PROMPT
        user = prompts.EXTRACT_AND_UPDATE_USER.format(
            existing="\n".join(f"{i}: {text}" for i, (_, text) in enumerate(pairs)) or prompts.NO_EXISTING_MEMORIES,
            conversation="\n".join(f"{m['role']}: {t}" for m, t in zip(msgs, texts) if t.strip()),
        )
        shown = bool(pairs)

        def parse(obj: dict[str, Any]) -> tuple[list[Fact], list[Decision]]:
            return parse_extract_and_decide(obj, decisions_required=shown)

        facts, decisions = await self._ask_json(
            [{"role": "system", "content": template.format(today=self._now().date().isoformat())}, {"role": "user", "content": user}],
            parse,
            "fact extraction and update decision",
        )
        if not facts:  # nothing worth remembering: nothing changes (as in two-call mode), whatever was decided
            return facts, Plan(), vector_of
        if not pairs or not self._open_facts(facts, pairs):
            return facts, self._plan_without_llm(facts, pairs), vector_of
        return facts, plan_changes(decisions, facts, pairs), vector_of

    @staticmethod
    def _open_facts(facts: list[Fact], pairs: list[tuple[str, str]]) -> list[Fact]:
        """The facts not already stored word for word among the candidates."""
        known = {norm_text(t) for _, t in pairs}
        return [f for f in facts if norm_text(f.text) not in known]

    @staticmethod
    def _plan_without_llm(facts: list[Fact], pairs: list[tuple[str, str]]) -> Plan:
        """No candidates: every fact is new. Every fact already stored word for word: nothing to do."""
        if not pairs:
            return Plan(adds=[(f.text, i) for i, f in enumerate(facts)])
        return Plan()

    async def _embed_new_texts(self, plan: Plan, vector_of: dict[str, Any]) -> dict[str, Any]:
        """Vectors for every text the plan may write (ADDs, UPDATEs' merged texts), one batch."""
        need = [t for t, _ in plan.adds] + [t for _, t, _ in plan.updates]
        missing = list(dict.fromkeys(t for t in need if t not in vector_of))
        if not missing:
            return vector_of
        return {**vector_of, **dict(zip(missing, await self.embedder.embed(missing, purpose="add")))}

    async def _apply(
        self,
        plan: Plan,
        facts: list[Fact],
        vector_of: dict[str, Any],
        scope: Scope,
        meta: dict[str, Any],
        forced_type: str | None,
        *,
        seen: int | None = None,
    ) -> AddResult:
        """Write ``plan`` under the scope's lock, re-checking it against writes made since ``seen``
        (the scope's :class:`WriteLog` position when this add retrieved its candidates)."""

        def type_of(idx: int | None) -> str | None:
            if forced_type:
                return forced_type
            return facts[idx].category if idx is not None else "factual"

        async def step() -> AddResult:
            async with self._locks.hold(scope.key()):
                return await self._apply_locked(plan, facts, vector_of, scope, meta, type_of, forced_type, seen)

        return await self._retrying(step)

    async def _apply_locked(
        self,
        plan: Plan,
        facts: list[Fact],
        vector_of: dict[str, Any],
        scope: Scope,
        meta: dict[str, Any],
        type_of: Callable[[int | None], str | None],
        forced_type: str | None,
        seen: int | None,
    ) -> AddResult:
        """:meth:`_apply`'s one attempt, under the scope's lock."""
        targets = {u[0] for u in plan.updates} | set(plan.deletes)
        # Memories concurrent adds stored after this one looked: an ADD of the same words is known.
        fresh = self._writes.since(scope.key(), seen) if seen is not None else {}
        twins = {fresh[k] for k in (norm_text(t) for t, _ in plan.adds + [(t, i) for _, t, i in plan.updates]) if k in fresh}
        wanted = targets | twins
        current = {r.id: r for r in await self.vector_store.get(sorted(wanted))} if wanted else {}
        adds = list(plan.adds)
        updates = []

        def unchanged(mem_id: str) -> bool:  # still there, in scope, with the text the LLM decided on
            rec = current.get(mem_id)
            decided_on = plan.seen.get(mem_id)
            return rec is not None and scope.matches(rec.payload) and (decided_on is None or rec.payload.get("data") == decided_on)

        for mem_id, text, idx in plan.updates:
            if unchanged(mem_id):
                updates.append((mem_id, text, idx))
            else:  # deleted or rewritten meanwhile by another writer: keep both, as a new memory
                log.warning("add: memory %s changed or vanished before its UPDATE; the text is added instead", mem_id)
                adds.append((text, idx))
        adds = [a for a in adds if not self._stored_meanwhile(a[0], fresh, current, scope)]
        deletes = [m for m in plan.deletes if unchanged(m)]
        if len(deletes) < len(plan.deletes):
            log.warning("add: %d DELETE(s) skipped: the memory changed or vanished since the LLM saw it", len(plan.deletes) - len(deletes))
        need = [t for t, _ in adds] + [t for _, t, _ in updates]
        missing = sorted({t for t in need if t not in vector_of})
        if missing:  # a caller that did not embed the plan first (``_embed_new_texts``)
            vector_of = {**vector_of, **dict(zip(missing, await self.embedder.embed(missing, purpose="add")))}
        now = iso(self._now())
        events: list[HistoryEvent] = []
        results: list[ActionResult] = []
        inserts: list[VectorRecord] = []
        for text, idx in adds:
            mem_id = uuid7()
            payload = new_payload(text, scope=scope, now=now, metadata=meta, memory_type=type_of(idx))
            inserts.append(VectorRecord(id=mem_id, vector=vector_of[text], payload=payload))
            events.append(self._event(mem_id, None, text, "ADD", now, payload))
            results.append(ActionResult.model_construct(id=mem_id, memory=text, event="ADD", action="ADD", old_value=None, new_value=text))
        changes: list[tuple[VectorRecord, VectorRecord]] = []
        for mem_id, text, idx in updates:
            old = current[mem_id]
            payload = dict(old.payload)
            payload.update(meta)  # stored metadata kept, the new merged over it
            old_text = str(old.payload.get("data", ""))
            payload.update(
                data=text,
                hash=text_hash(text),
                updated_at=now,
                access_count=int(old.payload.get("access_count") or 0) + 1,
            )
            if forced_type or idx is not None:
                payload["memory_type"] = type_of(idx)
            changes.append((old, VectorRecord(id=mem_id, vector=vector_of[text], payload=payload)))
            events.append(self._event(mem_id, old_text, text, "UPDATE", now, payload))
            results.append(ActionResult.model_construct(id=mem_id, memory=text, event="UPDATE", action="UPDATE", old_value=old_text, new_value=text))
        removed = [current[m] for m in deletes]
        for rec in removed:
            old_text = str(rec.payload.get("data", ""))
            events.append(self._event(rec.id, old_text, None, "DELETE", now, rec.payload))
            results.append(ActionResult.model_construct(id=rec.id, memory=old_text, event="DELETE", action="DELETE", old_value=old_text, new_value=None))
        await self._write(events, inserts=inserts, changes=changes, removes=removed)
        return AddResult(results=results)

    @staticmethod
    def _stored_meanwhile(text: str, fresh: dict[str, str], current: dict[str, VectorRecord], scope: Scope) -> bool:
        """Whether a concurrent add stored ``text`` (same words) in this scope after this add looked."""
        mem_id = fresh.get(norm_text(text))
        rec = current.get(mem_id) if mem_id is not None else None
        if rec is None or not scope.matches(rec.payload) or norm_text(str(rec.payload.get("data", ""))) != norm_text(text):
            return False
        log.info("add: a concurrent add stored the same fact meanwhile (memory %s); it is kept once", mem_id)
        return True

    # ------------------------------------------------------------------ writing
    @staticmethod
    def _event(
        memory_id: str, old: str | None, new: str | None, event: str, now: str, payload: Mapping[str, Any]
    ) -> HistoryEvent:
        # Built from values the engine made itself: no validation pass on the write path. Stored
        # text that is not valid Unicode (an older version's) is escaped, so history can take it.
        return HistoryEvent.model_construct(
            id=uuid7(),
            memory_id=memory_id,
            old_memory=scrub(old),
            new_memory=scrub(new),
            event=event,  # type: ignore[arg-type]
            created_at=now,
            updated_at=now,
            is_deleted=event == "DELETE",
            actor_id=scrub(payload.get("actor_id")),
            role=scrub(payload.get("role")),
        )

    async def _write(
        self,
        events: list[HistoryEvent],
        *,
        inserts: Sequence[VectorRecord] = (),
        changes: Sequence[tuple[VectorRecord, VectorRecord]] = (),
        removes: Sequence[VectorRecord] = (),
    ) -> None:
        """History first (one atomic batch), then vectors: inserts, updates, deletes.

        If a vector write fails, the vector writes already done are undone (deleted records that
        are gone are inserted again, re-embedded when the store returned no vector) and the history
        events removed, so store and history agree; the error then propagates. Deletes go last
        because their undo is the most expensive.
        """
        if not (events or inserts or changes or removes):
            return
        if self._atomic:
            await self._commit(events, inserts, changes, removes)
            return
        try:
            await self.history_store.add_events(events)
        except BaseException:
            # The batch may have landed before the error (a server that timed out on the reply):
            # remove it, so no event describes a write that did not happen. Ids unknown: a no-op.
            try:
                await self.history_store.delete_events([e.id for e in events])
            except Exception as undo_exc:
                log.error("could not remove the history events of a failed history write: %s", undo_exc)
            raise
        done_inserts: list[str] = []
        done_changes: list[VectorRecord] = []
        done_removes: list[VectorRecord] = []
        if self.retriever is not None:  # in flight: a search seeing them early is not a stale index
            self.retriever.indexes.writing.update(r.id for r in inserts)
        try:
            # Marked before the call: a write that lands and then raises (a timeout) is undone too;
            # undoing one that never landed is harmless (delete ignores unknown ids).
            if inserts:
                done_inserts = [r.id for r in inserts]
                await self.vector_store.insert(list(inserts))
            for old, new in changes:
                done_changes.append(old)
                await self.vector_store.update(new.id, vector=new.vector, payload=new.payload)
            if removes:
                done_removes = list(removes)
                await self.vector_store.delete([r.id for r in removes])
        except BaseException as exc:
            if self.retriever is not None:  # whatever the undo achieves, rebuild the touched scopes
                touched = [r.payload for r in inserts] + [r.payload for pair in changes for r in pair] + [r.payload for r in removes]
                self.retriever.indexes.invalidate_matching(touched)
                self.retriever.indexes.writing.difference_update(r.id for r in inserts)
            log.error("write failed half-way (%s); undoing %d insert(s) and %d update(s)", exc, len(done_inserts), len(done_changes))
            await self._undo(done_inserts, done_changes)
            if done_removes:  # a delete that landed and then raised (a timeout): put the records back
                await self._restore(done_removes)
            try:
                await self.history_store.delete_events([e.id for e in await self._not_stuck(events)])
            except Exception as undo_exc:
                log.error("could not remove the history events of a failed write: %s", undo_exc)
            raise
        self._written(inserts, changes, removes)
        if self.retriever is not None:
            self.retriever.indexes.writing.difference_update(r.id for r in inserts)

    def _written(
        self,
        inserts: Sequence[VectorRecord],
        changes: Sequence[tuple[VectorRecord, VectorRecord]],
        removes: Sequence[VectorRecord],
    ) -> None:
        """After a write landed: the keyword indexes follow it, and adds deciding in its scope
        learn which memory now holds which words."""
        if self.retriever is not None:
            self.retriever.indexes.apply(inserts=inserts, changes=changes, removes=removes)
        if len(self._writes):
            for rec in [*inserts, *(new for _, new in changes)]:
                self._writes.record(self._payload_scope(rec.payload).key(), [(norm_text(str(rec.payload.get("data", ""))), rec.id)])

    async def _commit(
        self,
        events: list[HistoryEvent],
        inserts: Sequence[VectorRecord],
        changes: Sequence[tuple[VectorRecord, VectorRecord]],
        removes: Sequence[VectorRecord],
    ) -> None:
        """The store keeps history in its own database: vectors and events in one transaction,
        so nothing needs undoing; then the keyword indexes follow."""
        expected: dict[str, Any] = {r.id: None for r in inserts}
        expected.update((old.id, old.payload) for old, _ in changes)
        expected.update((r.id, r.payload) for r in removes)
        batch = WriteBatch(
            inserts=list(inserts),
            updates=[new for _, new in changes],
            deletes=[r.id for r in removes],
            events=events,
            expected=expected,
        )
        await self.vector_store.commit(batch)
        self._written(inserts, changes, removes)

    async def _retrying(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step`` (read, decide, write) again when its commit finds that another process
        changed what it read (:class:`StoreConflictError`: nothing was written), a few times."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return await step()
            except StoreConflictError as exc:
                if attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                log.info("write conflict with another process (%s); reading again", exc)
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    async def _undo(self, inserted: list[str], changed: list[VectorRecord]) -> None:
        # Each step on its own: one failing undo must not stop the others.
        if inserted:
            try:
                await self.vector_store.delete(inserted)
            except Exception as exc:
                log.error("undo: could not remove %d inserted memories: %s", len(inserted), exc)
        for old in reversed(changed):
            try:
                vector = old.vector
                if vector is None:
                    vector = (await self.embedder.embed([str(old.payload.get("data", ""))], purpose="update"))[0]
                await self.vector_store.update(old.id, vector=vector, payload=old.payload)
            except Exception as exc:
                log.error("undo: could not restore memory %s: %s", old.id, exc)

    async def _not_stuck(self, events: list[HistoryEvent]) -> list[HistoryEvent]:
        """After a failed write and its undo, the events whose change is not in the store (to drop).

        An undo can fail too (the store still down): the events of changes that stuck are kept, so
        history keeps describing what the store holds. If the store cannot even be read, all go.
        """
        try:
            now = {r.id: r for r in await self.vector_store.get(list(dict.fromkeys(e.memory_id for e in events)))}
        except Exception as exc:
            log.error("could not read the store after a failed write (%s); dropping all its history events", exc)
            return events

        def stuck(e: HistoryEvent) -> bool:
            rec = now.get(e.memory_id)
            if e.event == "DELETE":
                return rec is None
            return rec is not None and rec.payload.get("data") == e.new_memory

        kept = [e for e in events if stuck(e)]
        if kept:
            log.error("%d change(s) of the failed write could not be undone; their history events are kept", len(kept))
        return [e for e in events if not stuck(e)]

    async def _restore(self, removed: Sequence[VectorRecord]) -> None:
        try:
            present = {r.id for r in await self.vector_store.get([r.id for r in removed])}
            gone = [r for r in removed if r.id not in present]
            if not gone:
                return
            bare = [r for r in gone if r.vector is None]
            vectors = dict(zip((r.id for r in bare), await self.embedder.embed([str(r.payload.get("data", "")) for r in bare], purpose="update"))) if bare else {}
            await self.vector_store.insert([VectorRecord(id=r.id, vector=r.vector if r.vector is not None else vectors[r.id], payload=r.payload) for r in gone])
        except Exception as exc:
            log.error("undo: could not restore %d deleted memories: %s", len(removed), exc)

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
        rerank: bool = True,
        threshold: float | None = None,
        task_type: str | None = None,
    ) -> SearchResponse:
        """The memories of this scope most relevant to ``query``, best first.

        :param filters: metadata filters (spec §7); scope ids in it count as scope.
        :param rerank: use the configured reranker (if any).
        :param threshold: drop hits whose final score is below it (the fused score in hybrid mode,
            after rerank and scorers; see ``retrieval`` in the config).
        :param task_type: skip query classification and use this task type for context scoring.
        :returns: ``{"results": [MemoryItem], "memories": same, "relations": [GraphRelationResult with score]}``
            (relations when a graph store is configured; a failing graph path gives ``[]``).
        """
        check_text(query, "query", self.config.limits)
        _check_text(query, "query")
        check_str(task_type, "task_type")
        _check_limit(limit)
        if threshold is not None and not isinstance(threshold, (int, float)):
            raise ValueError(f"threshold must be a number, got {threshold!r}")
        scope, node = self._scope(user_id, agent_id, run_id, filters, operation="search()")
        now = self._now()
        ctx = QueryContext(query=query, scope=scope, now=now, task_type=task_type, llm=self.llm)
        use_reranker = self.reranker is not None and rerank
        multiplier = (self.config.reranker.top_k_multiplier if self.config.reranker else 3) if use_reranker else 1
        fetch = limit * multiplier
        retriever = self.retriever
        keywords_only = retriever is not None and retriever.config.mode == "bm25"
        graph_search = self._start_graph_search(scope, query, limit)  # runs beside the whole vector path
        embedded, *states = await asyncio.gather(
            _no_vector() if keywords_only else self.embedder.embed([query], purpose="search"),
            *(self._prepare(s, ctx) for s in self.scorers),
        )
        if retriever is not None:
            found = await retriever.search(query, embedded[0], scope, node, fetch)
        else:
            found = await self._store_search(embedded[0], scope, fetch, node)
        hits = [_hit(h) for h in found]
        if use_reranker and hits:
            hits = await self._rerank(query, hits)
        for scorer, state in zip(self.scorers, states):
            scorer.score(hits, ctx, state)
            hits.sort(key=lambda h: -h.score)
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        hits = hits[:limit]
        items = [item_from_payload(h.id, h.payload, score=h.score) for h in hits]
        if self._rehearses and hits:
            self._spawn(self._rehearse([h.id for h in hits], scope, iso(now)))
        relations: list[Relation] = []
        if graph_search is not None and self.graph is not None:
            found_relations = await graph_search
            relations = self.graph.finish(
                found_relations, self.scorers, states, ctx, threshold=threshold, rehearse=self._rehearses, now=iso(now)
            )
        found_items = [item.to_dict() for item in items]
        return {"results": found_items, "memories": found_items, "relations": scrub([r.to_dict() for r in relations])}  # type: ignore[typeddict-item,misc]

    def _start_graph_search(self, scope: Scope, query: str, limit: int) -> asyncio.Task[list[GraphRelation]] | None:
        """The graph search as a background task (awaited by ``drain`` if the vector path raises)."""
        if self.graph is None:
            return None
        task = asyncio.ensure_future(self.graph.search(scope, query, limit))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _prepare(self, scorer: Scorer, ctx: QueryContext) -> Any:
        try:
            return await scorer.prepare(ctx)
        except Exception as exc:  # a scorer's preparation is best effort; its score() gets None
            log.warning("search: scorer %r failed to prepare: %s", scorer.name, exc)
            return None

    async def _rerank(self, query: str, hits: list[ScoredHit]) -> list[ScoredHit]:
        assert self.reranker is not None
        try:
            ranked = await self.reranker.rerank(query, [h.text for h in hits])
        except Exception as exc:
            log.warning("search: reranker %r failed (%s); keeping the vector order", self.reranker.name, exc)
            return hits
        out: list[ScoredHit] = []
        seen: set[int] = set()
        for r in ranked:
            if 0 <= r.index < len(hits) and r.index not in seen:
                seen.add(r.index)
                hit = hits[r.index]
                hit.score = float(r.score)
                out.append(hit)
        out.sort(key=lambda h: -h.score)
        return out

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _rehearse(self, ids: list[str], scope: Scope, now: str) -> None:
        """access_count + 1 and last_accessed_at = now for each returned memory; no history."""
        try:
            async with self._locks.hold(scope.key()):
                await self.vector_store.rehearse(ids, now)
        except Exception as exc:
            log.warning("rehearsal after search failed: %s", exc)

    # ------------------------------------------------------------------ read by id / list
    @traced("get")
    async def get(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MemoryItem | None:
        """One memory by id, or ``None``. With a scope given, a memory of another scope is ``None``."""
        scope, _ = self._scope(user_id, agent_id, run_id, required=False)
        record = await self._get_record(memory_id)
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
        limit: int = 100,
    ) -> ListResponse:
        """The memories of a scope passing ``filters``, oldest first, at most ``limit``."""
        _check_limit(limit)
        scope, node = self._scope(user_id, agent_id, run_id, filters, operation="get_all()")
        records = await self._store_list(scope, node, limit)
        items = [item_from_payload(r.id, r.payload) for r in records]
        relations = await self.graph.get_all(scope, limit) if self.graph is not None else None
        listed = [item.to_dict() for item in items]
        out: dict[str, Any] = {"results": listed, "memories": listed}
        if relations is not None:
            out["relations"] = scrub([r.to_dict() for r in relations])
        return out  # type: ignore[return-value]

    @traced("history")
    async def history(self, memory_id: str) -> list[HistoryEntry]:
        """Every ADD / UPDATE / DELETE of one memory, oldest first."""
        _check_text(memory_id, "memory_id")
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
        scope, _ = self._scope(user_id, agent_id, run_id, required=False)
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
        _check_limit(batch_size, "batch_size")
        limits = self.config.limits
        if isinstance(items, Iterable) and not isinstance(items, (str, bytes, Mapping)):
            items = list(itertools.islice(iter(items), limits.max_import_items + 1))
            check_item_count(len(items), limits)
        restored = check_items(items, iso(self._now()))
        for r in restored:
            check_text(r.text, f"items[{r.index}].memory", limits)
            meta_of = {k: v for k, v in r.payload.items() if k not in RESERVED_PAYLOAD_KEYS}
            check_metadata_size(meta_of, limits, f"items[{r.index}].metadata")
        result = ImportResult()
        if not restored:
            return result.to_dict()  # type: ignore[return-value]
        stored = {r.id for r in await self.vector_store.get([r.id for r in restored])}
        if on_conflict == "error" and stored:
            raise MemoryConflictError(sorted(stored))
        for start in range(0, len(restored), batch_size):
            batch = restored[start : start + batch_size]
            todo = batch if on_conflict == "replace" else [r for r in batch if r.id not in stored]
            result.skipped += len(batch) - len(todo)
            if not todo:
                continue
            vectors = await self.embedder.embed([r.text for r in todo], purpose="add")
            added, replaced, skipped = await self._restore_batch(todo, vectors, on_conflict)
            result.imported += added
            result.replaced += replaced
            result.skipped += skipped
        return result.to_dict()  # type: ignore[return-value]

    async def _restore_batch(self, todo: list[Restored], vectors: Sequence[Any], on_conflict: str) -> tuple[int, int, int]:
        return await self._retrying(lambda: self._restore_batch_once(todo, vectors, on_conflict))

    async def _restore_batch_once(self, todo: list[Restored], vectors: Sequence[Any], on_conflict: str) -> tuple[int, int, int]:
        """Write one checked, embedded batch under the locks of every scope it touches.

        A replaced memory may live in another scope than its import: that scope is locked too.
        The stored records are read again under the locks (a concurrent writer may have added or
        deleted one of the ids since the first look); should one have moved into a scope not yet
        locked, the locks are taken again with it.
        """
        keys = {r.scope.key() for r in todo}
        while True:
            async with AsyncExitStack() as stack:
                for key in sorted(keys, key=repr):  # one global order: two imports cannot deadlock
                    await stack.enter_async_context(self._locks.hold(key))
                current = {r.id: r for r in await self.vector_store.get([r.id for r in todo])}
                moved = {self._payload_scope(r.payload).key() for r in current.values()} - keys
                if moved and on_conflict == "replace":
                    keys |= moved
                    continue
                if current and on_conflict == "error":
                    raise MemoryConflictError(sorted(current))
                now = iso(self._now())
                events: list[HistoryEvent] = []
                inserts: list[VectorRecord] = []
                changes: list[tuple[VectorRecord, VectorRecord]] = []
                skipped = 0
                for item, vector in zip(todo, vectors):
                    record = VectorRecord(id=item.id, vector=vector, payload=item.payload)
                    old = current.get(item.id)
                    if old is None:
                        inserts.append(record)
                        events.append(self._event(item.id, None, item.text, "ADD", now, item.payload))
                    elif on_conflict == "replace":
                        changes.append((old, record))
                        events.append(self._event(item.id, str(old.payload.get("data", "")), item.text, "UPDATE", now, item.payload))
                    else:  # stored by a concurrent writer since the first look: left as it is
                        skipped += 1
                await self._write(events, inserts=inserts, changes=changes)
                return len(inserts), len(changes), skipped

    # ------------------------------------------------------------------ change by id
    @traced("update")
    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        *,
        data: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> MessageResponse:
        """Replace a memory's text (re-embedded; created_at kept) and merge ``metadata`` into its own.

        :param data: mem0's name for ``text``.
        :raises MemoryNotFoundError: no such memory (in the given scope, when one is given).
        """
        if text is None:
            text = data
        check_text(text, "text", self.config.limits)
        text = _check_text(text, "text")
        meta = check_metadata(metadata)
        check_metadata_size(meta, self.config.limits)
        scope, _ = self._scope(user_id, agent_id, run_id, required=False)
        key = self._payload_scope((await self._owned_record(memory_id, scope)).payload).key()
        vector = (await self.embedder.embed([text], purpose="update"))[0]

        async def step() -> None:
            async with self._locks.hold(key):
                record = await self._owned_record(memory_id, scope)
                old_text = str(record.payload.get("data", ""))
                now = iso(self._now())
                # scrub: an update repairs stored text/metadata that is not valid Unicode (escaped)
                payload = {**scrub(record.payload), **meta, "data": text, "hash": text_hash(text), "updated_at": now}
                event = self._event(memory_id, old_text, text, "UPDATE", now, payload)
                await self._write([event], changes=[(record, VectorRecord(id=memory_id, vector=vector, payload=payload))])

        await self._retrying(step)
        return {"message": f"Memory {memory_id} updated"}

    @traced("delete")
    async def delete(
        self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> MessageResponse:
        """Delete one memory (history keeps a DELETE event).

        :raises MemoryNotFoundError: no such memory (in the given scope, when one is given).
        """
        scope, _ = self._scope(user_id, agent_id, run_id, required=False)
        key = self._payload_scope((await self._owned_record(memory_id, scope)).payload).key()

        async def step() -> None:
            async with self._locks.hold(key):
                record = await self._owned_record(memory_id, scope)
                old_text = str(record.payload.get("data", ""))
                now = iso(self._now())
                await self._write([self._event(memory_id, old_text, None, "DELETE", now, record.payload)], removes=[record])

        await self._retrying(step)
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
        scope, node = self._scope(user_id, agent_id, run_id, filters, operation="delete_all()")

        async def step() -> list[VectorRecord]:
            async with self._locks.hold(scope.key()):
                records = await self._store_list(scope, node, None)
                now = iso(self._now())
                events = [self._event(r.id, str(r.payload.get("data", "")), None, "DELETE", now, r.payload) for r in records]
                await self._write(events, removes=records)
                return records

        records = await self._retrying(step)
        if self.graph is not None and node is None:  # a metadata filter selects memories, not relations
            await self.graph.delete_all(scope)
        return {"message": f"Deleted {len(records)} memories"}

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


async def _no_vector() -> list[None]:
    """Keyword-only search needs no query embedding."""
    return [None]


def _hit(record: ScoredRecord) -> ScoredHit:
    p = record.payload
    return ScoredHit(
        id=record.id,
        text=str(p.get("data", "")),
        score=float(record.score),
        memory_type=p.get("memory_type"),
        access_count=int(p.get("access_count") or 0),
        created_at=p.get("created_at"),
        updated_at=p.get("updated_at"),
        last_accessed_at=p.get("last_accessed_at"),
        payload=p,
    )


__all__ = ["AsyncMemory"]
