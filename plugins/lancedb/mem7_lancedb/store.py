"""LanceDBVectorStore: mem7's vector store on LanceDB, embedded, on disk.

- One LanceDB database per ``path`` (a directory), one table per collection
  (``collection_name``), created on the first write with the vector size of that write (or
  ``dims``), adopted when it exists.
- LanceDB's async API (``lancedb.connect_async``): the work runs in LanceDB's own Rust runtime,
  never on the event loop's thread.
- Cosine distance, exact (brute-force) search by default: scores are cosine similarities
  (``1 - distance``). ``ann_index: true`` builds an HNSW index once the table holds
  ``ann_min_rows`` rows (approximate top-k, for large collections).
- Rows: see :mod:`._encoding`. Scope ids and ``eq``/``ne``/``in``/``nin``/``"*"`` filters are SQL
  predicates on hex tokens (exact, no user text in the SQL); ranges and ``contains``/``icontains``
  are evaluated in Python, exactly, over the rows the SQL part selected. Every returned row is
  re-checked against scope and filter in Python.
- Durability and sharing: each write is a LanceDB commit (a new table version) before it is
  acknowledged; reads check for the latest version first (``read_consistency_interval`` 0), so
  another store or process on the same path sees every acknowledged write. Concurrent commits
  from several processes that conflict are retried (``max_retries``).
- Every ``compact_every`` writes the table is compacted (``optimize``) and versions older than
  ``keep_versions_seconds`` are removed.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pyarrow as pa  # type: ignore[import-untyped]
from pydantic import AliasChoices, Field, field_validator

from mem7_core.errors import MemoryNotFoundError, ProviderError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, ProviderConfig, VectorStore, VectorStoreCapabilities, check_vector
from mem7_core.providers.blocking import run_blocking

from . import _encoding as enc

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock on table creation
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mem7.lancedb")

T = TypeVar("T")

PROVIDER = "lancedb"
_SPACE_KEY = b"mem7.embedding_space"
_META_COLUMNS = ["id_hex", "payload", "created_at"]


def _is_conflict(exc: BaseException) -> bool:
    # Lance: "Retryable commit conflict for version N: ... preempted by concurrent transaction",
    # "Commit conflict for version N: ...". The operation is re-run whole, so either is safe to retry.
    return "commit conflict" in str(exc).lower()




def _lock_file(path: Path) -> int:
    """Open and exclusively lock ``path`` (blocks until the lock is free); returns the descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _unlock_file(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class LanceDBVectorStore(VectorStore):
    """mem7 vector store on embedded LanceDB: a directory on disk, a table per collection."""

    name = "lancedb"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=enc.PUSHED_DOWN, logical=True, persistent=True
    )

    class Config(ProviderConfig):
        path: str = Field(..., description="The database directory (created when missing).")
        """The LanceDB database directory; several processes may open the same one."""
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
        """The table of this store (one table per collection)."""
        dims: int | None = Field(None, ge=1, le=65536, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size of a new table; ``None`` takes it from the first insert (an existing table's wins)."""
        read_consistency_seconds: float = Field(0.0, ge=0)
        """How stale a read may be: 0 (default) checks for a newer table version before every read,
        so writes of other processes are seen at once; larger values save that check."""
        ann_index: bool = False
        """Build an approximate (HNSW, ``HnswSq``, cosine) index once the table holds ``ann_min_rows``
        rows, and search through it (approximate top-k; filters stay exact, applied before the
        search). Off (default): exact brute-force search, whose cost grows with the rows in scope."""
        ann_min_rows: int = Field(50_000, ge=256)
        """Rows the table must hold before ``ann_index`` builds the index."""
        compact_every: int = Field(200, ge=0)
        """Compact the table after this many writes of this store (0: never)."""
        keep_versions_seconds: float = Field(3600.0, ge=0)
        """Table versions older than this are removed by compaction."""
        max_retries: int = Field(8, ge=0, le=100)
        """Retries of a commit that conflicts with a concurrent writer (another process)."""

        @field_validator("path")
        @classmethod
        def _expand(cls, v: str) -> str:
            if not v.strip():
                raise ValueError("path must not be empty: give the LanceDB directory, e.g. ~/.mem7/lancedb")
            return str(Path(v).expanduser())

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        if config is None:
            raise ValueError("lancedb: a config with path is required")
        super().__init__(config)
        self._cfg = config
        self._db: Any = None
        self._table: Any = None
        self._dims: int | None = None
        self._space: EmbeddingSpace | None = None
        self._writes = 0
        self._write_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._indexed = False

    # ------------------------------------------------------------------ plumbing
    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._write_lock is None or self._lock_loop is not loop:
            self._write_lock, self._lock_loop = asyncio.Lock(), loop
        return self._write_lock

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except (MemoryNotFoundError, ValueError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise ProviderError(PROVIDER, f"{what} failed on {self._cfg.path!r}: {exc}") from exc

    async def _write(self, what: str, fn: Callable[[Any], Awaitable[T]], table: Any) -> T:
        """A commit, retried when it conflicts with another writer's."""
        attempt = 0
        while True:
            try:
                async with self._lock():
                    result = await fn(table)
                break
            except Exception as exc:
                if attempt < self._cfg.max_retries and _is_conflict(exc):
                    attempt += 1
                    await asyncio.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
                    continue
                if isinstance(exc, (MemoryNotFoundError, ValueError)):
                    raise
                raise ProviderError(PROVIDER, f"{what} failed on {self._cfg.path!r}: {exc}") from exc
        self._writes += 1
        await self._maintain(table)
        return result

    async def _connect(self) -> Any:
        if self._db is None:
            import lancedb  # ~2.5 s of imports: paid by the first use, not by plugin discovery

            interval = timedelta(seconds=self._cfg.read_consistency_seconds)
            self._db = await self._call(
                "connect", lambda: lancedb.connect_async(self._cfg.path, read_consistency_interval=interval)
            )
        return self._db

    async def _open(self, create_dims: int | None = None) -> Any:
        """The table (``None`` when it does not exist and ``create_dims`` is ``None``)."""
        if self._table is not None:
            return self._table
        db = await self._connect()
        name = self._cfg.collection_name
        table = await self._try_open(db)
        if table is None:
            if create_dims is None:
                return None
            async with self._lock():  # one creator per process ...
                table = await self._create(db, create_dims)
        schema = await table.schema()
        vec = schema.field("vector").type
        if not pa.types.is_fixed_size_list(vec):
            raise ProviderError(
                PROVIDER, f"table {name!r} in {self._cfg.path!r} is not a mem7 table (no vector column)"
            )
        self._dims = vec.list_size
        raw = (schema.metadata or {}).get(_SPACE_KEY)
        self._space = None  # what the table records, nothing else
        if raw:
            try:
                self._space = EmbeddingSpace.from_json(json.loads(raw))
            except ValueError:
                log.warning("lancedb: table %r records an unreadable embedding space: %r", name, raw)
        self._table = table
        return table

    async def _try_open(self, db: Any) -> Any:
        try:
            return await db.open_table(self._cfg.collection_name)
        except ValueError:  # not found
            return None
        except Exception as exc:
            raise ProviderError(
                PROVIDER, f"open table {self._cfg.collection_name!r} failed on {self._cfg.path!r}: {exc}"
            ) from exc

    async def _create(self, db: Any, dims: int) -> Any:
        """Create the table, or open it when another store or process created it first.

        ``create_table`` of a name that another process creates at the same moment can commit an
        overwrite of that table (LanceDB's "exist_ok" is not atomic): creation runs under an
        exclusive lock file next to the tables (``.mem7-<collection>.lock``), after checking again.
        """
        lock_path = Path(self._cfg.path) / f".mem7-{self._cfg.collection_name}.lock"
        fd = await run_blocking(_lock_file, lock_path)
        try:
            table = await self._try_open(db)
            if table is None:
                schema = self._schema(dims)
                table = await self._call(
                    "create table", lambda: db.create_table(self._cfg.collection_name, schema=schema)
                )
            return table
        finally:
            await run_blocking(_unlock_file, fd)

    def _schema(self, dims: int) -> pa.Schema:
        metadata = {}
        if self._space is not None and self._space.dims == dims:
            metadata[_SPACE_KEY] = json.dumps(self._space.to_json()).encode()
        return pa.schema(
            [
                pa.field("id_hex", pa.string(), nullable=False),
                pa.field("vector", pa.list_(pa.float32(), dims)),
                pa.field("user_id", pa.string()),
                pa.field("agent_id", pa.string()),
                pa.field("run_id", pa.string()),
                pa.field("key_tokens", pa.list_(pa.string())),
                pa.field("value_tokens", pa.list_(pa.string())),
                pa.field("created_at", pa.string()),
                pa.field("payload", pa.string()),
            ],
            metadata=metadata or None,
        )

    async def _maintain(self, table: Any) -> None:
        every = self._cfg.compact_every
        if every and self._writes % every == 0:
            try:
                await table.optimize(cleanup_older_than=timedelta(seconds=self._cfg.keep_versions_seconds))
            except Exception as exc:  # maintenance only: the write itself is committed
                log.warning("lancedb: compacting %r failed: %s", self._cfg.collection_name, exc)
        if self._cfg.ann_index and not self._indexed:
            try:
                if await table.list_indices():
                    self._indexed = True
                elif await table.count_rows() >= self._cfg.ann_min_rows:
                    from lancedb.index import HnswSq

                    await table.create_index("vector", config=HnswSq(distance_type="cosine"))
                    self._indexed = True
            except Exception as exc:
                log.warning("lancedb: building the ANN index of %r failed: %s", self._cfg.collection_name, exc)

    def _rows(self, records: Sequence[VectorRecord], dims: int) -> pa.Table:
        latest: dict[str, dict[str, Any]] = {}
        for r in records:
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"lancedb: record id must be a non-empty string, got {r.id!r}")
            vector = check_vector(r.vector, f"record {r.id!r}", provider="lancedb")
            if len(vector) != dims:
                raise ValueError(
                    f"lancedb: record {r.id!r} has a {len(vector)}-dim vector; collection "
                    f"{self._cfg.collection_name!r} holds {dims}-dim vectors (use another collection_name or path)"
                )
            latest[r.id] = self._row(r.id, vector, r.payload)
        return pa.Table.from_pylist(list(latest.values()), schema=self._schema(dims))

    @staticmethod
    def _row(mem7_id: str, vector: Sequence[float], payload: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ValueError(f"lancedb: record {mem7_id!r}: payload must be a dict, got {type(payload).__name__}")
        try:
            text = json.dumps(payload, ensure_ascii=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"lancedb: record {mem7_id!r}: payload is not JSON-serialisable ({exc})") from None
        return {"id_hex": enc.id_key(mem7_id), "vector": list(vector), **enc.derived(payload), "payload": text}

    @staticmethod
    def _where(scope: Scope, sql: Sequence[str]) -> str | None:
        parts = enc.scope_where(scope.items()) + list(sql)
        return " AND ".join(f"({p})" for p in parts) if parts else None

    # ------------------------------------------------------------------ writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        records = list(records)
        if not records:
            return
        first = check_vector(records[0].vector, f"record {records[0].id!r}", provider="lancedb")
        table = await self._open(create_dims=self._cfg.dims or len(first))
        assert self._dims is not None
        data = self._rows(records, self._dims)

        async def upsert(t: Any) -> None:
            await t.merge_insert("id_hex").when_matched_update_all().when_not_matched_insert_all().execute(data)

        await self._write("insert", upsert, table)

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        table = await self._open()
        found = await self._fetch(table, f"id_hex = {enc._lit(enc.id_key(id))}", vectors=vector is None)
        if not found:
            raise MemoryNotFoundError(id)
        current = found[0]
        new_vector = (check_vector(vector, f"update of {id!r}", provider="lancedb") if vector is not None
                      else current.vector)
        assert new_vector is not None and self._dims is not None
        if len(new_vector) != self._dims:
            raise ValueError(
                f"lancedb: update of {id!r}: a {len(new_vector)}-dim vector; "
                f"the collection holds {self._dims}-dim vectors"
            )
        row = self._row(id, new_vector, payload if payload is not None else current.payload)
        data = pa.Table.from_pylist([row], schema=self._schema(self._dims))

        async def replace(t: Any) -> Any:
            # Matched rows only: a row deleted since it was read stays deleted.
            return await t.merge_insert("id_hex").when_matched_update_all().execute(data)

        result = await self._write("update", replace, table)
        if getattr(result, "num_updated_rows", 1) == 0:
            raise MemoryNotFoundError(id)

    async def delete(self, ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(ids))
        table = await self._open()
        if table is None or not ids:
            return
        for start in range(0, len(ids), 500):
            where = enc.keys_in(ids[start : start + 500])

            async def remove(t: Any, where: str = where) -> None:
                await t.delete(where)

            await self._write("delete", remove, table)

    async def reset(self) -> None:
        table = await self._open()
        if table is None:
            return

        async def clear(t: Any) -> None:
            await t.delete("TRUE")

        await self._write("reset", clear, table)

    # ------------------------------------------------------------------ reads
    async def _fetch(self, table: Any, where: str | None, *, vectors: bool) -> builtins.list[VectorRecord]:
        if table is None:
            return []
        query = table.query().select(_META_COLUMNS + (["vector"] if vectors else []))
        if where:
            query = query.where(where)
        data = await self._call("read", query.to_arrow)
        return self._records(data, vectors=vectors)

    @staticmethod
    def _records(data: pa.Table, *, vectors: bool) -> builtins.list[VectorRecord]:
        ids = data.column("id_hex").to_pylist()
        payloads = data.column("payload").to_pylist()
        vecs = data.column("vector").to_pylist() if vectors else [None] * len(ids)
        return [VectorRecord(id=enc.id_of(k), vector=v, payload=json.loads(p)) for k, p, v in zip(ids, payloads, vecs)]

    async def get(self, ids: Sequence[str]) -> builtins.list[VectorRecord]:
        ids = list(ids)
        table = await self._open()
        if table is None or not ids:
            return []
        unique = list(dict.fromkeys(ids))
        found: dict[str, VectorRecord] = {}
        for start in range(0, len(unique), 500):
            for r in await self._fetch(table, enc.keys_in(unique[start : start + 500]), vectors=True):
                found[r.id] = r
        return [found[i] for i in ids if i in found]

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> builtins.list[VectorRecord]:
        table = await self._open()
        if table is None or limit == 0:
            return []
        sql, _exact = enc.split(filters)
        rows = await self._fetch(table, self._where(scope, sql), vectors=True)
        rows = [r for r in rows if scope.matches(r.payload) and evaluate(filters, r.payload)]
        rows.sort(key=lambda r: (str(r.payload.get("created_at") or ""), r.id))
        return rows if limit is None else rows[:limit]

    async def count(self, *, scope: Scope) -> int:
        table = await self._open()
        if table is None:
            return 0
        where = self._where(scope, [])
        return int(await self._call("count", lambda: table.count_rows(where)))

    async def search(
        self, vector: Sequence[float], *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> builtins.list[ScoredRecord]:
        query_vec = check_vector(vector, "the search", provider="lancedb")
        table = await self._open()
        if table is None or limit <= 0:
            return []
        if len(query_vec) != self._dims:
            raise ValueError(
                f"lancedb: search vector has {len(query_vec)} dims; collection "
                f"{self._cfg.collection_name!r} holds {self._dims}-dim vectors"
            )
        sql, exact = enc.split(filters)
        where = self._where(scope, sql)
        fetch = limit
        if not exact:  # a Python residue: rank every row the SQL part selects, then filter
            fetch = int(await self._call("count", lambda: table.count_rows(where)))
            if fetch == 0:
                return []
        query = table.query().nearest_to(query_vec).distance_type("cosine").select(_META_COLUMNS).limit(fetch)
        if where:
            query = query.where(where)
        if not self._cfg.ann_index:
            query = query.bypass_vector_index()
        data = await self._call("search", query.to_arrow)
        hits: builtins.list[ScoredRecord] = []
        for r, dist in zip(self._records(data, vectors=False), data.column("_distance").to_pylist()):
            if scope.matches(r.payload) and evaluate(filters, r.payload):
                score = 0.0 if dist is None or dist != dist else 1.0 - float(dist)
                hits.append(ScoredRecord(id=r.id, score=score, payload=r.payload))
        hits.sort(key=lambda h: -h.score)
        return hits[:limit]

    # ------------------------------------------------------------------ embedding space
    async def embedding_space(self) -> EmbeddingSpace | None:
        self._table = None  # another process may have created the table since
        table = await self._open()
        if table is None or self._dims is None:
            return None
        if self._space is not None and self._space.dims == self._dims:
            return self._space
        return EmbeddingSpace(dims=self._dims)

    def record_embedder(self, space: EmbeddingSpace) -> None:
        """Kept in the table's schema metadata when this store creates the table."""
        if self._table is None:
            self._space = space

    async def aclose(self) -> None:
        table, self._table = self._table, None
        self._db = None
        if table is not None:
            try:
                table.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
