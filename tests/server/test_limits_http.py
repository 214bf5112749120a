"""The REST server's size limits over real HTTP (issue 16, finding 4): ``mem7 serve --max-body-bytes``.

A body over the limit gets 413 JSON before any route runs: with a ``Content-Length`` over it
before a byte of the body is sent, with ``Transfer-Encoding: chunked`` as soon as the body passes
it, and before JSON parsing (invalid JSON over the limit is a 413, not a 400), so the engine is
never called (nothing is stored). The engine's own limits (``limits`` config) are 422s naming the
field. The middleware itself is also driven directly as ASGI, with an app that must not be called.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serve import ServeProcess, clean_env, mem7_exe

from mem7_core.errors import ConfigError
from mem7_core.server.bodylimit import DEFAULT_MAX_BODY_BYTES, BodyLimit, resolve_max_body_bytes

LIMIT = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = clean_env(tmp_path_factory.mktemp("limits-data"), {"MEM7_LIMITS__MAX_TEXT_CHARS": "200"})
    with ServeProcess(env, ["--max-body-bytes", str(LIMIT)]) as proc:
        yield proc


def stored(server: ServeProcess, user: str) -> list[str]:
    r = httpx.get(f"{server.url}/memories", params={"user_id": user}, timeout=30)
    assert r.status_code == 200, r.text
    return [i["memory"] for i in r.json()["results"]]


def raw_exchange(server: ServeProcess, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send ``head`` then each body part on a plain socket; return everything the server answers."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed already
                break
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return answer


def test_a_body_within_the_limit_is_served(server: ServeProcess) -> None:
    r = httpx.post(f"{server.url}/memories", json={"messages": "I like tea", "user_id": "small", "infer": False}, timeout=30)
    assert r.status_code == 200, r.text
    assert stored(server, "small") == ["I like tea"]


def test_a_body_over_the_limit_gets_413_and_nothing_is_stored(server: ServeProcess) -> None:
    messages = [{"role": "user", "content": f"fact {i} " + "x" * 80} for i in range(60)]  # each under max_text_chars
    body = json.dumps({"messages": messages, "user_id": "big", "infer": False}).encode()
    assert len(body) > LIMIT
    r = httpx.post(f"{server.url}/memories", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413, r.text
    assert r.json()["limit"] == LIMIT and "--max-body-bytes" in r.json()["detail"]
    assert stored(server, "big") == []


def test_the_limit_comes_before_json_parsing(server: ServeProcess) -> None:
    r = httpx.post(f"{server.url}/memories", content=b"{" * (LIMIT + 1), headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413, r.text  # not 400 "not valid JSON": the body was never parsed


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(server: ServeProcess) -> None:
    head = (b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    answer = raw_exchange(server, head, [])  # not one byte of the 50 MB follows
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["limit"] == LIMIT


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(server: ServeProcess) -> None:
    head = (b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b" " * 1000
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // 1000 + 1)]  # no final 0-chunk
    answer = raw_exchange(server, head, parts)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_within_the_limit_is_served(server: ServeProcess) -> None:
    body = json.dumps({"messages": "chunked hello", "user_id": "chunky", "infer": False}).encode()
    head = (b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    answer = raw_exchange(server, head, [b"%x\r\n%s\r\n" % (len(body), body), b"0\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert stored(server, "chunky") == ["chunked hello"]


def test_engine_limits_are_422_naming_the_field(server: ServeProcess) -> None:
    r = httpx.post(f"{server.url}/memories", json={"messages": "t" * 201, "user_id": "long", "infer": False}, timeout=30)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "messages"] and "limits.max_text_chars" in detail["msg"]
    r = httpx.post(f"{server.url}/memories/search", json={"query": "q" * 201, "user_id": "long"}, timeout=30)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "query"]
    assert stored(server, "long") == []


def test_a_bad_max_body_bytes_stops_serve(tmp_path: Path) -> None:
    proc = subprocess.run([mem7_exe(), "serve", "--port", "0", "--max-body-bytes", "lots"], env=clean_env(tmp_path),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "--max-body-bytes" in proc.stderr


# ------------------------------------------------------------------------------------ ASGI, directly
def test_resolve_max_body_bytes() -> None:
    assert resolve_max_body_bytes(None, {}) == DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    assert resolve_max_body_bytes(None, {"MEM7_SERVER_MAX_BODY_BYTES": "2048"}) == 2048
    assert resolve_max_body_bytes(10, {"MEM7_SERVER_MAX_BODY_BYTES": "2048"}) == 10  # the flag wins
    for bad in ("0", "-5", "1.5", "lots"):
        with pytest.raises(ConfigError, match="MEM7_SERVER_MAX_BODY_BYTES"):
            resolve_max_body_bytes(None, {"MEM7_SERVER_MAX_BODY_BYTES": bad})


async def _drive(limit: int, headers: list[tuple[bytes, bytes]], parts: list[bytes]) -> tuple[list[Any], list[bytes]]:
    """Run :class:`BodyLimit` over an app that records the body it reads; returns (sent, app's bodies)."""
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    received: list[int] = []

    async def receive() -> Any:
        received.append(1)
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/memories", "headers": headers}
    await BodyLimit(app, limit)(scope, receive, send)
    return sent, seen


async def test_the_middleware_never_calls_the_app_for_a_body_over_the_limit() -> None:
    sent, seen = await _drive(10, [(b"content-length", b"11")], [b"x" * 11])
    assert seen == [] and sent[0]["status"] == 413
    sent, seen = await _drive(10, [], [b"x" * 6, b"y" * 6, b"z" * 100])  # chunked: cut at the second part
    assert seen == [] and sent[0]["status"] == 413
    sent, seen = await _drive(10, [], [b"x" * 5, b"y" * 5])  # exactly the limit: served, body intact
    assert seen == [b"x" * 5 + b"y" * 5] and sent[0]["status"] == 200
