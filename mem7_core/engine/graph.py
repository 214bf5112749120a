"""Graph memory (spec §8): the pipeline between the engine and a :class:`GraphStore`.

Write path (``add``), at most 2 LLM calls, run beside the vector path's 2::

    extract entities AND relations (LLM 1, one JSON answer) → normalise names and labels
    → embed every entity name (1 batch) → existing valid triples touching similar entities
      (cosine ≥ threshold; beyond ``conflict_limit``, the ones sharing most words with the new
      triples, by BM25) → which are outdated (LLM 2, only when there are any) → under the scope's
      graph lock: triples concurrent adds wrote since the read (touching these entities) → back
      to LLM 2 for them, the lock released; none → soft-delete the outdated (``invalidate``)
      → THEN upsert the new ones (repeat → mentions + 1).

The reference engine asks separately for entities and for relations (and once more for deletions):
5 calls per add with graph on. One call for both loses nothing here: relations name their
endpoints, so the entity list only adds types, and both come from the same reading of the text.

Read path (``search``)::

    extract query entities (LLM) → embed them (1 batch) → one hop of valid relations from the
    entities near them (cosine ≥ threshold, limit × search_multiplier) → BM25 over
    "source relationship destination" (k1 1.2, b 0.75, no stopwords, ``_`` splits) → top limit.

The engine then runs its scorers over the relations like over memories (decay with n = mentions,
context with the factual row), applies the threshold and rehearses in the background
(:meth:`GraphMemory.finish`).

Names are data: lowercased, stripped, inner whitespace → ``_``; self-references (I, me, my...)
become the speaker's id; relationship labels are snake_case. Nothing here builds a query string.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import GraphStoreConfig
from ..models import Relation, Scope
from ..providers import Embedder, GraphStore
from ..providers.graph_store import Entity, GraphRelation
from ..providers.keywords import BM25Index
from ..providers.llm_json import as_text, first_list
from ..providers.scorer import QueryContext, ScoredHit
from . import prompts
from .locks import ScopeLocks, SeenLog
from .scoring import ScorerStage

log = logging.getLogger("mem7.graph")

AskJson = Callable[[list[dict[str, Any]], Callable[[dict[str, Any]], Any], str], Awaitable[Any]]
"""The engine's bounded-retry JSON call (a :class:`~mem7_core.providers.llm_json.JsonAsker`) bound
to the graph's LLM."""

Spawn = Callable[[Any], Any]

SELF_REFERENCES: frozenset[str] = frozenset({"i", "me", "my", "mine", "myself", "user", "the_user", "speaker"})
"""Names that mean the speaking user (after normalisation)."""

_TYPES = {t.lower(): t for t in prompts.GRAPH_ENTITY_TYPES}
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_BM25_K1 = 1.2
_BM25_B = 0.75
_CONFLICT_OVERFETCH = 10
"""The conflict check reads ``conflict_limit ×`` this many triples, then shows the ``conflict_limit``
sharing most words with the new ones (the store's own order ties every triple of the speaker)."""


# ------------------------------------------------------------------------------------ normalising
def normalise_name(value: Any, speaker: str | None = None) -> str | None:
    """An entity name as stored: lowercase, stripped, whitespace runs → ``_``; self-references → speaker.

    >>> normalise_name("  New York ")
    'new_york'
    >>> normalise_name("I", speaker="alice")
    'alice'
    """
    text = as_text(value)
    if text is None:
        return None
    name = _SPACES.sub("_", text.strip().lower()).strip("_")
    if not name:
        return None
    if speaker is not None and name in SELF_REFERENCES:
        return speaker
    return name


def normalise_label(value: Any) -> str | None:
    """A relationship label in snake_case: ``"Lives In"`` → ``lives_in``; ``"works-at"`` → ``works_at``."""
    text = as_text(value)
    if text is None:
        return None
    label = _NON_WORD.sub("_", text.lower()).strip("_")
    return label or None


def normalise_type(value: Any) -> str:
    """One of the spec's entity types (case-insensitive); anything else is ``Other``."""
    text = as_text(value)
    return _TYPES.get(text.strip().lower(), "Other") if text else "Other"


