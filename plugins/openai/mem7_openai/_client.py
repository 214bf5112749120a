"""The HTTP side of both providers: one lazily built ``openai`` client per provider, one TLS
context per process, and the cheap request path through the client.

Why lazy: building an ``AsyncOpenAI`` client imports ``openai`` (~0.5 s cold) and loads the CA
bundle into a new ``ssl.SSLContext`` (~27 ms, 93 % of an engine's construction time when the LLM and
the embedder each built one). Providers now build their client on the first request, and every
client of the process shares one TLS context, so ``Memory(config)`` does neither.

Why the *sdk* transport (``transport: sdk``) is the client's public resource methods,
``client.chat.completions.with_raw_response.create(**body)`` / ``client.embeddings...create``: it
depends on nothing but the SDK's documented API (auth and Azure headers and URL rewriting, params
transform, timeouts, typed ``APIStatusError`` / ``APIConnectionError`` exceptions, keep-alive pool),
so an SDK upgrade cannot silently change what is sent. ``with_raw_response`` (documented in the
SDK's README, "Accessing raw response data") skips only the pydantic response models: the JSON body
is parsed here with :func:`json.loads`, so a malformed answer is the same ``ValueError`` /
``KeyError`` on both transports. The SDK's own retries are off (``max_retries=0``): mem7's
:class:`~mem7_core.providers.http.RetryPolicy` retries, because it also retries malformed bodies,
bounds every attempt by the operation's time budget (the SDK knows none) and keeps the attempt
count exact and the same for every HTTP plugin.

Why the *direct* transport (``transport: direct``, the default): even the resource methods cost 0.6-1 ms
of CPU per call in the SDK before the HTTP library sees the request (measured on loopback,
``bench/results/openai_direct.md``; profiled in issue #9): its ``request()`` copies the options
model twice, makes an idempotency key,
and ``_build_request`` rebuilds ~17 headers through five ``Headers`` objects and parses the URL
three times, although for one provider they never change between calls. So the client builds that
request *once* per ``(path, model)`` - with its own ``_prepare_options`` / ``_build_request`` (auth,
platform and custom headers, Azure URL routing and extensions, timeout) - and every call sends a copy
of it with the new JSON body through the client's own ``httpx`` client (its pool, redirects,
timeouts), raising the same ``openai`` exceptions as ``request()`` would. Those methods are the SDK's
internals: :meth:`LazyClient._direct_ok` checks, once per client, that they and the client state the
path depends on exist and are in the plain case (string API key, no token provider, workload
identity or provider runtime); otherwise every call takes the sdk transport.
``tests/test_request_path.py`` asserts the direct path is taken on the installed SDK and sends what
the sdk transport sends, so an SDK upgrade that changes them fails there, not silently. It is the
default because the client's CPU per call is what bounds concurrent adds even against a slow model:
64 adds in flight at once are CPU-bound on one core (``bench/results/add_cpu.md``).

What sends the direct request (``http_backend``): by default aiohttp (:mod:`._aio`: the same bytes for
a fifth of the CPU; an endpoint behind an environment proxy and redirect answers stay with the
client's ``httpx2`` client), else the client's own ``httpx2`` client (``http_backend: httpx``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _aio
from ._aio import Route, Sender

if TYPE_CHECKING:  # imported lazily at run time (see the module docstring)
    import ssl

    import openai

    from ._common import Connection

log = logging.getLogger("mem7.openai")

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The process's one TLS context, made the way the HTTP library makes its default one
    (certifi bundle, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured). ``SSLContext`` is safe to
    share between clients and threads."""
    global _ssl_context
    if _ssl_context is None:
        with _ssl_lock:
            if _ssl_context is None:
                _ssl_context = _http_module().create_ssl_context()
    return _ssl_context


