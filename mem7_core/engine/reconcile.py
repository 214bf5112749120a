"""Reconcile: an add's plan checked against what the store holds now, turned into :class:`Changes`.

An add decides (the LLM's ADD / UPDATE / DELETE / NONE) on candidates it read before taking the
scope's lock; meanwhile another writer may have changed, deleted or stored the same thing. Under
the lock, with the targets read again (``current``) and what concurrent adds of this scope stored
since this one looked (``fresh``, from the :class:`~mem7_core.engine.locks.WriteLog`):

- an UPDATE whose memory changed or vanished becomes an ADD (both texts are kept);
- a DELETE whose memory changed or vanished is skipped;
- an ADD of words a concurrent add stored meanwhile is dropped (kept once).

Pure functions: nothing here calls a provider.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ids import text_hash, uuid7
from ..models import ActionResult, Scope, VectorRecord
from .inference import Fact, Plan, norm_text
from .records import new_payload
from .unit_of_work import Changes, event

log = logging.getLogger("mem7.engine")


@dataclass(slots=True)
class Effects:
    """What an add will really do, once reconciled."""

    adds: list[tuple[str, int | None]] = field(default_factory=list)
    """(text, index of the fact it came from) per new memory."""
    updates: list[tuple[str, str, int | None]] = field(default_factory=list)
    """(memory id, merged text, fact index) per update."""
    deletes: list[str] = field(default_factory=list)


def to_read(plan: Plan, fresh: Mapping[str, str]) -> list[str]:
    """The ids to read again under the lock: the plan's targets, and memories a concurrent add
    stored meanwhile with the words of one of the plan's texts."""
    targets = {u[0] for u in plan.updates} | set(plan.deletes)
    twins = {
        fresh[k] for k in (norm_text(t) for t, _ in plan.adds + [(t, i) for _, t, i in plan.updates]) if k in fresh
    }
    return sorted(targets | twins)


def reconcile(plan: Plan, scope: Scope, current: Mapping[str, VectorRecord], fresh: Mapping[str, str]) -> Effects:
    """The plan's effects given the store as it is now (``current``: the records :func:`to_read`)."""

    def unchanged(mem_id: str) -> bool:  # still there, in scope, with the text the LLM decided on
        rec = current.get(mem_id)
        decided_on = plan.seen.get(mem_id)
        return (
            rec is not None
            and scope.matches(rec.payload)
            and (decided_on is None or rec.payload.get("data") == decided_on)
        )

    effects = Effects(adds=list(plan.adds))
    for mem_id, text, idx in plan.updates:
        if unchanged(mem_id):
            effects.updates.append((mem_id, text, idx))
        else:  # deleted or rewritten meanwhile by another writer: keep both, as a new memory
            log.warning("add: memory %s changed or vanished before its UPDATE; the text is added instead", mem_id)
            effects.adds.append((text, idx))
    effects.adds = [a for a in effects.adds if not _stored_meanwhile(a[0], fresh, current, scope)]
    effects.deletes = [m for m in plan.deletes if unchanged(m)]
    if len(effects.deletes) < len(plan.deletes):
        log.warning(
            "add: %d DELETE(s) skipped: the memory changed or vanished since the LLM saw it",
            len(plan.deletes) - len(effects.deletes),
        )
    return effects


def _stored_meanwhile(text: str, fresh: Mapping[str, str], current: Mapping[str, VectorRecord], scope: Scope) -> bool:
    """Whether a concurrent add stored ``text`` (same words) in this scope after this add looked."""
    mem_id = fresh.get(norm_text(text))
    rec = current.get(mem_id) if mem_id is not None else None
    if rec is None or not scope.matches(rec.payload) or norm_text(str(rec.payload.get("data", ""))) != norm_text(text):
        return False
    log.info("add: a concurrent add stored the same fact meanwhile (memory %s); it is kept once", mem_id)
    return True


def changes_of(
    effects: Effects,
    current: Mapping[str, VectorRecord],
    vector_of: Mapping[str, Any],
    *,
    facts: Sequence[Fact],
    forced_type: str | None,
    scope: Scope,
    meta: Mapping[str, Any],
    now: str,
    stated_at: str | None = None,
) -> tuple[Changes, list[ActionResult]]:
    """The records and history events of ``effects``, and the add's results, in order.

    ``now`` is the wall-clock time of the write (the history events' ``created_at``);
    ``stated_at``, the caller's ``timestamp``, dates what this add writes instead: new memories'
    ``created_at`` / ``updated_at``, updated ones' ``updated_at`` (their ``created_at`` is kept),
    and is recorded as each event's ``stated_at``.

    A text from fact ``idx`` gets the caller's ``forced_type``, else that fact's category (a text
    from no fact: factual); an UPDATE sets the memory's type only when one of those applies.
    """

    def type_of(idx: int | None) -> str | None:
        if forced_type:
            return forced_type
        return facts[idx].category if idx is not None else "factual"

    at = stated_at or now
    out = Changes()
    results: list[ActionResult] = []
    for text, idx in effects.adds:
        mem_id = uuid7()
        payload = new_payload(text, scope=scope, now=at, metadata=dict(meta), memory_type=type_of(idx))
        out.inserts.append(VectorRecord(id=mem_id, vector=vector_of[text], payload=payload))
        out.events.append(event(mem_id, None, text, "ADD", now, payload, stated_at=stated_at))
        results.append(
            ActionResult.model_construct(
                id=mem_id, memory=text, event="ADD", action="ADD", old_value=None, new_value=text
            )
        )
    for mem_id, text, idx in effects.updates:
        old = current[mem_id]
        payload = dict(old.payload)
        payload.update(meta)  # stored metadata kept, the new merged over it
        old_text = str(old.payload.get("data", ""))
        payload.update(
            data=text,
            hash=text_hash(text),
            updated_at=at,
            access_count=int(old.payload.get("access_count") or 0) + 1,
        )
        if forced_type or idx is not None:
            payload["memory_type"] = type_of(idx)
        out.changes.append((old, VectorRecord(id=mem_id, vector=vector_of[text], payload=payload)))
        out.events.append(event(mem_id, old_text, text, "UPDATE", now, payload, stated_at=stated_at))
        results.append(
            ActionResult.model_construct(
                id=mem_id, memory=text, event="UPDATE", action="UPDATE", old_value=old_text, new_value=text
            )
        )
    for rec in (current[m] for m in effects.deletes):
        old_text = str(rec.payload.get("data", ""))
        out.removes.append(rec)
        out.events.append(event(rec.id, old_text, None, "DELETE", now, rec.payload, stated_at=stated_at))
        results.append(
            ActionResult.model_construct(
                id=rec.id, memory=old_text, event="DELETE", action="DELETE", old_value=old_text, new_value=None
            )
        )
    return out, results


__all__ = ["Effects", "changes_of", "reconcile", "to_read"]
