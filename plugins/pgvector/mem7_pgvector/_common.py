"""What both PostgreSQL providers share: connection config, the pool, retries, error mapping, JSON.

Connections come from one :class:`psycopg_pool.AsyncConnectionPool` per provider instance, opened
lazily on first use (in the caller's event loop). Before the pool opens, a direct connection runs
the provider's *bootstrap* (extension, schema, table, indexes) under a transaction-scoped advisory
lock, so several instances starting at once against one database do not race on DDL; its error is
also the clearest one when the server is unreachable or the credentials are wrong.

Every operation goes through :meth:`PgBase._run`: bounded retries with exponential backoff on
transient errors (connection refused or lost, server shutting down or starting, too many
connections, serialization failure, deadlock, lock timeout), then
:class:`~mem7_core.errors.ProviderError` naming the provider. Waiting for a pooled connection is
bounded by ``pool_timeout`` and not retried (a pool that is only backing off after an outage is
replaced instead).
Everything the provider does is idempotent (upserts, deletes by id, truncation), so a retry after
a connection dropped around a commit is harmless; a duplicate key or any other data error is not
retried. Statement timeouts are not retried either (they would only multiply the wait).

Values always travel as bind parameters. Identifiers (schema, table) are validated against
:data:`IDENTIFIER` at config time and quoted with :class:`psycopg.sql.Identifier`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ClassVar, Literal, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout
from pydantic import AliasChoices, ConfigDict, Field, SecretStr, field_validator, model_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.providers import ProviderConfig

log = logging.getLogger("mem7.pgvector")

T = TypeVar("T")

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")
"""Table and schema names: a letter or underscore, then letters, digits, underscores; at most 48
characters, so derived index names (``<table>_hnsw_idx``...) stay within PostgreSQL's 63."""

