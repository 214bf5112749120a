"""Session-aware context scoring (spec §5): demote memories that do not fit the task at hand.

Memories are typed at write time (factual / preference / procedural / episodic). At read time the
query is classified (troubleshooting / design / factual_lookup / planning / general) by the LLM in
``prepare``, which the engine runs concurrently with the query embedding. A caller's ``task_type``
skips the call; any failure means ``general``. Relations use the ``factual`` row.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from ..config import ContextConfig
from ..engine.parsing import parse_json_object
from ..engine.prompts import CLASSIFY_QUERY_PROMPT
from ..models import TASK_TYPES
from ..providers.scorer import QueryContext, ScoredHit, Scorer

log = logging.getLogger("mem7.context")


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
