"""MemgraphGraphStore: mem7's graph store on Memgraph, over Bolt with the official ``neo4j`` driver.

- One async driver per store, opened on first use, closed by :meth:`MemgraphGraphStore.aclose`.
  Connecting probes the server once (reachability, credentials) and asks it which dialect it
  speaks (``dialect: auto``): Memgraph answers ``mg.procedures()``, other Bolt servers do not.
- Entities are identified by ``(user_id, agent_id, run_id, name)``; a relation only joins nodes of
  one exact scope. Every value is a query parameter. The portable statements (upsert, reads and
  changes, the one-hop read) are the contract's (:mod:`mem7_core.providers.graph_cypher`); what
  only Memgraph takes (its index and constraint syntax, its vector index) is in :mod:`._cypher`.
- Search narrows the candidates with Memgraph's vector index when there is one (``vector_index``),
  else reads the scope's embeddings; either way the score and the threshold test are exact cosine
  computed here, so every path gives the same answer.
- Each upsert is one transaction, retried (bounded, jittered) when it lost a race: Memgraph's
  "conflicting transactions" transient errors, a uniqueness violation of two MERGEs creating one
  entity. Failures end as :class:`~mem7_core.errors.ProviderError` or
  :class:`~mem7_core.errors.ConfigError` naming ``memgraph``, the server and the fix.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncTransaction, Query
from neo4j.exceptions import DriverError, Neo4jError
from pydantic import AliasChoices, Field, SecretStr

from mem7_core.errors import ConfigError, Mem7Error, ProviderError
from mem7_core.models import Scope
from mem7_core.providers import Entity, GraphRelation, GraphStore, GraphStoreCapabilities
from mem7_core.providers import graph_cypher as gc

from . import _cypher as cy
from ._errors import PROVIDER, is_write_conflict, map_error, one_line

log = logging.getLogger("mem7.memgraph")

T = TypeVar("T")

DEFAULT_URL = "bolt://localhost:7687"
ENV_URL = "MEMGRAPH_URL"
ENV_USERNAME = "MEMGRAPH_USERNAME"
ENV_PASSWORD = "MEMGRAPH_PASSWORD"

SERVER_MARGIN = 1e-3
"""How far below the threshold the index's (float32) scores may reach and still be fetched, so
no entity at the threshold is lost to rounding before the exact check here."""

Dialect = Literal["memgraph", "cypher"]


def _check_url(url: str, field: str) -> str:
    return gc.check_url(url, field, schemes=gc.BOLT_SCHEMES, example="bolt://host:7687")


def resolve_url(config: MemgraphGraphStore.Config, environ: Mapping[str, str] | None = None) -> str:
    """``url`` from the config, else ``MEMGRAPH_URL``, else ``bolt://localhost:7687``.

    :raises ConfigError: for a malformed ``MEMGRAPH_URL``.
    """
    if config.url is not None:
        return config.url
    url = (os.environ if environ is None else environ).get(ENV_URL)
    if not url:
        return DEFAULT_URL
    try:
        return _check_url(url, ENV_URL)
    except ValueError as exc:
        raise ConfigError(f"[{PROVIDER}] {exc}") from None


class MemgraphGraphStore(gc.CypherScopeOps, GraphStore):
    """mem7 graph store on Memgraph over Bolt (its portable statements run on any Bolt server)."""

    name = "memgraph"
    capabilities: ClassVar[GraphStoreCapabilities] = GraphStoreCapabilities(persistent=True)

    class Config(gc.BoltConfig):
        url: str | None = None
        """Bolt URL; unset: ``MEMGRAPH_URL``, else ``bolt://localhost:7687``."""
        username: str | None = None
        """Unset: ``MEMGRAPH_USERNAME``, else none (Memgraph without users)."""
        password: SecretStr | None = None
        """Unset: ``MEMGRAPH_PASSWORD``; neither: connect without auth. Kept out of reprs and errors."""
        database: str | None = None
        """Database name (Memgraph Enterprise's multi-tenancy); unset: the server's default."""
        dialect: Literal["auto", "memgraph", "cypher"] = "auto"
        """``auto``: ask the server (Memgraph answers ``mg.procedures()``); ``memgraph``: require
        Memgraph (startup fails on another server); ``cypher``: portable statements only (schema
        in Neo4j 5 syntax, best effort; no vector index), for any Bolt server."""
        vector_index: Literal["auto", "on", "off"] = "auto"
        """Memgraph dialect only. ``auto``: create and use a vector index when the server has
        vector search; ``on``: require it; ``off``: never (search reads the scope's embeddings)."""
        index_capacity: int = Field(100_000, ge=1, le=1_000_000_000)
        """How many vectors Memgraph sizes the index for (its ``capacity``)."""
        index_candidates: int = Field(100, ge=1, le=10_000)
        """Nearest entities asked of the index per query; when all of them clear the threshold
        the search reads the scope's embeddings instead (the index cannot vouch for the rest)."""
        dims: int | None = Field(None, ge=1, le=65_536, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Embedding size; unset: taken from the first embeddings written or searched."""

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._driver: AsyncDriver | None = None
        self._url = self.config.url or "env/default"
        self._username: str | None = self.config.username
        self._lock = asyncio.Lock()
        self._dialect: Dialect | None = None
        self._vector_search = False  # the server has Memgraph's vector_search module
        self._index_dims: int | None = None  # dims of the vector index in use
        self._index_decided = False

    def __repr__(self) -> str:
        return f"<MemgraphGraphStore {self._url} dialect={self._dialect or self.config.dialect}>"

    @property
    def dialect(self) -> Dialect | None:
        """The dialect in use once connected: ``memgraph`` or ``cypher``."""
        return self._dialect

    @property
    def similarity(self) -> Literal["index", "client"]:
        """How search narrows candidates: Memgraph's vector ``index``, or ``client`` (every
        embedding of the scope compared here)."""
        return "index" if self._index_dims is not None else "client"

    # ============================================================================ connection
    async def connect(self) -> None:
        """Connect and probe the server now (reachability, credentials, database); see
        :meth:`GraphStore.connect`."""
        await self._ensure()

    async def _ensure(self) -> AsyncDriver:
        if self._driver is None:
            async with self._lock:
                if self._driver is None:
                    await self._connect()
        driver = self._driver
        assert driver is not None
        if self.config.dims is not None and not self._index_decided:
            await self._decide_index(self.config.dims)
        return driver

    def _fail(self, exc: BaseException) -> Exception:
        return map_error(exc, url=self._url, username=self._username)

    async def _connect(self) -> None:
        cfg = self.config
        self._url = resolve_url(cfg)
        self._username = cfg.username or os.environ.get(ENV_USERNAME)
        password = cfg.password.get_secret_value() if cfg.password is not None else os.environ.get(ENV_PASSWORD)
        auth = (self._username or "", password) if password is not None else None
        try:
            driver = AsyncGraphDatabase.driver(
                self._url,
                auth=auth,
                connection_timeout=cfg.connect_timeout,
                connection_acquisition_timeout=cfg.connect_timeout + cfg.query_timeout,
                max_connection_pool_size=cfg.max_connection_pool_size,
                user_agent="mem7-memgraph/0.1",
            )
        except (DriverError, ValueError) as exc:
            raise ConfigError(f"[{PROVIDER}] cannot use url {self._url!r}: {one_line(exc)}") from exc
        try:
            await asyncio.wait_for(self._probe(driver), timeout=2 * cfg.connect_timeout)
            await self._create_schema(driver)
        except BaseException as exc:
            await driver.close()
            if isinstance(exc, Mem7Error) or not isinstance(exc, Exception):
                raise
            raise self._fail(exc) from exc
        self._driver = driver

    async def _probe(self, driver: AsyncDriver) -> None:
        """Reach the server (credentials, database), then learn its dialect."""
        async with driver.session(database=self.config.database) as session:
            await (await session.run(cy.PROBE)).consume()
            if self.config.dialect == "cypher":
                self._dialect = "cypher"
                return
            try:
                record = await (await session.run(cy.PROBE_MEMGRAPH)).single()
            except Neo4jError as exc:
                if self.config.dialect == "memgraph":
                    raise ConfigError(
                        f"[{PROVIDER}] dialect='memgraph' but the server at {self._url} is not Memgraph "
                        f"(mg.procedures(): {one_line(exc)}): connect to Memgraph, or set dialect to 'auto' or 'cypher'"
                    ) from exc
                self._dialect = "cypher"
                log.info("memgraph: %s is not Memgraph (%s); portable Cypher only", self._url, one_line(exc))
                return
            self._dialect = "memgraph"
            self._vector_search = record is not None and int(record["n"] or 0) > 0

    async def _create_schema(self, driver: AsyncDriver) -> None:
        """The identity's uniqueness constraint and the scope index: Memgraph's syntax on
        Memgraph, else Neo4j 5's (which ArcadeDB takes). Each is its own auto-commit statement,
        best effort: one already there or refused is logged and skipped (in each group of
        alternatives, the first taken wins)."""
        groups = cy.MEMGRAPH_SCHEMA if self._dialect == "memgraph" else gc.NEO4J5_SCHEMA
        async with driver.session(database=self.config.database) as session:
            for statements in groups:
                for statement in statements:
                    try:
                        await (await session.run(statement)).consume()
                        break
                    except Neo4jError as exc:
                        log.info("memgraph: schema statement refused (%s): %s", statement, one_line(exc))

    async def _decide_index(self, dims: int) -> None:
        """Once per store: use (creating it if needed) a vector index of ``dims`` dimensions."""
        if self._index_decided:
            return
        async with self._lock:
            if self._index_decided:
                return
            cfg = self.config
            wanted = self._dialect == "memgraph" and cfg.vector_index != "off"
            if cfg.vector_index == "on" and not (wanted and self._vector_search):
                raise ConfigError(
                    f"[{PROVIDER}] vector_index='on' but the server at {self._url} has no vector search "
                    f"(dialect {self._dialect}): use Memgraph 3.0+, or set vector_index to 'auto' or 'off'"
                )
            if wanted and self._vector_search:
                self._index_dims = await self._open_index(dims)
            self._index_decided = True

    async def _open_index(self, dims: int) -> int | None:
        name = self.config.index_name
        existing = await self._query(cy.SHOW_VECTOR_INDEXES, {})
        for record in existing:
            row = dict(record)
            if row.get("index_name") != name:
                continue
            have = row.get("dimension")
            if isinstance(have, int) and have != dims:
                raise ConfigError(
                    f"[{PROVIDER}] vector index {name!r} at {self._url} has {have} dimensions, the embeddings "
                    f"have {dims}: set graph_store.config.index_name to another index after changing embedders"
                )
            return dims
        statement = cy.create_vector_index(name, dims, self.config.index_capacity)
        try:
            await self._query(statement, {})
        except ProviderError as exc:
            if self.config.vector_index == "on":
                raise ConfigError(f"[{PROVIDER}] cannot create vector index {name!r}: {exc}") from exc
            log.info("memgraph: no vector index (%s); search reads the scope's embeddings", exc)
            return None
        return dims

    async def aclose(self) -> None:
        driver, self._driver = self._driver, None
        self._index_decided = False
        self._index_dims = None
        if driver is not None:
            await driver.close()

    # ============================================================================ transactions
    async def _retrying(self, attempt_once: Callable[[AsyncDriver], Awaitable[T]]) -> T:
        """Run one attempt; retry lost races (bounded, jittered); map driver errors."""
        driver = await self._ensure()
        return await gc.retry_conflicts(
            lambda: attempt_once(driver),
            retries=self.config.max_retries,
            errors=(Neo4jError, DriverError, OSError),
            is_conflict=is_write_conflict,
            fail=self._fail,
            log=log,
        )

    async def _transaction(self, work: Callable[[AsyncTransaction], Awaitable[T]]) -> T:
        """``work`` in one explicit write transaction, retried whole when it lost a race."""

        async def once(driver: AsyncDriver) -> T:
            async with driver.session(database=self.config.database) as session:
                tx = await session.begin_transaction(timeout=self.config.query_timeout)
                try:
                    out = await work(tx)
                    await tx.commit()
                    return out
                finally:
                    if not tx.closed():
                        await tx.rollback()

        return await self._retrying(once)

    async def _query(self, statement: str, params: dict[str, Any]) -> list[Any]:
        """One statement in an auto-commit transaction (atomic on its own, one round trip)."""
        query = Query(statement, timeout=self.config.query_timeout)

        async def once(driver: AsyncDriver) -> list[Any]:
            async with driver.session(database=self.config.database) as session:
                result = await session.run(query, params)
                return [record async for record in result]

        return await self._retrying(once)

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
        rows = [_entity_row(e) for e in entities]
        dims = {len(r["embedding"]) for r in rows if r["embedding"] is not None}
        gc.check_entity_dims(dims, self.config.dims)
        gc.check_triples(relations)
        rel_rows: list[dict[str, Any]] = [
            {"i": i, "source": r.source, "relationship": r.relationship, "destination": r.destination}
            for i, r in enumerate(relations)
        ]
        if not rows and not rel_rows:
            return []
        await self._ensure()
        if dims:
            await self._decide_index(next(iter(dims)))
        exact = gc.write_params(scope)
        given = {r["name"] for r in rows}
        without_embedding = sorted(given - {r["name"] for r in rows if r["embedding"] is not None})
        endpoints = sorted({n for r in rel_rows for n in (r["source"], r["destination"])} - given)

        async def work(tx: AsyncTransaction) -> dict[tuple[str, str, str], dict[str, Any]]:
            # Check everything before writing anything: a bad call leaves the store unchanged.
            asked = sorted(set(without_embedding) | set(endpoints))
            stored: set[str] = set()
            if asked:
                result = await tx.run(gc.STORED_NAMES, {**exact, "names": asked})
                stored = {record["name"] async for record in result}
            gc.check_references(scope, without_embedding, endpoints, stored)
            if rows:
                await (await tx.run(gc.MERGE_ENTITIES, {**exact, "rows": rows, "now": now})).consume()
            final: dict[tuple[str, str, str], dict[str, Any]] = {}
            if rel_rows:
                result = await tx.run(gc.MERGE_RELATIONS, {**exact, "rows": rel_rows, "now": now})
                # "As stored after the write": a triple given twice reports its final state both times.
                for record in sorted([r async for r in result], key=lambda r: r["i"]):
                    final[(record["source"], record["relationship"], record["destination"])] = dict(record)
            return final

        final = await self._transaction(work)
        out: list[GraphRelation] = []
        for r in relations:
            stored_row = final.get(r.triple)
            if stored_row is None:  # pragma: no cover - endpoints were checked in the same transaction
                raise ProviderError(PROVIDER, f"relation {r.triple!r} was not written")
            out.append(gc.relation_from_row(stored_row))
        return out

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
        where, params = gc.scope_where("n", scope)
        rows: list[Any] | None = None
        if self._index_dims == dims:
            rows = await self._index_candidates(where, params, queries, threshold - SERVER_MARGIN)
        if rows is None:
            rows = await self._query(gc.all_embeddings(where), {**params, "dims": dims})
        candidates = gc.scored_entities(rows, queries, threshold)
        if not candidates:
            return []
        keys = [{"i": i, **key} for i, (key, _) in enumerate(candidates)]
        records = await self._query(cy.ONE_HOP, {"keys": keys})
        return gc.rank_hits(records, [score for _, score in candidates], limit)

    async def _index_candidates(
        self, where: str, params: dict[str, str], queries: list[list[float]], floor: float
    ) -> list[Any] | None:
        """In-scope candidates from the vector index, or ``None`` when it cannot vouch for them:
        the index ranks the whole database, so when all ``k`` nearest clear the floor, entities
        beyond them might too."""
        k = self.config.index_candidates
        index_params = {**params, "queries": queries, "index": self.config.index_name, "k": k, "floor": floor}
        records = await self._query(cy.candidates_by_index(where), index_params)
        per_query: dict[int, list[float]] = {}
        for record in records:
            per_query.setdefault(record["qi"], []).append(record["score"])
        if any(len(scores) >= k and min(scores) >= floor for scores in per_query.values()):
            return None
        return [record for record in records if record["embedding"] is not None]

    # ============================================================================ changes
    async def _statement_rows(self, statement: str, params: dict[str, Any], *, write: bool) -> list[Any]:
        return await self._query(statement, params)


def _entity_row(entity: Entity) -> dict[str, Any]:
    if not isinstance(entity.name, str) or not entity.name:
        raise ValueError(f"entity name must be a non-empty string, got {entity.name!r}")
    embedding = None
    if entity.embedding is not None:
        embedding = gc.vector_values(entity.embedding, f"embedding of entity {entity.name!r}")
    return {"name": entity.name, "type": entity.type, "embedding": embedding}
