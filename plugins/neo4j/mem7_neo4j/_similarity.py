"""Exact cosine similarity in float64, the one place every search path ends.

The server (``vector.similarity.cosine`` or a vector index) only narrows the candidates: it
computes in float32 and Neo4j reports ``(1 + cos) / 2``, so the score a caller sees, and the
``>= threshold`` test, are always recomputed here from the stored embeddings. That makes every
server and every path give the same answers, exactly at the threshold too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SERVER_MARGIN = 1e-3
"""How far below the threshold the server's (float32) prefilter reaches, so no entity at the
threshold is lost to rounding before the exact check here."""


def as_matrix(vectors: Sequence[Sequence[float]], what: str) -> np.ndarray:
    """A 2-D float64 array; ragged or non-numeric input is a ``ValueError`` naming ``what``."""
    try:
        m = np.asarray([list(v) for v in vectors], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be sequences of numbers of one length: {exc}") from None
    if m.ndim != 2:
        raise ValueError(f"{what} must be sequences of numbers of one length")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{what} must be finite numbers (no NaN or infinity)")
    return m


def best_cosine(embeddings: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each row of ``embeddings``, its highest cosine with any row of ``queries``.

    A zero vector has cosine 0 with everything (the conformance suite's convention).
    """
    if embeddings.shape[0] == 0 or queries.shape[0] == 0:
        return np.full(embeddings.shape[0], -np.inf)
    en = np.linalg.norm(embeddings, axis=1)
    qn = np.linalg.norm(queries, axis=1)
    dots = embeddings @ queries.T
    denom = np.outer(en, qn)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(denom > 0, dots / np.where(denom > 0, denom, 1.0), 0.0)
    best: np.ndarray = np.clip(cos, -1.0, 1.0).max(axis=1)
    return best


def server_floor(threshold: float, *, normalized: bool) -> float:
    """The server-side prefilter bound for ``threshold``, in the server's own score units."""
    raw = threshold - SERVER_MARGIN
    return (raw + 1.0) / 2.0 if normalized else raw
