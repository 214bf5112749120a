"""Session-aware context scoring (spec §5): demote memories that do not fit the task at hand.

Memories are typed at write time (factual / preference / procedural / episodic). At read time the
query is classified (troubleshooting / design / factual_lookup / planning / general) by the LLM in
``prepare``, which the engine runs concurrently with the query embedding. A caller's ``task_type``
skips the call; any failure means ``general``. Relations use the ``factual`` row.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..models import MEMORY_TYPES, TASK_TYPES
from ..providers.base import ProviderConfig
from ..providers.llm_json import parse_json_object
from ..providers.scorer import QueryContext, ScoredHit, Scorer
from ..providers.tasks import CLASSIFY_QUERY_MARKER

log = logging.getLogger("mem7.context")

CLASSIFY_QUERY_PROMPT = f"""{CLASSIFY_QUERY_MARKER}
Classify the task behind the user's query as exactly one of: troubleshooting (fixing something
broken), design (choosing how to build or shape something), factual_lookup (asking for a fact),
planning (deciding what to do next, scheduling), general (anything else).
Answer with JSON only: {{"task_type": "..."}}"""

DEFAULT_CONTEXT_WEIGHTS: dict[str, dict[str, float]] = {
    "factual": {"troubleshooting": 1.0, "design": 0.5, "factual_lookup": 1.0, "planning": 0.7, "general": 1.0},
    "preference": {"troubleshooting": 0.3, "design": 1.0, "factual_lookup": 0.3, "planning": 0.8, "general": 0.8},
    "procedural": {"troubleshooting": 0.8, "design": 0.5, "factual_lookup": 0.5, "planning": 1.0, "general": 0.7},
    "episodic": {"troubleshooting": 0.5, "design": 0.5, "factual_lookup": 0.5, "planning": 0.5, "general": 0.7},
}
"""Spec §5: rows are memory types, columns task types; pairs not listed weigh 1.0."""


class ContextConfig(ProviderConfig):
    """Session-aware context scoring (spec §5). Off by default. ``weights`` overrides single cells."""

    # The config's ``context`` section; mem7_core.config re-exports it.

    enabled: bool = False
    weights: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("weights", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v  # the original mem7's ContextConfig(weights=None)

    @field_validator("weights")
    @classmethod
    def _known_cells(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for row, cols in v.items():
            if row not in MEMORY_TYPES:
                raise ValueError(f"context.weights: unknown memory type {row!r}; use one of {MEMORY_TYPES}")
            for col, w in cols.items():
                if col not in TASK_TYPES:
                    raise ValueError(f"context.weights.{row}: unknown task type {col!r}; use one of {TASK_TYPES}")
                if w < 0:
                    raise ValueError(f"context.weights.{row}.{col} must be >= 0")
        return v

    def matrix(self) -> dict[str, dict[str, float]]:
        out = {row: dict(cols) for row, cols in DEFAULT_CONTEXT_WEIGHTS.items()}
        for row, cols in self.weights.items():
            out.setdefault(row, {}).update(cols)
        return out


def normalise_task_type(value: Any) -> str:
    """Map an LLM's or caller's task type to one of ``TASK_TYPES`` (unknown → ``general``)."""
    if not isinstance(value, str):
        return "general"
    v = value.strip().lower().replace("-", "_").replace(" ", "_")
    if v in ("factual", "lookup", "fact_lookup"):
        v = "factual_lookup"
    return v if v in TASK_TYPES else "general"


class ContextScorer(Scorer):
    name = "context"
    order: ClassVar[int] = 200
    Config = ContextConfig

    config: ContextConfig

    def __init__(self, config: ContextConfig | None = None) -> None:
        super().__init__(config)
        self._matrix = self.config.matrix()

    def weight(self, memory_type: str | None, task_type: str) -> float:
        return self._matrix.get(memory_type or "factual", {}).get(task_type, 1.0)

    async def prepare(self, ctx: QueryContext) -> str:
        if ctx.task_type is not None:
            return normalise_task_type(ctx.task_type)
        if ctx.llm is None:
            return "general"
        try:
            resp = await ctx.llm.generate(
                [
                    {"role": "system", "content": CLASSIFY_QUERY_PROMPT},
                    {"role": "user", "content": ctx.query},
                ],
                response_format="json",
                temperature=0.0,
            )
            return normalise_task_type(parse_json_object(resp.content).get("task_type"))
        except Exception as exc:  # classification is best-effort by design: failure → general
            log.warning("query classification failed, using 'general': %s", exc)
            return "general"

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        task = state if isinstance(state, str) else "general"
        for hit in hits:
            row = "factual" if hit.is_relation else hit.memory_type
            hit.score *= self.weight(row, task)
