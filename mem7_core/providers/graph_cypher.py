"""Shared plumbing of the Cypher graph stores (``neo4j``, ``falkordb``, ``memgraph``).

Only what is backend-independent: the node/relationship model's names, the read-scope predicate,
the statements every openCypher server runs alike (get_all, invalidate, rehearse, delete_all,
reset, entity_count), and the Python around them (relations from result rows, triple
de-duplication, the upsert checks, ranking one-hop hits, the get_all tie order, identifier and URL
checks for a ``Config``). A dialect difference (index DDL, vector search, id functions, how a
store MERGEs) stays in its plugin.

Model: one node label :data:`LABEL` and one relationship type :data:`REL`; an entity carries its
exact scope as ``user_id`` / ``agent_id`` / ``run_id`` with :data:`UNSET` (``""``) for an id the
write scope leaves unset, and ``name``; a relation carries its label in the ``name`` property
(relationship *types* cannot be parameters) and its bookkeeping (``valid``, ``mentions``,
``created_at``, ``updated_at``, ``last_accessed_at``). Every value is a parameter: the only text
put together is structural (which fixed scope properties a read scope sets).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import Field, SecretStr, field_validator

from ..models import SCOPE_KEYS, Scope
from .base import ProviderConfig
from .graph_store import GraphRelation
from .vectors import cosines

__all__ = [
    "BOLT_SCHEMES",
    "KEY_FIELDS",
    "LABEL",
    "MERGE_ENTITIES",
    "MERGE_RELATIONS",
    "NEO4J5_SCHEMA",
    "REL",
    "RELATION_FIELDS",
    "REL_FIELDS",
    "RESET",
    "STORED_NAMES",
    "UNSET",
    "BoltConfig",
    "CypherScopeOps",
    "all_embeddings",
    "check_entity_dims",
    "check_identifier",
    "check_references",
    "check_triples",
    "check_url",
    "delete_all",
    "entity_count",
    "get_all",
    "invalidate",
    "one_hop",
    "query_vectors",
    "rank_hits",
    "rehearse",
    "relation_from_row",
    "retry_conflicts",
    "scope_where",
    "scored_entities",
    "sort_page",
    "triple_rows",
    "vector_values",
    "write_params",
]

LABEL = "Mem7Entity"
REL = "MEM7_RELATES"
UNSET = ""
"""Stored for a scope id the write scope leaves unset (ids are non-empty strings, so no clash)."""

RELATION_FIELDS = (
    "source",
    "relationship",
    "destination",
    "valid",
    "mentions",
    "created_at",
    "updated_at",
    "last_accessed_at",
)
"""The columns a relation row has (what :func:`relation_from_row` reads)."""

REL_FIELDS = (
    "a.name AS source, r.name AS relationship, b.name AS destination, r.valid AS valid, "
    "r.mentions AS mentions, r.created_at AS created_at, r.updated_at AS updated_at, "
    "r.last_accessed_at AS last_accessed_at"
)
"""The RETURN items of :data:`RELATION_FIELDS` for a match ``(a)-[r]->(b)``."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


# ------------------------------------------------------------------------------------------------
# config checks
# ------------------------------------------------------------------------------------------------
def check_identifier(name: str, field: str) -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``, not starting with a digit,
    at most 63 characters), else a ``ValueError`` naming ``field``."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"{field} must be letters, digits and _ (not starting with a digit), got {name!r}")
    return name


def check_url(url: str, field: str, *, schemes: Sequence[str], example: str) -> str:
    """``url`` if its scheme is one of ``schemes`` and something follows ``://``, else a
    ``ValueError`` naming ``field``, an ``example`` and the schemes."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes or not rest:
        raise ValueError(f"{field} must look like {example} (schemes: {', '.join(schemes)}), got {url!r}")
    return url


# ------------------------------------------------------------------------------------------------
# scope
# ------------------------------------------------------------------------------------------------
def write_params(scope: Scope) -> dict[str, str]:
    """The exact scope as the entity identity's first three parts (unset → :data:`UNSET`)."""
    return {key: getattr(scope, key) or UNSET for key in SCOPE_KEYS}


def scope_where(var: str, scope: Scope) -> tuple[str, dict[str, str]]:
    """A predicate on node ``var`` for the read scope (every set id equals the stored one), and
    its parameters ``s_<key>``. Only the keys the scope sets appear; an empty scope gives ``true``."""
    parts: list[str] = []
    params: dict[str, str] = {}
    for key, value in scope.items():
        parts.append(f"{var}.{key} = $s_{key}")
        params[f"s_{key}"] = value
    return (" AND ".join(parts) if parts else "true"), params


