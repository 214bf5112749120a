"""Every Cypher statement the store sends, in the dialect Neo4j 5 and ArcadeDB both accept.

Names, types, labels, scope ids and embeddings are always parameters. The only text ever put
together is structural and comes from constants here: the scope predicate (which of the fixed
properties ``user_id`` / ``agent_id`` / ``run_id`` a read scope sets) and, for the vector index,
an index name validated as an identifier and an integer dimension (Neo4j takes neither as a
parameter in ``CREATE VECTOR INDEX``).

Model: one node label, one relationship type. An entity is ``(:Mem7Entity {user_id, agent_id,
run_id, name, type, embedding, mentions, created_at, updated_at})`` with ``""`` standing for an
unset scope id (scope ids are never empty strings, so it cannot collide). A relation is
``-[:MEM7_RELATES {name, user_id, agent_id, run_id, valid, mentions, created_at, updated_at,
last_accessed_at}]->`` between two entities of the same exact scope: relationship *types* cannot
be parameters, so the label is the ``name`` property of one fixed type.
"""

from __future__ import annotations

import re
from typing import Any

from mem7_core.models import SCOPE_KEYS, Scope

LABEL = "Mem7Entity"
REL = "MEM7_RELATES"
UNSET = ""
"""Stored for a scope id the write scope leaves unset (ids are non-empty strings, so no clash)."""

CONSTRAINT = "mem7_entity_key"
SCOPE_INDEX = "mem7_entity_user"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def write_params(scope: Scope) -> dict[str, str]:
    """The exact scope as the four-part identity's first three parts (unset → ``""``)."""
    return {key: getattr(scope, key) or UNSET for key in SCOPE_KEYS}


def scope_where(var: str, scope: Scope) -> tuple[str, dict[str, str]]:
    """A predicate on node ``var`` for the read scope (every set id must equal the stored one).

    Only the keys the scope sets appear, so the planner sees plain equalities it can serve from
    the scope index. An empty scope gives ``true``.
    """
    parts: list[str] = []
    params: dict[str, str] = {}
    for key, value in scope.items():
        parts.append(f"{var}.{key} = $s_{key}")
        params[f"s_{key}"] = value
    return (" AND ".join(parts) if parts else "true"), params


def check_identifier(name: str, field: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"{field} must be a Cypher identifier (letters, digits, _), got {name!r}")
    return name


# ------------------------------------------------------------------------------------------------
# schema
# ------------------------------------------------------------------------------------------------
CREATE_CONSTRAINT = (
    f"CREATE CONSTRAINT {CONSTRAINT} IF NOT EXISTS FOR (n:{LABEL}) "
    "REQUIRE (n.user_id, n.agent_id, n.run_id, n.name) IS UNIQUE"
)
CREATE_KEY_INDEX = (
    f"CREATE INDEX {CONSTRAINT} IF NOT EXISTS FOR (n:{LABEL}) ON (n.user_id, n.agent_id, n.run_id, n.name)"
)
CREATE_SCOPE_INDEX = f"CREATE INDEX {SCOPE_INDEX} IF NOT EXISTS FOR (n:{LABEL}) ON (n.user_id)"


def create_vector_index(index_name: str, dims: int) -> str:
    """Neo4j 5.11+ vector index on the entity embeddings (cosine)."""
    check_identifier(index_name, "index_name")
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        raise ValueError(f"dims must be a positive integer, got {dims!r}")
    return (
        f"CREATE VECTOR INDEX `{index_name}` IF NOT EXISTS FOR (n:{LABEL}) ON (n.embedding) "
        f"OPTIONS {{indexConfig: {{`vector.dimensions`: {dims}, `vector.similarity_function`: 'cosine'}}}}"
    )


AWAIT_INDEX = "CALL db.awaitIndex($name, $seconds)"
INDEX_OPTIONS = "SHOW INDEXES YIELD name, options WHERE name = $name RETURN options"

PROBE_COSINE = "RETURN vector.similarity.cosine([1.0, 0.0], [-1.0, 0.0]) AS s"
"""-1.0: raw cosine (ArcadeDB); 0.0: Neo4j's [0, 1] form ``(1 + cos) / 2``; an error: no function."""
PROBE = "RETURN 1 AS ok"

# ------------------------------------------------------------------------------------------------
# upsert
# ------------------------------------------------------------------------------------------------
_EXACT = "{user_id: $user_id, agent_id: $agent_id, run_id: $run_id, name: %s}"

STORED_NAMES = f"""
UNWIND $names AS name
MATCH (n:{LABEL} {_EXACT % "name"})
RETURN n.name AS name
"""

MERGE_ENTITIES = f"""
UNWIND $rows AS row
MERGE (n:{LABEL} {_EXACT % "row.name"})
ON CREATE SET n.type = row.type, n.embedding = row.embedding, n.mentions = 1,
              n.created_at = $now, n.updated_at = $now
ON MATCH SET n.type = coalesce(row.type, n.type), n.embedding = coalesce(row.embedding, n.embedding),
             n.mentions = coalesce(n.mentions, 0) + 1, n.updated_at = $now
"""

