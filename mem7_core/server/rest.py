"""The REST server: every ``AsyncMemory`` operation over HTTP, with the same shapes (``mem7 serve``).

=====================================  ===========================================================
``GET    /health``                     liveness, no auth: ``{"status": "ok", "version": ...}``
``POST   /memories``                   ``add`` (body: :class:`~.schemas.AddRequest`) → AddResult
``POST   /memories/search``            ``search`` (body: :class:`~.schemas.SearchRequest`) → SearchResult
``GET    /memories``                   ``get_all`` (query: scope ids, ``limit``, ``filters`` as JSON) → ListResult
``DELETE /memories``                   ``delete_all`` (query: scope ids, ``filters``) → ``{"message"}``
``GET    /memories/{id}``              ``get`` (query: optional scope ids) → Item, 404 when absent
``PUT    /memories/{id}``              ``update`` (body: :class:`~.schemas.UpdateRequest`) → ``{"message"}``
``DELETE /memories/{id}``              ``delete`` → ``{"message"}``
``GET    /memories/{id}/history``      ``history`` → ``[HistoryEvent]``
``POST   /memories/import``            ``import_memories`` (unrestricted tokens only) → ``{"imported", ...}``
``POST   /reset``                      ``reset`` (unrestricted tokens only) → ``{"message"}``
``GET    /ui/``                        the memory dashboard: static pages (no auth; they hold no data)
``GET    /ui/api/...``                 the dashboard's JSON (same auth and pins): ``session``, ``scopes``
                                       (counts), ``memories`` (paged ``get_all``), ``memories/{id}/retention``,
                                       ``graph``; see :mod:`.dashboard`
=====================================  ===========================================================

Responses are the Python API's dicts, validated into the models of :mod:`mem7_core.models` (the
OpenAPI schemas): keys whose value is ``None`` are left out, and so are the mem0 aliases the Python
dicts add (``previous_memory`` on an UPDATE, ``actor_id`` / ``role`` on an ``infer=False`` ADD).

Errors: 401 missing/unknown token, 403 a pinned token reaching outside its scope, 404 no such
memory (in the caller's scope), 409 an imported id already stored (``on_conflict="error"``), 413 a
request body over ``max_body_bytes`` (``{"detail", "limit"}``, before any route runs), 422
bad input (FastAPI's ``{"detail": [{"loc", "msg", "type"}]}`` shape, for the engine's own
``ValueError``\\s too, so ``loc`` names the field), 502 a provider failed (``{"detail", "provider"}``),
503 the same but retryable (rate limit, timeout), 504 the operation's time budget ran out
(``operation_timeout_secs``), 507 a store cannot write (disk full, read-only; ``{"detail",
"provider", "store"}``).

Stateless: the only state in the process is the engine (its providers may cache: see
``docs/server.md``, "Deployments: what is safe"), so several processes can serve the same shared
stores. ``serve(..., workers=N)`` runs N worker processes on one port (on Linux a listening socket
each, ``SO_REUSEPORT``, so the kernel spreads the connections), each building its own engine from
the same config. FastAPI and uvicorn are imported by this module only (the
``server`` extra).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException
from starlette.routing import Match

from .. import __version__
from ..config import MemoryConfig
from ..engine.memory import AsyncMemory
from ..engine.restore import ImportResult
from ..errors import (
    ConfigError,
    FilterError,
    MemoryConflictError,
    MemoryNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ScopeError,
    StorageError,
)
from ..models import AddResult, HistoryEvent, Item, ListResult, MessageResult, SearchResult, UpdateResult
from ..providers.sqlite import storage_error
from ..results import (
    AddResponse,
    HistoryEntry,
    ImportResponse,
    ListResponse,
    MemoryItem,
    MessageResponse,
    SearchResponse,
)
from ..unicode_safe import escape, scrub
from .auth import AuthError, Principal, ScopeForbidden, TokenTable, pinned_scope, require_unrestricted
from .bodylimit import BodyLimit, resolve_max_body_bytes
from .dashboard import install_dashboard
from .guard import RequestGuard, is_loopback
from .heap import HeapSettler, SettleHeap
from .schemas import MAX_LIMIT, AddRequest, ErrorBody, Health, ImportRequest, SearchRequest, UpdateRequest

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnContext, SpawnProcess

log = logging.getLogger("mem7.server")

_bearer = HTTPBearer(
    auto_error=False,
    description="Required when the server has tokens configured (MEM7_SERVER_TOKENS / --tokens-file).",
)

_COMMON: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the request body is not valid JSON, not UTF-8, or not sent as "
                                             "Content-Type: application/json"},
    401: {"model": ErrorBody, "description": "missing, malformed or unknown bearer token"},
    403: {"model": ErrorBody, "description": "the token is pinned to another scope"},
    502: {"model": ErrorBody, "description": "a provider (LLM, embedder, store...) failed; `provider` names it"},
    503: {"model": ErrorBody, "description": "a provider is temporarily unavailable (retryable)"},
    504: {"model": ErrorBody, "description": "the operation's time budget ran out waiting for a provider"},
    507: {"model": ErrorBody, "description": "a store cannot write (disk full, read-only); `store` names it"},
}
_BY_ID: dict[int | str, dict[str, Any]] = {
    **_COMMON,
    404: {"model": ErrorBody, "description": "no memory with this id (in the caller's scope)"},
}

ReadyHook = Callable[[], None]

WORKER_HEADER = "X-Mem7-Worker"
"""Response header naming the worker process (its pid) that answered; sent only with ``workers > 1``."""


# ------------------------------------------------------------------------------------ errors
_FIELD_AT_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[\d+\])?[.\s]")


def _field_of(exc: ValueError) -> str | None:
    """The request field an engine ``ValueError`` is about (its messages start with the field name)."""
    if isinstance(exc, FilterError):
        return "filters"
    match = _FIELD_AT_START.match(str(exc))
    return match.group(1) if match else None


def _validation_response(request: Request, exc: ValueError) -> JSONResponse:
    field = _field_of(exc)
    where = "query" if request.method in {"GET", "DELETE"} else "body"
    loc: list[str] = [where, field] if field else [where]
    if isinstance(exc, ScopeError) and not field:
        loc = [where, "user_id"]
    message = escape(" ".join(str(exc).split()) or type(exc).__name__)  # never unencodable itself
    return JSONResponse(status_code=422, content={"detail": [{"loc": loc, "msg": message, "type": "value_error"}]})


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content=scrub({"detail": detail, **extra}), headers=headers)


_SEND_JSON = "send a JSON object with the header 'Content-Type: application/json'"
_MEM0_ROUTES = {
    ("POST", "/search"): "search is POST /memories/search here (mem0's server has POST /search), with the same body",
    ("POST", "/configure"): "mem7 serve takes its config when it starts (mem7 serve --config FILE, or MEM7_* "
    "variables); it has no /configure",
}


def _is_json_type(content_type: str) -> bool:
    """Whether FastAPI reads a body of this ``Content-Type`` as JSON (``application/json``, ``...+json``)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _unreadable_body(request: Request, errors: Sequence[Any]) -> str | None:
    """Why the request body was not read as JSON at all (a 400, docs/server.md), else ``None``.

    FastAPI reports invalid JSON as a 422 ``json_invalid`` at ``["body", <position>]``, and a body
    sent with another ``Content-Type`` (curl's ``-d`` sends a form type) as a model that is a string.
    """
    content_type = request.headers.get("content-type", "")
    not_json = bool(content_type) and not _is_json_type(content_type)
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "decode error")
            where = f" at position {loc[1]}" if len(loc) > 1 else ""
            return f"the request body is not valid JSON ({reason}{where}); {_SEND_JSON}"
        if not_json and loc == ("body",) and isinstance(error.get("input"), str | bytes):
            return (f"the request body was sent as Content-Type: {content_type[:100]}, so it was not read as JSON; "
                    f"{_SEND_JSON} (curl: -H 'Content-Type: application/json')")
    return None


