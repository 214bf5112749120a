"""An in-process mirror of the entity embeddings, so a search does not read them back every time.

Reading a scope's embeddings out of Kuzu costs far more than scoring them (each 384-d list becomes
384 Python floats: ~75 ms per 1000 entities), so a worker keeps every entity's unit embedding in
numpy, grouped by exact scope, loaded in full by the first search that wants it and then kept in
step by the writes.

It stays exact because every write to the file goes through this one worker (stores on one path
share it, see :mod:`._shared`) and the engine's file lock keeps other processes from writing while
this process has the database open. Changes are applied only after their transaction commits
(:meth:`mem7_kuzu._worker.Session.after_commit`). Only the worker thread touches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mem7_core.models import SCOPE_KEYS, Scope

ExactScope = tuple[str, str, str]
"""``(user_id, agent_id, run_id)`` as stored: ``""`` for an unset id."""


def unit(vector: Sequence[float]) -> np.ndarray:
    """``vector`` scaled to length 1, as float64 (a zero vector stays zero: cosine 0 with anything)."""
    v = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


@dataclass
class _ScopeVectors:
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    stacked: tuple[list[str], np.ndarray] | None = None
    """``(keys, matrix)`` built on demand, dropped on every change."""

    def matrix(self) -> tuple[list[str], np.ndarray]:
        if self.stacked is None:
            keys = list(self.vectors)
            dims = {len(self.vectors[k]) for k in keys}
            if len(dims) > 1:
                raise ValueError(
                    f"entities of one scope have embeddings of {sorted(dims)} dimensions; the graph was "
                    f"written with more than one embedder (delete the scope or reset the graph)"
                )
            self.stacked = (keys, np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, 0)))
        return self.stacked


class EmbeddingCache:
    """Unit embeddings of every entity of one database, by exact scope."""

    def __init__(self) -> None:
        self.loaded = False
        self._scopes: dict[ExactScope, _ScopeVectors] = {}

    def load(self, rows: Iterable[Sequence[Any]]) -> None:
        """Fill from ``(key, user_id, agent_id, run_id, embedding)`` rows of the whole entity table."""
        self._scopes.clear()
        for key, user_id, agent_id, run_id, embedding in rows:
            if embedding is not None:
                group = self._scopes.setdefault((user_id, agent_id, run_id), _ScopeVectors())
                group.vectors[key] = unit(embedding)
        self.loaded = True

    def put(self, exact: ExactScope, vectors: Iterable[tuple[str, Sequence[float]]]) -> None:
        """Record new or replaced embeddings (ignored until loaded: the load will read them)."""
        if not self.loaded:
            return
        group = self._scopes.setdefault(exact, _ScopeVectors())
        for key, vector in vectors:
            group.vectors[key] = unit(vector)
        group.stacked = None

    def drop_matching(self, scope: Scope) -> None:
        """Forget every exact scope that ``scope`` matches (after a ``delete_all``)."""
        for exact in [e for e in self._scopes if _matches(scope, e)]:
            del self._scopes[exact]

    def clear(self) -> None:
        """Forget everything (after a ``reset``); the cache stays loaded, and empty."""
        self._scopes.clear()

    def matching(self, scope: Scope) -> list[tuple[list[str], np.ndarray]]:
        """``(keys, unit matrix)`` of every exact scope ``scope`` matches (non-empty ones)."""
        return [g.matrix() for e, g in self._scopes.items() if g.vectors and _matches(scope, e)]


def _matches(scope: Scope, exact: ExactScope) -> bool:
    return all(
        value is None or value == stored for value, stored in zip((getattr(scope, k) for k in SCOPE_KEYS), exact)
    )