REL_FIELDS = (
    "a.name AS source, r.name AS relationship, b.name AS destination, r.valid AS valid, "
    "r.mentions AS mentions, r.created_at AS created_at, r.updated_at AS updated_at, "
    "r.last_accessed_at AS last_accessed_at"
)

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


# ------------------------------------------------------------------------------------------------
# reads and changes in a read scope (scope predicate on the source node: a relation only joins
# entities of one exact scope, so the source's scope is the relation's)
# ------------------------------------------------------------------------------------------------
def get_all(where: str, limited: bool) -> str:
    return (
        f"MATCH (a:{LABEL})-[r:{REL}]->(b:{LABEL}) WHERE {where} AND r.valid = true "
        f"RETURN {REL_FIELDS} ORDER BY r.created_at, a.name, r.name, b.name"
        + (" LIMIT $limit" if limited else "")
    )


def invalidate(where: str) -> str:
    return f"""
UNWIND $rows AS row
MATCH (a:{LABEL} {{name: row.source}})-[r:{REL} {{name: row.relationship}}]->(b:{LABEL} {{name: row.destination}})
WHERE {where} AND r.valid = true
SET r.valid = false, r.updated_at = $now
RETURN count(r) AS changed
"""


def rehearse(where: str) -> str:
    return f"""
UNWIND $rows AS row
MATCH (a:{LABEL} {{name: row.source}})-[r:{REL} {{name: row.relationship}}]->(b:{LABEL} {{name: row.destination}})
WHERE {where}
SET r.mentions = coalesce(r.mentions, 0) + 1, r.last_accessed_at = $now
RETURN count(r) AS changed
"""


def delete_all(where: str) -> str:
    # Every relation of an entity in the read scope joins two entities of one exact scope, so it
    # is in the read scope too: deleting the scope's relations orphans exactly the scope's
    # entities, and DETACH DELETE does both in one pass.
    return f"MATCH (n:{LABEL}) WHERE {where} DETACH DELETE n"


RESET = f"MATCH (n:{LABEL}) DETACH DELETE n"


def entity_count(where: str) -> str:
    return f"MATCH (n:{LABEL}) WHERE {where} RETURN count(n) AS c"


# ------------------------------------------------------------------------------------------------
# search
# ------------------------------------------------------------------------------------------------
_KEY_FIELDS = "n.user_id AS user_id, n.agent_id AS agent_id, n.run_id AS run_id, n.name AS name"


def candidates_by_function(where: str) -> str:
    """Entities whose best cosine with the queries clears ``$floor``, computed by the server."""
    return f"""
MATCH (n:{LABEL}) WHERE {where} AND n.embedding IS NOT NULL AND size(n.embedding) = $dims
WITH n, reduce(best = -2.0, s IN [q IN $queries | vector.similarity.cosine(n.embedding, q)] |
               CASE WHEN s > best THEN s ELSE best END) AS best
WHERE best >= $floor
RETURN {_KEY_FIELDS}, n.embedding AS embedding
"""


def all_embeddings(where: str) -> str:
    """Every embedding in the scope (servers without ``vector.similarity.cosine``)."""
    return (
        f"MATCH (n:{LABEL}) WHERE {where} AND n.embedding IS NOT NULL AND size(n.embedding) = $dims "
        f"RETURN {_KEY_FIELDS}, n.embedding AS embedding"
    )


def candidates_by_index(where: str) -> str:
    """Top ``$k`` of the whole index per query; the scope is applied after (see the store)."""
    return f"""
UNWIND range(0, size($queries) - 1) AS qi
CALL db.index.vector.queryNodes($index, $k, $queries[qi]) YIELD node, score
WITH qi, node AS n, score
RETURN qi, score, ({where}) AS in_scope, {_KEY_FIELDS},
       CASE WHEN ({where}) AND score >= $floor THEN n.embedding END AS embedding
"""


ONE_HOP = f"""
UNWIND $keys AS k
MATCH (n:{LABEL} {{user_id: k.user_id, agent_id: k.agent_id, run_id: k.run_id, name: k.name}})-[r:{REL}]-()
WHERE r.valid = true
RETURN k.i AS i, elementId(r) AS rid, startNode(r).name AS source, r.name AS relationship,
       endNode(r).name AS destination, r.valid AS valid, r.mentions AS mentions,
       r.created_at AS created_at, r.updated_at AS updated_at, r.last_accessed_at AS last_accessed_at
"""


def relation_row(record: Any) -> dict[str, Any]:
    """The relation fields of a result record, as a plain dict."""
    return {
        k: record[k]
        for k in (
            "source",
            "relationship",
            "destination",
            "valid",
            "mentions",
            "created_at",
            "updated_at",
            "last_accessed_at",
        )
    }