def _no_route(method: str, path: str) -> str:
    """A 404 for a path no route serves: mem0's paths that differ name mem7's, others point at /docs."""
    shown = path if len(path) <= 200 else path[:200] + "..."
    hint = _MEM0_ROUTES.get((method, path.rstrip("/") or "/"))
    if hint is None and path.startswith("/v1/"):
        hint = (f"mem7's paths have no /v1/ prefix (mem0's hosted API has one): "
                f"{method} {path[3:].rstrip('/') or '/'}; the routes are listed at /docs")
    return f"no route {method} {shown}: {hint or 'the routes are listed at /docs (OpenAPI: /openapi.json)'}"


def _install_error_handlers(app: FastAPI) -> None:
    async def on_auth(request: Request, exc: Exception) -> JSONResponse:
        return _error(401, str(exc))

    async def on_forbidden(request: Request, exc: Exception) -> JSONResponse:
        return _error(403, str(exc))

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        if request.method == "GET" and request.url.path.rstrip("/") == "/memories/search":  # a search sent as GET
            return _error(404, f"{exc}; to search, send POST /memories/search with a JSON body ({{\"query\", ...}})")
        return _error(404, str(exc))

    async def on_conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, " ".join(str(exc).split()))

    async def on_provider(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProviderError)
        log.warning("%s %s: provider %s failed: %s", request.method, request.url.path, exc.provider, exc)
        if isinstance(exc, StorageError):
            return _error(507, str(exc), provider=exc.provider, store=exc.store)
        if isinstance(exc, ProviderTimeoutError):
            return _error(504, str(exc), provider=exc.provider)
        return _error(503 if exc.retryable else 502, str(exc), provider=exc.provider)

    async def on_os_error(request: Request, exc: Exception) -> JSONResponse:
        # A store's disk full / read-only error that no provider mapped: still 507 JSON, not a 500.
        mapped = storage_error(exc, "store", "the data directory")
        if mapped is None:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
            return _error(500, f"internal error ({type(exc).__name__})")
        return await on_provider(request, mapped)

    async def on_value(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValueError)
        return _validation_response(request, exc)

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(ScopeForbidden, on_forbidden)
    app.add_exception_handler(MemoryNotFoundError, on_not_found)
    app.add_exception_handler(MemoryConflictError, on_conflict)
    app.add_exception_handler(ProviderError, on_provider)
    app.add_exception_handler(OSError, on_os_error)
    app.add_exception_handler(sqlite3.Error, on_os_error)
    app.add_exception_handler(ValueError, on_value)

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's own 422, with bad Unicode the errors echo (``input``) escaped: else rendering fails
        assert isinstance(exc, RequestValidationError)
        unreadable = _unreadable_body(request, exc.errors())
        if unreadable is not None:
            return _error(400, unreadable)
        return JSONResponse(status_code=422, content={"detail": scrub(jsonable_encoder(exc.errors()))})

    app.add_exception_handler(RequestValidationError, on_request_validation)

    async def on_http(request: Request, exc: Exception) -> Any:
        # Starlette's and FastAPI's own answers, said with what to do: no route (mem0's paths that
        # differ name mem7's), a method the route does not take, a body that could not be decoded.
        assert isinstance(exc, HTTPException)
        method, path = request.method, request.url.path
        if exc.status_code == 404 and exc.detail == "Not Found":
            return _error(404, _no_route(method, path))
        if exc.status_code == 405 and exc.detail == "Method Not Allowed":
            # Starlette's Allow names the first matching route's methods only; each method is a route here.
            allowed = ", ".join(sorted({
                m for route in request.app.router.routes if route.matches(request.scope)[0] is not Match.NONE
                for m in getattr(route, "methods", None) or () if m != "HEAD"
            }))
            detail = f"{method} is not allowed on {path[:200]}; allowed: {allowed}"
            return JSONResponse(status_code=405, headers={"Allow": allowed}, content=scrub({"detail": detail}))
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return _error(400, f"the request body could not be decoded (JSON must be UTF-8); {_SEND_JSON}")
        return await http_exception_handler(request, exc)

    app.add_exception_handler(HTTPException, on_http)


