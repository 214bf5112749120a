"""Turn client failures into mem7's errors: one line naming the provider, the server and the fix."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mem7_core.errors import ConfigError, ProviderError

# redis-py's exception classes are bound by load_client() when the first store is built: `import
# redis` loads its OpenTelemetry observability modules, and importing mem7's plugins must load no
# telemetry code (tests/reliability/test_privacy.py) and stay cheap.
if TYPE_CHECKING:
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        BusyLoadingError,
        ConnectionError,
        NoPermissionError,
        ResponseError,
        TimeoutError,
    )


def load_client() -> None:
    """Import redis-py's exception classes (once the plugin is used, not when it is imported)."""
    global AuthenticationError, AuthorizationError, BusyLoadingError, ConnectionError
    global NoPermissionError, ResponseError, TimeoutError
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        BusyLoadingError,
        ConnectionError,
        NoPermissionError,
        ResponseError,
        TimeoutError,
    )

PROVIDER = "falkordb"

_AUTH_MARKERS = ("NOAUTH", "WRONGPASS", "invalid password", "invalid username-password")


def one_line(exc: BaseException) -> str:
    """The server's message (or the exception's) on one line, at most 400 characters."""
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    return text if len(text) <= 400 else text[:397] + "..."


def map_error(exc: BaseException, *, url: str, graph: str) -> Exception:
    """The mem7 error to raise for a client failure (the caller chains the original with ``from``)."""
    text = one_line(exc)
    if isinstance(exc, (AuthenticationError, AuthorizationError, NoPermissionError)) or any(
        marker in text for marker in _AUTH_MARKERS
    ):
        return ConfigError(
            f"[{PROVIDER}] the server at {url} refused the credentials ({text}): set "
            "graph_store.config.username / password (or FALKORDB_USERNAME / FALKORDB_PASSWORD)"
        )
    if isinstance(exc, ResponseError) and "unknown command" in text.lower() and "GRAPH." in text.upper():
        return ConfigError(
            f"[{PROVIDER}] the server at {url} has no FalkorDB module ({text}): point "
            "graph_store.config.url at a FalkorDB server (or load falkordb.so into this Redis)"
        )
    if isinstance(exc, (ConnectionError, TimeoutError, OSError, asyncio.TimeoutError)) and not isinstance(
        exc, BusyLoadingError
    ):
        reason = "timed out" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else text
        return ProviderError(
            PROVIDER,
            f"cannot reach the server at {url}: {reason}. Is it running? Check graph_store.config.url "
            "(or FALKORDB_URL)",
            retryable=True,
        )
    if isinstance(exc, BusyLoadingError):
        return ProviderError(PROVIDER, f"the server at {url} is loading its data: {text}", retryable=True)
    timed_out = "timed out" in text.lower() or "timeout" in text.lower()
    return ProviderError(PROVIDER, f"query on graph {graph!r} at {url} failed: {text}", retryable=timed_out)