def _http_module() -> Any:
    """The HTTP library the installed ``openai`` is built on (``httpx2`` in new releases, ``httpx``
    before)."""
    import openai._base_client as base

    return getattr(base, "httpx2", None) or base.httpx  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class _Template:
    """The request the SDK builds for one ``(path, model)``, minus its body: sent again per call."""

    url: Any  # the HTTP library's URL and Headers (copied per call: a list copy)
    headers: Any
    extensions: dict[str, Any]
    aio: Route | None = None
    """How the aiohttp backend sends it; None: the ``httpx2`` client sends it (see :mod:`._aio`)."""


def _dumps(body: Any) -> bytes:
    """The body as the SDK serialises it (``openapi_dumps``: compact, UTF-8, no NaN)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class LazyClient:
    """An ``AsyncOpenAI`` / ``AsyncAzureOpenAI`` built on first use, with a JSON ``post``.

    Not built per call: the first request creates it and every later one reuses it (and its
    keep-alive connection pool) until :meth:`aclose`. ``direct`` (the config's ``transport``)
    chooses the direct path (see the module docstring) over the client's resource methods.
    """

    def __init__(self, conn: Connection, config: Any) -> None:
        self._conn = conn
        self._config = config
        self._client: openai.AsyncOpenAI | None = None
        self._response_cls: Any = None
        self.direct: bool = getattr(config, "transport", "direct") == "direct"
        self.aiohttp: bool = getattr(config, "http_backend", "aiohttp") == "aiohttp"
        """The direct transport sends through aiohttp (else through the client's ``httpx2`` client)."""
        self._sender: Sender | None = None
        self._direct: bool | None = None  # None: not checked yet (see _direct_ok)
        self._templates: dict[tuple[str, Any], _Template] = {}
        self._building: dict[tuple[str, Any], asyncio.Future[_Template | None]] = {}
        self._http: Any = None
        self._timeouts: tuple[type[BaseException], ...] = ()
        self._conn_errors: tuple[type[BaseException], ...] = ()
        self.direct_calls = 0
        """Calls sent by the direct path (tests and benchmarks read it)."""
        self.aiohttp_calls = 0
        """Of those, calls sent through aiohttp."""

    @property
    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = self._build()
        return self._client

    @property
    def built(self) -> openai.AsyncOpenAI | None:
        """The client if a request has built it, else None (construction never builds it)."""
        return self._client

    def _build(self) -> openai.AsyncOpenAI:
        import openai

        http = _http_module()
        self._http = http
        self._response_cls = http.Response
        conn, config = self._conn, self._config
        headers = dict(config.default_headers or {})
        # The SDK's default client class (its limits, redirects) with the shared TLS context.
        http_client = openai.DefaultAsyncHttpxClient(verify=shared_ssl_context(), timeout=config.timeout)
        # The client's own retries are off: mem7's RetryPolicy does them (see the module docstring).
        common: dict[str, Any] = {"api_key": conn.api_key, "timeout": config.timeout, "max_retries": 0,
                                  "default_headers": headers or None, "http_client": http_client}
        if conn.alias.azure:
            return openai.AsyncAzureOpenAI(azure_endpoint=conn.base_url, azure_deployment=conn.azure_deployment,
                                           api_version=conn.api_version, **common)
        return openai.AsyncOpenAI(base_url=conn.base_url, organization=config.organization, project=config.project,
                                  **common)

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``path`` (relative to the base URL) and return the parsed JSON answer.

        Errors are the client's own (``openai.APIStatusError`` and subclasses, connection errors,
        timeouts); a body that is not JSON raises ``ValueError``.
        """
        client = self.client
        if self.direct and self._direct is not False:
            key = (path, body.get("model"))
            template = self._templates.get(key)
            if template is None and self._direct_ok(client):
                template = await self._template_once(client, key)
            if template is not None:
                return await self._send_direct(client, template, body)
        return json.loads((await self._sdk_call(client, path, body)).content)

    async def _sdk_call(self, client: openai.AsyncOpenAI, path: str, body: dict[str, Any]) -> Any:
        """One call through the client's public API: the resource method of ``path`` (raw response:
        no pydantic models), or ``client.post()`` for a path without one."""
        if path == "/chat/completions":
            return await client.chat.completions.with_raw_response.create(**body)
        if path == "/embeddings":
            return await client.embeddings.with_raw_response.create(**body)
        return await client.post(path, body=body, cast_to=self._response_cls)

    # ------------------------------------------------------------------------------ direct path
    def _direct_ok(self, client: Any) -> bool:
        """Whether the direct path can stand in for the sdk transport on this client (checked once;
        see the module docstring)."""
        if self._direct is not None:
            return self._direct
        try:
            from openai._base_client import get_platform  # noqa: F401  (used later)
            from openai._models import FinalRequestOptions  # noqa: F401  (used later)

            plain = (
                callable(getattr(client, "_build_request", None))
                and callable(getattr(client, "_prepare_options", None))
                and callable(getattr(client, "_make_status_error_from_response", None))
                and getattr(client, "_provider_runtime", None) is None
                and getattr(client, "_workload_identity_auth", None) is None
                and getattr(client, "_api_key_provider", None) is None
                and getattr(client, "_azure_ad_token_provider", None) is None
                and getattr(client, "_azure_ad_token", None) is None
                and client.custom_auth is None
                and isinstance(client.api_key, str)
                and isinstance(getattr(client, "_client", None), self._http.AsyncClient)
                and hasattr(client, "_platform")
                and hasattr(client, "_idempotency_header")
            )
        except Exception as exc:  # noqa: BLE001 - an SDK whose internals moved: the sdk transport, said once
            log.debug("openai: direct transport unavailable (%s: %s); using the sdk transport", type(exc).__name__, exc)
            plain = False
        if not plain:
            self._direct = False
            return False
        self._timeouts, self._conn_errors = _transport_errors(self._http)
        self._direct = True
        if self.aiohttp:
            http_client = client._client
            self.aiohttp = (callable(getattr(http_client, "_transport_for_url", None))
                            and callable(getattr(http_client, "_build_redirect_request", None))
                            and hasattr(http_client, "_transport") and _aio.available())
            if self.aiohttp:
                self._sender = Sender(shared_ssl_context())
        return True

    async def _template_once(self, client: Any, key: tuple[str, Any]) -> _Template | None:
        """The template of ``key``, built by the first call that needs it; calls made meanwhile (many
        adds starting at once on a new engine) wait for that one instead of each building their own."""
        building = self._building.get(key)
        if building is not None:
            return await asyncio.shield(building)
        done: asyncio.Future[_Template | None] = asyncio.get_running_loop().create_future()
        self._building[key] = done
        try:
            if client._platform is None:  # as request() does first: platform headers, off the loop
                client._platform = await _platform()
            return await self._template(client, *key)
        finally:  # also when cancelled: the waiters take the sdk transport this once
            del self._building[key]
            done.set_result(self._templates.get(key))

    async def _template(self, client: Any, path: str, model: Any) -> _Template | None:
        """The SDK's own request for ``path`` (options prepared, request built), kept without body."""
        from openai._models import FinalRequestOptions

        try:
            options = FinalRequestOptions.construct(method="post", url=path, json_data={"model": model})
            options = await client._prepare_options(options)
            request = client._build_request(options, retries_taken=0)
        except Exception as exc:  # noqa: BLE001 - whatever the SDK raises here, the sdk transport still works
            log.debug("openai: direct transport unavailable (%s: %s); using the sdk transport", type(exc).__name__, exc)
            self._direct = False
            return None
        headers = self._http.Headers(request.headers)  # the body's own length is set per call
        for name in ("content-length", "transfer-encoding"):
            headers.pop(name, None)
        extensions = dict(request.extensions)
        aio = None
        if self.aiohttp:
            try:
                aio = _aio.route(client._client, request.url, headers, extensions)
            except Exception as exc:  # noqa: BLE001 - the httpx2 client can still send it
                log.debug("openai: aiohttp backend unavailable for %s (%s: %s); using httpx2", path,
                          type(exc).__name__, exc)
        template = _Template(request.url, headers, extensions, aio)
        self._templates[(path, model)] = template
        return template

    async def _send_direct(self, client: Any, template: _Template, body: dict[str, Any]) -> Any:
        """One call as ``request()`` makes it with ``max_retries=0``: send, map transport errors to
        ``APITimeoutError`` / ``APIConnectionError``, a non-2xx answer to the client's status error."""
        content = _dumps(body)
        idempotency_header = client._idempotency_header
        key = client._idempotency_key() if idempotency_header else None  # a fresh one per call, as request()
        self.direct_calls += 1
        if template.aio is not None:
            return await self._send_aiohttp(client, template, template.aio, content, key)
        return await self._send_httpx(client, self._request(client, template, content, key))

    def _request(self, client: Any, template: _Template, content: bytes, key: str | None) -> Any:
        """The HTTP library's request for one call (the aiohttp backend builds it only for errors)."""
        request = self._http.Request("POST", template.url, headers=template.headers, content=content,
                                     extensions=template.extensions)
        if key is not None:
            request.headers[client._idempotency_header] = key
        return request

    async def _send_httpx(self, client: Any, request: Any) -> Any:
        import openai

        try:
            response = await client._client.send(request)
        except self._timeouts as exc:
            raise openai.APITimeoutError(request=request) from exc
        except openai.OpenAIError:
            raise
        except self._conn_errors as exc:
            raise openai.APIConnectionError(request=request) from exc
        if not response.is_success:
            if not response.is_closed:
                await response.aread()
            raise client._make_status_error_from_response(response) from None
        return json.loads(response.content)

    async def _send_aiohttp(self, client: Any, template: _Template, route: Route, content: bytes,
                            key: str | None) -> Any:
        """The same call through aiohttp (:mod:`._aio`): the same bytes, the same errors."""
        import aiohttp
        import openai

        assert self._sender is not None
        headers = route.headers
        if key is not None:
            headers = headers.copy()
            headers[client._idempotency_header] = key
        self.aiohttp_calls += 1
        try:
            status, raw, data = await self._sender.post(route, content, headers)
        except TimeoutError as exc:  # aiohttp's connect / read timeouts are TimeoutErrors
            raise openai.APITimeoutError(request=self._request(client, template, content, key)) from exc
        except (aiohttp.ClientError, OSError) as exc:  # refused, reset, dropped, DNS...
            raise openai.APIConnectionError(request=self._request(client, template, content, key)) from exc
        if 200 <= status < 300:
            return json.loads(data)
        request = self._request(client, template, content, key)
        # The body is already decoded: the response must not decode it again.
        response = self._http.Response(status, headers=[(k, v) for k, v in raw if k.lower() != b"content-encoding"],
                                       content=data, request=request)
        if client._client.follow_redirects and response.has_redirect_location:
            # followed by the client from this answer, as its own send() would
            return await self._send_httpx(client, client._client._build_redirect_request(request, response))
        raise client._make_status_error_from_response(response) from None

    async def aclose(self) -> None:
        if self._sender is not None:
            await self._sender.aclose()
        if self._client is not None:
            await self._client.close()


_platform_value: Any = None


async def _platform() -> Any:
    """The SDK's ``get_platform()`` (its ``X-Stainless-OS`` header), computed once per process.

    The SDK computes it per client, in a worker thread (it may read ``/etc/os-release``), before
    the client's first request. Cached here because it cannot change while the process runs: every
    engine after the first builds its request templates without the thread hop, and the many adds
    waiting for the first template of a new engine no longer wait for it (``engine/admission.py``)."""
    global _platform_value
    if _platform_value is None:
        from openai._base_client import get_platform

        _platform_value = await asyncio.to_thread(get_platform)  # two engines racing: the same value
    return _platform_value


def _transport_errors(http: Any) -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """The exceptions ``request()`` maps to ``APITimeoutError`` and to ``APIConnectionError``: the
    SDK's own lists when it has them, else the HTTP library's timeout and request errors."""
    try:
        from openai._httpx2 import request_exceptions, timeout_exceptions

        return tuple(timeout_exceptions()), tuple(request_exceptions())
    except ImportError:
        return (http.TimeoutException,), (http.RequestError,)
