"""The direct transport's two HTTP backends (``http_backend``: ``aiohttp``, the default, and ``httpx``)
on the wire: the same bytes, the same answers and errors, and what aiohttp leaves to the client's
``httpx2`` client (environment proxies, redirects).

A raw asyncio server records every request byte for byte (``Wire``): the loopback OpenAI server
parses what it receives, so header order and case would not show there.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mem7_core.errors import ProviderError
from mem7_openai import OpenAIEmbedder, OpenAILLM
from mem7_openai._client import shared_ssl_context

BACKENDS = ("httpx", "aiohttp")

Answer = Callable[[bytes, bytes], bytes]  # (request head, body) -> the whole raw answer


def _json_answer(obj: Any, *, extra: str = "", encode: Callable[[bytes], bytes] | None = None) -> bytes:
    body = json.dumps(obj).encode()
    if encode is not None:
        body = encode(body)
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


def _chat(content: str) -> Any:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}


@dataclass
class Wire:
    """A raw HTTP/1.1 server on loopback: records each request's head and body as received."""

    answer: Answer = field(default=lambda head, body: _json_answer(_chat("ok")))
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                writer.write(self.answer(head, body))
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    w = Wire()
    server = await asyncio.start_server(w.handle, "127.0.0.1", 0)
    w.port = server.sockets[0].getsockname()[1]
    yield w
    await _stop(server, w.writers)


async def _stop(server: asyncio.Server, writers: list[asyncio.StreamWriter]) -> None:
    """Stop listening and end the open connections (their handlers see EOF and return)."""
    server.close()
    for writer in writers:
        writer.close()
    await asyncio.sleep(0.01)


def _llm(url: str, backend: str, **extra: Any) -> OpenAILLM:
    llm: OpenAILLM = OpenAILLM.from_config({"api_key": "k", "base_url": url, "transport": "direct", "http_backend": backend,
                                  "max_retries": 0, **extra})
    return llm


async def _ask(llm: OpenAILLM, i: int = 0) -> str | None:
    return (await llm.generate([{"role": "user", "content": f"json please {i}"}], response_format="json")).content


