"""ChromaVectorStore: mem7's vector store on Chroma (``chromadb``'s embedded persistent client, or a
Chroma server through its HTTP client).

- One collection, created with ``{"hnsw": {"space": "cosine"}}`` and no embedding function: mem7
  passes every vector itself, and scores are ``1 - cosine distance`` (cosine similarity).
- Record ids are ``uuid5(ID_NAMESPACE, mem7_id)``; the mem7 id and the whole payload are kept as
  JSON in the ``mem7`` metadata field (Chroma metadata holds no nested values and no nulls).
- Every top-level string value of the payload is also a metadata field ``p.<key>`` (keys of
  ``[A-Za-z0-9_.-]``, up to 128 characters): the scope ids and the string equality filters
  (``eq``, ``in``) run in Chroma's ``where`` clause on them. Chroma's operators differ from mem7's
  elsewhere (no string ranges, no substring on metadata, no ``NOT``/exists, ``1 == True`` typing),
  so every candidate is re-checked here against the JSON payload with
  :func:`mem7_core.filters.evaluate`: every operator is answered exactly by the store, and searches
  over-fetch until ``limit`` candidates pass (see :data:`PUSHED_DOWN`).
- Embedded mode (``path``) is for one process at a time: Chroma's embedded client keeps its index in
  the opening process's memory and does not see another process's writes. The store takes an
  exclusive lock on the directory, so a second process fails with a clear error instead of
  silently diverging; stores of one process on one path share Chroma's client. Several processes
  share a store through a Chroma server (``chroma run --path DIR``) and ``host``/``port``.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field, model_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import Condition, Filter, Not, Or, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, ProviderConfig, VectorStore, VectorStoreCapabilities, check_vector
from mem7_core.providers.blocking import BlockingRunner

try:  # POSIX; elsewhere the embedded mode is not locked (documented)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PROVIDER = "chroma"
T = TypeVar("T")

ID_NAMESPACE = uuid.UUID("8d0f6c7e-3b1a-5c2e-9f47-6d1b2a9c0e35")
META_KEY = "mem7"
"""The metadata field holding ``{"id": mem7 id, "payload": payload}`` as JSON."""
FIELD_PREFIX = "p."
SPACE_KEY = "mem7_embedding_space"
"""Collection metadata field: the embedder that wrote the vectors (:class:`EmbeddingSpace` JSON)."""
_INDEXABLE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_MAX_FETCH = 1 << 20

PUSHED_DOWN: frozenset[str] = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains", "exists"}
)
"""Every operator: the store answers each exactly. ``eq``/``in`` with string values (and the scope
ids) narrow the candidates in Chroma's ``where``; the rest, and every candidate, are checked here
against the stored payload with mem7's reference semantics."""


def point_id(mem7_id: str) -> str:
    """The Chroma id of a mem7 id (any string, hostile ones included, maps to a plain UUID)."""
    return str(uuid.uuid5(ID_NAMESPACE, mem7_id))


def _indexable(key: str) -> bool:
    return bool(_INDEXABLE.match(key))




