"""One retry / backoff / HTTP-error mechanism for every provider that talks HTTP.

Plugins (openai, cohere, upstash, qdrant...) classify their own SDK's exceptions; everything else is
here, written once:

- :func:`retry_after` / :func:`parse_retry_after`: the server's ``Retry-After`` (delta-seconds or
  HTTP-date) or ``retry-after-ms``, in seconds (>= 0), None when absent or unreadable;
- :func:`retryable_status`: which HTTP statuses a retry may fix (408, 409, 429, 5xx by default);
- :func:`status_error`: an HTTP status (+ the server's message) as the :class:`ProviderError` that
  names the provider, what went wrong and what to check, with the right ``retryable`` flag; and
  :func:`timeout_error`, :func:`unreachable_error`, :func:`budget_error` for the transport failures;
- :class:`RetryPolicy`: bounded retries with exponential backoff and jitter, honouring
  ``Retry-After`` (a hint over ``max_retry_after`` is not waited for, or is clamped), retrying only
  what the plugin's ``retryable`` says, and never past the call's own ``deadline`` nor the
  operation's budget (:func:`mem7_core.providers.deadline.remaining`): what is left bounds each
  attempt, and a backoff longer than what is left fails at once.

Hand-written rather than built on ``tenacity`` / ``stamina``: ``bench/retry/`` measures the three on
the path every call takes (one attempt that succeeds) and on a retried call; see its README for the
numbers and the reasoning. Imports only ``mem7_core.errors`` and ``mem7_core.providers``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Literal, TypeVar

from pydantic import Field

from mem7_core.errors import ProviderError, ProviderTimeoutError

from . import deadline as _budget
from .base import ProviderConfig

log = logging.getLogger("mem7.providers.http")

T = TypeVar("T")

MAX_RETRY_AFTER = 60.0
"""Default cap of a ``Retry-After`` the policy waits for (see :attr:`RetryPolicy.over_cap`)."""

RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 429})
"""Statuses below 500 a retry may fix: request timeout, conflict (a concurrent request), rate limit."""

AUTH_STATUSES: frozenset[int] = frozenset({401, 498})
"""Statuses that mean the credential is wrong (498: "invalid token", Cohere and others)."""


# ------------------------------------------------------------------------------- Retry-After
def parse_retry_after(value: str | float | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds (``"120"``, ``"0.25"``) or an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, relative to ``now``, default :func:`time.time`).

    Never negative (a date in the past is 0); None when absent, unparseable or not finite.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        raw = value.strip()
        if not raw:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_tz(raw)
            if parsed is None:
                return None
            try:
                seconds = float(email.utils.mktime_tz(parsed)) - (time.time() if now is None else now)
            except (OverflowError, ValueError):
                return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _header(headers: Any, name: str) -> Any:
    """``headers[name]`` case-insensitively: ``httpx.Headers`` and the like, or a plain dict."""
    if headers is None:
        return None
    if isinstance(headers, dict):
        value = headers.get(name)
        if value is not None:
            return value
        for key, value in headers.items():
            if str(key).lower() == name:
                return value
        return None
    getter = getattr(headers, "get", None)
    return getter(name) if callable(getter) else None


def retry_after(headers: Mapping[str, Any] | Any, *, now: float | None = None) -> float | None:
    """The wait a response's headers ask for: ``retry-after-ms`` (OpenAI and Azure send it) when
    readable, else ``Retry-After`` (:func:`parse_retry_after`). None when neither is usable."""
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms:
        try:
            ms = float(raw_ms)
        except (TypeError, ValueError):
            ms = math.nan
        if math.isfinite(ms):
            return max(0.0, ms / 1000.0)
    raw = _header(headers, "retry-after")
    return parse_retry_after(str(raw) if raw is not None else None, now=now)


# ----------------------------------------------------------------------------- status -> error
def retryable_status(status: int, *, statuses: Collection[int] = RETRY_STATUSES, server_errors: bool = True) -> bool:
    """Whether a retry may fix ``status``: one of ``statuses``, or any 5xx when ``server_errors``."""
    return status in statuses or (server_errors and status >= 500)


def attempts_text(attempts: int | None) -> str:
    """``" after 3 attempts"`` / ``" after 1 attempt"``; ``""`` for None."""
    if attempts is None:
        return ""
    return f" after {attempts} attempt{'s' if attempts != 1 else ''}"


def body_snippet(body: Any, limit: int = 300) -> str:
    """The server's message from an error body: a JSON object's ``error.message`` / ``message`` /
    ``error`` / ``detail``, else the text, cut at ``limit`` characters."""
    if isinstance(body, dict):
        err = body.get("error", None)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        for key in ("message", "error", "detail"):
            if body.get(key):
                return str(body[key])
        return str(body)[:limit]
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body is None:
        return ""
    text = str(body).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _with_hint(hint: str | None, msg: str) -> str:
    return f"{hint}. Server said: {msg}" if hint else msg


def status_error(
    status: int,
    message: str = "",
    *,
    provider: str,
    who: str,
    url: str,
    attempts: int | None = None,
    credential: str = "api key",
    key_hint: str | None = None,
    forbidden_hint: str | None = None,
    not_found_hint: str | None = None,
) -> ProviderError:
    """The :class:`ProviderError` for an HTTP error answer.

    :param message: what the server said (see :func:`body_snippet`).
    :param who: the failing part, first in the message (``"llm"``, ``"groq embedder"``, ``"query"``).
    :param url: where the request went.
    :param attempts: how many attempts were made (said for the statuses that were retried).
    :param key_hint: where the credential is set (``"OPENAI_API_KEY or llm.config.api_key"``).
    :param forbidden_hint, not_found_hint: what to check on a 403 / 404.

    401/498 (the credential), 403, 404 and other 4xx are not retryable; 408, 429 and 5xx are
    (after the policy's retries the caller may still retry the whole operation later).
    """
    tries = attempts_text(attempts)
    if status in AUTH_STATUSES:
        where = f" ({key_hint})" if key_hint else ""
        err = ProviderError(provider, f"{who}: authentication failed ({status}) at {url}: check the {credential}"
                                      f"{where}. Server said: {message}")
    elif status == 403:
        err = ProviderError(provider, f"{who}: permission denied (403) at {url}: {_with_hint(forbidden_hint, message)}")
    elif status == 404:
        err = ProviderError(provider, f"{who}: not found (404) at {url}: {_with_hint(not_found_hint, message)}")
    elif status == 408:
        err = ProviderError(provider, f"{who}: request timed out on the server (408){tries} at {url}: {message}",
                            retryable=True)
    elif status == 429:
        err = ProviderError(provider, f"{who}: rate limited (429){tries}: {message}", retryable=True)
    elif status >= 500:
        err = ProviderError(provider, f"{who}: server error {status}{tries} at {url}: {message}", retryable=True)
    else:
        err = ProviderError(provider, f"{who}: request rejected ({status}) by {url}: {message}")
    err.status = status  # type: ignore[attr-defined]
    return err


def timeout_error(*, provider: str, who: str, url: str, timeout: float, attempts: int | None = None) -> ProviderError:
    """One request ran past its own ``timeout`` (retryable)."""
    return ProviderError(provider, f"{who}: request to {url} timed out (timeout {timeout:g}s){attempts_text(attempts)}",
                         retryable=True)


def unreachable_error(*, provider: str, who: str, url: str, attempts: int | None = None, detail: str = "",
                      local: bool = False) -> ProviderError:
    """The server could not be reached (refused, reset, DNS...); ``local`` adds "Is the server running?"."""
    local = local or "localhost" in url or "127.0.0.1" in url
    hint = " Is the server running?" if local else ""
    return ProviderError(provider, f"{who}: server at {url} is unreachable{attempts_text(attempts)}{detail}.{hint}",
                         retryable=True)


class BudgetSpent(Exception):
    """The call's time budget ran out (raised inside :meth:`RetryPolicy.run`, handed to its
    ``describe``; :func:`budget_error` says it)."""

    def __init__(self, budget: float | None, cause: BaseException | None = None) -> None:
        self.budget = budget
        self.cause = cause
        super().__init__(f"time budget of {budget:g}s spent" if budget else "time budget spent")


def budget_error(exc: BudgetSpent, *, provider: str, who: str, url: str, attempts: int,
                 deadline_field: str = "config.deadline") -> ProviderTimeoutError:
    """A :class:`ProviderTimeoutError` for a spent budget: the call's own deadline (named by its
    config field) or the operation's (``operation_timeout_secs``)."""
    within = f"its {exc.budget:g}s deadline ({deadline_field})" if exc.budget else \
        "the operation's time budget (operation_timeout_secs)"
    cause = exc.cause
    last = f"; last error: {type(cause).__name__}" if isinstance(cause, Exception) and \
        not isinstance(cause, TimeoutError) else ""
    return ProviderTimeoutError(provider, f"{who}: no answer from {url} within {within}{attempts_text(attempts)}{last}")


