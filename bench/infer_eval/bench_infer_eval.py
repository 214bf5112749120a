"""What ``add(infer=True)`` keeps and loses on LoCoMo, per add mode (issue 19: may ``one_call`` be the default?).

Data: the development half of LoCoMo, read at run time from
``../shared/data/locomo/locomo-dev.json`` (CC BY-NC 4.0: never copied into this repository), loaded
as ``bench/locomo/bench_locomo.py`` loads it (sessions, turns, dates, normalised evidence ids;
QAs of categories 1-4).

The run, once per mode (``two_call`` and ``one_call``: the same model, the same inputs, a fresh
engine each): every conversation, session by session (or ``--chunk-turns`` turns at a time),
through the public ``AsyncMemory.add(messages, user_id=..., infer=True, timestamp=<session
date>)``. ``--roles both`` (default, mem0's LoCoMo protocol): each chunk is added twice, once per
speaker, into that speaker's scope (``<conv>/<speaker>``), the speaker's turns as ``user``
messages and the other's as ``assistant`` ones, each ``"<speaker>: <text>"``; ``--roles single``:
one scope per conversation, every turn a ``user`` message. Engine: mem7-openai as LLM and embedder
(any OpenAI-compatible server: ``--base-url`` / ``--model`` / ``--api-key`` or ``OPENAI_BASE_URL``
/ ``OPENAI_API_KEY``; ``--embedder JSON`` for another embedder), mem7-flat in memory, SQLite
history in memory. Conversations run concurrently (``--concurrency``), the adds of one in order.

Scoring (``scoring.py``'s docstring has each rule and its limits), per conversation and in total:

- **facts kept**: memories alive at the end; ADD / UPDATE / DELETE events the adds reported;
- **evidence turns** (turns cited by a QA, among those added), **covered** by a memory alive at the
  end, **lost** = not covered, split into **missed** (no memory ever written covered it: extraction)
  and **lost by change** (some version in the history covered it, none at the end: UPDATE / DELETE);
  **QAs covered**: QAs all of whose evidence turns are covered;
- **wrong UPDATEs** / **wrong DELETEs**: the history's UPDATE (old → new) and DELETE events judged
  against the turns of the add that made them;
- **LLM calls and tokens per add** (answered calls, counted around the LLM provider, retries of an
  unreadable answer included; tokens as the server reports them), **wall time** per add.

An add the model fails (unreadable JSON after the engine's retries, a timeout, a 400) is counted
under "adds failed" and the run goes on; a conversation whose first three adds all fail stops it
(a wrong URL, key or model name).

Output: a markdown report (a summary table of both modes with their difference, a table per mode
per conversation) and ``--json`` with every figure and per-add / per-change detail. Neither quotes
the dataset (turns, memories) unless ``--quote`` (local inspection only: the report then lists
examples of what was judged lost or wrong). ``--scripted NAME`` runs against the loopback server
with a scripted model instead of a real one (``scripted.py``; CI runs this): its figures check the
harness, they say nothing of quality.

    .venv/bin/python bench/infer_eval/bench_infer_eval.py --scripted rule --conversations 1 --sessions 3
    .venv/bin/python bench/infer_eval/bench_infer_eval.py --base-url http://127.0.0.1:8000/v1 \\
        --model Qwen2.5-7B-Instruct --embed-model bge-small-en-v1.5 --embed-dims 384 --out /tmp/ie.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.infer_eval.scoring import (  # noqa: E402 - after the sys.path line
    AddRecord,
    ConversationInput,
    Thresholds,
    score_conversation,
    total,
)
from bench.locomo.bench_locomo import load, session_time  # noqa: E402
from mem7_core import AsyncMemory  # noqa: E402
from mem7_core.errors import ProviderError  # noqa: E402
from mem7_core.models import LLMResponse  # noqa: E402
from mem7_core.plugins import get_registry  # noqa: E402
from mem7_core.providers import LLM  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "locomo" / "locomo-dev.json"
DEFAULT_OUT = ROOT / "bench" / "results" / "infer_eval.md"
DEFAULT_JSON = Path(tempfile.gettempdir()) / "infer_eval.json"
MODES = ("two_call", "one_call")
FAIL_FAST = 3
"""A conversation whose first this many adds all fail stops the run (a wrong URL, key or model)."""

_CURRENT: contextvars.ContextVar[AddRecord | None] = contextvars.ContextVar("infer_eval_add", default=None)


class CountingLLM(LLM):
    """The LLM provider, counting calls and tokens into the add being run (a context variable).
    Build it with :func:`counting`, which gives it the inner model's capabilities."""

    name = "counting"

    def __init__(self, inner: LLM) -> None:
        super().__init__(None)
        self.inner = inner

    async def generate(self, messages: Any, **kwargs: Any) -> LLMResponse:
        resp = await self.inner.generate(messages, **kwargs)
        rec = _CURRENT.get()
        if rec is not None:
            rec.llm_calls += 1
            usage = resp.usage or {}
            rec.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            rec.completion_tokens += int(usage.get("completion_tokens") or 0)
        return resp

    async def aclose(self) -> None:
        await self.inner.aclose()


