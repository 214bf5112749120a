"""Every Cypher statement the store runs, and the scope encoding.

Data never enters a query's text: names, types, labels, embeddings and scope ids are parameters.
The only text assembled at run time is the scope predicate, and it is picked from fixed fragments
(one per scope key the caller set), so a query's shape depends on which ids are set, never on
their values.

The statements stay within what both kuzu 0.11 and ladybug run (no extensions: no vector index,
no ``array_cosine_similarity`` on the variable-length lists used here; cosine is computed in numpy).

Layout:

- ``Mem7Entity`` nodes, primary key ``key`` = JSON of ``[user_id, agent_id, run_id, name]``, so an
  entity is unique per *exact* scope and name (the same name for two users is two entities).
  The scope ids are also stored as properties, ``""`` standing for an unset id (scope ids are
  non-empty strings, so ``""`` cannot collide with a real one).
- ``MEM7_RELATES`` relationships between two entities of the same exact scope, identified by
  ``(source key, relationship, destination key)``; their scope is their endpoints'.
"""

from __future__ import annotations

import json
from typing import Any

from mem7_core.models import SCOPE_KEYS, Scope

UNSET = ""
"""What an unset scope id is stored as."""

SCHEMA: tuple[str, ...] = (
    (
        "CREATE NODE TABLE IF NOT EXISTS Mem7Entity("
        "key STRING, user_id STRING, agent_id STRING, run_id STRING, name STRING, type STRING, "
        "embedding DOUBLE[], mentions INT64, created_at STRING, updated_at STRING, PRIMARY KEY(key))"
    ),
    (
        "CREATE REL TABLE IF NOT EXISTS MEM7_RELATES(FROM Mem7Entity TO Mem7Entity, "
        "relationship STRING, valid BOOLEAN, mentions INT64, "
        "created_at STRING, updated_at STRING, last_accessed_at STRING)"
    ),
)

_REL_FIELDS = (
    "a.key, a.name, r.relationship, b.key, b.name, r.valid, r.mentions, r.created_at, r.updated_at, r.last_accessed_at"
)
"""Columns of a relation row, in the order :func:`mem7_kuzu.store._relation` reads them."""

EXISTING_KEYS = "UNWIND $keys AS k MATCH (e:Mem7Entity {key: k}) RETURN e.key"

# Writes take a batch: ``$rows`` is a list of structs (one per distinct entity or triple, with
# ``n`` = how many times the call names it), so a call costs a few statements, not one per item
# (each statement is planned anew, several milliseconds on kuzu 0.11).
CREATE_ENTITIES = (
    "UNWIND $rows AS row CREATE (e:Mem7Entity {key: row.key, user_id: $user_id, agent_id: $agent_id, "
    "run_id: $run_id, name: row.name, type: row.type, embedding: row.embedding, mentions: row.n, "
    "created_at: $now, updated_at: $now})"
)
BUMP_ENTITIES = (
    "UNWIND $rows AS row MATCH (e:Mem7Entity {key: row.key}) "
    "SET e.mentions = e.mentions + row.n, e.type = row.type, e.updated_at = $now"
)
BUMP_ENTITIES_EMBEDDING = (
    "UNWIND $rows AS row MATCH (e:Mem7Entity {key: row.key}) "
    "SET e.mentions = e.mentions + row.n, e.type = row.type, e.embedding = row.embedding, e.updated_at = $now"
)

MERGE_RELATIONS = (
    "UNWIND $rows AS row "
    "MATCH (a:Mem7Entity {key: row.source}), (b:Mem7Entity {key: row.destination}) "
    "MERGE (a)-[r:MEM7_RELATES {relationship: row.relationship}]->(b) "
    "ON CREATE SET r.valid = true, r.mentions = row.n, r.created_at = $now, r.updated_at = $now "
    "ON MATCH SET r.valid = true, r.mentions = r.mentions + row.n, r.updated_at = $now "
    f"RETURN {_REL_FIELDS}"
)