# ------------------------------------------------------------------------------------ dependencies
def _engine(request: Request) -> AsyncMemory:
    memory: AsyncMemory | None = getattr(request.app.state, "memory", None)
    if memory is None:  # only between a failed startup and exit
        raise ProviderError("server", "the engine is not running", retryable=True)
    return memory


async def _caller(request: Request, _: Annotated[Any, Security(_bearer)] = None) -> Principal:
    table: TokenTable = request.app.state.tokens
    return table.authenticate(request.headers.get("authorization"))


def _scope_query(
    user_id: Annotated[str | None, Query(min_length=1, description="user id")] = None,
    agent_id: Annotated[str | None, Query(min_length=1, description="agent id")] = None,
    run_id: Annotated[str | None, Query(min_length=1, description="run (session) id")] = None,
) -> dict[str, str | None]:
    return {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}


def _filters_query(
    filters: Annotated[
        str | None,
        Query(description='metadata filters as a JSON object, e.g. {"topic": {"in": ["food", "travel"]}}'),
    ] = None,
) -> dict[str, Any] | None:
    if filters is None:
        return None
    try:
        value = json.loads(filters)
    except json.JSONDecodeError as exc:
        raise FilterError(f"filters is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:  # the parser's own limit (a thousand levels); the engine allows far fewer
        raise FilterError("filters nest too deeply; flatten the AND / OR / NOT groups") from None
    if not isinstance(value, dict):
        raise FilterError(f'filters must be a JSON object, e.g. {{"topic": "food"}}, got {type(value).__name__}')
    return value


Engine = Annotated[AsyncMemory, Depends(_engine)]
Caller = Annotated[Principal, Depends(_caller)]
ScopeQuery = Annotated[dict[str, str | None], Depends(_scope_query)]
FiltersQuery = Annotated[dict[str, Any] | None, Depends(_filters_query)]
MemoryId = Annotated[str, Path(min_length=1, description="the memory's id (a UUIDv7)")]


def _body_scope(body: Any) -> dict[str, str | None]:
    return {"user_id": body.user_id, "agent_id": body.agent_id, "run_id": body.run_id}


def _messages(value: Any) -> Any:
    """Request messages back into the plain shapes ``add`` takes (models → dicts)."""
    if isinstance(value, list):
        return [_messages(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    return value


# ------------------------------------------------------------------------------------ routes
def _install_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health, tags=["meta"], summary="Liveness (no auth)")
    async def health() -> Health:
        return Health(version=__version__)

    @app.post("/memories", response_model=AddResult, response_model_exclude_none=True, responses=_COMMON,
              tags=["memories"], summary="add: remember what matters in messages")
    async def add(body: AddRequest, memory: Engine, who: Caller) -> AddResponse:
        scope = pinned_scope(who, _body_scope(body), body.filters)
        return await memory.add(
            _messages(body.messages), user_id=scope.get("user_id"), agent_id=scope.get("agent_id"),
            run_id=scope.get("run_id"), metadata=body.metadata, filters=body.filters, infer=body.infer,
            memory_type=body.memory_type, prompt=body.prompt, timestamp=body.timestamp,
        )

    @app.post("/memories/search", response_model=SearchResult, response_model_exclude_none=True,
              responses=_COMMON, tags=["memories"], summary="search: the most relevant memories, best first")
    async def search(body: SearchRequest, memory: Engine, who: Caller) -> SearchResponse:
        scope = pinned_scope(who, _body_scope(body), body.filters)
        return await memory.search(
            body.query, **scope, limit=body.limit, top_k=body.top_k, filters=body.filters, rerank=body.rerank,
            threshold=body.threshold, task_type=body.task_type, now=body.now, explain=body.explain,
            rehearse=body.rehearse,
        )

    @app.get("/memories", response_model=ListResult, response_model_exclude_none=True, responses=_COMMON,
             tags=["memories"], summary="get_all: the memories of a scope, oldest first")
    async def get_all(
        memory: Engine, who: Caller, scope: ScopeQuery, filters: FiltersQuery,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        top_k: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="mem0's name for limit")] = None,
    ) -> ListResponse:
        return await memory.get_all(**pinned_scope(who, scope, filters), filters=filters, limit=limit, top_k=top_k)

    @app.delete("/memories", response_model=MessageResult, responses=_COMMON, tags=["memories"],
                summary="delete_all: delete every memory of a scope")
    async def delete_all(memory: Engine, who: Caller, scope: ScopeQuery, filters: FiltersQuery) -> MessageResponse:
        return await memory.delete_all(**pinned_scope(who, scope, filters), filters=filters)

    @app.get("/memories/{memory_id}", response_model=Item, response_model_exclude_none=True, responses=_BY_ID,
             tags=["memories"], summary="get: one memory by id")
    async def get(memory_id: MemoryId, memory: Engine, who: Caller, scope: ScopeQuery) -> MemoryItem:
        item = await memory.get(memory_id, **pinned_scope(who, scope))
        if item is None:
            raise MemoryNotFoundError(memory_id)
        return item

    @app.put("/memories/{memory_id}", response_model=UpdateResult, response_model_exclude_none=True,
             responses=_BY_ID, tags=["memories"], summary="update: replace a memory's text, merge metadata")
    async def update(memory_id: MemoryId, body: UpdateRequest, memory: Engine, who: Caller) -> MessageResponse:
        scope = pinned_scope(who, _body_scope(body))
        return await memory.update(memory_id, body.text, metadata=body.metadata, **scope)

    @app.delete("/memories/{memory_id}", response_model=MessageResult, responses=_BY_ID, tags=["memories"],
                summary="delete: one memory by id")
    async def delete(memory_id: MemoryId, memory: Engine, who: Caller, scope: ScopeQuery) -> MessageResponse:
        return await memory.delete(memory_id, **pinned_scope(who, scope))

    @app.get("/memories/{memory_id}/history", response_model=list[HistoryEvent],
             response_model_exclude_none=True, responses=_BY_ID, tags=["memories"],
             summary="history: the ADD / UPDATE / DELETE events of one memory, oldest first")
    async def history(memory_id: MemoryId, memory: Engine, who: Caller, scope: ScopeQuery) -> list[HistoryEntry]:
        restrict = pinned_scope(who, scope)
        # History rows carry no scope: ownership is checked on the live memory, so a deleted
        # memory's history is visible to unrestricted callers only.
        if any(v is not None for v in restrict.values()) and await memory.get(memory_id, **restrict) is None:
            raise MemoryNotFoundError(memory_id)
        events = await memory.history(memory_id)
        if not events and await memory.get(memory_id) is None:
            raise MemoryNotFoundError(memory_id)
        return events

    @app.post("/memories/import", response_model=ImportResult, response_model_exclude_none=True, tags=["admin"],
              responses={**_COMMON,
                         409: {"model": ErrorBody, "description": "on_conflict=error and an id is already stored"}},
              summary="import_memories: restore memories verbatim (unrestricted tokens only)")
    async def import_memories(body: ImportRequest, memory: Engine, who: Caller) -> ImportResponse:
        # Items name their own scopes (and may replace a memory of any scope): no pin can confine that.
        require_unrestricted(who, "import")
        return await memory.import_memories(body.items, on_conflict=body.on_conflict)

    @app.post("/reset", response_model=MessageResult, responses=_COMMON, tags=["admin"],
              summary="reset: delete every memory and history event (unrestricted tokens only)")
    async def reset(memory: Engine, who: Caller) -> MessageResponse:
        require_unrestricted(who, "reset")
        return await memory.reset()


