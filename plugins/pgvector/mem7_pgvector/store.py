"""PgVectorStore: mem7 vectors in one PostgreSQL table, searched with pgvector's HNSW index.

Layout (``<collection_name>``, in ``db_schema`` or the search path)::

    id          text COLLATE "C" PRIMARY KEY
    embedding   vector(dims) NOT NULL
    payload     jsonb NOT NULL              the whole payload, filters run over it
    user_id     text COLLATE "C"            scope columns, copied from the payload when a string
    agent_id    text COLLATE "C"
    run_id      text COLLATE "C"
    created_at  text COLLATE "C" NOT NULL   str(payload["created_at"]) ('' when absent): list order
    keywords          tsvector              the words of payload["data"] (keyword search, below)
    keywords_len      integer               how many words, function words left out
    keywords_len_all  integer               how many words in all

Indexes: the primary key; ``(user_id, created_at, id)``, ``(agent_id, created_at, id)`` and
``(run_id, created_at, id)`` b-trees (a scoped list is an index range scan, a scoped search starts
from its scope's rows when that is selective); HNSW on ``embedding vector_cosine_ops``; optionally
GIN ``jsonb_path_ops`` on ``payload`` (``gin_index: true``), which serves the ``@>`` equality and
``in`` filters.

Search orders by ``embedding <=> query`` (cosine distance) and reports ``1 - distance``. pgvector
0.8's iterative index scans (``hnsw_iterative_scan``, default ``strict_order``) keep scanning the
graph until ``limit`` rows pass the scope and filters, in exact distance order among those found.
``exact_search: true`` bypasses the index (exact k-NN over the scope's rows).

Keyword search (``keyword_search: true``, the default): ``keywords`` holds the words of the
memory's text as mem7's own tokeniser (:func:`mem7_core.providers.keywords.tokenize`) splits them, each
with its count (as that many positions, at most 256), written with the row by every insert and
update; a GIN index serves ``keywords @@ 'w1' | 'w2'``. :meth:`PgVectorStore.keyword_search` scores
the scope's matches with Okapi BM25 in one SQL statement — N, document frequencies and the average
length over the scope's rows, exactly as the engine's in-process index does — and calibrates it
like :func:`mem7_core.retrieval.fusion.calibrate_bm25`, so every replica sharing the table gives
the same keyword ranking. Tables written before are migrated on open (``ADD COLUMN IF NOT
EXISTS``); rows whose ``keywords`` are NULL (written before the migration, or by a writer that does
not maintain the column: a ``BEFORE UPDATE`` trigger clears ``keywords`` when ``data`` changes
without them) are indexed by the next keyword search of their scope.

Filters: :mod:`mem7_pgvector.filters` (every operator, nested AND/OR/NOT, reference semantics).
The few conditions SQL cannot express exactly are evaluated here with
:func:`mem7_core.filters.evaluate` on the rows the SQL part returns, so the declared capabilities
hold for every filter.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg
from pgvector import Vector
from pgvector.psycopg.vector import register_vector_info
from psycopg import sql
from psycopg.types import TypeInfo
from pydantic import AliasChoices, Field, field_validator, model_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError
from mem7_core.filters import ALL_OPERATORS, Filter, evaluate
from mem7_core.models import SCOPE_KEYS, Scope, ScoredRecord, VectorRecord
from mem7_core.providers import EmbeddingSpace, VectorStore, VectorStoreCapabilities
from mem7_core.providers.keywords import STOPWORDS, calibrate_bm25, tokenize

from ._common import (
    IDENTIFIER,
    IterativeScan,
    PgBase,
    PgConnectionConfig,
    check_id,
    dumps,
    ensure_schema,
    existing_indexes,
    qualified_name,
    quoted_table,
)
from .filters import Dialect, split

log = logging.getLogger("mem7.pgvector")

_COLUMNS = ("id", "embedding", "payload", "user_id", "agent_id", "run_id", "created_at")
_KEYWORD_COLUMNS = ("keywords", "keywords_len", "keywords_len_all")
_SCAN_BATCH = 500
_HEAL_BATCH = 500
_HNSW_MAX_DIMS = 2000
_LEXEME_MAX_BYTES = 2046
"""PostgreSQL refuses a lexeme of 2 KiB or more ("word is too long"); longer words are not indexed."""
_POSITIONS_MAX = 256
"""A tsvector keeps at most 256 positions per lexeme: term counts above that are counted as 256."""
_TSVECTOR_MAX_BYTES = 1_000_000
"""A tsvector holds at most 1 MiB; a text with more distinct words keeps its most frequent ones."""


def _text(payload: dict[str, Any]) -> str:
    """The text keyword search sees: ``payload["data"]``, as the engine's index reads it."""
    return str(payload.get("data") or "")


