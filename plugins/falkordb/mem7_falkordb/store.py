"""FalkorDBGraphStore: mem7's graph store on FalkorDB, through its official async client.

- One ``falkordb.asyncio.FalkorDB`` client per store (a Redis connection pool), opened on first
  use, closed by :meth:`FalkorDBGraphStore.aclose`. Connecting probes the server once (reachable,
  credentials, the FalkorDB module) and creates the identity index.
- The graph is one FalkorDB graph (``graph``, a Redis key). Entities are identified by
  ``(user_id, agent_id, run_id, name)``; a relation only joins nodes of one exact scope (see
  :mod:`._cypher`). Every value is a query parameter.
- FalkorDB runs one write query at a time per graph and applies each query whole or not at all,
  so every write method is one write query; ``upsert`` checks its endpoints with a read query
  first and writes with one query.
- Similarity: FalkorDB's vector index (``db.idx.vector.queryNodes``) narrows the candidates when
  ``vector_index`` allows it; otherwise (or when the index cannot vouch for its answer) the
  scope's entities are scanned with ``vec.cosineDistance`` as a prefilter. Either way the score and
  the threshold test are cosine computed here in float64 from the stored (float32) embeddings.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from mem7_core.errors import ConfigError, Mem7Error, ProviderError
from mem7_core.models import Scope
from mem7_core.providers import Entity, GraphRelation, GraphStore, GraphStoreCapabilities, ProviderConfig
from mem7_core.providers import graph_cypher as gc
from mem7_core.providers.blocking import run_blocking

from . import _cypher as cy
from . import _errors
from ._errors import PROVIDER, map_error, one_line

# The client is imported when the first store is built (see _errors.load_client).
if TYPE_CHECKING:
    from falkordb.asyncio import FalkorDB
    from redis.exceptions import RedisError, ResponseError


def _load_client() -> None:
    global FalkorDB, RedisError, ResponseError
    from falkordb.asyncio import FalkorDB
    from redis.exceptions import RedisError, ResponseError

    _errors.load_client()

log = logging.getLogger("mem7.falkordb")

DEFAULT_URL = "falkor://localhost:6379"
URL_SCHEMES = ("falkor", "falkors", "redis", "rediss", "unix")
ENV_URL = "FALKORDB_URL"
ENV_USERNAME = "FALKORDB_USERNAME"
ENV_PASSWORD = "FALKORDB_PASSWORD"

SERVER_MARGIN = 1e-3
"""How far below the threshold the server's float32 prefilter reaches, so that no entity at the
threshold is lost to rounding before the exact check here."""


def _check_url(url: str, field: str) -> str:
    return gc.check_url(url, field, schemes=URL_SCHEMES, example="falkor://host:6379")


def resolve_url(config: FalkorDBGraphStore.Config, environ: Mapping[str, str] | None = None) -> str:
    """``url`` from the config, else ``FALKORDB_URL``, else ``falkor://localhost:6379``.

    :raises ConfigError: for a malformed ``FALKORDB_URL``.
    """
    if config.url is not None:
        return config.url
    env = os.environ if environ is None else environ
    url = env.get(ENV_URL)
    if not url:
        return DEFAULT_URL
    try:
        return _check_url(url, ENV_URL)
    except ValueError as exc:
        raise ConfigError(f"[{PROVIDER}] {exc}") from None


def _safe_url(url: str) -> str:
    """The URL without credentials (for messages and reprs)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