# ------------------------------------------------------------------------------------------------
# portable statements in a read scope. The predicate is on the source node ``a`` (or the node
# ``n``): a relation only joins entities of one exact scope, so the source's scope is the
# relation's.
# ------------------------------------------------------------------------------------------------
def get_all(where: str, limited: bool, *, valid_only: bool = True) -> str:
    """Valid relations in the scope (also the invalidated ones unless ``valid_only``), oldest first
    (``$limit`` when ``limited``)."""
    return (
        f"MATCH (a:{LABEL})-[r:{REL}]->(b:{LABEL}) WHERE {where}" + (" AND r.valid = true" if valid_only else "")
        + f" RETURN {REL_FIELDS} ORDER BY r.created_at, a.name, r.name, b.name" + (" LIMIT $limit" if limited else "")
    )


def _triples(where: str, *, valid_only: bool) -> str:
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{LABEL} {{name: row.source}})-[r:{REL} {{name: row.relationship}}]->"
        f"(b:{LABEL} {{name: row.destination}}) "
        f"WHERE {where}" + (" AND r.valid = true" if valid_only else "")
    )


def invalidate(where: str) -> str:
    """Soft-delete the ``$rows`` triples (``$now``); returns ``changed``."""
    return _triples(where, valid_only=True) + " SET r.valid = false, r.updated_at = $now RETURN count(r) AS changed"


def rehearse(where: str) -> str:
    """``mentions + 1`` and ``last_accessed_at = $now`` for the ``$rows`` triples; returns ``changed``."""
    return (
        _triples(where, valid_only=False)
        + " SET r.mentions = coalesce(r.mentions, 0) + 1, r.last_accessed_at = $now RETURN count(r) AS changed"
    )


def delete_all(where: str) -> str:
    """The scope's entities with their relations (``where`` on node ``n``).

    Every relation of an entity in the read scope joins two entities of one exact scope, so it is
    in the read scope too: DETACH DELETE removes exactly the scope's relations and entities.
    """
    return f"MATCH (n:{LABEL}) WHERE {where} DETACH DELETE n"


RESET = f"MATCH (n:{LABEL}) DETACH DELETE n"


def entity_count(where: str) -> str:
    """How many entities the scope holds (``where`` on node ``n``); returns ``c``."""
    return f"MATCH (n:{LABEL}) WHERE {where} RETURN count(n) AS c"


# ------------------------------------------------------------------------------------------------
# rows in and out
# ------------------------------------------------------------------------------------------------
def relation_from_row(row: Mapping[str, Any] | Any) -> GraphRelation:
    """A new :class:`GraphRelation` from a row (or driver record) having :data:`RELATION_FIELDS`."""
    return GraphRelation(
        source=row["source"],
        relationship=row["relationship"],
        destination=row["destination"],
        valid=bool(row["valid"]),
        mentions=int(row["mentions"] or 0),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_accessed_at=row["last_accessed_at"],
    )


def check_triples(relations: Sequence[GraphRelation]) -> None:
    """``ValueError`` unless every relation's source, relationship and destination is a non-empty string."""
    for r in relations:
        for field, value in (("source", r.source), ("relationship", r.relationship), ("destination", r.destination)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"relation {field} must be a non-empty string, got {value!r}")


def triple_rows(relations: Sequence[GraphRelation]) -> list[dict[str, str]]:
    """Distinct triples as ``$rows`` (first-seen order): a triple given twice changes (or counts) once."""
    seen: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in relations:
        seen.setdefault(r.triple, {"source": r.source, "relationship": r.relationship, "destination": r.destination})
    return list(seen.values())


def check_entity_dims(dims: set[int], expected: int | None) -> None:
    """The embedding lengths of one upsert: one length, and ``expected`` (the ``dims`` setting) if set."""
    if len(dims) > 1:
        raise ValueError(f"entity embeddings must all have one length, got lengths {sorted(dims)}")
    if expected is not None and dims and dims != {expected}:
        raise ValueError(f"entity embeddings must have {expected} dimensions (dims), got {next(iter(dims))}")


def check_references(
    scope: Scope, without_embedding: Iterable[str], endpoints: Iterable[str], stored: set[str]
) -> None:
    """The upsert check made before anything is written: entities given without an embedding and
    relation endpoints not given as entities must already be ``stored`` in the exact ``scope``."""
    missing = [n for n in without_embedding if n not in stored]
    if missing:
        raise ValueError(f"new entities need an embedding: {missing!r} are not stored in scope {scope.as_dict()}")
    unknown = [n for n in endpoints if n not in stored]
    if unknown:
        raise ValueError(
            f"relation endpoints {unknown!r} are neither given as entities nor stored in scope {scope.as_dict()}"
        )


