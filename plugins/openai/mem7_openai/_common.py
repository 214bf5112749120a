"""What the LLM and the embedder share: aliases, config resolution, retries, errors.

``openai`` is imported only where an error is classified (an exception already exists, so the
module is loaded): importing this plugin, or building an engine with it, does not pay for
``import openai`` (~0.5 s cold). The client itself lives in :mod:`._client`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mem7_core import deadline as _budget
from mem7_core.errors import ConfigError, ProviderError, ProviderTimeoutError

log = logging.getLogger("mem7.openai")

PROVIDER = "openai"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_AZURE_API_VERSION = "2024-10-21"
MAX_RETRY_AFTER = 60.0
"""A ``Retry-After`` longer than this is not waited for: the call fails at once with the server's answer."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Alias:
    """Defaults implied by the name a config selects the provider by."""

    name: str
    base_url: str | None
    key_env: str | None
    key_required: bool = True
    key_placeholder: str | None = None
    base_url_env: str | None = None
    llm_model: str | None = None
    embed_model: str | None = None
    embed_dims: int | None = None
    json_mode: str = "json_object"
    azure: bool = False
    embeddings: bool = True
    local: bool = False


ALIASES: dict[str, Alias] = {
    "openai": Alias(
        "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL",
        llm_model="gpt-4.1-nano", embed_model="text-embedding-3-small", embed_dims=1536,
    ),
    "groq": Alias("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", llm_model="llama-3.3-70b-versatile",
                  embeddings=False),
    "together": Alias(
        "together", "https://api.together.xyz/v1", "TOGETHER_API_KEY",
        llm_model="meta-llama/Llama-3.3-70B-Instruct-Turbo", embed_model="BAAI/bge-base-en-v1.5", embed_dims=768,
    ),
    "xai": Alias("xai", "https://api.x.ai/v1", "XAI_API_KEY", llm_model="grok-3-mini", embeddings=False),
    "grok": Alias("grok", "https://api.x.ai/v1", "XAI_API_KEY", llm_model="grok-3-mini", embeddings=False),
    "deepseek": Alias("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", llm_model="deepseek-chat",
                      embeddings=False),
    "ollama": Alias(
        "ollama", "http://localhost:11434/v1", "OLLAMA_API_KEY", key_required=False, key_placeholder="ollama",
        llm_model="llama3.1", embed_model="nomic-embed-text", embed_dims=768, local=True,
    ),
    "vllm": Alias("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", key_required=False, key_placeholder="EMPTY",
                  local=True),
    "lmstudio": Alias(
        "lmstudio", "http://localhost:1234/v1", "LMSTUDIO_API_KEY", key_required=False, key_placeholder="lm-studio",
        json_mode="json_schema", local=True,
    ),
    "azure": Alias(
        "azure", None, "AZURE_OPENAI_API_KEY", base_url_env="AZURE_OPENAI_ENDPOINT", llm_model="gpt-4.1-nano",
        embed_model="text-embedding-3-small", embed_dims=1536, azure=True,
    ),
}
ALIASES["azure_openai"] = ALIASES["azure"]

LLM_ALIASES: tuple[str, ...] = tuple(n for n in ALIASES if n != "openai")
EMBEDDER_ALIASES: tuple[str, ...] = tuple(n for n, a in ALIASES.items() if n != "openai" and a.embeddings)

#: mem0 config keys accepted as synonyms (mem0 has one ``*_base_url`` field per service).
BASE_URL_SYNONYMS = (
    "openai_base_url", "ollama_base_url", "vllm_base_url", "lmstudio_base_url", "deepseek_base_url",
    "xai_base_url", "together_base_url", "groq_base_url", "api_base",
)


