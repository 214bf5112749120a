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
be parameters, so the label is the ``name`` property of one fixed type. The statements every
openCypher server runs alike (get_all, invalidate, rehearse, delete_all, reset, entity_count) and
the scope predicate are the contract's (:mod:`mem7_core.providers.graph_cypher`); this module
holds what is Neo4j's own.
"""

from __future__ import annotations

from mem7_core.providers.graph_cypher import KEY_FIELDS, LABEL, check_identifier, one_hop

# ------------------------------------------------------------------------------------------------
# schema (the identity constraint and scope index: the contract's NEO4J5_SCHEMA)
# ------------------------------------------------------------------------------------------------


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
# search (the upsert statements, the client-side scan and the one-hop read are the contract's)
# ------------------------------------------------------------------------------------------------
def candidates_by_function(where: str) -> str:
    """Entities whose best cosine with the queries clears ``$floor``, computed by the server."""
    return f"""
MATCH (n:{LABEL}) WHERE {where} AND n.embedding IS NOT NULL AND size(n.embedding) = $dims
WITH n, reduce(best = -2.0, s IN [q IN $queries | vector.similarity.cosine(n.embedding, q)] |
               CASE WHEN s > best THEN s ELSE best END) AS best
WHERE best >= $floor
RETURN {KEY_FIELDS}, n.embedding AS embedding
"""


def candidates_by_index(where: str) -> str:
    """Top ``$k`` of the whole index per query; the scope is applied after (see the store)."""
    return f"""
UNWIND range(0, size($queries) - 1) AS qi
CALL db.index.vector.queryNodes($index, $k, $queries[qi]) YIELD node, score
WITH qi, node AS n, score
RETURN qi, score, ({where}) AS in_scope, {KEY_FIELDS},
       CASE WHEN ({where}) AND score >= $floor THEN n.embedding END AS embedding
"""


ONE_HOP = one_hop("elementId")
