"""The statements only Memgraph takes; the portable ones are the contract's.

Two dialects (chosen by what the server answers, see the store):

- ``cypher``: portable openCypher only, what any Bolt server answers: the upsert MERGEs, get_all,
  invalidate, rehearse, delete_all, reset, entity_count and the one-hop read with ``id(r)``
  (:mod:`mem7_core.providers.graph_cypher`); search compares the scope's embeddings in the client.
  The schema is tried, best effort, in Neo4j 5's syntax (``NEO4J5_SCHEMA``, which ArcadeDB takes).
  These run against ArcadeDB's Bolt server in the tests.
- ``memgraph``: the same, plus Memgraph's schema (label-property indexes and a uniqueness
  constraint, Memgraph syntax) and its vector index (``CREATE VECTOR INDEX ... WITH CONFIG`` and
  ``CALL vector_search.search``) to narrow the candidates. These are defined here; the tests pin
  their text, and Memgraph itself was never run here.

Memgraph has no APOC, no ``vector.similarity.cosine``, no ``db.awaitIndex`` and no ``elementId``:
nothing here uses them. The only text put together is an index name validated as an identifier
and integer dimension/capacity (Memgraph takes neither as a parameter in DDL).
"""

from __future__ import annotations

from mem7_core.providers.graph_cypher import KEY_FIELDS, LABEL, check_identifier, one_hop

PROBE = "RETURN 1 AS ok"
"""Reachability, credentials and database: every Bolt server answers it."""

PROBE_MEMGRAPH = (
    "CALL mg.procedures() YIELD name WITH name WHERE name STARTS WITH 'vector_search.' RETURN count(name) AS n"
)
"""Memgraph's procedure catalogue: an error on other servers (not Memgraph: ``cypher`` dialect);
on Memgraph, ``n > 0`` when its vector search module is loaded."""

ONE_HOP = one_hop("id")

# ------------------------------------------------------------------------------------------------
# Memgraph schema (auto-commit statements: Memgraph refuses DDL inside an explicit transaction)
# ------------------------------------------------------------------------------------------------
CREATE_INDEXES = (
    f"CREATE INDEX ON :{LABEL}(user_id)",
    f"CREATE INDEX ON :{LABEL}(name)",
)
CREATE_CONSTRAINT = f"CREATE CONSTRAINT ON (n:{LABEL}) ASSERT n.user_id, n.agent_id, n.run_id, n.name IS UNIQUE"
"""The four-part identity, unique: two concurrent MERGEs of one new entity cannot both create it
(the loser's transaction fails and is retried, finding the winner's node)."""

MEMGRAPH_SCHEMA: tuple[tuple[str, ...], ...] = ((CREATE_CONSTRAINT,), *((s,) for s in CREATE_INDEXES))
"""Memgraph's schema as groups of alternatives (one statement each), like ``NEO4J5_SCHEMA``."""

SHOW_VECTOR_INDEXES = "SHOW VECTOR INDEX INFO"


def create_vector_index(index_name: str, dims: int, capacity: int) -> str:
    """Memgraph's vector index (usearch HNSW) on the entity embeddings, cosine metric."""
    check_identifier(index_name, "index_name")
    for field, value in (("dims", dims), ("index_capacity", capacity)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{field} must be a positive integer, got {value!r}")
    return (
        f"CREATE VECTOR INDEX {index_name} ON :{LABEL}(embedding) "
        f'WITH CONFIG {{"dimension": {dims}, "capacity": {capacity}, "metric": "cos"}}'
    )


def candidates_by_index(where: str) -> str:
    """The ``$k`` nearest entities of the whole index per query (``similarity``: cosine), each
    with whether it is in the read scope; embeddings only for those in scope at ``$floor`` or above."""
    return f"""
UNWIND range(0, size($queries) - 1) AS qi
CALL vector_search.search($index, $k, $queries[qi]) YIELD node, similarity
WITH qi, node AS n, similarity AS score
RETURN qi, score, ({where}) AS in_scope, {KEY_FIELDS},
       CASE WHEN ({where}) AND score >= $floor THEN n.embedding END AS embedding
"""