# ------------------------------------------------------------------------------------ app
def create_app(
    config: MemoryConfig | None = None,
    *,
    memory: AsyncMemory | None = None,
    tokens: TokenTable | None = None,
    on_ready: ReadyHook | None = None,
    on_stopped: ReadyHook | None = None,
    worker_header: bool = False,
    guard: RequestGuard | None = None,
    max_body_bytes: int | None = None,
    settle_heap: bool = False,
) -> FastAPI:
    """The ASGI application.

    :param config: build the engine from it at startup (default: ``MEM7_*`` env and defaults).
    :param memory: serve this engine instead; the app takes it over and closes it at shutdown.
    :param tokens: accepted bearer tokens (default: none, an open server).
    :param on_ready: called once the engine is up (``mem7 serve`` prints its address then).
    :param on_stopped: called after the engine is closed at shutdown.
    :param worker_header: add ``X-Mem7-Worker: <pid>`` to every response (``serve`` with workers).
    :param guard: Host allow-list and Origin checks (400 / 403 JSON); ``serve`` always passes one
        (:meth:`RequestGuard.for_bind`). Default: none, for an app behind its own front end.
    :param max_body_bytes: larger request bodies get 413 before any route runs (default
        ``$MEM7_SERVER_MAX_BODY_BYTES`` or 1 MiB; :mod:`.bodylimit`).
    :param settle_heap: the process is the server's own (``mem7 serve`` and its workers): once the
        engine is open, and after a few answered requests, what is alive is frozen out of the
        garbage collector's full passes (:mod:`.heap`).
    """
    settler = HeapSettler() if settle_heap else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = memory if memory is not None else await AsyncMemory.create(config)
        app.state.memory = engine
        if settler is not None:
            settler.settle()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            app.state.memory = None
            await engine.aclose()
            if on_stopped is not None:
                on_stopped()

    app = FastAPI(
        title="mem7",
        version=__version__,
        description="Long-term memory for LLM agents: every Memory operation with the Python API's shapes.",
        lifespan=lifespan,
    )
    app.state.tokens = tokens or TokenTable()
    app.state.memory = None
    _install_error_handlers(app)
    _install_routes(app)
    install_dashboard(app, engine=_engine, caller=_caller, scope_query=_scope_query, filters_query=_filters_query,
                      responses=_COMMON, by_id=_BY_ID)
    app.add_middleware(BodyLimit, max_bytes=resolve_max_body_bytes(max_body_bytes))
    if guard is not None:
        app.add_middleware(_Guard, guard=guard)
    if worker_header:
        app.add_middleware(_WorkerHeader)
    if settler is not None:
        app.add_middleware(SettleHeap, settler=settler)
    app.state.heap = settler
    return app