@pytest.mark.parametrize("alias", ["openai", "azure"])
@pytest.mark.parametrize("kind", ["llm", "embedder"])
async def test_aiohttp_sends_the_bytes_httpx_sends(wire: Wire, kind: str, alias: str) -> None:
    """Request line, every header in its order and case, and the body: byte for byte the same."""
    if alias == "azure":
        conn: dict[str, Any] = {"api_key": "k", "azure_endpoint": f"http://127.0.0.1:{wire.port}",
                                "azure_deployment": "dep", "api_version": "2024-08-01-preview"}
    else:
        conn = {"api_key": "k", "base_url": wire.url, "organization": "org-1", "default_headers": {"X-Tenant": "t1"}}
    if kind == "embedder":
        conn["embedding_dims"] = 2
        wire.answer = lambda head, body: _json_answer(
            {"object": "list", "model": "m", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}]})
    sent: dict[str, list[tuple[bytes, bytes]]] = {}
    for backend in BACKENDS:
        cls = OpenAILLM if kind == "llm" else OpenAIEmbedder
        provider: Any = cls.from_config({**conn, "transport": "direct", "http_backend": backend}, selected_as=alias)
        wire.requests.clear()
        for i in range(2):
            if kind == "llm":
                assert await _ask(provider, i) == "ok"
            else:
                assert await provider.embed([f"text {i}"]) == [[0.5, 0.25]]
        assert provider._http.direct_calls == 2
        assert provider._http.aiohttp_calls == (2 if backend == "aiohttp" else 0)
        sent[backend] = list(wire.requests)
        await provider.aclose()
    assert sent["aiohttp"] == sent["httpx"]
    head = sent["aiohttp"][0][0]
    assert head.startswith(b"POST /openai/deployments/dep/" if alias == "azure" else b"POST /v1/")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_gzipped_answer_is_decoded(wire: Wire, backend: str) -> None:
    wire.answer = lambda head, body: _json_answer(_chat("packed"), extra="Content-Encoding: gzip\r\n",
                                                  encode=gzip.compress)
    llm = _llm(wire.url, backend)
    assert await _ask(llm) == "packed"
    assert b"accept-encoding: gzip" in wire.requests[0][0].lower()
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_answer_with_a_long_header_line_is_read(wire: Wire, backend: str) -> None:
    """A 10 KB header line (a long trace or policy header): httpx2 reads it, so aiohttp must too."""
    wire.answer = lambda head, body: _json_answer(_chat("long"), extra=f"X-Trace: {'a' * 10_000}\r\n")
    llm = _llm(wire.url, backend)
    assert await _ask(llm) == "long"
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_calls_reuse_one_keep_alive_connection(wire: Wire, backend: str) -> None:
    llm = _llm(wire.url, backend)
    for i in range(5):
        await _ask(llm, i)
    assert wire.connections == 1 and len(wire.requests) == 5
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_cookies_the_server_sets_are_not_sent_back(wire: Wire, backend: str) -> None:
    """The direct transport resends a request built once, so the client's cookie jar never adds to
    it (``httpx2`` adds cookies when it builds a request, not in ``send()``): aiohttp keeps none either,
    so both backends send the same bytes after a ``Set-Cookie`` too."""
    wire.answer = lambda head, body: _json_answer(_chat("ok"), extra="Set-Cookie: lb=node-3; Path=/\r\n")
    llm = _llm(wire.url.replace("127.0.0.1", "localhost"), backend)
    await _ask(llm, 0)
    await _ask(llm, 1)
    assert len(wire.requests) == 2 and all(b"cookie" not in head.lower() for head, _ in wire.requests)
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_redirect_is_followed_with_the_body(wire: Wire, backend: str) -> None:
    """A 307 is followed by the client (from aiohttp's answer on that backend): same method and body."""

    def answer(head: bytes, body: bytes) -> bytes:
        if head.startswith(b"POST /v1/chat/completions "):
            return b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/chat/completions\r\nContent-Length: 0\r\n\r\n"
        return _json_answer(_chat("moved"))

    wire.answer = answer
    llm = _llm(wire.url, backend)
    assert await _ask(llm) == "moved"
    assert [h.split(b" ")[1] for h, _ in wire.requests] == [b"/v1/chat/completions", b"/v2/chat/completions"]
    assert wire.requests[0][1] == wire.requests[1][1]
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_environment_proxy_is_honoured(wire: Wire, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``HTTP_PROXY``: the request goes to the proxy (absolute-form target); on the aiohttp backend
    the client's own httpx2 client sends it, exactly as before."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{wire.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    llm = _llm("http://api.example.invalid/v1", backend)
    assert await _ask(llm) == "ok"
    assert wire.requests[0][0].startswith(b"POST http://api.example.invalid/v1/chat/completions HTTP/1.1")
    assert llm._http.direct_calls == 1 and llm._http.aiohttp_calls == 0
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_status_errors_are_the_clients_typed_errors(wire: Wire, backend: str) -> None:
    """A 429 with a gzipped error body: the client's ``RateLimitError`` with the server's message and
    ``Retry-After``, whichever backend received it."""
    import openai

    err = gzip.compress(json.dumps({"error": {"message": "slow down", "type": "rate"}}).encode())
    wire.answer = lambda head, body: (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Retry-After: 3\r\nContent-Length: " + str(len(err)).encode() + b"\r\n\r\n" + err)
    llm = _llm(wire.url, backend)
    with pytest.raises(ProviderError, match="slow down") as info:
        await _ask(llm)
    cause = info.value.__cause__
    assert isinstance(cause, openai.RateLimitError)
    assert cause.response.headers["retry-after"] == "3" and cause.body == {"message": "slow down", "type": "rate"}
    await llm.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_server_that_does_not_answer_in_time_is_a_timeout(wire: Wire, backend: str) -> None:
    """The read timeout of the config applies (APITimeoutError, 'timed out'), not a connection error."""
    import openai

    writers: list[asyncio.StreamWriter] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # never answers; returns when the connection ends

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    llm = _llm(f"http://127.0.0.1:{port}/v1", backend, timeout=0.2)
    with pytest.raises(ProviderError, match="timed out") as info:
        await _ask(llm)
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
    await llm.aclose()
    await _stop(server, writers)


async def test_aiohttp_uses_the_shared_tls_context_and_its_pool_closes_once_nobody_holds_it(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mem7_openai import _aio

    monkeypatch.setattr(_aio, "KEEPALIVE_EXPIRY", 0.05)
    llm = _llm(wire.url, "aiohttp")
    await _ask(llm)
    sender = llm._http._sender
    assert sender is not None and sender.session is not None
    assert sender.session.connector._ssl is shared_ssl_context()  # type: ignore[union-attr]
    session = sender.session
    await llm.aclose()
    assert not session.closed  # kept for the next provider of this loop, for the keep-alive expiry
    await asyncio.sleep(0.2)
    assert session.closed


async def test_providers_of_one_loop_share_connections(wire: Wire) -> None:
    """An engine built per request reuses the connections of the engines before it: a provider
    built after another was dropped (or closed, or while it lives) opens no connection of its own."""
    import gc

    first = _llm(wire.url, "aiohttp")
    assert await _ask(first) == "ok"
    session = first._http._sender.session  # type: ignore[union-attr]
    del first
    gc.collect()
    second = _llm(wire.url, "aiohttp")
    assert await _ask(second) == "ok"
    assert second._http._sender.session is session  # type: ignore[union-attr]
    emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": wire.url, "transport": "direct", "max_retries": 0,
                                      "embedding_dims": 2})
    wire.answer = lambda head, body: _json_answer({"object": "list", "model": "e", "data": [
        {"object": "embedding", "index": 0, "embedding": [0.5, 0.5]}]})
    assert await emb.embed(["x"]) == [[0.5, 0.5]]
    await second.aclose()
    third = _llm(wire.url, "aiohttp")
    wire.answer = lambda head, body: _json_answer(_chat("ok"))
    assert await _ask(third) == "ok"
    assert len(wire.requests) == 4 and wire.connections == 1
    await emb.aclose()
    await third.aclose()


async def test_a_provider_taking_a_released_pool_keeps_it_open(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    from mem7_openai import _aio

    monkeypatch.setattr(_aio, "KEEPALIVE_EXPIRY", 0.05)
    first = _llm(wire.url, "aiohttp")
    await _ask(first)
    session = first._http._sender.session  # type: ignore[union-attr]
    await first.aclose()
    second = _llm(wire.url, "aiohttp")
    await _ask(second)
    assert wire.connections == 1
    await asyncio.sleep(0.2)  # past the expiry the first release set: cancelled by the second taking it
    assert not session.closed and await _ask(second) == "ok"
    await second.aclose()
    await asyncio.sleep(0.2)
    assert session.closed


def test_the_pool_closes_when_its_loop_shuts_down() -> None:
    """Providers never closed: ``asyncio.run`` closes the pool as it ends (no "Unclosed" warning
    later); the next ``asyncio.run`` gets a pool of its own."""
    import gc
    import warnings

    from mem7_core.testing.openai_server import OpenAIServer
    from mem7_openai import _aio

    with OpenAIServer() as srv, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        async def one() -> Any:
            llm = OpenAILLM.from_config({"api_key": "k", "base_url": srv.url, "transport": "direct"})
            assert await _ask(llm) is not None
            return llm._http._sender.session  # type: ignore[union-attr]

        first = asyncio.run(one())
        assert first.closed and not [p for p in _aio._pools.values() if p.session is first]
        second = asyncio.run(one())
        assert second is not first and second.closed
        del first, second
        gc.collect()
    assert not [w for w in caught if "nclosed" in str(w.message)]


async def test_a_provider_dropped_without_aclose_leaves_no_warning(wire: Wire, caplog: pytest.LogCaptureFixture) -> None:
    """As with the httpx2 client: no "Unclosed client session" error log or ResourceWarning."""
    import gc
    import warnings

    llm = _llm(wire.url, "aiohttp")
    await _ask(llm)
    assert llm._http.aiohttp_calls == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del llm
        gc.collect()
    assert not [w for w in caught if "nclosed" in str(w.message)]
    assert "nclosed" not in caplog.text


def test_a_provider_used_from_two_event_loops_gets_a_session_on_each() -> None:
    """A session belongs to the loop that made it: a call from another loop (``asyncio.run`` twice)
    makes a new one, and the first is closed without a warning."""
    import gc
    import warnings

    from mem7_core.testing.openai_server import OpenAIServer

    with OpenAIServer() as srv, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = OpenAILLM.from_config({"api_key": "k", "base_url": srv.url, "transport": "direct"})
        sessions = []
        for _ in range(2):
            assert asyncio.run(_ask(llm)) is not None
            sessions.append(llm._http._sender.session)  # type: ignore[union-attr]
        assert sessions[0] is not sessions[1] and sessions[0].closed  # type: ignore[union-attr]
        assert llm._http.aiohttp_calls == 2
        asyncio.run(llm.aclose())
        del llm, sessions
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]


async def test_without_aiohttp_the_direct_transport_sends_through_httpx(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mem7_openai import _aio

    monkeypatch.setattr(_aio, "available", lambda: False)
    llm = _llm(wire.url, "aiohttp")
    assert await _ask(llm) == "ok"
    assert llm._http.direct_calls == 1 and llm._http.aiohttp_calls == 0
    await llm.aclose()


def test_http_backend_is_validated_and_defaults_to_aiohttp() -> None:
    from pydantic import ValidationError

    assert OpenAILLM.from_config({"api_key": "k"}).config.http_backend == "aiohttp"
    assert OpenAIEmbedder.from_config({"api_key": "k", "http_backend": "httpx"}).config.http_backend == "httpx"
    with pytest.raises(ValidationError, match="http_backend"):
        OpenAILLM.from_config({"api_key": "k", "http_backend": "requests"})


def test_a_sync_memory_closes_its_pool_when_closed(tmp_path: Any) -> None:
    """``Memory`` runs its engine on a loop of its own: closing it closes that loop's pool too."""
    from mem7_core import Memory
    from mem7_core.testing.openai_server import OpenAIServer
    from mem7_openai import _aio

    with OpenAIServer() as srv:
        conn = {"api_key": "k", "base_url": srv.url, "transport": "direct"}
        m = Memory({"llm": {"provider": "openai", "config": conn},
                    "embedder": {"provider": "openai", "config": {**conn, "embedding_dims": 1536}},
                    "vector_store": {"provider": "flat", "config": {}},
                    "history_db_path": str(tmp_path / "h.db")})
        m.add("I like tea", user_id="u", infer=False)
        pools = [p for p in _aio._pools.values() if p.loop is m._runner.loop]
        assert len(pools) == 1 and not pools[0].closed
        m.close()
        assert pools[0].closed and pools[0] not in _aio._pools.values()


def test_a_process_ending_with_its_pool_open_logs_no_unclosed_session(tmp_path: Any) -> None:
    """A loop run by hand (``run_until_complete``, never ``asyncio.run``): the provider closed, its
    pool waiting for its expiry when the process ends. Nothing is logged at exit."""
    import subprocess
    import sys

    script = tmp_path / "hand_loop.py"
    script.write_text(
        "import asyncio\n"
        "from mem7_core.testing.openai_server import OpenAIServer\n"
        "from mem7_openai import OpenAILLM\n"
        "with OpenAIServer() as srv:\n"
        "    loop = asyncio.new_event_loop()\n"
        "    llm = OpenAILLM.from_config({'api_key': 'k', 'base_url': srv.url, 'transport': 'direct'})\n"
        "    msgs = [{'role': 'user', 'content': 'json please'}]\n"
        "    print(loop.run_until_complete(llm.generate(msgs, response_format='json')).content is not None)\n"
        "    loop.run_until_complete(llm.aclose())\n"
        "    print(llm._http._sender is not None)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert "Unclosed" not in done.stderr, done.stderr  # aiohttp's "Unclosed client session" / "connector"


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="needs the openssl command")
def test_engines_built_per_request_share_one_tls_connection(tmp_path: Any) -> None:
    """Over HTTPS (the loopback server with a certificate the process trusts through
    ``SSL_CERT_FILE``): five engines built, used and closed one after another open one connection,
    so one TLS handshake, between them."""
    import subprocess
    import sys

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    script = tmp_path / "per_request.py"
    script.write_text(
        "import asyncio, ssl, sys\n"
        "from mem7_core import AsyncMemory\n"
        "from mem7_core.testing.openai_server import OpenAIServer\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
        "async def main(url):\n"
        "    conn = {'api_key': 'k', 'base_url': url}\n"
        "    cfg = {'llm': {'provider': 'openai', 'config': conn},\n"
        "           'embedder': {'provider': 'openai', 'config': {**conn, 'embedding_dims': 1536}},\n"
        "           'vector_store': {'provider': 'flat', 'config': {}}, 'history_db_path': sys.argv[3]}\n"
        "    for i in range(5):\n"
        "        mem = AsyncMemory(cfg)\n"
        "        await mem.add(f'I parked at dock {i}', user_id='u', infer=False)\n"
        "        assert (await mem.search('dock', user_id='u'))['results']\n"
        "        await mem.aclose()\n"
        "with OpenAIServer(ssl_context=ctx) as srv:\n"
        "    assert srv.url.startswith('https://')\n"
        "    asyncio.run(main(srv.url))\n"
        "    print(srv.count('embeddings'), srv.connections)\n"
    )
    done = subprocess.run([sys.executable, str(script), str(cert), str(key), str(tmp_path / "h.db")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "SSL_CERT_FILE": str(cert)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10", "1"]
    assert "Unclosed" not in done.stderr, done.stderr
