"""The Cypher the store sends to FalkorDB: every value is a parameter, nothing is string-built from
names, labels or ids (only the scope predicate's shape and the vector index's dimension are).

Model: one node label, one relationship type, in one FalkorDB graph (a Redis key). An entity is
``(:Mem7Entity {key, user_key, user_id, agent_id, run_id, name, type, embedding, dims, mentions,
created_at, updated_at})`` MERGEd on ``key`` (:func:`entity_key`), with ``""`` standing for an
unset scope id (scope ids are never empty strings, so it cannot collide). ``embedding`` is a
FalkorDB ``vecf32`` (what its vector index indexes); ``dims`` is its length, kept beside it because
``size()`` does not take a vector. A relation is ``-[:MEM7_RELATES {name, valid, mentions,
created_at, updated_at, last_accessed_at}]->`` between two entities of the same exact scope:
relationship *types* cannot be parameters, so the label is the ``name`` property of one fixed type.

FalkorDB 4.16 quirks these statements avoid (each is covered by a test):

- ``SET n.embedding = vecf32(...)`` over an existing vector is silently dropped for all but some
  rows of an ``UNWIND`` (FalkorDB issue #2099): the vector is first set to ``NULL`` and written in
  a following ``WITH`` stage.
- ``MERGE`` of the same relationship twice in one query loses rows or crashes the server: the store
  sends each entity and triple once per query, with how many times it was given (``row.n``).
- The range index trims surrounding whitespace and drops empty strings: the indexed properties
  hold :func:`wrapped` values.
"""

from __future__ import annotations

import json

from mem7_core.models import Scope
from mem7_core.providers import graph_cypher as gc
from mem7_core.providers.graph_cypher import LABEL, REL, REL_FIELDS


def write_params(scope: Scope) -> dict[str, str]:
    """The exact scope as the four-part identity's first three parts (unset → ``""``), and the
    indexed ``user_key``."""
    params = gc.write_params(scope)
    params["user_key"] = wrapped(params["user_id"])
    return params


def wrapped(value: str) -> str:
    """A value as its JSON string: never empty, never starting or ending with whitespace.

    FalkorDB 4.16's range index trims surrounding whitespace and drops empty strings, so an index
    lookup of ``"  x "`` or ``""`` misses; the indexed properties (``key``, ``user_key``) hold
    values in this form instead.
    """
    return json.dumps(value, ensure_ascii=False)


def entity_key(user_id: str, agent_id: str, run_id: str, name: str) -> str:
    """The indexed identity of an entity: its exact scope and name (unset ids as ``""``)."""
    return json.dumps([user_id, agent_id, run_id, name], ensure_ascii=False)


def scope_where(var: str, scope: Scope) -> tuple[str, dict[str, str]]:
    """:func:`mem7_core.providers.graph_cypher.scope_where` with ``user_id`` read through the
    index (its :func:`wrapped` ``user_key``)."""
    where, params = gc.scope_where(var, scope)
    if "s_user_id" in params:
        where = where.replace(f"{var}.user_id = $s_user_id", f"{var}.user_key = $s_user_key")
        params["s_user_key"] = wrapped(params.pop("s_user_id"))
    return where, params


# ------------------------------------------------------------------------------------------------
# schema
# ------------------------------------------------------------------------------------------------
CREATE_KEY_INDEX = f"CREATE INDEX FOR (n:{LABEL}) ON (n.key, n.user_key)"
"""The identity (``key``, see :func:`entity_key`) and the user (``user_key``), both :func:`wrapped`."""
LIST_INDEXES = "CALL db.indexes() YIELD label, properties, options RETURN label, properties, options"


def create_vector_index(dims: int) -> str:
    """FalkorDB's HNSW vector index on the entity embeddings (cosine)."""
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        raise ValueError(f"dims must be a positive integer, got {dims!r}")
    return (
        f"CREATE VECTOR INDEX FOR (n:{LABEL}) ON (n.embedding) "
        f"OPTIONS {{dimension: {dims}, similarityFunction: 'cosine'}}"
    )