class FalkorDBGraphStore(gc.CypherScopeOps, GraphStore):
    """mem7 graph store on a FalkorDB server (Redis protocol, OpenCypher)."""

    name = "falkordb"
    capabilities: ClassVar[GraphStoreCapabilities] = GraphStoreCapabilities(persistent=True)

    class Config(ProviderConfig):
        url: str | None = None
        """Server URL, ``falkor://[user:password@]host:6379`` (``falkors://`` for TLS; ``redis://``,
        ``rediss://`` and ``unix://`` also work); unset: ``FALKORDB_URL``, else ``falkor://localhost:6379``."""
        username: str | None = None
        """ACL user; unset: ``FALKORDB_USERNAME``, else the URL's or none (Redis's ``default`` user)."""
        password: SecretStr | None = None
        """Unset: ``FALKORDB_PASSWORD``, else the URL's or none. Kept out of reprs and errors."""
        graph: str = "mem7"
        """The FalkorDB graph (a Redis key) holding mem7's entities and relations."""
        vector_index: Literal["auto", "on", "off"] = "auto"
        """``auto``: create and use FalkorDB's vector index on the entity embeddings, and scan the
        scope where the server cannot build one; ``on``: require it (startup fails without it);
        ``off``: never create or use one."""
        dims: int | None = Field(None, ge=1, le=4096)
        """Embedding size; with it the vector index is built at connect time, else on first use."""
        index_candidates: int = Field(256, ge=1, le=10_000)
        """Nearest entities asked of the vector index per query embedding, across all scopes. When
        none of them falls below the threshold (more may lie beyond), the scope is scanned instead."""
        connect_timeout: float = Field(5.0, gt=0, le=300)
        """Seconds to open a connection."""
        query_timeout: float = Field(30.0, gt=0, le=3600)
        """Seconds one query may take (sent to the server as the query's timeout, and the socket's)."""
        max_connections: int = Field(50, ge=1, le=1000)
        """Connections the client's pool may open to the server."""

        @field_validator("url")
        @classmethod
        def _url(cls, v: str | None) -> str | None:
            return None if v is None else _check_url(v, "url")

        @field_validator("graph")
        @classmethod
        def _graph(cls, v: str) -> str:
            return gc.check_identifier(v, "graph")

        @field_validator("username")
        @classmethod
        def _not_blank(cls, v: str | None) -> str | None:
            if v is not None and not v.strip():
                raise ValueError("must not be empty (leave it unset for none)")
            return v

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        _load_client()
        self._db: FalkorDB | None = None
        self._graph: Any = None  # falkordb.asyncio.AsyncGraph (the client is untyped)
        self._url = _safe_url(self.config.url or "env/default")
        self._lock = asyncio.Lock()
        self._index_dims: int | None = None  # dims of the vector index in use
        self._index_decided = False

    def __repr__(self) -> str:
        return f"<FalkorDBGraphStore {self._url} graph={self.config.graph!r}>"

    @property
    def similarity(self) -> Literal["index", "scan"]:
        """How search narrows candidates: FalkorDB's vector ``index`` or a ``scan`` of the scope."""
        return "index" if self._index_dims is not None else "scan"

    # ============================================================================ connection
    async def connect(self) -> None:
        """Connect and probe the server now (reachability, credentials); see
        :meth:`GraphStore.connect`."""
        await self._ensure()

    async def _ensure(self) -> Any:
        if self._graph is None:
            async with self._lock:
                if self._graph is None:
                    await self._connect()
        if self.config.dims is not None and not self._index_decided:
            await self._decide_index(self.config.dims)
        return self._graph

    async def _connect(self) -> None:
        cfg = self.config
        url = resolve_url(cfg)
        self._url = _safe_url(url)
        password = cfg.password.get_secret_value() if cfg.password is not None else os.environ.get(ENV_PASSWORD)
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": cfg.connect_timeout,
            "socket_timeout": cfg.query_timeout + cfg.connect_timeout,
            "max_connections": cfg.max_connections,
            # No resend (the client's default is three, with backoff): a write that timed out may
            # have been applied, and sending it again would count its mentions twice. ``None``, not
            # a Retry object: the constructor hands these settings to a synchronous client too.
            "retry": None,
        }
        username = cfg.username or os.environ.get(ENV_USERNAME)
        if username:
            kwargs["username"] = username
        if password:
            kwargs["password"] = password
        try:
            # The constructor asks the server (synchronously) whether it is a cluster: off the loop.
            db = await asyncio.wait_for(
                run_blocking(FalkorDB.from_url, url, **kwargs), timeout=2 * cfg.connect_timeout + 1
            )
        except ValueError as exc:
            raise ConfigError(f"[{PROVIDER}] cannot use url {self._url!r}: {one_line(exc)}") from exc
        except (TimeoutError, RedisError, OSError) as exc:
            raise map_error(exc, url=self._url, graph=cfg.graph) from exc
        graph = db.select_graph(cfg.graph)
        try:
            # The first query reaches the server, checks credentials and the module, and creates
            # the graph (a read on a graph that does not exist yet is an error).
            await asyncio.wait_for(self._create_schema(graph), timeout=2 * cfg.connect_timeout)
            await self._check_persistence(db)
        except BaseException as exc:
            await db.aclose()
            if isinstance(exc, Mem7Error) or not isinstance(exc, Exception):
                raise
            raise map_error(exc, url=self._url, graph=cfg.graph) from exc
        self._db, self._graph = db, graph

    async def _create_schema(self, graph: Any) -> None:
        """The range index on ``key`` and ``user_key`` (see :mod:`._cypher`); one that exists is kept."""
        try:
            await graph.query(cy.CREATE_KEY_INDEX)
        except ResponseError as exc:
            if "already indexed" not in str(exc):
                raise

    async def _check_persistence(self, db: FalkorDB) -> None:
        """Warn when the server would lose acknowledged writes on a restart (no append-only file).

        Best effort: managed servers that refuse ``CONFIG`` are not checked.
        """
        try:
            aof = await db.connection.config_get("appendonly")
            save = await db.connection.config_get("save")
        except RedisError:
            return
        if aof.get("appendonly") != "yes" and not save.get("save"):
            log.warning(
                "falkordb at %s persists nothing (appendonly no, no save points): acknowledged writes are "
                "lost when the server restarts. Run it with --appendonly yes",
                self._url,
            )
        elif aof.get("appendonly") != "yes":
            log.warning(
                "falkordb at %s has appendonly off: writes since its last RDB snapshot are lost if it "
                "stops. Run it with --appendonly yes for durable writes",
                self._url,
            )

    async def _decide_index(self, dims: int) -> None:
        """Adopt or create the vector index once the embedding size is known; ``auto`` falls back."""
        if self._index_decided or self.config.vector_index == "off":
            self._index_decided = True
            return
        async with self._lock:
            if self._index_decided:
                return
            graph = self._graph
            assert graph is not None
            try:
                existing = await self._index_dimension(graph)
                if existing is None:
                    try:
                        await graph.query(cy.create_vector_index(dims))
                    except ResponseError as exc:
                        if "already indexed" not in str(exc):  # another process was first
                            raise
                        existing = await self._index_dimension(graph)
                if existing is not None and existing != dims:
                    raise ConfigError(
                        f"[{PROVIDER}] the vector index of graph {self.config.graph!r} has {existing} "
                        f"dimensions, the embeddings have {dims}: set graph_store.config.graph to another "
                        "graph after changing embedders"
                    )
            except ResponseError as exc:
                if self.config.vector_index == "on":
                    raise ConfigError(
                        f"[{PROVIDER}] vector_index='on' but {self._url} cannot build a vector index "
                        f"({one_line(exc)}): use FalkorDB 4.0+ or set vector_index to 'auto' or 'off'"
                    ) from exc
                log.info("falkordb: no vector index (%s); search scans the scope", one_line(exc))
            except RedisError as exc:
                raise map_error(exc, url=self._url, graph=self.config.graph) from exc
            else:
                self._index_dims = dims
            self._index_decided = True

    async def _index_dimension(self, graph: Any) -> int | None:
        """The dimension of the existing vector index on the entity embeddings, if there is one."""
        result = await graph.ro_query(cy.LIST_INDEXES)
        for label, _properties, options in result.result_set:
            if label != gc.LABEL:
                continue
            embedding = (options or {}).get("embedding") or {}
            if "dimension" in embedding:
                return int(embedding["dimension"])
        return None

    async def aclose(self) -> None:
        db, self._db, self._graph = self._db, None, None
        self._index_decided = False
        self._index_dims = None
        if db is not None:
            await db.aclose()

    # ============================================================================ queries
    async def _rows(self, statement: str, params: dict[str, Any], *, write: bool = False) -> list[dict[str, Any]]:
        """The result as dicts keyed by the RETURN clause's aliases."""
        graph = await self._ensure()
        timeout = max(1, int(self.config.query_timeout * 1000))
        try:
            if write:
                result = await graph.query(statement, params, timeout=timeout)
            else:
                result = await graph.ro_query(statement, params, timeout=timeout)
        except (RedisError, OSError) as exc:
            if not write and isinstance(exc, ResponseError) and "empty key" in str(exc):
                return []  # the graph was deleted (GRAPH.DELETE) since we connected: nothing stored
            raise map_error(exc, url=self._url, graph=self.config.graph) from exc
        names = [column[1] for column in result.header]
        return [dict(zip(names, row, strict=True)) for row in result.result_set]

    # ============================================================================ upsert
    async def upsert(
        self,
        scope: Scope,
        entities: Sequence[Entity],
        relations: Sequence[GraphRelation],
        *,
        now: str,
    ) -> list[GraphRelation]:
        if scope.is_empty:
            raise ValueError("graph upsert needs a scope: set user_id, agent_id or run_id")
        rows = _entity_rows(entities)
        dims = {r["dims"] for r in rows if r["dims"] is not None}
        gc.check_entity_dims(dims, self.config.dims)
        rel_rows = _relation_rows(relations)
        if not rows and not rel_rows:
            return []
        await self._ensure()
        if dims:
            await self._decide_index(next(iter(dims)))
        exact = cy.write_params(scope)
        given = {r["name"] for r in rows}
        without_embedding = sorted(r["name"] for r in rows if r["embedding"] is None)
        endpoints = sorted({n for r in rel_rows for n in (r["source"], r["destination"])} - given)
        # Check before writing: a bad call leaves the store unchanged.
        asked = sorted(set(without_embedding) | set(endpoints))
        stored: set[str] = set()
        if asked:
            found = await self._rows(cy.STORED_NAMES, {"keys": [self._key(exact, n) for n in asked]})
            stored = {row["name"] for row in found}
        gc.check_references(scope, without_embedding, endpoints, stored)
        # Stored endpoints go through the entity stage uncounted (n = 0): the relation stage takes
        # its endpoints from the nodes that stage merged (see _cypher.UPSERT).
        rows += [{"name": n, "type": None, "embedding": None, "dims": None, "n": 0} for n in endpoints]
        for row in rows:
            row["key"] = self._key(exact, row["name"])
        written = await self._rows(cy.UPSERT, {**exact, "rows": rows, "rels": rel_rows, "now": now}, write=True)
        by_triple = {(w["source"], w["relationship"], w["destination"]): w for w in written}
        out: list[GraphRelation] = []
        for r in relations:
            stored_row = by_triple.get(r.triple)
            if stored_row is None:  # pragma: no cover - every endpoint went through the entity stage
                raise ProviderError(PROVIDER, f"relation {r.triple!r} was not written")
            out.append(gc.relation_from_row(stored_row))
        return out

    @staticmethod
    def _key(exact: Mapping[str, str], name: str) -> str:
        return cy.entity_key(exact["user_id"], exact["agent_id"], exact["run_id"], name)

    # ============================================================================ search
    async def search(
        self,
        scope: Scope,
        embeddings: Sequence[Sequence[float]],
        *,
        threshold: float,
        limit: int,
    ) -> list[GraphRelation]:
        if not embeddings or limit <= 0:
            return []
        queries = gc.query_vectors(embeddings, self.config.dims)
        dims = len(queries[0])
        await self._ensure()
        await self._decide_index(dims)
        where, params = cy.scope_where("n", scope)
        floor = threshold - SERVER_MARGIN
        rows: list[dict[str, Any]] | None = None
        if self._index_dims == dims and floor > 0:
            rows = await self._index_candidates(where, params, queries, 1.0 - floor)
        if rows is None:
            prefilter = floor > 0
            scan_params: dict[str, Any] = {**params, "dims": dims}
            if prefilter:
                scan_params.update(queries=queries, max_distance=1.0 - floor)
            rows = await self._rows(cy.scan(where, prefilter), scan_params)
        candidates = gc.scored_entities(rows, queries, threshold)
        if not candidates:
            return []
        keys = [{"i": i, "key": cy.entity_key(**key)} for i, (key, _) in enumerate(candidates)]
        one_hop = await self._rows(cy.ONE_HOP, {"keys": keys})
        return gc.rank_hits(one_hop, [score for _, score in candidates], limit)

    async def _index_candidates(
        self, where: str, params: dict[str, str], queries: list[list[float]], max_distance: float
    ) -> list[dict[str, Any]] | None:
        """In-scope candidates from the vector index, or ``None`` when it cannot vouch for them.

        The index ranks the whole graph, not the scope, and counts deleted vectors among its ``k``:
        its answer is complete only when, for every query, some returned entity is already beyond
        the threshold (everything not returned is farther still).
        """
        out: list[dict[str, Any]] = []
        for query in queries:
            rows = await self._rows(
                cy.by_index(where), {**params, "query": query, "k": self.config.index_candidates}
            )
            if not any(row["score"] > max_distance for row in rows):
                return None
            out.extend(row for row in rows if row["in_scope"] and row["score"] <= max_distance)
        return out

    # ============================================================================ changes
    async def _statement_rows(self, statement: str, params: dict[str, Any], *, write: bool) -> list[dict[str, Any]]:
        return await self._rows(statement, params, write=write)

    def _where(self, var: str, scope: Scope) -> tuple[str, dict[str, str]]:
        return cy.scope_where(var, scope)  # user_id through the index



