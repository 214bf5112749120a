"""What the LLM and the embedder share: aliases, config resolution, retries, errors.

``openai`` is imported only where an error is classified (an exception already exists, so the
module is loaded): importing this plugin, or building an engine with it, does not pay for
``import openai`` (~0.5 s cold). The client itself lives in :mod:`._client`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers.http import (
    BudgetSpent,
    attempts_text,
    budget_error,
    retry_after,
    retryable_status,
    status_error,
    timeout_error,
    unreachable_error,
)

log = logging.getLogger("mem7.openai")

PROVIDER = "openai"
"""The name every ``ProviderError`` of this plugin carries."""

DEFAULT_AZURE_API_VERSION = "2024-10-21"


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
# The loop, backoff, Retry-After and budget are mem7_core.providers.http's RetryPolicy (one mechanism
# for every HTTP plugin); what is openai-specific is which of its exceptions a retry may fix and what
# they say.


def is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):  # a malformed body: transient
        return True
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return retryable_status(exc.status_code)
    return False


def retry_hint(exc: BaseException) -> float | None:
    """The server's ``retry-after-ms`` / ``Retry-After`` on a status error, in seconds."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return None if headers is None else retry_after(headers)


def is_timeout(exc: BaseException) -> bool:
    """A request that timed out: with no time left for another, the budget is what ran out."""
    import openai  # loaded: ``exc`` came from it or from the body's parsing

    return isinstance(exc, openai.APITimeoutError)


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
    tries = attempts_text(attempts)
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, BudgetSpent):
        return budget_error(exc, provider=PROVIDER, who=who, url=base_url, attempts=attempts,
                            deadline_field=f"{kind}.config.deadline")
    if isinstance(exc, openai.APITimeoutError):
        return timeout_error(provider=PROVIDER, who=who, url=base_url, timeout=timeout, attempts=attempts)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        return unreachable_error(provider=PROVIDER, who=who, url=base_url, attempts=attempts, detail=detail,
                                 local=alias.local)
    if isinstance(exc, openai.APIStatusError):
        env = f"{alias.key_env} or " if alias.key_env else ""
        return status_error(exc.status_code, _server_message(exc), provider=PROVIDER, who=who, url=base_url,
                            attempts=attempts, key_hint=f"{env}{kind}.config.api_key",
                            not_found_hint=f"check {kind}.config.model ({model!r}) and base_url")
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, TypeError, AttributeError)):
        return ProviderError(PROVIDER, f"{who}: malformed response from {base_url}{tries}: {type(exc).__name__}: {exc}",
                             retryable=True)
    if isinstance(exc, openai.OpenAIError):
        return ProviderError(PROVIDER, f"{who}: {type(exc).__name__}: {exc}")
    return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {base_url}: {exc}")
