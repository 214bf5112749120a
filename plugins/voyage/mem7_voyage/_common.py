"""What the Voyage reranker and embedder share: config fields, key and endpoint resolution, the
client, its connection pool, retries and errors.

One ``voyageai.AsyncClient`` per provider instance, with the client's own retries off
(``max_retries=0``): mem7's :class:`~mem7_core.providers.http.RetryPolicy` retries, bounded and
budget-aware, on 408/409/429/5xx and transport errors, honouring ``Retry-After``. The client opens
an ``aiohttp`` session per request unless its ``voyageai.aiosession`` context variable names one:
the provider keeps one session (opened on the first call, closed by ``aclose``) and sets it around
each call, so calls reuse keep-alive connections. Every failure is a
:class:`~mem7_core.errors.ProviderError` naming ``voyage``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import aiohttp
from pydantic import Field, SecretStr

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers.http import (
    BudgetSpent,
    HttpRetryConfig,
    body_snippet,
    budget_error,
    retry_after,
    retryable_status,
    status_error,
    timeout_error,
    unreachable_error,
)

PROVIDER = "voyage"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_BASE_URL = "https://api.voyageai.com/v1"
KEY_ENV_VAR = "VOYAGE_API_KEY"

T = TypeVar("T")


class VoyageConnection(HttpRetryConfig):
    """Fields the reranker and the embedder share (``timeout``, ``deadline`` and the retry fields
    come from :class:`~mem7_core.providers.http.HttpRetryConfig`)."""

    api_key: SecretStr | None = Field(None, description="API key; default VOYAGE_API_KEY.")
    base_url: str | None = Field(
        None,
        description="API root, /v1 included (the client appends /rerank, /embeddings); default "
        "https://api.voyageai.com/v1 (https://ai.mongodb.com/v1 for a MongoDB Atlas key, al-...).",
    )
    truncation: bool = Field(
        True, description="Let the service truncate texts over the model's context (false: it rejects them).")


def resolve_key(config: VoyageConnection, kind: str) -> str:
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    key = key or os.environ.get(KEY_ENV_VAR) or None
    if not key:
        raise ConfigError(f"voyage {kind}: no api_key. Set VOYAGE_API_KEY or {kind}.config.api_key")
    return key


def resolve_base_url(config: VoyageConnection, key: str) -> str:
    if config.base_url:
        return config.base_url.rstrip("/")
    from voyageai.util import get_default_base_url

    return str(get_default_base_url(key)).rstrip("/")


# ------------------------------------------------------------------------------------ errors
def _status(exc: BaseException) -> int | None:
    """The HTTP status of a ``voyageai.error.VoyageError``, None for anything else."""
    status = getattr(exc, "http_status", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def is_retryable(exc: BaseException) -> bool:
    """Transport errors (connect, dropped connection, timeout) and 408/409/429/5xx answers."""
    from voyageai import error

    if isinstance(exc, (error.Timeout, error.APIConnectionError, aiohttp.ClientError, TimeoutError)):
        return True
    status = _status(exc)
    return status is not None and retryable_status(status)


def is_timeout(exc: BaseException) -> bool:
    from voyageai import error

    return isinstance(exc, (error.Timeout, TimeoutError))


def _hint(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None)
    return retry_after(headers) if headers else None


def _server_message(exc: BaseException) -> str:
    """The service's ``detail`` when the error body had one, else the raw body, else the message."""
    body = getattr(exc, "json_body", None)
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return body_snippet(getattr(exc, "http_body", None)) or str(getattr(exc, "user_message", None) or exc)


# ---------------------------------------------------------------------------------- provider
class VoyageProvider:
    """Client, session, retries and errors of a Voyage provider (a mixin listed before the base class)."""

    kind: ClassVar[Any]
    config: Any
    model: str
    base_url: str

    def _connect(self, config: VoyageConnection) -> None:
        key = resolve_key(config, self.kind)
        self.base_url = resolve_base_url(config, key)
        # here, not at module level: discovering the plugin stays cheap (voyageai takes ~0.5 s to import)
        from voyageai.client_async import AsyncClient

        self._client = AsyncClient(api_key=key, max_retries=0, timeout=config.timeout,
                                            base_url=self.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry = config.retry_policy(PROVIDER)
        self._closed = False

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self.kind}: {method}() called after aclose()")

    def _pool(self) -> aiohttp.ClientSession:
        """The provider's session, opened in the running loop (a session is bound to its loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession()
            self._loop = loop
        return self._session

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        import voyageai

        async def attempt() -> T:
            token = voyageai.aiosession.set(self._pool())  # the client's requests use our session
            try:
                return await call()
            finally:
                voyageai.aiosession.reset(token)

        return await self._retry.run(attempt, retryable=is_retryable, describe=self._describe, hint=_hint,
                                     is_timeout=is_timeout)

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"{self.kind}: malformed response from {self.base_url}: {detail}")

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        from voyageai import error

        if isinstance(exc, ProviderError):
            return exc
        who, url = str(self.kind), self.base_url
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field=f"{who}.config.deadline")
        if is_timeout(exc):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, (error.APIConnectionError, aiohttp.ClientError)):
            cause = exc.__cause__ or exc
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts,
                                     detail=f" ({type(cause).__name__}: {cause})")
        status = _status(exc)
        if status is not None:
            if 200 <= status < 300:
                return self._malformed(f"{type(exc).__name__}: {body_snippet(getattr(exc, 'http_body', None))}")
            return status_error(status, _server_message(exc), provider=PROVIDER, who=who, url=url,
                                attempts=attempts, key_hint=f"VOYAGE_API_KEY or {who}.config.api_key",
                                not_found_hint=f"check {who}.config.model ({self.model!r}) and base_url")
        if isinstance(exc, (ValueError, TypeError, KeyError, IndexError, AttributeError)):
            # the client read an answer without the documented fields
            return self._malformed(f"{type(exc).__name__}: {exc}")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()
