"""The scorer interface: post-retrieval score adjustments (decay, context, third-party)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..models import Scope
from .base import Provider

if TYPE_CHECKING:
    from .llm import LLM


@dataclass(slots=True)
class ScoredHit:
    """A memory or relation on its way out of search (or into the dedup prompt).

    Scorers multiply ``score`` in place; the engine re-sorts after each scorer. A scorer that
    filters sets ``dropped``: the engine removes the hit after the last scorer, before the
    threshold and the limit.
    """

    id: str
    text: str
    score: float
    memory_type: str | None = None
    access_count: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    last_accessed_at: str | None = None
    is_relation: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    dropped: bool = False


@dataclass(slots=True)
class QueryContext:
    """What a scorer may look at for one search: the query, the scope, the time, and the LLM."""

    query: str
    scope: Scope
    now: datetime
    task_type: str | None = None
    llm: LLM | None = None


class Scorer(Provider):
    """Adjusts scores after vector search and rerank.

    ``order`` sets the sequence (lower first): decay is 100, temporal 150, context 200. ``prepare`` runs
    concurrently with the query embedding, so an LLM call there adds no sequential latency.
    """

    kind = "scorer"
    order: ClassVar[int] = 500

    async def prepare(self, ctx: QueryContext) -> Any:
        """Work that depends only on the query (e.g. classifying it). Runs beside the embedding.

        :param ctx: the query context.
        :returns: state handed back to :meth:`score`.
        """
        return None

    def narrows(self, state: Any) -> Mapping[str, Any] | None:
        """A filter (the ``filters`` syntax, spec §7) that retrieval must also satisfy for this query.

        Called with what :meth:`prepare` returned, before retrieval; the engine ANDs it with the
        caller's filters, so the search returns the best memories *among* those passing it (e.g.
        the temporal scorer's ``filter`` mode: ``{"created_at": {"gte": ..., "lt": ...}}``).
        A filter that does not parse is logged and ignored.

        :returns: ``None`` (the default): no narrowing.
        """
        return None

    def score(self, hits: list[ScoredHit], ctx: QueryContext, state: Any) -> None:
        """Multiply ``hit.score`` in place for every hit of a search.

        :param hits: the hits, best first.
        :param ctx: the query context.
        :param state: what :meth:`prepare` returned.
        """

    def score_candidates(self, hits: list[ScoredHit], now: datetime) -> None:
        """Write path: adjust dedup candidates' scores before they are ordered and cut.

        :param hits: the candidate memories retrieved for new facts.
        :param now: the engine clock's time.
        """

    @property
    def rehearses(self) -> bool:
        """True when returned memories should be rehearsed (access_count + 1) after a search."""
        return False
