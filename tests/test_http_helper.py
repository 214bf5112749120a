"""mem7_core.providers.http: Retry-After parsing, HTTP status -> ProviderError, and the retry policy
(attempt counts, which failures retry, backoff, Retry-After honoured or refused, time budget)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from mem7_core.errors import ProviderError, ProviderTimeoutError
from mem7_core.providers import deadline
from mem7_core.providers.http import (
    BudgetSpent,
    RetryPolicy,
    body_snippet,
    budget_error,
    parse_retry_after,
    retry_after,
    retryable_status,
    status_error,
)

NOW = 1_700_000_000.0


# ------------------------------------------------------------------------------- Retry-After
@pytest.mark.parametrize(("raw", "want"), [
    ("120", 120.0), ("0", 0.0), (" 0.25 ", 0.25), (3, 3.0), (1.5, 1.5), ("-5", 0.0),
    (None, None), ("", None), ("soon", None), ("nan", None), ("inf", None), (True, None),
])
def test_parse_retry_after_delta_seconds(raw: Any, want: float | None) -> None:
    assert parse_retry_after(raw, now=NOW) == want


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(NOW + 30, usegmt=True)  # "Tue, 14 Nov 2023 22:13:50 GMT"
    assert parse_retry_after(future, now=NOW) == pytest.approx(30.0)
    past = email.utils.formatdate(NOW - 600, usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0  # a date gone by: no wait, never negative
    assert parse_retry_after("Wed, 32 Foo 2015 07:28:00 GMT", now=NOW) is None


def test_retry_after_from_headers() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0  # a plain dict, any case
    assert retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25  # the ms form wins
    assert retry_after({"retry-after-ms": "junk", "retry-after": "7"}) == 7.0
    assert retry_after({}) is None and retry_after(None) is None

    class Headers:  # httpx.Headers-like: case-insensitive get
        def get(self, name: str) -> str | None:
            return {"retry-after": "2"}.get(name.lower())

    assert retry_after(Headers()) == 2.0


# ---------------------------------------------------------------------------- status mapping
@pytest.mark.parametrize(("status", "retryable"), [
    (408, True), (409, True), (429, True), (500, True), (503, True), (599, True),
    (400, False), (401, False), (403, False), (404, False), (422, False),
])
def test_retryable_status(status: int, retryable: bool) -> None:
    assert retryable_status(status) is retryable


def test_retryable_status_sets_of_a_plugin() -> None:
    assert not retryable_status(500, statuses={429, 503}, server_errors=False)
    assert retryable_status(503, statuses={429, 503}, server_errors=False)
    assert not retryable_status(409, statuses={408, 429})


@pytest.mark.parametrize(("status", "pattern", "retryable"), [
    (401, r"\[p\] llm: authentication failed \(401\) at http://h: check the api key \(K or llm.config.api_key\)\. "
          r"Server said: nope", False),
    (498, r"authentication failed \(498\)", False),
    (403, r"llm: permission denied \(403\) at http://h: nope$", False),
    (404, r"llm: not found \(404\) at http://h: check the model\. Server said: nope", False),
    (408, r"llm: request timed out on the server \(408\) after 3 attempts at http://h: nope", True),
    (429, r"llm: rate limited \(429\) after 3 attempts: nope", True),
    (502, r"llm: server error 502 after 3 attempts at http://h: nope", True),
    (400, r"llm: request rejected \(400\) by http://h: nope", False),
])
def test_status_error(status: int, pattern: str, retryable: bool) -> None:
    err = status_error(status, "nope", provider="p", who="llm", url="http://h", attempts=3,
                       key_hint="K or llm.config.api_key", not_found_hint="check the model")
    assert type(err) is ProviderError and err.provider == "p"
    assert err.retryable is retryable
    assert err.status == status  # type: ignore[attr-defined]
    import re

    assert re.search(pattern, str(err)), str(err)


def test_status_error_hints() -> None:
    err = status_error(403, "ro", provider="u", who="upsert", url="http://h", forbidden_hint="the token may be read-only")
    assert str(err) == "[u] upsert: permission denied (403) at http://h: the token may be read-only. Server said: ro"
    err = status_error(401, "bad", provider="u", who="q", url="http://h", credential="REST token", key_hint="T")
    assert "check the REST token (T). Server said: bad" in str(err)
    assert "after" not in str(status_error(500, "x", provider="u", who="q", url="http://h"))  # attempts unknown


def test_body_snippet() -> None:
    assert body_snippet({"error": {"message": "deep"}}) == "deep"
    assert body_snippet({"message": "m", "detail": "d"}) == "m"
    assert body_snippet({"detail": "d"}) == "d"
    assert body_snippet(b" text ") == "text"
    assert body_snippet("x" * 400) == "x" * 300 + "…"
    assert body_snippet(None) == ""


def test_budget_error() -> None:
    own = budget_error(BudgetSpent(5.0, ConnectionError("x")), provider="p", who="llm", url="http://h", attempts=2,
                       deadline_field="llm.config.deadline")
    assert isinstance(own, ProviderTimeoutError) and own.retryable
    assert str(own) == ("[p] llm: no answer from http://h within its 5s deadline (llm.config.deadline) after 2 "
                        "attempts; last error: ConnectionError")
    op = budget_error(BudgetSpent(None, TimeoutError()), provider="p", who="llm", url="http://h", attempts=1)
    assert "within the operation's time budget (operation_timeout_secs) after 1 attempt" in str(op)
    assert "last error" not in str(op)


# ------------------------------------------------------------------------------------ policy
class Status(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = {"retry-after": retry_after} if retry_after is not None else {}


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or (isinstance(exc, Status) and retryable_status(exc.status))


def _hint(exc: BaseException) -> float | None:
    return retry_after(exc.headers) if isinstance(exc, Status) else None


def _describe(exc: BaseException, attempts: int) -> BaseException:
    if isinstance(exc, BudgetSpent):
        return budget_error(exc, provider="t", who="call", url="http://h", attempts=attempts)
    if isinstance(exc, Status):
        return status_error(exc.status, "", provider="t", who="call", url="http://h", attempts=attempts)
    return ProviderError("t", f"call: {type(exc).__name__} after {attempts}")


class Script:
    """A call failing with the given exceptions in turn, then answering "ok"; counts the attempts."""

    def __init__(self, *failures: BaseException, delay: float = 0.0) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> str:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def policy(**kw: Any) -> tuple[RetryPolicy, list[float]]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    p = RetryPolicy(**{"max_retries": 2, "backoff": 0.1, "max_backoff": 0.3, "sleep": record, **kw})
    return p, waits


async def run(p: RetryPolicy, call: Script) -> Any:
    return await p.run(call, retryable=_retryable, describe=_describe, hint=_hint)


async def test_retries_then_succeeds_with_growing_jittered_backoff() -> None:
    p, waits = policy(max_retries=3)
    call = Script(Status(503), Status(502), Status(500))
    assert await run(p, call) == "ok"
    assert call.calls == 4 and len(waits) == 3
    assert 0.075 <= waits[0] <= 0.1 and 0.15 <= waits[1] <= 0.2 and 0.225 <= waits[2] <= 0.3  # capped at 0.3


async def test_bounded_attempts_then_the_described_error() -> None:
    p, waits = policy(max_retries=2)
    call = Script(*[Status(429, "0")] * 5)
    with pytest.raises(ProviderError, match=r"rate limited \(429\) after 3 attempts") as info:
        await run(p, call)
    assert call.calls == 3 and waits == [0.0, 0.0] and info.value.retryable
    assert isinstance(info.value.__cause__, Status)


async def test_zero_retries_is_one_attempt() -> None:
    p, waits = policy(max_retries=0)
    call = Script(Status(503))
    with pytest.raises(ProviderError, match="after 1 attempt at"):
        await run(p, call)
    assert call.calls == 1 and waits == []


async def test_only_retryable_failures_are_retried() -> None:
    p, waits = policy()
    call = Script(Status(400))
    with pytest.raises(ProviderError, match=r"rejected \(400\)"):
        await run(p, call)
    assert call.calls == 1 and waits == []
    own = ProviderError("t", "the plugin's own", retryable=False)
    call = Script(own)
    with pytest.raises(ProviderError) as info:
        await run(p, call)
    assert info.value is own and call.calls == 1  # raised as it is, not described again


async def test_retry_after_is_honoured() -> None:
    p, waits = policy()
    call = Script(Status(429, "1.5"), Status(429, "0.25"))
    assert await run(p, call) == "ok"
    assert waits == [1.5, 0.25]


async def test_retry_after_over_the_cap_fails_at_once_or_is_clamped() -> None:
    p, waits = policy(max_retry_after=60.0)
    call = Script(Status(429, "3600"))
    with pytest.raises(ProviderError, match=r"rate limited \(429\) after 1 attempt"):
        await run(p, call)
    assert call.calls == 1 and waits == []
    p, waits = policy(max_retry_after=10.0, over_cap="clamp")
    call = Script(Status(429, "3600"))
    assert await run(p, call) == "ok"
    assert waits == [10.0]


async def test_the_operation_budget_bounds_the_attempt() -> None:
    p, waits = policy(max_retries=5)
    call = Script(delay=5.0)
    started = time.monotonic()
    with deadline.budget(0.2), pytest.raises(ProviderTimeoutError, match=r"operation's time budget.*after 1 attempt"):
        # TimeoutError is not retryable here: the policy itself must say the budget ran out
        await p.run(call, retryable=lambda exc: isinstance(exc, Status), describe=_describe)
    assert time.monotonic() - started < 2.0
    assert call.calls == 1 and waits == []  # a request cut by the budget is not retried


async def test_own_deadline_bounds_the_call() -> None:
    p, _ = policy(max_retries=5, deadline=0.2)
    call = Script(delay=5.0)
    with pytest.raises(ProviderTimeoutError, match=r"within its 0.2s deadline"):
        await run(p, call)
    assert call.calls == 1


async def test_no_retry_when_the_backoff_outlasts_the_budget() -> None:
    p, waits = policy(max_retries=5)
    call = Script(Status(503, "5"))
    with deadline.budget(1.0), pytest.raises(ProviderError, match=r"server error 503 after 1 attempt") as info:
        await run(p, call)
    assert call.calls == 1 and waits == []  # the server's own answer, not a wait past the budget
    assert not isinstance(info.value, ProviderTimeoutError)


async def test_a_timeout_with_no_time_left_is_the_spent_budget() -> None:
    p, waits = policy(max_retries=5)
    call = Script(TimeoutError(), TimeoutError())
    with deadline.budget(0.05), pytest.raises(ProviderTimeoutError, match="after 1 attempt"):
        await p.run(call, retryable=_retryable, describe=_describe, hint=lambda e: 1.0)
    assert call.calls == 1 and waits == []


async def test_a_spent_budget_makes_no_request() -> None:
    p, _ = policy()
    call = Script()
    with deadline.budget(0.01):
        await asyncio.sleep(0.02)
        with pytest.raises(ProviderTimeoutError):
            await run(p, call)
    assert call.calls == 0


async def test_attempt_timeout_is_a_retryable_failure() -> None:
    p, waits = policy(max_retries=1, attempt_timeout=0.05)
    call = Script(delay=1.0)
    with pytest.raises(ProviderError, match="TimeoutError after 2") as info:
        await run(p, call)
    assert not isinstance(info.value, ProviderTimeoutError)
    assert call.calls == 2 and len(waits) == 1


async def test_on_retry_sees_every_retry() -> None:
    p, _ = policy(max_retries=3)
    seen: list[tuple[str, int, int]] = []
    call = Script(Status(503), Status(429, "0"))
    await p.run(call, retryable=_retryable, describe=_describe, hint=_hint,
                on_retry=lambda exc, n, total, wait: seen.append((str(exc), n, total)))
    assert seen == [("HTTP 503", 1, 4), ("HTTP 429", 2, 4)]


def test_delay_without_hint_is_capped_jittered_backoff() -> None:
    p = RetryPolicy(max_retries=9, backoff=1.0, max_backoff=4.0)
    for attempt, base in ((0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)):
        for _ in range(50):
            assert 0.75 * base <= p.delay(attempt) <= base  # type: ignore[operator]
    assert p.delay(0, float("nan")) is not None  # an unreadable hint: the backoff
