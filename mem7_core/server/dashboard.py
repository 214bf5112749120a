"""The memory dashboard of ``mem7 serve``: static pages at ``/ui/`` and the JSON they need under ``/ui/api``.

The pages (``mem7_core/server/ui/``: HTML, CSS and JavaScript modules, shipped in the wheel, no build
step, nothing fetched from elsewhere) call the REST API and these routes with the bearer token the
user enters once. The routes are the REST API's own: same auth, same pinned-scope checks
(:func:`~.auth.pinned_scope`), same error bodies.

=========================================  ======================================================================
``GET /ui/``                               the dashboard (static files, no auth: they hold no data)
``GET /ui/api/session``                    who is calling: ``{"auth", "pin", "graph", "decay", "version"}``
``GET /ui/api/scopes``                     users / agents / runs with memory counts (a pin: its own only)
``GET /ui/api/memories``                   ``get_all`` with ``offset`` paging: ``{"results", "total", ...}``
``GET /ui/api/memories/{id}/retention``    the memory's retention curve under the decay settings
``GET /ui/api/graph``                      a scope's relations, invalidated ones included when the store can
=========================================  ======================================================================

The retention curve is computed here with the decay scorer's own functions
(:func:`mem7_core.scorers.decay.retention`, :func:`~mem7_core.scorers.decay.hit_retention`) and the
engine's decay settings, so the page plots exactly what search multiplies scores by.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures below, whose
# annotations name dependencies made inside install_dashboard.
from collections import Counter
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .. import __version__
from ..engine import inputs
from ..engine.memory import AsyncMemory
from ..errors import MemoryNotFoundError
from ..ids import iso, parse_instant, utc_now
from ..models import SCOPE_KEYS, Item
from ..providers.graph_store import GraphRelation
from ..providers.scorer import ScoredHit
from ..scorers.decay import DecayConfig, DecayScorer, hit_retention, retention, retention_anchor
from .auth import Pin, Principal, TokenTable, pinned_scope
from .schemas import MAX_LIMIT

UI_DIR = FsPath(__file__).resolve().parent / "ui"
"""The dashboard's static files (package data of mem7-core)."""

CURVE_POINTS = 61
"""Points of a retention curve."""

UI_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
)
"""Sent with every static file: the pages load nothing but their own files, no one may frame them, and
a browser revalidates them (ETag) so an upgraded server's pages are never mixed with cached ones."""


# ------------------------------------------------------------------------------------ response models
class ScopeCount(BaseModel):
    id: str
    count: int


class ScopeRow(BaseModel):
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    count: int


class ScopesResult(BaseModel):
    """Memory counts per user, agent and run, and per exact scope, of the scopes the caller may see."""

    users: list[ScopeCount]
    agents: list[ScopeCount]
    runs: list[ScopeCount]
    scopes: list[ScopeRow]
    total: int


class SessionResult(BaseModel):
    auth: bool = Field(description="whether the server requires a bearer token")
    pin: Pin | None = Field(None, description="the scope the caller's token is pinned to; null: unrestricted")
    graph: bool = Field(description="whether a graph store is configured")
    decay: DecayConfig = Field(description="the decay settings search uses (enabled: whether it decays at all)")
    version: str


class PageResult(BaseModel):
    results: list[Item]
    total: int = Field(description="memories matching (at most the server's limit, 10000)")
    offset: int
    limit: int


class CurvePoint(BaseModel):
    at: str
    age_secs: float
    retention: float


class RetentionResult(BaseModel):
    memory_id: str
    enabled: bool = Field(description="decay is on: search multiplies this memory's score by the retention")
    settings: DecayConfig
    anchor: str | None = Field(None, description="when the curve starts: last access, else last update, else creation")
    now: str
    age_secs: float
    retention_now: float
    access_count: int
    points: list[CurvePoint]


class GraphResult(BaseModel):
    enabled: bool = Field(description="a graph store is configured")
    includes_invalid: bool = Field(description="the store listed invalidated relations too")
    entities: list[str]
    relations: list[GraphRelation] = Field(description="each with its valid flag, mentions and times")


# ------------------------------------------------------------------------------------ helpers
def _settings(memory: AsyncMemory) -> DecayConfig:
    """The decay settings search uses: the running decay scorer's, else the config's with ``enabled``
    false (no decay scorer runs)."""
    scorer = next((s for s in memory.scorers if isinstance(s, DecayScorer)), None)
    if scorer is not None:
        return scorer.config.model_copy(update={"enabled": True})
    return memory.config.decay.model_copy(update={"enabled": False})