def rank_hits(rows: Iterable[Mapping[str, Any] | Any], scores: Sequence[float], limit: int) -> list[GraphRelation]:
    """Search hits from one-hop rows: each row has ``i`` (the index of its matching entity in
    ``scores``), ``rid`` (the relation's id) and :data:`RELATION_FIELDS`.

    A relation reached from several matching entities counts once with its best score; best
    first (ties: more mentions first, then the triple), at most ``limit``.
    """
    best: dict[Any, tuple[float, Any]] = {}
    for row in rows:
        score = scores[row["i"]]
        seen = best.get(row["rid"])
        if seen is None or score > seen[0]:
            best[row["rid"]] = (score, row)
    hits = []
    for score, row in best.values():
        relation = relation_from_row(row)
        relation.score = score
        hits.append(relation)
    hits.sort(key=lambda r: (-(r.score or 0.0), -r.mentions, r.triple))
    return hits[:limit]


def sort_page(relations: list[GraphRelation]) -> list[GraphRelation]:
    """``get_all``'s order, in place: oldest first, ties by the triple in code-point order (servers
    sort strings by their own collation; re-sorting the page makes every store agree)."""
    relations.sort(key=lambda r: (r.created_at or "", r.triple))
    return relations


# ------------------------------------------------------------------------------------------------
# upsert and search statements of the Bolt stores (neo4j, memgraph: MERGE on the four-part
# identity; falkordb has its own, for its MERGE quirks)
# ------------------------------------------------------------------------------------------------
_EXACT = "{user_id: $user_id, agent_id: $agent_id, run_id: $run_id, name: %s}"

STORED_NAMES = f"""
UNWIND $names AS name
MATCH (n:{LABEL} {_EXACT % "name"})
RETURN n.name AS name
"""
"""Which of ``$names`` are stored in the exact scope (``$user_id``, ``$agent_id``, ``$run_id``)."""

MERGE_ENTITIES = f"""
UNWIND $rows AS row
MERGE (n:{LABEL} {_EXACT % "row.name"})
ON CREATE SET n.type = row.type, n.embedding = row.embedding, n.mentions = 1,
              n.created_at = $now, n.updated_at = $now
ON MATCH SET n.type = coalesce(row.type, n.type), n.embedding = coalesce(row.embedding, n.embedding),
             n.mentions = coalesce(n.mentions, 0) + 1, n.updated_at = $now
"""
"""Insert or bump the ``$rows`` entities (``name``, ``type``, ``embedding``) in the exact scope."""

MERGE_RELATIONS = f"""
UNWIND $rows AS row
MATCH (a:{LABEL} {_EXACT % "row.source"})
MATCH (b:{LABEL} {_EXACT % "row.destination"})
MERGE (a)-[r:{REL} {{name: row.relationship}}]->(b)
ON CREATE SET r.user_id = $user_id, r.agent_id = $agent_id, r.run_id = $run_id, r.mentions = 1,
              r.valid = true, r.created_at = $now, r.updated_at = $now
ON MATCH SET r.mentions = coalesce(r.mentions, 0) + 1, r.valid = true, r.updated_at = $now
RETURN row.i AS i, {REL_FIELDS}
"""
"""Insert or bump the ``$rows`` triples (``i``, ``source``, ``relationship``, ``destination``)."""

NEO4J5_SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        f"CREATE CONSTRAINT mem7_entity_key IF NOT EXISTS FOR (n:{LABEL}) "
        "REQUIRE (n.user_id, n.agent_id, n.run_id, n.name) IS UNIQUE",
        f"CREATE INDEX mem7_entity_key IF NOT EXISTS FOR (n:{LABEL}) ON (n.user_id, n.agent_id, n.run_id, n.name)",
    ),
    (f"CREATE INDEX mem7_entity_user IF NOT EXISTS FOR (n:{LABEL}) ON (n.user_id)",),
)
"""The schema in Neo4j 5's syntax (which ArcadeDB takes too): each group is alternatives, first
taken wins: the identity's uniqueness constraint (what makes concurrent MERGEs of one new entity
safe: the loser fails and is retried) or, where refused, a plain index; and the scope index."""

KEY_FIELDS = "n.user_id AS user_id, n.agent_id AS agent_id, n.run_id AS run_id, n.name AS name"
"""The RETURN items of an entity's identity (node ``n``)."""


