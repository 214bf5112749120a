"""QdrantVectorStore: mem7's vector store on Qdrant (a server, or qdrant-client's local mode).

- One collection, one unnamed dense vector per point, cosine distance (scores are cosine
  similarity). Created on first write (or adopted when it exists and is compatible).
- Point ids are ``uuid5(ID_NAMESPACE, mem7_id)``; the mem7 id is kept in the payload.
- Payloads are stored verbatim, plus a reserved ``_mem7`` object of derived index fields that let
  filters run in Qdrant with mem7's exact semantics (see :mod:`._encoding`, :mod:`._filters`).
- Scope ids are matched on the raw ``user_id``/``agent_id``/``run_id`` fields (keyword payload
  indexes, ``user_id`` as the tenant key) AND on their exact tokens.
- Writes are batched (``batch_size`` points per request) and wait for the write to be applied.
- Keyword search (``keyword_search: true``, the default): each point also carries a sparse vector
  of its text's words, BM25 term-frequency weights, in a sparse vector with Qdrant's IDF modifier;
  :meth:`QdrantVectorStore.keyword_search` ranks the scope by it inside Qdrant (IDF over the scope)
  and calibrates like :func:`mem7_core.retrieval.fusion.calibrate_bm25` (see :mod:`._keywords`).
- Server mode: every request has a timeout and is retried a bounded number of times on transient
  failures (connection errors, timeouts, 429, 502/503/504); all failures end as
  :class:`~mem7_core.errors.ProviderError` naming ``qdrant``.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models

from mem7_core.errors import MemoryNotFoundError, ProviderError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, ProviderConfig, VectorStore, VectorStoreCapabilities, check_vector
from mem7_core.providers.http import BudgetSpent, RetryPolicy, budget_error
from mem7_core.providers.keywords import BM25Index, calibrate_bm25

from . import _filters as qf
from ._encoding import (
    INDEX_FIELDS,
    RESERVED_KEY,
    clean_payload,
    decode_payload,
    encode_payload,
    order_key,
    point_id,
    sort_key,
)
from ._errors import Kind, classify, describe, retry_after
from ._keywords import KEYWORDS, KeywordParams, query_vector, text_of

log = logging.getLogger("mem7.qdrant")

T = TypeVar("T")

PROVIDER = "qdrant"

PUSHED_DOWN: frozenset[str] = frozenset({"eq", "ne", "in", "nin", "exists", "gt", "gte", "lt", "lte"})
"""Operators declared in ``capabilities``: Qdrant evaluates them exactly (see :mod:`._filters`).

``gt``/``gte``/``lt``/``lte`` are exact in Qdrant for numbers; for string bounds (no string ranges
in Qdrant) the store narrows to string values in Qdrant and re-checks each candidate itself.
``contains`` and ``icontains`` (substring, case folding) are left to the engine; the store still
answers them exactly if handed one directly (narrow in Qdrant, re-check here).
"""

_RESULT_PAYLOAD = models.PayloadSelectorExclude(exclude=[f"{RESERVED_KEY}.{f}" for f in INDEX_FIELDS])
_SCROLL_PAGE = 1000
_MAX_ORDERED_LIMIT = 10_000
_MAX_SEARCH_PAGE = 4096
_MAX_BACKOFF = 10.0


def _sparse_value(vectors: Any, index: int) -> float:
    """The value at ``index`` of a point's keyword sparse vector (0.0 when absent)."""
    sv = vectors.get(KEYWORDS) if isinstance(vectors, dict) else None
    if sv is None:
        return 0.0
    for i, v in zip(sv.indices, sv.values):
        if i == index:
            return float(v)
    return 0.0


class _Missing(Exception):
    """A request found no such point or collection (HTTP 404, gRPC NOT_FOUND, local KeyError)."""