# ------------------------------------------------------------------------------------ retries
def _never(exc: BaseException) -> None:
    return None


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError)


class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, honouring ``Retry-After`` and the time budget.

    :param max_retries: retries after the first attempt (so at most ``1 + max_retries`` attempts).
    :param backoff: first backoff in seconds; doubles per retry, capped by ``max_backoff``; each wait
        is the backoff times a jitter factor in [0.75, 1].
    :param deadline: seconds for the whole call, retries included (None: none of its own); the
        operation's budget bounds it further.
    :param attempt_timeout: seconds per attempt (None: only the budget bounds one); an attempt that
        runs past it raises :class:`TimeoutError`, which ``retryable`` may retry.
    :param max_retry_after: the longest ``Retry-After`` honoured.
    :param over_cap: a longer one: ``"fail"`` (not waited for: the call fails at once with the
        server's answer) or ``"clamp"`` (wait ``max_retry_after``).
    :param name: in the debug log line of each retry.

    ``sleep`` is an attribute so tests can record the waits instead of waiting.
    """

    __slots__ = ("attempt_timeout", "backoff", "deadline", "max_backoff", "max_retries", "max_retry_after",
                 "name", "on_retry", "over_cap", "sleep")

    def __init__(
        self,
        *,
        max_retries: int,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
        over_cap: Literal["fail", "clamp"] = "fail",
        name: str = "http",
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        on_retry: Callable[[BaseException, int, int, float], None] | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.deadline = deadline
        self.attempt_timeout = attempt_timeout
        self.max_retry_after = max_retry_after
        self.over_cap = over_cap
        self.name = name
        self.sleep: Callable[[float], Awaitable[Any]] = sleep or asyncio.sleep
        self.on_retry = on_retry
        """Called as ``on_retry(exc, attempt, attempts, wait)`` before each wait (default: a debug line)."""

    def delay(self, attempt: int, hinted: float | None = None) -> float | None:
        """Seconds before retry ``attempt + 1`` (``attempt`` counts from 0): the server's hint when
        given (None when it is over the cap and ``over_cap`` is ``"fail"``), else the backoff."""
        if hinted is not None and math.isfinite(hinted):
            if hinted > self.max_retry_after:
                return None if self.over_cap == "fail" else self.max_retry_after
            return max(0.0, hinted)
        base = min(self.max_backoff, self.backoff * 2.0**attempt)
        return base * (0.75 + 0.25 * random.random())  # noqa: S311 - jitter, not crypto

    def _left(self, end: float | None) -> tuple[float | None, float | None]:
        """(seconds left, the budget they are left of): the nearer of this call's own deadline and the
        operation's; (None, None) when neither is set. The budget is None for the operation's."""
        own = None if end is None else end - time.monotonic()
        op = _budget.remaining()
        if op is None:
            return own, (None if own is None else self.deadline)
        if own is not None and own <= op:
            return own, self.deadline
        return op, None

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        retryable: Callable[[BaseException], bool],
        describe: Callable[[BaseException, int], BaseException],
        hint: Callable[[BaseException], float | None] = _never,
        is_timeout: Callable[[BaseException], bool] = _is_timeout,
        on_retry: Callable[[BaseException, int, int, float], None] | None = None,
    ) -> T:
        """Await ``call()`` until it returns, retrying the failures ``retryable`` accepts.

        :param describe: ``(exc, attempts) -> exception`` to raise when giving up (a
            :class:`BudgetSpent` when the budget ran out; see :func:`budget_error`); returning
            ``exc`` itself re-raises it unchanged. A ``ProviderError`` the call raised and that is
            not retried is raised as it is.
        :param hint: the server's ``Retry-After`` in a failure (e.g. ``retry_after(exc.response.headers)``).
        :param is_timeout: whether a failure is a request timeout: when there is no time left for the
            next attempt, it is described as the spent budget rather than as itself.
        :param on_retry: this call's ``on_retry`` (default: the policy's).
        """
        attempt = 0
        end = None if self.deadline is None else time.monotonic() + self.deadline
        on_retry = on_retry or self.on_retry
        while True:
            left, budget = self._left(end)
            try:
                limit = self.attempt_timeout
                if left is None and limit is None:  # the common case: nothing to bound
                    return await call()
                if left is not None:
                    if left <= 0:
                        raise BudgetSpent(budget)
                    by_budget = limit is None or left <= limit
                    limit = left if by_budget else limit
                else:
                    by_budget = False
                scope = asyncio.timeout(limit)
                try:
                    async with scope:
                        return await call()
                except TimeoutError as exc:
                    if not scope.expired():
                        raise
                    if by_budget:  # the budget ran out mid-request: not retried
                        raise BudgetSpent(budget, exc) from exc
                    raise  # the attempt's own timeout: a failure like any other
            except BudgetSpent as exc:
                raise describe(exc, attempt + 1) from exc.cause
            except Exception as exc:
                if attempt < self.max_retries and retryable(exc):
                    wait = self.delay(attempt, hint(exc))
                    if wait is not None:
                        after, budget = self._left(end)
                        if after is not None and after <= wait:  # no time for another try
                            failed = BudgetSpent(budget, exc) if is_timeout(exc) else exc
                            err = describe(failed, attempt + 1)
                            if err is exc:
                                raise
                            raise err from exc
                        attempt += 1
                        if on_retry is not None:
                            on_retry(exc, attempt, self.max_retries + 1, wait)
                        else:
                            log.debug("%s: %s (%.200s); retry %d/%d in %.2fs", self.name, type(exc).__name__, exc,
                                      attempt, self.max_retries, wait)
                        await self.sleep(wait)
                        continue
                if isinstance(exc, ProviderError):
                    raise
                err = describe(exc, attempt + 1)
                if err is exc:  # the plugin's own exception, kept as it is
                    raise
                raise err from exc


class HttpRetryConfig(ProviderConfig):
    """The fields that bound an HTTP provider's calls, for its ``Config`` to inherit (with
    :meth:`retry_policy` building the matching :class:`RetryPolicy`)."""

    timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request.")
    deadline: float | None = Field(
        60.0, gt=0,
        description="Time budget in seconds of one call, retries included. None: only timeout x (1 + max_retries).",
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 408/409/429/5xx, connection errors, timeouts.")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles, with jitter).")
    retry_max_backoff: float = Field(8.0, ge=0, description="Cap of one backoff, in seconds.")

    def retry_policy(self, name: str) -> RetryPolicy:
        """The :class:`RetryPolicy` these fields describe (``name`` in its log lines)."""
        return RetryPolicy(max_retries=self.max_retries, backoff=self.retry_backoff,
                           max_backoff=self.retry_max_backoff, deadline=self.deadline, name=name)


__all__ = [
    "AUTH_STATUSES",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "BudgetSpent",
    "HttpRetryConfig",
    "RetryPolicy",
    "attempts_text",
    "body_snippet",
    "budget_error",
    "parse_retry_after",
    "retry_after",
    "retryable_status",
    "status_error",
    "timeout_error",
    "unreachable_error",
]
