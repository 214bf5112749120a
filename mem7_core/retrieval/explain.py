"""What ``search(..., explain=True)`` records: each memory's score in parts, and in steps.

A :class:`ScoreTrace` travels with one search through retrieval, the reranker and the scorers; each
stage writes what it really computed for a memory (its cosine, its keyword score, a scorer's
factor...) as a named part, and the arithmetic as a step (:class:`~mem7_core.results.ScoreStep`):
from 0, ``add`` / ``multiply`` / ``set`` in order give the score. Without ``explain`` there is no
trace, and no stage does any of this work.
"""

from __future__ import annotations

from typing import Literal

from ..results import ScoreStep

Op = Literal["add", "multiply", "set"]


class ScoreTrace:
    """The parts and the steps of each memory's score in one search, by memory id."""

    __slots__ = ("parts", "steps")

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, float]] = {}
        self.steps: dict[str, list[ScoreStep]] = {}

    def part(self, hit_id: str, name: str, value: float) -> None:
        """Record a named number behind ``hit_id``'s score (one that is not itself a step's value)."""
        self.parts.setdefault(hit_id, {})[name] = float(value)

    def step(self, hit_id: str, name: str, op: Op, value: float, score: float, *, part: float | None = None) -> None:
        """Record that ``name`` applied ``op`` with ``value`` to ``hit_id``'s score, giving ``score``;
        ``part`` (default ``value``) is recorded as the part ``name``."""
        self.part(hit_id, name, value if part is None else part)
        self.steps.setdefault(hit_id, []).append({"step": name, "op": op, "value": float(value), "score": float(score)})


__all__ = ["ScoreTrace"]