class _Guard:
    """ASGI middleware: :class:`~.guard.RequestGuard` (Host allow-list, Origin checks) before any route."""

    def __init__(self, app: Any, guard: RequestGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
            refusal = self.guard.check(scope["method"], scope["path"], headers)
            if refusal is not None:
                await _error(*refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _WorkerHeader:
    """ASGI middleware: ``X-Mem7-Worker: <pid>`` on every HTTP response (which worker answered)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.header = (WORKER_HEADER.lower().encode("latin-1"), str(os.getpid()).encode("latin-1"))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_header)


# ------------------------------------------------------------------------------------ runner
def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), so the address is known before serving."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


BALANCED_REUSEPORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
"""Whether ``SO_REUSEPORT`` spreads new connections over the sockets bound to one port (Linux does;
BSD and macOS hand them to one socket): then each worker gets a listening socket of its own."""


def bind_worker_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """The listening sockets of ``workers`` worker processes on ``host:port``, one per worker.

    With one socket shared by every worker, the worker whose event loop wakes first takes every
    connection waiting (asyncio accepts up to the backlog per wake-up), and a keep-alive client
    then talks to that worker only: 32 connections opened together often all landed on one worker
    of four, or unevenly on two or three (bench/results/rest.md). Where :data:`BALANCED_REUSEPORT`, each worker gets its
    own socket on the same port (``SO_REUSEPORT``) and the kernel spreads new connections over
    them; elsewhere the list holds one shared socket ``workers`` times (the old behaviour).

    The port is first bound without ``SO_REUSEPORT`` (then released), so a port already in use,
    also by another ``mem7 serve --workers N``, fails as it does for one process, instead of the
    two servers splitting its connections.
    """
    if workers == 1 or not BALANCED_REUSEPORT:
        return [bind_socket(host, port)] * workers
    probe = bind_socket(host, port)
    family, address = probe.family, probe.getsockname()
    probe.close()
    socks: list[socket.socket] = []
    try:
        for _ in range(workers):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    config: MemoryConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tokens: TokenTable | None = None,
    log_level: str = "warning",
    graceful_timeout: float = 30.0,
    announce: Callable[[str], None] | None = None,
    workers: int = 1,
    allowed_hosts: str | list[str] | None = None,
    allowed_origins: str | list[str] | None = None,
    insecure_no_auth: bool = False,
    max_body_bytes: int | None = None,
) -> None:
    """Serve until SIGINT / SIGTERM, then shut down gracefully: stop accepting, let in-flight
    requests finish (up to ``graceful_timeout`` seconds), close the engine.

    The engine is built before the port is announced, so a bad config fails here, not mid-request.
    ``announce`` gets one-line notices (listening address, stopped).

    ``workers > 1``: that many worker processes (spawned, uvicorn in each) accept on the one port
    (a listening socket each on Linux: :func:`bind_worker_sockets`); each builds its own engine from
    ``config`` (passed to it as JSON) and ``tokens``, and closes it at shutdown. The engine is
    opened once here first (so a bad config fails before any worker starts, and stores create
    their tables once), the address is announced once every worker is serving, and SIGINT /
    SIGTERM stop every worker gracefully.
    Only stores that several processes may share are safe this way (docs/server.md).

    Security (docs/server.md, "Security"): requests pass :meth:`RequestGuard.for_bind(host,
    allowed_hosts=, allowed_origins=) <.guard.RequestGuard.for_bind>` (in every worker too), and a
    ``host`` beyond loopback without tokens is refused unless ``insecure_no_auth``.
    """
    guard = RequestGuard.for_bind(host, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
    max_body_bytes = resolve_max_body_bytes(max_body_bytes)  # a bad value fails here, before any worker
    if not (tokens is not None and tokens.enabled) and not insecure_no_auth and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without auth: anyone who can reach it could read, change and reset "
            "every memory. Configure tokens (MEM7_SERVER_TOKENS or --tokens-file), listen on 127.0.0.1, or pass "
            "--insecure-no-auth if the network itself is trusted"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    if workers > 1:
        problems = single_process_stores(config)
        if problems:
            raise ConfigError(
                f"{workers} workers cannot share this config: {'; '.join(problems)}. Serve it with one worker "
                "(--workers 1), or use stores several processes may share (docs/server.md, 'Deployments: what is safe')"
            )
    import uvicorn

    say = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        socks = bind_worker_sockets(host, port, workers)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --host/--port"
        ) from None
    sock = socks[0]
    url = url_of(sock)
    if workers > 1:
        try:
            _serve_workers(config, socks, url, workers=workers, tokens=tokens or TokenTable(), log_level=log_level,
                           graceful_timeout=graceful_timeout, say=say, guard=guard, max_body_bytes=max_body_bytes)
        finally:
            for each in socks:
                each.close()
        return

    async def main() -> None:
        engine = await AsyncMemory.create(config)
        try:
            app = create_app(
                memory=engine, tokens=tokens, on_ready=lambda: say(f"listening on {url}"),
                on_stopped=lambda: say("stopped (engine closed)"), guard=guard, max_body_bytes=max_body_bytes,
                settle_heap=True,
            )
            server = uvicorn.Server(
                uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=graceful_timeout,  # type: ignore[arg-type]  # a float works: uvicorn waits with it
                               access_log=log_level in {"debug", "info"})
            )
            await server.serve(sockets=[sock])
        finally:
            await engine.aclose()  # idempotent; covers a startup that failed before the lifespan ran

    # uvicorn re-raises the signal it caught once it has shut down; a SIGTERM then ends the
    # process normally (exit 0) instead of killing it, since everything is closed by then.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: None) if main_thread else None
    try:
        asyncio.run(main())
    finally:
        sock.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


# ------------------------------------------------------------------------------------ workers
def single_process_stores(config: MemoryConfig, registry: Any = None) -> list[str]:
    """The stores of ``config`` that several processes cannot share, each with the reason.

    Each store declares it: its class's ``shared_by_processes(config)`` (every provider has it;
    ``None``, the default, = safe to share), asked with the section validated
    by the class's ``Config``. The classes come from ``registry`` (a
    :class:`~mem7_core.plugins.PluginRegistry`; default the process-wide one), so a third-party
    store declares itself too. Today's declarations (docs/server.md, "Deployments: what is
    safe"): a store held in one process's memory (each worker would have its own memories), Qdrant's
    local mode (it locks its directory: every worker but one would fail each request), the flat
    and Kuzu graph stores (one process). A provider that is not installed, or a section its
    ``Config`` refuses, is not judged here (building the engine reports it); nor is ``history_store:
    auto`` (history kept in the vector store's own database). ``serve`` refuses
    ``workers > 1`` with any of them.
    """
    from ..plugins import get_registry
    from ..providers import ProviderConfig

    reg = registry if registry is not None else get_registry()

    def declared(kind: str, provider: str, section: Any) -> str | None:
        try:
            cls = reg.get(kind, provider)
            cfg = section if isinstance(section, ProviderConfig) else cls.Config.model_validate(section or {})
        except Exception:  # noqa: BLE001 - not installed / invalid: the engine's construction says so
            return None
        ask = getattr(cls, "shared_by_processes", None)
        return ask(cfg) if callable(ask) else None

    problems: list[str] = []
    vector = config.vector_store
    if (why := declared("vector_store", vector.provider, vector.config)) is not None:
        problems.append(why)
    history = config.history_store
    if history.provider != "auto" and (why := declared("history_store", history.provider, history.config)) is not None:
        problems.append(why)  # "auto": the history lives in the vector store's database
    graph = config.graph_store
    if graph is not None and (why := declared("graph_store", graph.provider, graph.config)) is not None:
        problems.append(why)
    return problems


_STARTUP_FAILED = 3  # a worker's exit code when its engine or server did not start (uvicorn's too)
_CLOSE_MARGIN = 30.0  # on shutdown, seconds granted beyond graceful_timeout for closing an engine


def _command_logs() -> tuple[int, str | None]:
    """The ``mem7`` logger of this process (the command): its level and its first handler's format."""
    logger = logging.getLogger("mem7")
    fmt = next((h.formatter._fmt for h in logger.handlers if h.formatter is not None), None)
    return logger.getEffectiveLevel(), fmt


def _worker_logging(level: int, fmt: str | None) -> None:  # pragma: no cover - in the spawned worker
    """The worker's ``mem7`` logger as the command's: the same level and format, each line naming
    the worker (a spawned process starts with no logging configured: warnings would reach stderr
    bare, and ``-v`` would not reach it)."""
    fmt = fmt or "mem7: %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt.replace("%(message)s", "[worker %(process)d] %(message)s", 1)))
    logger = logging.getLogger("mem7")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _worker_main(
    payload: dict[str, Any], tokens: TokenTable, sock: socket.socket, events: Connection, log_level: str,
    graceful_timeout: float, guard: RequestGuard | None = None, max_body_bytes: int | None = None,
    logs: tuple[int, str | None] = (logging.WARNING, None),
) -> None:  # pragma: no cover - runs in the spawned worker process (covered by tests/server/test_workers.py)
    """One worker process: its own engine from the parent's config, uvicorn serving ``sock``.

    Tells the parent ``("ready", pid)`` once its engine is up and ``("stopped", pid)`` once it is
    closed. The engine is opened and closed here, around uvicorn (as in the one-process
    ``serve``), so it is closed whenever the server stops, even on a signal received mid-startup.
    ``logs``: the command's ``mem7`` logger (:func:`_command_logs`), set up here the same way.
    """
    import uvicorn

    _worker_logging(*logs)
    pid = os.getpid()
    pending: list[int] = []
    holder: dict[str, uvicorn.Server] = {}

    def on_signal(sig: int, frame: Any) -> None:
        # Before uvicorn installs its own handlers (engine still opening): remember the signal,
        # or pass it to the server. After uvicorn's shutdown it re-raises the signal it caught:
        # landing here again then ends the worker normally (exit 0) once its engine is closed.
        server = holder.get("server")
        if server is not None:
            server.handle_exit(sig, frame)
        else:
            pending.append(sig)

    # SIGINT too: a terminal's Ctrl-C reaches the workers as well as the parent.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def tell(what: str) -> None:
        try:
            events.send((what, pid))
        except (OSError, ValueError):  # the parent is gone: nobody to tell
            pass

    async def main() -> bool:
        engine = await AsyncMemory.create(MemoryConfig.model_validate(payload))
        try:
            app = create_app(memory=engine, tokens=tokens, on_ready=lambda: tell("ready"), worker_header=True,
                             guard=guard, max_body_bytes=max_body_bytes, settle_heap=True)
            server = uvicorn.Server(
                uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=graceful_timeout,  # type: ignore[arg-type]  # a float works: uvicorn waits with it
                               access_log=log_level in {"debug", "info"})
            )
            holder["server"] = server
            if pending:  # a signal arrived while the engine was opening: start, then stop at once
                server.handle_exit(pending[0], None)
            await server.serve(sockets=[sock])
            return bool(server.started)
        finally:
            await engine.aclose()  # idempotent (the lifespan closes it too)
            tell("stopped")

    started = asyncio.run(main())
    events.close()
    if not started:
        sys.exit(_STARTUP_FAILED)


