"""Neo4jGraphStore: mem7's graph store on Neo4j 5 (or any Bolt server speaking its Cypher).

- The official ``neo4j`` driver, async: one driver per store, opened on first use, closed by
  :meth:`Neo4jGraphStore.aclose`. Connecting probes the server once (reachability, auth, the
  database, and which similarity path it offers) within ``connect_timeout``.
- Entities are identified by ``(user_id, agent_id, run_id, name)``: the same name for two users is
  two nodes, and a relation only joins nodes of one exact scope (see :mod:`._cypher` for the
  model). Every value is a query parameter.
- Similarity, best available first: Neo4j's vector index (``db.index.vector.queryNodes``) when
  ``vector_index`` allows it and the server can build one; else ``vector.similarity.cosine`` in
  the query; else the scope's embeddings are fetched and compared here. Whatever narrows the
  candidates, the scores and the threshold test are exact float64 cosine (:mod:`._similarity`).
- Writes run in one transaction each, retried on write conflicts (Neo4j's transient errors, and
  ArcadeDB's optimistic-concurrency conflicts); all failures end as
  :class:`~mem7_core.errors.ProviderError` or :class:`~mem7_core.errors.ConfigError` naming
  ``neo4j``, the server and the fix.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncTransaction, Query
from neo4j.exceptions import AuthError, DriverError, Neo4jError
from pydantic import AliasChoices, Field, SecretStr

from mem7_core.errors import ConfigError, Mem7Error, ProviderError
from mem7_core.models import Scope
from mem7_core.providers import Entity, GraphRelation, GraphStore, GraphStoreCapabilities
from mem7_core.providers import graph_cypher as gc

from . import _cypher as cy
from ._errors import PROVIDER, is_write_conflict, map_error, one_line
from ._similarity import as_matrix, best_cosine, server_floor

log = logging.getLogger("mem7.neo4j")

T = TypeVar("T")

DEFAULT_URL = "bolt://localhost:7687"
DEFAULT_USERNAME = "neo4j"
URL_SCHEMES = gc.BOLT_SCHEMES
ENV_URL = ("NEO4J_URL", "NEO4J_URI")
ENV_USERNAME = ("NEO4J_USERNAME", "NEO4J_USER")
ENV_PASSWORD = ("NEO4J_PASSWORD",)
ENV_DATABASE = ("NEO4J_DATABASE",)

Similarity = Literal["index", "function", "client"]


def _check_url(url: str, field: str) -> str:
    return gc.check_url(url, field, schemes=URL_SCHEMES, example="bolt://host:7687")


def _env(names: Sequence[str], environ: Mapping[str, str]) -> str | None:
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and as whom to connect, after config and environment are merged (config wins)."""

    url: str
    username: str
    password: str | None
    database: str | None


def resolve_connection(config: Neo4jGraphStore.Config, environ: Mapping[str, str] | None = None) -> Connection:
    """Fill what the config leaves unset from ``NEO4J_URL`` (or ``NEO4J_URI``), ``NEO4J_USERNAME``
    (or ``NEO4J_USER``), ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``, then the defaults.

    :raises ConfigError: for a malformed ``NEO4J_URL``.
    """
    env = os.environ if environ is None else environ
    url = config.url
    if url is None:
        url = _env(ENV_URL, env)
        if url is not None:
            try:
                _check_url(url, "NEO4J_URL")
            except ValueError as exc:
                raise ConfigError(f"[{PROVIDER}] {exc}") from None
    password = config.password.get_secret_value() if config.password is not None else _env(ENV_PASSWORD, env)
    return Connection(
        url=url or DEFAULT_URL,
        username=config.username or _env(ENV_USERNAME, env) or DEFAULT_USERNAME,
        password=password,
        database=config.database or _env(ENV_DATABASE, env),
    )


@dataclass(slots=True)
class _Candidate:
    key: dict[str, str]
    score: float