class QdrantVectorStore(VectorStore):
    """mem7 vector store on Qdrant: a server (``url``/``host``), or local mode (``path``/``:memory:``)."""

    name = "qdrant"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=PUSHED_DOWN, logical=True, persistent=True, keyword_search=True
    )
    """``keyword_search`` follows the config (an instance with ``keyword_search: false`` declares it off)."""

    class Config(ProviderConfig):
        # ---- where: at most one of url / host / path / location (none: local, in memory)
        url: str | None = None
        """Server URL, e.g. ``http://localhost:6333`` or ``https://xyz.cloud.qdrant.io:6333``."""
        host: str | None = None
        """Server host name (with ``port``); alternative to ``url``."""
        port: int = Field(6333, ge=1, le=65535)
        grpc_port: int = Field(6334, ge=1, le=65535)
        prefer_grpc: bool = False
        https: bool | None = None
        api_key: SecretStr | None = None
        """Qdrant API key (server mode only). Kept out of reprs and logs."""
        path: str | None = None
        """Local mode persisted to this directory (qdrant-client's embedded mode; one process at a time)."""
        location: str | None = None
        """``":memory:"`` for local mode in memory; a URL here is the same as ``url``."""
        # ---- what
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
        dims: int | None = Field(None, ge=1, le=65536, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size; ``None`` takes it from an existing collection or the first insert."""
        on_disk: bool = False
        """Keep vectors on disk (memmap) instead of RAM when creating the collection (server mode)."""
        on_disk_payload: bool = False
        """Keep payloads on disk when creating the collection (server mode)."""
        create_payload_indexes: bool = True
        """Create the keyword indexes on user_id (tenant) / agent_id / run_id and the order index (server mode)."""
        index_filter_fields: bool = False
        """Also index the ``_mem7`` filter fields: needed on clusters with strict mode (no unindexed
        filtering) and for fast unscoped filters; costs RAM proportional to payload size."""
        # ---- how
        batch_size: int = Field(256, ge=1, le=10_000)
        """Points per upsert/retrieve/delete request."""
        timeout: float = Field(10.0, gt=0, le=600)
        """Seconds per request attempt (server mode)."""
        max_retries: int = Field(3, ge=0, le=10)
        """Retries after the first attempt on transient failures (server mode)."""
        retry_backoff: float = Field(0.25, ge=0, le=30)
        """First retry delay in seconds; doubles each retry (with jitter), capped at 10 s."""
        hnsw_ef: int | None = Field(None, ge=1)
        """HNSW beam size for searches (server default when unset)."""
        exact_search: bool = False
        """Exhaustive (non-HNSW) search on the server: exact top-k, slower on big collections."""
        check_compatibility: bool = False
        """Let qdrant-client check the server version in a background thread at startup."""
        # ---- keyword search (hybrid retrieval's keyword half, ranked in Qdrant)
        keyword_search: bool | None = None
        """Rank keywords in Qdrant: each point gets a sparse vector of its words (BM25 weights, IDF
        modifier), so every replica sharing the collection gives the same keyword ranking. Unset:
        on for a Qdrant server, off in local mode (one process only anyway, and local mode's
        pure-Python scan costs ~0.7 s per keyword search at LoCoMo scale against ~2 ms for the
        engine's index; ``bench/results/locomo.md``). ``false``:
        the engine ranks keywords with its own per-process index (the sparse vector is still written
        when the collection has it, so other replicas keep finding every point)."""
        keyword_k1: float = Field(1.2, ge=0)
        """BM25 term-frequency saturation (as ``retrieval.k1``). Written into the points: a new
        collection records it; an existing collection's recorded value wins."""
        keyword_b: float = Field(0.75, ge=0, le=1)
        """BM25 length normalisation (as ``retrieval.b``); recorded like ``keyword_k1``."""
        keyword_avgdl: float = Field(10.0, gt=0)
        """The reference document length (words, function words left out) of the length
        normalisation: a fixed value, since the weights are written with each point (the engine's
        index uses the scope's live average). Recorded like ``keyword_k1``."""
        keyword_stopwords: bool = True
        """Leave English function words out of the sparse vectors and queries (as
        ``retrieval.stopwords``); recorded like ``keyword_k1``."""
        keyword_idf: Literal["scope", "collection"] = "scope"
        """The population of the IDF: the searched scope (``search_params.idf.corpus``, as the
        engine's index), or the whole collection (for servers without scoped IDF)."""

        @field_validator("path")
        @classmethod
        def _expand(cls, v: str | None) -> str | None:
            if v is None:
                return None
            if not v.strip():
                raise ValueError("path must not be empty")
            return str(Path(v).expanduser())

        @field_validator("url")
        @classmethod
        def _url(cls, v: str | None) -> str | None:
            if v is not None and not v.startswith(("http://", "https://")):
                raise ValueError(f"url must start with http:// or https://, got {v!r}")
            return v

        @model_validator(mode="after")
        def _where(self) -> QdrantVectorStore.Config:
            if self.location is not None and self.location != ":memory:":
                if not self.location.startswith(("http://", "https://")):
                    raise ValueError(f"location must be ':memory:' or an http(s) URL, got {self.location!r}")
                if self.url is not None:
                    raise ValueError("set only one of url and location")
                self.url, self.location = self.location, None
            given = [n for n in ("url", "host", "path", "location") if getattr(self, n) is not None]
            if len(given) > 1:
                raise ValueError(f"set only one of url, host, path, location (got {' and '.join(given)})")
            if self.api_key is not None and self.url is None and self.host is None:
                raise ValueError("api_key needs a server (url or host); local mode (path / :memory:) has no auth")
            return self

        @property
        def mode(self) -> str:
            """``"server"``, ``"path"`` or ``"memory"``."""
            if self.url is not None or self.host is not None:
                return "server"
            return "path" if self.path is not None else "memory"

    config: Config

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        """Local mode is one process's: qdrant-client locks a ``path`` directory to the process
        that opened it, and ``:memory:`` lives in each process's memory. A server is shared."""
        if getattr(config, "url", None) or getattr(config, "host", None):
            return None
        if getattr(config, "path", None):
            return "Qdrant in local mode (path) locks its directory to one process"
        location = getattr(config, "location", None)
        if isinstance(location, str) and location.startswith(("http://", "https://")):
            return None
        return "Qdrant in local mode in memory keeps memories in each process's memory"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self._local = cfg.mode != "server"
        self._keywords_on: bool = cfg.keyword_search if cfg.keyword_search is not None else not self._local
        self.capabilities = VectorStoreCapabilities(  # type: ignore[misc]
            filter_operators=PUSHED_DOWN,
            logical=True,
            persistent=cfg.mode != "memory",
            keyword_search=self._keywords_on,
        )
        self._kw: KeywordParams | None = None
        """How this collection's sparse vectors are written; ``None``: it has none (set on open)."""
        self._kw_warned = False
        self._client: AsyncQdrantClient | None = None
        self._retry: RetryPolicy | None = None
        self._setup_lock = asyncio.Lock()
        self._ready = False  # the collection exists and was checked (and indexed)
        self._dims: int | None = cfg.dims
        self._can_order = self._local  # server: once the order index is known to exist
        self._search_params = (
            models.SearchParams(hnsw_ef=cfg.hnsw_ef, exact=cfg.exact_search)
            if (cfg.hnsw_ef is not None or cfg.exact_search)
            else None
        )

    def __repr__(self) -> str:
        cfg = self.config
        where = cfg.url or (f"{cfg.host}:{cfg.port}" if cfg.host else cfg.path or ":memory:")
        return f"<QdrantVectorStore {where} collection={cfg.collection_name!r}>"

    # ================================================================== client, retries
    def _make_client(self) -> AsyncQdrantClient:
        cfg = self.config
        try:
            if cfg.mode == "memory":
                return AsyncQdrantClient(location=":memory:")
            if cfg.mode == "path":
                return AsyncQdrantClient(path=cfg.path)
            return AsyncQdrantClient(
                url=cfg.url,
                host=cfg.host,
                port=cfg.port,
                grpc_port=cfg.grpc_port,
                prefer_grpc=cfg.prefer_grpc,
                https=cfg.https,
                api_key=cfg.api_key.get_secret_value() if cfg.api_key is not None else None,
                timeout=max(1, int(-(-cfg.timeout // 1))),  # the client wants whole seconds; we enforce cfg.timeout
                check_compatibility=cfg.check_compatibility,
            )
        except Exception as exc:
            raise ProviderError(PROVIDER, f"cannot open Qdrant ({self!r}): {describe(exc)}") from exc

    def _get_client(self) -> AsyncQdrantClient:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def _call(
        self,
        what: str,
        fn: Callable[[AsyncQdrantClient], Awaitable[T]],
        *,
        ok: tuple[Kind, ...] = (),
    ) -> T | None:
        """Run one client request: timeout and bounded retries in server mode, errors as ProviderError.

        :param ok: failure kinds the caller handles: ``MISSING`` raises :class:`_Missing`,
            ``CONFLICT`` returns ``None``.
        """
        cfg = self.config
        policy = self._retry
        if policy is None:  # the config is fixed at construction; built on the first request
            policy = self._retry = RetryPolicy(
                max_retries=cfg.max_retries, backoff=cfg.retry_backoff, max_backoff=_MAX_BACKOFF,
                attempt_timeout=cfg.timeout,
                max_retry_after=_MAX_BACKOFF, over_cap="clamp", name=PROVIDER)

        async def attempt() -> T | None:
            client = self._get_client()
            try:
                return await fn(client)
            except Exception as exc:  # CancelledError is a BaseException: never swallowed
                kind = classify(exc)
                if kind is Kind.MISSING and Kind.MISSING in ok:
                    raise _Missing(describe(exc)) from exc
                if kind is Kind.CONFLICT and Kind.CONFLICT in ok:
                    return None
                raise

        def failed(exc: BaseException, attempts: int) -> BaseException:
            if isinstance(exc, _Missing):
                return exc
            if isinstance(exc, BudgetSpent):
                return budget_error(exc, provider=PROVIDER, who=what, url=self._where(), attempts=attempts,
                                    deadline_field="operation_timeout_secs")
            kind = classify(exc)
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            hint = ""
            if kind is Kind.RETRY and not self._local:
                hint = f" (is Qdrant running at {self._where()}? timeout={cfg.timeout}s)"
            return ProviderError(
                PROVIDER,
                f"{what} failed{tries} (collection {cfg.collection_name!r}): {describe(exc)}{hint}",
                retryable=kind is Kind.RETRY,
            )

        if self._local:  # in process: one attempt, not cut by a timeout mid-write
            try:
                return await attempt()
            except _Missing:
                raise
            except Exception as exc:
                raise failed(exc, 1) from exc

        def log_retry(exc: BaseException, attempt: int, attempts: int, wait: float) -> None:
            log.warning("qdrant: %s failed (attempt %d/%d, retrying in %.2fs): %s", what, attempt, attempts, wait,
                        describe(exc))

        return await policy.run(attempt, retryable=lambda exc: classify(exc) is Kind.RETRY, describe=failed,
                                hint=retry_after, is_timeout=lambda exc: isinstance(exc, TimeoutError),
                                on_retry=log_retry)

    def _where(self) -> str:
        cfg = self.config
        return cfg.url or f"{cfg.host}:{cfg.grpc_port if cfg.prefer_grpc else cfg.port}"

    # ================================================================== collection
    async def _ensure_collection(self, create_dims: int | None) -> bool:
        """True when the collection exists (creating it when ``create_dims`` or ``dims`` is known)."""
        if self._ready:
            return True
        async with self._setup_lock:
            if self._ready:
                return True
            name = self.config.collection_name
            exists = await self._call("checking the collection", lambda c: c.collection_exists(name))
            if not exists:
                dims = self.config.dims or create_dims
                if dims is None:
                    return False
                kw = self._wanted_keywords()
                created = await self._call(
                    "creating the collection",
                    lambda c: c.create_collection(
                        collection_name=name,
                        vectors_config=models.VectorParams(
                            size=dims,
                            distance=models.Distance.COSINE,
                            on_disk=True if self.config.on_disk else None,
                        ),
                        on_disk_payload=True if self.config.on_disk_payload else None,
                        sparse_vectors_config=(
                            {KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                            if kw is not None
                            else None
                        ),
                        metadata={KEYWORDS: kw.to_metadata()} if kw is not None else None,
                    ),
                    ok=(Kind.CONFLICT,),
                )
                if created is None:  # created meanwhile by another process: adopt it below
                    exists = True
                else:
                    log.info("qdrant: created collection %r (%d dims, cosine%s)", name, dims,
                             ", keyword sparse vector" if kw is not None else "")
                    self._dims = dims
                    self._kw = kw
            if exists:
                info = await self._call("reading the collection", lambda c: c.get_collection(name))
                assert info is not None
                self._adopt(info)
                schema = info.payload_schema or {}
            else:
                schema = {}
            await self._ensure_indexes(schema)
            self._ready = True
            return True

    async def embedding_space(self) -> EmbeddingSpace | None:
        """The collection's vector size (``None``: no collection yet). Reads only: creates nothing."""
        name = self.config.collection_name
        if not await self._call("checking the collection", lambda c: c.collection_exists(name)):
            return None
        info = await self._call("reading the collection", lambda c: c.get_collection(name))
        vectors = info.config.params.vectors if info is not None else None
        return EmbeddingSpace(dims=int(vectors.size)) if isinstance(vectors, models.VectorParams) else None

    def _adopt(self, info: models.CollectionInfo) -> None:
        name = self.config.collection_name
        vectors = info.config.params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise ProviderError(
                PROVIDER,
                f"collection {name!r} uses named vectors ({sorted(vectors or {})}); "
                "mem7-qdrant needs a collection with one unnamed vector",
            )
        if vectors.distance != models.Distance.COSINE:
            raise ProviderError(
                PROVIDER, f"collection {name!r} uses {vectors.distance.value} distance; mem7-qdrant needs Cosine"
            )
        if self.config.dims is not None and vectors.size != self.config.dims:
            raise ProviderError(
                PROVIDER,
                f"dims (embedding_model_dims) is {self.config.dims} but collection {name!r} holds "
                f"{vectors.size}-dimensional vectors; use dims: {vectors.size}, or another collection_name",
            )
        self._dims = vectors.size
        self._adopt_keywords(info)

    def _wanted_keywords(self) -> KeywordParams | None:
        cfg = self.config
        if not self._keywords_on:
            return None
        return KeywordParams(
            k1=cfg.keyword_k1, b=cfg.keyword_b, avgdl=cfg.keyword_avgdl, stopwords=cfg.keyword_stopwords
        )

    def _adopt_keywords(self, info: models.CollectionInfo) -> None:
        """Whether (and how) this collection's points carry keyword sparse vectors.

        A collection with the sparse vector keeps it filled on every write, whatever this
        instance's ``keyword_search`` (other replicas rank with it); its recorded parameters win
        over the config. A collection without it (created before, or with ``keyword_search:
        false``) cannot gain one (Qdrant adds no vector to an existing collection): keyword search
        then stays with the engine's index, and a ``keyword_search`` call scans the scope.
        """
        name = self.config.collection_name
        sparse = info.config.params.sparse_vectors or {}
        params = sparse.get(KEYWORDS)
        if params is None or params.modifier != models.Modifier.IDF:
            self._kw = None
            if self._keywords_on:
                self.capabilities = replace(self.capabilities, keyword_search=False)  # type: ignore[misc]
                log.warning(
                    "qdrant: collection %r has no %r sparse vector with the IDF modifier (created before "
                    "keyword search, or with keyword_search: false); keywords stay ranked by the engine's "
                    "per-process index. Re-create the collection (e.g. export and import) to rank them in Qdrant.",
                    name, KEYWORDS,
                )
            return
        meta = info.config.metadata or {}
        recorded = KeywordParams.from_metadata(meta.get(KEYWORDS) if isinstance(meta, dict) else None)
        wanted = self._wanted_keywords()
        if recorded is None:
            recorded = wanted or KeywordParams()
            log.warning("qdrant: collection %r records no keyword parameters; using %s", name, recorded)
        elif wanted is not None and wanted != recorded:
            log.warning("qdrant: collection %r writes keywords with %s (recorded when it was created); "
                        "the config's %s is ignored", name, recorded, wanted)
        self._kw = recorded

    def _wanted_indexes(self) -> dict[str, Any]:
        keyword = models.PayloadSchemaType.KEYWORD
        wanted: dict[str, Any] = {
            "user_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            "agent_id": keyword,
            "run_id": keyword,
            qf.ORDER: models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=True),
        }
        if self.config.index_filter_fields:
            for field in (qf.KEYS, qf.TYPES, qf.TOKENS, qf.MEMBERS, f"{qf.NUMBERS}[].k"):
                wanted[field] = keyword
            wanted[f"{qf.NUMBERS}[].v"] = models.PayloadSchemaType.FLOAT
        return wanted

    async def _ensure_indexes(self, schema: dict[str, Any]) -> None:
        """Create the missing payload indexes (server mode; local mode has no payload indexes)."""
        if self._local:
            return
        if self.config.create_payload_indexes:
            name = self.config.collection_name
            for field, field_schema in self._wanted_indexes().items():
                if field in schema:
                    continue

                def create_index(
                    c: AsyncQdrantClient, f: str = field, s: Any = field_schema
                ) -> Awaitable[models.UpdateResult]:
                    return c.create_payload_index(collection_name=name, field_name=f, field_schema=s, wait=True)

                await self._call(f"creating the payload index on {field}", create_index, ok=(Kind.CONFLICT,))
                schema = {**schema, field: True}
        self._can_order = qf.ORDER in schema

    # ================================================================== helpers
    def _scope_conditions(self, scope: Scope) -> list[qf.QCond]:
        return qf.scope_conditions(scope.items())

    async def _scroll_all(self, flt: models.Filter | None) -> list[VectorRecord]:
        name = self.config.collection_name
        out: list[VectorRecord] = []
        offset: Any = None
        while True:

            def scroll(c: AsyncQdrantClient, o: Any = offset) -> Awaitable[tuple[list[models.Record], Any]]:
                return c.scroll(
                    collection_name=name,
                    scroll_filter=flt,
                    limit=_SCROLL_PAGE,
                    offset=o,
                    with_payload=_RESULT_PAYLOAD,
                    with_vectors=False,
                )

            page = await self._call("scrolling", scroll)
            assert page is not None
            points, offset = page
            out.extend(r for r in map(self._record, points) if r is not None)
            if offset is None or not points:
                return out

    async def _scroll_ordered(self, flt: models.Filter | None, limit: int) -> list[VectorRecord]:
        name = self.config.collection_name
        page = await self._call(
            "scrolling",
            lambda c: c.scroll(
                collection_name=name,
                scroll_filter=flt,
                limit=limit,
                order_by=models.OrderBy(key=qf.ORDER, direction=models.Direction.ASC),
                with_payload=_RESULT_PAYLOAD,
                with_vectors=False,
            ),
        )
        assert page is not None
        return [r for r in map(self._record, page[0]) if r is not None]

    @staticmethod
    def _record(point: Any, *, with_vector: bool = False) -> VectorRecord | None:
        mem7_id, payload = decode_payload(point.payload)
        if mem7_id is None:
            return None  # not written by mem7: never returned
        vector = None
        if with_vector and point.vector is not None:
            raw = point.vector.get("") if isinstance(point.vector, dict) else point.vector
            vector = list(raw) if isinstance(raw, list) else None
        return VectorRecord(id=mem7_id, vector=vector, payload=payload)

    async def _query(
        self, vector: list[float], flt: models.Filter | None, limit: int, offset: int
    ) -> list[models.ScoredPoint]:
        name = self.config.collection_name
        res = await self._call(
            "searching",
            lambda c: c.query_points(
                collection_name=name,
                query=vector,
                query_filter=flt,
                limit=limit,
                offset=offset or None,
                with_payload=_RESULT_PAYLOAD,
                with_vectors=False,
                search_params=self._search_params,
            ),
        )
        assert res is not None
        return list(res.points)

    def _batches(self, items: Sequence[T]) -> list[Sequence[T]]:
        n = self.config.batch_size
        return [items[i : i + n] for i in range(0, len(items), n)]

    # ================================================================== VectorStore
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        vectors: dict[str, list[float]] = {}
        payloads: dict[str, dict[str, Any]] = {}
        size: int | None = None
        for r in records:
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"qdrant: record ids must be non-empty strings, got {r.id!r}")
            vec = check_vector(r.vector, f"the vector of record {r.id!r}", provider="qdrant",
                               dims=self._dims or size)
            size = len(vec)
            vectors[r.id] = vec  # a repeated id: the last one wins, as with sequential upserts
            payloads[r.id] = encode_payload(r.id, clean_payload(r.payload))
        await self._ensure_collection(size)
        if self._dims is not None and size != self._dims:
            raise ValueError(f"qdrant: vectors have {size} dims, the collection has {self._dims} dims")
        kw = self._kw
        points = [
            models.PointStruct(
                id=point_id(i),
                vector=vectors[i] if kw is None else {"": vectors[i], KEYWORDS: kw.document(text_of(payloads[i]))},
                payload=payloads[i],
            )
            for i in vectors
        ]
        name = self.config.collection_name
        for batch in self._batches(points):

            def upsert(
                c: AsyncQdrantClient, b: Sequence[models.PointStruct] = batch
            ) -> Awaitable[models.UpdateResult]:
                return c.upsert(collection_name=name, points=list(b), wait=True)

            await self._call(f"upserting {len(batch)} points", upsert)

    async def search(
        self,
        vector: Sequence[float],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[ScoredRecord]:
        query = check_vector(vector, "the query vector", provider="qdrant", dims=self._dims)
        if limit <= 0 or not await self._ensure_collection(None):
            return []
        query = check_vector(query, "the query vector", provider="qdrant", dims=self._dims)
        tr = qf.translate(filters)
        if tr.upper is qf.FALSE:
            return []
        flt = qf.combine(self._scope_conditions(scope), tr.upper)
        if tr.exact:
            return [h for h in map(self._scored, await self._query(query, flt, limit, 0)) if h is not None]
        # Not exact in Qdrant: its filter is a superset; re-check with the reference semantics and
        # page on (score order) until `limit` hits or the candidates run out.
        hits: list[ScoredRecord] = []
        seen: set[str] = set()
        offset, page = 0, max(2 * limit, 64)
        while True:
            points = await self._query(query, flt, page, offset)
            for p in points:
                hit = self._scored(p)
                if hit is None or hit.id in seen:
                    continue
                seen.add(hit.id)
                if evaluate(filters, hit.payload):
                    hits.append(hit)
                    if len(hits) == limit:
                        return hits
            if len(points) < page:
                return hits
            offset += len(points)
            page = min(page * 2, _MAX_SEARCH_PAGE)

    async def keyword_search(
        self, query: str, *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> list[ScoredRecord]:
        """The ``limit`` best records in ``scope`` passing ``filters`` by BM25 over their words, best
        first (ties by id), each score calibrated to ``[0, 1]``: ``min(1, BM25 / Σ idf)`` over the
        query's words found in the scope (:func:`mem7_core.retrieval.fusion.calibrate_bm25`).

        One request to Qdrant (a batch of queries): the sparse query of the query's words, with the
        IDF computed by Qdrant over the scope (filters narrow the results, not the statistics), and
        one probe per word (its best point in the scope, with its stored weight) that gives back
        that word's idf as Qdrant applied it (``score / weight``): their sum is the idf mass the
        calibration divides by (Qdrant does not return idf values; local mode neither).
        """
        cfg = self.config
        if not self._keywords_on:
            raise NotImplementedError(
                "qdrant: keyword search is off for this store (vector_store.config.keyword_search false, or "
                "unset in local mode); set it to true to rank keywords in Qdrant"
            )
        if limit <= 0 or not await self._ensure_collection(None):
            return []
        kw = self._kw
        if kw is None:  # a collection without the sparse vector: the engine's BM25 over the scope
            return await self._keyword_scan(query, scope, limit, filters)
        ids = kw.query_ids(query)
        if not ids:
            return []
        tr = qf.translate(filters)
        if tr.upper is qf.FALSE:
            return []
        scope_c = self._scope_conditions(scope)
        in_scope = qf.combine(scope_c, qf.TRUE)
        flt = qf.combine(scope_c, tr.upper)
        params = (
            models.SearchParams(idf=models.IdfCorpusParams(corpus=in_scope))
            if cfg.keyword_idf == "scope" and in_scope is not None
            else None
        )
        sparse = query_vector(ids)
        name = cfg.collection_name

        def main(size: int, offset: int) -> models.QueryRequest:
            return models.QueryRequest(
                query=sparse, using=KEYWORDS, filter=flt, limit=size, offset=offset or None,
                with_payload=_RESULT_PAYLOAD, with_vector=False, params=params,
            )

        probes = [
            models.QueryRequest(
                query=models.SparseVector(indices=[t], values=[1.0]), using=KEYWORDS, filter=in_scope, limit=1,
                with_payload=False, with_vector=[KEYWORDS], params=params,
            )
            for t in sorted(set(ids))
        ]
        # One more than asked: a tie across the cut is seen (and paged on), so ties go by id.
        page = limit + 1 if tr.exact else max(2 * limit, 64)
        answers = await self._call(
            "keyword search", lambda c: c.query_batch_points(collection_name=name, requests=[main(page, 0), *probes])
        )
        assert answers is not None
        mass = 0.0
        for t, probe in zip(sorted(set(ids)), answers[1:]):
            for p in probe.points[:1]:
                weight = _sparse_value(p.vector, t)
                if weight and p.score > 0:
                    mass += float(p.score) / weight
        points = list(answers[0].points)
        hits: list[tuple[float, ScoredRecord]] = []  # (raw BM25, hit): ranked by the raw score
        seen: set[str] = set()
        offset = 0
        while True:
            for p in points:
                hit = self._scored(p)
                if hit is None or hit.id in seen or not hit.score > 0:
                    continue
                seen.add(hit.id)
                if tr.exact or evaluate(filters, hit.payload):
                    scored = ScoredRecord(id=hit.id, score=calibrate_bm25(hit.score, mass), payload=hit.payload)
                    hits.append((hit.score, scored))
            if len(points) < page:
                break  # every match seen
            if len(hits) > limit:
                cut = sorted((raw for raw, _ in hits), reverse=True)[limit - 1]
                if float(points[-1].score) < cut:
                    break  # everything further scores below the last kept hit
            # Not enough hits yet (a filter Qdrant cannot run exactly: its filter is a superset,
            # re-checked here), or a tie across the cut: page on in score order.
            offset += len(points)
            page = min(page * 2, _MAX_SEARCH_PAGE)

            def next_page(
                c: AsyncQdrantClient, n: int = page, o: int = offset
            ) -> Awaitable[list[models.QueryResponse]]:
                return c.query_batch_points(collection_name=name, requests=[main(n, o)])

            res = await self._call("keyword search", next_page)
            assert res is not None
            points = list(res[0].points)
        hits.sort(key=lambda h: (-h[0], h[1].id))
        return [h for _, h in hits[:limit]]

    async def _keyword_scan(
        self, query: str, scope: Scope, limit: int, filters: Filter | None
    ) -> list[ScoredRecord]:
        """Keyword search without the sparse vector (a collection from before): the engine's own
        BM25 over the scope as it is now, read whole (exact and the same on every replica, but it
        reads the scope on every call)."""
        if not self._kw_warned:
            self._kw_warned = True
            log.warning("qdrant: collection %r has no keyword sparse vector; keyword search reads the whole "
                        "scope on each call", self.config.collection_name)
        cfg = self.config
        records = await self._scroll_all(qf.combine(self._scope_conditions(scope), qf.TRUE))
        index = BM25Index(k1=cfg.keyword_k1, b=cfg.keyword_b, stopwords=cfg.keyword_stopwords)
        for r in records:
            index.add(r.id, text_of(r.payload))
        terms = index.terms(query)
        mass = index.idf_mass(terms)
        raw = index.score_terms(terms)
        payloads = {r.id: r.payload for r in records}
        ranked = sorted((i for i in raw if evaluate(filters, payloads[i])), key=lambda i: (-raw[i], i))
        return [ScoredRecord(id=i, score=calibrate_bm25(raw[i], mass), payload=payloads[i]) for i in ranked[:limit]]

    @staticmethod
    def _scored(point: models.ScoredPoint) -> ScoredRecord | None:
        mem7_id, payload = decode_payload(point.payload)
        if mem7_id is None:
            return None
        return ScoredRecord(id=mem7_id, score=float(point.score), payload=payload)

    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        wanted = [i for i in ids if isinstance(i, str) and i]
        if not wanted or not await self._ensure_collection(None):
            return []
        name = self.config.collection_name
        found: dict[str, VectorRecord] = {}
        for batch in self._batches(list(dict.fromkeys(wanted))):

            def retrieve(c: AsyncQdrantClient, b: Sequence[str] = batch) -> Awaitable[list[models.Record]]:
                return c.retrieve(
                    collection_name=name,
                    ids=[point_id(i) for i in b],
                    with_payload=_RESULT_PAYLOAD,
                    with_vectors=True,
                )

            points = await self._call(f"retrieving {len(batch)} points", retrieve)
            for p in points or []:
                rec = self._record(p, with_vector=True)
                if rec is not None:
                    found[rec.id] = rec
        out: list[VectorRecord] = []
        handed: set[str] = set()
        for i in wanted:
            rec = found.get(i)
            if rec is None:
                continue
            if i in handed:  # asked twice: never hand out the same payload object twice
                rec = VectorRecord(rec.id, list(rec.vector) if rec.vector else None, copy.deepcopy(rec.payload))
            handed.add(i)
            out.append(rec)
        return out

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        if not isinstance(id, str) or not id:
            raise MemoryNotFoundError(str(id))
        vec = (check_vector(vector, f"the vector of record {id!r}", provider="qdrant", dims=self._dims)
               if vector is not None else None)
        new_payload = encode_payload(id, clean_payload(payload)) if payload is not None else None
        if not await self._ensure_collection(None):
            raise MemoryNotFoundError(id)
        if vec is not None:
            vec = check_vector(vec, f"the vector of record {id!r}", provider="qdrant", dims=self._dims)
        if vec is None and new_payload is None:
            if not await self.get([id]):
                raise MemoryNotFoundError(id)
            return
        pid = point_id(id)
        ops: list[Any] = []
        kw = self._kw
        new_vectors: Any = vec
        if new_payload is not None and kw is not None:  # new text: new keywords (a vector-only update keeps them)
            sparse = kw.document(text_of(new_payload))
            new_vectors = {KEYWORDS: sparse} if vec is None else {"": vec, KEYWORDS: sparse}
        if new_vectors is not None:
            ops.append(
                models.UpdateVectorsOperation(
                    update_vectors=models.UpdateVectors(points=[models.PointVectors(id=pid, vector=new_vectors)])
                )
            )
        if new_payload is not None:
            ops.append(
                models.OverwritePayloadOperation(
                    overwrite_payload=models.SetPayload(payload=new_payload, points=[pid])
                )
            )
        name = self.config.collection_name
        try:
            # One request; a missing point fails it (404 / KeyError) before anything is written,
            # so an update never resurrects a record deleted meanwhile.
            await self._call(
                "updating a point",
                lambda c: c.batch_update_points(collection_name=name, update_operations=ops, wait=True),
                ok=(Kind.MISSING,),
            )
        except _Missing:
            raise MemoryNotFoundError(id) from None

    async def delete(self, ids: Sequence[str]) -> None:
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
        if not wanted or not await self._ensure_collection(None):
            return
        name = self.config.collection_name
        for batch in self._batches(wanted):

            def delete(c: AsyncQdrantClient, b: Sequence[str] = batch) -> Awaitable[models.UpdateResult]:
                return c.delete(
                    collection_name=name,
                    points_selector=models.PointIdsList(points=[point_id(i) for i in b]),
                    wait=True,
                )

            await self._call(f"deleting {len(batch)} points", delete)

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        if (limit is not None and limit <= 0) or not await self._ensure_collection(None):
            return []
        tr = qf.translate(filters)
        if tr.upper is qf.FALSE:
            return []
        scope_c = self._scope_conditions(scope)
        flt = qf.combine(scope_c, tr.upper)
        if limit is None or not tr.exact or not self._can_order or limit > _MAX_ORDERED_LIMIT:
            records = await self._scroll_all(flt)
            if not tr.exact:
                records = [r for r in records if evaluate(filters, r.payload)]
        else:
            records = await self._list_ordered(scope_c, tr.upper, flt, limit)
        records.sort(key=lambda r: sort_key(r.payload, r.id))
        return records if limit is None else records[:limit]

    async def _list_ordered(  # `list` is the method above, in this class body: builtins.list
        self, scope_c: builtins.list[qf.QCond], upper: qf.Approx, flt: models.Filter | None, limit: int
    ) -> builtins.list[VectorRecord]:
        """The candidates for the first ``limit`` records, without reading the whole scope.

        Records with a mem7 timestamp carry ``_mem7.o`` (its order as an integer): Qdrant returns the
        first ``limit`` by it, plus every record tied with the last one. Records without it
        (missing or foreign ``created_at``) are all read. The caller sorts and cuts.
        """
        unordered = await self._scroll_all(
            qf.combine(scope_c, upper, models.IsEmptyCondition(is_empty=models.PayloadField(key=qf.ORDER)))
        )
        ordered = await self._scroll_ordered(flt, limit)
        ties: list[VectorRecord] = []
        if len(ordered) == limit:
            last = order_key(ordered[-1].payload.get("created_at"))
            if last is not None:
                ties = await self._scroll_all(
                    qf.combine(
                        scope_c, upper, models.FieldCondition(key=qf.ORDER, match=models.MatchValue(value=last))
                    )
                )
        merged = {r.id: r for r in (*unordered, *ordered, *ties)}
        return list(merged.values())

    async def count(self, *, scope: Scope) -> int:
        if not await self._ensure_collection(None):
            return 0
        name = self.config.collection_name
        flt = qf.combine(self._scope_conditions(scope), qf.TRUE)
        res = await self._call("counting", lambda c: c.count(collection_name=name, count_filter=flt, exact=True))
        assert res is not None
        return int(res.count)

    async def reset(self) -> None:
        """Drop the collection (it is recreated, with its indexes, on the next write)."""
        name = self.config.collection_name
        async with self._setup_lock:
            try:
                await self._call(
                    "deleting the collection", lambda c: c.delete_collection(collection_name=name), ok=(Kind.MISSING,)
                )
            except _Missing:
                pass
            self._ready = False
            self._dims = self.config.dims
            self._kw = None
            self.capabilities = replace(self.capabilities, keyword_search=self._keywords_on)  # type: ignore[misc]

    async def aclose(self) -> None:
        """Close the client (sockets, or the local-mode lock and files). Idempotent.

        The store stays usable: the next call reopens. In ``:memory:`` mode the data lives as long as
        this store object, so closing keeps it.
        """
        if self._client is None or self.config.mode == "memory":
            return
        client, self._client = self._client, None
        self._ready = False
        try:
            await client.close()
        except Exception as exc:  # noqa: BLE001 - closing must not raise over a broken connection
            log.warning("qdrant: error while closing the client: %s", describe(exc))


__all__ = ["PUSHED_DOWN", "QdrantVectorStore"]