@dataclass
class _Worker:
    process: SpawnProcess
    events: Connection
    ready: bool = False
    closed: bool = False
    killed: bool = False
    eof: bool = False

    @property
    def running(self) -> bool:
        return self.process.exitcode is None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def drain(self) -> None:
        """Read the worker's notices ("ready", "stopped") waiting in its pipe."""
        try:
            while self.events.poll():
                what, _ = self.events.recv()
                if what == "ready":
                    self.ready = True
                elif what == "stopped":
                    self.closed = True
        except (EOFError, OSError):  # the worker exited: nothing more will come
            self.eof = True


@dataclass
class _Pool:
    """The worker processes of ``serve(workers=N)``, started with the ``spawn`` method."""

    ctx: SpawnContext
    socks: list[socket.socket]  # one per worker slot (or the same shared socket in every slot)
    payload: dict[str, Any]
    tokens: TokenTable
    log_level: str
    graceful_timeout: float
    guard: RequestGuard | None = None
    max_body_bytes: int | None = None
    logs: tuple[int, str | None] = (logging.WARNING, None)
    """The command's ``mem7`` logger (level, format): each worker logs as the command does."""
    workers: list[_Worker] = field(default_factory=list)

    def start_one(self, slot: int) -> _Worker:
        """Start the worker of ``slot`` (its listening socket: a replacement takes over the same one)."""
        reader, writer = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=_worker_main, name="mem7-serve-worker", daemon=False,
            args=(self.payload, self.tokens, self.socks[slot], writer, self.log_level, self.graceful_timeout,
                  self.guard, self.max_body_bytes, self.logs),
        )
        process.start()
        writer.close()  # the worker holds its own copy; EOF here once it exits
        worker = _Worker(process, reader)
        self.workers.append(worker)
        return worker

    def wait(self, timeout: float) -> None:
        """Until a worker says something or exits, or ``timeout`` seconds pass; then read the notices."""
        from multiprocessing.connection import wait

        # Not the pipes at EOF nor the sentinels of exited workers: they are always ready (no spinning).
        handles: list[Any] = [w.events for w in self.workers if not w.eof]
        handles += [w.process.sentinel for w in self.workers if w.running]
        if handles:
            wait(handles, timeout)
        else:
            time.sleep(timeout)
        for w in self.workers:
            if not w.eof:
                w.drain()

    def replace(self, index: int) -> _Worker:
        """Reap the exited worker at ``index`` and start another in its place."""
        old = self.workers[index]
        old.process.join()
        old.events.close()
        new = self.start_one(index)
        self.workers[index] = self.workers.pop()  # start_one appended it
        assert self.workers[index] is new
        return new

    def shutdown(self) -> list[_Worker]:
        """SIGTERM every worker (graceful: in-flight requests finish, engine closed) and wait for them.

        Returns the workers that opened an engine (or were killed past the deadline) and exited
        without saying it was closed. A worker stopped while still importing opened none.
        """
        for w in self.workers:
            if w.running:
                w.process.terminate()
        deadline = time.monotonic() + self.graceful_timeout + _CLOSE_MARGIN
        while any(w.running for w in self.workers) and time.monotonic() < deadline:
            self.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        for w in self.workers:
            if w.running:  # stuck past the deadline
                w.process.kill()
                w.killed = True
            w.process.join(10)
            if not w.eof:
                w.drain()
            w.events.close()
        return [w for w in self.workers if not w.closed and (w.ready or w.killed)]