def all_embeddings(where: str) -> str:
    """Every embedding of ``$dims`` dimensions in the scope (``where`` on node ``n``), for a
    search that compares them in the client."""
    return (
        f"MATCH (n:{LABEL}) WHERE {where} AND n.embedding IS NOT NULL AND size(n.embedding) = $dims "
        f"RETURN {KEY_FIELDS}, n.embedding AS embedding"
    )


def one_hop(id_function: str) -> str:
    """Valid relations of the ``$keys`` entities (``i`` and the identity), with ``rid`` from
    ``id_function`` (``elementId`` on Neo4j 5, ``id`` on Memgraph), for :func:`rank_hits`."""
    check_identifier(id_function, "id_function")
    return f"""
UNWIND $keys AS k
MATCH (n:{LABEL} {{user_id: k.user_id, agent_id: k.agent_id, run_id: k.run_id, name: k.name}})-[r:{REL}]-()
WHERE r.valid = true
RETURN k.i AS i, {id_function}(r) AS rid, startNode(r).name AS source, r.name AS relationship,
       endNode(r).name AS destination, r.valid AS valid, r.mentions AS mentions,
       r.created_at AS created_at, r.updated_at AS updated_at, r.last_accessed_at AS last_accessed_at
"""


def scored_entities(
    rows: Sequence[Mapping[str, Any] | Any], queries: Sequence[Sequence[float]], threshold: float
) -> list[tuple[dict[str, str], float]]:
    """Distinct entities (rows with the identity and ``embedding``) whose best exact cosine with
    the queries is ≥ ``threshold``, with that score (clipped to [-1, 1])."""
    best: dict[tuple[str, str, str, str], float] = {}
    vectors = [list(row["embedding"]) for row in rows]
    keys = [(row["user_id"], row["agent_id"], row["run_id"], row["name"]) for row in rows]
    for query in queries:
        for key, score in zip(keys, cosines(query, vectors), strict=True):
            if score > best.get(key, -math.inf):
                best[key] = score
    out = []
    for k, s in best.items():
        score = min(1.0, max(-1.0, s))
        if score >= threshold:
            out.append(({"user_id": k[0], "agent_id": k[1], "run_id": k[2], "name": k[3]}, score))
    return out


def vector_values(values: Sequence[float], what: str) -> list[float]:
    """``values`` as a list of finite floats, not empty; else a ``ValueError`` naming ``what``."""
    try:
        vector = [float(x) for x in values]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be sequences of numbers") from None
    if not vector:
        raise ValueError(f"{what} must not be empty")
    if not all(math.isfinite(x) for x in vector):
        raise ValueError(f"{what} must be finite numbers (no NaN or infinity)")
    return vector


def query_vectors(embeddings: Sequence[Sequence[float]], dims: int | None) -> list[list[float]]:
    """A search's query embeddings checked: numbers, one length, ``dims`` (the setting) if set."""
    queries = [vector_values(q, "search embeddings") for q in embeddings]
    if any(len(q) != len(queries[0]) for q in queries):
        raise ValueError("search embeddings must all have one length")
    if dims is not None and queries and len(queries[0]) != dims:
        raise ValueError(f"search embeddings must have {dims} dimensions (dims), got {len(queries[0])}")
    return queries


