"""The ``upstash-vector`` async client over a transport with timeouts and bounded retries.

The SDK's ``AsyncIndex`` is ``AsyncIndexOperations`` (request bodies, response parsing, namespace
paths) plus ``_execute_request_async`` (one ``httpx`` POST with a 600 s timeout, retrying any
exception after a fixed sleep, and no look at the HTTP status). :class:`UpstashClient` keeps the
SDK's operations and replaces that one method:

- one ``httpx.AsyncClient`` per store, with the configured connect/read timeouts;
- retries (mem7's :class:`~mem7_core.providers.http.RetryPolicy`), bounded, with exponential backoff
  and jitter, only where a retry can help: connection errors, timeouts, 408, 429 (honouring
  ``Retry-After``) and 5xx, never past the operation's time budget; every Upstash operation the store
  uses is idempotent, so a retried request cannot apply twice;
- the ``{"result": ...}`` / ``{"error": ..., "status": n}`` envelope checked, and every failure
  raised as :class:`mem7_core.errors.ProviderError` naming the provider, the operation and the
  remedy (a 401 names the token's config field and environment variable).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from upstash_vector.core.index_operations import AsyncIndexOperations

from mem7_core.errors import ProviderError
from mem7_core.providers.http import (
    MAX_RETRY_AFTER,
    BudgetSpent,
    RetryPolicy,
    attempts_text,
    budget_error,
    retry_after,
    retryable_status,
    status_error,
)

log = logging.getLogger("mem7.upstash")

PROVIDER = "upstash"
_RETRY_STATUSES = frozenset({408, 429})
"""Retried with every 5xx (409 is not: Upstash answers it for a conflicting request, not a race)."""


class _Retryable(Exception):
    """An attempt failed in a way a retry may fix."""

    def __init__(self, message: str, wait: float | None = None, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.wait = wait
        self.timeout = timeout


def _hint(exc: BaseException) -> float | None:
    return exc.wait if isinstance(exc, _Retryable) else None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable) and exc.timeout


class UpstashClient(AsyncIndexOperations):
    """``AsyncIndexOperations`` from ``upstash-vector`` over a bounded, timed, retrying transport.

    :param url: the index's REST URL (``UPSTASH_VECTOR_REST_URL``).
    :param token: its REST token.
    :param timeout: seconds for one HTTP request (read/write/pool).
    :param connect_timeout: seconds to establish a connection.
    :param max_retries: retries after the first attempt.
    :param retry_backoff: first backoff in seconds (doubles per retry, with jitter).
    :param retry_max_backoff: cap of one backoff.
    :param token_hint: where the token came from, for the 401 message.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float,
        connect_timeout: float,
        max_retries: int,
        retry_backoff: float,
        retry_max_backoff: float,
        token_hint: str = "vector_store.config.token or UPSTASH_VECTOR_REST_TOKEN",
        max_connections: int = 16,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.retry_max_backoff = retry_max_backoff
        self.token_hint = token_hint
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self._retry = RetryPolicy(max_retries=max_retries, backoff=retry_backoff, max_backoff=retry_max_backoff,
                                  max_retry_after=MAX_RETRY_AFTER, name=PROVIDER,
                                  sleep=lambda seconds: self.sleep(seconds))
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # an httpx pool is bound to its loop

    # ------------------------------------------------------------------ lifecycle
    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._loop is not loop:
            # A plain-http URL (a local emulator or proxy) never does TLS: skip loading the CA bundle,
            # which costs tens of milliseconds per client. https URLs verify as usual.
            plain = self.url.startswith("http://")
            self._http = httpx.AsyncClient(timeout=self._timeout, limits=self._limits, verify=not plain)
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None and self._loop is asyncio.get_running_loop():
            await http.aclose()

    # ------------------------------------------------------------------ transport
    async def _execute_request_async(self, payload: Any = "", path: str = "") -> Any:
        """One SDK operation: POST ``payload`` to ``path``, return the envelope's ``result``."""
        op = path.lstrip("/").split("/", 1)[0].split("?", 1)[0] or "request"

        def describe(exc: BaseException, attempts: int) -> BaseException:
            if isinstance(exc, BudgetSpent):
                return budget_error(exc, provider=PROVIDER, who=op, url=self.url, attempts=attempts)
            tries = attempts_text(attempts).removeprefix(" after ")
            return ProviderError(PROVIDER, f"{op}: {exc} (gave up after {tries})", retryable=True)

        return await self._retry.run(lambda: self._attempt(op, path, payload), retryable=_retryable,
                                     describe=describe, hint=_hint, is_timeout=_is_timeout)

    async def _attempt(self, op: str, path: str, payload: Any) -> Any:
        target = f"{self.url}{path}"
        try:
            response = await self._client().post(target, headers=self._headers, json=payload)
        except httpx.TimeoutException as exc:
            what = f"timeout {self.timeout:g}s; {type(exc).__name__}"
            raise _Retryable(f"request to {self.url} timed out ({what})", timeout=True) from None
        except httpx.TransportError as exc:
            raise _Retryable(f"{self.url} is unreachable ({type(exc).__name__}: {exc})") from None
        status = response.status_code
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        message = ""
        if isinstance(body, dict) and body.get("error") is not None:
            message = str(body["error"])
        elif body is None:
            message = response.text[:200]
        if retryable_status(status, statuses=_RETRY_STATUSES):
            what = "rate limited (429)" if status == 429 else f"server error {status}"
            raise _Retryable(f"{what} from {self.url}: {message}", retry_after(response.headers))
        if status != 200 or (isinstance(body, dict) and body.get("error") is not None):
            raise status_error(status, message, provider=PROVIDER, who=op,
                               url=f"{self.url}{path}" if status == 404 else self.url,
                               credential="REST token", key_hint=self.token_hint,
                               forbidden_hint="the token may be read-only",
                               not_found_hint="check the index URL (UPSTASH_VECTOR_REST_URL)")
        if not isinstance(body, dict) or "result" not in body:
            snippet = response.text[:200] if body is None else json.dumps(body)[:200]
            raise ProviderError(PROVIDER, f"{op}: malformed response from {self.url}: {snippet!r}")
        return body["result"]


__all__ = ["PROVIDER", "UpstashClient"]
