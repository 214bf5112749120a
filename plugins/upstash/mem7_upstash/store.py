"""UpstashVectorStore: mem7's vector store on Upstash Vector, through the ``upstash-vector`` async client.

Layout: one Upstash *namespace* per mem7 collection (``collection_name``), so collections sharing
an index never see each other's records and ``reset()`` clears only its own. A record is an
Upstash vector with the mem7 id as its id, the L2-normalised embedding as its vector and the mem7
payload (``data``, ``hash``, ``created_at``, ``user_id``... and metadata) as its metadata object.

Reads: the scope and the filter are translated into an Upstash filter string that accepts a
*superset* of the matching records (:mod:`._filters`), and every record the server returns is
checked with :func:`mem7_core.filters.evaluate`, so answers equal the reference semantics (the
flat store's). When the translation is not exact, ``search`` asks for ``limit * overfetch``
candidates and widens (x4, up to ``max_top_k``) until it has ``limit`` hits or the server runs
out; past ``max_top_k`` it falls back to a ``range`` scan of the namespace scored client-side.
``list`` and ``count`` run one filtered query of ``max_top_k`` (``list_strategy="query"``) and fall
back to the scan when that may be truncated; ``list_strategy="scan"`` always scans.

Scores: Upstash normalises dense scores to [0, 1] (cosine ``(1 + cos) / 2``, dot product
``(1 + dot) / 2``, euclidean ``1 / (1 + d^2)``). Vectors are stored normalised, so all three
similarity functions rank like cosine, and scores are converted back to cosine similarity in
[-1, 1], as the flat store reports them.

Writes are batched (``batch_size`` records and at most ``max_request_bytes`` per request), sent
``max_concurrency`` at a time. Upstash has no transactions: a batch that fails part-way leaves the
batches before it written, and the error says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from upstash_vector.errors import ClientError
from upstash_vector.types import MetadataUpdateMode

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import ProviderConfig, VectorStore, VectorStoreCapabilities
from mem7_core.providers.vectors import cosine as _cosine

from ._filters import translate
from ._transport import PROVIDER, UpstashClient

log = logging.getLogger("mem7.upstash")

URL_ENV = "UPSTASH_VECTOR_REST_URL"
TOKEN_ENV = "UPSTASH_VECTOR_REST_TOKEN"
SIMILARITY_FUNCTIONS = ("COSINE", "DOT_PRODUCT", "EUCLIDEAN")

T = TypeVar("T")


def _normalise_url(v: str | None) -> str | None:
    if v is None or not v.strip():
        return None
    v = v.strip().rstrip("/")
    if not v.startswith(("https://", "http://")):
        raise ValueError(f"url must start with https:// (the index's REST URL), got {v!r}")
    return v


def _order_key(record: VectorRecord) -> tuple[str, str]:
    created = record.payload.get("created_at")
    return ("" if created is None else str(created), record.id)


class UpstashVectorStore(VectorStore):
    """mem7 vector store on an Upstash Vector index (dense), one namespace per collection."""

    name = "upstash"
    aliases: ClassVar[tuple[str, ...]] = ("upstash_vector",)
    # Every operator and AND/OR/NOT: what Upstash cannot evaluate is checked here, never dropped.
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(persistent=True)

    class Config(ProviderConfig):
        url: str | None = Field(None, description=f"REST URL of the index; default ${URL_ENV}.")
        token: SecretStr | None = Field(None, description=f"REST token of the index; default ${TOKEN_ENV}.")
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
        """The Upstash namespace holding this collection."""
        dims: int | None = Field(None, ge=1, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Expected vector size; checked against the index's dimension on first use."""
        timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request.")
        connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect.")
        max_retries: int = Field(3, ge=0, le=10, description="Retries on connection errors, timeouts, 429, 5xx.")
        retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
        retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
        batch_size: int = Field(500, ge=1, le=1000, description="Records per upsert / fetch / delete request.")
        max_request_bytes: int = Field(4_000_000, ge=10_000, description="Upsert request size bound (JSON bytes).")
        max_concurrency: int = Field(4, ge=1, le=64, description="Batch requests in flight at once.")
        max_top_k: int = Field(1000, ge=1, description="Largest topK one query may ask (Upstash: 1000).")
        overfetch: int = Field(4, ge=1, le=100, description="Candidates per wanted hit when a filter is checked here.")
        range_page_size: int = Field(1000, ge=1, le=1000, description="Records per range page when scanning.")
        list_strategy: Literal["query", "scan"] = Field(
            "query",
            description="list()/count(): one filtered query (falls back to a scan when it may be truncated), "
            "or always a range scan of the namespace.",
        )
        enable_embeddings: bool = Field(False, description="mem0 compatibility; must stay false.")

        @field_validator("url")
        @classmethod
        def _check_url(cls, v: str | None) -> str | None:
            return _normalise_url(v)

        @field_validator("enable_embeddings")
        @classmethod
        def _no_hosted_embeddings(cls, v: bool) -> bool:
            if v:
                raise ValueError(
                    "mem7-upstash stores the vectors mem7's embedder computes; Upstash-hosted embedding "
                    "models are not used. Remove enable_embeddings"
                )
            return v

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        url = cfg.url
        if url is None:
            try:
                url = _normalise_url(os.environ.get(URL_ENV))
            except ValueError as exc:
                raise ConfigError(f"upstash: ${URL_ENV}: {exc}") from None
        token = cfg.token.get_secret_value() if cfg.token is not None else (os.environ.get(TOKEN_ENV) or None)
        missing = []
        if not url:
            missing.append(f"url (vector_store.config.url or ${URL_ENV})")
        if not token:
            missing.append(f"token (vector_store.config.token or ${TOKEN_ENV})")
        if missing:
            raise ConfigError(
                f"upstash: missing {' and '.join(missing)}. The index's page in the Upstash console shows both"
            )
        assert url is not None and token is not None
        self.url = url
        self.namespace = cfg.collection_name
        self.client = UpstashClient(
            url,
            token,
            timeout=cfg.timeout,
            connect_timeout=cfg.connect_timeout,
            max_retries=cfg.max_retries,
            retry_backoff=cfg.retry_backoff,
            retry_max_backoff=cfg.retry_max_backoff,
            token_hint=f"vector_store.config.token or ${TOKEN_ENV}",
            max_connections=max(cfg.max_concurrency, 4),
        )
        self._dims: int | None = None
        self._similarity: str | None = None

    # ================================================================== plumbing
    async def _call(self, op: str, awaitable: Awaitable[T]) -> T:
        """Await one SDK call; anything but a ProviderError becomes one (a malformed answer)."""
        try:
            return await awaitable
        except ProviderError:
            raise
        except (ClientError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            what = f"{type(exc).__name__}: {exc}"
            raise ProviderError(PROVIDER, f"{op}: malformed response from {self.url}: {what}") from exc

    async def _gather(self, calls: Sequence[Awaitable[T]]) -> list[T]:
        """Run ``calls`` at most ``max_concurrency`` at a time; all finish, the first error is raised."""
        if len(calls) == 1:
            return [await calls[0]]
        sem = asyncio.Semaphore(self.config.max_concurrency)

        async def bounded(c: Awaitable[T]) -> T:
            async with sem:
                return await c

        results = await asyncio.gather(*(bounded(c) for c in calls), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            first = errors[0]
            if isinstance(first, ProviderError) and len(calls) > 1:
                done = len(results) - len(errors)
                raise ProviderError(
                    PROVIDER,
                    f"{str(first).removeprefix(f'[{PROVIDER}] ')} ({len(errors)} of {len(calls)} batches failed, "
                    f"{done} were applied)",
                    retryable=first.retryable,
                ) from first
            raise first
        return results  # type: ignore[return-value]

    async def _ready(self) -> int:
        """The index's dimension (one ``info`` call, cached); checks it is a dense index we can use."""
        if self._dims is None:
            info = await self._call("info", self.client.info())
            dims = int(info.dimension or 0)
            similarity = str(info.similarity_function or "").upper()
            if dims <= 0 or info.sparse_index is not None:
                raise ProviderError(
                    PROVIDER, f"the index at {self.url} is not a dense index (dimension {dims}); "
                              "mem7 needs a dense index with the embedder's dimension"
                )
            if similarity not in SIMILARITY_FUNCTIONS:
                raise ProviderError(PROVIDER, f"the index at {self.url} uses an unknown similarity function "
                                              f"{similarity!r}")
            if self.config.dims is not None and self.config.dims != dims:
                raise ConfigError(
                    f"upstash: the index at {self.url} has {dims}-dimensional vectors, but "
                    f"vector_store.config.dims is {self.config.dims}"
                )
            self._similarity = similarity
            self._dims = dims
        return self._dims

    def _vector(self, vector: Sequence[float] | None, dims: int, what: str) -> list[float]:
        """Validate and L2-normalise one vector."""
        if vector is None:
            raise ValueError(f"upstash: {what} has no vector")
        try:
            values = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ValueError(f"upstash: {what}: a vector must be a sequence of numbers") from None
        if len(values) != dims:
            raise ValueError(f"upstash: {what} has {len(values)} dims, the index has {dims}")
        if not all(math.isfinite(x) for x in values):
            raise ValueError(f"upstash: {what}: vectors must be finite (no NaN or inf)")
        norm = math.sqrt(math.fsum(x * x for x in values))
        return [x / norm for x in values] if norm > 0 else values

    @staticmethod
    def _payload(payload: dict[str, Any], what: str) -> tuple[dict[str, Any], int]:
        """A private JSON copy of ``payload`` and its encoded size."""
        if not isinstance(payload, dict):
            raise TypeError(f"upstash: {what}: the payload must be a dict, got {type(payload).__name__}")
        try:
            text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"upstash: {what}: the payload must be JSON-serialisable ({exc})") from None
        return json.loads(text), len(text.encode("utf-8"))

    def _to_cosine(self, score: float) -> float:
        if self._similarity == "EUCLIDEAN":
            value = 1.0 - (1.0 / score - 1.0) / 2.0 if score > 0 else -1.0
        else:  # COSINE and DOT_PRODUCT (of normalised vectors): (1 + cos) / 2
            value = 2.0 * float(score) - 1.0
        return max(-1.0, min(1.0, value))

    @staticmethod
    def _keep(payload: dict[str, Any], scope: Scope, filters: Filter | None) -> bool:
        return scope.matches(payload) and evaluate(filters, payload)

    def _batches(self, items: list[tuple[dict[str, Any], int]]) -> list[list[dict[str, Any]]]:
        cfg = self.config
        out: list[list[dict[str, Any]]] = []
        batch: list[dict[str, Any]] = []
        size = 2
        for item, nbytes in items:
            if batch and (len(batch) >= cfg.batch_size or size + nbytes > cfg.max_request_bytes):
                out.append(batch)
                batch, size = [], 2
            batch.append(item)
            size += nbytes + 1
        if batch:
            out.append(batch)
        return out

    def _chunks(self, ids: list[str]) -> list[list[str]]:
        n = self.config.batch_size
        return [ids[i : i + n] for i in range(0, len(ids), n)]

    # ================================================================== reads
    async def _scan(self, scope: Scope, filters: Filter | None, *, vectors: bool) -> list[VectorRecord]:
        """Every record of the namespace passing scope and filters, by ``range`` pages."""
        out: list[VectorRecord] = []
        seen: set[str] = set()
        cursor = ""
        while True:
            page = await self._call(
                "range",
                self.client.range(
                    cursor=cursor,
                    limit=self.config.range_page_size,
                    include_vectors=vectors,
                    include_metadata=True,
                    namespace=self.namespace,
                ),
            )
            for v in page.vectors:
                payload = v.metadata or {}
                if v.id not in seen and self._keep(payload, scope, filters):
                    seen.add(v.id)
                    out.append(VectorRecord(id=v.id, vector=v.vector if vectors else None, payload=payload))
            if not page.next_cursor:
                return out
            if page.next_cursor == cursor:
                raise ProviderError(PROVIDER, f"range: the cursor did not advance ({cursor!r}) at {self.url}")
            cursor = page.next_cursor

    async def _collect(self, scope: Scope, filters: Filter | None) -> list[VectorRecord]:
        """Every record in ``scope`` passing ``filters`` (no vectors), unordered."""
        plan = translate(scope, filters)
        if plan.never:
            return []
        dims = await self._ready()
        cfg = self.config
        if cfg.list_strategy == "query":
            probe = [1.0] + [0.0] * (dims - 1)  # any direction: list order comes from created_at
            results = await self._call(
                "query",
                self.client.query(
                    vector=probe, top_k=cfg.max_top_k, include_metadata=True, filter=plan.filter,
                    namespace=self.namespace,
                ),
            )
            if len(results) < cfg.max_top_k:
                return [
                    VectorRecord(id=r.id, vector=None, payload=r.metadata or {})
                    for r in results
                    if self._keep(r.metadata or {}, scope, filters)
                ]
            log.debug("upstash: list query hit max_top_k=%d; scanning the namespace", cfg.max_top_k)
        return await self._scan(scope, filters, vectors=False)

    async def _scan_search(
        self, q: list[float], scope: Scope, limit: int, filters: Filter | None
    ) -> list[ScoredRecord]:
        records = await self._scan(scope, filters, vectors=True)
        scored = sorted(
            ((_cosine(q, r.vector or []), r) for r in records), key=lambda t: (-t[0], t[1].id)
        )
        return [ScoredRecord(id=r.id, score=s, payload=r.payload) for s, r in scored[:limit]]

    async def search(
        self,
        vector: Sequence[float],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[ScoredRecord]:
        if limit <= 0:
            return []
        dims = await self._ready()
        q = self._vector(vector, dims, "query")
        plan = translate(scope, filters)
        if plan.never:
            return []
        cfg = self.config
        if limit > cfg.max_top_k:
            return await self._scan_search(q, scope, limit, filters)
        k = limit if plan.exact else min(cfg.max_top_k, limit * cfg.overfetch)
        while True:
            results = await self._call(
                "query",
                self.client.query(
                    vector=q, top_k=k, include_metadata=True, filter=plan.filter, namespace=self.namespace
                ),
            )
            hits = [
                ScoredRecord(id=r.id, score=self._to_cosine(r.score), payload=r.metadata or {})
                for r in results
                if self._keep(r.metadata or {}, scope, filters)
            ]
            if len(hits) >= limit or len(results) < k:
                return hits[:limit]
            if k >= cfg.max_top_k:
                log.debug("upstash: %d hits of %d within max_top_k=%d; scanning", len(hits), limit, k)
                return await self._scan_search(q, scope, limit, filters)
            k = min(cfg.max_top_k, k * 4)

    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
        if not wanted:
            return []
        pages = await self._gather(
            [
                self._call(
                    "fetch",
                    self.client.fetch(ids=chunk, include_vectors=True, include_metadata=True, namespace=self.namespace),
                )
                for chunk in self._chunks(wanted)
            ]
        )
        found = {r.id: r for page in pages for r in page if r is not None}
        out = []
        emitted: set[str] = set()
        for i in ids:
            r = found.get(i) if isinstance(i, str) else None
            if r is not None:
                payload = r.metadata or {}
                if i in emitted:  # the same id asked twice: two records, not one shared payload
                    payload = json.loads(json.dumps(payload))
                emitted.add(i)
                out.append(VectorRecord(id=i, vector=r.vector, payload=payload))
        return out

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        if limit is not None and limit <= 0:
            return []
        records = sorted(await self._collect(scope, filters), key=_order_key)
        return records if limit is None else records[:limit]

    async def count(self, *, scope: Scope) -> int:
        return len(await self._collect(scope, None))

    # ================================================================== writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        dims = await self._ready()
        items: dict[str, tuple[dict[str, Any], int]] = {}
        for r in records:
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"upstash: record ids must be non-empty strings, got {r.id!r}")
            vec = self._vector(r.vector, dims, f"record {r.id!r}")
            payload, nbytes = self._payload(r.payload, f"record {r.id!r}")
            items.pop(r.id, None)  # the same id twice in one call: the last one wins
            items[r.id] = ({"id": r.id, "vector": vec, "metadata": payload}, nbytes + len(r.id) + 20 * dims + 64)
        batches = self._batches(list(items.values()))
        await self._gather(
            [self._call("upsert", self.client.upsert(vectors=b, namespace=self.namespace)) for b in batches]
        )

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        if not isinstance(id, str) or not id:
            raise MemoryNotFoundError(str(id))
        if vector is None and payload is None:
            if not await self.get([id]):
                raise MemoryNotFoundError(id)
            return
        dims = await self._ready()
        vec = self._vector(vector, dims, f"record {id!r}") if vector is not None else None
        meta = self._payload(payload, f"record {id!r}")[0] if payload is not None else None
        updated = await self._call(
            "update",
            self.client.update(
                id, vector=vec, metadata=meta, namespace=self.namespace,
                metadata_update_mode=MetadataUpdateMode.OVERWRITE,
            ),
        )
        # "1 if any vector is updated, 0 otherwise": make sure a 0 means "no such id".
        if not updated and not await self.get([id]):
            raise MemoryNotFoundError(id)

    async def delete(self, ids: Sequence[str]) -> None:
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
        if not wanted:
            return
        await self._gather(
            [
                self._call("delete", self.client.delete(ids=chunk, namespace=self.namespace))
                for chunk in self._chunks(wanted)
            ]
        )

    async def reset(self) -> None:
        await self._call("reset", self.client.reset(namespace=self.namespace))

    async def aclose(self) -> None:
        """Close the HTTP connections. Idempotent; the store reconnects if used again."""
        await self.client.aclose()


__all__ = ["TOKEN_ENV", "URL_ENV", "UpstashVectorStore"]