RELATIONS_FROM_KEYS = (
    "UNWIND $keys AS k MATCH (a:Mem7Entity {key: k})-[r:MEM7_RELATES]->(b:Mem7Entity) "
    f"WHERE r.valid RETURN {_REL_FIELDS}"
)
RELATIONS_TO_KEYS = (
    "UNWIND $keys AS k MATCH (a:Mem7Entity)-[r:MEM7_RELATES]->(b:Mem7Entity {key: k}) "
    f"WHERE r.valid RETURN {_REL_FIELDS}"
)

_TRIPLES_MATCH = (
    "UNWIND $rows AS row MATCH (a:Mem7Entity)-[r:MEM7_RELATES]->(b:Mem7Entity) "
    "WHERE {scope} AND a.name = row.source AND r.relationship = row.relationship "
    "AND b.name = row.destination"
)


def entity_key(scope: Scope, name: str) -> str:
    """The primary key of entity ``name`` in the exact ``scope`` (an injective JSON encoding)."""
    return json.dumps([scope.user_id, scope.agent_id, scope.run_id, name], ensure_ascii=False)


def exact_scope_params(scope: Scope) -> dict[str, str]:
    """The stored scope properties of a write to the exact ``scope``."""
    return {key: getattr(scope, key) or UNSET for key in SCOPE_KEYS}


def scope_predicate(alias: str, scope: Scope) -> tuple[str, dict[str, Any]]:
    """``(predicate, params)`` matching ``alias``'s scope ids with the read rule (unset = any).

    The predicate is built from fixed fragments only; the ids go in the params.
    """
    if alias not in ("a", "e"):
        raise AssertionError(f"unexpected alias {alias!r}")
    parts: list[str] = []
    params: dict[str, Any] = {}
    for key, value in scope.items():
        parts.append(f"{alias}.{key} = $scope_{key}")
        params[f"scope_{key}"] = value
    return (" AND ".join(parts) if parts else "true"), params


def entities_in_scope(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Keys and embeddings of the entities in ``scope``."""
    where, params = scope_predicate("e", scope)
    return f"MATCH (e:Mem7Entity) WHERE {where} RETURN e.key, e.embedding", params


def count_entities(scope: Scope) -> tuple[str, dict[str, Any]]:
    where, params = scope_predicate("e", scope)
    return f"MATCH (e:Mem7Entity) WHERE {where} RETURN count(e)", params


def delete_scope(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Delete every entity in ``scope`` with its relations.

    A relation only joins entities of one exact scope, so deleting the entities of a matching
    scope removes exactly the relations of that scope, and leaves no orphan behind.
    """
    where, params = scope_predicate("e", scope)
    return f"MATCH (e:Mem7Entity) WHERE {where} DETACH DELETE e", params


ALL_ENTITY_VECTORS = "MATCH (e:Mem7Entity) RETURN e.key, e.user_id, e.agent_id, e.run_id, e.embedding"
"""Everything :class:`mem7_kuzu._cache.EmbeddingCache` mirrors."""

DELETE_EVERYTHING = "MATCH (e:Mem7Entity) DETACH DELETE e"


def relations(scope: Scope, *, valid_only: bool = True) -> tuple[str, dict[str, Any]]:
    """The scope's valid relations (every relation, invalidated ones too, unless ``valid_only``)."""
    where, params = scope_predicate("a", scope)
    valid = " AND r.valid" if valid_only else ""
    query = f"MATCH (a:Mem7Entity)-[r:MEM7_RELATES]->(b:Mem7Entity) WHERE {where}{valid} RETURN {_REL_FIELDS}"
    return query, params


def invalidate_triples(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Soft-delete the valid stored copies of ``$rows`` (distinct triples) in ``scope``; ``$now``."""
    where, params = scope_predicate("a", scope)
    query = _TRIPLES_MATCH.format(scope=where) + (
        " AND r.valid SET r.valid = false, r.updated_at = $now RETURN count(r)"
    )
    return query, params


def rehearse_triples(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Add ``row.n`` mentions to every stored copy of ``$rows`` (distinct triples) in ``scope``."""
    where, params = scope_predicate("a", scope)
    query = _TRIPLES_MATCH.format(scope=where) + (
        " SET r.mentions = r.mentions + row.n, r.last_accessed_at = $now RETURN count(r)"
    )
    return query, params