def _quote_lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def keyword_columns(text: str) -> tuple[str, int, int]:
    """``(tsvector literal, words without function words, all words)`` for one memory's text.

    The words are :func:`mem7_core.providers.keywords.tokenize`'s (function words kept, so either
    ``keyword_stopwords`` setting can be served from one column); each lexeme carries positions
    ``1..count``, so ``cardinality(positions)`` is its term frequency.
    """
    words = tokenize(text, stopwords=False)
    content = sum(1 for w in words if w not in STOPWORDS)
    counts = Counter(w for w in words if len(w.encode("utf-8")) <= _LEXEME_MAX_BYTES)
    parts: list[str] = []
    size = 0
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        n = min(n, _POSITIONS_MAX)
        size += len(word.encode("utf-8")) + 2 * n + 8
        if size > _TSVECTOR_MAX_BYTES:
            log.warning("pgvector: a memory's text has too many distinct words for one tsvector; "
                        "its rarest words are left out of keyword search")
            break
        parts.append(f"{_quote_lexeme(word)}:{','.join(map(str, range(1, n + 1)))}")
    return " ".join(parts), content, len(words)


def query_terms(query: str, *, stopwords: bool) -> list[str]:
    """The distinct words of ``query`` keyword search looks for, in first-seen order (as the
    engine's index: :meth:`mem7_core.providers.keywords.BM25Index.terms`)."""
    terms = dict.fromkeys(tokenize(query, stopwords=stopwords))
    return [t for t in terms if len(t.encode("utf-8")) <= _LEXEME_MAX_BYTES]


def _to_list(vec: Any) -> list[float] | None:
    if vec is None:
        return None
    if isinstance(vec, Vector):
        return vec.to_list()
    if hasattr(vec, "tolist"):
        return [float(x) for x in vec.tolist()]
    return [float(x) for x in vec]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _created_key(payload: dict[str, Any]) -> str:
    created = payload.get("created_at")
    return "" if created is None else str(created)


