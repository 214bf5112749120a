"""FlatGraphStore: entities and relations in process, one small graph per exact scope.

Layout in memory:

- ``_graphs``: exact scope key ``(user_id, agent_id, run_id)`` → :class:`_ScopeGraph`. A scope's
  graph holds its entities (names, types, mentions, and a float32 matrix of L2-normalised name
  embeddings, one row per entity) and its relations (triple → bookkeeping, plus the triples
  touching each entity). Relations only join entities of one exact scope, so a scope's graph is
  self-contained, and ``delete_all`` (which orphans every entity of the scopes it empties) drops
  whole graphs.
- ``_keys_by``: for each of ``user_id`` / ``agent_id`` / ``run_id``, value → exact scope keys
  carrying it. A read intersects the key sets of the ids its scope sets, so a search scores only
  the entities of matching scopes (one matrix product per scope) and never reads another tenant's.

Persistence (``path`` set) reuses the flat vector store's files (:mod:`._persist`): every
mutation is one fsync'd JSON line in the write-ahead log (the operation, replayed on open; a torn
last line was never acknowledged and is dropped), and a snapshot stores one row per entity (its
embedding in the ``.npy`` matrix, its scope, name, type, mentions and outgoing relations in the
aligned JSON payload), written via temp file + ``os.replace`` and committed by the manifest switch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from mem7_core.errors import ScopeError
from mem7_core.models import SCOPE_KEYS, Scope
from mem7_core.providers import (
    Entity,
    GraphRelation,
    GraphStore,
    GraphStoreCapabilities,
    ProviderConfig,
)
from mem7_core.providers.blocking import BlockingRunner

from ._persist import (
    Persistence,
    decode_vector,
    encode_vector,
    expand_path,
    path_errors,
    persistence_stats,
)

log = logging.getLogger("mem7.flat")

Triple = tuple[str, str, str]
ScopeKey = tuple[str | None, str | None, str | None]


@dataclass(slots=True)
class _Rel:
    """A stored relation's bookkeeping (the triple is its key in the scope graph)."""

    valid: bool
    mentions: int
    created_at: str
    updated_at: str
    last_accessed_at: str | None = None

    def out(self, triple: Triple, score: float | None = None) -> GraphRelation:
        """A fresh public copy: callers may change it without touching the store."""
        return GraphRelation(
            source=triple[0],
            relationship=triple[1],
            destination=triple[2],
            valid=self.valid,
            mentions=self.mentions,
            created_at=self.created_at,
            updated_at=self.updated_at,
            last_accessed_at=self.last_accessed_at,
            score=score,
        )


@dataclass(slots=True)
class _ScopeGraph:
    """Entities and relations of one exact scope."""

    dims: int
    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)
    row_of: dict[str, int] = field(default_factory=dict)
    mat: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    rels: dict[Triple, _Rel] = field(default_factory=dict)
    touching: dict[str, list[Triple]] = field(default_factory=dict)
    """Entity name → triples having it as source or destination (a self-loop listed once)."""

    def __post_init__(self) -> None:
        if self.mat.shape[1] != self.dims:
            self.mat = np.zeros((8, self.dims), dtype=np.float32)

    def put_entity(self, name: str, type_: str, vec: np.ndarray | None) -> None:
        row = self.row_of.get(name)
        if row is None:
            assert vec is not None  # validated before any write
            row = len(self.names)
            if row == len(self.mat):
                grown = np.zeros((2 * len(self.mat), self.dims), dtype=np.float32)
                grown[:row] = self.mat[:row]
                self.mat = grown
            self.row_of[name] = row
            self.names.append(name)
            self.types.append(type_)
            self.mentions.append(1)
            self.touching[name] = []
        else:
            self.mentions[row] += 1
            self.types[row] = type_
        if vec is not None:
            self.mat[row] = vec

    def put_relation(self, triple: Triple, now: str) -> _Rel:
        r = self.rels.get(triple)
        if r is None:
            r = self.rels[triple] = _Rel(True, 1, now, now)
            self.touching[triple[0]].append(triple)
            if triple[2] != triple[0]:
                self.touching[triple[2]].append(triple)
        else:
            r.valid, r.mentions, r.updated_at = True, r.mentions + 1, now
        return r

    @property
    def n(self) -> int:
        return len(self.names)


def _key(scope: Scope) -> ScopeKey:
    return (scope.user_id, scope.agent_id, scope.run_id)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"graph_store flat: {what} must be a string, got {type(value).__name__} {value!r}")
    return value


def _triple(r: GraphRelation) -> Triple:
    return (
        _text(r.source, "relation source"),
        _text(r.relationship, "relation relationship"),
        _text(r.destination, "relation destination"),
    )


