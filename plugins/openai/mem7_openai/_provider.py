"""The part of a provider that talks to the API, shared by :class:`~.llm.OpenAILLM` and
:class:`~.embedder.OpenAIEmbedder`: connection from config and alias, bounded retries, one lazily
built client, errors that name the provider and the fix, and the closed state.

A mixin (listed before ``LLM`` / ``Embedder`` in the bases) rather than a helper object, so the
attributes callers and tests use (``connection``, ``base_url``, ``_retrier``, ``_client``) stay on
the provider itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mem7_core.errors import ProviderError
from mem7_core.providers import ProviderConfig, ProviderKind
from mem7_core.providers.http import RetryPolicy

from ._client import LazyClient
from ._common import (
    PROVIDER,
    Alias,
    Connection,
    describe_error,
    is_retryable,
    is_timeout,
    resolve_connection,
    retry_hint,
)


class OpenAIProvider:
    """Connection, retries, client and errors of an OpenAI-API provider (see the module docstring)."""

    Config: ClassVar[type[ProviderConfig]]
    kind: ClassVar[ProviderKind]
    config: Any
    alias: Alias
    model: str
    connection: Connection
    base_url: str

    def _connect(self, *, azure_deployment: str | None) -> None:
        """Resolve where to connect (``ConfigError`` naming the missing field) and set up retries and
        the client, which is built on the first request (construction stays cheap)."""
        cfg = self.config
        self.connection = resolve_connection(cfg, self.alias, kind=self.kind, model=self.model,
                                             azure_deployment=azure_deployment)
        self.base_url = self.connection.base_url
        self._retrier = RetryPolicy(max_retries=cfg.max_retries, backoff=cfg.retry_backoff,
                                    max_backoff=cfg.retry_max_backoff, deadline=cfg.deadline, name=PROVIDER)
        self._http = LazyClient(self.connection, cfg)
        self._closed = False

    @classmethod
    def from_config(cls, section: dict[str, Any] | ProviderConfig | None = None, *,
                    selected_as: str | None = None, registry: Any = None) -> Any:
        config = section if isinstance(section, cls.Config) else cls.Config.model_validate(
            section.model_dump(exclude_unset=True) if isinstance(section, ProviderConfig) else (section or {})
        )
        return cls(config, alias=selected_as or "openai")  # type: ignore[call-arg]

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self.kind}: {method}() called after aclose()")

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``path`` with retries; the parsed JSON answer, or a described ``ProviderError``."""
        http = self._http

        async def call() -> Any:
            return await http.post_json(path, body)

        return await self._retrier.run(call, retryable=is_retryable, describe=self._describe, hint=retry_hint,
                                       is_timeout=is_timeout)

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        return describe_error(exc, attempts=attempts, alias=self.alias, kind=self.kind, base_url=self.base_url,
                              model=self.model, timeout=self.config.timeout)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._http.aclose()

    @property
    def _client(self) -> Any:
        """The ``openai`` client once a request has built it (None before: construction is cheap)."""
        return self._http.built
