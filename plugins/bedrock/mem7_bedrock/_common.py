"""What the Bedrock LLM and embedder share: config fields, the boto3 client, retries and errors.

One ``bedrock-runtime`` client per provider instance, made from its own ``boto3.session.Session``
(region, profile and credentials from the config or the standard AWS chain: environment, shared
files, SSO, container and instance roles). boto3 is synchronous: each call runs in a worker thread
(:func:`mem7_core.providers.blocking.run_blocking`; botocore clients are thread-safe), so the event
loop never waits on the network. botocore's own retries are off (``total_max_attempts: 1``): mem7's
:class:`~mem7_core.providers.http.RetryPolicy` retries, bounded and budget-aware, on throttling,
408/429/5xx and transport errors, honouring ``Retry-After``. Every failure is a
:class:`~mem7_core.errors.ProviderError` naming ``bedrock``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, model_validator

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers import ProviderConfig
from mem7_core.providers.blocking import run_blocking
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

PROVIDER = "bedrock"
"""The name every ``ProviderError`` of this plugin carries."""

REGION_ENV_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")

RETRY_CODES = frozenset({
    "ThrottlingException", "ModelNotReadyException", "ServiceUnavailableException", "InternalServerException",
    "ModelTimeoutException",
})
"""Bedrock error codes a retry may fix (besides any 408/409/429/5xx status)."""

T = TypeVar("T")


class BedrockConnection(ProviderConfig):
    """Fields the LLM and the embedder share."""

    region: str | None = Field(
        None, description="AWS region, e.g. us-east-1; default AWS_REGION, AWS_DEFAULT_REGION, then the profile's.")
    endpoint_url: str | None = Field(
        None,
        description="bedrock-runtime endpoint (a VPC endpoint, a proxy); default boto3's for the region "
        "(AWS_ENDPOINT_URL_BEDROCK_RUNTIME is honoured by boto3).",
    )
    profile_name: str | None = Field(
        None, description="Named profile of the shared AWS config files; default AWS_PROFILE.")
    aws_access_key_id: SecretStr | None = Field(
        None, description="Access key id; default: the standard AWS credential chain. Keep keys out of files.")
    aws_secret_access_key: SecretStr | None = Field(None, description="Secret access key (with aws_access_key_id).")
    aws_session_token: SecretStr | None = Field(None, description="Session token of temporary credentials.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for an answer (botocore read_timeout).")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    deadline: float | None = Field(
        60.0, gt=0,
        description="Time budget in seconds of one call, retries included. None: only timeout x (1 + max_retries).",
    )
    max_retries: int = Field(
        2, ge=0, le=10, description="Retries on throttling, 408/429/5xx, connection errors, timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")
    max_pool_connections: int = Field(16, ge=1, le=256, description="HTTP connections kept by the client.")

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        """mem0's ``aws_region`` / ``aws_profile`` (its ``aws_bedrock`` provider) are our ``region`` /
        ``profile_name``."""
        if isinstance(data, dict):
            data = dict(data)
            for theirs, ours in (("aws_region", "region"), ("aws_profile", "profile_name")):
                if theirs in data:
                    value = data.pop(theirs)
                    data.setdefault(ours, value)
        return data

    @model_validator(mode="after")
    def _key_pair(self) -> BedrockConnection:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("aws_access_key_id and aws_secret_access_key go together: set both, or neither to use "
                             "the standard AWS credential chain")
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise ValueError("aws_session_token needs aws_access_key_id and aws_secret_access_key")
        return self


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@cache
def _loader() -> Any:
    """botocore's service-model loader, shared by every client of the process: the models are read
    (and parsed, ~0.1 s) once, not once per provider."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def make_client(config: BedrockConnection, kind: str) -> tuple[Any, str]:
    """A ``bedrock-runtime`` client and the URL it talks to; a ``ConfigError`` naming the field when
    the region or the credentials cannot be found."""
    import boto3  # here, not at module level: discovering the plugin stays cheap (boto3 takes ~0.3 s)
    import botocore.config
    import botocore.exceptions
    import botocore.session

    region = config.region or next((os.environ[v] for v in REGION_ENV_VARS if os.environ.get(v)), None)
    core = botocore.session.Session()
    core.register_component("data_loader", _loader())
    try:
        session = boto3.session.Session(
            botocore_session=core,
            aws_access_key_id=_secret(config.aws_access_key_id),
            aws_secret_access_key=_secret(config.aws_secret_access_key),
            aws_session_token=_secret(config.aws_session_token),
            region_name=region,
            profile_name=config.profile_name,
        )
        region, credentials = session.region_name, session.get_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(f"bedrock {kind}: {exc}: check {kind}.config.profile_name (or AWS_PROFILE)") from exc
    if not region:
        raise ConfigError(f"bedrock {kind}: no AWS region. Set {kind}.config.region (e.g. us-east-1), AWS_REGION, "
                          "or a region in the profile")
    if credentials is None:
        raise ConfigError(f"bedrock {kind}: no AWS credentials found. Use the standard chain (AWS_ACCESS_KEY_ID and "
                          f"AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, an instance or container role) or set "
                          f"{kind}.config.aws_access_key_id and aws_secret_access_key")
    client_config = botocore.config.Config(
        read_timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        max_pool_connections=config.max_pool_connections,
        retries={"total_max_attempts": 1, "mode": "standard"},  # ours are bounded and budget-aware
        user_agent_extra="mem7",
    )
    client = session.client("bedrock-runtime", endpoint_url=config.endpoint_url, config=client_config)
    return client, str(client.meta.endpoint_url)


