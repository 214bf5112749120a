"""Scripted models for running the evaluation without a real one (CI, ``--scripted NAME``).

Each is a *two-call* script (a function of the messages of one chat call, answering mem7's
fact-extraction and update-decision prompts); :func:`serve` wraps it with
``mem7_core.testing.one_call.as_one_call`` so the one-call prompt gets the very answers the two
calls would, and both modes are run under the same model behaviour. Their figures measure the
harness and the pipelines' plumbing, never a model's quality.

- ``rule``: ``rule_based_reply`` (every sentence of the speaker's lines is a fact; identical text →
  NONE, "X" vs "X not" → DELETE + ADD, else ADD).
- ``mix``: the overhead benchmark's decisions (``bench/overhead/loopback.py``'s ``decide``: ADD 50 %,
  UPDATE of the first shown memory 30 % (old text + "; " + fact), NONE 20 %): its NONE names a
  memory that does not hold the fact, so that fact is dropped (lost unless another fact of the same
  turn covers it).
- ``delete_all``: rule-based facts, each ADDed, and every memory shown DELETEd.
- ``replace``: rule-based facts; each UPDATEs the first shown memory not yet used with the fact's
  text alone (the old text is dropped), the rest are ADDed.
- ``merge``: as ``replace``, but the new text is the old one + "; " + the fact (nothing dropped).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mem7_core.providers.tasks import UPDATE_MEMORY_MARKER
from mem7_core.testing.fakes import rule_based_reply
from mem7_core.testing.one_call import as_one_call
from mem7_core.testing.openai_server import OpenAIServer

Message = dict[str, Any]
Script = Callable[[Sequence[Message]], Any]
_LINE = re.compile(r"^(\d+): (.*)$")


def decision_input(messages: Sequence[Message]) -> tuple[dict[str, str], list[str]] | None:
    """(existing id → text, new facts) of an update-decision call; None for other calls."""
    system = next((m.get("content") for m in messages if m.get("role") == "system"), "")
    if not isinstance(system, str) or not system.startswith(UPDATE_MEMORY_MARKER):
        return None
    user = "\n".join(m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str))
    existing_part, _, facts_part = user.partition("New facts:")
    existing = {m.group(1): m.group(2) for ln in existing_part.splitlines() if (m := _LINE.match(ln.strip()))}
    facts = [ln.strip()[2:].strip() for ln in facts_part.splitlines() if ln.strip().startswith("- ")]
    return existing, facts


def delete_all(messages: Sequence[Message]) -> Any:
    parsed = decision_input(messages)
    if parsed is None:
        return rule_based_reply(messages)
    existing, facts = parsed
    out = [{"id": k, "text": v, "event": "DELETE"} for k, v in existing.items()]
    out += [{"id": str(len(existing) + i), "text": f, "event": "ADD"} for i, f in enumerate(facts)]
    return json.dumps({"memory": out})


def _updating(messages: Sequence[Message], merge: bool) -> Any:
    parsed = decision_input(messages)
    if parsed is None:
        return rule_based_reply(messages)
    existing, facts = parsed
    free = list(existing)
    out: list[dict[str, str]] = []
    for i, fact in enumerate(facts):
        if free:
            k = free.pop(0)
            text = f"{existing[k]}; {fact}" if merge else fact
            out.append({"id": k, "text": text, "event": "UPDATE", "old_memory": existing[k]})
        else:
            out.append({"id": str(len(existing) + i), "text": fact, "event": "ADD"})
    return json.dumps({"memory": out})


def replace(messages: Sequence[Message]) -> Any:
    return _updating(messages, merge=False)


def merge(messages: Sequence[Message]) -> Any:
    return _updating(messages, merge=True)


def _mix() -> Script:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.overhead.loopback import decide

    def mix(messages: Sequence[Message]) -> Any:
        decided = decide(list(messages))
        return decided if decided is not None else rule_based_reply(messages)

    return mix


def model(name: str) -> Script:
    """The two-call script called ``name`` (see the module docstring)."""
    if name == "rule":
        return rule_based_reply
    if name == "mix":
        return _mix()
    if name == "delete_all":
        return delete_all
    if name == "replace":
        return replace
    if name == "merge":
        return merge
    raise ValueError(f"unknown scripted model {name!r}; use one of {', '.join(MODELS)}")


MODELS = ("rule", "mix", "delete_all", "replace", "merge")


def serve(script: Script, *, api_key: str = "sk-infer-eval", embedding_dims: int = 384) -> OpenAIServer:
    """A started loopback OpenAI-compatible server answering both add modes with ``script``
    (embeddings: the server's deterministic hash vectors). Stop it with ``.stop()``."""
    srv = OpenAIServer(api_key=api_key, embedding_dims=embedding_dims)
    srv.script(as_one_call(script))
    return srv.start()
