"""The write pipeline (``add``, spec §3), one stage per step::

    normalise (inputs.py: scope, messages, metadata, sizes → an AddRequest)
    → verbatim (infer=False): one memory per message (their embeddings shared with concurrent
      adds' when one is out, embed_batch.py) → commit
    → inferred (adds started at once go in one per event-loop pass: admission.py):
        describe images (vision LLMs)
        → extract facts (LLM 1)  → candidates (embed the facts; one ``search_many`` round;
                                     write-path scorers order and cut them)
        → decide (LLM 2: ADD / UPDATE / DELETE / NONE over integer ids) → a Plan
          (``add_mode="one_call"``: candidates of the conversation's sentences, then one LLM call
          returns facts and decisions)
        → embed the texts to write (1 batch, before any lock)
    (the inferred path's embedding calls of concurrent adds go out together: embed_batch.py)
        → under the scope's lock: reconcile (reconcile.py) → commit (unit_of_work.py); the adds
          of a scope that wait for its lock meanwhile commit together (commit_queue.py)
    ‖ the graph path (graph.py), when a graph store is configured, beside the whole vector path.

Nothing here holds a lock across an LLM or embedding call: concurrent adds overlap fully, and
only writes to one scope are serialised (what that ordering guarantees: ``locks.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import MemoryConfig
from ..ids import iso, uuid7
from ..models import ActionResult, AddResult, Scope, VectorRecord
from ..providers import LLM, tasks
from ..providers.llm_json import JsonAsker, with_json_hint
from . import prompts
from .admission import Admission
from .commit_queue import CommitQueue, Staged
from .embed_batch import EmbedBatcher
from .graph import GraphMemory
from .inference import (
    Decision,
    Fact,
    Plan,
    norm_text,
    parse_decisions,
    parse_extract_and_decide,
    parse_facts,
    plan_changes,
    retrieval_queries,
)
from .locks import WriteLog
from .messages import image_parts, text_of
from .reconcile import changes_of, reconcile, to_read
from .records import new_payload
from .scoring import ScorerStage
from .unit_of_work import Changes, WriteStage, WriteTools, event

log = logging.getLogger("mem7.engine")
Pair = tuple[str, str]
"""(memory id, text) of a candidate, as the LLM is shown it (by its index)."""

WRITE_PATH_OVERFETCH = 3
"""With write-path scorers on, fetch this many times the candidates, then score and cut."""


@dataclass(slots=True)
class AddRequest:
    """A checked ``add``: the non-system messages of one scope and what to do with them."""

    msgs: list[dict[str, Any]]
    scope: Scope
    metadata: dict[str, Any]
    forced_type: str | None
    prompt: str | None
    infer: bool
    with_graph: bool
    stated_at: datetime | None = None
    """The caller's ``timestamp``: when the conversation happened. Memories this add creates are
    dated by it, updates stamp it as ``updated_at``, the prompts' "today" is its date, and history
    records it as ``stated_at`` beside the wall-clock ``created_at``. ``None``: now."""


@dataclass(slots=True)
class Inference:
    """What the LLM made of a conversation: its facts, the plan, and the vectors already computed."""

    facts: list[Fact]
    plan: Plan
    vector_of: dict[str, Any]


class WritePipeline(WriteStage):
    """Runs an :class:`AddRequest` through the stages above.

    :param ask: the bounded-retry JSON call to the engine's LLM (``None`` without an LLM).
    """

    def __init__(
        self,
        *,
        config: MemoryConfig,
        llm: LLM | None,
        ask: JsonAsker | None,
        tools: WriteTools,
        scorers: ScorerStage,
        writes: WriteLog,
        graph: GraphMemory | None,
    ) -> None:
        super().__init__(tools)
        self.config = config
        self.llm = llm
        self.ask = ask
        self.scorers = scorers
        self.writes = writes
        self.graph = graph
        self.embed_batch = EmbedBatcher(self.embedder, max_texts=config.limits.embed_batch_size)
        """The inferred path's embedding calls: concurrent adds' calls merged (embed_batch.py)."""
        self.commits = CommitQueue(self.locks, self.uow)
        """Commits of one scope's adds that wait for its lock go together (commit_queue.py)."""
        self.admission = Admission()
        """Inferred adds started at once go in one per event-loop pass (admission.py)."""

    async def run(self, req: AddRequest) -> AddResult:
        """The vector path (verbatim or inferred) ‖ the graph path when ``req.with_graph``."""
        vector_path = self._inferred(req) if req.infer else self._verbatim(req)
        if not req.with_graph or self.graph is None:
            return await vector_path
        return await self._with_graph(vector_path, req)

    async def _with_graph(self, vector_path: Awaitable[AddResult], req: AddRequest) -> AddResult:
        """The vector path ‖ the graph path (spec §8), both to the end, whatever the other does.

        Failure policy: the vector path decides. Its error propagates (its store is unchanged; the
        graph may have been written). A graph error after a successful vector path does not undo
        the committed memories: it is logged and reported in ``graph_error``, with no relations.
        """
        assert self.graph is not None
        lines = [f"{m['role']}: {t}" for m in req.msgs if (t := text_of(m["content"]).strip())]
        result, graph = await asyncio.gather(
            vector_path, self.graph.add(req.scope, lines, iso(self._at(req))), return_exceptions=True
        )
        if isinstance(result, BaseException):
            raise result
        if isinstance(graph, BaseException):
            if not isinstance(graph, Exception):
                raise graph
            log.error("add: the graph path failed (%s); the %d memory change(s) are kept", graph, len(result.results))
            return AddResult(results=result.results, graph_error=f"{type(graph).__name__}: {graph}")
        return AddResult(results=result.results, relations=graph)

    # ------------------------------------------------------------------ verbatim
    async def _verbatim(self, req: AddRequest) -> AddResult:
        """One memory per non-empty message, stored as written (one embedding batch, one commit)."""
        kept = [(m, text) for m in req.msgs if (text := text_of(m["content"]).strip())]
        if not kept:
            return AddResult(results=[])
        # The embeddings of concurrent adds that wait while one is out go out together (embed_batch.py).
        vectors = await self.embed_batch.embed([t for _, t in kept])
        now, stated = iso(self.clock()), _stated(req)
        changes = Changes()
        for (m, text), vector in zip(kept, vectors):
            mem_id = uuid7()
            payload = new_payload(
                text,
                scope=req.scope,
                now=stated or now,
                metadata=req.metadata,
                memory_type=req.forced_type,
                role=m["role"],
                actor_id=m.get("name"),
            )
            changes.inserts.append(VectorRecord(id=mem_id, vector=vector, payload=payload))
            changes.events.append(event(mem_id, None, text, "ADD", now, payload, stated_at=stated))

        async def prepare(staged: Staged) -> tuple[Changes, None]:
            return changes, None

        # Retried like an inferred add: its round may hold another add whose read went stale.
        await self.uow.retrying(lambda: self.commits.submit(req.scope.key(), prepare))
        return AddResult(
            results=[
                ActionResult.model_construct(
                    id=r.id,
                    memory=r.payload["data"],
                    event="ADD",
                    action="ADD",
                    old_value=None,
                    new_value=r.payload["data"],
                ).with_author(r.payload.get("role"), r.payload.get("actor_id"))
                for r in changes.inserts
            ]
        )

    # ------------------------------------------------------------------ inferred
    async def _inferred(self, req: AddRequest) -> AddResult:
        await self.admission.enter()  # many at once: the first ones' model requests go out first
        texts = await self._describe_images(req.msgs)
        if not any(t.strip() for t in texts):  # only blank messages (no text, no described image)
            return AddResult(results=[])  # nothing to extract: no LLM call, as infer=False stores nothing
        key = req.scope.key()
        seen = self.writes.begin(key)  # before candidates are retrieved: later writes are unseen
        try:
            if self._uses_one_call(req.prompt):
                inferred = await self._extract_and_decide(req.msgs, texts, req.scope, self._at(req))
            else:
                inferred = await self._extract_then_decide(req.msgs, texts, req.scope, req.prompt, self._at(req))
            if not inferred.facts:
                return AddResult(results=[])
            # The new texts' vectors before the scope lock: nothing waits on an embedding call.
            await self._embed_new_texts(inferred)
            return await self.uow.retrying(lambda: self._reconcile_and_commit(inferred, req, seen))
        finally:
            self.writes.end(key, seen)

    async def _describe_images(self, msgs: list[dict[str, Any]]) -> list[str]:
        """Each message's text, with a description of each of its images appended (vision LLMs)."""
        texts = [text_of(m["content"]) for m in msgs]
        llm = self.llm
        if llm is None or not getattr(llm.capabilities, "vision", False):
            return texts
        jobs: list[tuple[int, dict[str, Any]]] = [
            (i, part) for i, m in enumerate(msgs) for part in image_parts(m["content"])
        ]
        if not jobs:
            return texts

        async def describe(part: dict[str, Any]) -> str:
            resp = await llm.generate(
                [{"role": "system", "content": prompts.DESCRIBE_IMAGE_PROMPT}, {"role": "user", "content": [part]}],
                max_tokens=300,
            )
            return resp.content.strip()

        described = await asyncio.gather(*(describe(p) for _, p in jobs), return_exceptions=True)
        for (i, _), text in zip(jobs, described):
            if isinstance(text, BaseException):
                log.warning("add: describing an image failed (%s); the image is left out", text)
                continue
            if text:
                texts[i] = f"{texts[i]}\n[image: {text}]".strip()
        return texts

    def _at(self, req: AddRequest) -> datetime:
        """The add's time: the caller's ``timestamp``, else now."""
        return req.stated_at if req.stated_at is not None else self.clock()

    def _uses_one_call(self, prompt: str | None) -> bool:
        """One-call mode, unless a custom prompt written for one of the two calls is in play."""
        if self.config.add_mode != "one_call":
            return False
        return not (prompt or self.config.custom_fact_extraction_prompt or self.config.custom_update_memory_prompt)

    @staticmethod
    def agent_mode(msgs: list[dict[str, Any]], scope: Scope) -> bool:
        """Remember the assistant's facts (not the user's): an agent scope and an assistant turn."""
        return scope.agent_id is not None and any(m["role"] == "assistant" for m in msgs)

    # ------------------------------------------------------------------ extract → candidates → decide
    async def _extract_then_decide(
        self, msgs: list[dict[str, Any]], texts: list[str], scope: Scope, prompt: str | None, at: datetime
    ) -> Inference:
        """Two-call mode: extract (LLM 1) → embed the facts → their candidates → decide (LLM 2).

        ``at``: the add's time (its date is the prompt's "today"; decay of candidates is measured to it).
        """
        assert self.ask is not None
        facts: list[Fact] = await self.ask(
            self._extraction_messages(msgs, texts, scope, prompt, at), parse_facts, "fact extraction"
        )
        if not facts:
            return Inference(facts, Plan(), {})
        fact_vectors = await self.embed_batch.embed([f.text for f in facts])
        vector_of = {f.text: v for f, v in zip(facts, fact_vectors)}
        pairs = await self._candidates(fact_vectors, scope, at)
        if not pairs or not _open_facts(facts, pairs):
            return Inference(facts, _plan_without_llm(facts, pairs), vector_of)
        decisions = await self.ask(self._decision_messages(facts, pairs), parse_decisions, "update decision")
        return Inference(facts, plan_changes(decisions, facts, pairs), vector_of)

    async def _extract_and_decide(
        self, msgs: list[dict[str, Any]], texts: list[str], scope: Scope, at: datetime
    ) -> Inference:
        """One-call mode: embed the conversation's sentences → their candidates → one LLM call for
        facts and decisions.

        The plan goes through the same :func:`plan_changes` as the two-call pipeline, so every guard
        holds here too: integer ids mapped back, unknown ids, facts the decisions left out, typing.
        """
        assert self.ask is not None
        agent_mode = self.agent_mode(msgs, scope)
        speaker = "assistant" if agent_mode else "user"
        lines = [t for m, t in zip(msgs, texts) if m["role"] == speaker and t.strip()] or [
            t for t in texts if t.strip()
        ]
        queries = retrieval_queries(lines)
        vectors = await self.embed_batch.embed(queries) if queries else []
        vector_of = dict(zip(queries, vectors))  # a fact worded exactly as a sentence reuses its vector
        pairs = await self._candidates(vectors, scope, at) if vectors else []
        template = prompts.AGENT_EXTRACT_AND_UPDATE_PROMPT if agent_mode else prompts.USER_EXTRACT_AND_UPDATE_PROMPT
        user = prompts.EXTRACT_AND_UPDATE_USER.format(
            existing="\n".join(f"{i}: {text}" for i, (_, text) in enumerate(pairs)) or prompts.NO_EXISTING_MEMORIES,
            conversation="\n".join(f"{m['role']}: {t}" for m, t in zip(msgs, texts) if t.strip()),
        )
        shown = bool(pairs)

        def parse(obj: dict[str, Any]) -> tuple[list[Fact], list[Decision]]:
            return parse_extract_and_decide(obj, decisions_required=shown)

        facts, decisions = await self.ask(
            [
                {"role": "system", "content": template.format(today=at.date().isoformat())},
                {"role": "user", "content": user},
            ],
            parse,
            "fact extraction and update decision",
        )
        if not facts:  # nothing worth remembering: nothing changes (as in two-call mode), whatever was decided
            return Inference(facts, Plan(), vector_of)
        if not pairs or not _open_facts(facts, pairs):
            return Inference(facts, _plan_without_llm(facts, pairs), vector_of)
        return Inference(facts, plan_changes(decisions, facts, pairs), vector_of)

    def _extraction_messages(
        self, msgs: list[dict[str, Any]], texts: list[str], scope: Scope, prompt: str | None, at: datetime
    ) -> list[dict[str, Any]]:
        agent_mode = self.agent_mode(msgs, scope)
        today = at.date().isoformat()
        custom = prompt or self.config.custom_fact_extraction_prompt
        if custom:
            system = custom.replace("{today}", today)
            if "{today}" not in custom:
                system = f"{system}\n\nToday's date is {today}."
            system = with_json_hint(system, '{"facts": [{"text": "...", "category": "factual"}]}')
            # Keep the task marker so logs and test doubles can tell the call apart.
            marker = tasks.AGENT_FACT_EXTRACTION_MARKER if agent_mode else tasks.FACT_EXTRACTION_MARKER
            if not system.startswith("# mem7:"):
                system = f"{marker}\n{system}"
        else:
            template = prompts.AGENT_FACT_EXTRACTION_PROMPT if agent_mode else prompts.USER_FACT_EXTRACTION_PROMPT
            system = template.format(today=today)
        lines = [f"{m['role']}: {t}" for m, t in zip(msgs, texts) if t.strip()]
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]

    def _decision_messages(self, facts: list[Fact], pairs: list[Pair]) -> list[dict[str, Any]]:
        open_facts = _open_facts(facts, pairs)
        system = self.config.custom_update_memory_prompt or prompts.UPDATE_MEMORY_PROMPT
        system = with_json_hint(system, '{"memory": [{"id": "0", "text": "...", "event": "ADD|UPDATE|DELETE|NONE"}]}')
        if not system.startswith("# mem7:"):  # keep the task marker on a custom prompt too
            system = f"{tasks.UPDATE_MEMORY_MARKER}\n{system}"
        user = prompts.UPDATE_MEMORY_USER.format(
            existing="\n".join(f"{i}: {text}" for i, (_, text) in enumerate(pairs)),
            facts="\n".join(f"- {f.text}" for f in open_facts),
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def _candidates(self, vectors: list[Any], scope: Scope, now: datetime) -> list[Pair]:
        """The union of each vector's nearest memories in scope (a fact's; in one_call mode a
        sentence's), as ``(id, text)``, oldest first. One ``search_many`` store round.

        With write-path scorers (decay), each fact's neighbours are over-fetched, re-scored and cut,
        so stale memories really drop out of what the LLM sees.
        """
        per_fact = self.config.candidates_per_fact
        fetch = per_fact * WRITE_PATH_OVERFETCH if self.scorers.on_write_path else per_fact
        found = await self.view.store.search_many(vectors, scope=scope, limit=fetch)  # one store round
        union: dict[str, tuple[str, dict[str, Any]]] = {}
        for hits in found:
            for h in self.scorers.cut_candidates(hits, now, per_fact):
                union.setdefault(h.id, (str(h.payload.get("data", "")), h.payload))
        # Deterministic presentation: by creation time, then id (UUIDv7 ids sort by creation too).
        ordered = sorted(union.items(), key=lambda kv: (str(kv[1][1].get("created_at") or ""), kv[0]))
        return [(mem_id, text) for mem_id, (text, _) in ordered]

    async def _embed_new_texts(self, inferred: Inference) -> None:
        """Vectors for every text the plan may write (ADDs, UPDATEs' merged texts), one batch."""
        plan = inferred.plan
        need = [t for t, _ in plan.adds] + [t for _, t, _ in plan.updates]
        missing = list(dict.fromkeys(t for t in need if t not in inferred.vector_of))
        if missing:
            inferred.vector_of.update(zip(missing, await self.embed_batch.embed(missing)))

    # ------------------------------------------------------------------ reconcile → commit
    async def _reconcile_and_commit(self, inferred: Inference, req: AddRequest, seen: int) -> AddResult:
        """Under the scope's lock: the plan re-checked against the store and against what concurrent
        adds of this scope stored since ``seen`` (reconcile.py), then committed, with the other
        adds of the scope that waited for the lock meanwhile (commit_queue.py: ``staged`` is what
        those before it in the round write)."""
        scope = req.scope

        async def prepare(staged: Staged) -> tuple[Changes, AddResult]:
            fresh = {**self.writes.since(scope.key(), seen), **staged.written}
            wanted = to_read(inferred.plan, fresh)
            current = await staged.read(self.view.store, wanted)
            effects = reconcile(inferred.plan, scope, current, fresh)
            changes, results = changes_of(
                effects,
                current,
                inferred.vector_of,  # every text of the plan was embedded (_embed_new_texts)
                facts=inferred.facts,
                forced_type=req.forced_type,
                scope=scope,
                meta=req.metadata,
                now=iso(self.clock()),
                stated_at=_stated(req),
            )
            return changes, AddResult(results=results)

        return await self.commits.submit(scope.key(), prepare)


def _stated(req: AddRequest) -> str | None:
    """The caller's ``timestamp`` in the stored form, or ``None``."""
    return iso(req.stated_at) if req.stated_at is not None else None


def _open_facts(facts: list[Fact], pairs: list[Pair]) -> list[Fact]:
    """The facts not already stored word for word among the candidates."""
    known = {norm_text(t) for _, t in pairs}
    return [f for f in facts if norm_text(f.text) not in known]


def _plan_without_llm(facts: list[Fact], pairs: list[Pair]) -> Plan:
    """No candidates: every fact is new. Every fact already stored word for word: nothing to do."""
    if not pairs:
        return Plan(adds=[(f.text, i) for i, f in enumerate(facts)])
    return Plan()


__all__ = ["AddRequest", "Inference", "WritePipeline"]