def _counts(counter: Counter[str]) -> list[ScopeCount]:
    return [ScopeCount(id=k, count=v) for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def install_dashboard(
    app: FastAPI, *, engine: Any, caller: Any, scope_query: Any, filters_query: Any,
    responses: dict[int | str, dict[str, Any]], by_id: dict[int | str, dict[str, Any]],
) -> None:
    """Register the dashboard on ``app``. The arguments are the REST server's own dependencies (the
    engine, the authenticated :class:`Principal`, the scope ids and the ``filters`` JSON of a query
    string) and its documented error responses (``by_id`` adds 404), so these routes are checked,
    parsed and documented exactly like the API's others."""
    Engine = Annotated[AsyncMemory, Depends(engine)]
    Caller = Annotated[Principal, Depends(caller)]
    ScopeQuery = Annotated[dict[str, str | None], Depends(scope_query)]
    FiltersQuery = Annotated[dict[str, Any] | None, Depends(filters_query)]
    api = "/ui/api"
    tags: list[str | Enum] = ["dashboard"]

    @app.get(f"{api}/session", tags=tags, responses=responses, response_model=SessionResult,
             response_model_exclude_none=True,
             summary="dashboard: who is calling (auth on, pin), what is configured (graph, decay)")
    async def session(request: Request, memory: Engine, who: Caller) -> SessionResult:
        table: TokenTable = request.app.state.tokens
        return SessionResult(auth=table.enabled, pin=who.pin, graph=memory.graph_store is not None,
                             decay=_settings(memory), version=__version__)

    @app.get(f"{api}/scopes", tags=tags, responses=responses, response_model=ScopesResult,
             summary="dashboard: memory counts per user, agent, run and exact scope (a pinned token: its pin's)")
    async def scopes(memory: Engine, who: Caller) -> ScopesResult:
        items = await memory.export_memories(**pinned_scope(who, {}))  # unpinned keys are None: every scope
        per: dict[str, Counter[str]] = {k: Counter() for k in SCOPE_KEYS}
        exact: Counter[tuple[str | None, ...]] = Counter()
        for item in items:
            ids = (item["user_id"], item["agent_id"], item["run_id"])
            exact[ids] += 1
            for key, value in zip(SCOPE_KEYS, ids):
                if value is not None:
                    per[key][value] += 1
        rows = [ScopeRow(user_id=u, agent_id=a, run_id=r, count=n)
                for (u, a, r), n in sorted(exact.items(), key=lambda kv: tuple(v or "" for v in kv[0]))]
        return ScopesResult(users=_counts(per["user_id"]), agents=_counts(per["agent_id"]), runs=_counts(per["run_id"]),
                            scopes=rows, total=len(items))

    @app.get(f"{api}/memories", tags=tags, responses=responses, response_model=PageResult,
             response_model_exclude_none=True,
             summary="dashboard: one page of get_all (query: scope ids, filters as JSON, offset, limit)")
    async def page(
        memory: Engine, who: Caller, scope: ScopeQuery, filters: FiltersQuery,
        offset: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> PageResult:
        listed = await memory.get_all(**pinned_scope(who, scope, filters), filters=filters, limit=MAX_LIMIT)
        results = listed["results"]
        return PageResult(results=[Item.model_validate(r) for r in results[offset:offset + limit]],
                          total=len(results), offset=offset, limit=limit)

    @app.get(api + "/memories/{memory_id}/retention", tags=tags, responses=by_id, response_model=RetentionResult,
             summary="dashboard: a memory's retention curve under the current decay settings")
    async def retention_curve(
        memory_id: Annotated[str, Path(min_length=1, description="the memory's id")],
        memory: Engine, who: Caller, scope: ScopeQuery,
        now: Annotated[str | None, Query(description="the curve's 'now' (ISO-8601 or epoch seconds; default: the "
                                                     "server's clock)")] = None,
    ) -> RetentionResult:
        item = await memory.get(memory_id, **pinned_scope(who, scope))
        if item is None:
            raise MemoryNotFoundError(memory_id)
        at = utc_now() if now is None else parse_instant(float(now) if _is_number(now) else now, "now")
        hit = ScoredHit(id=item["id"], text=item["memory"], score=1.0, access_count=int(item.get("access_count") or 0),
                        created_at=item.get("created_at"), updated_at=item.get("updated_at"),
                        last_accessed_at=item.get("last_accessed_at"))
        cfg = _settings(memory)
        anchor = retention_anchor(hit)
        age = max(0.0, (at - anchor).total_seconds()) if anchor is not None else 0.0
        start = anchor or at
        horizon = max(age * 1.5, 4 * cfg.base_half_life_secs)
        points = []
        for i in range(CURVE_POINTS):
            secs = horizon * i / (CURVE_POINTS - 1)
            moment: datetime = start + timedelta(seconds=secs)
            points.append(CurvePoint(at=iso(moment), age_secs=secs, retention=retention(secs, hit.access_count, cfg)))
        return RetentionResult(
            memory_id=item["id"], enabled=cfg.enabled, settings=cfg,
            anchor=iso(anchor) if anchor is not None else None, now=iso(at), age_secs=age,
            retention_now=hit_retention(hit, at, cfg), access_count=hit.access_count, points=points,
        )

    @app.get(f"{api}/graph", tags=tags, responses=responses, response_model=GraphResult,
             summary="dashboard: a scope's entities and relations (invalidated ones too when the store lists them)")
    async def graph(
        memory: Engine, who: Caller, scope: ScopeQuery,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    ) -> GraphResult:
        ids = pinned_scope(who, scope)
        store = memory.graph_store
        if store is None:
            return GraphResult(enabled=False, includes_invalid=False, entities=[], relations=[])
        where, _ = inputs.scope_of(ids["user_id"], ids["agent_id"], ids["run_id"], operation="the graph view")
        found = await store.get_all_including_invalid(where, limit=limit)
        includes_invalid = found is not None
        if found is None:
            found = await store.get_all(where, limit=limit)
        entities = sorted({name for r in found for name in (r.source, r.destination)})
        return GraphResult(enabled=True, includes_invalid=includes_invalid, entities=entities, relations=found)

    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse("ui/", status_code=308)  # relative: right behind a path prefix too

    app.mount("/ui", _Headers(StaticFiles(directory=UI_DIR, html=True)), name="ui")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Headers:
    """ASGI wrapper: :data:`UI_HEADERS` on every response of the static files."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *UI_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["UI_DIR", "install_dashboard"]