def counting(inner: LLM) -> CountingLLM:
    """``inner`` wrapped in a :class:`CountingLLM` subclass declaring ``inner``'s capabilities
    (a class variable the engine reads: JSON mode, tools, vision)."""
    cls: type[CountingLLM] = type("CountingLLM", (CountingLLM,), {"capabilities": inner.capabilities})
    return cls(inner)


# --------------------------------------------------------------------------------------- options
@dataclass
class Options:
    base_url: str | None
    model: str
    api_key: str | None
    embedder: dict[str, Any]
    llm_config: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    conversations: int = 0
    """0: all."""
    conv_ids: list[str] = field(default_factory=list)
    sessions: int = 0
    """0: all; else the first N sessions of each conversation."""
    chunk_turns: int = 0
    """0: one add per session; else at most this many turns per add."""
    roles: str = "both"
    concurrency: int = 1
    modes: tuple[str, ...] = MODES
    thresholds: Thresholds = field(default_factory=Thresholds)


def embedder_section(base_url: str | None, api_key: str | None, model: str, dims: int) -> dict[str, Any]:
    conn: dict[str, Any] = {"model": model, "embedding_dims": dims}
    if base_url:
        conn["base_url"] = base_url
    if api_key:
        conn["api_key"] = api_key
    return {"provider": "openai", "config": conn}


def make_engine(mode: str, opts: Options) -> tuple[AsyncMemory, CountingLLM]:
    """An engine for ``mode`` and its LLM (given to it, so not closed by it: close both)."""
    llm_cfg: dict[str, Any] = {"model": opts.model, "timeout": 300.0, "deadline": 600.0, "max_tokens": 4000}
    if opts.base_url:
        llm_cfg["base_url"] = opts.base_url
    if opts.api_key:
        llm_cfg["api_key"] = opts.api_key
    llm_cfg.update(opts.llm_config)
    inner = get_registry().create("llm", "openai", llm_cfg)
    assert isinstance(inner, LLM)
    config: dict[str, Any] = {
        "llm": None,
        "embedder": opts.embedder,
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        **opts.engine,
        "add_mode": mode,
    }
    llm = counting(inner)
    return AsyncMemory(config, llm=llm), llm