class CypherScopeOps:
    """The graph store methods that are one portable statement each: ``get_all``, ``invalidate``,
    ``rehearse``, ``delete_all``, ``reset`` and ``entity_count``. Listed before
    :class:`~mem7_core.providers.GraphStore` among a store's bases, it implements them over the
    store's :meth:`_statement_rows`; a store whose scope predicate differs overrides :meth:`_where`.
    """

    @abstractmethod
    async def _statement_rows(self, statement: str, params: dict[str, Any], *, write: bool) -> Sequence[Any]:
        """Run one statement (atomic on its own); its rows, each readable as ``row["column"]``."""

    def _where(self, var: str, scope: Scope) -> tuple[str, dict[str, str]]:
        return scope_where(var, scope)

    async def invalidate(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> int:
        rows = triple_rows(relations)
        if not rows:
            return 0
        where, params = self._where("a", scope)
        found = await self._statement_rows(invalidate(where), {**params, "rows": rows, "now": now}, write=True)
        return int(found[0]["changed"]) if found else 0

    async def rehearse(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> None:
        rows = triple_rows(relations)
        if rows:
            where, params = self._where("a", scope)
            await self._statement_rows(rehearse(where), {**params, "rows": rows, "now": now}, write=True)

    async def get_all(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return await self._relations(scope, limit, valid_only=True)

    async def get_all_including_invalid(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return await self._relations(scope, limit, valid_only=False)

    async def _relations(self, scope: Scope, limit: int | None, *, valid_only: bool) -> list[GraphRelation]:
        if limit is not None and limit <= 0:
            return []
        where, scope_params = self._where("a", scope)
        params: dict[str, Any] = dict(scope_params)
        if limit is not None:
            params["limit"] = int(limit)
        statement = get_all(where, limit is not None, valid_only=valid_only)
        found = await self._statement_rows(statement, params, write=False)
        return sort_page([relation_from_row(row) for row in found])

    async def delete_all(self, scope: Scope) -> None:
        if scope.is_empty:
            raise ValueError("delete_all needs a scope: set user_id, agent_id or run_id (reset() clears everything)")
        where, params = self._where("n", scope)
        await self._statement_rows(delete_all(where), params, write=True)

    async def reset(self) -> None:
        await self._statement_rows(RESET, {}, write=True)

    async def entity_count(self, scope: Scope) -> int:
        where, params = self._where("n", scope)
        found = await self._statement_rows(entity_count(where), params, write=False)
        return int(found[0]["c"]) if found else 0


BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
"""The URL schemes of the Bolt drivers."""


class BoltConfig(ProviderConfig):
    """The connection and transaction settings of a store reached over Bolt (``neo4j``,
    ``memgraph``): a store's ``Config`` inherits them and redeclares ``url`` / ``username`` /
    ``password`` / ``database`` to document its own environment variables and defaults."""

    url: str | None = None
    """Bolt URL (``bolt://host:7687``); unset: the store's environment variable, else its default."""
    username: str | None = None
    """Unset: the store's environment variable, else its default."""
    password: SecretStr | None = None
    """Unset: the store's environment variable; neither: connect without auth. Kept out of reprs
    and errors."""
    database: str | None = None
    """Database name; unset: the server's default database."""
    index_name: str = "mem7_entity_embedding"
    """Name of the vector index on the entity embeddings."""
    connect_timeout: float = Field(5.0, gt=0, le=300)
    """Seconds to open a connection and for the first probe of the server."""
    query_timeout: float = Field(30.0, gt=0, le=3600)
    """Seconds one transaction may run (sent to the server as the transaction timeout)."""
    max_retries: int = Field(10, ge=0, le=100)
    """Retries of a transaction that lost a race with a concurrent write (a fresh one each time,
    after a jittered pause doubling from 10 ms, capped at 1 s)."""
    max_connection_pool_size: int = Field(50, ge=1, le=1000)
    """Connections the driver may keep open to the server."""
    base_label: bool = True
    """mem0's option, accepted so its configs work as they are: every entity has the one label
    ``Mem7Entity`` (what mem0 does with ``base_label: true``); ``false`` (a label per entity type)
    is refused."""

    @field_validator("base_label")
    @classmethod
    def _one_label(cls, value: bool) -> bool:
        if not value:
            raise ValueError(f"false (mem0's label per entity type) is not supported: every entity has "
                             f"the one label {LABEL}; set it true or leave it out")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v, "url", schemes=BOLT_SCHEMES, example="bolt://host:7687")

    @field_validator("index_name")
    @classmethod
    def _index_name(cls, v: str) -> str:
        return check_identifier(v, "index_name")

    @field_validator("username", "database")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty (leave it unset for the default)")
        return v


T = TypeVar("T")


async def retry_conflicts(
    attempt_once: Callable[[], Awaitable[T]],
    *,
    retries: int,
    errors: tuple[type[BaseException], ...],
    is_conflict: Callable[[BaseException], bool],
    fail: Callable[[BaseException], Exception],
    log: logging.Logger,
) -> T:
    """Run ``attempt_once`` (a whole transaction); when it raises one of ``errors`` that
    ``is_conflict`` (a lost race), run it again, at most ``retries`` more times, after a jittered
    pause doubling from 10 ms (capped at 1 s); any other failure, or the last, is raised as
    ``fail(exc)`` chained to it."""
    attempt = 0
    while True:
        try:
            return await attempt_once()
        except errors as exc:
            if attempt < retries and is_conflict(exc):
                attempt += 1
                log.debug("write conflict, retry %d: %s", attempt, " ".join(str(exc).split())[:300])
                await asyncio.sleep(random.uniform(0.0, min(1.0, 0.01 * 2**attempt)))
                continue
            raise fail(exc) from exc
