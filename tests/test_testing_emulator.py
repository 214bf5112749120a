"""mem7_core.testing.emulator: the loopback plumbing every hosted provider's emulator stands on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mem7_core.testing.emulator import INVALID_JSON, ApiError, LoopbackEmulator, Recorded, Reply


class Echo(LoopbackEmulator):
    name = "echo"
    fault_paths = ("/v1/echo",)

    def reject(self, rec: Recorded) -> Reply | None:
        if rec.headers.get("authorization") != "Bearer k":
            return 401, {"message": "bad key"}, {}
        return None

    def answer(self, rec: Recorded) -> Reply:
        if rec.path == "/v1/boom":
            raise RuntimeError("emulator bug")
        if (rec.method, rec.path) != ("POST", "/v1/echo"):
            return self.not_found(rec)
        return 200, {"echo": rec.body, "query": rec.query}, {"X-Seen": "1"}


@pytest.fixture
def echo() -> Iterator[Echo]:
    with Echo() as emu:
        yield emu


def post(emu: Echo, path: str = "/v1/echo", key: str = "k", **kw: Any) -> httpx.Response:
    return httpx.post(f"{emu.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=5, **kw)


def test_answers_and_records(echo: Echo) -> None:
    r = post(echo, "/v1/echo?x=1", json={"a": 1})
    assert r.status_code == 200 and r.json() == {"echo": {"a": 1}, "query": "x=1"}
    assert r.headers["x-seen"] == "1" and r.headers["content-type"] == "application/json"
    rec = echo.last()
    assert (rec.method, rec.path, rec.body, rec.status) == ("POST", "/v1/echo", {"a": 1}, 200)
    assert echo.count("/v1/echo") == 1 and echo.count(method="GET") == 0


def test_a_body_that_is_not_json_is_recorded_as_such(echo: Echo) -> None:
    # The echo cannot serialise the marker back: an emulator error, kept and answered 500.
    assert post(echo, content=b"{nope").status_code == 500
    assert echo.last().body is INVALID_JSON and echo.last().raw == b"{nope"
    assert len(echo.errors) == 1 and isinstance(echo.errors[0], TypeError)


def test_reject_comes_before_a_queued_fault(echo: Echo) -> None:
    echo.fail_next(1, 503)
    assert post(echo, key="wrong").status_code == 401
    r = post(echo, json={})
    assert r.status_code == 503 and r.json() == {"message": "injected 503"}
    assert post(echo, json={}).status_code == 200


def test_faults_apply_only_to_their_paths_and_in_order(echo: Echo) -> None:
    echo.fail_next(2, 429, retry_after=0)
    echo.malformed_next()
    assert post(echo, "/v1/other").status_code == 404  # not a faulted path: the queue is untouched
    first, second = post(echo, json={}), post(echo, json={})
    assert (first.status_code, second.status_code) == (429, 429) and first.headers["retry-after"] == "0"
    assert post(echo, json={}).content == echo.malformed_body
    echo.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        post(echo, json={})
    echo.slow_next(delay=0.01)
    assert post(echo, json={}).status_code == 200


def test_a_handler_error_is_kept_and_answered_500(echo: Echo) -> None:
    assert post(echo, "/v1/boom").status_code == 500
    assert len(echo.errors) == 1 and isinstance(echo.errors[0], RuntimeError)


def test_url_before_start_says_how() -> None:
    with pytest.raises(RuntimeError, match="start"):
        Echo().url  # noqa: B018


class Strict(LoopbackEmulator):
    """Refuses from inside validation with ApiError; numbers its answers."""

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message}}

    def fault_body(self, status: int) -> Any:
        return self.error_body(status, "slow down" if status == 429 else "boom")

    def extra_headers(self, rec: Recorded) -> dict[str, str]:
        return {"request-id": f"req_{rec.seq}"}

    def reject(self, rec: Recorded) -> Reply | None:
        if "x-version" not in rec.headers:
            raise ApiError("x-version: header is required")
        return None

    def answer(self, rec: Recorded) -> Reply:
        if not isinstance(rec.body, dict) or "n" not in rec.body:
            raise ApiError("n: Field required", 422)
        return 200, {"n": rec.body["n"]}, {}


def test_api_errors_extra_headers_and_fault_bodies() -> None:
    with Strict() as emu:
        r = httpx.post(emu.url, json={"n": 1})
        assert r.status_code == 400 and r.json() == {"error": {"code": 400, "message": "x-version: header is required"}}
        h = {"x-version": "1"}
        r = httpx.post(emu.url, json={}, headers=h)
        assert r.status_code == 422 and r.json()["error"]["message"] == "n: Field required"
        emu.fail_next(1, 429)
        r = httpx.post(emu.url, json={"n": 2}, headers=h)
        assert r.status_code == 429 and r.json()["error"]["message"] == "slow down"
        r = httpx.post(emu.url, json={"n": 3}, headers=h)
        assert r.json() == {"n": 3} and r.headers["request-id"] == "req_4"
        assert [rec.seq for rec in emu.requests] == [1, 2, 3, 4] and not emu.errors
