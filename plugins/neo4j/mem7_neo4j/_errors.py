"""Turn driver failures into mem7's errors: one line naming the provider, the server and the fix.

Kept apart from the store so the mapping is testable and the store reads as queries only.
"""

from __future__ import annotations

import asyncio

from neo4j.exceptions import (
    AuthError,
    ClientError,
    ConfigurationError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from mem7_core.errors import ConfigError, ProviderError

PROVIDER = "neo4j"

_CONFLICT_MARKERS = (
    "ConcurrentModification",
    "concurrent modification",
    "NeedRetry",
    "DeadlockDetected",
    "ConstraintValidationFailed",
)
"""Codes and messages of write conflicts that are safe to retry as a new transaction.

Neo4j reports lock conflicts as ``TransientError``. ArcadeDB's optimistic concurrency reports a
lost race as ``DeadlockDetected`` (transient), and two transactions MERGE-creating the same new
entity as ``ConstraintValidationFailed`` on the identity index: the store only ever MERGEs
entities, so that violation is a race too, and the retry finds the entity the winner created.
"""


def is_write_conflict(exc: BaseException) -> bool:
    """True for a transaction that lost a race and can simply run again."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, Neo4jError):
        text = f"{exc.code or ''} {exc.message or ''} {exc}"
        return any(marker in text for marker in _CONFLICT_MARKERS)
    return False


def one_line(exc: BaseException) -> str:
    """The server's message (or the exception's) without the driver's multi-line decoration."""
    if isinstance(exc, Neo4jError) and exc.message:
        text = f"{exc.code}: {exc.message}" if exc.code else exc.message
    else:
        text = str(exc).strip() or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def map_error(exc: BaseException, *, url: str, database: str | None, username: str) -> Exception:
    """The mem7 error to raise for a driver failure (the caller chains the original with ``from``)."""
    where = f"{url} (database {database!r})" if database else url
    if isinstance(exc, AuthError):
        return ConfigError(
            f"[{PROVIDER}] authentication failed for user {username!r} at {url}: "
            "set graph_store.config.username / password (or NEO4J_USERNAME / NEO4J_PASSWORD)"
        )
    if isinstance(exc, ClientError) and exc.code and exc.code.endswith("DatabaseNotFound"):
        return ConfigError(
            f"[{PROVIDER}] database {database!r} does not exist at {url}: create it, or set "
            "graph_store.config.database to an existing one (unset: the server's default)"
        )
    if isinstance(exc, ConfigurationError):
        return ConfigError(f"[{PROVIDER}] bad connection settings for {url}: {one_line(exc)}")
    if isinstance(exc, (ServiceUnavailable, SessionExpired, OSError, asyncio.TimeoutError)):
        reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else one_line(exc)
        return ProviderError(
            PROVIDER,
            f"cannot reach the server at {where}: {reason}. Is it running? "
            "Check graph_store.config.url (or NEO4J_URL)",
            retryable=True,
        )
    if isinstance(exc, (Neo4jError, DriverError)):
        return ProviderError(PROVIDER, f"query failed at {where}: {one_line(exc)}", retryable=is_write_conflict(exc))
    return ProviderError(PROVIDER, f"unexpected failure at {where}: {one_line(exc)}")