# ------------------------------------------------------------------------------------------------
# upsert: a read-only check, then one write query (atomic in FalkorDB: one writer at a time per
# graph, and a query applies all of its changes or none)
# ------------------------------------------------------------------------------------------------
STORED_NAMES = f"""
UNWIND $keys AS key
MATCH (n:{LABEL} {{key: key}})
RETURN n.name AS name
"""

UPSERT = f"""
UNWIND $rows AS row
MERGE (n:{LABEL} {{key: row.key}})
ON CREATE SET n.user_id = $user_id, n.agent_id = $agent_id, n.run_id = $run_id, n.user_key = $user_key,
              n.name = row.name, n.type = row.type, n.mentions = row.n, n.created_at = $now, n.updated_at = $now
ON MATCH SET n.type = coalesce(row.type, n.type), n.mentions = coalesce(n.mentions, 0) + row.n,
             n.updated_at = CASE WHEN row.n > 0 THEN $now ELSE n.updated_at END
FOREACH (e IN CASE WHEN row.embedding IS NULL THEN [] ELSE [row.embedding] END |
  SET n.embedding = NULL
)
FOREACH (e IN CASE WHEN row.embedding IS NULL THEN [] ELSE [row.embedding] END |
  SET n.embedding = vecf32(e), n.dims = size(e)
)
WITH collect(n) AS nodes
UNWIND $rels AS row
WITH row, [x IN nodes WHERE x.name = row.source][0] AS a, [x IN nodes WHERE x.name = row.destination][0] AS b
MERGE (a)-[r:{REL} {{name: row.relationship}}]->(b)
ON CREATE SET r.mentions = row.n, r.valid = true, r.created_at = $now, r.updated_at = $now
ON MATCH SET r.mentions = coalesce(r.mentions, 0) + row.n, r.valid = true, r.updated_at = $now
RETURN row.i AS i, {REL_FIELDS}
"""
"""Entities first (stored relation endpoints come as rows with ``n = 0``: matched, not counted),
then the relations between the nodes just merged. The relation stage takes its endpoints from the
merged nodes, not from a ``MATCH``: FalkorDB's index does not see nodes created earlier in the same
query."""

# ------------------------------------------------------------------------------------------------
# search
# ------------------------------------------------------------------------------------------------
_KEY_FIELDS = "n.user_id AS user_id, n.agent_id AS agent_id, n.run_id AS run_id, n.name AS name"


def scan(where: str, prefilter: bool) -> str:
    """The scope's entities of ``$dims`` dimensions with their embeddings; with ``prefilter``, only
    those whose smallest cosine distance to the queries (server-side, float32) is within
    ``$max_distance``."""
    head = f"MATCH (n:{LABEL}) WHERE {where} AND n.dims = $dims"
    if prefilter:
        head += (
            " WITH n, reduce(best = 3.0, q IN $queries | "
            "CASE WHEN vec.cosineDistance(n.embedding, vecf32(q)) < best "
            "THEN vec.cosineDistance(n.embedding, vecf32(q)) ELSE best END) AS distance "
            "WHERE distance <= $max_distance"
        )
    return f"{head} RETURN {_KEY_FIELDS}, n.embedding AS embedding"


def by_index(where: str) -> str:
    """The ``$k`` nearest entities of the whole graph to one query (FalkorDB's HNSW index, cosine
    distance), each with whether it is in the read scope."""
    return (
        f"CALL db.idx.vector.queryNodes('{LABEL}', 'embedding', $k, vecf32($query)) YIELD node, score "
        f"WITH node AS n, score RETURN score, ({where}) AS in_scope, {_KEY_FIELDS}, n.embedding AS embedding"
    )


ONE_HOP = f"""
UNWIND $keys AS k
MATCH (n:{LABEL} {{key: k.key}})-[r:{REL}]-()
WHERE r.valid = true
RETURN k.i AS i, id(r) AS rid, startNode(r).name AS source, r.name AS relationship,
       endNode(r).name AS destination, r.valid AS valid, r.mentions AS mentions,
       r.created_at AS created_at, r.updated_at AS updated_at, r.last_accessed_at AS last_accessed_at
"""