class PgVectorStore(PgBase, VectorStore):
    """Vectors in PostgreSQL with pgvector: HNSW cosine search, filters pushed down as SQL."""

    name = "pgvector"
    aliases = ("postgres", "postgresql")
    provider_label = "pgvector"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(
        filter_operators=ALL_OPERATORS, logical=True, persistent=True, keyword_search=True
    )
    """``keyword_search`` follows the config (an instance with ``keyword_search: false`` declares it off)."""

    class Config(PgConnectionConfig):
        collection_name: str = "mem7_memories"
        """The table name (quoted, so case is kept)."""
        dims: int | None = Field(None, ge=1, le=16000, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size. ``None``: read from an existing table, else taken from the first insert."""
        hnsw: bool = True
        """Build the HNSW index (vector_cosine_ops). Without it every search is exact and linear."""
        hnsw_m: int = Field(16, ge=2, le=100)
        hnsw_ef_construction: int = Field(64, ge=4, le=1000)
        hnsw_ef_search: int = Field(100, ge=1, le=1000)
        """Candidate list size at query time (recall/speed trade-off)."""
        hnsw_iterative_scan: IterativeScan = "strict_order"
        """pgvector 0.8+: keep scanning the index until enough rows pass the filters."""
        hnsw_max_scan_tuples: int | None = Field(None, ge=1)
        """pgvector 0.8+: cap on tuples an iterative scan visits (``None``: server default, 20000)."""
        exact_search: bool = False
        """Never use the HNSW index for search: exact k-NN over the scope's rows."""
        gin_index: bool = False
        """Also index ``payload`` with GIN (jsonb_path_ops) for equality / ``in`` filters."""
        create_extension: bool = True
        """Run ``CREATE EXTENSION IF NOT EXISTS vector`` at startup (needs the privilege)."""
        copy_threshold: int = Field(1000, ge=1)
        """Inserts of at least this many records go through COPY into a temporary table."""
        diskann: bool = False
        """mem0 compatibility; pgvectorscale's DiskANN is not supported (must stay false)."""
        keyword_search: bool = True
        """Rank keywords in PostgreSQL (a ``keywords`` tsvector column with a GIN index, BM25 in
        SQL): hybrid retrieval then asks the store, and every replica sharing the table gives the
        same answer. ``false``: the column is not created, and the engine ranks keywords with its
        own per-process index (which does not see other replicas' writes until rebuilt)."""
        keyword_k1: float = Field(1.2, ge=0)
        """BM25 term-frequency saturation of the store's keyword search (as ``retrieval.k1``)."""
        keyword_b: float = Field(0.75, ge=0, le=1)
        """BM25 length normalisation of the store's keyword search (as ``retrieval.b``)."""
        keyword_stopwords: bool = True
        """Leave English function words out of keyword queries and document lengths (as
        ``retrieval.stopwords``). The column keeps every word, so this can change at any time."""

        @field_validator("collection_name")
        @classmethod
        def _collection(cls, v: str) -> str:
            if not IDENTIFIER.match(v):
                raise ValueError(
                    "collection_name must match [A-Za-z_][A-Za-z0-9_]* (at most 48 characters), "
                    f"it names a PostgreSQL table; got {v!r}"
                )
            return v

        @field_validator("diskann")
        @classmethod
        def _diskann(cls, v: bool) -> bool:
            if v:
                raise ValueError("diskann is not supported by mem7-pgvector; use the HNSW index (hnsw: true)")
            return v

        @model_validator(mode="after")
        def _hnsw(self) -> PgVectorStore.Config:
            if self.hnsw_ef_construction < 2 * self.hnsw_m:
                raise ValueError(
                    f"hnsw_ef_construction ({self.hnsw_ef_construction}) "
                    f"must be at least 2 * hnsw_m ({2 * self.hnsw_m})"
                )
            if self.hnsw and self.dims is not None and self.dims > _HNSW_MAX_DIMS:
                raise ValueError(
                    f"dims (embedding_model_dims) {self.dims} is above pgvector's HNSW limit of {_HNSW_MAX_DIMS} "
                    "for the vector type; set hnsw: false (exact search) or use a smaller embedding"
                )
            return self

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._init_pg()
        cfg = self.config
        self._table = quoted_table(cfg.db_schema, cfg.collection_name)
        self._regname = qualified_name(cfg.db_schema, cfg.collection_name)
        self._dims: int | None = cfg.dims
        self._table_ready = False
        self._dialect = Dialect()
        self._vector_info: TypeInfo | None = None
        self._ext_version: tuple[int, ...] = (0,)
        self._keywords = cfg.keyword_search
        """Whether the table has the keyword columns (every write then fills them)."""
        if not cfg.keyword_search:
            self.capabilities = VectorStoreCapabilities(  # type: ignore[misc]
                filter_operators=ALL_OPERATORS, logical=True, persistent=True, keyword_search=False
            )

    # ================================================================== schema
    async def _table_dims(self, conn: psycopg.AsyncConnection[Any]) -> int | bool | None:
        """The table's vector dims; ``False`` when the table does not exist."""
        cur = await conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypmod "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            [self._regname],
        )
        rows = await cur.fetchall()
        if not rows:
            return False
        columns = {name: (typ, mod) for name, typ, mod in rows}
        missing = [c for c in _COLUMNS if c not in columns]
        if missing or not str(columns["embedding"][0]).startswith("vector"):
            raise ConfigError(
                f"pgvector: collection_name {self.config.collection_name!r}: table {self._regname} exists but is "
                f"not a mem7 pgvector table (missing or mistyped columns: {', '.join(missing) or 'embedding'}); "
                "choose another collection_name"
            )
        # A table another instance gave the keyword columns: keep them filled on every write.
        self._keywords = self.config.keyword_search or all(c in columns for c in _KEYWORD_COLUMNS)
        mod = columns["embedding"][1]
        return int(mod) if mod and int(mod) > 0 else None

    def _check_dims(self, table_dims: int | None) -> None:
        want = self.config.dims
        if want is not None and table_dims is not None and want != table_dims:
            raise ConfigError(
                f"pgvector: dims (embedding_model_dims) is {want} but table {self._regname} holds "
                f"{table_dims}-dimensional vectors; use dims: {table_dims}, or another collection_name"
            )

    async def _bootstrap(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cfg = self.config
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mem7-pgvector:{self._regname}"])
            ext = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            cur = await conn.execute(ext)
            row = await cur.fetchone()
            if row is None:
                if not cfg.create_extension:
                    raise ConfigError(
                        "pgvector: the 'vector' extension is not installed in this database and "
                        "create_extension is false; run CREATE EXTENSION vector as a privileged user"
                    )
                try:
                    async with conn.transaction():
                        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise ConfigError(
                        f"pgvector: cannot create the 'vector' extension ({exc}); run CREATE EXTENSION vector "
                        "as a privileged user, or connect as one"
                    ) from exc
                except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
                    raise ConfigError(f"pgvector: the server has no pgvector extension available ({exc})") from exc
                cur = await conn.execute(ext)
                row = await cur.fetchone()
            self._ext_version = _version(row[0] if row else "0")
            await ensure_schema(conn, cfg.db_schema)
            cur = await conn.execute(
                "SELECT current_setting('server_version_num')::int, current_setting('server_encoding')"
            )
            version, encoding = await cur.fetchone()  # type: ignore[misc]
            self._dialect = Dialect(casefold=version >= 180000 and str(encoding).upper() in ("UTF8", "UTF-8"))
            info = await TypeInfo.fetch(conn, "vector")
            if info is None:  # pragma: no cover - the extension exists in another schema
                raise ConfigError(
                    "pgvector: the 'vector' type is not on the search_path of this connection; "
                    "install the extension in a schema on the search_path"
                )
            self._vector_info = info
            table_dims = await self._table_dims(conn)
            if table_dims is False:
                if self._dims is not None:
                    await self._create(conn, self._dims)
            else:
                self._check_dims(table_dims)
                if table_dims is not None:
                    self._dims = table_dims
                await self._create(conn, self._dims)  # add any missing index
            if self._ext_version < (0, 8):
                log.warning("pgvector: extension version %s has no iterative index scans: a filtered "
                            "search may return fewer than limit hits; upgrade to 0.8+ or set exact_search",
                            ".".join(map(str, self._ext_version)))
            if not self._dialect.casefold:
                log.info("pgvector: server has no casefold() (PostgreSQL < 18 or not UTF-8): "
                         "icontains filters are evaluated by the store in Python")

    async def _create(self, conn: psycopg.AsyncConnection[Any], dims: int | None) -> None:
        """Create the table (when ``dims`` is known) and every missing index. Idempotent."""
        cfg = self.config
        t = self._table
        if dims is not None:
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    "id text COLLATE \"C\" PRIMARY KEY, "
                    "embedding vector({}) NOT NULL, "
                    "payload jsonb NOT NULL, "
                    "user_id text COLLATE \"C\", "
                    "agent_id text COLLATE \"C\", "
                    "run_id text COLLATE \"C\", "
                    "created_at text COLLATE \"C\" NOT NULL DEFAULT '')"
                ).format(t, sql.Literal(int(dims)))
            )
        if cfg.keyword_search:  # the table exists here (created above, or found by the bootstrap)
            await self._create_keywords(conn)
        # Only the missing ones: CREATE INDEX takes a SHARE lock on the table (blocking writers)
        # before it notices that an index of that name exists.
        existing = await existing_indexes(conn, self._regname)
        wanted: list[tuple[str, sql.Composed]] = []
        for key in SCOPE_KEYS:
            name = f"{cfg.collection_name}_{key.split('_')[0]}_idx"
            wanted.append((name, sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, created_at, id)").format(
                sql.Identifier(name), t, sql.Identifier(key))))
        if cfg.hnsw:
            name = f"{cfg.collection_name}_hnsw_idx"
            wanted.append((name, sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = {}, ef_construction = {})"
            ).format(sql.Identifier(name), t, sql.Literal(cfg.hnsw_m), sql.Literal(cfg.hnsw_ef_construction))))
        if cfg.keyword_search:
            name = f"{cfg.collection_name}_keywords_idx"
            wanted.append((name, sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (keywords)").format(
                sql.Identifier(name), t)))
            name = f"{cfg.collection_name}_keywords_null_idx"  # rows still to index: usually none
            wanted.append((name, sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (id) WHERE keywords IS NULL").format(
                sql.Identifier(name), t)))
        if cfg.gin_index:
            name = f"{cfg.collection_name}_payload_idx"
            wanted.append((name, sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING gin (payload jsonb_path_ops)"
            ).format(sql.Identifier(name), t)))
        for name, stmt in wanted:
            if name not in existing:
                await conn.execute(stmt)
        self._table_ready = True

    async def _create_keywords(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Add the keyword columns and their trigger when missing (a table of an earlier version:
        its rows get NULL keywords, indexed by the next keyword search of their scope)."""
        cfg = self.config
        t = self._table
        cur = await conn.execute(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped",
            [self._regname],
        )
        have = {r[0] for r in await cur.fetchall()}
        if not all(c in have for c in _KEYWORD_COLUMNS):
            await conn.execute(sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS keywords tsvector, "
                "ADD COLUMN IF NOT EXISTS keywords_len integer, ADD COLUMN IF NOT EXISTS keywords_len_all integer"
            ).format(t))
        trigger = f"{cfg.collection_name}_keywords_trg"
        cur = await conn.execute(
            "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s", [self._regname, trigger]
        )
        if await cur.fetchone() is None:
            # A writer that changes the text without the keywords (an older mem7-pgvector, a
            # manual UPDATE) leaves them NULL, to be indexed again, rather than stale.
            function = quoted_table(cfg.db_schema, f"{cfg.collection_name}_keywords_stale")
            await conn.execute(sql.SQL(
                "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.payload -> 'data' IS DISTINCT FROM OLD.payload -> 'data' "
                "AND NEW.keywords IS NOT DISTINCT FROM OLD.keywords THEN NEW.keywords := NULL; END IF; "
                "RETURN NEW; END $$"
            ).format(function))
            await conn.execute(sql.SQL(
                "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(sql.Identifier(trigger), t, function))
        self._keywords = True

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._vector_info is not None:
            register_vector_info(conn, self._vector_info)
        cfg = self.config
        extra = {"hnsw.ef_search": str(cfg.hnsw_ef_search)}
        if self._ext_version >= (0, 8):  # older versions reject these names once loaded
            extra["hnsw.iterative_scan"] = cfg.hnsw_iterative_scan
            if cfg.hnsw_max_scan_tuples is not None:
                extra["hnsw.max_scan_tuples"] = str(cfg.hnsw_max_scan_tuples)
        await self._set_session(conn, extra)

    async def _ready(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Whether the table exists (another instance may have created it since we looked)."""
        if self._table_ready:
            return True
        table_dims = await self._table_dims(conn)
        if table_dims is False:
            return False
        self._check_dims(table_dims)
        if table_dims is not None:
            self._dims = table_dims
        self._table_ready = True
        return True

    async def _ensure_table(self, dims: int) -> None:
        if self._table_ready:
            return

        async def create(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mem7-pgvector:{self._regname}"])
                table_dims = await self._table_dims(conn)
                if table_dims is False:
                    await self._create(conn, dims)
                    self._dims = dims
                else:
                    self._check_dims(table_dims)
                    if table_dims is not None:
                        self._dims = table_dims
                    self._table_ready = True
            if self._dims != dims:  # another instance created it first, with another size
                raise ValueError(f"pgvector: vectors have {dims} dims, the collection has {self._dims}")

        await self._run("create table", create)

    async def embedding_space(self) -> EmbeddingSpace | None:
        """The table's vector size (``None``: no table yet). Reads only: creates no table."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> int | bool | None:
            return await self._table_dims(conn)

        dims = await self._run("read the table's dims", run)
        return None if dims is None or isinstance(dims, bool) else EmbeddingSpace(dims=dims)

    # ================================================================== validation
    def _vector(self, vector: Sequence[float] | None, what: str, dims: int | None = None) -> Vector:
        if vector is None:
            raise ValueError(f"pgvector: {what} has no vector")
        try:
            values = [float(x) for x in (vector.tolist() if hasattr(vector, "tolist") else vector)]
        except (TypeError, ValueError):
            raise ValueError(f"pgvector: {what}: a vector must be a sequence of numbers") from None
        if not values:
            raise ValueError(f"pgvector: {what}: empty vector")
        if not all(math.isfinite(x) for x in values):
            raise ValueError(f"pgvector: {what}: vectors must be finite (no NaN or inf)")
        want = dims if dims is not None else self._dims
        if want is not None and len(values) != want:
            raise ValueError(f"pgvector: {what} has {len(values)} dims, the collection has {want}")
        return Vector(values)

    def _row(self, record: VectorRecord, dims: int) -> tuple[Any, ...]:
        rid = check_id(record.id)
        vec = self._vector(record.vector, f"record {rid!r}", dims)
        return (rid, vec, *self._payload_columns(record.payload))

    @staticmethod
    def _payload_columns(payload: dict[str, Any]) -> tuple[Any, ...]:
        if not isinstance(payload, dict):
            raise TypeError(f"pgvector: payload must be a dict, got {type(payload).__name__}")
        scope = [v if isinstance(v := payload.get(k), str) else None for k in SCOPE_KEYS]
        for v in scope:
            if v is not None:
                check_id(v)
        created = _created_key(payload)
        if "\x00" in created:
            raise ValueError("pgvector: created_at contains a NUL character")
        return (dumps(payload), *scope, created)

    def _scope_sql(self, scope: Scope, params: list[Any]) -> list[sql.Composable]:
        parts: list[sql.Composable] = []
        for key, value in scope.items():
            parts.append(sql.SQL("{} = %s").format(sql.Identifier(key)))
            params.append(value)
        return parts

    def _where(self, scope: Scope, filters: Filter | None) -> tuple[sql.Composable, list[Any], Filter | None]:
        """WHERE clause for scope AND the pushable part of ``filters``; the rest is returned."""
        params: list[Any] = []
        parts = self._scope_sql(scope, params)
        fsql, fparams, residual = split(filters, self._dialect)
        if fsql is not None:
            parts.append(fsql)
            params += fparams
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts) if parts else sql.SQL("")
        return where, params, residual

    # ================================================================== interface
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        if self._dims is None and self._pool is None:
            await self._get_pool_checked()
        dims = self._dims
        if dims is None:  # no table yet: the first vector decides, once the batch is valid
            dims = len(self._vector(records[0].vector, f"record {records[0].id!r}").to_list())
        rows = [self._row(r, dims) for r in records]
        texts = [_text(r.payload) for r in records]
        await self._ensure_table(dims)
        cfg = self.config
        t = self._table

        async def write(conn: psycopg.AsyncConnection[Any]) -> None:
            # Decided here, after the bootstrap: the table may have the keyword columns already.
            kw = self._keywords
            columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS + (_KEYWORD_COLUMNS if kw else ())))
            sets = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                for c in (_COLUMNS + (_KEYWORD_COLUMNS if kw else ()))[1:]
            )
            batch = [(*r, *keyword_columns(text)) for r, text in zip(rows, texts)] if kw else rows
            async with conn.transaction():
                if len(batch) < cfg.copy_threshold:
                    values = sql.SQL("%s, %s, %s::jsonb, %s, %s, %s, %s" + (", %s::tsvector, %s, %s" if kw else ""))
                    upsert = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
                        t, columns, values, sets
                    )
                    async with conn.cursor() as cur:
                        await cur.executemany(upsert, batch)
                    return
                # Bulk: COPY into a temporary table, then one upsert. The last duplicate id wins.
                last = list({r[0]: r for r in batch}.values())
                await conn.execute(
                    "CREATE TEMPORARY TABLE mem7_pgvector_load (id text, embedding vector, payload text, "
                    "user_id text, agent_id text, run_id text, created_at text, "
                    "keywords text, keywords_len integer, keywords_len_all integer) ON COMMIT DROP"
                )
                load = ", ".join(_COLUMNS + (_KEYWORD_COLUMNS if kw else ()))
                async with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY mem7_pgvector_load ({load}) FROM STDIN (FORMAT BINARY)") as copy,
                ):
                    copy.set_types(["text", "vector", "text", "text", "text", "text", "text"]
                                   + (["text", "int4", "int4"] if kw else []))
                    for row in last:
                        await copy.write_row(row)
                select = sql.SQL(
                    "id, embedding, payload::jsonb, user_id, agent_id, run_id, created_at"
                    + (", keywords::tsvector, keywords_len, keywords_len_all" if kw else "")
                )
                await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} ({}) SELECT {} FROM mem7_pgvector_load ON CONFLICT (id) DO UPDATE SET {}"
                    ).format(t, columns, select, sets)
                )

        await self._run("insert", write)

    async def _get_pool_checked(self) -> None:
        """Open the pool (bootstrap reads an existing table's dims) with the usual retries."""

        async def noop(conn: psycopg.AsyncConnection[Any]) -> None:
            return None

        await self._run("connect", noop)

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
        async def run(conn: psycopg.AsyncConnection[Any]) -> list[ScoredRecord]:
            # Built here, after the bootstrap has read the table's dims and the server's dialect.
            if not await self._ready(conn):
                self._vector(vector, "query")  # still reject NaN and the like
                return []
            select, qparams, residual = self._search_sql(vector, scope, filters)
            rows = await self._select(conn, select, qparams, limit, residual)
            out = []
            for rid, payload, distance in rows:
                d = float(distance) if distance is not None else math.nan
                score = 0.0 if math.isnan(d) else 1.0 - d
                out.append(ScoredRecord(id=rid, score=score, payload=payload))
            return out

        return await self._run("search", run)

    def _search_sql(
        self, vector: Sequence[float], scope: Scope, filters: Filter | None
    ) -> tuple[sql.Composed, list[Any], Filter | None]:
        """The search statement (without LIMIT), its parameters and the filter residual."""
        query = self._vector(vector, "query")
        where, params, residual = self._where(scope, filters)
        t = self._table
        if not any(query.to_list()):
            # No direction: every cosine is 0 (as in the flat store); oldest first.
            select = sql.SQL("SELECT id, payload, 1.0::float8 AS distance FROM {}{} ORDER BY created_at, id").format(
                t, where
            )
            return select, list(params), residual
        cfg = self.config
        use_index = cfg.hnsw and not cfg.exact_search and residual is None
        # "+ 0" makes the ORDER BY expression one the HNSW index cannot produce: an exact sort.
        # (The residual path streams rows without LIMIT, where an index scan could stop early.)
        order = sql.SQL("embedding <=> %s") if use_index else sql.SQL("(embedding <=> %s) + 0")
        select = sql.SQL("SELECT id, payload, embedding <=> %s AS distance FROM {}{} ORDER BY {}, id").format(
            t, where, order
        )
        return select, [query, *params, query], residual

    async def keyword_search(
        self, query: str, *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> list[ScoredRecord]:
        """The ``limit`` best records in ``scope`` passing ``filters`` by BM25 over their words,
        best first (ties by id), each score calibrated to ``[0, 1]``: ``min(1, BM25 / Σ idf)`` over
        the query's words found in the scope (:func:`mem7_core.retrieval.fusion.calibrate_bm25`).

        N, the document frequencies and the average length are the scope's (filters narrow the
        results, not the statistics), so the scores are the engine's in-process index's.
        """
        cfg = self.config
        if not cfg.keyword_search:
            raise NotImplementedError(
                "pgvector: keyword search is off for this store (vector_store.config.keyword_search: false); "
                "set it to true to rank keywords in PostgreSQL"
            )
        if limit <= 0:
            return []
        terms = query_terms(query, stopwords=cfg.keyword_stopwords)
        if not terms:
            return []

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[ScoredRecord]:
            if not await self._ready(conn):
                return []
            await self._heal(conn, scope)
            select, params, residual = self._keyword_sql(terms, scope, filters)
            rows = await self._select(conn, select, params, limit, residual)
            return [
                ScoredRecord(id=rid, score=calibrate_bm25(float(bm25), float(mass)), payload=payload)
                for rid, payload, bm25, mass in rows
            ]

        return await self._run("keyword search", run)

    def _keyword_sql(
        self, terms: Sequence[str], scope: Scope, filters: Filter | None
    ) -> tuple[sql.Composed, list[Any], Filter | None]:
        """The keyword search statement (without LIMIT): ``(id, payload, bm25, idf mass)`` of the
        scope's records holding any of ``terms`` and passing the pushable part of ``filters``,
        best first; with its parameters and the filter residual.

        BM25 as :class:`mem7_core.providers.keywords.BM25Index` computes it::

            idf(t) = ln((N − df(t) + 0.5) / (df(t) + 0.5) + 1)
            bm25   = Σ idf(t) · (k1 + 1) · tf / (tf + k1 · (1 − b) + k1 · b · |d| / avgdl)
        """
        cfg = self.config
        k1, b = float(cfg.keyword_k1), float(cfg.keyword_b)
        length = sql.Identifier("keywords_len" if cfg.keyword_stopwords else "keywords_len_all")
        t = self._table
        scope_params: list[Any] = []
        scope_parts = self._scope_sql(scope, scope_params)
        in_scope = sql.SQL(" AND ").join(scope_parts) if scope_parts else sql.SQL("true")
        fsql, fparams, residual = split(filters, self._dialect)
        tsquery = " | ".join(_quote_lexeme(term) for term in terms)
        select = sql.SQL(
            "WITH st AS ("
            "SELECT count(*)::float8 AS n, coalesce(nullif(avg({len})::float8, 0), 1.0) AS avgdl FROM {t} WHERE {scope}"
            "), m AS ("
            "SELECT id, {len}::float8 AS dl, keywords FROM {t} WHERE {scope} AND keywords @@ %s::tsquery"
            "), tf AS ("
            "SELECT m.id, m.dl, u.lexeme, coalesce(cardinality(u.positions), 1)::float8 AS f "
            # Only the query's words, picked in C (setweight + ts_filter), not one SQL row per word.
            "FROM m CROSS JOIN LATERAL unnest(ts_filter(setweight(m.keywords, 'A', %s::text[]), '{{a}}')) AS u"
            "), idf AS ("
            "SELECT tf.lexeme, ln((st.n - count(*) + 0.5) / (count(*) + 0.5) + 1.0) AS idf "
            "FROM tf CROSS JOIN st GROUP BY tf.lexeme, st.n"
            "), sc AS ("
            "SELECT tf.id, "
            "sum(idf.idf * %s::float8 * tf.f / (tf.f + %s::float8 + %s::float8 / st.avgdl * tf.dl)) AS bm25 "
            "FROM tf JOIN idf USING (lexeme) CROSS JOIN st GROUP BY tf.id"
            ") "
            "SELECT r.id, r.payload, sc.bm25, (SELECT sum(idf) FROM idf) AS mass "
            "FROM sc JOIN {t} AS r ON r.id = sc.id{filters} ORDER BY sc.bm25 DESC, r.id"
        ).format(
            len=length,
            t=t,
            scope=in_scope,
            filters=sql.SQL(" WHERE {}").format(fsql) if fsql is not None else sql.SQL(""),
        )
        params = [*scope_params, *scope_params, tsquery, list(terms), k1 + 1.0, k1 * (1.0 - b), k1 * b, *fparams]
        return select, params, residual

    async def _heal(self, conn: psycopg.AsyncConnection[Any], scope: Scope) -> None:
        """Index the scope's rows whose keywords are NULL (written before the keyword columns
        existed, or by a writer that does not fill them). Usually one index probe finding none."""
        params: list[Any] = []
        parts = [sql.SQL("keywords IS NULL"), *self._scope_sql(scope, params)]
        pick = sql.SQL("SELECT id, payload, (payload -> 'data')::text FROM {} WHERE {} ORDER BY id LIMIT %s").format(
            self._table, sql.SQL(" AND ").join(parts)
        )
        # Only if the text is still the one read: a concurrent reword has written its own keywords.
        fill = sql.SQL(
            "UPDATE {} SET keywords = %s::tsvector, keywords_len = %s, keywords_len_all = %s "
            "WHERE id = %s AND keywords IS NULL AND (payload -> 'data')::text IS NOT DISTINCT FROM %s"
        ).format(self._table)
        seen: set[str] = set()
        while True:
            cur = await conn.execute(pick, [*params, _HEAL_BATCH])
            rows = [r for r in await cur.fetchall() if r[0] not in seen]
            if not rows:
                return
            seen.update(r[0] for r in rows)
            batch = [(*keyword_columns(_text(payload)), rid, data) for rid, payload, data in rows]
            try:
                async with conn.transaction(), conn.cursor() as c:
                    await c.executemany(fill, batch)
            except (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege) as exc:
                log.warning("pgvector: %d rows of %s have no keywords yet and cannot be indexed from this "
                            "connection (%s); keyword search leaves them out", len(rows), self._regname, exc)
                return
            if len(rows) < _HEAL_BATCH:
                return

    async def _select(
        self,
        conn: psycopg.AsyncConnection[Any],
        select: sql.Composed,
        params: list[Any],
        limit: int | None,
        residual: Filter | None,
    ) -> list[tuple[Any, ...]]:
        """Rows of ``select``: with LIMIT in SQL, or streamed through ``residual`` up to ``limit``."""
        if residual is None:
            if limit is not None:
                select = sql.SQL("{} LIMIT %s").format(select)
                params = [*params, limit]
            cur = await conn.execute(select, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows
        out: list[tuple[Any, ...]] = []
        if limit is not None and limit <= 0:
            return out
        async with conn.transaction(), conn.cursor(name="mem7_pgvector_scan") as cur:
            await cur.execute(select, params)
            while True:
                batch = await cur.fetchmany(_SCAN_BATCH)
                if not batch:
                    break
                for row in batch:
                    if evaluate(residual, row[1]):
                        out.append(row)
                        if limit is not None and len(out) >= limit:
                            return out
        return out

    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        wanted = [i for i in ids if isinstance(i, str) and i and "\x00" not in i]
        if not wanted:
            return []
        select = sql.SQL("SELECT id, embedding, payload FROM {} WHERE id = ANY(%s)").format(self._table)

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[VectorRecord]:
            if not await self._ready(conn):
                return []
            cur = await conn.execute(select, [list(dict.fromkeys(wanted))])
            found = {rid: (vec, payload) for rid, vec, payload in await cur.fetchall()}
            out = []
            seen: set[str] = set()
            for rid in ids:
                hit = found.get(rid)
                if hit is not None:
                    # A fresh payload per occurrence: callers may mutate what they get.
                    payload = copy.deepcopy(hit[1]) if rid in seen else hit[1]
                    seen.add(rid)
                    out.append(VectorRecord(id=rid, vector=_to_list(hit[0]), payload=payload))
            return out

        return await self._run("get", run)

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        check_id(id)
        if vector is not None and self._dims is None and self._pool is None:
            await self._get_pool_checked()
        vec = self._vector(vector, f"update of {id!r}") if vector is not None else None
        columns = self._payload_columns(payload) if payload is not None else None
        text = _text(payload) if payload is not None else ""
        t = self._table

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            if not await self._ready(conn):
                return False
            sets: list[sql.Composable] = []
            params: list[Any] = []
            if vec is not None:
                sets.append(sql.SQL("embedding = %s"))
                params.append(vec)
            if columns is not None:
                sets.append(sql.SQL("payload = %s::jsonb, user_id = %s, agent_id = %s, run_id = %s, created_at = %s"))
                params += list(columns)
                if self._keywords:
                    sets.append(sql.SQL("keywords = %s::tsvector, keywords_len = %s, keywords_len_all = %s"))
                    params += list(keyword_columns(text))
            if sets:
                stmt = sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING 1").format(t, sql.SQL(", ").join(sets))
            else:
                stmt = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(t)
            cur = await conn.execute(stmt, [*params, id])
            return await cur.fetchone() is not None

        if not await self._run("update", run):
            raise MemoryNotFoundError(id)

    async def delete(self, ids: Sequence[str]) -> None:
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i and "\x00" not in i))
        if not wanted:
            return
        stmt = sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._table)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            if await self._ready(conn):
                await conn.execute(stmt, [wanted])

        await self._run("delete", run)

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        if limit is not None and limit <= 0:
            return []
        async def run(conn: psycopg.AsyncConnection[Any]) -> list[VectorRecord]:
            if not await self._ready(conn):
                return []
            where, params, residual = self._where(scope, filters)
            select = sql.SQL("SELECT id, payload FROM {}{} ORDER BY created_at, id").format(self._table, where)
            rows = await self._select(conn, select, params, limit, residual)
            return [VectorRecord(id=rid, vector=None, payload=payload) for rid, payload in rows]

        return await self._run("list", run)

    async def count(self, *, scope: Scope) -> int:
        where, params, _ = self._where(scope, None)
        select = sql.SQL("SELECT count(*) FROM {}{}").format(self._table, where)

        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            if not await self._ready(conn):
                return 0
            cur = await conn.execute(select, params)
            row = await cur.fetchone()
            return int(row[0]) if row else 0

        return await self._run("count", run)

    async def reset(self) -> None:
        stmt = sql.SQL("TRUNCATE {}").format(self._table)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            if await self._ready(conn):
                await conn.execute(stmt)

        await self._run("reset", run)

    # ================================================================== introspection
    @property
    def dims(self) -> int | None:
        """The collection's vector size, once known."""
        return self._dims


__all__ = ["PgVectorStore"]