class FlatGraphStore(GraphStore):
    """In-process graph store: per-scope entity matrices, numpy cosine, optional append-only persistence."""

    name = "flat"

    class Config(ProviderConfig):
        path: str | None = None
        """Directory to persist to (files go to ``path/<collection_name>/``). ``None``: memory only."""
        collection_name: str = Field("mem7_graph", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
        """Name of the graph; lets a vector store and a graph store share one ``path``."""
        snapshot_every: int = Field(10_000, ge=1)
        """Write a snapshot (and start a new log) after this many logged mutations."""
        fsync: bool = True
        """fsync the log after every mutation (durable acknowledgement). Off only for throwaway data."""

        _expand = field_validator("path")(expand_path)

    config: Config

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        """One process only: the graph lives in the process's memory, and its log (with a path)
        is replayed only when a process opens it, so another process's writes are never seen."""
        return "the flat graph store is for one process only"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        # Instance-level: persistent only when a path is configured.
        self.capabilities = GraphStoreCapabilities(persistent=cfg.path is not None)  # type: ignore[misc]
        # An RLock, not an asyncio.Lock: the methods never await while holding it, and the engine's
        # sync facade may call one store from several threads/event loops.
        self._lock = threading.RLock()
        self._clear()
        self._persist: Persistence | None = None
        # With a path, every mutation runs on this store's writer thread (one at a time, in order):
        # its log append fsyncs (and every ``snapshot_every`` mutations a snapshot is written),
        # which must not stall the event loop. Reads stay inline: in-memory numpy work.
        self._runner: BlockingRunner | None = None
        if cfg.path is not None:
            self._persist = Persistence(Path(cfg.path) / cfg.collection_name, fsync=cfg.fsync)
            self._runner = BlockingRunner("mem7-flat-graph")
            with path_errors("graph_store", cfg.path, "the graph"):
                self._load()

    # ================================================================== state
    def _clear(self) -> None:
        self._dims: int | None = None
        self._graphs: dict[ScopeKey, _ScopeGraph] = {}
        self._keys_by: dict[str, dict[str, set[ScopeKey]]] = {k: {} for k in SCOPE_KEYS}

    def _graph(self, key: ScopeKey) -> _ScopeGraph:
        g = self._graphs.get(key)
        if g is None:
            assert self._dims is not None
            g = self._graphs[key] = _ScopeGraph(self._dims)
            for k, v in zip(SCOPE_KEYS, key):
                if v is not None:
                    self._keys_by[k].setdefault(v, set()).add(key)
        return g

    def _drop(self, key: ScopeKey) -> None:
        del self._graphs[key]
        for k, v in zip(SCOPE_KEYS, key):
            if v is not None:
                keys = self._keys_by[k][v]
                keys.discard(key)
                if not keys:
                    del self._keys_by[k][v]

    def _matching(self, scope: Scope) -> Iterator[tuple[ScopeKey, _ScopeGraph]]:
        """The graphs of exact scopes matching ``scope`` (read rule), via the scope-id index."""
        items = scope.items()
        if not items:
            yield from list(self._graphs.items())
            return
        sets: list[set[ScopeKey]] = []
        for k, v in items:
            keys = self._keys_by[k].get(v)
            if not keys:
                return
            sets.append(keys)
        sets.sort(key=len)
        for key in sorted(sets[0].intersection(*sets[1:]), key=lambda t: tuple("" if x is None else x for x in t)):
            yield key, self._graphs[key]

    # ================================================================== validation
    def _vector(self, embedding: Sequence[float], what: str, dims: int | None) -> np.ndarray:
        try:
            v = np.asarray(embedding, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"graph_store flat: {what} must be a sequence of numbers ({exc})") from None
        if v.ndim != 1 or v.shape[0] == 0:
            raise ValueError(
                f"graph_store flat: {what} must be a flat, non-empty sequence of numbers, got shape {v.shape}"
            )
        if dims is not None and v.shape[0] != dims:
            raise ValueError(f"graph_store flat: {what} has {v.shape[0]} dims, the graph has {dims}")
        if not np.isfinite(v).all():
            raise ValueError(f"graph_store flat: {what} must be finite (no NaN or inf)")
        norm = float(np.linalg.norm(v.astype(np.float64)))
        return v / np.float32(norm) if norm > 0 else v

    def _check_upsert(
        self, scope: Scope, entities: Sequence[Entity], relations: Sequence[GraphRelation], now: str
    ) -> tuple[list[tuple[str, str, np.ndarray | None]], list[Triple], int | None]:
        """Everything upsert could refuse, checked before anything is written."""
        if scope.is_empty:
            raise ScopeError("graph_store flat: upsert needs a scope; set at least one of user_id, agent_id or run_id")
        _text(now, "now")
        g = self._graphs.get(_key(scope))
        stored = set() if g is None else g.row_of.keys()
        dims = self._dims
        ents: list[tuple[str, str, np.ndarray | None]] = []
        for e in entities:
            name = _text(e.name, "entity name")
            type_ = _text(e.type, f"type of entity {name!r}")
            vec = None
            if e.embedding is not None:
                vec = self._vector(e.embedding, f"embedding of entity {name!r}", dims)
                dims = len(vec)
            ents.append((name, type_, vec))
        known = set(stored) | {name for name, _, vec in ents if vec is not None}
        for name, _, vec in ents:
            if vec is None and name not in known:
                raise ValueError(
                    f"graph_store flat: new entity {name!r} has no embedding; embed its name before upserting it"
                )
        triples = [_triple(r) for r in relations]
        for t in triples:
            for end in (t[0], t[2]):
                if end not in known:
                    raise ValueError(
                        f"graph_store flat: relation {t!r} refers to entity {end!r}, which is neither given "
                        f"nor stored in scope {scope.as_dict()}; pass it in entities (with an embedding)"
                    )
        return ents, triples, dims

    # ================================================================== mutations (also replayed from the log)
    def _apply_upsert(
        self, key: ScopeKey, ents: Sequence[tuple[str, str, np.ndarray | None]], triples: Sequence[Triple], now: str
    ) -> list[GraphRelation]:
        if self._dims is None:
            self._dims = next((len(v) for _, _, v in ents if v is not None), None)
        if self._dims is None:  # nothing new and no embeddings: the scope must already exist
            g = self._graphs.get(key)
            if g is None:
                return []
        g = self._graph(key)
        for name, type_, vec in ents:
            g.put_entity(name, type_, vec)
        return [g.put_relation(t, now).out(t) for t in triples]

    def _targets(self, scope: Scope, triples: Sequence[Triple]) -> list[_Rel]:
        wanted = list(dict.fromkeys(triples))
        out: list[_Rel] = []
        for _, g in self._matching(scope):
            for t in wanted:
                r = g.rels.get(t)
                if r is not None:
                    out.append(r)
        return out

    @staticmethod
    def _apply_invalidate(targets: Sequence[_Rel], now: str) -> int:
        n = 0
        for r in targets:
            if r.valid:
                r.valid, r.updated_at = False, now
                n += 1
        return n

    @staticmethod
    def _apply_rehearse(targets: Sequence[_Rel], now: str) -> None:
        for r in targets:
            r.mentions += 1
            r.last_accessed_at = now

    def _apply_delete_all(self, scope: Scope) -> None:
        for key in [k for k, _ in self._matching(scope)]:
            self._drop(key)

    # ================================================================== persistence
    def _load(self) -> None:
        assert self._persist is not None
        loaded = self._persist.load()
        self._dims = loaded.dims
        if loaded.ids:
            assert loaded.matrix is not None
            self._load_snapshot(loaded.matrix, loaded.payloads)
        for record in loaded.records:
            try:
                self._replay(record)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                log.warning("flat: skipping a malformed graph log record in %s (%s)", self._persist.dir, exc)

    def _load_snapshot(self, matrix: np.ndarray, payloads: list[Any]) -> None:
        self._dims = int(matrix.shape[1])
        edges: list[tuple[ScopeKey, list[Any]]] = []
        for row, p in zip(matrix, payloads):
            key: ScopeKey = tuple(p["s"])
            g = self._graph(key)
            g.put_entity(p["n"], p["t"], row)
            g.mentions[g.row_of[p["n"]]] = int(p["m"])
            edges.append((key, p["r"]))
        for key, rels in edges:
            g = self._graphs[key]
            for s, rel, d, valid, mentions, created, updated, accessed in rels:
                r = g.put_relation((s, rel, d), created)
                r.valid, r.mentions, r.updated_at, r.last_accessed_at = bool(valid), int(mentions), updated, accessed

    def _replay(self, record: dict[str, Any]) -> None:
        if "up" in record:
            key, ents, triples, now = record["up"]
            decoded = [(n, t, None if v is None else decode_vector(v)) for n, t, v in ents]
            if self._dims is not None and any(v is not None and len(v) != self._dims for _, _, v in decoded):
                raise ValueError("embedding size differs from the graph's")
            self._apply_upsert(tuple(key), decoded, [tuple(t) for t in triples], now)
        elif "inv" in record:
            scope, triples, now = record["inv"]
            self._apply_invalidate(self._targets(Scope(*scope), [tuple(t) for t in triples]), now)
        elif "reh" in record:
            scope, triples, now = record["reh"]
            self._apply_rehearse(self._targets(Scope(*scope), [tuple(t) for t in triples]), now)
        elif "del" in record:
            self._apply_delete_all(Scope(*record["del"]))
        else:
            raise ValueError(f"unknown record {sorted(record)!r}")

    def _log(self, record: dict[str, Any]) -> None:
        """Make a mutation durable before it is applied (and acknowledged)."""
        p = self._persist
        if p is None:
            return
        p.append(record)

    async def _mutate(self, prep: Callable[..., tuple[dict[str, Any] | None, Callable[[], Any]]], *args: Any) -> Any:
        """One mutation: ``prep(*args)`` under the lock checks it and returns (its log record, or
        None when there is nothing to do; the function applying it). The record is made durable
        (appended and fsynced) before it is applied, as before; with a path all of it runs on the
        writer thread, the lock held only for the in-memory steps (not across the fsync), so
        searches go on meanwhile and see the graph as it was until the mutation is applied.
        Mutations never overlap (one writer thread), so what ``prep`` found still holds when it is
        applied. A cancelled caller gets ``CancelledError``; the mutation finishes in its thread.
        """
        if self._runner is None:
            with self._lock:  # in memory: nothing blocks; one lock hold for the whole mutation
                return self._mutate_sync(prep, args)
        return await self._runner.run(self._mutate_sync, prep, args)

    def _mutate_sync(
        self, prep: Callable[..., tuple[dict[str, Any] | None, Callable[[], Any]]], args: tuple[Any, ...]
    ) -> Any:
        with self._lock:
            record, apply = prep(*args)
            if record is None:
                return apply()
        self._log(record)
        with self._lock:
            out = apply()
            p = self._persist
            rows = self._snapshot_rows() if p is not None and p.snapshot_due(self.config.snapshot_every) else None
        if rows is not None:
            assert p is not None
            p.snapshot(*rows)
        return out

    def _snapshot(self) -> None:
        assert self._persist is not None
        self._persist.snapshot(*self._snapshot_rows())

    def _snapshot_rows(self) -> tuple[int | None, list[str], np.ndarray, list[dict[str, Any]]]:
        """What a snapshot holds, copied out of the graph (under the lock)."""
        ids: list[str] = []
        rows: list[np.ndarray] = []
        payloads: list[dict[str, Any]] = []
        for key, g in self._graphs.items():
            out: dict[str, list[list[Any]]] = {name: [] for name in g.names}
            for (s, rel, d), r in g.rels.items():
                out[s].append([s, rel, d, r.valid, r.mentions, r.created_at, r.updated_at, r.last_accessed_at])
            for i, name in enumerate(g.names):
                ids.append(str(len(ids)))
                payloads.append({"s": list(key), "n": name, "t": g.types[i], "m": g.mentions[i], "r": out[name]})
            rows.append(g.mat[: g.n])
        dims = self._dims or 0
        matrix = np.concatenate(rows) if rows else np.zeros((0, dims), dtype=np.float32)
        return self._dims, ids, matrix, payloads

    @staticmethod
    def _scope_list(scope: Scope) -> list[str | None]:
        return [scope.user_id, scope.agent_id, scope.run_id]

    # ================================================================== GraphStore API
    async def upsert(
        self,
        scope: Scope,
        entities: Sequence[Entity],
        relations: Sequence[GraphRelation],
        *,
        now: str,
    ) -> list[GraphRelation]:
        return await self._mutate(self._prep_upsert, scope, entities, relations, now)  # type: ignore[no-any-return]

    def _prep_upsert(
        self, scope: Scope, entities: Sequence[Entity], relations: Sequence[GraphRelation], now: str
    ) -> tuple[dict[str, Any] | None, Callable[[], list[GraphRelation]]]:
        ents, triples, _ = self._check_upsert(scope, entities, relations, now)
        if not ents and not triples:
            return None, list
        key = _key(scope)
        record = {
            "up": [
                list(key),
                [[n, t, None if v is None else encode_vector(v)] for n, t, v in ents],
                [list(t) for t in triples],
                now,
            ]
        }
        return record, lambda: self._apply_upsert(key, ents, triples, now)

    async def search(
        self,
        scope: Scope,
        embeddings: Sequence[Sequence[float]],
        *,
        threshold: float,
        limit: int,
    ) -> list[GraphRelation]:
        if len(embeddings) == 0 or limit <= 0:
            return []
        with self._lock:
            if self._dims is None:
                return []
            dims = self._dims
            q = np.stack([self._vector(e, f"query embedding {i}", dims) for i, e in enumerate(embeddings)])
            hits: list[tuple[float, int, Triple, _Rel]] = []
            for _, g in self._matching(scope):
                if not g.n or not g.rels:
                    continue
                # float32 product, float64 comparison: the threshold is not rounded to float32.
                best = (q @ g.mat[: g.n].T).max(axis=0).astype(np.float64)
                matched = np.flatnonzero(best >= threshold)
                if not len(matched):
                    continue
                scores: dict[Triple, float] = {}
                for row in matched.tolist():
                    s = float(best[row])
                    for t in g.touching[g.names[row]]:
                        if s > scores.get(t, -np.inf):
                            scores[t] = s
                for t, s in scores.items():
                    r = g.rels[t]
                    if r.valid:
                        hits.append((s, r.mentions, t, r))
            hits.sort(key=lambda h: (-h[0], -h[1], h[2]))
            return [r.out(t, s) for s, _, t, r in hits[:limit]]

    async def invalidate(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> int:
        _text(now, "now")
        triples = [_triple(r) for r in relations]

        def prep() -> tuple[dict[str, Any] | None, Callable[[], int]]:
            targets = [r for r in self._targets(scope, triples) if r.valid]
            if not targets:
                return None, int
            record = {"inv": [self._scope_list(scope), [list(t) for t in triples], now]}
            return record, lambda: self._apply_invalidate(targets, now)

        return await self._mutate(prep)  # type: ignore[no-any-return]

    async def rehearse(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> None:
        _text(now, "now")
        triples = [_triple(r) for r in relations]

        def prep() -> tuple[dict[str, Any] | None, Callable[[], None]]:
            targets = self._targets(scope, triples)
            if not targets:
                return None, lambda: None
            record = {"reh": [self._scope_list(scope), [list(t) for t in triples], now]}
            return record, lambda: self._apply_rehearse(targets, now)

        await self._mutate(prep)

    async def get_all(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return self._relations(scope, limit, valid_only=True)

    async def get_all_including_invalid(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return self._relations(scope, limit, valid_only=False)

    def _relations(self, scope: Scope, limit: int | None, *, valid_only: bool) -> list[GraphRelation]:
        with self._lock:
            found = [(r.created_at, t, r) for _, g in self._matching(scope) for t, r in g.rels.items()
                     if r.valid or not valid_only]
            found.sort(key=lambda x: (x[0], x[1]))
            if limit is not None:
                found = found[: max(limit, 0)]
            return [r.out(t) for _, t, r in found]

    async def delete_all(self, scope: Scope) -> None:
        if scope.is_empty:
            raise ScopeError(
                "graph_store flat: delete_all needs a scope; set user_id, agent_id or run_id "
                "(use reset() to clear everything)"
            )

        def prep() -> tuple[dict[str, Any] | None, Callable[[], None]]:
            if next(self._matching(scope), None) is None:
                return None, lambda: None
            return {"del": self._scope_list(scope)}, lambda: self._apply_delete_all(scope)

        await self._mutate(prep)

    async def reset(self) -> None:
        if self._runner is None:
            with self._lock:
                self._clear()
            return
        await self._runner.run(self._reset_sync)

    def _reset_sync(self) -> None:
        """On the writer thread: the empty snapshot made durable first, then the graph cleared."""
        assert self._persist is not None
        self._persist.snapshot(None, [], np.zeros((0, 0), dtype=np.float32), [])
        with self._lock:
            self._clear()

    async def entity_count(self, scope: Scope) -> int:
        with self._lock:
            return sum(g.n for _, g in self._matching(scope))

    async def aclose(self) -> None:
        """Snapshot if the log has grown since the last one, and close the log file. Idempotent.

        The store stays usable after ``aclose`` (the log reopens on the next write). Waits for the
        mutations already submitted (a cancelled caller's included).
        """
        if self._runner is None:
            return
        await self._runner.run(self._close_sync)
        await self._runner.aclose()

    def _close_sync(self) -> None:
        with self._lock:
            if self._persist is not None:
                self._persist.close_after_snapshot(self._snapshot)

    # ================================================================== introspection
    def stats(self) -> dict[str, Any]:
        """Scopes, entities, relations and persistence state (for diagnostics and tests)."""
        with self._lock:
            return {
                "scopes": len(self._graphs),
                "entities": sum(g.n for g in self._graphs.values()),
                "relations": sum(len(g.rels) for g in self._graphs.values()),
                "dims": self._dims,
                **persistence_stats(self._persist),
            }
