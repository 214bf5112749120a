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

One session per event loop, shared by every provider of the process on that loop (``Pool``): an
application that builds an engine per request or per job, and drops it, reuses the keep-alive
connections of the engines before it instead of opening new ones (a new TCP connection, and over
TLS a handshake, per engine otherwise: the original mem7 and mem0 each pay it per client). A
session is bound to the loop that made it, so the pool is per loop. ``LazyClient.aclose`` (or a
provider dropped without it) releases its share; a pool nobody holds closes after
``KEEPALIVE_EXPIRY`` (when its idle connections would have expired anyway) unless another provider
takes it first, and at the latest when its loop shuts down (``asyncio.run`` and ``Memory.close``
close their loop's async generators; the pool keeps one for that).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import AsyncIterator
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


class Pool:
    """The aiohttp session the providers of one event loop share (see the module docstring).

    ``users`` counts the senders holding it; its bookkeeping runs on its own loop (:meth:`release`
    from another thread, a sender collected by the garbage collector, is handed to the loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ssl_context: ssl.SSLContext) -> None:
        import aiohttp

        self.loop = loop
        self.ssl_context = ssl_context
        connector = aiohttp.TCPConnector(ssl=ssl_context, limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY)
        self.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             skip_auto_headers=_NO_AUTO_HEADERS, trust_env=False,
                                             max_line_size=_MAX_HEAD, max_field_size=_MAX_HEAD)
        self.users = 0
        self._expiry: asyncio.TimerHandle | None = None
        self._keeper: AsyncIterator[None] | None = None

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def start(self) -> None:
        """Be closed when the loop shuts down: an async generator left suspended here is closed by
        ``loop.shutdown_asyncgens()`` (what ``asyncio.run`` does before it closes its loop)."""
        self._keeper = self._until_shutdown()
        await anext(self._keeper)

    async def _until_shutdown(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            _forget(self)
            if not self.session.closed:
                await self.session.close()

    def acquire(self) -> None:
        self.users += 1
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def release(self) -> None:
        """One user fewer, from any thread; with none left, close after ``KEEPALIVE_EXPIRY`` unless
        taken again. A pool whose loop is closed is closed now."""
        if self.loop.is_closed():
            return self._close_now()
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:  # no loop running in this thread
            here = False
        if here:
            return self._released()
        try:
            self.loop.call_soon_threadsafe(self._released)
        except RuntimeError:  # the loop closed meanwhile
            self._close_now()

    def _released(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._expiry is None and not self.session.closed:
            self._expiry = self.loop.call_later(KEEPALIVE_EXPIRY, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        if self.users <= 0:
            self._close_now()  # idle: its connections have all expired or are about to

    def _close_now(self) -> None:
        _forget(self)
        _drop(self.session)


#: The pools in use: ``(loop, TLS context)`` → pool. Read and written under ``_pools_lock`` (providers
#: on several loops, each in its own thread: one per sync ``Memory``).
_pools: dict[tuple[asyncio.AbstractEventLoop, ssl.SSLContext], Pool] = {}
_pools_lock = threading.Lock()


_exit_hook = False


def _drop_all() -> None:
    """At interpreter exit: close the pools still open (a pool nobody holds waits for its expiry,
    and a loop run by hand, not by ``asyncio.run``, never closes its async generators), so aiohttp
    does not log "Unclosed client session" as the process ends. A pool whose loop runs in another
    thread (a sync ``Memory``'s) is closed on that loop."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for pool in pools:
        if pool.loop is not here and pool.loop.is_running() and not pool.loop.is_closed():
            try:
                pool.loop.call_soon_threadsafe(_drop, pool.session)
                continue
            except RuntimeError:  # closed meanwhile
                pass
        _drop(pool.session)


def _forget(pool: Pool) -> None:
    with _pools_lock:
        if _pools.get((pool.loop, pool.ssl_context)) is pool:
            del _pools[(pool.loop, pool.ssl_context)]


async def shared_pool(ssl_context: ssl.SSLContext) -> Pool:
    """This loop's pool for ``ssl_context``, made on first use. Pools left by loops that closed
    without shutting down their async generators are dropped on the way."""
    global _exit_hook
    loop = asyncio.get_running_loop()
    with _pools_lock:
        pool = _pools.get((loop, ssl_context))
        if pool is not None and not pool.closed:
            return pool
        if not _exit_hook:
            atexit.register(_drop_all)
            _exit_hook = True
        stale = [key for key, p in _pools.items() if p.loop.is_closed() or p.closed]
        dropped = [_pools.pop(key) for key in stale]
        pool = Pool(loop, ssl_context)
        _pools[(loop, ssl_context)] = pool
    for p in dropped:
        _drop(p.session)
    await pool.start()
    return pool


class Sender:
    """One POST through this loop's shared session (:class:`Pool`)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._pool: Pool | None = None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session of the last call (tests read its connector), None before the first."""
        return None if self._pool is None else self._pool.session

    def _ready(self) -> aiohttp.ClientSession | None:
        """The session of the pool held, if it is open and this loop's."""
        pool = self._pool
        return pool.session if pool is not None and not pool.closed and pool.loop is asyncio.get_running_loop() \
            else None

    async def _attach(self) -> aiohttp.ClientSession:
        """Take this loop's pool, giving back the one held (another loop's: its sockets belong to
        that loop; or closed)."""
        held, self._pool = self._pool, None
        if held is not None:
            held.release()
        pool = await shared_pool(self._ssl)
        if self._pool is not pool:  # not taken meanwhile by another call of this sender
            pool.acquire()
            self._pool = pool
        return pool.session

    async def post(self, r: Route, content: bytes, headers: Any) -> tuple[int, Any, bytes]:
        """Send; the answer's ``(status, raw headers, body)``, the body decoded as its
        ``Content-Encoding`` says. Transport errors propagate as aiohttp raises them."""
        session = self._ready() or await self._attach()
        async with session.post(r.url, data=content, headers=headers, timeout=r.timeout,
                                allow_redirects=False) as resp:
            return resp.status, resp.raw_headers, await resp.read()

    async def aclose(self) -> None:
        """Give up this sender's share of the pool (which closes once nobody holds it)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.release()

    def __del__(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                pool.release()
            except Exception:  # noqa: BLE001, S110 - at interpreter exit the module may be half torn down
                pass


def _drop(session: aiohttp.ClientSession | None) -> None:
    """Close a session's sockets now, without awaiting (a pool nobody holds, or one left on a closed
    event loop), quietly, as the ``httpx2`` client's pool is dropped: aiohttp
    would otherwise log "Unclosed client session" and "Unclosed connector" errors when it is collected."""
    connector = None if session is None or session.closed else session.connector
    if connector is not None:
        try:
            connector._close(abort_ssl=True)  # what BaseConnector.close() does before its wait
        except Exception:  # noqa: BLE001, S110 - at worst aiohttp's own warning follows
            pass