_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class PgConnectionConfig(ProviderConfig):
    """Connection, pool, timeout and retry settings (both providers)."""

    # Validation errors never echo the input: a dsn or password must not end up in a log line.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    dsn: SecretStr | None = Field(None, validation_alias=AliasChoices("dsn", "connection_string", "url"))
    """A libpq connection string or URI (``postgresql://user:pw@host:5432/db``). The keyword fields
    below, when set, override its parts. Neither: libpq's defaults and ``PG*`` environment variables."""
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    dbname: str | None = Field(None, validation_alias=AliasChoices("dbname", "database"))
    sslmode: str | None = None
    db_schema: str | None = Field(None, validation_alias=AliasChoices("db_schema", "schema_name"))
    """Schema holding the table (created if missing); ``None``: the connection's ``search_path``."""

    connect_timeout: int = Field(10, ge=1, le=3600)
    """Seconds libpq waits for a connection to be established."""
    statement_timeout_ms: int = Field(
        30_000, ge=0, validation_alias=AliasChoices("statement_timeout_ms", "statement_timeout")
    )
    """Server-side limit for each statement, in milliseconds (``0``: none). DDL at bootstrap is exempt."""
    pool_min_size: int = Field(1, ge=0, le=1000, validation_alias=AliasChoices("pool_min_size", "minconn"))
    pool_max_size: int = Field(10, ge=1, le=1000, validation_alias=AliasChoices("pool_max_size", "maxconn"))
    pool_timeout: float = Field(30.0, gt=0, le=3600)
    """Seconds to wait for a free pooled connection before the attempt fails (and is retried)."""
    max_retries: int = Field(3, ge=0, le=20)
    """Extra attempts after a transient error (so at most ``max_retries + 1`` tries)."""
    retry_backoff: float = Field(0.1, ge=0, le=60)
    """First retry delay in seconds; doubles each retry (with jitter), capped at 5 s."""
    application_name: str = "mem7"

    @field_validator("sslmode")
    @classmethod
    def _sslmode(cls, v: str | None) -> str | None:
        if v is not None and v not in _SSLMODES:
            raise ValueError(f"sslmode must be one of {', '.join(_SSLMODES)}")
        return v

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, v: str | None) -> str | None:
        if v is not None and not IDENTIFIER.match(v):
            raise ValueError(
                "db_schema must match [A-Za-z_][A-Za-z0-9_]* (at most 48 characters); "
                f"got {v!r}"
            )
        return v

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        text = v.get_secret_value()
        if not text.strip():
            raise ValueError("dsn is empty; omit it to use host/port/user/password/dbname or libpq defaults")
        try:
            conninfo_to_dict(text)
        except psycopg.ProgrammingError as exc:
            # libpq's message may quote the string; never echo a password.
            raise ValueError(f"dsn is not a valid libpq connection string or URI ({_redact(str(exc), text)})") from None
        return v

    @model_validator(mode="after")
    def _pool_sizes(self) -> PgConnectionConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError(
                f"pool_min_size ({self.pool_min_size}) must not exceed pool_max_size ({self.pool_max_size})"
            )
        return self

    def conninfo(self) -> str:
        """The libpq connection string: ``dsn`` with the keyword fields applied over it."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": None if self.password is None else self.password.get_secret_value(),
            "dbname": self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout,
            "application_name": self.application_name,
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return make_conninfo(self.dsn.get_secret_value() if self.dsn is not None else "", **kwargs)

    def where(self) -> str:
        """``host:port/dbname`` for messages (never the password)."""
        try:
            parts = conninfo_to_dict(self.conninfo())
        except psycopg.ProgrammingError:  # pragma: no cover - validated above
            return "?"
        host = parts.get("host") or parts.get("hostaddr") or "(libpq default host)"
        port = parts.get("port") or "5432"
        db = parts.get("dbname") or parts.get("user") or "(default database)"
        return f"{host}:{port}/{db}"


def _redact(message: str, secret_source: str) -> str:
    try:
        password = conninfo_to_dict(secret_source).get("password")
    except Exception:  # noqa: BLE001 - unparsable: hide anything after "password"
        return re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", message)
    if password:
        message = message.replace(str(password), "***")
    return message


# ----------------------------------------------------------------------------- JSON
def render_float(f: float) -> str:
    """A float as JSON/numeric text that reads back as the same float, and as a float.

    ``repr`` is exact for comparisons (see the filter module), except that large values use an
    exponent (``1e+16``), which PostgreSQL's numeric prints back without a decimal point, so the
    value would come back as an int. Those are integers exactly; they are written as ``<int>.0``.
    """
    if not math.isfinite(f):
        raise ValueError(f"payload numbers must be finite, got {f!r} (PostgreSQL JSON has no NaN or infinity)")
    text = repr(f)
    if "e" in text and abs(f) >= 1.0:
        return f"{int(f)}.0"
    return text


def numeric(value: float) -> Decimal:
    """A filter bound as a Decimal equal to the numeric PostgreSQL holds for the same JSON number."""
    if isinstance(value, float):
        return Decimal(render_float(value))
    return Decimal(value)


def _check_text(s: str, what: str) -> None:
    if "\x00" in s:
        raise ValueError(f"{what} contains a NUL character (\\x00), which PostgreSQL text and JSONB cannot hold")


def dumps(obj: Any) -> str:
    """JSON text for a payload: ``json.dumps`` semantics, but floats per :func:`render_float`,
    string keys only, and NUL characters rejected (PostgreSQL cannot store them)."""
    out: list[str] = []
    _dump_into(obj, out)
    return "".join(out)


_encode_str = __import__("json").encoder.encode_basestring  # C-accelerated when available


def _dump_into(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        _check_text(obj, "a payload string")
        out.append(_encode_str(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(render_float(obj))
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"payload keys must be strings, got {type(k).__name__} {k!r}")
            _check_text(k, "a payload key")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(k))
            out.append(":")
            _dump_into(v, out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _dump_into(v, out)
        out.append("]")
    else:
        raise TypeError(
            f"payload values must be JSON types (str, int, float, bool, None, list, dict); got {type(obj).__name__}"
        )


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"ids must be non-empty strings, got {value!r}")
    _check_text(value, "an id")
    return value


# ----------------------------------------------------------------------------- errors
_TRANSIENT_SQLSTATE_CLASSES = ("08",)  # connection exceptions
_TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up / recovery)
    "53300",  # too_many_connections
    "55P03",  # lock_not_available (lock_timeout)
}


# libpq reports a refused login without a SQLSTATE: recognise the permanent ones by their text.
_LOGIN_REFUSED = (
    ("database", "does not exist", "the database does not exist: check dbname"),
    ("role", "does not exist", "the role does not exist: check user"),
    ("password authentication failed", "", "authentication failed: check user / password"),
    ("no password supplied", "", "the server wants a password: set password"),
    ("no pg_hba.conf entry", "", "the server's pg_hba.conf refuses this host / user / database"),
    ("permission denied for database", "", "permission denied: check user and dbname"),
)


def login_refused(exc: BaseException) -> str | None:
    """A hint when ``exc`` is a connection the server refused for good (wrong db, user, password)."""
    if not isinstance(exc, psycopg.OperationalError):
        return None
    text = str(exc)
    for first, second, hint in _LOGIN_REFUSED:
        if first in text and second in text:
            return hint
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt can help: the connection, the server's state, or a lock race."""
    if isinstance(exc, PoolTimeout):  # the pool already waited pool_timeout: that is the bound
        return False
    if isinstance(exc, pgerrors.QueryCanceled):  # statement_timeout: retrying only waits longer
        return False
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # No server answer at all: connection refused / dropped / reset.
            if login_refused(exc) is not None:
                return False
            return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        return state in _TRANSIENT_SQLSTATES or state[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return isinstance(exc, (ConnectionError, TimeoutError))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: BaseException, *, where: str, what: str, attempts: int, cfg: PgConnectionConfig) -> tuple[str, bool]:
    """A one-line message for ``exc`` and whether the failure may go away on its own."""
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts > 1 else ""
    detail = _redact(_first_line(exc), cfg.conninfo())
    if isinstance(exc, PoolTimeout):
        return (
            f"{what}: no free pooled connection within pool_timeout={cfg.pool_timeout:g}s{tries}, though "
            f"{where} accepts connections: all pool_max_size={cfg.pool_max_size} are busy (or new ones fail "
            "their setup: see the psycopg.pool log)",
            True,
        )
    if isinstance(exc, pgerrors.QueryCanceled):
        return (
            f"{what}: statement cancelled at {where} (statement_timeout_ms={cfg.statement_timeout_ms}): {detail}",
            True,
        )
    if isinstance(exc, (pgerrors.InvalidPassword, pgerrors.InvalidAuthorizationSpecification)):
        return f"{what}: authentication failed at {where}: check user / password ({detail})", False
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return f"{what}: permission denied at {where}: {detail}", False
    refused = login_refused(exc)
    if refused is not None:
        return f"{what}: connection to {where} refused: {refused} ({detail})", False
    if isinstance(exc, pgerrors.InvalidCatalogName):
        return f"{what}: database does not exist at {where}: check dbname ({detail})", False
    if is_transient(exc):
        return f"{what}: cannot reach PostgreSQL at {where}{tries}: {detail}", True
    return f"{what}: {type(exc).__name__} at {where}: {detail}", False