# ================================================================================ helpers
def _entity_rows(entities: Sequence[Entity]) -> list[dict[str, Any]]:
    """One row per name (FalkorDB must not MERGE one node twice in a query), counting repeats; the
    last type and embedding given win."""
    rows: dict[str, dict[str, Any]] = {}
    for e in entities:
        if not isinstance(e.name, str) or not e.name:
            raise ValueError(f"entity name must be a non-empty string, got {e.name!r}")
        embedding = None if e.embedding is None else gc.vector_values(e.embedding, f"embedding of entity {e.name!r}")
        row = rows.setdefault(e.name, {"name": e.name, "type": None, "embedding": None, "dims": None, "n": 0})
        row["n"] += 1
        if e.type is not None:
            row["type"] = e.type
        if embedding is not None:
            row["embedding"], row["dims"] = embedding, len(embedding)
    return list(rows.values())


def _relation_rows(relations: Sequence[GraphRelation]) -> list[dict[str, Any]]:
    """One row per triple (FalkorDB must not MERGE one relationship twice in a query), with how
    many times it was given."""
    gc.check_triples(relations)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in relations:
        row = rows.setdefault(
            r.triple,
            {"i": len(rows), "source": r.source, "relationship": r.relationship, "destination": r.destination, "n": 0},
        )
        row["n"] += 1
    return list(rows.values())


