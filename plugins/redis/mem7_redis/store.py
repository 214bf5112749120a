"""RedisVectorStore: mem7's vector store on Redis with the Query Engine (RediSearch), via redis-py's
asyncio client.

- One hash per record and one search index per collection (see :mod:`._encoding` for the fields):
  a cosine ``VECTOR`` field (HNSW by default, or FLAT), and ``TAG`` fields of digests for the scope,
  the filters and the words of the text. Scores are ``1 - cosine distance`` (cosine similarity).
- Scope and filters run in ``FT.SEARCH`` (the scope always exactly; filters exactly where the
  query language can say it, as a narrowing otherwise), and every record read is re-checked with
  :func:`mem7_core.filters.evaluate`, so every operator is answered exactly by the store. A search
  whose filter is not exact in Redis over-fetches until ``limit`` records pass.
- Writes are ``MULTI``/``EXEC`` transactions (a batch is all or nothing); ``update`` and
  ``rehearse`` read under ``WATCH`` and retry on a concurrent change, so no write is lost.
  With ``durability: aof`` (the default) each write also waits, on its own connection, for
  ``WAITAOF 1 0``: Redis has fsynced it to its append-only file before the write returns.
- Keyword search: BM25 over the scope's memories with mem7's tokeniser, the candidates found
  through the ``w`` tag index, N and the average length from an ``FT.AGGREGATE`` over the scope:
  the same scores as the engine's in-process index, whichever process asks.
- Any number of processes share a collection: Redis is the one copy, every write is visible to
  every reader as soon as it is acknowledged.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, ConfigDict, Field, SecretStr, field_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.filters import ALL_OPERATORS, Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, ProviderConfig, VectorStore, VectorStoreCapabilities, check_vector
from mem7_core.providers.http import BudgetSpent, RetryPolicy, budget_error, unreachable_error
from mem7_core.providers.keywords import calibrate_bm25, tokenize
from mem7_core.providers.vectors import cosines

from ._encoding import (
    FILTER_FIELD,
    ID_FIELD,
    LENGTH_ALL_FIELD,
    LENGTH_FIELD,
    PAYLOAD_FIELD,
    TIME_FIELDS,
    VECTOR_FIELD,
    WORD_FIELD,
    decode_payload,
    encode,
    pack_vector,
    query_of,
    scope_query,
    tags,
    text_of,
    unpack_vector,
    word_token,
)

log = logging.getLogger("mem7.redis")

# redis-py is imported when the first store is built, not with the plugin: `import redis` loads its
# OpenTelemetry observability modules, and importing mem7's plugins must load no telemetry code
# (tests/reliability/test_privacy.py) and stay cheap (`mem7 --help`, `mem7 plugins`).
if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis import exceptions as rexc
    from redis.asyncio.connection import Connection


def _import_redis() -> None:
    global aioredis, rexc
    import redis.asyncio as aioredis
    from redis import exceptions as rexc


PROVIDER = "redis"
T = TypeVar("T")

_SPACE = "space"
"""Field of the collection's meta hash: the embedder that wrote the vectors (EmbeddingSpace JSON)."""
_PAGE = 1000
"""Records per cursor read of a scan."""
_MAX_KNN = 10_000
"""The largest KNN asked of Redis (Redis Stack's default MAXSEARCHRESULTS); a search needing more
scans the narrowed set instead."""
_CONFLICT_RETRIES = 50
"""Attempts of a read-modify-write (update, rehearse) that keeps meeting concurrent writes."""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "..."


def _is_missing_index(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, rexc.ResponseError) and ("no such index" in text or "unknown index" in text)


def _search_cap(exc: BaseException | None) -> int | None:
    """The server's cap on one search's results, from its refusal of a larger ``LIMIT``."""
    if not isinstance(exc, rexc.ResponseError):
        return None
    found = re.search(r"LIMIT exceeds maximum of (\d+)", str(exc))
    return int(found.group(1)) if found else None


def _retryable(exc: BaseException) -> bool:
    """Transient: the connection failed or timed out, or the server is loading / busy."""
    return isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, TimeoutError)) or (
        isinstance(exc, rexc.ResponseError) and str(exc).startswith(("LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN"))
    )




def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else str(value)


