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
``POST   /memories/import``            ``import_memories`` (unrestricted tokens only) → ``{"imported", "replaced", "skipped"}``
``POST   /reset``                      ``reset`` (unrestricted tokens only) → ``{"message"}``
=====================================  ===========================================================

Errors: 401 missing/unknown token, 403 a pinned token reaching outside its scope, 404 no such
memory (in the caller's scope), 409 an imported id already stored (``on_conflict="error"``), 422
bad input (FastAPI's ``{"detail": [{"loc", "msg", "type"}]}`` shape, for the engine's own
``ValueError``\\s too, so ``loc`` names the field), 502 a provider failed (``{"detail", "provider"}``),
503 the same but retryable (rate limit, timeout).

Stateless: the only state in the process is the engine (its providers may cache: see
``docs/server.md`` on the flat store), so several processes can serve the same server-backed
stores. FastAPI and uvicorn are imported by this module only (the ``server`` extra).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from .. import __version__
from ..config import MemoryConfig
from ..engine.memory import AsyncMemory
from ..engine.restore import ImportResult
from ..errors import MemoryConflictError
from ..errors import ConfigError, FilterError, MemoryNotFoundError, ProviderError, ScopeError
from ..models import AddResult, HistoryEvent, Item, ListResult, MessageResult, SearchResult
from .auth import AuthError, Principal, ScopeForbidden, TokenTable, pinned_scope, require_unrestricted
from .schemas import MAX_LIMIT, AddRequest, ErrorBody, Health, ImportRequest, SearchRequest, UpdateRequest

log = logging.getLogger("mem7.server")

_bearer = HTTPBearer(
    auto_error=False,
    description="Required when the server has tokens configured (MEM7_SERVER_TOKENS / --tokens-file).",
)

_COMMON: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the request body is not valid JSON"},
    401: {"model": ErrorBody, "description": "missing, malformed or unknown bearer token"},
    403: {"model": ErrorBody, "description": "the token is pinned to another scope"},
    502: {"model": ErrorBody, "description": "a provider (LLM, embedder, store...) failed; `provider` names it"},
    503: {"model": ErrorBody, "description": "a provider is temporarily unavailable (retryable)"},
}
_BY_ID: dict[int | str, dict[str, Any]] = {
    **_COMMON,
    404: {"model": ErrorBody, "description": "no memory with this id (in the caller's scope)"},
}

