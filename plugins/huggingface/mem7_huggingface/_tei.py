"""What the Text Embeddings Inference (TEI) embedder and reranker share: connection fields, retries
and errors.

TEI answers errors as ``{"error": "...", "error_type": "validation" | "tokenizer" | "backend" |
"overloaded" | "unhealthy" | "empty"}``: 413 validation (a batch over ``--max-client-batch-size``,
an input over the model's length with ``truncate`` off), 422 (the tokenizer failed), 400 (an empty
input), 424 (the model failed), 429 (overloaded: ``--max-concurrent-requests`` reached), 503
(unhealthy), 401 (``--api-key`` set and not matched). mem7's
:class:`~mem7_core.providers.http.RetryPolicy` retries 408/409/429/5xx and transport errors,
honouring ``Retry-After``; every failure is a :class:`~mem7_core.errors.ProviderError` naming
``huggingface``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import Field, SecretStr

from mem7_core.errors import ProviderError
from mem7_core.providers import ProviderConfig
from mem7_core.providers.http import (
    BudgetSpent,
    RetryPolicy,
    body_snippet,
    budget_error,
    retry_after,
    retryable_status,
    status_error,
    timeout_error,
    unreachable_error,
)

PROVIDER = "huggingface"
"""The name every ``ProviderError`` of this plugin carries."""

T = TypeVar("T")


class TEIConnection(ProviderConfig):
    """How to reach a Text Embeddings Inference server."""

    base_url: str | None = Field(
        None, description="Root of a Text Embeddings Inference server (e.g. http://localhost:8080); the embedder "
        "posts to <base_url>/embed, the reranker to <base_url>/rerank.")
    api_key: SecretStr | None = Field(
        None, description="Sent as Authorization: Bearer (TEI's --api-key, or a Hugging Face token for an "
        "Inference Endpoint); none by default.")
    timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request.")
    deadline: float | None = Field(
        60.0, gt=0,
        description="Time budget in seconds of one call, retries included. None: only timeout x (1 + max_retries).",
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 408/409/429/5xx, connection errors, timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
    batch_size: int = Field(32, gt=0, le=4096, description="Texts per request (TEI's --max-client-batch-size, "
                                                           "32 by default).")
    max_concurrency: int = Field(4, gt=0, le=64, description="Requests in flight for one split batch.")


def _httpx_errors(name: str) -> tuple[type[BaseException], ...]:
    """``httpx.<name>``, and ``httpx2.<name>`` when loaded (huggingface_hub 2.x talks through httpx2)."""
    found: list[type[BaseException]] = [getattr(httpx, name)]
    cls = getattr(sys.modules.get("httpx2"), name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        found.append(cls)
    return tuple(found)


def _response(exc: BaseException) -> Any:
    """The ``httpx.Response`` of an HTTP status error (huggingface_hub's ``HfHubHTTPError`` or httpx's)."""
    response = getattr(exc, "response", None)
    return response if isinstance(getattr(response, "status_code", None), int) else None


def is_retryable(exc: BaseException) -> bool:
    response = _response(exc)
    if response is not None:
        return retryable_status(response.status_code)
    return isinstance(exc, _httpx_errors("TransportError")) or is_timeout(exc)


def is_timeout(exc: BaseException) -> bool:
    """A request timeout: httpx's, or huggingface_hub's ``InferenceTimeoutError`` (2.x wraps it)."""
    wrapped = getattr(sys.modules.get("huggingface_hub.errors"), "InferenceTimeoutError", None)
    if isinstance(wrapped, type) and isinstance(exc, wrapped):
        return True
    return isinstance(exc, _httpx_errors("TimeoutException"))


def _hint(exc: BaseException) -> float | None:
    response = _response(exc)
    return None if response is None else retry_after(response.headers)


def _server_message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and body.get("error_type") and body.get("error"):
        return f"{body['error_type']}: {body['error']}"
    return body_snippet(body)


class TEIProvider:
    """Retries and errors of a TEI provider (a mixin listed before ``Embedder`` / ``Reranker``)."""

    kind: ClassVar[Any]
    config: Any
    base_url: str

    def _policy(self, config: TEIConnection) -> RetryPolicy:
        return RetryPolicy(max_retries=config.max_retries, backoff=config.retry_backoff,
                           max_backoff=config.retry_max_backoff, deadline=config.deadline, name=PROVIDER)

    async def _retried(self, retry: RetryPolicy, call: Callable[[], Awaitable[T]]) -> T:
        return await retry.run(call, retryable=is_retryable, describe=self._describe, hint=_hint,
                               is_timeout=is_timeout)

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"{self.kind}: malformed response from {self.base_url}: {detail}",
                             retryable=True)

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        if isinstance(exc, ProviderError):
            return exc
        who, url = str(self.kind), self.base_url
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field=f"{who}.config.deadline")
        response = _response(exc)
        if response is not None:
            status, said = response.status_code, _server_message(response)
            if status == 413:  # TEI's "validation" errors: a batch or an input over the server's limits
                return ProviderError(PROVIDER, f"{who}: the server at {url} refused the request (413): {said}. A "
                                               f"batch over its --max-client-batch-size: lower {who}.config.batch_size;"
                                               f" a text over the model's length: turn on {who}.config.truncate")
            if status == 422:
                return ProviderError(PROVIDER, f"{who}: the server at {url} could not tokenize an input (422): {said}")
            return status_error(status, said, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                key_hint=f"{who}.config.api_key (the server's --api-key)",
                                not_found_hint=f"check {who}.config.base_url: is it a Text Embeddings Inference "
                                               "server serving this kind of model?")
        if is_timeout(exc):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, _httpx_errors("TransportError")):
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts,
                                     detail=f" ({type(exc).__name__}: {exc})")
        if isinstance(exc, (ValueError, TypeError, KeyError)):
            return self._malformed(f"{type(exc).__name__}: {exc}")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")