def mem0_compat(data: Any) -> Any:
    """Map mem0-style keys (``openai_base_url``, ``azure_kwargs``...) onto ours, before validation."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in BASE_URL_SYNONYMS:
        if key in data:
            value = data.pop(key)
            if value is not None and data.get("base_url") is None:
                data["base_url"] = value
    azure = data.pop("azure_kwargs", None)
    if isinstance(azure, dict):
        for src, dst in (("api_key", "api_key"), ("azure_deployment", "azure_deployment"),
                         ("azure_endpoint", "azure_endpoint"), ("api_version", "api_version"),
                         ("default_headers", "default_headers")):
            if azure.get(src) is not None and data.get(dst) is None:
                data[dst] = azure[src]
    for key in ("headers", "extra_headers"):
        if key in data and "default_headers" not in data:
            data["default_headers"] = data.pop(key)
    return data


def resolve_alias(selected_as: str | None) -> Alias:
    return ALIASES.get((selected_as or "openai").lower(), ALIASES["openai"])


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to connect, after config, alias defaults and environment are merged."""

    alias: Alias
    base_url: str
    api_key: str
    azure_deployment: str | None = None
    api_version: str | None = None


def resolve_connection(
    config: Any, alias: Alias, *, kind: str, model: str, azure_deployment: str | None
) -> Connection:
    """Merge config, alias defaults and environment; raise ``ConfigError`` for what is missing.

    :param kind: ``"llm"`` or ``"embedder"`` (used in messages naming the config field).
    """
    label = f"{alias.name} {kind}"
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    if not key and alias.key_env:
        key = os.environ.get(alias.key_env) or None
    if not key:
        if alias.key_required:
            raise ConfigError(
                f"{label}: no api_key. Set {alias.key_env} or {kind}.config.api_key"
            )
        key = alias.key_placeholder or "none"

    if alias.azure:
        endpoint = config.azure_endpoint or config.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigError(
                f"{label}: no endpoint. Set AZURE_OPENAI_ENDPOINT or {kind}.config.azure_endpoint "
                f"(https://<resource>.openai.azure.com)"
            )
        version = config.api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION
        deployment = azure_deployment or os.environ.get("AZURE_OPENAI_DEPLOYMENT") or model
        return Connection(alias, endpoint.rstrip("/"), key, deployment, version)

    base_url = config.base_url
    if not base_url and alias.base_url_env:
        base_url = os.environ.get(alias.base_url_env) or None
    base_url = base_url or alias.base_url
    assert base_url is not None
    return Connection(alias, base_url.rstrip("/"), key)


# ------------------------------------------------------------------------------------ retries
def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())


class BudgetSpent(Exception):
    """The call's time budget ran out (raised by :class:`Retrier`, described as a
    ``ProviderTimeoutError``)."""

    def __init__(self, budget: float | None, cause: BaseException | None = None) -> None:
        self.budget = budget
        self.cause = cause
        super().__init__(f"time budget of {budget:g}s spent" if budget else "time budget spent")


def is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):  # a malformed body: transient
        return True
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


