"""Cohere Rerank (v2 API) as a mem7 reranker, through the official ``cohere`` client.

One ``cohere.AsyncClientV2`` per instance, on an ``httpx.AsyncClient`` this provider owns (so
``aclose()`` closes its connection pool). The client's own retries are off: mem7's
:class:`~mem7_core.providers.http.RetryPolicy` retries, bounded and observable, on 408/409/429/5xx
and transport errors (rerank is idempotent), honouring ``Retry-After`` and the operation's time
budget. Every failure is a :class:`~mem7_core.errors.ProviderError` naming
``cohere``; the engine then keeps the vector order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import cohere
import httpx
from pydantic import Field, SecretStr, model_validator

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.models import RerankResult
from mem7_core.providers import ProviderConfig, Reranker
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

log = logging.getLogger("mem7.cohere")

PROVIDER = "cohere"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_BASE_URL = "https://api.cohere.com"
KEY_ENV_VARS = ("CO_API_KEY", "COHERE_API_KEY")
"""Where the api key is read from when the config has none (the cohere client's own order)."""
BASE_URL_ENV = "CO_API_URL"

#: mem0's cohere reranker keys that mean nothing for the v2 API (accepted, ignored).
_MEM0_IGNORED = ("return_documents", "max_chunks_per_doc")


class CohereRerankerConfig(ProviderConfig):
    """``reranker.config`` of the ``cohere`` provider. Unknown fields are errors."""

    model: str = Field("rerank-v3.5", description="Rerank model, e.g. rerank-v3.5, rerank-english-v3.0.")
    api_key: SecretStr | None = Field(None, description="API key; default CO_API_KEY, then COHERE_API_KEY.")
    base_url: str | None = Field(
        None,
        description="API root (the client appends /v2/rerank); default CO_API_URL or https://api.cohere.com. "
        "A trailing /v1 or /v2 is dropped.",
    )
    top_n: int | None = Field(
        None, ge=1,
        description="Default cap on results when the caller gives none (None: every candidate comes back). "
        "The engine keeps only what the reranker returns, so a cap below the search limit shortens results.",
    )
    max_tokens_per_doc: int | None = Field(None, ge=1, description="Server-side truncation of each document.")
    timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 408/409/429/5xx, connection errors, timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
    client_name: str | None = Field("mem7", description="Sent as X-Client-Name.")

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        """mem0's ``top_k`` is our ``top_n``; its v1-only keys are dropped."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "top_k" in data:
            value = data.pop("top_k")
            if data.get("top_n") is None:
                data["top_n"] = value
        for key in _MEM0_IGNORED:
            data.pop(key, None)
        return data


def _resolve_key(config: CohereRerankerConfig) -> str:
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    for var in KEY_ENV_VARS:
        if key:
            break
        key = os.environ.get(var) or None
    if not key:
        raise ConfigError(
            "cohere reranker: no api_key. Set CO_API_KEY (or COHERE_API_KEY) or reranker.config.api_key"
        )
    return key


def _resolve_base_url(config: CohereRerankerConfig) -> str:
    url = (config.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    for suffix in ("/v1", "/v2"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


# ------------------------------------------------------------------------------------ errors
def _status(exc: BaseException) -> int | None:
    """The HTTP status of a cohere ``ApiError`` (or ``ParsingError``), None for anything else."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _hint(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` (or ``retry-after-ms``) on a cohere ``ApiError``."""
    headers = getattr(exc, "headers", None)
    return retry_after(headers) if isinstance(headers, dict) else None


def is_retryable(exc: BaseException) -> bool:
    """Transport errors (connect, read, timeout, dropped connection) and 408/409/429/5xx."""
    if isinstance(exc, httpx.TransportError):
        return True
    status = _status(exc)
    return status is not None and retryable_status(status)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TimeoutException)