def speaker_of(scope: Scope) -> str:
    """Who "I" is: the user id, else the agent id, else the run id (normalised like a name)."""
    raw = scope.user_id or scope.agent_id or scope.run_id or "user"
    return normalise_name(raw) or "user"


def triple_text(rel: GraphRelation | Relation) -> str:
    return f"{rel.source} {rel.relationship} {rel.destination}"


# ------------------------------------------------------------------------------------ parsing
@dataclass(slots=True)
class Extraction:
    """What the extraction call found, normalised: entity name → type, and the triples."""

    entities: dict[str, str]
    relations: list[tuple[str, str, str]]


def parse_extraction(obj: dict[str, Any], speaker: str) -> Extraction:
    """Entities and relations out of the extraction answer, tolerant of key names and odd rows.

    A relation whose endpoint is not in the entity list still counts (its entity gets type
    ``Other``, or ``Person`` for the speaker); a row missing a part is skipped; a self-relation
    (source = destination) is skipped.

    :raises ValueError: when the answer has neither an entity nor a relation list.
    """
    if not any(k in obj for k in ("entities", "nodes", "relations", "relationships", "edges", "triples")):
        raise ValueError(f"graph extraction: expected keys 'entities' and 'relations', got {sorted(obj)}")
    entities: dict[str, str] = {}
    for row in first_list(obj, ("entities", "nodes"), "graph extraction", required=False):
        if isinstance(row, dict):
            name = normalise_name(row.get("name") or row.get("entity") or row.get("id"), speaker)
            kind = normalise_type(row.get("type") or row.get("entity_type") or row.get("label"))
        else:
            name, kind = normalise_name(row, speaker), "Other"
        if name is None:
            continue
        if name == speaker:
            kind = "Person"
        if entities.get(name, "Other") == "Other":
            entities[name] = kind
    relations: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for row in first_list(obj, ("relations", "relationships", "edges", "triples"), "graph extraction", required=False):
        if isinstance(row, dict):
            src = normalise_name(row.get("source") or row.get("subject") or row.get("from"), speaker)
            label = normalise_label(
                row.get("relationship") or row.get("relation") or row.get("predicate") or row.get("type")
            )
            dst = normalise_name(
                row.get("destination") or row.get("target") or row.get("object") or row.get("to"), speaker
            )
        elif isinstance(row, (list, tuple)) and len(row) == 3:
            src, label, dst = normalise_name(row[0], speaker), normalise_label(row[1]), normalise_name(row[2], speaker)
        else:
            continue
        if src is None or label is None or dst is None or src == dst:
            continue
        triple = (src, label, dst)
        if triple in seen:
            continue
        seen.add(triple)
        relations.append(triple)
        for name in (src, dst):
            entities.setdefault(name, "Person" if name == speaker else "Other")
    return Extraction(entities=entities, relations=relations)


def parse_outdated(obj: dict[str, Any], shown: Sequence[GraphRelation]) -> list[GraphRelation]:
    """The shown relations the conflict answer names (by number, or by triple), each once.

    Unknown numbers are skipped: the LLM can only soft-delete what it was shown.

    :raises ValueError: when the answer has no list of outdated relations.
    """
    rows = None
    for key in ("outdated", "delete", "deletes", "contradicted", "invalidate", "relations", "ids"):
        if key in obj:
            rows = obj[key]
            break
    if rows is None:
        raise ValueError(f"graph conflict check: expected key 'outdated', got {sorted(obj)}")
    if not isinstance(rows, list):
        rows = [rows]
    by_triple = {r.triple: r for r in shown}
    out: dict[tuple[str, str, str], GraphRelation] = {}
    for row in rows:
        rel: GraphRelation | None = None
        if isinstance(row, dict) and ("source" in row or "destination" in row):
            src, label, dst = (
                normalise_name(row.get("source")),
                normalise_label(row.get("relationship")),
                normalise_name(row.get("destination")),
            )
            rel = by_triple.get((src, label, dst)) if src and label and dst else None
        else:
            raw = as_text(row.get("id") if isinstance(row, dict) else row)
            if raw is not None and raw.strip().isdigit() and int(raw) < len(shown):
                rel = shown[int(raw)]
        if rel is None:
            if row not in (None, ""):
                log.warning("graph conflict check named %r, which was not shown; ignored", row)
            continue
        out.setdefault(rel.triple, rel)
    return list(out.values())