class Retrier:
    """Bounded retries with exponential backoff and jitter, honouring ``Retry-After``.

    ``sleep`` is an attribute so tests can record the delays instead of waiting.
    """

    def __init__(self, *, max_retries: int, backoff: float, max_backoff: float,
                 deadline: float | None = None) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.deadline = deadline
        """Seconds for the whole call, retries included (None: no budget of its own); the
        operation's budget (:mod:`mem7_core.deadline`) bounds it further."""
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    def delay(self, attempt: int, exc: BaseException) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None when not worth retrying."""
        hinted = _retry_after(exc)
        if hinted is not None and math.isfinite(hinted):
            if hinted > MAX_RETRY_AFTER:
                return None
            return max(0.0, hinted)
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.75 + 0.25 * random.random())  # noqa: S311 - jitter, not crypto

    def _left(self, end: float | None) -> tuple[float | None, float | None]:
        """(seconds left, the budget they are left of): the nearer of this call's own deadline and
        the operation's; (None, None) when neither is set."""
        own = None if end is None else end - time.monotonic()
        op = _budget.remaining()
        if own is None and op is None:
            return None, None
        if op is None or (own is not None and own <= op):
            return own, self.deadline
        return op, None

    async def run(self, call: Callable[[], Awaitable[T]], describe: Callable[[BaseException, int], ProviderError]) -> T:
        attempt = 0
        end = None if self.deadline is None else time.monotonic() + self.deadline
        while True:
            left, budget = self._left(end)
            try:
                if left is None:
                    return await call()
                if left <= 0:
                    raise BudgetSpent(budget)
                scope = asyncio.timeout(left)
                try:
                    async with scope:
                        return await call()
                except TimeoutError as exc:
                    if not scope.expired():
                        raise
                    raise BudgetSpent(budget, exc) from exc  # the budget ran out mid-request: not retried
            except BudgetSpent as exc:
                raise describe(exc, attempt + 1) from exc.cause
            except Exception as exc:
                if attempt < self.max_retries and is_retryable(exc):
                    wait = self.delay(attempt, exc)
                    after, budget = self._left(end)
                    if wait is not None and after is not None and after <= wait:  # no time for another try
                        import openai  # loaded: ``exc`` came from it or from the body's parsing

                        spent = isinstance(exc, openai.APITimeoutError)  # else the server's own answer tells more
                        raise describe(BudgetSpent(budget, exc) if spent else exc, attempt + 1) from exc
                    if wait is not None:
                        log.debug("openai: %s; retry %d/%d in %.2fs", type(exc).__name__, attempt + 1,
                                  self.max_retries, wait)
                        attempt += 1
                        await self.sleep(wait)
                        continue
                raise describe(exc, attempt + 1) from exc


# ------------------------------------------------------------------------------------- errors
def _server_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return exc.message or ""


def describe_error(exc: BaseException, *, attempts: int, alias: Alias, kind: str, base_url: str,
                   model: str, timeout: float) -> ProviderError:
    """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
    import openai

    who = f"{alias.name} {kind}" if alias.name != "openai" else kind
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, BudgetSpent):
        within = f"its {exc.budget:g}s deadline ({kind}.config.deadline)" if exc.budget else \
            "the operation's time budget (operation_timeout_secs)"
        last = f"; last error: {type(exc.cause).__name__}" if isinstance(exc.cause, Exception) and \
            not isinstance(exc.cause, TimeoutError) else ""
        return ProviderTimeoutError(PROVIDER, f"{who}: no answer from {base_url} within {within}{tries}{last}")
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(PROVIDER, f"{who}: request to {base_url} timed out (timeout {timeout:g}s){tries}",
                             retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        hint = " Is the server running?" if alias.local or "localhost" in base_url or "127.0.0.1" in base_url else ""
        return ProviderError(PROVIDER, f"{who}: server at {base_url} is unreachable{tries}{detail}.{hint}",
                             retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status, msg = exc.status_code, _server_message(exc)
        env = f"{alias.key_env} or " if alias.key_env else ""
        if status == 401:
            return ProviderError(PROVIDER, f"{who}: authentication failed (401) at {base_url}: check the api key "
                                 f"({env}{kind}.config.api_key). Server said: {msg}")
        if status == 403:
            return ProviderError(PROVIDER, f"{who}: permission denied (403) at {base_url}: {msg}")
        if status == 404:
            return ProviderError(PROVIDER, f"{who}: not found (404) at {base_url}: check {kind}.config.model "
                                 f"({model!r}) and base_url. Server said: {msg}")
        if status == 429:
            return ProviderError(PROVIDER, f"{who}: rate limited (429){tries}: {msg}", retryable=True)
        if status >= 500:
            return ProviderError(PROVIDER, f"{who}: server error {status}{tries} at {base_url}: {msg}",
                                 retryable=True)
        return ProviderError(PROVIDER, f"{who}: request rejected ({status}) by {base_url}: {msg}")
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, TypeError, AttributeError)):
        return ProviderError(PROVIDER, f"{who}: malformed response from {base_url}{tries}: {type(exc).__name__}: {exc}",
                             retryable=True)
    if isinstance(exc, openai.OpenAIError):
        return ProviderError(PROVIDER, f"{who}: {type(exc).__name__}: {exc}")
    return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {base_url}: {exc}")