# ----------------------------------------------------------------------------- base
class PgBase:
    """Pool lifecycle, bootstrap and retries; mixed into both providers."""

    provider_label: ClassVar[str] = "pgvector"
    config: Any

    def _init_pg(self) -> None:
        self._pool: AsyncConnectionPool | None = None
        self._ready_lock: asyncio.Lock | None = None
        self._ready_loop: asyncio.AbstractEventLoop | None = None
        self._in_use = 0

    # -- hooks -----------------------------------------------------------------------
    async def _bootstrap(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Create what is missing (runs once per pool, on a direct autocommit connection)."""

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Per-connection setup of pooled connections (types, session settings)."""
        await self._set_session(conn, {})

    async def _set_session(self, conn: psycopg.AsyncConnection[Any], extra: dict[str, str]) -> None:
        settings = {"statement_timeout": str(self.config.statement_timeout_ms), **extra}
        names = list(settings)
        query = sql.SQL("SELECT {}").format(
            sql.SQL(", ").join(sql.SQL("set_config(%s, %s, false)") for _ in names)
        )
        params: list[str] = []
        for name in names:
            params += [name, settings[name]]
        await conn.execute(query, params)

    # -- plumbing --------------------------------------------------------------------
    def _error(self, message: str, *, retryable: bool = False) -> ProviderError:
        return ProviderError(self.provider_label, message, retryable=retryable)

    async def _connect_direct(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.config.conninfo(), autocommit=True)

    async def _get_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._ready_loop is loop:
            return self._pool
        if self._ready_lock is None or self._ready_loop is not loop:
            if self._pool is not None:  # used from another loop: that pool cannot serve this one
                old, self._pool = self._pool, None
                try:
                    await old.close(timeout=0)
                except Exception:  # noqa: BLE001 - best effort
                    pass
            self._ready_lock = asyncio.Lock()
            self._ready_loop = loop
        async with self._ready_lock:
            if self._pool is not None:
                return self._pool
            conn = await self._connect_direct()
            try:
                await self._bootstrap(conn)
            finally:
                await conn.close()
            cfg = self.config
            pool = AsyncConnectionPool(
                cfg.conninfo(),
                min_size=cfg.pool_min_size,
                max_size=cfg.pool_max_size,
                timeout=cfg.pool_timeout,
                kwargs={"autocommit": True},
                configure=self._configure,
                name=f"mem7-{self.provider_label}",
                open=False,
            )
            await pool.open(wait=False)
            self._pool = pool
            return pool

    async def _run(self, what: str, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection with bounded retries; map failures to ProviderError."""
        cfg = self.config
        attempt = 0
        while True:
            attempt += 1
            pool: AsyncConnectionPool | None = None
            try:
                pool = await self._get_pool()
                async with pool.connection() as conn:
                    self._in_use += 1
                    try:
                        return await fn(conn)
                    finally:
                        self._in_use -= 1
            except (MemoryNotFoundError, ConfigError, ValueError, TypeError):
                raise
            except PoolClosed:
                # aclose() or a pool replacement ran concurrently: start over with a fresh pool.
                if self._pool is pool:
                    self._pool = None
                if attempt <= cfg.max_retries:
                    continue
                raise self._error(f"{what}: the connection pool was closed") from None
            except PoolTimeout as exc:
                # The pool has waited pool_timeout already (it keeps reconnecting in the background,
                # with its own growing backoff). A direct connection tells a server that is down
                # from a pool that is busy, or one still backing off after the server came back:
                # that one is replaced, so recovery does not wait for its next attempt.
                cause = await self._probe()
                if cause is None and self._in_use < cfg.pool_max_size and attempt <= cfg.max_retries:
                    log.warning("%s: %s: the server is reachable but the pool has no connection; "
                                "replacing the pool", self.provider_label, what)
                    await self._replace_pool(pool)
                    continue
                if cause is None:
                    message, retryable = describe(exc, where=cfg.where(), what=what, attempts=attempt, cfg=cfg)
                else:
                    context = (
                        f"{what}: no pooled connection within pool_timeout={cfg.pool_timeout:g}s, and a new one fails"
                    )
                    message, retryable = describe(cause, where=cfg.where(), what=context, attempts=1, cfg=cfg)
                raise self._error(message, retryable=retryable) from exc
            except (psycopg.Error, OSError) as exc:
                transient = is_transient(exc)
                if transient and attempt <= cfg.max_retries:
                    delay = min(cfg.retry_backoff * (2 ** (attempt - 1)), 5.0)
                    delay *= 0.5 + random.random()  # jitter: instances do not retry in lockstep
                    log.warning("%s: %s: %s (retry %d/%d in %.2fs)", self.provider_label, what,
                                _first_line(exc), attempt, cfg.max_retries, delay)
                    await asyncio.sleep(delay)
                    continue
                message, retryable = describe(exc, where=cfg.where(), what=what, attempts=attempt, cfg=cfg)
                raise self._error(message, retryable=retryable) from exc

    async def _probe(self) -> BaseException | None:
        """Try one direct connection: ``None`` when the server accepts it, else the error."""
        try:
            conn = await asyncio.wait_for(self._connect_direct(), self.config.connect_timeout + 1)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return exc
        await conn.close()
        return None

    async def _replace_pool(self, pool: AsyncConnectionPool | None) -> None:
        if pool is not None and self._pool is pool:
            self._pool = None
            try:
                await pool.close(timeout=0)
            except Exception as exc:  # noqa: BLE001 - the old pool is gone either way
                log.debug("closing a replaced pool: %s", exc)

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout=5.0)

    async def aclose(self) -> None:
        """Close the pool. Idempotent; a later call opens a new one."""
        await self._close_pool()


def quoted_table(schema: str | None, table: str) -> sql.Composable:
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def qualified_name(schema: str | None, table: str) -> str:
    """The name as ``to_regclass`` reads it (quoted, so case is kept)."""
    def quote(s: str) -> str:  # identifiers are regex-checked
        return '"' + s.replace('"', '""') + '"'

    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


async def ensure_schema(conn: psycopg.AsyncConnection[Any], schema: str | None) -> None:
    """Create ``schema`` when missing (checked first: CREATE SCHEMA needs the privilege even then)."""
    if not schema:
        return
    cur = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
    if await cur.fetchone() is None:
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


async def existing_indexes(conn: psycopg.AsyncConnection[Any], regname: str) -> set[str]:
    """Names of the indexes on the table ``regname`` (as ``to_regclass`` reads it)."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(%s)",
        [regname],
    )
    return {r[0] for r in await cur.fetchall()}


IterativeScan = Literal["off", "strict_order", "relaxed_order"]