class Neo4jGraphStore(gc.CypherScopeOps, GraphStore):
    """mem7 graph store on Neo4j 5 over Bolt (also runs on ArcadeDB's Bolt plugin)."""

    name = "neo4j"
    capabilities: ClassVar[GraphStoreCapabilities] = GraphStoreCapabilities(persistent=True)

    class Config(gc.BoltConfig):
        url: str | None = None
        """Bolt URL; unset: ``NEO4J_URL`` (or ``NEO4J_URI``), else ``bolt://localhost:7687``."""
        username: str | None = None
        """Unset: ``NEO4J_USERNAME`` (or ``NEO4J_USER``), else ``neo4j``."""
        password: SecretStr | None = None
        """Unset: ``NEO4J_PASSWORD``; neither: connect without auth. Kept out of reprs and errors."""
        database: str | None = None
        """Database name; unset: ``NEO4J_DATABASE``, else the server's default database."""
        vector_index: Literal["auto", "on", "off"] = "auto"
        """``auto``: use a Neo4j vector index when the server can build one, else compute cosine in
        queries; ``on``: require it (startup fails without it); ``off``: never create or use one."""
        dims: int | None = Field(None, ge=1, le=4096, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Embedding size; with it the vector index is built at connect time, else on first write."""
        index_candidates: int = Field(256, ge=1, le=10_000)
        """Nearest entities asked of the vector index per query embedding, across all scopes. When
        all of them clear the threshold (more may lie beyond), the search is redone exactly."""
        index_timeout: float = Field(300.0, gt=0, le=86_400)
        """Seconds to wait for a newly created vector index to come online."""

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._driver: AsyncDriver | None = None
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._similarity: Similarity = "client"
        self._normalized = False  # Neo4j's cosine function and index report (1 + cos) / 2
        self._function = False  # the server has vector.similarity.cosine
        self._index_dims: int | None = None  # dims of the vector index in use
        self._index_decided = False

    def __repr__(self) -> str:
        where = self._conn.url if self._conn else (self.config.url or "env/default")
        return f"<Neo4jGraphStore {where} database={self.config.database!r}>"

    @property
    def similarity(self) -> Similarity:
        """How search narrows candidates on this server: ``index``, ``function`` or ``client``."""
        return self._similarity

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
            await self._decide_index(self.config.dims)  # takes the lock itself
        return driver

    def _fail(self, exc: BaseException) -> Exception:
        conn = self._conn or resolve_connection(self.config)
        return map_error(exc, url=conn.url, database=conn.database, username=conn.username)

    async def _connect(self) -> None:
        conn = resolve_connection(self.config)
        self._conn = conn
        cfg = self.config
        auth = (conn.username, conn.password) if conn.password is not None else None
        try:
            driver = AsyncGraphDatabase.driver(
                conn.url,
                auth=auth,
                connection_timeout=cfg.connect_timeout,
                connection_acquisition_timeout=cfg.connect_timeout + cfg.query_timeout,
                max_connection_pool_size=cfg.max_connection_pool_size,
                user_agent="mem7-neo4j/0.1",
            )
        except (DriverError, ValueError) as exc:
            raise ConfigError(f"[{PROVIDER}] cannot use url {conn.url!r}: {one_line(exc)}") from exc
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
        """Reach the server, check auth and database, and learn its cosine function's form."""
        async with driver.session(database=self._database) as session:
            try:
                result = await session.run(cy.PROBE_COSINE)
                record = await result.single()
            except Neo4jError as exc:
                code = exc.code
                if isinstance(exc, AuthError) or (code and ("Security" in code or "DatabaseNotFound" in code)):
                    raise
                record = None  # no vector.similarity.cosine (Neo4j < 5.18): plain probe below
            if record is None:
                result = await session.run(cy.PROBE)
                await result.consume()
                self._function = False
            else:
                value = record["s"]
                self._function = isinstance(value, (int, float)) and (abs(value + 1.0) < 1e-3 or abs(value) < 1e-3)
                self._normalized = self._function and abs(value) < 1e-3
        self._similarity = "function" if self._function else "client"
        log.debug("neo4j at %s: similarity=%s normalized=%s",
                  self._conn and self._conn.url, self._similarity, self._normalized)

    async def _create_schema(self, driver: AsyncDriver) -> None:
        """The identity constraint (or, where refused, a plain index) and the scope index.

        Best effort: a server that refuses both still works, only slower, and concurrent MERGEs of
        one new entity could then race (the constraint is what makes them safe on Neo4j).
        """
        async with driver.session(database=self._database) as session:
            for statements in gc.NEO4J5_SCHEMA:
                for statement in statements:
                    try:
                        await (await session.run(statement)).consume()
                        break
                    except Neo4jError as exc:
                        log.info("neo4j: schema statement refused (%s): %s", statement, one_line(exc))

    async def _decide_index(self, dims: int) -> None:
        """Create (or adopt) the vector index once the embedding size is known; ``auto`` falls back."""
        if self._index_decided or self.config.vector_index == "off":
            self._index_decided = True
            return
        async with self._lock:
            if self._index_decided:
                return
            driver = self._driver
            assert driver is not None
            try:
                async with driver.session(database=self._database) as session:
                    await (await session.run(cy.create_vector_index(self.config.index_name, dims))).consume()
                    await (
                        await session.run(
                            cy.AWAIT_INDEX, name=self.config.index_name, seconds=int(self.config.index_timeout)
                        )
                    ).consume()
                    existing = await self._index_dimensions(session)
                if existing is not None and existing != dims:
                    raise ConfigError(
                        f"[{PROVIDER}] vector index {self.config.index_name!r} has {existing} dimensions, the "
                        f"embeddings have {dims}: set graph_store.config.index_name to another name (or drop "
                        "the index) after changing embedders"
                    )
            except Neo4jError as exc:
                if self.config.vector_index == "on":
                    raise ConfigError(
                        f"[{PROVIDER}] vector_index='on' but {self._conn.url if self._conn else 'the server'} "
                        f"cannot build a vector index ({one_line(exc)}): use Neo4j 5.11+ or set vector_index "
                        "to 'auto' or 'off'"
                    ) from exc
                log.info("neo4j: no vector index (%s); cosine is computed per query", one_line(exc))
            except (DriverError, OSError) as exc:
                raise self._fail(exc) from exc
            else:
                self._index_dims = dims
                self._similarity = "index"
            self._index_decided = True

    async def _index_dimensions(self, session: Any) -> int | None:
        """The dimension an existing index of ours was built with (``None`` when not reported)."""
        try:
            result = await session.run(cy.INDEX_OPTIONS, name=self.config.index_name)
            record = await result.single()
        except Neo4jError:
            return None
        if record is None:
            return None
        options = record["options"] or {}
        value = (options.get("indexConfig") or {}).get("vector.dimensions")
        return int(value) if isinstance(value, (int, float)) else None

    @property
    def _database(self) -> str | None:
        return self._conn.database if self._conn else self.config.database

    async def aclose(self) -> None:
        driver, self._driver = self._driver, None
        self._index_decided = False
        if driver is not None:
            await driver.close()

    # ============================================================================ transactions
    async def _retrying(self, attempt_once: Callable[[AsyncDriver], Awaitable[T]]) -> T:
        """Run one attempt; retry write conflicts (bounded, jittered); map driver errors."""
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
        """``work`` in one write transaction (several statements that must commit together).

        An explicit transaction, not the driver's ``execute_write``: that one retries conflicts
        after a second or more each, while a lost race here is retried within milliseconds.
        """

        async def once(driver: AsyncDriver) -> T:
            async with driver.session(database=self._database) as session:
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
        """One statement in an auto-commit transaction: atomic on its own, and a single round trip
        (an explicit transaction costs three more, which ArcadeDB makes visible)."""
        query = Query(statement, timeout=self.config.query_timeout)

        async def once(driver: AsyncDriver) -> list[Any]:
            async with driver.session(database=self._database) as session:
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
        rows = [self._entity_row(e) for e in entities]
        dims = {len(r["embedding"]) for r in rows if r["embedding"] is not None}
        gc.check_entity_dims(dims, self.config.dims)
        rel_rows: list[dict[str, Any]] = [
            {"i": i, "source": r.source, "relationship": r.relationship, "destination": r.destination}
            for i, r in enumerate(relations)
        ]
        gc.check_triples(relations)
        if not rows and not rel_rows:
            return []
        await self._ensure()
        if dims:
            await self._decide_index(next(iter(dims)))
        exact = gc.write_params(scope)
        given = {r["name"] for r in rows}
        with_embedding = {r["name"] for r in rows if r["embedding"] is not None}
        without_embedding = sorted(given - with_embedding)
        endpoints = sorted({n for r in rel_rows for n in (r["source"], r["destination"])} - given)

        async def work(tx: AsyncTransaction) -> list[dict[str, Any]]:
            # Check everything before writing anything: a bad call leaves the store unchanged.
            asked = sorted(set(without_embedding) | set(endpoints))
            stored: set[str] = set()
            if asked:
                result = await tx.run(gc.STORED_NAMES, {**exact, "names": asked})
                stored = {record["name"] async for record in result}
            gc.check_references(scope, without_embedding, endpoints, stored)
            if rows:
                await (await tx.run(gc.MERGE_ENTITIES, {**exact, "rows": rows, "now": now})).consume()
            if not rel_rows:
                return []
            result = await tx.run(gc.MERGE_RELATIONS, {**exact, "rows": rel_rows, "now": now})
            return [{"i": record["i"], **{k: record[k] for k in gc.RELATION_FIELDS}} async for record in result]

        written = await self._transaction(work)
        # "As stored after the write": a triple given twice reports its final state both times.
        final: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in sorted(written, key=lambda r: r["i"]):
            final[(row["source"], row["relationship"], row["destination"])] = row
        out: list[GraphRelation] = []
        for rel in rel_rows:
            stored_row = final.get((rel["source"], rel["relationship"], rel["destination"]))
            if stored_row is None:  # pragma: no cover - endpoints were checked in the same transaction
                raise ProviderError(PROVIDER, f"relation {rel['source']!r} -> {rel['destination']!r} was not written")
            out.append(gc.relation_from_row(stored_row))
        return out

    def _entity_row(self, entity: Entity) -> dict[str, Any]:
        if not isinstance(entity.name, str) or not entity.name:
            raise ValueError(f"entity name must be a non-empty string, got {entity.name!r}")
        embedding: list[float] | None = None
        if entity.embedding is not None:
            vector = as_matrix([entity.embedding], f"embedding of entity {entity.name!r}")[0]
            if vector.size == 0:
                raise ValueError(f"embedding of entity {entity.name!r} must not be empty")
            embedding = [float(x) for x in vector]
        return {"name": entity.name, "type": entity.type, "embedding": embedding}

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
        queries = as_matrix(embeddings, "search embeddings")
        if queries.shape[1] == 0:
            raise ValueError("search embeddings must not be empty")
        if self.config.dims is not None and queries.shape[1] != self.config.dims:
            raise ValueError(
                f"search embeddings must have {self.config.dims} dimensions (dims), got {queries.shape[1]}"
            )
        await self._ensure()
        await self._decide_index(int(queries.shape[1]))
        candidates = await self._candidates(scope, queries, threshold)
        if not candidates:
            return []
        keys = [{"i": i, **c.key} for i, c in enumerate(candidates)]
        records = await self._query(cy.ONE_HOP, {"keys": keys})
        return gc.rank_hits(records, [c.score for c in candidates], limit)

    async def _candidates(self, scope: Scope, queries: np.ndarray, threshold: float) -> list[_Candidate]:
        """Entities in ``scope`` whose best exact cosine with the queries is ≥ ``threshold``."""
        where, params = gc.scope_where("n", scope)
        dims = int(queries.shape[1])
        qlist = queries.tolist()
        rows: list[Any] | None = None
        if self._similarity == "index" and self._index_dims == dims:
            rows = await self._index_candidates(where, params, qlist, threshold)
        if rows is None and self._function:
            floor = server_floor(threshold, normalized=self._normalized)
            rows = await self._query(
                cy.candidates_by_function(where), {**params, "queries": qlist, "dims": dims, "floor": floor}
            )
        if rows is None:
            rows = await self._query(gc.all_embeddings(where), {**params, "dims": dims})
        if not rows:
            return []
        matrix = np.asarray([row["embedding"] for row in rows], dtype=np.float64)
        scores = best_cosine(matrix, queries)
        return [
            _Candidate({k: row[k] for k in ("user_id", "agent_id", "run_id", "name")}, float(s))
            for row, s in zip(rows, scores, strict=True)
            if s >= threshold
        ]

    async def _index_candidates(
        self, where: str, params: dict[str, str], queries: list[list[float]], threshold: float
    ) -> list[Any] | None:
        """Candidates from the vector index, or ``None`` when the index cannot vouch for them.

        The index ranks the whole database, not the scope: when every one of the ``k`` nearest
        clears the threshold, entities beyond them might too, so the caller searches exactly.
        """
        k = self.config.index_candidates
        floor = server_floor(threshold, normalized=self._normalized)
        records = await self._query(
            cy.candidates_by_index(where),
            {**params, "queries": queries, "index": self.config.index_name, "k": k, "floor": floor},
        )
        per_query: dict[int, list[float]] = {}
        for record in records:
            per_query.setdefault(record["qi"], []).append(record["score"])
        for scores in per_query.values():
            if len(scores) >= k and min(scores) >= floor:
                return None
        seen: set[tuple[str, str, str, str]] = set()
        rows = []
        for record in records:
            if record["embedding"] is None:
                continue
            key = (record["user_id"], record["agent_id"], record["run_id"], record["name"])
            if key not in seen:
                seen.add(key)
                rows.append(record)
        return rows

    # ============================================================================ changes
    async def _statement_rows(self, statement: str, params: dict[str, Any], *, write: bool) -> list[Any]:
        return await self._query(statement, params)

