"""Which Qdrant client failures are worth a retry, and how to describe them in one line."""

from __future__ import annotations

import enum

import httpx

try:  # grpcio is a dependency of qdrant-client; guard anyway so REST-only setups never break
    import grpc
except ImportError:  # pragma: no cover
    grpc = None  # type: ignore[assignment]

from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from mem7_core.providers.http import parse_retry_after, retryable_status

_RETRY_STATUS = frozenset({408, 429, 502, 503, 504})
"""Not every 5xx: Qdrant answers 500 for a request it cannot serve (a bad payload, a broken
collection), which a retry does not fix."""


class Kind(enum.Enum):
    RETRY = "retry"  # transient: connection refused/reset, timeout, 429, 502/503/504
    MISSING = "missing"  # 404 / NOT_FOUND / local KeyError: the point or collection is not there
    CONFLICT = "conflict"  # 409 / ALREADY_EXISTS: e.g. the collection was created meanwhile
    FATAL = "fatal"  # anything else: a bad request, a broken response, a local-mode error


def _grpc_kind(exc: BaseException) -> Kind | None:
    if grpc is None or not isinstance(exc, grpc.RpcError) or not hasattr(exc, "code"):
        return None
    code = exc.code()
    if code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    ):
        return Kind.RETRY
    if code == grpc.StatusCode.NOT_FOUND:
        return Kind.MISSING
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return Kind.CONFLICT
    return Kind.FATAL


def classify(exc: BaseException) -> Kind:
    if isinstance(exc, UnexpectedResponse):
        status = exc.status_code or 0
        if retryable_status(status, statuses=_RETRY_STATUS, server_errors=False):
            return Kind.RETRY
        if status == 404:
            return Kind.MISSING
        if status == 409:
            return Kind.CONFLICT
        return Kind.FATAL
    if isinstance(exc, ResourceExhaustedResponse):
        return Kind.RETRY
    if isinstance(exc, ResponseHandlingException):
        source = getattr(exc, "source", None)
        return Kind.RETRY if isinstance(source, (httpx.TransportError, TimeoutError, OSError)) else Kind.FATAL
    if isinstance(exc, (httpx.TransportError, TimeoutError, ConnectionError)):
        return Kind.RETRY
    grpc_kind = _grpc_kind(exc)
    if grpc_kind is not None:
        return grpc_kind
    if isinstance(exc, KeyError):  # local mode: update of a point it does not hold
        return Kind.MISSING
    return Kind.FATAL


def retry_after(exc: BaseException) -> float | None:
    """The server's Retry-After, when it gave one (429; delta-seconds or HTTP-date)."""
    if isinstance(exc, ResourceExhaustedResponse):
        return parse_retry_after(exc.retry_after_s)
    if isinstance(exc, UnexpectedResponse) and exc.status_code == 429:
        return parse_retry_after(exc.headers.get("retry-after") if exc.headers is not None else None)
    return None


def describe(exc: BaseException) -> str:
    """One line naming the failure, without response bodies longer than a sentence."""
    if isinstance(exc, UnexpectedResponse):
        body = exc.content[:300].decode("utf-8", "replace").strip() if exc.content else ""
        return f"HTTP {exc.status_code} {exc.reason_phrase}: {body}".strip().rstrip(":")
    if isinstance(exc, ResponseHandlingException):
        source = getattr(exc, "source", None)
        if source is not None:
            return describe(source)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if grpc is not None and isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        details = exc.details() if hasattr(exc, "details") else ""
        return f"gRPC {exc.code().name}: {details}"
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not text.startswith(type(exc).__name__) else text
