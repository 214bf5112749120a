"""PineconeVectorStore: mem7's vector store on a Pinecone index, through the official ``pinecone``
SDK's async REST client (``AsyncIndex``; the gRPC client is not used).

- The index is an existing dense index with the ``cosine`` metric, reached by its host, or by its
  name through the control plane (``AsyncPinecone.index(name=...)``: one describe request). The
  store checks its dimension (against ``dims`` when set) and metric on first use.
- A mem7 collection is a Pinecone namespace; the embedder that wrote it is kept in one record of a
  companion namespace (``<namespace>__mem7``), so searches and listings never see it.
- Record ids are ``uuid5`` of the mem7 id; the mem7 id and the whole payload are kept as JSON in
  the metadata, next to indexed copies of the top-level values Pinecone's filter language can
  compare (``_filters``). The scope and the filter go down to Pinecone (``query``,
  ``fetch_by_metadata``) translated exactly where the languages agree and more broadly where they
  do not (ranges on strings other than the engine's times, substrings); every candidate is
  re-checked here with mem7's reference semantics, and a search that lost candidates to the
  re-check widens ``top_k`` and, past ``max_top_k``, ranks every candidate of a paged
  ``fetch_by_metadata`` itself. Every operator is answered exactly by the store.
- Retries are mem7's (:class:`~mem7_core.providers.http.RetryPolicy`): the SDK's own retry
  transport is replaced by one that does not retry (see :func:`_without_sdk_retries`), so a call
  makes at most ``1 + max_retries`` requests within ``deadline`` and the operation's budget.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, model_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import ALL_OPERATORS, Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, ProviderConfig, VectorStore, VectorStoreCapabilities
from mem7_core.providers.http import (
    BudgetSpent,
    HttpRetryConfig,
    budget_error,
    retryable_status,
    status_error,
    timeout_error,
    unreachable_error,
)
from mem7_core.providers.vectors import cosine

from ._filters import EVERYTHING, decode, encode, point_id, where

log = logging.getLogger("mem7.pinecone")

PROVIDER = "pinecone"
KEY_ENV_VAR = "PINECONE_API_KEY"
META_SUFFIX = "__mem7"
SPACE_ID = "mem7-embedding-space"
T = TypeVar("T")

_FETCH_CHUNK = 100
"""Ids per fetch request (they travel in the URL)."""
_DELETE_CHUNK = 1000
"""Ids per delete request (the API's maximum)."""


class PineconeStoreConfig(HttpRetryConfig):
    """``vector_store.config`` of the ``pinecone`` provider (``timeout``, ``deadline`` and the retry
    fields from :class:`~mem7_core.providers.http.HttpRetryConfig`). Unknown fields are errors."""

    api_key: SecretStr | None = Field(None, description="API key; default PINECONE_API_KEY.")
    host: str | None = Field(
        None, description="The index's data-plane host (from the console or describe_index); or give index_name.")
    index_name: str | None = Field(
        None, description="The index's name, resolved to its host by one control-plane describe request.")
    controller_host: str | None = Field(
        None, description="Control-plane URL for index_name; default PINECONE_CONTROLLER_HOST, then "
        "https://api.pinecone.io.")
    namespace: str = Field("mem7", min_length=1, max_length=500,
                           description="The namespace holding this collection's records.")
    dims: int | None = Field(None, gt=0, description="Expected vector size; checked against the index's dimension.")
    batch_size: int = Field(100, ge=1, le=1000, description="Vectors per upsert request (the API takes 1000).")
    max_top_k: int = Field(1000, ge=1, le=1000,
                           description="Most candidates one query asks for (the API's cap with metadata is 1000).")
    page_size: int = Field(1000, ge=1, le=10000, description="Records per fetch_by_metadata page.")

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        """mem0's ``collection_name`` is the index name, its ``embedding_model_dims`` our ``dims``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "collection_name" in data and data.get("index_name") is None:
            data["index_name"] = data.pop("collection_name")
        if "embedding_model_dims" in data and data.get("dims") is None:
            data["dims"] = data.pop("embedding_model_dims")
        return data

    @model_validator(mode="after")
    def _one_index(self) -> PineconeStoreConfig:
        if bool(self.host) == bool(self.index_name):
            raise ValueError("give exactly one of vector_store.config.host (the index's host) and "
                             "vector_store.config.index_name (resolved through the control plane)")
        return self


# ------------------------------------------------------------------------------------ errors
def _status(exc: BaseException) -> int | None:
    from pinecone.errors import ApiError

    if isinstance(exc, ApiError):
        status = getattr(exc, "status_code", None)
        return status if isinstance(status, int) else None
    return None


def _is_retryable(exc: BaseException) -> bool:
    from pinecone.errors import PineconeConnectionError, PineconeTimeoutError

    if isinstance(exc, (PineconeConnectionError, PineconeTimeoutError)):
        return True
    status = _status(exc)
    return status is not None and retryable_status(status)


def _is_timeout(exc: BaseException) -> bool:
    from pinecone.errors import PineconeTimeoutError

    return isinstance(exc, PineconeTimeoutError)


def _hint(exc: BaseException) -> float | None:
    from mem7_core.providers.http import retry_after

    headers = getattr(exc, "headers", None)
    return retry_after(headers) if isinstance(headers, dict) else None


def _without_sdk_retries(index: Any) -> None:
    """Replace the data-plane client's HTTP client by one whose retry transport does not retry.

    ``AsyncIndex`` builds its client with the SDK's default retry policy (3 retries, its own backoff,
    a process-wide retry budget) and takes no ``retry_config``; mem7's policy must be the only one,
    so the count is exact and bounded by the operation's budget. This reaches into the SDK's client
    (``_config``, ``_http``), checked here so an SDK that changed it fails loudly (the dependency is
    pinned to the tested major version).
    """
    from pinecone._internal.config import PineconeConfig, RetryConfig
    from pinecone._internal.constants import DATA_PLANE_API_VERSION
    from pinecone._internal.http_client import AsyncHTTPClient

    config = getattr(index, "_config", None)
    if not isinstance(config, PineconeConfig) or not hasattr(index, "_http"):
        raise ProviderError(PROVIDER, "this pinecone SDK version is not supported (AsyncIndex has no _config/_http); "
                                      "install pinecone>=10.2,<11")
    index._http = AsyncHTTPClient(dataclasses.replace(config, retry_config=RetryConfig(max_retries=0)),
                                  DATA_PLANE_API_VERSION)


def _check_vector(vector: Sequence[float] | None, what: str, dims: int | None) -> list[float]:
    if vector is None:
        raise ValueError(f"pinecone: {what} has no vector")
    out = [float(x) for x in vector]
    if dims is not None and len(out) != dims:
        raise ValueError(f"pinecone: {what} has {len(out)} dimensions; the index holds {dims}")
    if not all(math.isfinite(x) for x in out):
        raise ValueError(f"pinecone: {what} must contain finite numbers only")
    if not any(out):
        raise ValueError(f"pinecone: {what} is all zeros (a cosine index needs a non-zero vector)")
    return out


# ------------------------------------------------------------------------------------ store
class PineconeVectorStore(VectorStore):
    """A Pinecone index (one namespace per collection) as a mem7 vector store."""

    name = "pinecone"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=ALL_OPERATORS, logical=True, persistent=True)
    Config = PineconeStoreConfig
    config: PineconeStoreConfig

    def __init__(self, config: ProviderConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
        key = key or os.environ.get(KEY_ENV_VAR) or None
        if not key:
            raise ConfigError("pinecone vector store: no api_key. Set PINECONE_API_KEY or vector_store.config.api_key")
        self._key = key
        self.namespace = cfg.namespace
        self.meta_namespace = cfg.namespace + META_SUFFIX
        self.where = cfg.host or f"index {cfg.index_name!r}"
        self._retry = cfg.retry_policy(PROVIDER)
        self._index: Any = None
        self._dims: int | None = None
        self._open_lock = asyncio.Lock()
        self._space: EmbeddingSpace | None = None
        self._space_written = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<PineconeVectorStore {self.where} namespace={self.namespace!r}>"

    # ------------------------------------------------------------------ connection
    async def _open(self) -> Any:
        if self._closed:
            raise ProviderError(PROVIDER, "vector store used after aclose()")
        if self._index is not None:
            return self._index
        async with self._open_lock:
            if self._index is None:
                index = await self._retry.run(self._connect, retryable=_is_retryable, describe=self._describe,
                                              hint=_hint, is_timeout=_is_timeout)
                _without_sdk_retries(index)
                try:
                    stats = await self._retry.run(index.describe_index_stats, retryable=_is_retryable,
                                                  describe=self._describe, hint=_hint, is_timeout=_is_timeout)
                    self._check_index(stats)
                except BaseException:
                    await index.close()
                    raise
                self._index = index
        return self._index

    async def _connect(self) -> Any:
        from pinecone import AsyncIndex, AsyncPinecone
        from pinecone._internal.config import RetryConfig

        cfg = self.config
        if cfg.host:
            # a plain-http host (a proxy, an emulator) never does TLS: no CA bundle to load
            return AsyncIndex(host=cfg.host, api_key=self._key, timeout=cfg.timeout,
                              ssl_verify=not cfg.host.startswith("http://"))
        controller = cfg.controller_host or os.environ.get("PINECONE_CONTROLLER_HOST") or None
        async with AsyncPinecone(api_key=self._key, host=controller, timeout=cfg.timeout,
                                 ssl_verify=not (controller or "").startswith("http://"),
                                 retry_config=RetryConfig(max_retries=0)) as pc:
            index = await pc.index(name=cfg.index_name or "")
        self.where = f"index {cfg.index_name!r} at {index.host}"
        return index

    def _check_index(self, stats: Any) -> None:
        dims, metric = getattr(stats, "dimension", None), getattr(stats, "metric", None)
        if not isinstance(dims, int):
            raise ProviderError(PROVIDER, f"{self.where} has no dense vectors (a sparse or document index?): "
                                          "mem7 needs a dense index with the cosine metric")
        if self.config.dims is not None and dims != self.config.dims:
            raise ConfigError(f"pinecone: {self.where} holds {dims}-dimensional vectors but vector_store.config.dims "
                              f"is {self.config.dims}; use an index of dimension {self.config.dims} or set dims "
                              f"to {dims} (with an embedder of that size)")
        if metric is not None and str(metric).lower() != "cosine":
            raise ConfigError(f"pinecone: {self.where} uses the {metric!r} metric; mem7 needs an index created "
                              "with metric='cosine' (scores are cosine similarities)")
        self._dims = dims

    async def _call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        index = await self._open()
        return await self._retry.run(lambda: fn(index), retryable=_is_retryable, describe=self._describe,
                                     hint=_hint, is_timeout=_is_timeout)

    def _describe(self, exc: BaseException, attempts: int) -> BaseException:
        from pinecone.errors import (
            PineconeConnectionError,
            PineconeTimeoutError,
            PineconeTypeError,
            PineconeValueError,
            ResponseParsingError,
        )

        if isinstance(exc, (ProviderError, ConfigError, MemoryNotFoundError)):
            return exc
        who, url = "vector store", self.where
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field="vector_store.config.deadline")
        if isinstance(exc, PineconeTimeoutError):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, PineconeConnectionError):
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts, detail=f" ({exc})")
        status = _status(exc)
        if status is not None:
            message = str(getattr(exc, "message", None) or exc)
            return status_error(status, message, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                key_hint="PINECONE_API_KEY or vector_store.config.api_key",
                                forbidden_hint="check that the api key's project holds the index",
                                not_found_hint="check vector_store.config.host / index_name")
        if isinstance(exc, ResponseParsingError):
            return ProviderError(PROVIDER, f"{who}: malformed response from {url}: {exc}")
        if isinstance(exc, (PineconeValueError, PineconeTypeError)):
            return ProviderError(PROVIDER, f"{who}: the pinecone client refused the request: {exc}")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    # ------------------------------------------------------------------ reading records
    def _record(self, vec: Any, *, with_vector: bool) -> VectorRecord:
        try:
            mem7_id, payload = decode(getattr(vec, "metadata", None))
        except (ValueError, TypeError) as exc:
            raise ProviderError(PROVIDER, f"vector store: record {getattr(vec, 'id', '?')!r} in namespace "
                                          f"{self.namespace!r} is not a mem7 record ({exc}); give mem7 a namespace "
                                          "of its own") from None
        values = [float(x) for x in getattr(vec, "values", None) or []] if with_vector else None
        return VectorRecord(id=mem7_id, vector=values, payload=payload)

    async def _fetch(self, pids: Sequence[str], namespace: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for i in range(0, len(pids), _FETCH_CHUNK):
            chunk = list(pids[i:i + _FETCH_CHUNK])

            async def fetch(idx: Any, chunk: builtins.list[str] = chunk) -> Any:
                return await idx.fetch(ids=chunk, namespace=namespace)

            found.update((await self._call(fetch)).vectors or {})
        return found

    async def _scan(self, flt: dict[str, Any]) -> builtins.list[VectorRecord]:
        """Every record of the namespace passing ``flt``, page by page (``fetch_by_metadata``)."""
        out: builtins.list[VectorRecord] = []
        token: str | None = None
        while True:
            async def page(idx: Any, token: str | None = token) -> Any:
                return await idx.fetch_by_metadata(filter=flt, namespace=self.namespace, limit=self.config.page_size,
                                                   pagination_token=token)

            response = await self._call(page)
            out.extend(self._record(v, with_vector=True) for v in (response.vectors or {}).values())
            token = getattr(response.pagination, "next", None) if response.pagination is not None else None
            if not token:
                return out

    # ------------------------------------------------------------------ writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        await self._open()
        rows: dict[str, dict[str, Any]] = {}
        for r in records:  # the last of one id wins, as an upsert would
            rows[point_id(r.id)] = {"id": point_id(r.id), "values": _check_vector(r.vector, f"record {r.id!r}",
                                                                                  self._dims),
                                    "metadata": encode(r.id, r.payload)}
        await self._write_space()
        await self._upsert(builtins.list(rows.values()))

    async def _upsert(self, vectors: builtins.list[dict[str, Any]], namespace: str | None = None) -> None:
        ns = self.namespace if namespace is None else namespace
        size = self.config.batch_size
        for i in range(0, len(vectors), size):
            chunk = vectors[i:i + size]

            async def upsert(idx: Any, chunk: builtins.list[dict[str, Any]] = chunk) -> Any:
                return await idx.upsert(vectors=chunk, namespace=ns)

            await self._call(upsert)

    async def _write_space(self) -> None:
        """The recorded embedder, written with the first write that stores vectors (before them)."""
        if self._space is None or self._space_written or self._dims is None:
            return
        axis = [0.0] * self._dims
        axis[0] = 1.0
        meta = {"space": json.dumps(self._space.to_json(), sort_keys=True)}
        await self._upsert([{"id": SPACE_ID, "values": axis, "metadata": meta}], self.meta_namespace)
        self._space_written = True

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        pid = point_id(id)
        found = (await self._fetch([pid], self.namespace)).get(pid)
        if found is None:
            raise MemoryNotFoundError(id)
        old = self._record(found, with_vector=True)
        values = _check_vector(vector if vector is not None else old.vector, f"record {id!r}", self._dims)
        await self._upsert([{"id": pid, "values": values,
                             "metadata": encode(id, payload if payload is not None else old.payload)}])

    async def delete(self, ids: Sequence[str]) -> None:
        pids = builtins.list(dict.fromkeys(point_id(i) for i in ids))
        for i in range(0, len(pids), _DELETE_CHUNK):
            chunk = pids[i:i + _DELETE_CHUNK]

            async def delete(idx: Any, chunk: builtins.list[str] = chunk) -> Any:
                return await idx.delete(ids=chunk, namespace=self.namespace)

            await self._call(delete)

    async def reset(self) -> None:
        for ns in (self.namespace, self.meta_namespace):
            async def delete_all(idx: Any, ns: str = ns) -> Any:
                return await idx.delete(delete_all=True, namespace=ns)

            try:
                await self._call(delete_all)
            except ProviderError as exc:
                if getattr(exc, "status", None) != 404:  # Pinecone answers 404 for a namespace never written
                    raise
        self._space_written = False

    # ------------------------------------------------------------------ reads
    async def get(self, ids: Sequence[str]) -> builtins.list[VectorRecord]:
        if not ids:
            return []
        wanted = builtins.list(dict.fromkeys(ids))
        found = await self._fetch([point_id(i) for i in wanted], self.namespace)
        out = []
        for mem7_id in wanted:
            vec = found.get(point_id(mem7_id))
            if vec is not None:
                out.append(self._record(vec, with_vector=True))
        return out

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> builtins.list[VectorRecord]:
        records = [r for r in await self._scan(where(scope, filters))
                   if scope.matches(r.payload) and evaluate(filters, r.payload)]
        records.sort(key=lambda r: (str(r.payload.get("created_at") or ""), r.id))
        return records if limit is None else records[:limit]

    async def search(
        self, vector: Sequence[float], *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> builtins.list[ScoredRecord]:
        if limit <= 0:
            return []
        query = _check_vector(vector, "the query vector", None)
        flt = where(scope, filters)
        top_k = min(limit, self.config.max_top_k)
        while True:
            async def ask(idx: Any, k: int = top_k) -> Any:
                return await idx.query(vector=query, top_k=k, filter=flt, include_metadata=True,
                                       namespace=self.namespace)

            matches = (await self._call(ask)).matches or []
            hits = []
            for m in matches:
                rec = self._record(m, with_vector=False)
                if scope.matches(rec.payload) and evaluate(filters, rec.payload):
                    hits.append(ScoredRecord(id=rec.id, score=float(m.score), payload=rec.payload))
            if len(hits) >= limit or len(matches) < top_k:
                hits.sort(key=lambda h: (-h.score, h.id))
                return hits[:limit]
            if top_k >= self.config.max_top_k:
                break
            top_k = min(top_k * 4, self.config.max_top_k)
        # more candidates than one query returns failed the re-check: rank every candidate here
        scored = [ScoredRecord(id=r.id, score=cosine(query, r.vector or []), payload=r.payload)
                  for r in await self._scan(flt) if scope.matches(r.payload) and evaluate(filters, r.payload)]
        scored.sort(key=lambda h: (-h.score, h.id))
        return scored[:limit]

    # ------------------------------------------------------------------ embedder
    async def embedding_space(self) -> EmbeddingSpace | None:
        await self._open()
        found = (await self._fetch([SPACE_ID], self.meta_namespace)).get(SPACE_ID)
        if found is not None:
            try:
                return EmbeddingSpace.from_json(json.loads((found.metadata or {})["space"]))
            except (KeyError, TypeError, ValueError):
                log.warning("pinecone: unreadable embedder record in namespace %r; ignored", self.meta_namespace)
        return EmbeddingSpace(dims=self._dims) if self._dims is not None else None

    def record_embedder(self, space: EmbeddingSpace) -> None:
        self._space = space
        self._space_written = False

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        index, self._index = self._index, None
        if index is not None:
            await index.close()


__all__ = ["EVERYTHING", "PROVIDER", "PineconeStoreConfig", "PineconeVectorStore"]
