"""FlatVectorStore: exact cosine search over a contiguous float32 matrix, indexed by scope.

Layout in memory:

- ``_mat``: a ``(capacity, dims)`` float32 matrix; rows are L2-normalised at insert, so a search is
  one matrix-vector product. Capacity doubles when full (amortised O(1) append).
- ``_ids`` / ``_payloads``: Python lists aligned with the rows; ``_row_of`` maps id to row.
- Scope index: for each of ``user_id``, ``agent_id``, ``run_id`` every distinct value gets an
  integer code; ``_codes[key]`` holds each row's code (-1: absent) and ``_rows_by[key][code]`` the
  rows carrying it, in ascending order. A search starts from the smallest row list of the keys its
  scope sets and masks by the others, so it never reads another tenant's rows.
- Deletes are tombstones (``_alive``); rows are compacted when tombstones pass
  ``compaction_threshold`` of the rows. A row never changes scope: an update that moves a record to
  another scope tombstones its row and appends a new one.
- Compaction also regroups rows by ``user_id`` (and runs for that alone once a quarter of the rows
  were appended next to another user's), so a user's rows form one contiguous slice and scoring
  them is a matrix-vector product over that slice rather than a gather (~10x cheaper at 384 dims).

Filters use :func:`mem7_core.filters.evaluate` itself on the scope's candidates, visited best score
first and stopping at ``limit`` hits, so semantics are the reference ones by construction.

Persistence (``path`` set) is an append-only log plus periodic snapshots; see :mod:`._persist`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import AliasChoices, Field, field_validator

from mem7_core.errors import ConfigError, MemoryNotFoundError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import SCOPE_KEYS, Scope, ScoredRecord, VectorRecord
from mem7_core.providers import ProviderConfig, VectorStore, VectorStoreCapabilities

from ._persist import Persistence, decode_vector, encode_vector

log = logging.getLogger("mem7.flat")

_MIN_TOMBSTONES = 32
"""Never compact for fewer tombstones than this (compaction is O(rows))."""
_MIN_RECLUSTER = 2048
_RECLUSTER_FRACTION = 0.25
"""Regroup rows by user once this many (and this fraction of) rows were appended out of group."""
_GAP = 4
"""Rows further apart than this start a new run when scoring (denser runs are read as a slice)."""
_MIN_RUN = 256


def _copy_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_value(x) for x in v]
    return v


def _copy_payload(p: dict[str, Any]) -> dict[str, Any]:
    """Copy a payload deep enough that nobody outside can mutate what the store holds."""
    out = dict(p)
    for k, v in out.items():
        if isinstance(v, (dict, list)):
            out[k] = _copy_value(v)
    return out


def _scope_of(payload: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(v if isinstance(v := payload.get(k), str) else None for k in SCOPE_KEYS)


def _order_key(row_payload: dict[str, Any], id_: str) -> tuple[str, str]:
    created = row_payload.get("created_at")
    return ("" if created is None else str(created), id_)


class _IntVec:
    """A growable int64 array with amortised doubling; ``view()`` is the filled part."""

    __slots__ = ("buf", "n")

    def __init__(self, capacity: int = 8) -> None:
        self.buf = np.empty(max(capacity, 8), dtype=np.int64)
        self.n = 0

    @classmethod
    def of(cls, rows: np.ndarray) -> _IntVec:
        vec = cls(2 * len(rows))
        vec.buf[: len(rows)] = rows
        vec.n = len(rows)
        return vec

    def append(self, value: int) -> None:
        if self.n == len(self.buf):
            grown = np.empty(2 * len(self.buf), dtype=np.int64)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n] = value
        self.n += 1

    def view(self) -> np.ndarray:
        return self.buf[: self.n]


class FlatVectorStore(VectorStore):
    """Exact, in-process vector store: numpy matrix, per-scope row index, optional persistence."""

    name = "flat"
    capabilities: ClassVar[VectorStoreCapabilities] = VectorStoreCapabilities(persistent=True)

    class Config(ProviderConfig):
        collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
        """Name of the collection; with ``path``, its files live in ``path/<collection_name>/``."""
        path: str | None = None
        """Directory to persist to. ``None`` keeps everything in memory."""
        dims: int | None = Field(None, ge=1, validation_alias=AliasChoices("dims", "embedding_model_dims"))
        """Vector size; ``None`` takes it from the first insert."""
        compaction_threshold: float = Field(0.25, gt=0, le=1)
        """Compact rows when tombstones exceed this fraction of them."""
        snapshot_every: int = Field(10_000, ge=1)
        """Write a snapshot (and start a new log) after this many logged mutations."""
        initial_capacity: int = Field(1024, ge=1)
        """Rows allocated up front; doubles when full."""
        fsync: bool = True
        """fsync the log after every mutation (durable acknowledgement). Off only for throwaway data."""

        @field_validator("path")
        @classmethod
        def _expand(cls, v: str | None) -> str | None:
            return None if v is None else str(Path(v).expanduser())

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        # Instance-level: persistent only when a path is configured.
        self.capabilities = VectorStoreCapabilities(persistent=cfg.path is not None)  # type: ignore[misc]
        self._lock = threading.RLock()
        self._last_scanned = 0
        self._clear(cfg.dims)
        self._persist: Persistence | None = None
        if cfg.path is not None:
            self._persist = Persistence(Path(cfg.path) / cfg.collection_name, fsync=cfg.fsync)
            try:
                self._load()
            except OSError as exc:  # not a directory, not writable, missing parent...
                raise ConfigError(
                    f"vector_store flat: cannot use path {cfg.path!r} ({exc.strerror or exc}: {exc.filename}); "
                    "set vector_store.config.path to a writable directory, or leave it unset to keep memories in memory"
                ) from exc

    # ================================================================== state
    def _clear(self, dims: int | None, capacity: int | None = None) -> None:
        cap = capacity or self.config.initial_capacity
        self._dims: int | None = dims
        self._cap = cap
        self._n = 0
        self._dead = 0
        self._scattered = 0  # rows appended next to a row of another user since the last regroup
        self._mat = np.zeros((cap, dims or 0), dtype=np.float32)
        self._alive = np.zeros(cap, dtype=bool)
        self._ids: list[str | None] = []
        self._payloads: list[dict[str, Any] | None] = []
        self._row_of: dict[str, int] = {}
        self._code_of: dict[str, dict[str, int]] = {k: {} for k in SCOPE_KEYS}
        self._codes: dict[str, np.ndarray] = {k: np.full(cap, -1, dtype=np.int32) for k in SCOPE_KEYS}
        self._rows_by: dict[str, list[_IntVec]] = {k: [] for k in SCOPE_KEYS}

    def _set_dims(self, dims: int) -> None:
        self._dims = dims
        self._mat = np.zeros((self._cap, dims), dtype=np.float32)

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._cap:
            return
        cap = max(self._cap * 2, need)
        mat = np.zeros((cap, self._dims or 0), dtype=np.float32)
        mat[: self._n] = self._mat[: self._n]
        self._mat = mat
        alive = np.zeros(cap, dtype=bool)
        alive[: self._n] = self._alive[: self._n]
        self._alive = alive
        for key in SCOPE_KEYS:
            codes = np.full(cap, -1, dtype=np.int32)
            codes[: self._n] = self._codes[key][: self._n]
            self._codes[key] = codes
        self._cap = cap

    def _append_row(self, id_: str, vec: np.ndarray, payload: dict[str, Any]) -> None:
        self._reserve(1)
        row = self._n
        self._mat[row] = vec
        self._alive[row] = True
        if row and self._payloads[row - 1] is not None and (
            self._payloads[row - 1].get("user_id") != payload.get("user_id")  # type: ignore[union-attr]
        ):
            self._scattered += 1
        self._ids.append(id_)
        self._payloads.append(payload)
        self._row_of[id_] = row
        for key in SCOPE_KEYS:
            value = payload.get(key)
            if isinstance(value, str):
                codes = self._code_of[key]
                code = codes.get(value)
                if code is None:
                    code = codes[value] = len(codes)
                    self._rows_by[key].append(_IntVec())
                self._codes[key][row] = code
                self._rows_by[key][code].append(row)
        self._n += 1

    def _kill_row(self, row: int) -> None:
        self._alive[row] = False
        self._ids[row] = None
        self._payloads[row] = None
        for key in SCOPE_KEYS:
            self._codes[key][row] = -1
        self._dead += 1

    def _apply_put(self, id_: str, vec: np.ndarray | None, payload: dict[str, Any] | None) -> None:
        """Upsert (both given) or partial update (one given) of one record, already validated."""
        row = self._row_of.get(id_)
        if row is None:
            if vec is None or payload is None:  # only reachable from a damaged log
                return
            self._append_row(id_, vec, payload)
            return
        old = self._payloads[row]
        assert old is not None
        new_payload = payload if payload is not None else old
        if _scope_of(new_payload) == _scope_of(old):
            if vec is not None:
                self._mat[row] = vec
            self._payloads[row] = new_payload
            return
        # The record moves to another scope: rows never change scope, so relocate it.
        new_vec = vec if vec is not None else self._mat[row].copy()
        del self._row_of[id_]
        self._kill_row(row)
        self._append_row(id_, new_vec, new_payload)

    def _apply_delete(self, ids: Sequence[str]) -> None:
        for id_ in ids:
            row = self._row_of.pop(id_, None)
            if row is not None:
                self._kill_row(row)

    def _maybe_compact(self) -> None:
        dead = self._dead
        if dead >= _MIN_TOMBSTONES and dead > self.config.compaction_threshold * self._n:
            self._compact()
        elif self._scattered >= _MIN_RECLUSTER and self._scattered > _RECLUSTER_FRACTION * self._n:
            self._compact()

    def _compact(self) -> None:
        """Drop tombstoned rows and regroup the live ones by ``user_id``, then rebuild the index.

        Grouping keeps each user's rows contiguous, so a user-scoped search is a product over one
        slice of the matrix instead of a gather (about ten times faster at 384 dims). Within a user
        rows keep their order.
        """
        keep = np.flatnonzero(self._alive[: self._n])
        keep = keep[np.argsort(self._codes["user_id"][keep], kind="stable")]
        rows = keep.tolist()
        ids, payloads = self._ids, self._payloads
        self._load_rows(
            [ids[r] for r in rows],  # type: ignore[misc]
            self._mat[keep],
            [payloads[r] for r in rows],  # type: ignore[misc]
            codes=({k: self._codes[k][keep] for k in SCOPE_KEYS}, self._code_of),
        )

    def _load_rows(
        self,
        ids: list[str],
        matrix: np.ndarray,
        payloads: list[dict[str, Any]],
        *,
        codes: tuple[dict[str, np.ndarray], dict[str, dict[str, int]]] | None = None,
    ) -> None:
        """Replace the whole state by these live rows (compaction, snapshot load).

        :param codes: the rows' scope codes and code tables when already known (compaction), so
            they need not be recomputed from the payloads.
        """
        m = len(ids)
        cap = max(self.config.initial_capacity, 1 << max(m - 1, 0).bit_length())
        self._clear(self._dims, cap)
        if m:
            self._mat[:m] = matrix
            self._alive[:m] = True
        self._ids = list(ids)
        self._payloads = list(payloads)
        self._row_of = dict(zip(ids, range(m)))
        self._n = m
        for key in SCOPE_KEYS:
            if codes is not None:
                row_codes, self._code_of[key] = codes[0][key], codes[1][key]
            else:
                code_of = self._code_of[key]
                row_codes = np.fromiter(
                    (
                        code_of.setdefault(v, len(code_of)) if isinstance(v := p.get(key), str) else -1
                        for p in payloads
                    ),
                    dtype=np.int32,
                    count=m,
                )
            self._codes[key][:m] = row_codes
            n_codes = len(self._code_of[key])
            if not n_codes:
                continue
            present = np.flatnonzero(row_codes >= 0)
            order = np.argsort(row_codes[present], kind="stable")
            rows_sorted = present[order]
            bounds = np.searchsorted(row_codes[rows_sorted], np.arange(n_codes + 1)).tolist()
            self._rows_by[key] = [_IntVec.of(rows_sorted[bounds[c] : bounds[c + 1]]) for c in range(n_codes)]

    # ================================================================== persistence
    def _load(self) -> None:
        assert self._persist is not None
        loaded = self._persist.load()
        dims = loaded.dims
        cfg_dims = self.config.dims
        if dims is not None and cfg_dims is not None and dims != cfg_dims:
            raise ValueError(
                f"flat: collection {self.config.collection_name!r} at {self.config.path} has "
                f"{dims}-dimensional vectors, but the config says dims={cfg_dims}"
            )
        if dims is not None:
            self._set_dims(dims)
        if loaded.ids:
            assert loaded.matrix is not None
            self._load_rows(loaded.ids, loaded.matrix, loaded.payloads)
        for record in loaded.records:
            try:
                self._replay(record)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("flat: skipping a malformed log record in %s (%s)", self._persist.dir, exc)
        self._maybe_compact()

    def _replay(self, record: dict[str, Any]) -> None:
        if "put" in record:
            for id_, vtext, payload in record["put"]:
                vec = None
                if vtext is not None:
                    vec = decode_vector(vtext)
                    if self._dims is None:
                        self._set_dims(len(vec))
                    if len(vec) != self._dims:
                        continue
                self._apply_put(id_, vec, payload)
        elif "del" in record:
            self._apply_delete(record["del"])

    def _log(self, record: dict[str, Any]) -> None:
        if self._persist is not None:
            self._persist.append(record)

    def _after_write(self) -> None:
        self._maybe_compact()
        p = self._persist
        if p is not None and p.records_since_snapshot >= self.config.snapshot_every:
            self._snapshot()

    def _snapshot(self) -> None:
        assert self._persist is not None
        if self._dead:
            self._compact()
        n = self._n
        self._persist.snapshot(
            self._dims, list(self._ids), self._mat[:n], list(self._payloads)  # type: ignore[arg-type]
        )

    # ================================================================== helpers
    def _vectors(self, vectors: Sequence[Sequence[float]]) -> np.ndarray:
        """Validate and L2-normalise a batch of vectors (sets dims on the first insert)."""
        try:
            mat = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"flat: vectors must be equal-length sequences of numbers ({exc})") from None
        if mat.ndim != 2 or mat.shape[1] == 0:
            raise ValueError(f"flat: expected vectors of shape (n, dims), got {mat.shape}")
        if self._dims is not None and mat.shape[1] != self._dims:
            raise ValueError(f"flat: vector has {mat.shape[1]} dims, the collection has {self._dims}")
        if not np.isfinite(mat).all():
            raise ValueError("flat: vectors must be finite (no NaN or inf)")
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        np.divide(mat, norms, out=mat, where=norms > 0)
        return mat

    def _query(self, vector: Sequence[float]) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if len(q) != self._dims:
            raise ValueError(f"flat: query has {len(q)} dims, the collection has {self._dims}")
        norm = float(np.linalg.norm(q))
        return q / norm if norm > 0 else q

    def _candidate_rows(self, scope: Scope) -> np.ndarray:
        """Live rows in ``scope``, ascending. Reads only rows indexed under the scope's ids."""
        items = scope.items()
        if not items:
            return np.flatnonzero(self._alive[: self._n])
        wanted: list[tuple[str, int]] = []
        for key, value in items:
            code = self._code_of[key].get(value)
            if code is None:
                return np.empty(0, dtype=np.int64)
            wanted.append((key, code))
        key0, code0 = min(wanted, key=lambda kc: self._rows_by[kc[0]][kc[1]].n)
        rows = self._rows_by[key0][code0].view()
        mask = self._alive[rows]
        for key, code in wanted:
            if key != key0:
                mask &= self._codes[key][rows] == code
        return rows[mask]

    def _scores(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Cosine of ``q`` with each row in ``rows`` (ascending).

        Gathering scattered rows costs ~10x a product over a contiguous slice, so dense runs of
        rows are read as slices (computing the few rows in between and dropping them) and only the
        leftovers are gathered.
        """
        n = len(rows)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if hi - lo == n:
            return self._mat[lo:hi] @ q
        if hi - lo <= _GAP * n:
            return (self._mat[lo:hi] @ q)[rows - lo]
        if n < 2 * _MIN_RUN:
            return self._mat[rows] @ q
        breaks = np.flatnonzero(np.diff(rows) > _GAP) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [n]))
        big = np.flatnonzero(ends - starts >= _MIN_RUN)
        if not len(big):
            return self._mat[rows] @ q
        out = np.empty(n, dtype=np.float32)
        covered = np.zeros(n, dtype=bool)
        for s, e in zip(starts[big].tolist(), ends[big].tolist()):
            a, b = int(rows[s]), int(rows[e - 1]) + 1
            out[s:e] = (self._mat[a:b] @ q)[rows[s:e] - a]
            covered[s:e] = True
        rest = np.flatnonzero(~covered)
        if len(rest):
            out[rest] = self._mat[rows[rest]] @ q
        return out

    # ================================================================== interface
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        for r in records:
            if r.vector is None:
                raise ValueError(f"flat: record {r.id!r} has no vector")
            if not isinstance(r.id, str) or not r.id:
                raise ValueError(f"flat: record ids must be non-empty strings, got {r.id!r}")
        with self._lock:
            mat = self._vectors([r.vector for r in records])  # type: ignore[misc]
            payloads = [_copy_payload(r.payload) for r in records]
            if self._persist is not None:
                try:
                    record = {"put": [[r.id, encode_vector(v), p] for r, v, p in zip(records, mat, payloads)]}
                    self._log(record)
                except TypeError as exc:
                    raise TypeError(f"flat: payloads must be JSON-serialisable ({exc})") from None
            if self._dims is None:
                self._set_dims(mat.shape[1])
            for r, vec, payload in zip(records, mat, payloads):
                self._apply_put(r.id, vec, payload)
            self._after_write()

    async def search(
        self,
        vector: Sequence[float],
        *,
        scope: Scope,
        limit: int,
        filters: Filter | None = None,
    ) -> list[ScoredRecord]:
        with self._lock:
            if limit <= 0 or self._dims is None or self._n == self._dead:
                return []
            q = self._query(vector)
            rows = self._candidate_rows(scope)
            self._last_scanned = len(rows)
            if not len(rows):
                return []
            scores = self._scores(rows, q)
            picked: list[int]
            if filters is None:
                k = min(limit, len(rows))
                if k < len(rows):
                    top = np.argpartition(scores, len(rows) - k)[len(rows) - k :]
                    top = top[np.lexsort((top, -scores[top]))]
                else:
                    top = np.argsort(-scores, kind="stable")
                picked = top.tolist()
            else:
                picked = []
                payloads = self._payloads
                for i in np.argsort(-scores, kind="stable").tolist():
                    if evaluate(filters, payloads[int(rows[i])]):  # type: ignore[arg-type]
                        picked.append(i)
                        if len(picked) == limit:
                            break
            picked_rows = rows[picked].tolist()
            picked_scores = scores[picked].tolist()
            out = []
            for row, score in zip(picked_rows, picked_scores):
                out.append(
                    ScoredRecord(
                        id=self._ids[row],  # type: ignore[arg-type]
                        score=score,
                        payload=_copy_payload(self._payloads[row]),  # type: ignore[arg-type]
                    )
                )
            return out

    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        with self._lock:
            out = []
            for id_ in ids:
                row = self._row_of.get(id_)
                if row is not None:
                    out.append(
                        VectorRecord(
                            id=id_,
                            vector=self._mat[row].tolist(),
                            payload=_copy_payload(self._payloads[row]),  # type: ignore[arg-type]
                        )
                    )
            return out

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict | None = None
    ) -> None:
        with self._lock:
            if id not in self._row_of:
                raise MemoryNotFoundError(id)
            if vector is None and payload is None:
                return
            vec = self._vectors([vector])[0] if vector is not None else None
            new_payload = _copy_payload(payload) if payload is not None else None
            if self._persist is not None:
                try:
                    self._log({"put": [[id, None if vec is None else encode_vector(vec), new_payload]]})
                except TypeError as exc:
                    raise TypeError(f"flat: payloads must be JSON-serialisable ({exc})") from None
            self._apply_put(id, vec, new_payload)
            self._after_write()

    async def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            present = [i for i in dict.fromkeys(ids) if i in self._row_of]
            if not present:
                return
            self._log({"del": present})
            self._apply_delete(present)
            self._after_write()

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        with self._lock:
            rows = self._candidate_rows(scope).tolist()
            payloads = self._payloads
            ids = self._ids
            if filters is not None:
                rows = [r for r in rows if evaluate(filters, payloads[r])]  # type: ignore[arg-type]
            rows.sort(key=lambda r: _order_key(payloads[r], ids[r]))  # type: ignore[arg-type]
            if limit is not None:
                rows = rows[: max(limit, 0)]
            return [
                VectorRecord(id=ids[r], vector=None, payload=_copy_payload(payloads[r]))  # type: ignore[arg-type]
                for r in rows
            ]

    async def count(self, *, scope: Scope) -> int:
        with self._lock:
            return len(self._candidate_rows(scope))

    async def reset(self) -> None:
        with self._lock:
            self._clear(self.config.dims)
            if self._persist is not None:
                self._persist.snapshot(self._dims, [], self._mat[:0], [])

    async def aclose(self) -> None:
        """Snapshot if the log has grown since the last one, and close the log file. Idempotent.

        The store stays usable after ``aclose`` (the log reopens on the next write).
        """
        with self._lock:
            if self._persist is not None:
                if self._persist.records_since_snapshot:
                    self._snapshot()
                self._persist.close()

    # ================================================================== introspection
    def __len__(self) -> int:
        return self._n - self._dead

    def stats(self) -> dict[str, Any]:
        """Rows, tombstones, capacity and dims (for ``mem7`` diagnostics and tests)."""
        with self._lock:
            return {
                "records": self._n - self._dead,
                "rows": self._n,
                "tombstones": self._dead,
                "capacity": self._cap,
                "dims": self._dims,
                "persistent": self._persist is not None,
                "generation": None if self._persist is None else self._persist.generation,
                "log_records": None if self._persist is None else self._persist.records_since_snapshot,
            }


__all__ = ["FlatVectorStore"]