def parse_query_entities(obj: dict[str, Any], speaker: str) -> list[str]:
    """Query entity names, normalised, each once.

    :raises ValueError: when the answer has no entity list.
    """
    if not any(k in obj for k in ("entities", "nodes", "names")):
        raise ValueError(f"graph query entities: expected key 'entities', got {sorted(obj)}")
    names: list[str] = []
    for row in first_list(obj, ("entities", "nodes", "names"), "graph query entities", required=False):
        raw = row.get("name") or row.get("entity") if isinstance(row, dict) else row
        name = normalise_name(raw, speaker)
        if name is not None and name not in names:
            names.append(name)
    return names


def bm25_rank(query: str, relations: Sequence[GraphRelation]) -> list[GraphRelation]:
    """Relations ordered by BM25 of the query over "source relationship destination" (spec §8).

    The spec's tokenisation (lowercase, split on non-alphanumerics, so ``lives_in`` is two terms,
    no stopwords), k1 1.2, b 0.75, idf = ln((N − df + 0.5)/(df + 0.5) + 1) over these relations:
    exactly :class:`~mem7_core.providers.keywords.BM25Index`. ``score`` is set to the BM25 score (0
    for a relation sharing no term with the query); ties keep the store's order (its cosine).
    """
    index = BM25Index(k1=_BM25_K1, b=_BM25_B, stopwords=False)
    keys = [str(i) for i in range(len(relations))]
    for key, rel in zip(keys, relations):
        index.add(key, triple_text(rel))
    scores = index.score(query)
    ranked = sorted(range(len(relations)), key=lambda i: -scores.get(keys[i], 0.0))
    out = []
    for i in ranked:
        rel = relations[i]
        rel.score = scores.get(keys[i], 0.0)
        out.append(rel)
    return out


def to_relation(rel: GraphRelation, *, scored: bool = False) -> Relation:
    return Relation(
        source=rel.source,
        relationship=rel.relationship,
        destination=rel.destination,
        score=rel.score if scored else None,
    )


