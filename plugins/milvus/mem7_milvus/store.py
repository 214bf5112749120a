"""MilvusVectorStore: mem7's vector store on Milvus, through ``pymilvus``'s ``MilvusClient``: Milvus
Lite on a local ``.db`` path, or a Milvus server (``http://host:19530``, Zilliz Cloud).

- One collection, created on the first write (or at start when ``dims`` is set): a VARCHAR primary
  key ``pk`` (``uuid5(ID_NAMESPACE, mem7 id)``, so any id fits), ``mem7_id``, the scope ids
  ``user_id``/``agent_id``/``run_id`` as VARCHAR fields, the ``vector`` (``FLOAT_VECTOR``, COSINE
  metric: scores are cosine similarity), ``doc`` (the payload as JSON text, returned exactly) and
  ``payload`` (a JSON field, the filterable copy of the payload, see :mod:`._filters`).
- Strong consistency: the collection is created with ``consistency_level="Strong"`` and every
  search and query asks for it, so a read sees every write acknowledged before it, from any client.
  An insert is acknowledged once Milvus has it in its write-ahead log (Milvus Lite: the WAL file;
  a server: its log broker), which survives the writing process being killed.
- Scopes and filters run in Milvus as boolean expressions where every Milvus engine answers them
  exactly; every candidate is re-checked with mem7's reference semantics and searches fetch more
  until ``limit`` hits pass, so every operator is answered exactly (see :data:`PUSHED_DOWN`).
- Milvus Lite (a ``.db`` path) serves one process: it locks its data, and this store takes its own
  lock first, so a second process gets a clear :class:`ConfigError`. Stores of one process on one
  path share one Milvus Lite instance. Several processes share a store through a Milvus server.
- Failures end as :class:`~mem7_core.errors.ProviderError` naming ``milvus``; every call has a
  timeout (``timeout``, never past the operation's budget), which also bounds pymilvus's retries.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, field_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import ALL_OPERATORS, Filter, evaluate
from mem7_core.models import SCOPE_KEYS, Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, ProviderConfig, VectorStore, VectorStoreCapabilities, check_vector
from mem7_core.providers.blocking import BlockingRunner
from mem7_core.providers.deadline import remaining

from . import _filters as mf

try:  # POSIX; elsewhere Milvus Lite's own lock is the only one (documented)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mem7.milvus")

PROVIDER = "milvus"
T = TypeVar("T")

ID_NAMESPACE = uuid.UUID("5b3c1f0e-8a47-5d2c-b9e1-3f6a7c2d4e81")
SPACE_PROPERTY = "mem7.embedding_space"
"""Collection property holding the embedder that wrote the vectors (:class:`EmbeddingSpace` JSON)."""
OUTPUT = ["mem7_id", "vector", "doc"]
MAX_VARCHAR = 65535
"""Milvus's VARCHAR limit (bytes): the longest id, scope id and payload (as JSON) a record can hold."""
MAX_TOPK = 16384
"""Milvus's limit on a search's ``limit`` (and a query's offset + limit)."""

PUSHED_DOWN: frozenset[str] = ALL_OPERATORS
"""Every operator: the store answers each exactly. Strings with ``eq``/``in``/ranges/``contains``,
numbers with ``eq``/``in``/ranges, and the scope narrow the candidates in Milvus (see
:mod:`._filters`); every candidate is checked here against the stored payload."""


def point_id(mem7_id: str) -> str:
    """The Milvus primary key of a mem7 id (any string, hostile ones included, maps to a UUID)."""
    return str(uuid.uuid5(ID_NAMESPACE, mem7_id))




