"""KuzuGraphStore: mem7's graph memory in an embedded, on-disk Kuzu (or ladybug) database.

Each entity is a node keyed by its exact scope and name, so tenants never share an entity (the
reference engine shares names across users; mem7 must not). Every call runs as one job on the
file's worker thread (see :mod:`._worker`, :mod:`._shared`); a write is one transaction of a few
batched statements (``UNWIND $rows``). Cosine similarity is computed in numpy over the scope's
entity embeddings, which keeps the Cypher within what both engines run without their vector
extension.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from pydantic import AliasChoices, Field, field_validator

from mem7_core.errors import ScopeError
from mem7_core.models import Scope
from mem7_core.providers import (
    Entity,
    GraphRelation,
    GraphStore,
    GraphStoreCapabilities,
    ProviderConfig,
)

from . import _cypher as cy
from ._cache import unit
from ._engine import (
    EngineName,
    check_engine_compatible,
    load_engine,
    open_database,
    resolve_path,
)
from ._shared import acquire
from ._worker import Row, Session, Worker

_SCORE_TOLERANCE = 1e-12
"""Cosines within this of ``threshold`` count as reaching it (float64 rounding of equal vectors)."""


class KuzuGraphStore(GraphStore):
    """Entities and relations in an embedded Kuzu database file, isolated per scope."""

    name: ClassVar[str] = "kuzu"
    capabilities: ClassVar[GraphStoreCapabilities] = GraphStoreCapabilities(persistent=True)

    class Config(ProviderConfig):
        path: str = Field(default="mem7_graph.kuzu", validation_alias=AliasChoices("path", "db"))
        """Database file (created with its parent directories); ``:memory:`` for a throwaway one.
        ``db`` is accepted as an alias (mem0's name for it)."""
        engine: EngineName = "kuzu"
        """``kuzu`` (0.11.3, the last release) or ``ladybug`` (its maintained fork, same API). The
        two cannot be loaded in one process, and their files are not interchangeable."""
        buffer_pool_size: int = Field(default=0, ge=0)
        """Bytes of page cache; 0 lets the engine choose (a share of the machine's memory)."""
        max_num_threads: int = Field(default=0, ge=0)
        """Threads the engine may use per query; 0 means all cores."""
        cache_embeddings: bool = True
        """Keep every entity's embedding in memory (8 bytes per dimension per entity, loaded by the
        first search) instead of reading the scope's embeddings from the database on each search."""

        @field_validator("path")
        @classmethod
        def _path_not_blank(cls, v: str) -> str:
            if not v.strip():
                raise ValueError("path must be a file path (or ':memory:'), e.g. ~/.mem7/graph.kuzu")
            return v

    config: Config

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        """Kuzu's embedded database is opened by one process at a time."""
        return "the kuzu graph store is for one process only"

    def __init__(self, config: ProviderConfig | None = None) -> None:
        super().__init__(config)
        # Fail at construction, not at first use, when the other engine is already in the process.
        check_engine_compatible(self.config.engine)
        # Stores on one file share its database (see ._shared); nothing is opened until first use.
        self._worker = acquire(
            self.config.path,
            self.config.engine,
            lambda previous: Worker(partial(self._open, previous), cy.SCHEMA),
        )

    def _open(self, previous_closed: threading.Event | None) -> tuple[ModuleType, Any]:
        """Runs on the worker thread: import the engine, then open the file once any previous
        database on it in this process has finished closing."""
        cfg = self.config
        if previous_closed is not None:
            previous_closed.wait()
        module = load_engine(cfg.engine)
        path = resolve_path(cfg.path)
        options: dict[str, Any] = {}
        if cfg.buffer_pool_size:
            options["buffer_pool_size"] = cfg.buffer_pool_size
        if cfg.max_num_threads:
            options["max_num_threads"] = cfg.max_num_threads
        return module, open_database(module, path, **options)

    # ------------------------------------------------------------------------------ writes
    async def upsert(
        self,
        scope: Scope,
        entities: Sequence[Entity],
        relations: Sequence[GraphRelation],
        *,
        now: str,
    ) -> list[GraphRelation]:
        if scope.is_empty:
            raise ScopeError("graph upsert needs a scope: set at least one of user_id, agent_id, run_id")
        ents = [(e, _vector(e)) for e in entities]
        triples = [_triple(r) for r in relations]
        if not ents and not triples:
            return []
        scope_props = cy.exact_scope_params(scope)
        exact = (scope_props["user_id"], scope_props["agent_id"], scope_props["run_id"])
        key_of = {n: cy.entity_key(scope, n) for n in _names(ents, triples)}

        def job(s: Session) -> list[GraphRelation]:
            present = {row[0] for row in s.rows(cy.EXISTING_KEYS, {"keys": list(key_of.values())})}
            # Validate everything before the first write, so a bad call changes nothing.
            will_exist = set(present)
            for entity, vec in ents:
                key = key_of[entity.name]
                if key not in will_exist and vec is None:
                    raise ValueError(
                        f"entity {entity.name!r} is new in this scope and has no embedding; "
                        f"embed its name before upserting it"
                    )
                will_exist.add(key)
            for source, _, destination in triples:
                for end in (source, destination):
                    if key_of[end] not in will_exist:
                        raise ValueError(
                            f"relation endpoint {end!r} is neither among the entities given nor "
                            f"stored in this scope; pass it in entities"
                        )
            new, bump, bump_embedding = _entity_rows(ents, key_of, present)
            common = {"now": now}
            if new:
                s.run(cy.CREATE_ENTITIES, {**common, **scope_props, "rows": new})
            if bump:
                s.run(cy.BUMP_ENTITIES, {**common, "rows": bump})
            if bump_embedding:
                s.run(cy.BUMP_ENTITIES_EMBEDDING, {**common, "rows": bump_embedding})
            changed = [(row["key"], row["embedding"]) for row in (*new, *bump_embedding)]
            if changed:
                s.after_commit(lambda: s.cache.put(exact, changed))
            if not triples:
                return []
            counts = Counter(triples)
            rows = [
                {
                    "source": key_of[t[0]],
                    "relationship": t[1],
                    "destination": key_of[t[2]],
                    "n": n,
                }
                for t, n in counts.items()
            ]
            final = {
                (row[0], row[2], row[3]): _relation(row) for row in s.rows(cy.MERGE_RELATIONS, {**common, "rows": rows})
            }
            # The state after each occurrence: the k-th of n repeats saw ``mentions - n + k``.
            seen: Counter[tuple[str, str, str]] = Counter()
            out: list[GraphRelation] = []
            for t in triples:
                seen[t] += 1
                rel = final[(key_of[t[0]], t[1], key_of[t[2]])]
                out.append(replace(rel, mentions=rel.mentions - counts[t] + seen[t]))
            return out

        return await self._worker.call(job, transaction=True)

    async def invalidate(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> int:
        triples = list(dict.fromkeys(_triple(r) for r in relations))
        if not triples:
            return 0
        query, params = cy.invalidate_triples(scope)
        params |= {
            "rows": [{"source": s, "relationship": r, "destination": d} for s, r, d in triples],
            "now": now,
        }
        return await self._worker.call(lambda s: int(s.rows(query, params)[0][0]), transaction=True)

    async def rehearse(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> None:
        counts = Counter(_triple(r) for r in relations)
        if not counts:
            return
        query, params = cy.rehearse_triples(scope)
        rows = [{"source": s, "relationship": r, "destination": d, "n": n} for (s, r, d), n in counts.items()]
        params |= {"rows": rows, "now": now}
        await self._worker.call(lambda s: s.run(query, params), transaction=True)

    async def delete_all(self, scope: Scope) -> None:
        if scope.is_empty:
            raise ScopeError("graph delete_all needs a scope; use reset() to clear the whole graph")
        query, params = cy.delete_scope(scope)

        def job(s: Session) -> None:
            s.run(query, params)
            s.after_commit(lambda: s.cache.drop_matching(scope))

        await self._worker.call(job, transaction=True)

    async def reset(self) -> None:
        def job(s: Session) -> None:
            s.run(cy.DELETE_EVERYTHING)
            s.after_commit(s.cache.clear)

        await self._worker.call(job, transaction=True)

    # ------------------------------------------------------------------------------ reads
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
        queries = _query_matrix(embeddings)
        entity_query, entity_params = cy.entities_in_scope(scope)
        cached = self.config.cache_embeddings

        def job(s: Session) -> list[GraphRelation]:
            if cached:
                if not s.cache.loaded:
                    s.cache.load(s.rows(cy.ALL_ENTITY_VECTORS))
                groups = s.cache.matching(scope)
            else:
                groups = _groups(s.rows(entity_query, entity_params))
            scores = _entity_scores(groups, queries, threshold)
            if not scores:
                return []
            keys = list(scores)
            found: dict[tuple[str, str, str], tuple[float, GraphRelation]] = {}
            for row in s.rows(cy.RELATIONS_FROM_KEYS, {"keys": keys}) + s.rows(cy.RELATIONS_TO_KEYS, {"keys": keys}):
                ident = (row[0], row[2], row[3])
                if ident in found:
                    continue
                score = max(scores.get(row[0], -math.inf), scores.get(row[3], -math.inf))
                rel = _relation(row)
                rel.score = score
                found[ident] = (score, rel)
            ranked = sorted(found.values(), key=lambda sr: (-sr[0], -sr[1].mentions, sr[1].triple))
            return [rel for _, rel in ranked[:limit]]

        return await self._worker.call(job)

    async def get_all(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return await self._relations(scope, limit, valid_only=True)

    async def get_all_including_invalid(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return await self._relations(scope, limit, valid_only=False)

    async def _relations(self, scope: Scope, limit: int | None, *, valid_only: bool) -> list[GraphRelation]:
        if limit is not None and limit <= 0:
            return []
        query, params = cy.relations(scope, valid_only=valid_only)

        def job(s: Session) -> list[GraphRelation]:
            rels = [_relation(row) for row in s.rows(query, params)]
            rels.sort(key=lambda r: (r.created_at or "", r.triple))
            return rels if limit is None else rels[:limit]

        return await self._worker.call(job)

    async def entity_count(self, scope: Scope) -> int:
        query, params = cy.count_entities(scope)
        return await self._worker.call(lambda s: int(s.rows(query, params)[0][0]))

    async def aclose(self) -> None:
        await self._worker.aclose()


# ---------------------------------------------------------------------------------- helpers
def _triple(rel: GraphRelation) -> tuple[str, str, str]:
    for field, value in zip(("source", "relationship", "destination"), rel.triple):
        if not isinstance(value, str):
            raise TypeError(f"relation {field} must be a string, got {type(value).__name__}")
    return rel.triple


def _vector(entity: Entity) -> list[float] | None:
    """The entity's embedding as a list of finite floats (``None`` when not given); also checks
    that its name and type are strings, so nothing reaches the database half-validated."""
    if not isinstance(entity.name, str):
        raise TypeError(f"entity name must be a string, got {type(entity.name).__name__}")
    if not isinstance(entity.type, str):
        raise TypeError(f"entity {entity.name!r}: type must be a string, got {type(entity.type).__name__}")
    if entity.embedding is None:
        return None
    try:
        arr = np.asarray(entity.embedding, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"entity {entity.name!r}: embedding must be a sequence of floats ({exc})") from exc
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"entity {entity.name!r}: embedding must be a non-empty 1-D sequence of finite floats")
    return [float(x) for x in arr]


def _entity_rows(
    ents: Sequence[tuple[Entity, list[float] | None]],
    key_of: Mapping[str, str],
    present: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """One row per distinct entity: ``(new, bumped, bumped with a new embedding)``.

    An entity named ``n`` times gets ``n`` mentions (a new one starts at ``n``), the last type given
    and the last embedding given.
    """
    merged: dict[str, dict[str, Any]] = {}
    for entity, vec in ents:
        key = key_of[entity.name]
        row = merged.get(key)
        if row is None:
            merged[key] = {
                "key": key,
                "name": entity.name,
                "type": entity.type,
                "embedding": vec,
                "n": 1,
            }
        else:
            row["n"] += 1
            row["type"] = entity.type
            if vec is not None:
                row["embedding"] = vec
    new = [row for key, row in merged.items() if key not in present]
    bump = [
        {k: row[k] for k in ("key", "type", "n")}
        for key, row in merged.items()
        if key in present and row["embedding"] is None
    ]
    bump_embedding = [
        {k: row[k] for k in ("key", "type", "embedding", "n")}
        for key, row in merged.items()
        if key in present and row["embedding"] is not None
    ]
    return new, bump, bump_embedding


def _names(ents: Iterable[tuple[Entity, Any]], triples: Iterable[tuple[str, str, str]]) -> list[str]:
    names = [e.name for e, _ in ents]
    for source, _, destination in triples:
        names += (source, destination)
    return list(dict.fromkeys(names))


def _query_matrix(embeddings: Sequence[Sequence[float]]) -> np.ndarray:
    """Query embeddings as unit rows (a zero row stays zero: it matches nothing above 0)."""
    try:
        q = np.asarray([np.asarray(e, dtype=np.float64) for e in embeddings], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"search embeddings must be equal-length sequences of floats ({exc})") from exc
    if q.ndim != 2 or q.shape[1] == 0 or not np.all(np.isfinite(q)):
        raise ValueError("search embeddings must be non-empty, equal-length sequences of finite floats")
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    unit_rows: np.ndarray = np.divide(q, norms, out=np.zeros_like(q), where=norms > 0)
    return unit_rows


def _groups(rows: list[Row]) -> list[tuple[list[str], np.ndarray]]:
    """``(key, embedding)`` rows read from the database as one ``(keys, unit matrix)`` group."""
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return []
    dims = {len(r[1]) for r in rows}
    if len(dims) > 1:
        raise ValueError(
            f"entities of this scope have embeddings of {sorted(dims)} dimensions; the graph was "
            f"written with more than one embedder (delete the scope or reset the graph)"
        )
    return [([r[0] for r in rows], np.stack([unit(r[1]) for r in rows]))]


def _entity_scores(
    groups: Sequence[tuple[list[str], np.ndarray]], queries: np.ndarray, threshold: float
) -> dict[str, float]:
    """Best cosine of each entity with any query (rows of ``groups`` and ``queries`` are unit
    vectors), for the entities reaching ``threshold``."""
    scores: dict[str, float] = {}
    for keys, matrix in groups:
        if not keys:
            continue
        if matrix.shape[1] != queries.shape[1]:
            raise ValueError(
                f"search embeddings have {queries.shape[1]} dimensions but entities in this scope have "
                f"{matrix.shape[1]}; use the embedder the graph was written with"
            )
        best = np.clip((matrix @ queries.T).max(axis=1), -1.0, 1.0)
        for i in np.flatnonzero(best >= threshold - _SCORE_TOLERANCE):
            scores[keys[i]] = float(best[i])
    return scores


def _relation(row: Row) -> GraphRelation:
    """A relation from a row laid out as ``_cypher._REL_FIELDS``."""
    return GraphRelation(
        source=row[1],
        relationship=row[2],
        destination=row[4],
        valid=bool(row[5]),
        mentions=int(row[6]),
        created_at=row[7],
        updated_at=row[8],
        last_accessed_at=row[9],
    )
