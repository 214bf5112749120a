"""Config models of the OpenAI LLM and embedder (``extra="forbid"``: typos fail at startup)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator

from mem7_core.providers import ProviderConfig

from ._common import mem0_compat


class _Connection(ProviderConfig):
    """Fields both providers share."""

    api_key: SecretStr | None = Field(
        None, description="API key; default from the alias's env var (OPENAI_API_KEY, GROQ_API_KEY...)."
    )
    base_url: str | None = Field(
        None,
        description="Server URL ending in /v1; default OPENAI_BASE_URL or the alias's URL "
        "(https://api.openai.com/v1, http://localhost:11434/v1 for ollama...). For azure: the endpoint.",
    )
    organization: str | None = None
    project: str | None = None
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    deadline: float | None = Field(
        30.0, gt=0,
        description="Time budget in seconds of one call, retries included: a request that times out "
        "spends it, what is left bounds the next attempt (and the engine's operation_timeout_secs "
        "bounds it further). None: only timeout x (1 + max_retries).",
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 429 / 5xx / connection errors / timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
    default_headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers on every call.")
    # Azure
    azure_endpoint: str | None = Field(None, description="Azure: https://<resource>.openai.azure.com")
    azure_deployment: str | None = Field(None, description="Azure: deployment name (default: the model).")
    api_version: str | None = Field(None, description="Azure: API version (default OPENAI_API_VERSION or 2024-10-21).")
    transport: Literal["sdk", "direct"] = Field(
        "direct",
        validation_alias=AliasChoices("transport", "request_path"),
        description="direct (default): resend the request the client built once per endpoint with each "
        "new body, through SDK internals (~0.5-0.8 ms less CPU per call, about 40 % of an inferred add's "
        "CPU; falls back to sdk on an SDK without them, see the plugin README); sdk: every call through "
        "the openai client's public API (chat.completions / embeddings .with_raw_response.create). Same "
        "headers, errors and retries either way. request_path is accepted as the older name.",
    )
    http_backend: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description="What the direct transport sends through: aiohttp (default; the same bytes as httpx2 "
        "for a fifth of its CPU per call; an endpoint behind an environment proxy, and redirects, still go "
        "through the client's httpx2 client) or httpx (the openai client's own httpx2 client). The sdk "
        "transport always uses the client's own.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        return mem0_compat(data)


class OpenAILLMConfig(_Connection):
    """``llm.config`` of the ``openai`` provider and its aliases."""

    model: str = Field("gpt-4.1-nano", description="Model name (for aliases: the alias's default model).")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1000, gt=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    enable_vision: bool = Field(
        False,
        description="Send image parts to the model. When false, images become short text placeholders.",
    )
    json_mode: Literal["json_object", "json_schema", "off"] | None = Field(
        None,
        description="How JSON mode is asked for: response_format json_object (default), json_schema "
        "(LM Studio), or off (the prompt alone asks for JSON).",
    )


class OpenAIEmbedderConfig(_Connection):
    """``embedder.config`` of the ``openai`` provider and its aliases."""

    model: str = Field("text-embedding-3-small", description="Embedding model (for aliases: the alias's default).")
    embedding_dims: int = Field(1536, gt=0, le=16384, description="Vector length.")
    batch_size: int = Field(256, gt=0, le=2048, description="Texts per request; larger batches are split.")
    max_concurrency: int = Field(4, gt=0, le=64, description="Requests in flight for one split batch.")
    send_dimensions: bool | None = Field(
        None,
        description="Send `dimensions` in requests. Default: for text-embedding-3-* models, or when "
        "embedding_dims is set explicitly.",
    )