def _serve_workers(
    config: MemoryConfig, socks: list[socket.socket], url: str, *, workers: int, tokens: TokenTable, log_level: str,
    graceful_timeout: float, say: Callable[[str], None], guard: RequestGuard | None = None,
    max_body_bytes: int | None = None,
) -> None:
    import multiprocessing

    try:
        payload = config.model_dump(mode="json")
        MemoryConfig.model_validate(json.loads(json.dumps(payload)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"workers > 1 needs a config that can be passed to the workers as JSON: {' '.join(str(exc).split())}"
        ) from None

    # Open the engine once here: a bad config fails with its own error before any worker starts,
    # and the stores create their tables / files once instead of N times concurrently.
    async def check() -> None:
        engine = await AsyncMemory.create(config)
        await engine.aclose()

    asyncio.run(check())

    stop = threading.Event()
    main_thread = threading.current_thread() is threading.main_thread()
    previous: dict[int, Any] = {}
    if main_thread:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    pool = _Pool(multiprocessing.get_context("spawn"), socks, payload, tokens, log_level, graceful_timeout, guard,
                 max_body_bytes, _command_logs())
    failure: str | None = None
    try:
        for slot in range(workers):
            pool.start_one(slot)
        # Every worker up before the address is announced (requests meanwhile wait in the backlog).
        while not stop.is_set() and not all(w.ready for w in pool.workers):
            dead = next((w for w in pool.workers if not w.ready and not w.running), None)
            if dead is not None:
                failure = f"worker {dead.pid} failed to start (exit code {dead.process.exitcode}); its error is above"
                break
            pool.wait(0.2)
        if failure is None and not stop.is_set():
            pids = ", ".join(str(w.pid) for w in pool.workers)
            say(f"listening on {url} ({workers} workers, pids {pids})")
        # Serve: replace a worker that dies; stop on SIGINT / SIGTERM.
        while failure is None and not stop.is_set():
            pool.wait(0.5)
            for i in range(len(pool.workers)):
                w = pool.workers[i]
                if w.running or stop.is_set():
                    continue
                if not w.ready:  # a replacement that could not start: it would fail again
                    failure = f"worker {w.pid} failed to start (exit code {w.process.exitcode}); its error is above"
                    break
                say(f"worker {w.pid} exited unexpectedly (exit code {w.process.exitcode}); starting another")
                say(f"worker {pool.replace(i).pid} started")
    finally:
        unclosed = pool.shutdown()
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if failure is not None:
        raise ProviderError("server", failure)
    if unclosed:
        detail = ", ".join(f"{w.pid} (exit code {w.process.exitcode})" for w in unclosed)
        raise ProviderError("server", f"stopped, but these workers exited without closing their engine: {detail}")
    say(f"stopped (engine closed in all {workers} workers)")


__all__ = [
    "BALANCED_REUSEPORT", "WORKER_HEADER", "bind_socket", "bind_worker_sockets", "create_app", "serve",
    "single_process_stores", "url_of",
]
