"""What the Jina reranker and embedder share: config fields, key and endpoint resolution, the HTTP
client, retries and errors.

Jina AI publishes an HTTP API and no Python client (the ``jina`` package on PyPI is an unrelated
framework), so this plugin speaks the documented JSON over ``httpx``: one ``httpx.AsyncClient``
per provider instance (keep-alive connections, closed by ``aclose``), mem7's
:class:`~mem7_core.providers.http.RetryPolicy` for bounded, budget-aware retries on
408/409/429/5xx and transport errors (honouring ``Retry-After``), and the status mapping of
:mod:`mem7_core.providers.http`. Every failure is a :class:`~mem7_core.errors.ProviderError`
naming ``jina``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import httpx
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

PROVIDER = "jina"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_BASE_URL = "https://api.jina.ai/v1"
KEY_ENV_VAR = "JINA_API_KEY"


class JinaConnection(HttpRetryConfig):
    """Fields the reranker and the embedder share (``timeout``, ``deadline`` and the retry fields
    come from :class:`~mem7_core.providers.http.HttpRetryConfig`)."""

    api_key: SecretStr | None = Field(None, description="API key; default JINA_API_KEY.")
    base_url: str = Field(
        DEFAULT_BASE_URL, min_length=1,
        description="API root, /v1 included (the provider appends /rerank, /embeddings).")


def resolve_key(config: JinaConnection, kind: str) -> str:
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    key = key or os.environ.get(KEY_ENV_VAR) or None
    if not key:
        raise ConfigError(f"jina {kind}: no api_key. Set JINA_API_KEY or {kind}.config.api_key")
    return key


class HTTPStatusFailure(Exception):
    """An answer other than 200: its status, the server's message and headers."""

    def __init__(self, status: int, message: str, headers: httpx.Headers) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers


def server_message(response: httpx.Response) -> str:
    """Jina's error ``detail`` (a string, or a list of validation errors), else the body."""
    try:
        body = response.json()
    except ValueError:
        return body_snippet(response.text)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return body_snippet(body)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, HTTPStatusFailure) and retryable_status(exc.status)


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TimeoutException)


def _hint(exc: BaseException) -> float | None:
    return retry_after(exc.headers) if isinstance(exc, HTTPStatusFailure) else None


# ---------------------------------------------------------------------------------- provider
class JinaProvider:
    """HTTP client, retries and errors of a Jina provider (a mixin listed before the base class)."""

    kind: ClassVar[Any]
    config: Any
    model: str
    base_url: str

    def _connect(self, config: JinaConnection) -> None:
        key = resolve_key(config, self.kind)
        self.base_url = config.base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=config.timeout,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            verify=not self.base_url.startswith("http://"),  # no CA bundle to load for a plain-http proxy
        )
        self._retry = config.retry_policy(PROVIDER)
        self._closed = False

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self.kind}: {method}() called after aclose()")

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``base_url + path`` with retries; the answer's JSON object."""
        url = f"{self.base_url}{path}"

        async def attempt() -> dict[str, Any]:
            response = await self._http.post(url, json=body)
            if response.status_code != 200:
                raise HTTPStatusFailure(response.status_code, server_message(response), response.headers)
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise self._malformed(f"not a JSON object: {body_snippet(response.text)!r}")
            return data

        return await self._retry.run(attempt, retryable=is_retryable, describe=self._describe, hint=_hint,
                                     is_timeout=is_timeout)

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"{self.kind}: malformed response from {self.base_url}: {detail}")

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        if isinstance(exc, ProviderError):
            return exc
        who, url = str(self.kind), self.base_url
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field=f"{who}.config.deadline")
        if isinstance(exc, httpx.TimeoutException):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, httpx.TransportError):
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts,
                                     detail=f" ({type(exc).__name__}: {exc})")
        if isinstance(exc, HTTPStatusFailure):
            return status_error(exc.status, exc.message, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                key_hint=f"JINA_API_KEY or {who}.config.api_key",
                                forbidden_hint="check the api key and its balance of tokens",
                                not_found_hint=f"check {who}.config.base_url ({url})")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._http.aclose()