def _is_local(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


# ------------------------------------------------------------------ one process per Milvus Lite path
_locks_guard = threading.Lock()
_locks: dict[str, tuple[int, int]] = {}  # resolved .db path -> (lock file descriptor, stores holding it)


def _acquire(path: str) -> None:
    """Hold the path's exclusive lock for this process (re-entrant across its stores)."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    with _locks_guard:
        if path in _locks:
            fd, count = _locks[path]
            _locks[path] = (fd, count + 1)
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path + ".mem7-lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"vector_store milvus: uri {path!r} is open in another process. Milvus Lite (a local "
                ".db path) serves one process at a time; to share a store between processes run a "
                "Milvus server and set uri to it (e.g. http://localhost:19530)"
            ) from None
        _locks[path] = (fd, 1)


def _release(path: str) -> bool:
    """Drop one hold; ``True`` when it was the process's last one on ``path``."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    with _locks_guard:
        fd, count = _locks[path]
        if count > 1:
            _locks[path] = (fd, count - 1)
            return False
        del _locks[path]
        _stop_lite(path)  # Milvus Lite keeps its instance (and its own lock) until told
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        return True


def _stop_lite(path: str) -> None:
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:  # pragma: no cover - milvus-lite not installed: nothing was started
        return
    try:
        server_manager_instance.release_server(path)
    except Exception as exc:  # pragma: no cover - best effort: process exit stops it anyway
        log.warning("milvus: could not stop Milvus Lite on %s: %s", path, exc)


class MilvusVectorStore(VectorStore):
    """mem7 vector store on Milvus: Milvus Lite (``uri`` a ``.db`` path) or a Milvus server."""

    name = "milvus"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=PUSHED_DOWN, logical=True, persistent=True
    )

    class Config(ProviderConfig):
        uri: str = "./mem7_milvus.db"
        """A local path ending in ``.db`` (Milvus Lite, one process) or a Milvus server's URL
        (``http://localhost:19530``, ``https://...`` for Zilliz Cloud)."""
        token: SecretStr | None = None
        """Server credentials: ``user:password`` or an API key (Zilliz Cloud). Kept out of reprs."""
        db_name: str = Field("", pattern=r"^([A-Za-z_][A-Za-z0-9_]{0,254})?$")
        """The server's database (``""``: its default database)."""
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
        """Milvus's rule: letters, digits and underscores, not starting with a digit."""
        dims: int | None = Field(None, ge=1, le=32768)
        """Vector size; ``None`` takes it from an existing collection or the first insert."""
        index_type: Literal["AUTOINDEX", "FLAT", "HNSW", "IVF_FLAT"] = "AUTOINDEX"
        """The vector index made with a new collection (``FLAT``: exact search)."""
        batch_size: int = Field(256, ge=1, le=10_000)
        """Records per insert/get/delete request."""
        timeout: float = Field(30.0, gt=0, le=600)
        """Seconds per call (pymilvus's retries included), never past the operation's budget."""

        @field_validator("uri")
        @classmethod
        def _uri(cls, v: str) -> str:
            v = v.strip()
            if not v:
                raise ValueError("uri must be a local .db path (Milvus Lite) or a server URL (http://host:19530)")
            if _is_local(v):
                if not v.endswith(".db"):
                    raise ValueError(
                        f"uri {v!r} is neither a Milvus Lite file (a path ending in .db) nor a server URL "
                        "(http://host:19530): add .db, or write the server's http:// URL"
                    )
                return str(Path(v).expanduser().resolve())
            return v

    config: Config

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        uri = getattr(config, "uri", "")
        if _is_local(uri):
            return f"the milvus vector store on {uri!r} is Milvus Lite, for one process (use a Milvus server uri)"
        return None

    def __init__(self, config: ProviderConfig | None = None) -> None:
        super().__init__(config)
        self._runner = BlockingRunner("mem7-milvus")
        self._client: Any = None
        self._locked: str | None = None
        self._ready = False  # the collection exists and is loaded
        self._dims: int | None = None
        self._space: EmbeddingSpace | None = None  # told by record_embedder, written with the next insert
        self._closed = False

    def __repr__(self) -> str:
        return f"<MilvusVectorStore {self.config.uri!r} collection={self.config.collection_name!r}>"

    # ------------------------------------------------------------------ plumbing
    def _timeout(self) -> float:
        left = remaining()
        if left is None:
            return self.config.timeout
        if left <= 0:
            raise ProviderError(PROVIDER, "the operation's time budget is spent")
        return min(self.config.timeout, left)

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        from pymilvus import MilvusClient

        cfg = self.config
        if _is_local(cfg.uri) and self._locked is None:
            _acquire(cfg.uri)
            self._locked = cfg.uri
        try:
            kwargs: dict[str, Any] = {"uri": cfg.uri, "timeout": self._timeout()}
            if cfg.token is not None:
                kwargs["token"] = cfg.token.get_secret_value()
            if cfg.db_name:
                kwargs["db_name"] = cfg.db_name
            self._client = MilvusClient(**kwargs)
        except Exception as exc:
            self._unlock()
            raise ProviderError(PROVIDER, f"cannot open Milvus ({self!r}): {_describe(exc)}") from exc
        return self._client

    def _collection(self, *, dims: int | None = None) -> bool:
        """Make sure the collection is there and loaded; create it when ``dims`` (or the config's)
        is known. ``False``: it does not exist (and nothing can be created yet)."""
        if self._ready:
            return True
        client, name = self._connect(), self.config.collection_name
        if not client.has_collection(name, timeout=self._timeout()):
            dims = dims or self.config.dims
            if dims is None:
                return False
            self._create(client, dims)
        else:
            self._adopt(client)
        client.load_collection(name, timeout=self._timeout())
        self._ready = True
        return True

    def _create(self, client: Any, dims: int) -> None:
        from pymilvus import DataType

        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=36)
        schema.add_field("mem7_id", DataType.VARCHAR, max_length=MAX_VARCHAR)
        for key in SCOPE_KEYS:
            schema.add_field(key, DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dims)
        schema.add_field("doc", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("payload", DataType.JSON)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type=self.config.index_type, metric_type="COSINE")
        space = self._space if self._space is not None and self._space.dims == dims else None
        name = self.config.collection_name
        kwargs: dict[str, Any] = {}
        if space is not None:
            kwargs["properties"] = {SPACE_PROPERTY: json.dumps(space.to_json(), sort_keys=True)}
        client.create_collection(name, schema=schema, consistency_level="Strong", timeout=self._timeout(), **kwargs)
        # sync=False: pymilvus would poll the new (empty) index every 0.5 s; loading waits for it.
        client.create_index(name, index, timeout=self._timeout(), sync=False)
        self._dims = dims
        if space is not None:
            self._space = None  # written with the collection

    def _adopt(self, client: Any) -> None:
        """Check an existing collection is one of mem7's, with the cosine metric."""
        name = self.config.collection_name
        desc = client.describe_collection(name, timeout=self._timeout())
        fields = {f["name"]: f for f in desc.get("fields", [])}
        missing = [f for f in ("pk", "mem7_id", *SCOPE_KEYS, "vector", "doc", "payload") if f not in fields]
        if missing:
            raise ConfigError(
                f"vector_store milvus: collection {name!r} was not made by mem7 (it lacks the fields "
                f"{', '.join(missing)}). Use another collection_name"
            )
        self._dims = int(fields["vector"].get("params", {}).get("dim"))
        metric = _metric(client, name, self._timeout())
        if metric is not None and metric.upper() != "COSINE":
            raise ConfigError(
                f"vector_store milvus: collection {name!r} uses the metric {metric!r}; mem7 needs COSINE. "
                "Use another collection_name, or recreate this one"
            )

    def _unlock(self) -> None:
        if self._locked is not None:
            _release(self._locked)
            self._locked = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self!r} is closed")
        return await self._runner.run(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (ConfigError, ProviderError, MemoryNotFoundError, ValueError):
            raise
        except Exception as exc:
            if _collection_gone(exc):
                self._ready = False  # dropped behind our back (another client's reset): look again once
                try:
                    return fn(*args)
                except (ConfigError, ProviderError, MemoryNotFoundError, ValueError):
                    raise
                except Exception as again:
                    raise ProviderError(PROVIDER, f"{type(again).__name__}: {_describe(again)}") from again
            if _unreachable(exc):  # pymilvus may connect lazily (or reuse a handler): same words as _connect's
                raise ProviderError(PROVIDER, f"cannot open Milvus ({self!r}): {_describe(exc)}") from exc
            raise ProviderError(PROVIDER, f"{type(exc).__name__}: {_describe(exc)}") from exc

    # ------------------------------------------------------------------ writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        latest: dict[str, VectorRecord] = {}
        for r in records:
            latest[r.id] = r  # one upsert per id: the last one wins
        rows = [self._row(r.id, check_vector(r.vector, f"record {r.id!r}", provider="milvus"), r.payload)
                for r in latest.values()]
        if rows:
            await self._call(self._insert_sync, rows)

    def _row(self, mem7_id: str, vector: list[float], payload: dict[str, Any]) -> dict[str, Any]:
        if len(mem7_id.encode("utf-8", "surrogatepass")) > MAX_VARCHAR:
            raise ValueError(f"milvus: the id {mem7_id[:40]!r}... is longer than Milvus's {MAX_VARCHAR} bytes")
        doc = json.dumps(payload, ensure_ascii=False, allow_nan=True)
        if len(doc.encode("utf-8", "surrogatepass")) > MAX_VARCHAR:
            raise ValueError(
                f"milvus: the payload of {mem7_id!r} is {len(doc.encode('utf-8', 'surrogatepass'))} bytes as JSON; "
                f"Milvus holds at most {MAX_VARCHAR}"
            )
        scope = mf.scope_fields(payload)
        for key, value in scope.items():
            if len(value.encode("utf-8", "surrogatepass")) > MAX_VARCHAR:
                raise ValueError(f"milvus: the {key} of {mem7_id!r} is longer than Milvus's {MAX_VARCHAR} bytes")
        return {
            "pk": point_id(mem7_id),
            "mem7_id": mem7_id,
            **scope,
            "vector": vector,
            "doc": doc,
            "payload": mf.project(payload),
        }

    def _insert_sync(self, rows: list[dict[str, Any]]) -> None:
        dims = len(rows[0]["vector"])
        self._collection(dims=dims)
        for row in rows:
            if len(row["vector"]) != self._dims:
                raise ValueError(
                    f"milvus: record {row['mem7_id']!r} has {len(row['vector'])} dims; collection "
                    f"{self.config.collection_name!r} holds {self._dims}-dim vectors"
                )
        step = self.config.batch_size
        for start in range(0, len(rows), step):
            self._client.upsert(self.config.collection_name, rows[start : start + step], timeout=self._timeout())
        self._write_space()

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        vec = check_vector(vector, f"the new vector of {id!r}", provider="milvus") if vector is not None else None
        await self._call(self._update_sync, id, vec, None if payload is None else dict(payload))

    def _update_sync(self, id: str, vector: list[float] | None, payload: dict[str, Any] | None) -> None:
        found = self._get_sync([id]) if self._collection() else {}
        if id not in found:
            raise MemoryNotFoundError(id)
        if vector is None and payload is None:
            return
        old_vector, old_payload = found[id]
        new_vector = vector if vector is not None else old_vector
        self._insert_sync([self._row(id, new_vector, payload if payload is not None else old_payload)])

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await self._call(self._delete_sync, [point_id(i) for i in dict.fromkeys(ids)])

    def _delete_sync(self, pks: list[str]) -> None:
        if not self._collection():
            return
        step = self.config.batch_size
        for start in range(0, len(pks), step):
            self._client.delete(self.config.collection_name, ids=pks[start : start + step], timeout=self._timeout())

    async def reset(self) -> None:
        await self._call(self._reset_sync)

    def _reset_sync(self) -> None:
        client = self._connect()
        client.drop_collection(self.config.collection_name, timeout=self._timeout())
        self._ready = False
        self._dims = None
        if self.config.dims is not None:
            self._collection()

    # ------------------------------------------------------------------ reads
    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        if not ids:
            return []
        found = await self._call(self._get_or_nothing, list(dict.fromkeys(ids)))
        return [VectorRecord(id=i, vector=list(found[i][0]), payload=dict(found[i][1])) for i in ids if i in found]

    def _get_or_nothing(self, ids: list[str]) -> dict[str, tuple[list[float], dict[str, Any]]]:
        return self._get_sync(ids) if self._collection() else {}

    def _get_sync(self, ids: list[str]) -> dict[str, tuple[list[float], dict[str, Any]]]:
        out: dict[str, tuple[list[float], dict[str, Any]]] = {}
        step = self.config.batch_size
        for start in range(0, len(ids), step):
            rows = self._client.get(
                self.config.collection_name,
                ids=[point_id(i) for i in ids[start : start + step]],
                output_fields=OUTPUT,
                timeout=self._timeout(),
                consistency_level="Strong",
            )
            for row in rows:
                out[str(row["mem7_id"])] = (_floats(row["vector"]), json.loads(row["doc"]))
        return out

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> builtins.list[VectorRecord]:
        rows = await self._call(self._list_sync, scope, filters)
        rows.sort(key=lambda r: (str(r.payload.get("created_at") or ""), r.id))
        return rows if limit is None else rows[: max(limit, 0)]

    def _list_sync(self, scope: Scope, filters: Filter | None) -> builtins.list[VectorRecord]:
        if not self._collection():
            return []
        out: builtins.list[VectorRecord] = []
        expr = mf.where(scope, filters).expr
        if expr == mf.FALSE:  # nothing can match (an empty ``in``)
            return out
        for row in self._scan(expr):
            payload = json.loads(row["doc"])
            if scope.matches(payload) and evaluate(filters, payload):
                out.append(VectorRecord(id=str(row["mem7_id"]), vector=_floats(row["vector"]), payload=payload))
        return out

    def _scan(self, expr: str) -> builtins.list[dict[str, Any]]:
        """Every row passing ``expr`` (``""``: all), read in batches."""
        it = self._client.query_iterator(
            self.config.collection_name,
            batch_size=self.config.batch_size,
            filter=expr,
            output_fields=OUTPUT,
            timeout=self._timeout(),
            consistency_level="Strong",
        )
        rows: builtins.list[dict[str, Any]] = []
        try:
            while True:
                batch = it.next()
                if not batch:
                    return rows
                rows.extend(batch)
        finally:
            it.close()

    async def count(self, *, scope: Scope) -> int:
        return await self._call(self._count_sync, scope)

    def _count_sync(self, scope: Scope) -> int:
        if not self._collection():
            return 0
        where = mf.where(scope, None)
        if not where.exact:
            return len(self._list_sync(scope, None))
        got = self._client.query(
            self.config.collection_name,
            filter=where.expr,
            output_fields=["count(*)"],
            timeout=self._timeout(),
            consistency_level="Strong",
        )
        return int(got[0]["count(*)"])

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
        queries = [check_vector(v, "the query vector", provider="milvus") for v in vectors]
        if limit <= 0:
            return [[] for _ in queries]
        return await self._call(self._search_sync, queries, scope, limit, filters)

    def _search_sync(
        self, queries: builtins.list[builtins.list[float]], scope: Scope, limit: int, filters: Filter | None
    ) -> builtins.list[builtins.list[ScoredRecord]]:
        if not self._collection():
            return [[] for _ in queries]
        for q in queries:
            if len(q) != self._dims:
                raise ValueError(f"milvus: the query vector has {len(q)} dims; the collection holds {self._dims}")
        where = mf.where(scope, filters)
        if where.expr == mf.FALSE:  # nothing can match (an empty ``in``)
            return [[] for _ in queries]
        # Exact expressions need no more than limit; the others are re-checked here: over-fetch.
        fetch = min(MAX_TOPK, limit if where.exact else max(4 * limit, 32))
        results: dict[int, builtins.list[ScoredRecord]] = {}
        todo = list(range(len(queries)))
        while todo:
            got = self._client.search(
                self.config.collection_name,
                data=[queries[i] for i in todo],
                limit=fetch,
                filter=where.expr,
                output_fields=OUTPUT,
                anns_field="vector",
                search_params={"metric_type": "COSINE"},
                timeout=self._timeout(),
                consistency_level="Strong",
            )
            still: builtins.list[int] = []
            for n, i in enumerate(todo):
                hits: builtins.list[ScoredRecord] = []
                for hit in got[n]:
                    entity = hit["entity"]
                    payload = json.loads(entity["doc"])
                    if scope.matches(payload) and evaluate(filters, payload):
                        hits.append(
                            ScoredRecord(
                                id=str(entity["mem7_id"]),
                                score=float(hit["distance"]),
                                payload=payload,
                                vector=_floats(entity["vector"]),
                            )
                        )
                if len(hits) >= limit or len(got[n]) < fetch:
                    results[i] = _best(hits, limit)
                elif fetch >= MAX_TOPK:  # past Milvus's top-k: score every candidate here
                    results[i] = self._exhaustive(queries[i], where.expr, scope, filters, limit)
                else:
                    still.append(i)
            todo = still
            fetch = min(MAX_TOPK, fetch * 4)
        return [results[i] for i in range(len(queries))]

    def _exhaustive(
        self, query: builtins.list[float], expr: str, scope: Scope, filters: Filter | None, limit: int
    ) -> builtins.list[ScoredRecord]:
        from mem7_core.providers.vectors import cosine

        hits = []
        for row in self._scan(expr):
            payload = json.loads(row["doc"])
            if scope.matches(payload) and evaluate(filters, payload):
                vec = _floats(row["vector"])
                hits.append(ScoredRecord(id=str(row["mem7_id"]), score=cosine(query, vec), payload=payload, vector=vec))
        return _best(hits, limit)

    # ------------------------------------------------------------------ embedding space
    async def embedding_space(self) -> EmbeddingSpace | None:
        return await self._call(self._space_sync)

    def _space_sync(self) -> EmbeddingSpace | None:
        client, name = self._connect(), self.config.collection_name
        if not client.has_collection(name, timeout=self._timeout()):
            return None
        desc = client.describe_collection(name, timeout=self._timeout())
        dims = next(int(f["params"]["dim"]) for f in desc.get("fields", []) if f["name"] == "vector")
        raw = (desc.get("properties") or {}).get(SPACE_PROPERTY)
        if isinstance(raw, str):
            try:
                data = json.loads(raw)
                space = EmbeddingSpace.from_json(data) if isinstance(data, dict) else None
            except (ValueError, TypeError):
                space = None
            if space is not None and space.dims == dims:
                return space
        return EmbeddingSpace(dims=dims)

    def record_embedder(self, space: EmbeddingSpace) -> None:
        self._space = space

    def _write_space(self) -> None:
        """Record the embedder told by :meth:`record_embedder` on an existing collection (a new one
        got it as a property when created). Milvus Lite 2.5 keeps no collection properties: there
        the store reports dims only, and the engine checks dims only."""
        if self._space is None:
            return
        space, self._space = self._space, None
        if space.dims != self._dims:
            return
        text = json.dumps(space.to_json(), sort_keys=True)
        try:
            self._client.alter_collection_properties(
                self.config.collection_name, properties={SPACE_PROPERTY: text}, timeout=self._timeout()
            )
        except Exception as exc:
            log.debug("milvus: cannot record the embedder on %s: %s", self.config.collection_name, _describe(exc))

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
        client, self._client, self._ready = self._client, None, False
        try:
            if client is not None:
                client.close()
        finally:
            self._unlock()


def _floats(vector: Any) -> list[float]:
    return [float(x) for x in vector]


def _best(hits: builtins.list[ScoredRecord], limit: int) -> builtins.list[ScoredRecord]:
    hits.sort(key=lambda h: (-h.score, h.id))
    return hits[:limit]


def _metric(client: Any, name: str, timeout: float) -> str | None:
    try:
        for index in client.list_indexes(name, timeout=timeout):
            info = client.describe_index(name, index, timeout=timeout)
            if info.get("field_name") == "vector":
                return str(info.get("metric_type")) if info.get("metric_type") else None
    except Exception:  # no index described: nothing to check
        return None
    return None


def _collection_gone(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "collection" in text and ("not found" in text or "not exist" in text or "released" in text)


def _unreachable(exc: BaseException) -> bool:
    """The server could not be reached: pymilvus's ``MilvusException`` with ``code=2``
    (``pymilvus.client.types.Status.CONNECT_FAILED``, "Fail connecting to server on ..."), as opposed
    to an answer the server gave."""
    return getattr(exc, "code", None) == 2 or "fail connecting to server" in str(exc).lower()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "..."