def encode(mem7_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The Chroma metadata of one record."""
    meta: dict[str, Any] = {META_KEY: json.dumps({"id": mem7_id, "payload": payload}, ensure_ascii=True)}
    for key, value in payload.items():
        if isinstance(value, str) and _indexable(key):
            meta[FIELD_PREFIX + key] = value
    return meta


def decode(meta: Any) -> tuple[str, dict[str, Any]]:
    """``(mem7 id, payload)`` of a record's metadata."""
    body = json.loads(meta[META_KEY])
    return str(body["id"]), dict(body["payload"])


def narrow(node: Filter | None) -> dict[str, Any] | None:
    """A Chroma ``where`` clause every record passing ``node`` passes (``None``: no narrowing).

    Only string ``eq``/``in`` translate (exact in Chroma on the ``p.<key>`` string fields); an AND
    keeps the children that translate, an OR needs all of them, a NOT gives nothing. The result is
    a superset: callers re-check each candidate with :func:`mem7_core.filters.evaluate`.
    """
    if node is None:
        return None
    if isinstance(node, Condition):
        if not _indexable(node.key):
            return None
        field = FIELD_PREFIX + node.key
        if node.op == "eq" and isinstance(node.value, str):
            return {field: {"$eq": node.value}}
        if node.op == "in" and node.value and all(isinstance(v, str) for v in node.value):
            return {field: {"$in": list(node.value)}}
        return None
    if isinstance(node, Not):
        return None
    parts = [narrow(c) for c in node.children]
    if isinstance(node, Or):
        if any(p is None for p in parts):
            return None
        return {"$or": parts} if len(parts) > 1 else parts[0]
    kept = [p for p in parts if p is not None]
    return _and(kept)


def _and(clauses: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return dict(clauses[0]) if len(clauses) == 1 else {"$and": list(clauses)}


def where_of(scope: Scope, node: Filter | None) -> dict[str, Any] | None:
    """The scope ids (exact) ANDed with the narrowing of ``node``."""
    clauses: list[dict[str, Any]] = [{FIELD_PREFIX + k: {"$eq": v}} for k, v in scope.items()]
    extra = narrow(node)
    if extra is not None:
        clauses.append(extra)
    return _and(clauses)


# ------------------------------------------------------------------ one process per embedded path
_locks_guard = threading.Lock()
_locks: dict[str, tuple[int, int]] = {}  # resolved path -> (lock file descriptor, stores holding it)


def _acquire(path: str) -> None:
    """Hold the directory's exclusive lock for this process (re-entrant across its stores)."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    with _locks_guard:
        if path in _locks:
            fd, count = _locks[path]
            _locks[path] = (fd, count + 1)
            return
        Path(path).mkdir(parents=True, exist_ok=True)
        fd = os.open(os.path.join(path, ".mem7-chroma.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"vector_store chroma: path {path!r} is open in another process. Chroma's embedded "
                "client is for one process at a time (it would not see the other process's writes); "
                "to share a store between processes run a Chroma server (`chroma run --path DIR`) "
                "and set host/port instead of path"
            ) from None
        _locks[path] = (fd, 1)


def _release(path: str) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        return
    with _locks_guard:
        fd, count = _locks[path]
        if count > 1:
            _locks[path] = (fd, count - 1)
            return
        del _locks[path]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class ChromaVectorStore(VectorStore):
    """mem7 vector store on Chroma: embedded (``path``) or a server (``host``/``port``)."""

    name = "chroma"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=PUSHED_DOWN, logical=True, persistent=True
    )

    class Config(ProviderConfig):
        path: str | None = None
        """Embedded persistent client on this directory (one process at a time)."""
        host: str | None = None
        """Chroma server host (``chroma run``), with ``port``; alternative to ``path``."""
        port: int = Field(8000, ge=1, le=65535)
        ssl: bool = False
        headers: dict[str, str] | None = None
        """Extra HTTP headers for the server (e.g. an auth token)."""
        tenant: str = "default_tenant"
        database: str = "default_database"
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,510}[A-Za-z0-9]$")
        """Chroma's rule: 3-512 characters of ``[A-Za-z0-9._-]``, starting and ending alphanumeric."""
        batch_size: int = Field(1000, ge=1, le=100_000)
        """Records per write/read request (also capped by Chroma's own maximum batch size)."""

        @model_validator(mode="after")
        def _one_place(self) -> ChromaVectorStore.Config:
            if (self.path is None) == (self.host is None):
                raise ValueError(
                    "chroma: set exactly one of path (embedded persistent client, one process) "
                    "or host (a Chroma server, with port)"
                )
            if self.path is not None and not self.path.strip():
                raise ValueError("chroma: path must be a directory path, got an empty string")
            return self

    config: Config

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        path = getattr(config, "path", None)
        if path is not None:
            return (
                f"the chroma vector store on path {path!r} is Chroma's embedded client, for one process "
                "(use a Chroma server with host/port)"
            )
        return None

    def __init__(self, config: ProviderConfig | None = None) -> None:
        super().__init__(config)
        self._runner = BlockingRunner("mem7-chroma")
        self._client: Any = None
        self._collection: Any = None
        self._locked: str | None = None
        self._space: EmbeddingSpace | None = None  # told by record_embedder, written with the next insert
        self._closed = False

    def __repr__(self) -> str:
        where = f"path={self.config.path!r}" if self.config.path else f"{self.config.host}:{self.config.port}"
        return f"<ChromaVectorStore {where} collection={self.config.collection_name!r}>"

    # ------------------------------------------------------------------ plumbing
    def _open(self) -> Any:
        if self._collection is not None:
            return self._collection
        import chromadb
        from chromadb.config import Settings

        cfg = self.config
        settings = Settings(anonymized_telemetry=False)
        try:
            if cfg.path is not None:
                path = str(Path(cfg.path).expanduser().resolve())
                if self._locked is None:
                    _acquire(path)
                    self._locked = path
                self._client = chromadb.PersistentClient(
                    path=path, settings=settings, tenant=cfg.tenant, database=cfg.database
                )
            else:
                self._client = chromadb.HttpClient(
                    host=cfg.host or "localhost",
                    port=cfg.port,
                    ssl=cfg.ssl,
                    headers=cfg.headers,
                    settings=settings,
                    tenant=cfg.tenant,
                    database=cfg.database,
                )
            self._collection = self._get_collection(create=True)
        except (ConfigError, ProviderError):
            self._unlock()
            raise
        except Exception as exc:
            self._unlock()
            raise ProviderError(PROVIDER, f"cannot open Chroma ({self!r}): {_describe(exc)}") from exc
        return self._collection

    def _get_collection(self, *, create: bool) -> Any:
        name = self.config.collection_name
        if create:
            col = self._client.get_or_create_collection(
                name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        else:
            col = self._client.get_collection(name, embedding_function=None)
        space = (col.configuration_json or {}).get("hnsw") or {}  # (.configuration warns: "legacy" EF)
        if space.get("space", "cosine") != "cosine":
            raise ConfigError(
                f"vector_store chroma: collection {name!r} uses distance {space.get('space')!r}; mem7 "
                "needs cosine. Use another collection_name, or recreate this one"
            )
        return col

    def _unlock(self) -> None:
        if self._locked is not None:
            _release(self._locked)
            self._locked = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self!r} is closed")
        return await self._runner.run(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        col = self._open()
        try:
            return fn(col, *args)
        except (ConfigError, ProviderError, MemoryNotFoundError, ValueError):
            raise
        except Exception as exc:
            if type(exc).__name__ in ("NotFoundError",) and "ollection" in str(exc):
                self._collection = None  # deleted behind our back (another client's reset): recreate once
                return fn(self._open(), *args)
            raise ProviderError(PROVIDER, f"{type(exc).__name__}: {_describe(exc)}") from exc

    def _batch(self) -> int:
        try:
            limit = int(self._client.get_max_batch_size())
        except Exception:
            limit = self.config.batch_size
        return max(1, min(self.config.batch_size, limit))

    # ------------------------------------------------------------------ writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        latest: dict[str, VectorRecord] = {}
        for r in records:
            latest[r.id] = r  # one upsert per id: the last one wins
        rows = [(r.id, check_vector(r.vector, f"record {r.id!r}", provider="chroma"), dict(r.payload))
                for r in latest.values()]
        if rows or self._space is not None:
            await self._call(self._insert_sync, rows)

    def _insert_sync(self, col: Any, rows: list[tuple[str, list[float], dict[str, Any]]]) -> None:
        step = self._batch()
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            ids = [point_id(i) for i, _, _ in chunk]
            metas = [encode(i, p) for i, _, p in chunk]
            _clear_stale(col, ids, metas)
            col.upsert(ids=ids, embeddings=[v for _, v, _ in chunk], metadatas=metas)
        if rows:
            self._write_space(col)

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        vec = check_vector(vector, f"the new vector of {id!r}", provider="chroma") if vector is not None else None
        await self._call(self._update_sync, id, vec, None if payload is None else dict(payload))

    def _update_sync(self, col: Any, id: str, vector: list[float] | None, payload: dict[str, Any] | None) -> None:
        pid = point_id(id)
        got = col.get(ids=[pid], include=["metadatas"])
        if not got["ids"]:
            raise MemoryNotFoundError(id)
        if payload is None and vector is None:
            return
        meta = encode(id, payload) if payload is not None else dict(got["metadatas"][0])
        for key in got["metadatas"][0] or {}:
            meta.setdefault(key, None)  # Chroma merges metadata: drop the keys the new payload lacks
        # update (not upsert): a record deleted by another client meanwhile stays deleted
        if vector is not None:
            col.update(ids=[pid], embeddings=[vector], metadatas=[meta])
        else:
            col.update(ids=[pid], metadatas=[meta])
        if vector is not None:
            self._write_space(col)

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await self._call(self._delete_sync, [point_id(i) for i in dict.fromkeys(ids)])

    def _delete_sync(self, col: Any, pids: list[str]) -> None:
        step = self._batch()
        for start in range(0, len(pids), step):
            col.delete(ids=pids[start : start + step])

    async def reset(self) -> None:
        await self._call(self._reset_sync)

    def _reset_sync(self, col: Any) -> None:
        try:
            self._client.delete_collection(self.config.collection_name)
        except Exception as exc:
            if type(exc).__name__ != "NotFoundError":
                raise
        self._collection = self._get_collection(create=True)

    # ------------------------------------------------------------------ reads
    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        if not ids:
            return []
        found = await self._call(self._get_sync, list(dict.fromkeys(ids)))
        return [VectorRecord(id=i, vector=list(found[i][0]), payload=dict(found[i][1])) for i in ids if i in found]

    def _get_sync(self, col: Any, ids: list[str]) -> dict[str, tuple[list[float], dict[str, Any]]]:
        out: dict[str, tuple[list[float], dict[str, Any]]] = {}
        step = self._batch()
        for start in range(0, len(ids), step):
            got = col.get(ids=[point_id(i) for i in ids[start : start + step]], include=["metadatas", "embeddings"])
            for meta, emb in zip(got["metadatas"], got["embeddings"]):
                mem7_id, payload = decode(meta)
                out[mem7_id] = ([float(x) for x in emb], payload)
        return out

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> builtins.list[VectorRecord]:
        rows = await self._call(self._list_sync, scope, filters)
        rows.sort(key=lambda r: (str(r.payload.get("created_at") or ""), r.id))
        return rows if limit is None else rows[: max(limit, 0)]

    def _list_sync(self, col: Any, scope: Scope, filters: Filter | None) -> builtins.list[VectorRecord]:
        where = where_of(scope, filters)
        out: builtins.list[VectorRecord] = []
        step = self._batch()
        offset = 0
        while True:
            got = col.get(where=where, include=["metadatas", "embeddings"], limit=step, offset=offset)
            for meta, emb in zip(got["metadatas"], got["embeddings"]):
                mem7_id, payload = decode(meta)
                if scope.matches(payload) and evaluate(filters, payload):
                    out.append(VectorRecord(id=mem7_id, vector=[float(x) for x in emb], payload=payload))
            if len(got["ids"]) < step:
                return out
            offset += step

    async def count(self, *, scope: Scope) -> int:
        return await self._call(self._count_sync, scope)

    def _count_sync(self, col: Any, scope: Scope) -> int:
        if scope.is_empty:
            return int(col.count())
        return len(self._list_sync(col, scope, None))

    async def search(
        self, vector: Sequence[float], *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> builtins.list[ScoredRecord]:
        return (await self.search_many([vector], scope=scope, limit=limit, filters=filters))[0]

    async def search_many(
        self,
        vectors: Sequence[Sequence[float]],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> builtins.list[builtins.list[ScoredRecord]]:
        if not vectors:
            return []
        queries = [check_vector(v, "the query vector", provider="chroma") for v in vectors]
        if limit <= 0:
            return [[] for _ in queries]
        return await self._call(self._search_sync, queries, scope, limit, filters)

    def _search_sync(
        self, col: Any, queries: builtins.list[builtins.list[float]], scope: Scope, limit: int, filters: Filter | None
    ) -> builtins.list[builtins.list[ScoredRecord]]:
        total = int(col.count())
        if total == 0:
            return [[] for _ in queries]
        where = where_of(scope, filters)
        # The where clause is exact for the scope; any filter is re-checked here, so over-fetch.
        fetch = min(total, limit if filters is None else max(4 * limit, 32))
        results: dict[int, builtins.list[ScoredRecord]] = {}
        todo = list(range(len(queries)))
        while todo:
            got = col.query(
                query_embeddings=[queries[i] for i in todo],
                n_results=fetch,
                where=where,
                include=["metadatas", "distances", "embeddings"],
            )
            still: builtins.list[int] = []
            for n, i in enumerate(todo):
                hits: builtins.list[ScoredRecord] = []
                metas, dists, embs = got["metadatas"][n], got["distances"][n], got["embeddings"][n]
                for meta, dist, emb in zip(metas, dists, embs):
                    mem7_id, payload = decode(meta)
                    if scope.matches(payload) and evaluate(filters, payload):
                        hits.append(
                            ScoredRecord(
                                id=mem7_id, score=1.0 - float(dist), payload=payload, vector=[float(x) for x in emb]
                            )
                        )
                if len(hits) >= limit or len(metas) < fetch or fetch >= total:
                    results[i] = hits[:limit]
                else:
                    still.append(i)
            todo = still
            fetch = min(total, fetch * 4, _MAX_FETCH)
        return [results[i] for i in range(len(queries))]

    # ------------------------------------------------------------------ embedding space
    async def embedding_space(self) -> EmbeddingSpace | None:
        return await self._call(self._space_sync)

    def _space_sync(self, col: Any) -> EmbeddingSpace | None:
        got = col.peek(1)
        embs = got.get("embeddings")
        if embs is None or len(embs) == 0:
            return None
        dims = len(embs[0])
        raw = (col.metadata or {}).get(SPACE_KEY)
        if isinstance(raw, str):
            try:
                space = EmbeddingSpace.from_json(json.loads(raw))
            except (ValueError, TypeError):
                space = None
            if space is not None and space.dims == dims:
                return space
        return EmbeddingSpace(dims=dims)

    def record_embedder(self, space: EmbeddingSpace) -> None:
        self._space = space

    def _write_space(self, col: Any) -> None:
        if self._space is None:
            return
        text = json.dumps(self._space.to_json(), sort_keys=True)
        meta = dict(col.metadata or {})
        if meta.get(SPACE_KEY) != text:
            meta[SPACE_KEY] = text
            col.modify(metadata=meta)
        self._space = None

    # ------------------------------------------------------------------ lifecycle
    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._runner.run(self._close_sync)
        finally:
            await self._runner.aclose()

    def _close_sync(self) -> None:
        client, self._client, self._collection = self._client, None, None
        try:
            if client is not None:
                client.close()
        finally:
            self._unlock()


def _clear_stale(col: Any, ids: Sequence[str], metas: Sequence[dict[str, Any]]) -> None:
    """Chroma merges an upsert's metadata into the stored one: set to ``None`` (deleted) every
    ``p.<key>`` field of the stored records that their new payloads no longer have."""
    old = col.get(ids=list(ids), include=["metadatas"])
    stale = {pid: m for pid, m in zip(old["ids"], old["metadatas"]) if m}
    for pid, meta in zip(ids, metas):
        for key in stale.get(pid, {}):
            meta.setdefault(key, None)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "..."