# ------------------------------------------------------------------------------------ errors
def _client_error(exc: BaseException) -> tuple[int, str, str, Any] | None:
    """(status, code, message, headers) of a botocore ``ClientError``; None for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return None
    meta = response.get("ResponseMetadata") or {}
    error = response.get("Error") or {}
    status = meta.get("HTTPStatusCode")
    return (status if isinstance(status, int) else 0, str(error.get("Code") or ""), str(error.get("Message") or ""),
            meta.get("HTTPHeaders") or {})


def _transport_errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions as be

    return be.ConnectionError, be.HTTPClientError


def _timeout_errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions as be

    return be.ReadTimeoutError, be.ConnectTimeoutError


def is_retryable(exc: BaseException) -> bool:
    found = _client_error(exc)
    if found is not None:
        status, code, _, _ = found
        return code in RETRY_CODES or retryable_status(status)
    return isinstance(exc, _transport_errors())


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, _timeout_errors())


def _hint(exc: BaseException) -> float | None:
    found = _client_error(exc)
    return None if found is None else retry_after(found[3])


# ---------------------------------------------------------------------------------- provider
class BedrockProvider:
    """Client, retries and errors of a Bedrock provider (a mixin listed before ``LLM`` / ``Embedder``)."""

    kind: ClassVar[Any]
    config: Any
    model: str
    endpoint: str

    def _connect(self, config: BedrockConnection) -> None:
        self._client, self.endpoint = make_client(config, str(self.kind))
        self._retry = RetryPolicy(max_retries=config.max_retries, backoff=config.retry_backoff,
                                  max_backoff=config.retry_max_backoff, deadline=config.deadline, name=PROVIDER)
        self._closed = False

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise ProviderError(PROVIDER, f"{self.kind}: {method}() called after aclose()")

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """``client.<operation>(**kwargs)`` in a worker thread, with retries."""
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)

        async def call() -> dict[str, Any]:
            return await run_blocking(method, **kwargs)

        return await self._retry.run(call, retryable=is_retryable, describe=self._describe, hint=_hint,
                                     is_timeout=is_timeout)

    def _malformed(self, detail: str) -> ProviderError:
        return ProviderError(PROVIDER, f"{self.kind}: malformed response from {self.endpoint}: {detail}",
                             retryable=True)

    def _describe(self, exc: BaseException, attempts: int) -> ProviderError:
        """A ``ProviderError`` naming the provider, saying what went wrong and what to check."""
        import botocore.exceptions as be

        if isinstance(exc, ProviderError):
            return exc
        who, url = str(self.kind), self.endpoint
        creds = (f"the AWS credentials (the standard chain, or {who}.config.aws_access_key_id / "
                 "aws_secret_access_key / profile_name)")
        if isinstance(exc, BudgetSpent):
            return budget_error(exc, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                deadline_field=f"{who}.config.deadline")
        found = _client_error(exc)
        if found is not None:
            status, code, message, _ = found
            said = f"{code}: {message}" if code else message
            if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                        "MissingAuthenticationTokenException", "IncompleteSignatureException"):
                return ProviderError(PROVIDER, f"{who}: authentication failed ({status} {code}) at {url}: check "
                                               f"{creds}. Server said: {message}")
            if code == "ValidationException":
                return ProviderError(PROVIDER, f"{who}: request rejected by {url} (400 ValidationException): "
                                               f"{message}. Check {who}.config.model ({self.model!r}) and the "
                                               f"model's supported features")
            if code == "ModelErrorException":
                return ProviderError(PROVIDER, f"{who}: the model {self.model!r} failed to answer ({status}): "
                                               f"{message}")
            return status_error(status, said, provider=PROVIDER, who=who, url=url, attempts=attempts,
                                credential="AWS credentials", key_hint=creds,
                                forbidden_hint=f"check that {creds} may call bedrock:InvokeModel on {self.model!r} "
                                               "and that access to the model is granted in this region",
                                not_found_hint=f"check {who}.config.model ({self.model!r}) and region")
        if isinstance(exc, _timeout_errors()):
            return timeout_error(provider=PROVIDER, who=who, url=url, timeout=self.config.timeout, attempts=attempts)
        if isinstance(exc, _transport_errors()):
            return unreachable_error(provider=PROVIDER, who=who, url=url, attempts=attempts,
                                     detail=f" ({type(exc).__name__}: {exc})")
        if isinstance(exc, (be.NoCredentialsError, be.PartialCredentialsError, be.CredentialRetrievalError)):
            return ProviderError(PROVIDER, f"{who}: {exc}: check {creds}")
        if isinstance(exc, be.ParamValidationError):
            return ProviderError(PROVIDER, f"{who}: boto3 rejected the request: {exc}")
        if isinstance(exc, (ValueError, TypeError, KeyError)):
            return self._malformed(f"{type(exc).__name__}: {exc}")
        return ProviderError(PROVIDER, f"{who}: unexpected {type(exc).__name__} talking to {url}: {exc}")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.close()