ReadyHook = Callable[[], None]


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
    message = " ".join(str(exc).split()) or type(exc).__name__
    return JSONResponse(status_code=422, content={"detail": [{"loc": loc, "msg": message, "type": "value_error"}]})


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content={"detail": detail, **extra}, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_auth(request: Request, exc: Exception) -> JSONResponse:
        return _error(401, str(exc))

    async def on_forbidden(request: Request, exc: Exception) -> JSONResponse:
        return _error(403, str(exc))

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc))

    async def on_conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, " ".join(str(exc).split()))

    async def on_provider(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProviderError)
        log.warning("%s %s: provider %s failed: %s", request.method, request.url.path, exc.provider, exc)
        return _error(503 if exc.retryable else 502, str(exc), provider=exc.provider)

    async def on_value(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValueError)
        return _validation_response(request, exc)

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(ScopeForbidden, on_forbidden)
    app.add_exception_handler(MemoryNotFoundError, on_not_found)
    app.add_exception_handler(MemoryConflictError, on_conflict)
    app.add_exception_handler(ProviderError, on_provider)
    app.add_exception_handler(ValueError, on_value)


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
    async def add(body: AddRequest, memory: Engine, who: Caller) -> AddResult:
        scope = pinned_scope(who, _body_scope(body), body.filters)
        return await memory.add(
            _messages(body.messages), **scope, metadata=body.metadata, filters=body.filters, infer=body.infer,
            memory_type=body.memory_type, prompt=body.prompt,
        )

    @app.post("/memories/search", response_model=SearchResult, response_model_exclude_none=True,
              responses=_COMMON, tags=["memories"], summary="search: the most relevant memories, best first")
    async def search(body: SearchRequest, memory: Engine, who: Caller) -> SearchResult:
        scope = pinned_scope(who, _body_scope(body), body.filters)
        return await memory.search(
            body.query, **scope, limit=body.limit, filters=body.filters, rerank=body.rerank,
            threshold=body.threshold, task_type=body.task_type,
        )

    @app.get("/memories", response_model=ListResult, response_model_exclude_none=True, responses=_COMMON,
             tags=["memories"], summary="get_all: the memories of a scope, oldest first")
    async def get_all(
        memory: Engine, who: Caller, scope: ScopeQuery, filters: FiltersQuery,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> ListResult:
        return await memory.get_all(**pinned_scope(who, scope, filters), filters=filters, limit=limit)

    @app.delete("/memories", response_model=MessageResult, responses=_COMMON, tags=["memories"],
                summary="delete_all: delete every memory of a scope")
    async def delete_all(memory: Engine, who: Caller, scope: ScopeQuery, filters: FiltersQuery) -> MessageResult:
        return await memory.delete_all(**pinned_scope(who, scope, filters), filters=filters)

    @app.get("/memories/{memory_id}", response_model=Item, response_model_exclude_none=True, responses=_BY_ID,
             tags=["memories"], summary="get: one memory by id")
    async def get(memory_id: MemoryId, memory: Engine, who: Caller, scope: ScopeQuery) -> Item:
        item = await memory.get(memory_id, **pinned_scope(who, scope))
        if item is None:
            raise MemoryNotFoundError(memory_id)
        return item

    @app.put("/memories/{memory_id}", response_model=MessageResult, responses=_BY_ID, tags=["memories"],
             summary="update: replace a memory's text, merge metadata")
    async def update(memory_id: MemoryId, body: UpdateRequest, memory: Engine, who: Caller) -> MessageResult:
        scope = pinned_scope(who, _body_scope(body))
        return await memory.update(memory_id, body.text, metadata=body.metadata, **scope)

    @app.delete("/memories/{memory_id}", response_model=MessageResult, responses=_BY_ID, tags=["memories"],
                summary="delete: one memory by id")
    async def delete(memory_id: MemoryId, memory: Engine, who: Caller, scope: ScopeQuery) -> MessageResult:
        return await memory.delete(memory_id, **pinned_scope(who, scope))

    @app.get("/memories/{memory_id}/history", response_model=list[HistoryEvent],
             response_model_exclude_none=True, responses=_BY_ID, tags=["memories"],
             summary="history: the ADD / UPDATE / DELETE events of one memory, oldest first")
    async def history(memory_id: MemoryId, memory: Engine, who: Caller, scope: ScopeQuery) -> list[HistoryEvent]:
        restrict = pinned_scope(who, scope)
        # History rows carry no scope: ownership is checked on the live memory, so a deleted
        # memory's history is visible to unrestricted callers only.
        if any(v is not None for v in restrict.values()) and await memory.get(memory_id, **restrict) is None:
            raise MemoryNotFoundError(memory_id)
        events = await memory.history(memory_id)
        if not events and await memory.get(memory_id) is None:
            raise MemoryNotFoundError(memory_id)
        return events

    @app.post("/memories/import", response_model=ImportResult, tags=["admin"],
              responses={**_COMMON, 409: {"model": ErrorBody, "description": "on_conflict=error and an id is already stored"}},
              summary="import_memories: restore memories verbatim (unrestricted tokens only)")
    async def import_memories(body: ImportRequest, memory: Engine, who: Caller) -> ImportResult:
        # Items name their own scopes (and may replace a memory of any scope): no pin can confine that.
        require_unrestricted(who, "import")
        return await memory.import_memories(body.items, on_conflict=body.on_conflict)

    @app.post("/reset", response_model=MessageResult, responses=_COMMON, tags=["admin"],
              summary="reset: delete every memory and history event (unrestricted tokens only)")
    async def reset(memory: Engine, who: Caller) -> MessageResult:
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
) -> FastAPI:
    """The ASGI application.

    :param config: build the engine from it at startup (default: ``MEM7_*`` env and defaults).
    :param memory: serve this engine instead; the app takes it over and closes it at shutdown.
    :param tokens: accepted bearer tokens (default: none, an open server).
    :param on_ready: called once the engine is up (``mem7 serve`` prints its address then).
    :param on_stopped: called after the engine is closed at shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = memory if memory is not None else await AsyncMemory.create(config)
        app.state.memory = engine
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
    return app


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
) -> None:
    """Serve until SIGINT / SIGTERM, then shut down gracefully: stop accepting, let in-flight
    requests finish (up to ``graceful_timeout`` seconds), close the engine.

    The engine is built before the port is announced, so a bad config fails here, not mid-request.
    ``announce`` gets one-line notices (listening address, stopped).
    """
    import uvicorn

    say = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --host/--port") from None
    url = url_of(sock)

    async def main() -> None:
        engine = await AsyncMemory.create(config)
        try:
            app = create_app(
                memory=engine, tokens=tokens, on_ready=lambda: say(f"listening on {url}"),
                on_stopped=lambda: say("stopped (engine closed)"),
            )
            server = uvicorn.Server(
                uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=graceful_timeout,
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


__all__ = ["bind_socket", "create_app", "serve", "url_of"]
