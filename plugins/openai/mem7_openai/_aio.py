"""The ``aiohttp`` backend of the direct transport (``http_backend: aiohttp``, the default).

Why: with the direct transport the SDK builds nothing per call any more, and what is left of an
inferred add's CPU is the HTTP library under it: ``httpx2`` / ``httpcore2`` / ``h11`` / ``anyio``
cost ~0.9-1.4 ms of CPU per call on loopback, and under many calls in flight httpcore's pool makes
an O(connections) pass on every request. ``aiohttp`` (C-accelerated HTTP parser and writer, its
own keep-alive pool) sends the same request for ~0.1-0.2 ms (``bench/results/add_cpu.md``): 64
concurrent ``add(infer=True)`` are CPU-bound on one core, so that is what bounds them.

What it sends: the request the SDK built once for an endpoint (``_client._Template``), with each
call's JSON body, byte for byte what the ``httpx2`` client sends (same request line, same headers in
the same order and case, same body; ``tests/test_wire_backends.py`` compares the raw bytes): aiohttp
is told to add none of its own default headers. What it keeps from the SDK's client:

- the TLS context (the process's shared one, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured);
- the timeouts of the template (``connect`` / ``read`` / ``pool``; aiohttp has no write timeout:
  the call's time budget bounds a write);
- the connection limit (the SDK's 1,000) and keep-alive expiry (5 s); answer header lines up to
  16 KiB (h11's limit; aiohttp's own default is 8,190 bytes);
- no cookie jar: the direct transport's ``httpx2`` path resends a request built once, to which the
  client's jar never adds (it adds cookies when it builds a request), so aiohttp keeps none either;
- typed ``openai`` errors: a timeout is ``APITimeoutError``, any other transport failure (refused,
  reset, dropped, DNS) ``APIConnectionError``, a non-2xx answer the client's own status error
  (``_make_status_error_from_response``, so ``Retry-After`` and the error body read as before);
- compressed answers are decoded (only encodings aiohttp can decode are ever advertised: a
  template that advertises another one is sent by ``httpx2``).

What it leaves to the ``httpx2`` client (decided per endpoint when the template is built, or per
answer): an endpoint the environment routes through a proxy (``HTTP_PROXY`` / ``HTTPS_PROXY`` /
``ALL_PROXY`` / ``NO_PROXY``, as the client reads them) is sent by the client itself, so proxies
behave exactly as before; a redirect answer (3xx with ``Location``) is followed by the client from
that answer, as its own ``send()`` would.

One session per event loop (a session is bound to the loop that made it); closed by
``LazyClient.aclose``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    import aiohttp

log = logging.getLogger("mem7.openai")

#: The SDK's default client's limits (``openai._constants.DEFAULT_CONNECTION_LIMITS``).
MAX_CONNECTIONS = 1000
KEEPALIVE_EXPIRY = 5.0
#: The longest answer header line accepted: h11's limit for a whole header block (aiohttp's own
#: default, 8,190, would refuse answers the httpx2 client reads).
_MAX_HEAD = 16 * 1024
#: Headers aiohttp would add of its own accord; the template carries the client's (or none).
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


@dataclass(frozen=True, slots=True)
class Route:
    """What aiohttp needs to send one template: URL as sent, headers in order, timeouts."""

    url: Any  # yarl.URL, encoded as the HTTP library encoded it
    headers: Any  # multidict.CIMultiDict[str], the template's headers in their order and case
    timeout: Any  # aiohttp.ClientTimeout


def available() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        log.debug("openai: aiohttp is not installed; the direct transport sends through httpx2")
        return False
    return True


def _decodable() -> set[str]:
    from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD

    return {"gzip", "deflate", "identity"} | ({"br"} if HAS_BROTLI else set()) | ({"zstd"} if HAS_ZSTD else set())


def route(http_client: Any, url: Any, headers: Any, extensions: dict[str, Any]) -> Route | None:
    """The aiohttp route of a template, or None when the ``httpx2`` client must send it: a proxy
    applies to its URL, or it advertises an encoding aiohttp cannot decode."""
    import aiohttp
    import yarl
    from multidict import CIMultiDict

    if http_client._transport_for_url(url) is not http_client._transport:  # a proxy (or a mount) applies
        return None
    advertised = {e.split(";")[0].strip().lower() for e in headers.get("accept-encoding", "").split(",") if e.strip()}
    if not advertised <= _decodable():
        return None
    t = extensions.get("timeout") or {}
    timeout = aiohttp.ClientTimeout(total=None, connect=t.get("pool"), sock_connect=t.get("connect"),
                                    sock_read=t.get("read"))
    raw = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw)
    return Route(yarl.URL(str(url), encoded=True), raw, timeout)


class Sender:
    """One aiohttp session per event loop, and one POST through it."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session of the last call (tests read its connector), None before the first."""
        return self._session

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            import aiohttp

            _drop(self._session)  # one made on another loop: its sockets belong to that loop

            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  skip_auto_headers=_NO_AUTO_HEADERS, trust_env=False,
                                                  max_line_size=_MAX_HEAD, max_field_size=_MAX_HEAD)
            self._loop = loop
        return self._session

    async def post(self, r: Route, content: bytes, headers: Any) -> tuple[int, Any, bytes]:
        """Send; the answer's ``(status, raw headers, body)``, the body decoded as its
        ``Content-Encoding`` says. Transport errors propagate as aiohttp raises them."""
        session = self._session_here()
        async with session.post(r.url, data=content, headers=headers, timeout=r.timeout,
                                allow_redirects=False) as resp:
            return resp.status, resp.raw_headers, await resp.read()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def __del__(self) -> None:
        _drop(self._session)


def _drop(session: aiohttp.ClientSession | None) -> None:
    """Close a session's sockets now, without awaiting (a provider dropped without ``aclose()``, or a
    session left on another event loop), quietly, as the ``httpx2`` client's pool is dropped: aiohttp
    would otherwise log "Unclosed client session" and "Unclosed connector" errors when it is collected."""
    connector = None if session is None or session.closed else session.connector
    if connector is not None:
        try:
            connector._close(abort_ssl=True)  # what BaseConnector.close() does before its wait
        except Exception:  # noqa: BLE001, S110 - at worst aiohttp's own warning follows
            pass
