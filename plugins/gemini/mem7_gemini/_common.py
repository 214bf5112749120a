"""What the Gemini LLM and embedder share: config fields, key and endpoint resolution, the client,
retries and errors.

One ``google.genai.Client`` per provider instance, its base URL, API version, timeout and headers
set through the SDK's documented ``http_options`` (``types.HttpOptions``); its own retries are off
(``retry_options`` with one attempt: without it, the aiohttp transport silently retries a dropped
connection after a 1-10 s sleep): mem7's
:class:`~mem7_core.providers.http.RetryPolicy` retries, bounded and budget-aware, on
408/409/429/5xx and transport errors, honouring ``Retry-After``. Every failure is a
:class:`~mem7_core.errors.ProviderError` naming ``gemini``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers import ProviderConfig
from mem7_core.providers.http import (
    BudgetSpent,
    RetryPolicy,
    budget_error,
    retry_after,
    retryable_status,
    status_error,
    timeout_error,
    unreachable_error,
)

PROVIDER = "gemini"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENV_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
"""Where the api key is read from when the config has none, in this order."""
BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"

T = TypeVar("T")


class GeminiConnection(ProviderConfig):
    """Fields the LLM and the embedder share."""

    api_key: SecretStr | None = Field(None, description="API key; default GEMINI_API_KEY, then GOOGLE_API_KEY.")
    base_url: str | None = Field(
        None,
        description="API root (the client appends /<api_version>/models/...); default GOOGLE_GEMINI_BASE_URL, "
        "then https://generativelanguage.googleapis.com.",
    )
    api_version: str | None = Field(None, description="API version path segment (v1, v1beta); default: the SDK's.")
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    deadline: float | None = Field(
        30.0, gt=0,
        description="Time budget in seconds of one call, retries included. None: only timeout x (1 + max_retries).",
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 408/409/429/5xx, connection errors, timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
    default_headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers on every call.")


def resolve_key(config: GeminiConnection, kind: str) -> str:
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    for var in KEY_ENV_VARS:
        if key:
            break
        key = os.environ.get(var) or None
    if not key:
        raise ConfigError(f"gemini {kind}: no api_key. Set GEMINI_API_KEY (or GOOGLE_API_KEY) or {kind}.config.api_key")
    return key


def resolve_base_url(config: GeminiConnection) -> str:
    return (config.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


# ------------------------------------------------------------------------------------ errors
@cache
def _transport_errors() -> tuple[type[BaseException], ...]:
    """The transport exceptions of the HTTP libraries the SDK may use (aiohttp when installed,
    else httpx2; httpx for older SDKs), plus the builtin timeout and OS errors."""
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for module, name in (("aiohttp", "ClientError"), ("httpx2", "TransportError"), ("httpx", "TransportError")):
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


@cache
def _timeout_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [TimeoutError]
    for module, name in (("aiohttp", "ServerTimeoutError"), ("httpx2", "TimeoutException"),
                         ("httpx", "TimeoutException")):
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def is_retryable(exc: BaseException) -> bool:
    from google.genai import errors as genai_errors  # loaded: the client was built

    if isinstance(exc, genai_errors.APIError):
        return isinstance(exc.code, int) and retryable_status(exc.code)
    return isinstance(exc, _transport_errors())


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, _timeout_errors())


def _hint(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return None if headers is None else retry_after(headers)


def _server_message(exc: Any) -> str:
    status = f"{exc.status}: " if exc.status else ""
    return f"{status}{exc.message or ''}".strip() or str(exc)


# ---------------------------------------------------------------------------------- provider
class GeminiProvider:
    """Client, retries and errors of a Gemini provider (a mixin listed before ``LLM`` / ``Embedder``)."""

    kind: ClassVar[Any]
    config: Any
    model: str
    base_url: str

    def _connect(self, config: GeminiConnection) -> None:
        key = resolve_key(config, self.kind)
        # here, not at module level: discovering the plugin stays cheap (google-genai takes ~0.6 s to import)
        from google import genai
        from google.genai import types

        self.base_url = resolve_base_url(config)
        options = types.HttpOptions(
            base_url=self.base_url,
            timeout=int(config.timeout * 1000),  # milliseconds
            headers=dict(config.default_headers) or None,
            api_version=config.api_version,
            # One attempt per call of ours. Without retry_options the SDK's aiohttp transport retries a
            # refused or dropped connection itself, after sleeping 1-10 s, outside our budget.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=key, http_options=options)
        self._retry = RetryPolicy(max_retries=config.max_retries, backoff=config.retry_backoff,
                                  max_backoff=config.retry_max_backoff, deadline=config.deadline, name=PROVIDER)
        self._closed = False

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self.kind}: {method}() called after aclose()")

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self._retry.run(call, retryable=is_retryable, describe=self._describe, hint=_hint,
                                     is_timeout=is_timeout)

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"{self.kind}: malformed response from {self.base_url}: {detail}",
                             retryable=True)

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        from google.genai import errors as genai_errors

        if isinstance(exc, ProviderError):
            return exc
        who, url = str(self.kind), self.base_url
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field=f"{who}.config.deadline")
        if isinstance(exc, genai_errors.APIError):
            key_hint = f"GEMINI_API_KEY / GOOGLE_API_KEY or {who}.config.api_key"
            if exc.code == 400 and ("API_KEY_INVALID" in str(exc.details) or "API key not valid" in str(exc.message)):
                # the Gemini API answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID
                return ProviderError(PROVIDER, f"{who}: authentication failed (400 API_KEY_INVALID) at {url}: check "
                                               f"the api key ({key_hint}). Server said: {_server_message(exc)}")
            return status_error(exc.code, _server_message(exc), provider=PROVIDER, who=who, url=url,
                                attempts=attempts, key_hint=key_hint,
                                forbidden_hint=f"check the api key ({key_hint}) and that it may use the Gemini API",
                                not_found_hint=f"check {who}.config.model ({self.model!r}) and base_url")
        if isinstance(exc, _timeout_errors()):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, _transport_errors()):
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts,
                                     detail=f" ({type(exc).__name__}: {exc})")
        if isinstance(exc, (ValueError, TypeError, KeyError)):
            return self._malformed(f"{type(exc).__name__}: {exc}")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aio.aclose()