# ------------------------------------------------------------------------------------------ data
def select(convs: list[dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
    if opts.conv_ids:
        known = {c["id"] for c in convs}
        unknown = [c for c in opts.conv_ids if c not in known]
        if unknown:
            raise SystemExit(f"--conv: unknown conversation id(s) {unknown}; known: {sorted(known)}")
        convs = [c for c in convs if c["id"] in opts.conv_ids]
    if opts.conversations:
        convs = convs[: opts.conversations]
    if opts.sessions:
        convs = [{**c, "sessions": c["sessions"][: opts.sessions]} for c in convs]
    return convs


def speakers_of(conv: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(t["speaker"] for s in conv["sessions"] for t in s["turns"]))


def chunks(turns: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    if size <= 0:
        return [turns] if turns else []
    return [turns[i : i + size] for i in range(0, len(turns), size)]


def line(turn: dict[str, Any]) -> str:
    return f"{turn['speaker']}: {turn['text']}"


def adds_of(conv_id: str, speakers: Sequence[str], chunk: list[dict[str, Any]], roles: str) -> list[tuple[str, list[dict[str, str]]]]:
    """(scope, messages) of each add a chunk makes (module docstring: ``--roles``)."""
    if roles == "single":
        return [(conv_id, [{"role": "user", "content": line(t)} for t in chunk])]
    return [
        (f"{conv_id}/{who}", [{"role": "user" if t["speaker"] == who else "assistant", "content": line(t)} for t in chunk])
        for who in speakers
    ]


def scopes_of(conv_id: str, speakers: Sequence[str], roles: str) -> list[str]:
    return [conv_id] if roles == "single" else [f"{conv_id}/{who}" for who in speakers]


# ------------------------------------------------------------------------------------------- run
async def run_conversation(mem: AsyncMemory, conv: dict[str, Any], opts: Options) -> tuple[ConversationInput, dict[str, list[float]]]:
    """Add one conversation; what the scorer needs (and the embeddings of its texts when the
    embedding matcher is on: text → vector)."""
    speakers = speakers_of(conv)
    records: list[AddRecord] = []
    turns: dict[str, str] = {}
    for sess in conv["sessions"]:
        when = session_time(sess["date"])
        for ci, chunk in enumerate(chunks(sess["turns"], opts.chunk_turns)):
            for t in chunk:
                turns[t["dia_id"]] = line(t)
            for scope, messages in adds_of(conv["id"], speakers, chunk, opts.roles):
                rec = AddRecord(
                    conv=conv["id"], scope=scope, session=sess["n"], chunk=ci,
                    dia_ids=[t["dia_id"] for t in chunk], context="\n".join(line(t) for t in chunk),
                )
                records.append(rec)
                token = _CURRENT.set(rec)
                started = time.perf_counter()
                try:
                    resp = await mem.add(messages, user_id=scope, infer=True, timestamp=when + timedelta(seconds=ci))
                    rec.events = [
                        {"id": r["id"], "event": r["event"], "old": r["old_value"], "new": r["new_value"]}
                        for r in resp["results"]
                    ]
                except ProviderError as exc:  # the model's failure (unreadable answer, timeout, 400): counted
                    rec.error = f"{type(exc).__name__}: {exc}"
                    if len(records) >= FAIL_FAST and all(r.error for r in records):
                        raise SystemExit(
                            f"{conv['id']}: the first {len(records)} adds all failed, the last with {rec.error}; "
                            "check --base-url, --model, --api-key and that the server answers JSON"
                        ) from exc
                finally:
                    rec.wall_s = time.perf_counter() - started
                    _CURRENT.reset(token)
    final: list[tuple[str, str]] = []
    for scope in scopes_of(conv["id"], speakers, opts.roles):
        final += [(m["id"], m["memory"]) for m in await mem.export_memories(user_id=scope)]
    ids = dict.fromkeys(e["id"] for r in records for e in r.events)
    history: dict[str, Sequence[Mapping[str, object]]] = {mid: list(await mem.history(mid)) for mid in ids}
    evidence: dict[str, list[int]] = {}
    qa_evidence: list[list[str]] = []
    for i, qa in enumerate(conv["qas"]):
        inside = [d for d in qa["evidence"] if d in turns]
        for d in inside:
            evidence.setdefault(d, []).append(i)
        if inside and len(inside) == len(qa["evidence"]):
            qa_evidence.append(inside)
    vectors: dict[str, list[float]] = {}
    if opts.thresholds.embed is not None:
        texts = list(dict.fromkeys([*turns.values(), *(t for _, t in final),
                                    *(str(e[k]) for es in history.values() for e in es
                                      for k in ("old_memory", "new_memory") if e.get(k))]))
        vectors = dict(zip(texts, await mem.embedder.embed(texts, purpose="search"), strict=True))
    data = ConversationInput(
        conv=conv["id"], speakers=speakers, turns=turns, evidence=evidence, qa_evidence=qa_evidence,
        adds=records, final=final, history=history,
    )
    return data, vectors


def _cosine_of(data: ConversationInput, vectors: dict[str, list[float]]) -> Callable[[str, str], float] | None:
    if not vectors:
        return None
    import numpy as np

    def unit(text: str) -> Any:
        v = np.asarray(vectors[text], dtype=np.float64)
        n = float(np.linalg.norm(v))
        return v / n if n else v

    turn_unit = {d: unit(t) for d, t in data.turns.items()}

    def cosine(text: str, dia: str) -> float:
        return float(unit(text) @ turn_unit[dia]) if text in vectors else -1.0

    return cosine


async def run_mode(mode: str, convs: list[dict[str, Any]], opts: Options) -> dict[str, Any]:
    """One mode over the conversations: per-conversation scores, the total, per-add figures."""
    started = time.perf_counter()
    mem, llm = make_engine(mode, opts)
    try:
        async with mem:
            gate = asyncio.Semaphore(max(1, opts.concurrency))

            async def one(conv: dict[str, Any]) -> tuple[ConversationInput, dict[str, list[float]]]:
                async with gate:
                    return await run_conversation(mem, conv, opts)

            done = await asyncio.gather(*(one(c) for c in convs))
    finally:
        await llm.aclose()
    elapsed = time.perf_counter() - started
    per_conv = [score_conversation(data, opts.thresholds, _cosine_of(data, vectors)) for data, vectors in done]
    records = [r for data, _ in done for r in data.adds]
    walls = [r.wall_s for r in records if not r.error]
    return {
        "mode": mode,
        "total": total(per_conv),
        "conversations": per_conv,
        "per_add": {
            "wall_p50_s": statistics.median(walls) if walls else None,
            "wall_mean_s": statistics.fmean(walls) if walls else None,
            "llm_calls_max": max((r.llm_calls for r in records), default=0),
            "llm_calls_min": min((r.llm_calls for r in records), default=0),
        },
        "run_wall_s": elapsed,
        "adds": [asdict(r) for r in records],
    }


async def evaluate(convs: list[dict[str, Any]], opts: Options) -> dict[str, Any]:
    """Every mode of ``opts.modes`` over ``convs`` (already selected), one after the other."""
    out: dict[str, Any] = {}
    for mode in opts.modes:
        out[mode] = await run_mode(mode, convs, opts)
    return out


# ---------------------------------------------------------------------------------------- report
def redact(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without any text of the dataset or derived from it (turns, memories, dropped
    words): LoCoMo is CC BY-NC, and reports under bench/results/ must not copy it (``--quote`` keeps
    them, for local inspection)."""
    out: dict[str, Any] = json.loads(json.dumps(result))
    for run in out.values():
        for conv in run["conversations"]:
            d = conv["details"]
            for x in d["lost"]:
                x.pop("turn", None)
            for x in d["updates"]:
                x.pop("old", None)
                x.pop("new", None)
                x["dropped"] = len(x["dropped"])
            for x in d["deletes"]:
                x.pop("old", None)
        for rec in run["adds"]:
            rec.pop("context", None)
            events = rec.pop("events")
            rec["events"] = {k: sum(1 for e in events if e["event"] == k) for k in ("ADD", "UPDATE", "DELETE")}
    return out


def _per_add(t: dict[str, Any], key: str) -> float:
    return t[key] / t["adds"] if t["adds"] else 0.0


SUMMARY_ROWS: list[tuple[str, Callable[[dict[str, Any]], float | None], str]] = [
    ("adds", lambda m: m["total"]["adds"], "{}"),
    ("adds failed (provider error: unreadable answer, timeout...)", lambda m: m["total"]["add_errors"], "{}"),
    ("LLM calls per add", lambda m: _per_add(m["total"], "llm_calls"), "{:.2f}"),
    ("prompt tokens per add", lambda m: _per_add(m["total"], "prompt_tokens"), "{:.0f}"),
    ("completion tokens per add", lambda m: _per_add(m["total"], "completion_tokens"), "{:.0f}"),
    ("add wall time p50, s", lambda m: m["per_add"]["wall_p50_s"], "{:.3f}"),
    ("run wall time, s", lambda m: m["run_wall_s"], "{:.1f}"),
    ("ADD events", lambda m: m["total"]["events"]["ADD"], "{}"),
    ("UPDATE events", lambda m: m["total"]["events"]["UPDATE"], "{}"),
    ("DELETE events", lambda m: m["total"]["events"]["DELETE"], "{}"),
    ("facts kept (memories at the end)", lambda m: m["total"]["facts_kept"], "{}"),
    ("evidence turns", lambda m: m["total"]["evidence_turns"], "{}"),
    ("covered at the end", lambda m: m["total"]["covered"], "{}"),
    ("**lost facts** (evidence turns not covered)", lambda m: m["total"]["lost"], "{}"),
    ("  missed (never covered)", lambda m: m["total"]["missed"], "{}"),
    ("  lost by an UPDATE / DELETE", lambda m: m["total"]["lost_by_change"], "{}"),
    ("QAs with every evidence turn covered", lambda m: m["total"]["qas_covered"], "{}"),
    ("QAs (evidence inside the added turns)", lambda m: m["total"]["qas"], "{}"),
    ("**wrong UPDATEs**", lambda m: m["total"]["wrong_updates"], "{}"),
    ("**wrong DELETEs**", lambda m: m["total"]["wrong_deletes"], "{}"),
]


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else spec.format(value)


def _diff(a: float | None, b: float | None, spec: str) -> str:
    if a is None or b is None:
        return "–"
    d = b - a
    return ("+" if d > 0 else "") + spec.format(d)


def _short(text: str, n: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def report(result: dict[str, Any], meta: dict[str, Any], *, quote: bool = False) -> str:
    """The markdown report; ``quote``: with the examples section (texts of the dataset)."""
    modes = [m for m in MODES if m in result]
    out = [f"# add(infer=True) on LoCoMo: {' vs '.join(modes)}", ""]
    if meta.get("scripted"):
        out += [
            f"> **Scripted model** (`{meta['scripted']}`, loopback server, hash embeddings): these figures",
            "> check the harness and the pipelines' plumbing. They are **not** a quality measurement and",
            "> decide nothing about the default `add_mode`.",
            "",
        ]
    out += [
        f"- command: `{meta['command']}`",
        f"- when: {meta['when']}; machine: {meta['machine']}; Python {meta['python']}",
        f"- model: `{meta['model']}` at `{meta['base_url']}`; embedder: `{json.dumps(meta['embedder'])}`",
        f"- data: {meta['data']} (conversations {', '.join(meta['conversations'])}; sessions per conversation:"
        f" {meta['sessions'] or 'all'}; turns per add: {meta['chunk_turns'] or 'one session'}; roles: {meta['roles']})",
        f"- matcher and heuristics (`bench/infer_eval/scoring.py`): {json.dumps(meta['thresholds'])}",
        "",
        "## Summary",
        "",
        "| | " + " | ".join(modes) + (" | one_call − two_call |" if len(modes) == 2 else " |"),
        "|---|" + "---:|" * (len(modes) + (1 if len(modes) == 2 else 0)),
    ]
    for label, get, spec in SUMMARY_ROWS:
        vals = [get(result[m]) for m in modes]
        row = f"| {label} | " + " | ".join(_fmt(v, spec) for v in vals)
        if len(modes) == 2:
            row += " | " + _diff(vals[0], vals[1], spec)
        out.append(row + " |")
    for m in modes:
        out += [
            "",
            f"## {m}, per conversation",
            "",
            "| conversation | adds | facts kept | ADD / UPDATE / DELETE | evidence turns | covered | lost (missed + by change) "
            "| QAs covered | wrong UPDATEs | wrong DELETEs | LLM calls / add | tokens / add (prompt + completion) | add wall s (sum) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in result[m]["conversations"]:
            ev = c["events"]
            out.append(
                f"| {c['conv']} | {c['adds']} | {c['facts_kept']} | {ev['ADD']} / {ev['UPDATE']} / {ev['DELETE']} "
                f"| {c['evidence_turns']} | {c['covered']} | {c['lost']} ({c['missed']} + {c['lost_by_change']}) "
                f"| {c['qas_covered']} / {c['qas']} | {c['wrong_updates']} / {c['updates']} | {c['wrong_deletes']} / {c['deletes']} "
                f"| {_per_add(c, 'llm_calls'):.2f} | {_per_add(c, 'prompt_tokens'):.0f} + {_per_add(c, 'completion_tokens'):.0f} "
                f"| {c['wall_s']:.2f} |"
            )
    if not quote:
        out += ["", "Texts of turns and memories are left out (LoCoMo is CC BY-NC); `--quote` adds examples of what",
                "was judged lost or wrong, and every text to the JSON."]
        return "\n".join(out).rstrip() + "\n"
    out += ["", "## Examples (first 3 of each kind per mode; all of them in the JSON)", ""]
    for m in modes:
        details = [c["details"] for c in result[m]["conversations"]]
        lost = [x for d in details for x in d["lost"]][:3]
        wrong_u = [x for d in details for x in d["updates"] if x["wrong"]][:3]
        wrong_d = [x for d in details for x in d["deletes"] if x["wrong"]][:3]
        out.append(f"**{m}**")
        out.append("")
        out += [f"- lost {x['dia_id']}{' (covered once)' if x['ever_covered'] else ''}: {_short(x['turn'])}" for x in lost]
        out += [f"- wrong UPDATE: {_short(x['old'], 70)} → {_short(x['new'], 70)} (dropped: {', '.join(x['dropped'])})"
                for x in wrong_u]
        out += [f"- wrong DELETE: {_short(x['old'])}" for x in wrong_d]
        if not (lost or wrong_u or wrong_d):
            out.append("- none")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def machine() -> str:
    from bench._common.machine import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


# ------------------------------------------------------------------------------------------- cli
def _json_arg(flag: str, text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{flag}: not JSON ({exc}); e.g. {flag} '{{\"max_tokens\": 4000}}'") from None
    if not isinstance(value, dict):
        raise SystemExit(f"{flag}: expected a JSON object, got {type(value).__name__}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model (any OpenAI-compatible server)")
    g.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"), help="server URL ending in /v1 (env OPENAI_BASE_URL)")
    g.add_argument("--model", default=os.environ.get("MEM7_EVAL_MODEL", "gpt-4.1-mini"), help="chat model (env MEM7_EVAL_MODEL)")
    g.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="API key (env OPENAI_API_KEY; local servers take any)")
    g.add_argument("--embed-base-url", default=None, help="embeddings server URL (default: --base-url)")
    g.add_argument("--embed-model", default="text-embedding-3-small")
    g.add_argument("--embed-dims", type=int, default=1536)
    g.add_argument("--embedder", default=None, help='embedder section as JSON instead, e.g. \'{"provider": "fastembed"}\'')
    g.add_argument("--llm-config", default=None, help='merged into llm.config, e.g. \'{"max_tokens": 8000, "json_mode": "off"}\'')
    g.add_argument("--engine", default=None, help='merged into the engine config, e.g. \'{"llm_retries": 2}\'')
    g.add_argument("--scripted", choices=("rule", "mix", "delete_all", "replace", "merge"), default=None,
                   help="run against the loopback server with this scripted model (no real model; CI)")
    d = p.add_argument_group("data")
    d.add_argument("--data", type=Path, default=DEFAULT_DATA)
    d.add_argument("--conversations", type=int, default=0, help="the first N conversations (0: all five)")
    d.add_argument("--conv", default="", help="comma-separated conversation ids (e.g. conv-26)")
    d.add_argument("--sessions", type=int, default=0, help="the first N sessions of each (0: all)")
    d.add_argument("--chunk-turns", type=int, default=0, help="turns per add (0: one add per session)")
    d.add_argument("--roles", choices=("both", "single"), default="both")
    r = p.add_argument_group("run and scoring")
    r.add_argument("--modes", default=",".join(MODES))
    r.add_argument("--concurrency", type=int, default=1, help="conversations in flight at once")
    r.add_argument("--cover", type=float, default=Thresholds().cover, help="coverage: share of a fact's words found in the turn")
    r.add_argument("--drop", type=float, default=Thresholds().drop, help="UPDATE: share of the old words dropped to be suspect")
    r.add_argument("--embed-threshold", type=float, default=None,
                   help="also count a memory as covering a turn at this cosine (embedding matcher; off by default)")
    r.add_argument("--quote", action="store_true",
                   help="quote turns and memories (examples in the report, texts in the JSON); never for bench/results/")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    r.add_argument("--json", type=Path, default=None,
                   help="every figure and detail (default: --out with .json; for the default --out, "
                   f"{DEFAULT_JSON}: the details of a full run are ~1 MB, kept out of the repository)")
    return p.parse_args(argv)


def options_of(args: argparse.Namespace) -> Options:
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise SystemExit(f"--modes: unknown {bad}; use {','.join(MODES)}")
    if args.embedder:
        embedder = _json_arg("--embedder", args.embedder)
    else:
        embedder = embedder_section(args.embed_base_url or args.base_url, args.api_key, args.embed_model, args.embed_dims)
    return Options(
        base_url=args.base_url, model=args.model, api_key=args.api_key, embedder=embedder,
        llm_config=_json_arg("--llm-config", args.llm_config), engine=_json_arg("--engine", args.engine),
        conversations=args.conversations, conv_ids=[c for c in args.conv.split(",") if c],
        sessions=args.sessions, chunk_turns=args.chunk_turns, roles=args.roles,
        concurrency=args.concurrency, modes=modes,
        thresholds=Thresholds(cover=args.cover, drop=args.drop, embed=args.embed_threshold),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"--data: {args.data} not found (LoCoMo dev half, read from ../shared/data/locomo/ at run time)")
    server = None
    if args.scripted:
        from bench.infer_eval.scripted import model, serve

        server = serve(model(args.scripted))
        args.base_url, args.api_key, args.model = server.url, "sk-infer-eval", "gpt-4.1-mini"
        args.embed_base_url, args.embed_model, args.embed_dims = None, "text-embedding-3-small", 384
    elif not args.base_url and not os.environ.get("OPENAI_API_KEY"):
        raise SystemExit("no model: give --base-url (any OpenAI-compatible server) and --model, or --scripted rule")
    try:
        opts = options_of(args)
        convs = select(load(args.data), opts)
        result = asyncio.run(evaluate(convs, opts))
    finally:
        if server is not None:
            server.stop()
    argv_shown = list(sys.argv[1:] if argv is None else argv)
    meta = {
        "command": " ".join([".venv/bin/python bench/infer_eval/bench_infer_eval.py", shlex.join(argv_shown)]).strip(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "python": platform.python_version(),
        "scripted": args.scripted,
        "model": opts.model,
        "base_url": "loopback" if args.scripted else opts.base_url,
        "embedder": {k: v for k, v in opts.embedder.items() if k != "config"}
        | {"config": {k: v for k, v in opts.embedder.get("config", {}).items() if k not in ("api_key", "base_url")}},
        "data": str(args.data.name),
        "conversations": [c["id"] for c in convs],
        "sessions": opts.sessions,
        "chunk_turns": opts.chunk_turns,
        "roles": opts.roles,
        "thresholds": asdict(opts.thresholds),
    }
    text = report(result, meta, quote=args.quote)
    if args.out.is_file():  # a "## Notes" section written by hand is kept
        old = args.out.read_text(encoding="utf-8")
        if (at := old.find("\n## Notes")) >= 0:
            text += old[at:]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    json_path = args.json or (DEFAULT_JSON if args.out.resolve() == DEFAULT_OUT else args.out.with_suffix(".json"))
    diff = {}
    if all(m in result for m in MODES):
        a, b = result["two_call"]["total"], result["one_call"]["total"]
        diff = {k: b[k] - a[k] for k in a if isinstance(a[k], (int, float))}
    json_path.write_text(json.dumps({"meta": meta, "modes": result if args.quote else redact(result), "diff_one_minus_two": diff}, indent=1), encoding="utf-8")
    print(text)
    print(f"wrote {args.out} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