# ---------------------------------------------------------------------------------- reranker
class CohereReranker(Reranker):
    """Cohere Rerank through ``cohere.AsyncClientV2.rerank`` (``POST /v2/rerank``).

    ``rerank()`` returns at most ``top_n`` results (every document when None), best first, each
    naming its document by index. No documents: ``[]`` without a request.
    """

    name = "cohere"
    Config = CohereRerankerConfig
    config: CohereRerankerConfig

    def __init__(self, config: CohereRerankerConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.model = cfg.model
        self.base_url = _resolve_base_url(cfg)
        api_key = _resolve_key(cfg)  # before opening anything: a missing key leaves nothing to close
        self._http = httpx.AsyncClient(timeout=cfg.timeout)
        self._client = cohere.AsyncClientV2(
            api_key=api_key,
            base_url=self.base_url,
            client_name=cfg.client_name,
            timeout=cfg.timeout,
            httpx_client=self._http,
        )
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        """How retries wait (tests swap in a recorder)."""
        self._retry = RetryPolicy(max_retries=cfg.max_retries, backoff=cfg.retry_backoff,
                                  max_backoff=cfg.retry_max_backoff, name=PROVIDER,
                                  sleep=lambda seconds: self.sleep(seconds))
        self._closed = False

    # ---------------------------------------------------------------------------- calls
    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        if self._closed:
            raise ProviderError(PROVIDER, "reranker: rerank() called after aclose()")
        docs = [d if isinstance(d, str) else str(d) for d in documents]
        limit = top_n if top_n is not None else self.config.top_n
        if not docs or (limit is not None and limit <= 0):
            return []
        n = min(limit, len(docs)) if limit is not None else None
        kwargs: dict[str, Any] = {
            "model": self.model,
            "query": query,
            "documents": docs,
            "request_options": {"max_retries": 0},  # ours are bounded and observable
        }
        if n is not None:
            kwargs["top_n"] = n
        if self.config.max_tokens_per_doc is not None:
            kwargs["max_tokens_per_doc"] = self.config.max_tokens_per_doc
        client = self._client

        async def call() -> Any:
            return await client.rerank(**kwargs)

        response = await self._call(call)
        return self._results(response, len(docs), n)

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        return await self._retry.run(call, retryable=is_retryable, describe=self._describe, hint=_hint,
                                     is_timeout=_is_timeout)

    def _results(self, response: Any, count: int, n: int | None) -> list[RerankResult]:
        results = getattr(response, "results", None)
        if not isinstance(results, list):
            raise self._malformed(f"no results list in {type(response).__name__}")
        out: list[RerankResult] = []
        seen: set[int] = set()
        for item in results:
            index = item.get("index") if isinstance(item, dict) else getattr(item, "index", None)
            score = item.get("relevance_score") if isinstance(item, dict) else getattr(item, "relevance_score", None)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count or index in seen:
                raise self._malformed(f"result index {index!r} is not a new index into the {count} documents")
            if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
                raise self._malformed(f"relevance_score {score!r} of result {index} is not a number")
            seen.add(index)
            out.append(RerankResult(index=index, score=float(score)))
        out.sort(key=lambda r: -r.score)  # stable: the server's order breaks ties
        return out[:n] if n is not None else out

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"reranker: malformed response from {self.base_url}: {detail}")

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        if isinstance(exc, ProviderError):
            return exc
        who, url = "reranker", self.base_url
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts)
        if isinstance(exc, httpx.TimeoutException):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, httpx.TransportError):
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts,
                                     detail=f" ({type(exc).__name__}: {exc})")
        status = _status(exc)
        if status is not None:
            msg = body_snippet(getattr(exc, "body", None))
            if 200 <= status < 300:
                return self._malformed(f"{type(exc).__name__}: {msg or exc}")
            return status_error(status, msg, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                key_hint="CO_API_KEY / COHERE_API_KEY or reranker.config.api_key",
                                not_found_hint=f"check reranker.config.model ({self.model!r}) and base_url")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"<CohereReranker model={self.model!r} base_url={self.base_url!r}>"