def _unique(relations: Sequence[GraphRelation]) -> list[GraphRelation]:
    """Each triple once (the first: the store's best match). A read scope wider than the write
    scopes (``user_id`` over ``user_id + agent_id``) can return one triple per exact scope."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for rel in relations:
        if rel.triple not in seen:
            seen.add(rel.triple)
            out.append(rel)
    return out


def _hit(rel: GraphRelation, index: int) -> ScoredHit:
    """A relation as a scorer sees it: n = mentions, its times, the factual row (``is_relation``)."""
    return ScoredHit(
        id=str(index),
        text=triple_text(rel),
        score=float(rel.score or 0.0),
        memory_type="factual",
        access_count=int(rel.mentions),
        created_at=rel.created_at,
        updated_at=rel.updated_at,
        last_accessed_at=rel.last_accessed_at,
        is_relation=True,
    )


# ------------------------------------------------------------------------------------ the pipeline
class GraphMemory:
    """The graph half of the engine; one per :class:`~mem7_core.engine.memory.AsyncMemory`.

    :param store: where entities and relations live.
    :param ask: the engine's bounded-retry JSON call, bound to the graph's LLM (``graph_store.llm``
        when configured, else the engine's); ``None``, no LLM: nothing can be extracted, so add and
        search skip the graph (logged once).
    :param embedder: embeds entity names (one batch per add or search).
    :param config: the ``graph_store`` section (threshold, multipliers, custom prompt).
    :param spawn: runs a coroutine in the engine's background set (rehearsal).
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        ask: AskJson | None,
        embedder: Embedder,
        config: GraphStoreConfig,
        spawn: Spawn,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config
        self._ask = ask
        self._spawn = spawn
        self._warned_no_llm = False
        self._locks = ScopeLocks()
        """Per scope: an add's check of what others wrote since it read, and its writes."""
        self._written: SeenLog[tuple[str, str, str]] = SeenLog()
        """Per scope: the triples written while adds of the scope were deciding (triple text → triple)."""

    def _asker(self) -> AskJson | None:
        """The JSON call to the graph's LLM, or ``None`` (no LLM: warned once)."""
        if self._ask is None and not self._warned_no_llm:
            log.warning("graph: no LLM configured (llm or graph_store.llm); the graph is not updated or searched")
            self._warned_no_llm = True
        return self._ask

    # ---------------------------------------------------------------- add
    def _extraction_messages(self, lines: Sequence[str], speaker: str) -> list[dict[str, Any]]:
        custom = self.config.custom_prompt
        extra = f"\n- Also follow these instructions:\n{custom.strip()}" if custom and custom.strip() else ""
        system = prompts.GRAPH_EXTRACTION_PROMPT.format(speaker=speaker, custom=extra)
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]

    async def add(self, scope: Scope, lines: Sequence[str], now: str) -> list[Relation]:
        """Extract, check conflicts, soft-delete the outdated, upsert; returns the relations written.

        Concurrent adds of one scope: each reads the related relations before it decides, so one
        may miss what another writes meanwhile. Under the scope's graph lock (held for the writes
        only, never across a model call) an add looks at the relations written by the others since
        it read; those touching its entities go to one more conflict check (the lock released), as
        if the adds had run one after the other. Within one engine, as the vector path's
        reconcile (``locks.py``).

        :param lines: the conversation as ``role: text`` lines (or verbatim texts).
        :raises LLMOutputError: the extraction or conflict answer was unreadable after the retries
            (nothing is written to the graph).
        :raises ProviderError: the LLM, embedder or graph store failed.
        """
        ask = self._asker()
        if ask is None or not any(line.strip() for line in lines):
            return []
        speaker = speaker_of(scope)
        found: Extraction = await ask(
            self._extraction_messages(lines, speaker), lambda obj: parse_extraction(obj, speaker), "graph extraction"
        )
        if not found.relations:
            return []
        names = list(found.entities)
        vectors = await self.embedder.embed([n.replace("_", " ") for n in names], purpose="add")
        key = scope.key()
        seen = self._written.begin(key)  # before the read: what others write from here is unseen
        try:
            shown = await self._related(scope, vectors, found)
            outdated = await self._conflicts(ask, shown, found.relations) if shown else []
            entities = [Entity(name=n, type=found.entities[n], embedding=v) for n, v in zip(names, vectors)]
            return await self._write(scope, ask, found, entities, outdated, seen, {r.triple for r in shown}, now)
        finally:
            self._written.end(key, seen)

    async def _related(self, scope: Scope, vectors: list[Any], found: Extraction) -> list[GraphRelation]:
        """The stored valid triples touching entities near the new ones (at most ``conflict_limit``)."""
        limit = self.config.conflict_limit
        existing = await self.store.search(
            scope, vectors, threshold=self.config.threshold, limit=limit * _CONFLICT_OVERFETCH
        )
        new = set(found.relations)
        shown = [r for r in _unique(existing) if r.triple not in new]
        if len(shown) > limit:
            # The speaker touches most triples at cosine 1: rank by the words shared with the new
            # triples, so "alice lives_in paris" is shown for "alice lives_in berlin" however many
            # other triples alice has.
            shown = bm25_rank(" ".join(f"{s} {r} {d}" for s, r, d in found.relations), shown)[:limit]
        return shown

    async def _write(
        self,
        scope: Scope,
        ask: AskJson,
        found: Extraction,
        entities: list[Entity],
        outdated: list[GraphRelation],
        seen: int,
        shown: set[tuple[str, str, str]],
        now: str,
    ) -> list[Relation]:
        """Under the scope's graph lock: soft-delete the outdated, upsert the new, unless other adds
        wrote triples touching these entities since ``seen``; then (lock released) ask whether the
        new ones outdate those too, and try again."""
        key = scope.key()
        triples = [GraphRelation(source=s, relationship=r, destination=d) for s, r, d in found.relations]
        checked = set(found.relations) | shown
        while True:
            async with self._locks.hold(key):
                fresh = [
                    t for t in self._written.since(key, seen).values()
                    if t not in checked and (t[0] in found.entities or t[2] in found.entities)
                ]
                if not fresh:
                    if outdated:
                        changed = await self.store.invalidate(scope, outdated, now=now)
                        log.info("graph: %d outdated relation(s) soft-deleted in %s", changed, scope.as_dict())
                    stored = await self.store.upsert(scope, entities, triples, now=now)
                    self._written.record(key, [("\x1f".join(r.triple), r.triple) for r in stored])
                    return [to_relation(r) for r in stored]
            checked.update(fresh)
            later = [GraphRelation(source=s, relationship=r, destination=d) for s, r, d in fresh]
            outdated = [*outdated, *await self._conflicts(ask, later, found.relations)]

    async def _conflicts(
        self, ask: AskJson, shown: list[GraphRelation], new: list[tuple[str, str, str]]
    ) -> list[GraphRelation]:
        user = prompts.GRAPH_CONFLICT_USER.format(
            existing="\n".join(f"{i}: {r.source} -- {r.relationship} -- {r.destination}" for i, r in enumerate(shown)),
            new="\n".join(f"- {s} -- {r} -- {d}" for s, r, d in new),
        )
        messages = [{"role": "system", "content": prompts.GRAPH_CONFLICT_PROMPT}, {"role": "user", "content": user}]
        outdated: list[GraphRelation] = await ask(
            messages, lambda obj: parse_outdated(obj, shown), "graph conflict check"
        )
        return outdated

    # ---------------------------------------------------------------- search
    async def search(self, scope: Scope, query: str, limit: int) -> list[GraphRelation]:
        """BM25-ranked relations one hop from the query's entities (scored, at most ``limit``).

        Never raises: a failing LLM, embedder or store logs a warning and gives ``[]``, so the
        vector results of the same search are still returned.
        """
        try:
            return await self._search(scope, query, limit)
        except Exception as exc:
            log.warning("search: the graph path failed (%s); returning no relations", exc)
            return []

    async def _search(self, scope: Scope, query: str, limit: int) -> list[GraphRelation]:
        ask = self._asker()
        if ask is None:
            return []
        speaker = speaker_of(scope)
        messages = [
            {"role": "system", "content": prompts.GRAPH_QUERY_PROMPT.format(speaker=speaker)},
            {"role": "user", "content": query},
        ]
        names: list[str] = await ask(
            messages, lambda obj: parse_query_entities(obj, speaker), "graph query entities"
        )
        if not names:
            return []
        vectors = await self.embedder.embed([n.replace("_", " ") for n in names], purpose="search")
        found = await self.store.search(
            scope, vectors, threshold=self.config.threshold, limit=limit * self.config.search_multiplier
        )
        return bm25_rank(query, _unique(found))[:limit]

    def finish(
        self,
        relations: list[GraphRelation],
        scorers: ScorerStage,
        states: Sequence[Any],
        ctx: QueryContext,
        *,
        threshold: float | None,
        now: str,
    ) -> list[Relation]:
        """Score relations like memories (decay: n = mentions; context: factual row), cut, rehearse.

        :param scorers: the engine's scorer stage (the same as the memories').
        :param states: what each scorer's ``prepare`` returned for this search (shared with the
            memories: the query is classified once).
        """
        if not relations:
            return []
        hits = [_hit(r, i) for i, r in enumerate(relations)]
        scorers.score(hits, ctx, states, what="relations")
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        kept = []
        for h in hits:
            rel = relations[int(h.id)]
            rel.score = h.score
            kept.append(rel)
        if scorers.rehearses and kept:  # decay is on: what was returned is rehearsed, in the background
            self._spawn(self._rehearse(ctx.scope, kept, now))
        return [to_relation(r, scored=True) for r in kept]

    async def _rehearse(self, scope: Scope, relations: list[GraphRelation], now: str) -> None:
        try:
            await self.store.rehearse(scope, relations, now=now)
        except Exception as exc:
            log.warning("graph rehearsal after search failed: %s", exc)

    # ---------------------------------------------------------------- lists and clearing
    async def get_all(self, scope: Scope, limit: int | None) -> list[Relation]:
        return [to_relation(r) for r in await self.store.get_all(scope, limit=limit)]

    async def delete_all(self, scope: Scope) -> None:
        await self.store.delete_all(scope)

    async def reset(self) -> None:
        await self.store.reset()


__all__ = [
    "Extraction",
    "GraphMemory",
    "bm25_rank",
    "normalise_label",
    "normalise_name",
    "normalise_type",
    "parse_extraction",
    "parse_outdated",
    "parse_query_entities",
    "speaker_of",
]
