"""Driver failures as mem7's errors (one line naming ``memgraph``, the server and the fix), and
which failures are a lost race that a new transaction may simply retry."""

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

PROVIDER = "memgraph"

_CONFLICT_MARKERS = (
    "conflicting transactions",  # Memgraph: "Cannot resolve conflicting transactions. You can retry ..."
    "Unable to commit due to unique constraint violation",  # Memgraph: two MERGEs created one entity
    "DeadlockDetected",  # ArcadeDB's optimistic concurrency
    "ConcurrentModification",
    "ConstraintValidationFailed",
)
"""Messages and codes of a transaction that lost a race. The store only MERGEs entities, so a
uniqueness violation on the identity is a race too: the retry finds the winner's node."""


def is_write_conflict(exc: BaseException) -> bool:
    """True for a transaction that lost a race and can run again (Memgraph sends its conflicts
    as ``Memgraph.TransientError...``, which the driver raises as :class:`TransientError`)."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, Neo4jError):
        text = f"{exc.code or ''} {exc.message or ''} {exc}"
        return any(marker in text for marker in _CONFLICT_MARKERS)
    return False


def one_line(exc: BaseException) -> str:
    """The server's message (or the exception's) on one line, at most 400 characters."""
    if isinstance(exc, Neo4jError) and exc.message:
        text = f"{exc.code}: {exc.message}" if exc.code else exc.message
    else:
        text = str(exc).strip() or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def map_error(exc: BaseException, *, url: str, username: str | None) -> Exception:
    """The mem7 error for a driver failure (the caller chains the original with ``from``)."""
    if isinstance(exc, AuthError) or (isinstance(exc, ClientError) and "Security" in (exc.code or "")):
        return ConfigError(
            f"[{PROVIDER}] authentication failed for user {username!r} at {url}: "
            "set graph_store.config.username / password (or MEMGRAPH_USERNAME / MEMGRAPH_PASSWORD)"
        )
    if isinstance(exc, ConfigurationError):
        return ConfigError(f"[{PROVIDER}] bad connection settings for {url}: {one_line(exc)}")
    if isinstance(exc, (ServiceUnavailable, SessionExpired, OSError, asyncio.TimeoutError)):
        reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else one_line(exc)
        return ProviderError(
            PROVIDER,
            f"cannot reach the server at {url}: {reason}. Is it running? "
            "Check graph_store.config.url (or MEMGRAPH_URL)",
            retryable=True,
        )
    if isinstance(exc, (Neo4jError, DriverError)):
        return ProviderError(PROVIDER, f"query failed at {url}: {one_line(exc)}", retryable=is_write_conflict(exc))
    return ProviderError(PROVIDER, f"unexpected failure at {url}: {one_line(exc)}")