async def _cmd(client: aioredis.Redis, *args: Any) -> Any:
    """``client.execute_command`` (untyped in redis-py), typed."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


def _get(mapping: Mapping[Any, Any], name: str) -> Any:
    """A field of a RESP3 map (its keys are bytes)."""
    if name.encode() in mapping:
        return mapping[name.encode()]
    return mapping.get(name)


class RedisVectorStore(VectorStore):
    """mem7 vector store on a Redis server with the Query Engine (Redis 8, or Redis Stack 7.2+)."""

    name = "redis"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=ALL_OPERATORS, logical=True, persistent=True, keyword_search=True
    )
    """``keyword_search`` follows the config (an instance with ``keyword_search: false`` declares it off)."""

    class Config(ProviderConfig):
        # Validation errors never echo the input: a URL may carry a password.
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

        url: str = "redis://localhost:6379/0"
        """The server: ``redis://[user:password@]host:port/db``, ``rediss://`` for TLS, or
        ``unix:///path/to/redis.sock``. Its password is kept out of reprs and error messages."""
        password: SecretStr | None = None
        """The password, when not in ``url`` (``AUTH``; with ``username`` for an ACL user)."""
        username: str | None = None
        """The ACL user (``AUTH username password``); none: the default user."""
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
        """The search index's name; records are the hashes under ``<collection_name>:m:`` and the
        collection's meta hash is ``<collection_name>:meta``. Letters, digits, ``_ . -``."""
        dims: int | None = Field(None, ge=1, le=32_768, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size; ``None`` takes it from an existing index or the first insert."""
        algorithm: Literal["hnsw", "flat"] = "hnsw"
        """The vector index of a new collection: ``hnsw`` (approximate, fast on large collections)
        or ``flat`` (exact brute force). An existing index keeps the one it was created with."""
        hnsw_m: int = Field(16, ge=2, le=512)
        """HNSW edges per node of a new index (more: better recall, more memory)."""
        hnsw_ef_construction: int = Field(200, ge=1, le=4096)
        """HNSW beam size while building a new index."""
        hnsw_ef_runtime: int | None = Field(None, ge=1, le=65_536)
        """HNSW beam size of a search (the index's default, 10, when unset; never below ``limit``)."""
        durability: Literal["aof", "server"] = "aof"
        """``aof``: every write waits until Redis has fsynced it to its append-only file
        (``WAITAOF 1 0``; needs ``appendonly yes`` on the server). ``server``: a write returns once
        Redis has applied it, and is as durable as the server's persistence settings make it."""
        timeout: float = Field(10.0, gt=0, le=600)
        """Seconds per command attempt (socket timeout), and for ``WAITAOF``."""
        connect_timeout: float = Field(5.0, gt=0, le=600)
        """Seconds to open a connection."""
        max_retries: int = Field(3, ge=0, le=10)
        """Retries after the first attempt on transient failures (connection lost, server loading)."""
        retry_backoff: float = Field(0.1, ge=0, le=30)
        """First retry delay in seconds; doubles each retry (with jitter), capped at 5 s."""
        max_connections: int = Field(32, ge=1, le=10_000)
        """Connections of this store's pool."""
        keyword_search: bool = True
        """Rank keywords in Redis (BM25 over the scope, words found through the ``w`` tag index),
        so every process sharing the collection gives the same keyword ranking. ``false``: the
        engine ranks keywords with its own per-process index (the words are still written)."""
        keyword_k1: float = Field(1.2, ge=0)
        """BM25 term-frequency saturation of the store's keyword search (as ``retrieval.k1``)."""
        keyword_b: float = Field(0.75, ge=0, le=1)
        """BM25 length normalisation of the store's keyword search (as ``retrieval.b``)."""
        keyword_stopwords: bool = True
        """Leave English function words out of keyword queries and document lengths (as
        ``retrieval.stopwords``)."""

        @field_validator("url")
        @classmethod
        def _url(cls, v: str) -> str:
            if not v.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError("url must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)")
            return v

        def where(self) -> str:
            """The URL without its password (for messages)."""
            parts = urlsplit(self.url)
            if parts.password is None:
                return self.url
            user = parts.username or ""
            host = parts.hostname or ""
            netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        _import_redis()
        cfg = self.config
        if not cfg.keyword_search:
            self.capabilities = VectorStoreCapabilities(  # type: ignore[misc]
                filter_operators=ALL_OPERATORS, logical=True, persistent=True, keyword_search=False
            )
        self._index = cfg.collection_name
        self._prefix = f"{cfg.collection_name}:m:"
        self._meta = f"{cfg.collection_name}:meta"
        self._client: aioredis.Redis | None = None
        self._dims: int | None = None
        """The index's vector size, once known (read or created)."""
        self._max_knn = _MAX_KNN
        """The largest KNN this server answers (lowered when it says its MAXSEARCHRESULTS is lower)."""
        self._space: EmbeddingSpace | None = None  # told by record_embedder, written with the next vectors
        self._lock = asyncio.Lock()
        self._closed = False
        self._retry = RetryPolicy(max_retries=cfg.max_retries, backoff=cfg.retry_backoff, max_backoff=5.0,
                                  name="redis")

    def __repr__(self) -> str:
        return f"<RedisVectorStore {self.config.where()} collection={self.config.collection_name!r}>"

    # ------------------------------------------------------------------ plumbing
    def _redis(self) -> aioredis.Redis:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self!r} is closed")
        if self._client is None:
            cfg = self.config
            kwargs: dict[str, Any] = {
                "protocol": 3,
                "decode_responses": False,
                "socket_timeout": cfg.timeout,
                "socket_connect_timeout": cfg.connect_timeout,
                "max_connections": cfg.max_connections,
                "retry_on_error": [],
                "retry": None,
            }
            if cfg.password is not None:
                kwargs["password"] = cfg.password.get_secret_value()
            if cfg.username is not None:
                kwargs["username"] = cfg.username
            self._client = aioredis.Redis.from_url(cfg.url, **kwargs)
        return self._client

    def _key(self, mem7_id: str) -> bytes:
        return (self._prefix + mem7_id).encode("utf-8", "surrogatepass")

    async def _call(self, what: str, fn: Callable[[aioredis.Redis], Awaitable[T]], *, retry: bool = True) -> T:
        """``fn`` on the client, retried on transient failures; failures as ``ProviderError``."""
        client = self._redis()
        policy = self._retry if retry else RetryPolicy(max_retries=0, name="redis")

        def describe(exc: BaseException, attempts: int) -> BaseException:
            if isinstance(exc, (MemoryNotFoundError, ConfigError, ValueError, ProviderError)):
                return exc
            where = self.config.where()
            if isinstance(exc, BudgetSpent):
                return budget_error(exc, provider=PROVIDER, who=what, url=where, attempts=attempts)
            if isinstance(exc, (rexc.ConnectionError, OSError)) and not isinstance(exc, rexc.TimeoutError):
                return unreachable_error(provider=PROVIDER, who=what, url=where, attempts=attempts,
                                         detail=f" ({_describe(exc)})")
            if isinstance(exc, rexc.AuthenticationError | rexc.AuthorizationError):
                return ProviderError(PROVIDER, f"{what}: {where} refused the credentials ({_describe(exc)}); "
                                     "check the password / username of vector_store.config")
            text = str(exc).lower()
            if isinstance(exc, rexc.ResponseError) and "unknown command" in text and "ft." in text:
                return ProviderError(PROVIDER, f"{what}: {where} has no Query Engine (FT.* commands): use Redis 8, "
                                     "or Redis Stack / a server with the RediSearch module loaded")
            retryable = _retryable(exc)
            return ProviderError(PROVIDER, f"{what} on {where}: {type(exc).__name__}: {_describe(exc)}",
                                 retryable=retryable)

        async def attempt() -> T:
            return await fn(client)

        return await policy.run(attempt, retryable=_retryable, describe=describe)

    async def _pinned(self, what: str, fn: Callable[[Connection], Awaitable[T]], *, retry: bool = True) -> T:
        """``fn`` on one connection of the pool (a ``WATCH``, a transaction and its ``WAITAOF``
        must share one); the connection is dropped when ``fn`` fails midway."""

        async def run(client: aioredis.Redis) -> T:
            pool = client.connection_pool
            conn: Connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                return await fn(conn)
            except MemoryNotFoundError:
                raise  # answered after an UNWATCH: the connection is clean
            except BaseException:
                await conn.disconnect()  # a WATCH or a MULTI may be pending on it
                raise
            finally:
                await pool.release(conn)

        return await self._call(what, run, retry=retry)

    async def _commands(self, conn: Connection, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one write and read every reply (error replies as exceptions in the list)."""
        await conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except rexc.ResponseError as exc:
                replies.append(exc)
        return replies

    async def _transaction(self, conn: Connection, commands: Sequence[Sequence[Any]]) -> bool:
        """``MULTI`` ``commands`` ``EXEC`` (then ``WAITAOF`` with ``durability: aof``) on ``conn``:
        False when a ``WATCH``ed key changed (nothing written)."""
        cfg = self.config
        batch: list[Sequence[Any]] = [("MULTI",), *commands, ("EXEC",)]
        if cfg.durability == "aof":
            batch.append(("WAITAOF", 1, 0, max(1, int(cfg.timeout * 900))))  # inside the socket timeout
        replies = await self._commands(conn, batch)
        for reply in replies[: len(commands) + 1]:
            if isinstance(reply, Exception):
                raise reply
        done = replies[len(commands) + 1]
        if isinstance(done, Exception):
            raise done
        if done is None:
            return False
        for reply in done:
            if isinstance(reply, Exception):
                raise reply
        if cfg.durability == "aof":
            waited = replies[-1]
            if isinstance(waited, Exception):
                if "appendonly" in str(waited).lower():
                    raise ConfigError(
                        f"vector_store redis: {cfg.where()} has appendonly off, so a write cannot be confirmed "
                        "durable (durability: aof waits for WAITAOF 1 0; this one was applied, unconfirmed). "
                        "Turn the server's append-only file on "
                        "(CONFIG SET appendonly yes, and appendfsync always for quick writes), or set "
                        "vector_store.config.durability: server"
                    )
                raise waited
            if not waited or int(waited[0]) < 1:
                raise ProviderError(
                    PROVIDER,
                    f"the write was applied by {cfg.where()} but not fsynced to its append-only file within "
                    f"{cfg.timeout:g}s (WAITAOF): check the server's disk",
                    retryable=True,
                )
        return True

    # ------------------------------------------------------------------ the index
    async def _info(self, client: aioredis.Redis) -> Mapping[Any, Any] | None:
        try:
            info = await _cmd(client, "FT.INFO", self._index)
        except rexc.ResponseError as exc:
            if _is_missing_index(exc):
                return None
            raise
        return info if isinstance(info, Mapping) else None

    @staticmethod
    def _vector_attribute(info: Mapping[Any, Any]) -> Mapping[Any, Any] | None:
        for attr in _get(info, "attributes") or []:
            if isinstance(attr, Mapping) and _text(_get(attr, "attribute") or b"") == VECTOR_FIELD:
                return attr
        return None

    def _adopt(self, info: Mapping[Any, Any]) -> int:
        """The dims of an existing index, after checking it is one of ours (cosine, our prefix)."""
        attr = self._vector_attribute(info)
        name = self._index
        if attr is None:
            raise ConfigError(
                f"vector_store redis: the search index {name!r} on {self.config.where()} has no vector field "
                f"{VECTOR_FIELD!r}: it is not a mem7 index. Choose another collection_name"
            )
        metric = _text(_get(attr, "distance_metric") or b"").upper()
        if metric != "COSINE":
            raise ConfigError(
                f"vector_store redis: the search index {name!r} measures {metric or 'an unknown distance'}; mem7 "
                "needs COSINE. Use another collection_name, or drop this index"
            )
        return int(_get(attr, "dim"))

    def _create_args(self, dims: int) -> list[Any]:
        cfg = self.config
        if cfg.algorithm == "hnsw":
            vector = ["HNSW", 10, "TYPE", "FLOAT32", "DIM", dims, "DISTANCE_METRIC", "COSINE",
                      "M", cfg.hnsw_m, "EF_CONSTRUCTION", cfg.hnsw_ef_construction]
        else:
            vector = ["FLAT", 6, "TYPE", "FLOAT32", "DIM", dims, "DISTANCE_METRIC", "COSINE"]
        schema: list[Any] = [FILTER_FIELD, "TAG", "SEPARATOR", ",", WORD_FIELD, "TAG", "SEPARATOR", ","]
        for field in TIME_FIELDS.values():
            schema += [field, "NUMERIC"]
        schema += [LENGTH_FIELD, "NUMERIC", "SORTABLE", "NOINDEX", LENGTH_ALL_FIELD, "NUMERIC", "SORTABLE", "NOINDEX"]
        schema += [VECTOR_FIELD, "VECTOR", *vector]
        return ["FT.CREATE", self._index, "ON", "HASH", "PREFIX", 1, self._prefix, "SCHEMA", *schema]

    async def _known_dims(self) -> int | None:
        """The index's vector size (``None``: there is no index yet)."""
        if self._dims is None:
            info = await self._call("reading the search index", self._info)
            if info is not None:
                self._dims = self._adopt(info)
        return self._dims

    async def _ensure_index(self, dims: int) -> None:
        """Make sure the index exists for ``dims``-dim vectors (created on first use; an empty
        index of another size is recreated, a non-empty one is a ConfigError)."""
        if self._dims == dims:
            return
        async with self._lock:
            if self._dims == dims:
                return
            cfg = self.config
            if cfg.dims is not None and cfg.dims != dims:
                raise ValueError(f"redis: vectors of {dims} dims, but vector_store.config.dims is {cfg.dims}")

            async def ensure(client: aioredis.Redis) -> int:
                info = await self._info(client)
                if info is not None:
                    have = self._adopt(info)
                    if have == dims:
                        return have
                    if int(_get(info, "num_docs") or 0) > 0:
                        raise ConfigError(
                            f"vector_store redis: collection {cfg.collection_name!r} holds {have}-dim vectors and "
                            f"these are {dims}-dim: use the embedder that wrote them, another collection_name, "
                            "or reset the collection"
                        )
                    await _cmd(client, "FT.DROPINDEX", self._index)  # empty: made for other dims
                try:
                    await _cmd(client, *self._create_args(dims))
                except rexc.ResponseError as exc:
                    if "already exists" not in str(exc).lower():
                        raise
                    info = await self._info(client)  # another process created it meanwhile
                    if info is None:
                        raise
                    have = self._adopt(info)
                    if have != dims:
                        raise ConfigError(
                            f"vector_store redis: collection {cfg.collection_name!r} was just created by another "
                            f"process for {have}-dim vectors; these are {dims}-dim"
                        ) from None
                return dims

            self._dims = await self._call("creating the search index", ensure)

    async def _check_dims(self, vectors: Sequence[Sequence[float]], what: str) -> None:
        dims = len(vectors[0])
        for v in vectors:
            if len(v) != dims:
                raise ValueError(f"redis: {what}: vectors of different sizes ({dims} and {len(v)})")
        await self._ensure_index(dims)

    def _space_command(self) -> list[tuple[Any, ...]]:
        if self._space is None:
            return []
        return [("HSET", self._meta, _SPACE, json.dumps(self._space.to_json(), sort_keys=True))]

    # ------------------------------------------------------------------ writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        latest: dict[str, VectorRecord] = {}
        for r in records:
            latest[r.id] = r  # one upsert per id: the last one wins
        if not latest:
            return
        rows = [(r.id, check_vector(r.vector, f"record {r.id!r}", provider="redis"), dict(r.payload))
                for r in latest.values()]
        await self._check_dims([v for _, v, _ in rows], "insert")
        commands: list[tuple[Any, ...]] = []
        for mem7_id, vector, payload in rows:
            key = self._key(mem7_id)
            fields = encode(mem7_id, payload, pack_vector(vector))
            commands.append(("DEL", key))
            commands.append(("HSET", key, *[x for kv in fields.items() for x in kv]))
        commands += self._space_command()

        async def write(conn: Connection) -> None:
            await self._transaction(conn, commands)

        await self._pinned("insert", write)
        self._space = None

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        vec = check_vector(vector, f"the new vector of {id!r}", provider="redis") if vector is not None else None
        if vec is not None:
            await self._check_dims([vec], "update")
        new_payload = None if payload is None else dict(payload)
        key = self._key(id)

        async def write(conn: Connection) -> None:
            for _ in range(_CONFLICT_RETRIES):
                read = ("HMGET", key, ID_FIELD, PAYLOAD_FIELD, VECTOR_FIELD)
                (_, old) = await self._commands(conn, [("WATCH", key), read])
                if isinstance(old, Exception):
                    raise old
                if old[0] is None:
                    await self._commands(conn, [("UNWATCH",)])
                    raise MemoryNotFoundError(id)
                if new_payload is None and vec is None:
                    await self._commands(conn, [("UNWATCH",)])
                    return
                commands: list[tuple[Any, ...]]
                if new_payload is None:
                    assert vec is not None
                    commands = [("HSET", key, VECTOR_FIELD, pack_vector(vec))]
                else:
                    packed = pack_vector(vec) if vec is not None else old[2]
                    fields = encode(id, new_payload, packed)
                    commands = [("DEL", key), ("HSET", key, *[x for kv in fields.items() for x in kv])]
                if vec is not None:
                    commands += self._space_command()
                if await self._transaction(conn, commands):
                    return
            raise ProviderError(PROVIDER, f"update of {id!r}: the record kept changing under concurrent writers",
                                retryable=True)

        await self._pinned("update", write)
        if vec is not None:
            self._space = None

    async def rehearse(self, ids: Sequence[str], now: str) -> None:
        """One atomic read-modify-write of the records' payloads (``WATCH``ed: a concurrent change
        makes it read again, so no recall is lost and no other writer's change is undone). Not
        retried after a lost connection: the recall may have been counted already."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return
        keys = [self._key(i) for i in wanted]

        async def write(conn: Connection) -> None:
            for _ in range(_CONFLICT_RETRIES):
                reads = await self._commands(
                    conn, [("WATCH", *keys), *[("HMGET", k, PAYLOAD_FIELD, VECTOR_FIELD) for k in keys]]
                )
                commands: list[tuple[Any, ...]] = []
                for mem7_id, key, got in zip(wanted, keys, reads[1:]):
                    if isinstance(got, Exception):
                        raise got
                    if got[0] is None or got[1] is None:
                        continue  # deleted meanwhile
                    payload = decode_payload(got[0])
                    payload["access_count"] = int(payload.get("access_count") or 0) + 1
                    payload["last_accessed_at"] = now
                    fields = encode(mem7_id, payload, got[1])
                    commands += [("DEL", key), ("HSET", key, *[x for kv in fields.items() for x in kv])]
                if not commands:
                    await self._commands(conn, [("UNWATCH",)])
                    return
                if await self._transaction(conn, commands):
                    return
            raise ProviderError(PROVIDER, "rehearse: the records kept changing under concurrent writers",
                                retryable=True)

        await self._pinned("rehearse", write, retry=False)

    async def delete(self, ids: Sequence[str]) -> None:
        keys = [self._key(i) for i in dict.fromkeys(ids)]
        if not keys:
            return

        async def write(conn: Connection) -> None:
            await self._transaction(conn, [("UNLINK", *keys)])

        await self._pinned("delete", write)

    async def reset(self) -> None:
        """Delete every record and the recorded embedder; the index stays (other processes may be
        using it), and is recreated for other dims by the next insert when those differ."""

        async def scan_keys(client: aioredis.Redis) -> list[bytes]:
            pattern = self._prefix.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") + "*"
            return [k async for k in client.scan_iter(match=pattern, count=_PAGE)]

        keys = await self._call("reset", scan_keys)
        keys.append(self._meta.encode())
        for start in range(0, len(keys), _PAGE):
            chunk = keys[start : start + _PAGE]

            async def write(conn: Connection, chunk: list[bytes] = chunk) -> None:
                await self._transaction(conn, [("UNLINK", *chunk)])

            await self._pinned("reset", write)
        self._space = None

    # ------------------------------------------------------------------ reads
    async def get(self, ids: Sequence[str]) -> builtins.list[VectorRecord]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []

        async def read(client: aioredis.Redis) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for i in wanted:
                pipe.execute_command("HMGET", self._key(i), PAYLOAD_FIELD, VECTOR_FIELD)
            return list(await pipe.execute())

        rows = await self._call("get", read)
        found: dict[str, VectorRecord] = {}
        for mem7_id, (raw, vec) in zip(wanted, rows):
            if raw is not None:
                found[mem7_id] = VectorRecord(
                    id=mem7_id, vector=unpack_vector(vec) if vec is not None else None, payload=decode_payload(raw)
                )
        return [found[i] for i in ids if i in found]

    async def _scan(self, what: str, query: str, fields: Sequence[str]) -> builtins.list[Mapping[Any, Any]]:
        """Every record matching ``query``, its ``fields`` loaded (an ``FT.AGGREGATE`` cursor: no
        cap on how many). ``[]`` when there is no index yet."""
        load = [f"@{f}" for f in fields]

        async def scan(client: aioredis.Redis) -> list[Mapping[Any, Any]]:
            out: list[Mapping[Any, Any]] = []
            try:
                reply = await _cmd(client,
                    "FT.AGGREGATE", self._index, query, "LOAD", len(load), *load,
                    "WITHCURSOR", "COUNT", _PAGE, "DIALECT", 2,
                )
            except rexc.ResponseError as exc:
                if _is_missing_index(exc):
                    return []
                raise
            while True:
                page, cursor = reply[0], int(reply[1])
                for row in _get(page, "results") or []:
                    out.append(_get(row, "extra_attributes") or {})
                if cursor == 0:
                    return out
                reply = await _cmd(client, "FT.CURSOR", "READ", self._index, cursor, "COUNT", _PAGE)

        return await self._call(what, scan)

    def _records(
        self, rows: Sequence[Mapping[Any, Any]], scope: Scope, filters: Filter | None
    ) -> builtins.list[VectorRecord]:
        out: builtins.list[VectorRecord] = []
        for row in rows:
            raw, mid = _get(row, PAYLOAD_FIELD), _get(row, ID_FIELD)
            if raw is None or mid is None:
                continue  # deleted between the match and the load
            payload = decode_payload(raw)
            if scope.matches(payload) and evaluate(filters, payload):
                vec = _get(row, VECTOR_FIELD)
                out.append(VectorRecord(id=_text(mid), vector=unpack_vector(vec) if vec else None, payload=payload))
        return out

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> builtins.list[VectorRecord]:
        query, _ = query_of(scope, filters)
        rows = await self._scan("list", query, [ID_FIELD, PAYLOAD_FIELD, VECTOR_FIELD])
        records = self._records(rows, scope, filters)
        records.sort(key=lambda r: (str(r.payload.get("created_at") or ""), r.id))
        return records if limit is None else records[: max(limit, 0)]

    async def _total(self, client: aioredis.Redis, query: str) -> int:
        try:
            reply = await _cmd(client,
                "FT.SEARCH", self._index, query, "NOCONTENT", "LIMIT", 0, 0, "DIALECT", 2
            )
        except rexc.ResponseError as exc:
            if _is_missing_index(exc):
                return 0
            raise
        return int(_get(reply, "total_results") or 0)

    async def count(self, *, scope: Scope) -> int:
        query = scope_query(scope)
        return await self._call("count", lambda client: self._total(client, query))

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
        queries = [check_vector(v, "the query vector", provider="redis") for v in vectors]
        if limit <= 0:
            return [[] for _ in queries]
        dims = await self._known_dims()
        if dims is None:
            return [[] for _ in queries]
        for q in queries:
            if len(q) != dims:
                raise ValueError(f"redis: the query vector has {len(q)} dims; collection "
                                 f"{self.config.collection_name!r} holds {dims}-dim vectors")
        base, exact = query_of(scope, filters)
        results: dict[int, builtins.list[ScoredRecord]] = {}
        partial: dict[int, builtins.list[ScoredRecord]] = {}
        todo = list(range(len(queries)))
        fetch = limit if exact else max(4 * limit, 32)
        total: int | None = None
        while todo:
            if fetch > self._max_knn:  # more than one KNN may ask: score the narrowed set here, exactly
                for i in todo:
                    results[i] = await self._scan_search(queries[i], base, scope, limit, filters)
                break
            try:
                pages = await self._call("search", self._knn_of([queries[i] for i in todo], base, fetch))
            except ProviderError as exc:
                cap = _search_cap(exc.__cause__)
                if cap is None or cap >= fetch:
                    raise
                self._max_knn = cap  # the server's MAXSEARCHRESULTS: past it, scan
                continue
            still: builtins.list[int] = []
            for i, page in zip(todo, pages):
                hits = [h for h in page if scope.matches(h.payload) and evaluate(filters, h.payload)]
                hits.sort(key=lambda h: (-h.score, h.id))
                if len(hits) >= limit or len(page) < fetch:
                    results[i] = hits[:limit]
                else:
                    still.append(i)
                    partial[i] = hits
            todo = still
            if todo:
                if total is None:
                    total = await self._call("search", lambda c: self._total(c, base))
                if fetch >= total:  # every candidate was read: what passed is all there is
                    for i in todo:
                        results[i] = partial[i][:limit]
                    break
                fetch = min(fetch * 4, total)
        return [results.get(i, []) for i in range(len(queries))]

    def _knn_of(
        self, queries: Sequence[Sequence[float]], base: str, k: int
    ) -> Callable[[aioredis.Redis], Awaitable[builtins.list[builtins.list[ScoredRecord]]]]:
        return lambda client: self._knn(client, queries, base, k)

    async def _knn(
        self, client: aioredis.Redis, queries: Sequence[Sequence[float]], base: str, k: int
    ) -> builtins.list[builtins.list[ScoredRecord]]:
        """The ``k`` nearest records matching ``base`` for each query vector: one pipeline."""
        knn = f"{'*' if base == '*' else f'({base})'}=>[KNN {k} @{VECTOR_FIELD} $q"
        if self.config.hnsw_ef_runtime is not None:
            knn += f" EF_RUNTIME {max(self.config.hnsw_ef_runtime, k)}"
        knn += " AS __d]"
        pipe = client.pipeline(transaction=False)
        for q in queries:
            pipe.execute_command(
                "FT.SEARCH", self._index, knn, "PARAMS", 2, "q", pack_vector(q),
                "SORTBY", "__d", "ASC", "RETURN", 4, "__d", ID_FIELD, PAYLOAD_FIELD, VECTOR_FIELD,
                "LIMIT", 0, k, "DIALECT", 2,
            )
        replies = await pipe.execute(raise_on_error=False)
        out: builtins.list[builtins.list[ScoredRecord]] = []
        for reply in replies:
            if isinstance(reply, Exception):
                if _is_missing_index(reply):
                    self._dims = None
                    out.append([])
                    continue
                raise reply
            hits: builtins.list[ScoredRecord] = []
            for row in _get(reply, "results") or []:
                attrs = _get(row, "extra_attributes") or {}
                raw, mid, dist = _get(attrs, PAYLOAD_FIELD), _get(attrs, ID_FIELD), _get(attrs, "__d")
                if raw is None or mid is None or dist is None:
                    continue
                score = 1.0 - float(dist)
                vec = _get(attrs, VECTOR_FIELD)
                hits.append(ScoredRecord(
                    id=_text(mid), score=score if math.isfinite(score) else 0.0, payload=decode_payload(raw),
                    vector=unpack_vector(vec) if vec else None,
                ))
            out.append(hits)
        return out

    async def _scan_search(
        self, query: Sequence[float], base: str, scope: Scope, limit: int, filters: Filter | None
    ) -> builtins.list[ScoredRecord]:
        rows = await self._scan("search", base, [ID_FIELD, PAYLOAD_FIELD, VECTOR_FIELD])
        records = self._records(rows, scope, filters)
        scores = cosines(query, [r.vector or [] for r in records]) if records else []
        hits = [
            ScoredRecord(id=r.id, score=float(s), payload=r.payload, vector=r.vector) for r, s in zip(records, scores)
        ]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:limit]

    # ------------------------------------------------------------------ keyword search
    async def keyword_search(
        self, query: str, *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> builtins.list[ScoredRecord]:
        """The ``limit`` best records in ``scope`` passing ``filters`` by BM25 over their words,
        best first (ties by id), each score calibrated to ``[0, 1]``
        (:func:`mem7_core.providers.keywords.calibrate_bm25`).

        N and the average length are the scope's (one ``FT.AGGREGATE``); the candidates are the
        scope's records holding a query word (the ``w`` tag index), and their texts give the term
        frequencies and document frequencies: the scores of the engine's in-process index over the
        same memories. Filters narrow the results, not the statistics.
        """
        cfg = self.config
        if not cfg.keyword_search:
            raise NotImplementedError(
                "redis: keyword search is off for this store (vector_store.config.keyword_search: false); "
                "set it to true to rank keywords in Redis"
            )
        terms = list(dict.fromkeys(tokenize(query, stopwords=cfg.keyword_stopwords)))
        if limit <= 0 or not terms:
            return []
        base = scope_query(scope)
        length = LENGTH_FIELD if cfg.keyword_stopwords else LENGTH_ALL_FIELD
        matching = f"{'' if base == '*' else base + ' '}{tags(WORD_FIELD, [word_token(t) for t in terms])}"

        async def stats(client: aioredis.Redis) -> tuple[int, float]:
            try:
                reply = await _cmd(client,
                    "FT.AGGREGATE", self._index, base, "GROUPBY", 0,
                    "REDUCE", "COUNT", 0, "AS", "n", "REDUCE", "SUM", 1, f"@{length}", "AS", "s", "DIALECT", 2,
                )
            except rexc.ResponseError as exc:
                if _is_missing_index(exc):
                    return 0, 0.0
                raise
            rows = _get(reply, "results") or []
            if not rows:
                return 0, 0.0
            attrs = _get(rows[0], "extra_attributes") or {}
            return int(float(_get(attrs, "n") or 0)), float(_get(attrs, "s") or 0)

        candidates = await self._scan("keyword search", matching, [ID_FIELD, PAYLOAD_FIELD])
        if not candidates:
            return []
        n, total_length = await self._call("keyword search", stats)
        docs: builtins.list[tuple[str, dict[str, Any], Counter[str], int]] = []
        for row in candidates:
            raw, mid = _get(row, PAYLOAD_FIELD), _get(row, ID_FIELD)
            if raw is None or mid is None:
                continue
            payload = decode_payload(raw)
            if not scope.matches(payload):
                continue
            words = tokenize(text_of(payload), stopwords=cfg.keyword_stopwords)
            docs.append((_text(mid), payload, Counter(words), len(words)))
        df = {t: sum(1 for _, _, tf, _ in docs if tf[t]) for t in terms}
        n = max(n, len(docs))  # a write landing between the two reads: never a negative idf
        avgdl = (total_length / n if n else 0.0) or 1.0
        k1, b = float(cfg.keyword_k1), float(cfg.keyword_b)
        c1, c2 = k1 * (1.0 - b), k1 * b / avgdl
        idf = {t: math.log((n - df[t] + 0.5) / (df[t] + 0.5) + 1.0) for t in terms if df[t]}
        mass = sum(idf.values())
        hits: builtins.list[ScoredRecord] = []
        for mem7_id, payload, tf, dl in docs:
            score = 0.0
            for t, w in idf.items():
                f = tf[t]
                if f:
                    score += w * (k1 + 1.0) * f / (f + c1 + c2 * dl)
            if score > 0.0 and evaluate(filters, payload):
                hits.append(ScoredRecord(id=mem7_id, score=score, payload=payload))
        hits.sort(key=lambda h: (-h.score, h.id))
        return [
            ScoredRecord(id=h.id, score=calibrate_bm25(h.score, mass), payload=h.payload) for h in hits[:limit]
        ]

    # ------------------------------------------------------------------ embedding space
    async def embedding_space(self) -> EmbeddingSpace | None:
        async def read(client: aioredis.Redis) -> tuple[Mapping[Any, Any] | None, Any]:
            return await self._info(client), await _cmd(client, "HGET", self._meta, _SPACE)

        info, raw = await self._call("reading the embedding space", read)
        if info is None or int(_get(info, "num_docs") or 0) == 0:
            return None
        dims = self._adopt(info)
        if raw is not None:
            try:
                space = EmbeddingSpace.from_json(json.loads(raw))
            except (ValueError, TypeError):
                space = None
            if space is not None and space.dims == dims:
                return space
        return EmbeddingSpace(dims=dims)

    def record_embedder(self, space: EmbeddingSpace) -> None:
        self._space = space

    # ------------------------------------------------------------------ lifecycle
    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
