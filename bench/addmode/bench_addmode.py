"""The two add modes compared: ``add_mode = two_call`` (default) against ``one_call`` (issue #9).

Two parts, written to ``bench/results/addmode.md`` (and ``--json``):

1. **Agreement** (in process, no timing): the same scripted model answers both modes
   (``mem7_core.testing.one_call.as_one_call`` turns its two-call answers into the one-call answer),
   so any difference in what is stored comes from the pipelines: which candidates each retrieves
   (per extracted fact, or per sentence of the conversation before extraction) and what the
   decision sees. Runs the scripted conversations of ``tests/add_conversations.json`` and a
   synthetic stream of adds into a scope of 2,000 memories, with two models: the rule-based one
   (``rule_based_reply``) and the overhead benchmark's decision mix (``bench/overhead/loopback.py``'s
   ``decide``: ADD 50 % / UPDATE of the first shown candidate 30 % / NONE 20 %).
2. **Speed**: ``AsyncMemory`` with mem7-flat and mem7-openai (LLM and 384-d embeddings over HTTP) to
   the loopback server in its own process (``loopback_addmode.py``: the overhead bench's server,
   answering one-call prompts consistently and counting chat calls in flight), a scope of N
   memories as in ``bench/overhead``: sequential add(infer=True) with the chat answering instantly
   and with +50 ms per chat call, and bursts of 64 concurrent adds (one scope; 64 scopes).

    .venv/bin/python bench/addmode/bench_addmode.py                      # writes bench/results/addmode.md
    .venv/bin/python bench/addmode/bench_addmode.py --n 1000 --ops 20 --out /tmp/a.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench._common.loopback import Loopback  # noqa: E402 - after the sys.path line

CONVERSATIONS = ROOT / "tests/add_conversations.json"
MODES = ("two_call", "one_call")


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ agreement
async def agreement_run(mode: str, script: Any, sessions: list[dict[str, Any]], seed_rows: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Run ``sessions`` (scope + adds) in ``mode`` with ``script``; what each scope ends with."""
    from mem7_core import AsyncMemory
    from mem7_core.engine.records import new_payload
    from mem7_core.ids import iso, uuid7
    from mem7_core.models import Scope, VectorRecord
    from mem7_core.testing.fakes import ScriptedLLM, hash_embedding
    from mem7_core.testing.one_call import as_one_call

    cfg = {"llm": None, "embedder": {"provider": "hash", "config": {"dims": 384}}, "vector_store": {"provider": "flat"},
           "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}, "add_mode": mode}
    llm = ScriptedLLM(as_one_call(script))
    shown: list[list[str] | None] = []  # per add: the candidates retrieved (None: no retrieval)
    current: list[list[str]] = []
    events: Counter[str] = Counter()
    async with AsyncMemory(cfg, llm=llm, clock=lambda: datetime(2025, 6, 1, tzinfo=UTC)) as mem:
        candidates = mem._write_path._candidates

        async def recording(vectors: Any, scope: Any) -> Any:
            found = await candidates(vectors, scope)
            current.append([t for _, t in found])
            return found

        mem._write_path._candidates = recording  # type: ignore[method-assign]
        if seed_rows:
            scope = Scope(**sessions[0]["scope"])
            base = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
            await mem.vector_store.insert([
                VectorRecord(id=uuid7(), vector=hash_embedding(t, 384),
                             payload=new_payload(t, scope=scope, now=iso(datetime.fromtimestamp(base + i, UTC)), memory_type=c))
                for i, (c, t) in enumerate(seed_rows)
            ])
        adds = 0
        for session in sessions:
            for messages in session["adds"]:
                current.clear()
                out = await mem.add(messages, **session["scope"])
                shown.append(current[0] if current else None)
                events.update(r["event"] for r in out["results"])
                adds += 1
        final = {}
        for session in sessions:
            key = json.dumps(session["scope"], sort_keys=True)
            items = (await mem.get_all(**session["scope"], limit=100_000))["results"]
            final[key] = sorted((i["memory"], i["memory_type"]) for i in items)
    return {"final": final, "calls": len(llm.calls), "adds": adds, "events": dict(events), "shown": shown}


_REPHRASE = (("I'm ", "User is "), ("I am ", "User is "), ("I ", "User "), ("My ", "User's "), ("my ", "user's "))


def rephrasing(script: Any) -> Any:
    """``script`` with facts reworded in the third person ("I love sushi" → "User love sushi"), as real
    models do: a fact's words then differ from its sentence's, so retrieving candidates per sentence
    (one_call) and per fact (two_call) can find different neighbours."""
    from mem7_core.providers.tasks import AGENT_FACT_EXTRACTION_MARKER, FACT_EXTRACTION_MARKER

    def reword(text: str) -> str:
        for old, new in _REPHRASE:
            if text.startswith(old):
                return new + text[len(old):]
        return "User: " + text

    def reply(messages: Any) -> Any:
        answer = script(messages)
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        if not system.startswith((FACT_EXTRACTION_MARKER, AGENT_FACT_EXTRACTION_MARKER)):
            return answer
        obj = json.loads(answer) if isinstance(answer, str) else answer
        return {"facts": [{**f, "text": reword(f["text"])} for f in obj["facts"]]}

    return reply


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How far two runs' final stores agree: scopes identical, and memories (text, type) in common."""
    same_scopes = sum(1 for k in a["final"] if a["final"][k] == b["final"].get(k))
    ma = Counter((k, *m) for k, ms in a["final"].items() for m in ms)
    mb = Counter((k, *m) for k, ms in b["final"].items() for m in ms)
    common, union = sum((ma & mb).values()), sum((ma | mb).values())
    texts_a = Counter((k, m[0]) for k, ms in a["final"].items() for m in ms)
    texts_b = Counter((k, m[0]) for k, ms in b["final"].items() for m in ms)
    overlaps = []
    for sa, sb in zip(a["shown"], b["shown"]):
        if sa is None or sb is None:  # two_call retrieves nothing when no fact was extracted
            continue
        u = set(sa) | set(sb)
        overlaps.append(len(set(sa) & set(sb)) / len(u) if u else 1.0)
    retrieved_a = [len(x) for x in a["shown"] if x is not None]
    retrieved_b = [len(x) for x in b["shown"] if x is not None]
    return {
        "scopes": len(a["final"]),
        "scopes_identical": same_scopes,
        "memories_a": sum(ma.values()),
        "memories_b": sum(mb.values()),
        "memory_jaccard": common / union if union else 1.0,
        "text_jaccard": sum((texts_a & texts_b).values()) / max(1, sum((texts_a | texts_b).values())),
        "only_a": sorted(f"{t} [{c}]" for (k, t, c) in (ma - mb).elements())[:8],
        "only_b": sorted(f"{t} [{c}]" for (k, t, c) in (mb - ma).elements())[:8],
        "n_only_a": sum((ma - mb).values()),
        "n_only_b": sum((mb - ma).values()),
        "candidate_jaccard_mean": statistics.fmean(overlaps) if overlaps else float("nan"),
        "candidates_mean_a": statistics.fmean(retrieved_a) if retrieved_a else 0.0,
        "candidates_mean_b": statistics.fmean(retrieved_b) if retrieved_b else 0.0,
        "adds_compared": len(overlaps),
    }


async def agreement(args: argparse.Namespace, overhead: Any, loopback: Any) -> list[dict[str, Any]]:
    from mem7_core.testing.fakes import rule_based_reply

    scripted = json.loads(CONVERSATIONS.read_text())["sessions"]
    rng = random.Random(args.seed)
    items = overhead.corpus(2_000, args.seed + 1)
    avoid = {t for _, t in items}
    synthetic = [{"scope": {"user_id": "synthetic"}, "adds": [overhead.conversation(rng, avoid) for _ in range(args.agreement_adds)]}]
    # Half of the synthetic adds restate a stored memory or an earlier added sentence, so NONE/UPDATE paths run.
    restated: dict[int, str] = {}  # add index → the stored memory it restates word for word
    for i, conv in enumerate(synthetic[0]["adds"]):
        if i % 4 == 1:
            restated[i] = items[rng.randrange(len(items))][1]
            conv[0]["content"] += " " + restated[i] + "."
        elif i % 4 == 3:
            conv[0]["content"] += " " + synthetic[0]["adds"][rng.randrange(i)][0]["content"].split(". ")[0].rstrip(".") + "."
    models = {
        "rule-based": rule_based_reply,
        "rule-based, rephrasing": rephrasing(rule_based_reply),
        "decision mix (bench/overhead decide)": loopback.two_call_script,
        "decision mix, rephrasing": rephrasing(loopback.two_call_script),
    }
    rows = []
    for model_name, script in models.items():
        for corpus_name, sessions, seed_rows in (
            (f"tests/add_conversations.json ({len(scripted)} scopes, {sum(len(s['adds']) for s in scripted)} adds)", scripted, None),
            (f"synthetic: {args.agreement_adds} adds into a scope of 2,000 memories", synthetic, items),
        ):
            runs = {m: await agreement_run(m, script, sessions, seed_rows) for m in MODES}
            cmp = compare(runs["two_call"], runs["one_call"])
            if seed_rows:  # did each mode show the LLM the very memory the add restates?
                cmp["restated_found"] = {
                    m: sum(1 for i, t in restated.items() if t in (runs[m]["shown"][i] or [])) / len(restated) for m in MODES
                }
            row = {"model": model_name, "corpus": corpus_name, **cmp,
                   "llm_calls_per_add": {m: runs[m]["calls"] / runs[m]["adds"] for m in MODES},
                   "events": {m: runs[m]["events"] for m in MODES}}
            rows.append(row)
            log(f"agreement [{model_name}] {corpus_name}: scopes {cmp['scopes_identical']}/{cmp['scopes']}, "
                f"memory jaccard {cmp['memory_jaccard']:.3f}, candidates jaccard {cmp['candidate_jaccard_mean']:.3f}, "
                f"restated found {cmp.get('restated_found')}")
    return rows


# ------------------------------------------------------------------------------------ speed
def timed_locks(locks: Any) -> Any:
    """The engine's own ScopeLocks (shared by its stages), also summing the time spent waiting for
    and holding scope locks."""
    from contextlib import asynccontextmanager

    hold = locks.hold
    locks.waited = 0.0
    locks.held = 0.0

    @asynccontextmanager
    async def timed_hold(key: Any) -> Any:
        t0 = time.perf_counter()
        async with hold(key):
            t1 = time.perf_counter()
            locks.waited += t1 - t0
            try:
                yield
            finally:
                locks.held += time.perf_counter() - t1

    locks.hold = timed_hold
    return locks


async def speed(args: argparse.Namespace, overhead: Any, srv: Loopback, mode: str) -> dict[str, Any]:
    from mem7_core import AsyncMemory

    rng = random.Random(args.seed + 7)
    scopes_per_burst = args.concurrency
    need = args.n + scopes_per_burst * args.per_scope
    items = overhead.corpus(need, args.seed)
    avoid = {t for _, t in items}
    mat, _, how = overhead.corpus_vectors([t for _, t in items], args.corpus_cache)
    tmp = tempfile.mkdtemp(prefix="mem7-bench-addmode-")
    cfg = overhead.engine_config(srv.url, srv.api_key, os.path.join(tmp, f"history-{mode}.db"))
    cfg["add_mode"] = mode
    mem = AsyncMemory(cfg)
    locks = timed_locks(mem._locks)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    uid = "bench-user"
    await overhead.populate(mem, items, mat, range(args.n), uid, age_from=base)
    others = [f"scope-{i}" for i in range(scopes_per_burst)]
    for i, user in enumerate(others):
        start = args.n + i * args.per_scope
        await overhead.populate(mem, items, mat, range(start, start + args.per_scope), user, age_from=base)
    out: dict[str, Any] = {"mode": mode, "n": args.n, "corpus_from": how}

    async def sequential(ops: int) -> dict[str, Any]:
        before = srv.counts()
        lat = []
        c0 = time.process_time()
        for _ in range(ops):
            conv = overhead.conversation(rng, avoid)
            t0 = time.perf_counter()
            await mem.add(conv, user_id=uid)
            lat.append(time.perf_counter() - t0)
        cpu = time.process_time() - c0
        calls = srv.counts()
        calls.subtract(before)
        return {"ops": ops, "p50_ms": statistics.median(lat) * 1e3, "p95_ms": overhead.pct(lat, 0.95) * 1e3,
                "mean_ms": statistics.fmean(lat) * 1e3, "cpu_ms": cpu / ops * 1e3,
                "chat_per_op": calls["chat"] / ops, "emb_per_op": calls["embeddings"] / ops}

    async def burst(users: list[str]) -> dict[str, Any]:
        convs = [overhead.conversation(rng, avoid) for _ in users]
        before = srv.counts()
        srv.cmd(cmd="inflight_reset")
        w0, h0 = locks.waited, locks.held
        c0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(mem.add(c, user_id=u) for c, u in zip(convs, users)), return_exceptions=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        lock_wait, lock_held = locks.waited - w0, locks.held - h0
        inflight = srv.cmd(cmd="inflight")["max"]
        calls = srv.counts()
        calls.subtract(before)
        failed = [r for r in results if isinstance(r, BaseException)]
        done = [r for r in results if not isinstance(r, BaseException)]
        changes = [a for r in done for a in r["results"] if a["event"] in ("ADD", "UPDATE")]
        found = {rec.id: rec.payload.get("data") for rec in await mem.vector_store.get([a["id"] for a in changes])}
        stored = sum(1 for a in changes if found.get(a["id"]) == a["memory"])
        return {"wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3, "max_chat_in_flight": inflight,
                "lock_wait_ms": lock_wait * 1e3, "lock_held_ms": lock_held * 1e3, "answered": len(done),
                "failed": len(failed), "adds_with_change": sum(1 for r in done if any(a["event"] in ("ADD", "UPDATE") for a in r["results"])),
                "changes": len(changes), "changes_stored": stored, "chat": calls["chat"], "embeddings": calls["embeddings"],
                "events": dict(Counter(a["event"] for r in done for a in r["results"]))}

    def med(bursts: list[dict[str, Any]]) -> dict[str, Any]:
        walls = [b["wall_ms"] for b in bursts]
        mid = sorted(bursts, key=lambda b: b["wall_ms"])[len(bursts) // 2]
        return {**mid, "walls_ms": walls, "answered_all": all(b["answered"] == len(others) for b in bursts),
                "stored_all": all(b["changes_stored"] == b["changes"] for b in bursts)}

    try:
        srv.cmd(cmd="chat_latency", value=0.0)
        await sequential(args.warmup)
        await burst([uid] * scopes_per_burst)  # opens the connections a burst needs
        out["instant"] = await sequential(args.ops)
        log(f"[{mode}] instant: p50 {out['instant']['p50_ms']:.2f} ms, {out['instant']['chat_per_op']:.2f} chat/op")
        out["burst_one_scope_0ms"] = med([await burst([uid] * scopes_per_burst) for _ in range(args.bursts)])
        srv.cmd(cmd="chat_latency", value=args.chat_latency)
        await sequential(3)
        out["slow"] = await sequential(args.slow_ops)
        log(f"[{mode}] chat +{args.chat_latency * 1e3:.0f} ms: p50 {out['slow']['p50_ms']:.2f} ms")
        out["burst_one_scope"] = med([await burst([uid] * scopes_per_burst) for _ in range(args.bursts)])
        out["burst_many_scopes"] = med([await burst(others) for _ in range(args.bursts)])
        log(f"[{mode}] {args.concurrency} concurrent, chat +latency: one scope {out['burst_one_scope']['wall_ms']:.0f} ms "
            f"(in flight {out['burst_one_scope']['max_chat_in_flight']}), {args.concurrency} scopes {out['burst_many_scopes']['wall_ms']:.0f} ms "
            f"(in flight {out['burst_many_scopes']['max_chat_in_flight']})")
    finally:
        srv.cmd(cmd="chat_latency", value=0.0)
        await mem.aclose()
    return out


# ------------------------------------------------------------------------------------ engine alone
async def engine_alone(args: argparse.Namespace, overhead: Any, mode: str) -> dict[str, Any]:
    """The engine's own cost, no HTTP: in-process scripted LLM (the same answers, ``delay`` per
    call) and a precomputed embedder (the server's hash vectors, looked up), flat and SQLite as
    in the speed part. What is left is the engine, the flat search and the history writes."""
    import numpy as np

    from bench.addmode import loopback_addmode as loopback
    from mem7_core import AsyncMemory
    from mem7_core.providers.embedder import Embedder
    from mem7_core.testing.fakes import ScriptedLLM, hash_embedding
    from mem7_core.testing.one_call import as_one_call

    rng = random.Random(args.seed + 11)
    items = overhead.corpus(args.n + args.concurrency * args.per_scope, args.seed)
    avoid = {t for _, t in items}
    mat, _, _ = overhead.corpus_vectors([t for _, t in items], args.corpus_cache)
    convs = [overhead.conversation(rng, avoid) for _ in range(args.warmup + args.ops + 4 * args.concurrency)]
    table: dict[str, Any] = {}
    for c in convs:  # both spellings: the sentence (one_call retrieval) and the fact (no final period)
        for sentence in c[0]["content"].split(". "):
            for t in (sentence.rstrip(".") + ".", sentence.rstrip(".")):
                table[t] = np.asarray(hash_embedding(t, 384), dtype=np.float32)

    class Precomputed(Embedder):
        name = "precomputed"

        def __init__(self) -> None:
            super().__init__(None)

        @property
        def dims(self) -> int:
            return 384

        async def embed(self, texts: Any, *, purpose: Any = "add") -> list[Any]:
            return [table[t] if t in table else np.asarray(hash_embedding(t, 384), dtype=np.float32) for t in texts]

    tmp = tempfile.mkdtemp(prefix="mem7-bench-addmode-alone-")
    cfg = {"llm": None, "embedder": {"provider": "hash", "config": {"dims": 384}}, "vector_store": {"provider": "flat", "config": {"dims": 384}},
           "history_store": {"provider": "sqlite", "config": {"path": os.path.join(tmp, "history.db")}}, "add_mode": mode}
    llm = ScriptedLLM(as_one_call(loopback.two_call_script))
    mem = AsyncMemory(cfg, llm=llm, embedder=Precomputed())
    base = datetime(2024, 1, 1, tzinfo=UTC)
    await overhead.populate(mem, items, mat, range(args.n), "bench-user", age_from=base)
    others = [f"scope-{i}" for i in range(args.concurrency)]
    for i, user in enumerate(others):
        start = args.n + i * args.per_scope
        await overhead.populate(mem, items, mat, range(start, start + args.per_scope), user, age_from=base)
    it = iter(convs)
    out: dict[str, Any] = {}
    try:
        for _ in range(args.warmup):
            await mem.add(next(it), user_id="bench-user")
        lat = []
        c0 = time.process_time()
        for _ in range(args.ops):
            t0 = time.perf_counter()
            await mem.add(next(it), user_id="bench-user")
            lat.append(time.perf_counter() - t0)
        out["sequential"] = {"p50_ms": statistics.median(lat) * 1e3, "cpu_ms": (time.process_time() - c0) / args.ops * 1e3}
        llm.delay = args.chat_latency
        for name, users in (("one_scope", ["bench-user"] * args.concurrency), ("many_scopes", others)):
            walls, cpus = [], []
            for _ in range(2):
                batch = [next(it) for _ in users]
                c0, t0 = time.process_time(), time.perf_counter()
                await asyncio.gather(*(mem.add(c, user_id=u) for c, u in zip(batch, users)))
                walls.append((time.perf_counter() - t0) * 1e3)
                cpus.append((time.process_time() - c0) * 1e3)
            out[name] = {"wall_ms": min(walls), "walls_ms": walls, "cpu_ms": min(cpus)}
    finally:
        await mem.aclose()
    log(f"[{mode}] engine alone: sequential CPU {out['sequential']['cpu_ms']:.2f} ms/add; {args.concurrency} concurrent: "
        f"one scope {out['one_scope']['wall_ms']:.0f} ms, {args.concurrency} scopes {out['many_scopes']['wall_ms']:.0f} ms")
    return out


# ------------------------------------------------------------------------------------ report
def _git() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout
        return f"commit {head}" + (", with local changes (uncommitted work of several sessions)" if dirty.strip() else "")
    except OSError:
        return "unknown"


def write_report(args: argparse.Namespace, agree: list[dict[str, Any]], fast: dict[str, dict[str, Any]], alone: dict[str, dict[str, Any]],
                 total_s: float) -> str:
    lines = [
        "# Add modes: two_call (default) against one_call",
        "",
        "`MemoryConfig.add_mode` (issue #9). **two_call**: extract facts (LLM 1) → embed the facts → "
        "each fact's nearest memories (one `search_many` round) → decide ADD / UPDATE / DELETE / NONE "
        "(LLM 2). **one_call**: embed the conversation's sentences → their nearest memories (one "
        "`search_many` round) → one LLM call returns the facts *and* the decisions (UPDATE and DELETE "
        "kept) → embed the new texts. Both modes share the plan step (`plan_changes`: integer ids "
        "mapped back, unknown ids, facts the decisions leave out are added) and the apply step.",
        "",
        "## 1. Agreement between the modes",
        "",
        "What is measured: the same scripted model answers both modes — `as_one_call` builds the one-call "
        "answer from the model's own two-call answers to the prompts the two-call pipeline would have sent "
        "— and the final stores are compared (per scope: memory text and type). With such a model, a "
        "difference can only come from the pipelines: the candidates each retrieves (per extracted fact, "
        "or per sentence before anything is extracted) and what the decision sees.",
        "",
        "| model | conversations | scopes identical | memories two / one | memory Jaccard | candidates retrieved per add two / one | candidate-set Jaccard (adds) | LLM calls per add two / one |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in agree:
        lines.append(
            f"| {r['model']} | {r['corpus']} | {r['scopes_identical']}/{r['scopes']} | {r['memories_a']} / {r['memories_b']} | "
            f"{r['memory_jaccard']:.3f} | {r['candidates_mean_a']:.1f} / {r['candidates_mean_b']:.1f} | "
            f"{r['candidate_jaccard_mean']:.3f} ({r['adds_compared']}) | {r['llm_calls_per_add']['two_call']:.2f} / {r['llm_calls_per_add']['one_call']:.2f} |"
        )
    lines.append("")
    for r in agree:
        if "restated_found" in r:
            lines.append(f"- {r['model']}, {r['corpus']}: adds restating a stored memory word for word whose "
                         f"candidates include that memory: two_call {r['restated_found']['two_call']:.0%}, "
                         f"one_call {r['restated_found']['one_call']:.0%}")
    for r in agree:
        def short(xs: list[str]) -> str:
            return "; ".join(f"`{x if len(x) <= 90 else x[:87] + '…'}`" for x in xs[:2])

        lines.append(f"- {r['model']}, {r['corpus']}: events two_call {r['events']['two_call']}, one_call {r['events']['one_call']}"
                     + (f". Only in two_call ({r['n_only_a']}), e.g. {short(r['only_a'])}; only in one_call ({r['n_only_b']}), e.g. "
                        f"{short(r['only_b'])}" if r["only_a"] or r["only_b"] else ""))
    lines += [
        "",
        "What this cannot measure: how a real model's answers differ between one long prompt and two short "
        "ones (facts it misses or words differently when it must also decide; decisions made with the "
        "whole conversation in view instead of the extracted facts). The scripted model extracts exactly "
        "the user's sentences, so per-sentence retrieval finds the same neighbours as per-fact retrieval "
        "here; with a model that rephrases, the candidates differ more. That needs a run against a real "
        "model (for example the LoCoMo harness in `bench/locomo` with an API key), which this machine "
        "has not got.",
        "",
        "## 2. Speed",
        "",
        f"`AsyncMemory` with mem7-flat (in memory) and mem7-openai as LLM and embedder (384-d) over HTTP to "
        f"the loopback server in its own process (`bench/addmode/loopback_addmode.py`: the `bench/overhead` "
        f"server and decision mix, answering one-call prompts consistently, counting chat calls in flight). "
        f"{args.n:,} memories in the measured scope (the `bench/overhead` corpus and its exact vectors), "
        f"plus {args.concurrency} other scopes of {args.per_scope} memories for the many-scope bursts. "
        f"Conversations: a user turn of 1–2 new fact sentences and an assistant turn. Sequential adds: "
        f"p50 / p95 per add; CPU is the engine process's `process_time`. Bursts: {args.concurrency} adds "
        f"at once (`asyncio.gather`), median wall of {args.bursts}; *stored* counts ADD/UPDATE results "
        f"found in the store with their text afterwards.",
        "",
        "| workload | two_call | one_call |",
        "|---|---:|---:|",
    ]
    t, o = fast["two_call"], fast["one_call"]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | {fn(t)} | {fn(o)} |")

    row("add(infer=True), chat instant: p50 / p95 ms", lambda r: f"{r['instant']['p50_ms']:.2f} / {r['instant']['p95_ms']:.2f}")
    row("… engine-process CPU ms per add", lambda r: f"{r['instant']['cpu_ms']:.2f}")
    row("… chat / embedding calls per add", lambda r: f"{r['instant']['chat_per_op']:.2f} / {r['instant']['emb_per_op']:.2f}")
    row(f"add(infer=True), chat +{args.chat_latency * 1e3:.0f} ms: p50 / p95 ms", lambda r: f"{r['slow']['p50_ms']:.2f} / {r['slow']['p95_ms']:.2f}")
    row("… engine-process CPU ms per add", lambda r: f"{r['slow']['cpu_ms']:.2f}")
    for key, label in (("burst_one_scope_0ms", f"{args.concurrency} concurrent adds, one scope, chat instant"),
                       ("burst_one_scope", f"{args.concurrency} concurrent adds, one scope, chat +{args.chat_latency * 1e3:.0f} ms"),
                       ("burst_many_scopes", f"{args.concurrency} concurrent adds, {args.concurrency} scopes, chat +{args.chat_latency * 1e3:.0f} ms")):
        row(f"{label}: wall ms (bursts)", lambda r, k=key: f"**{r[k]['wall_ms']:.0f}** ({', '.join(f'{w:.0f}' for w in r[k]['walls_ms'])})")
        row("… most chat calls in flight at once", lambda r, k=key: f"{r[k]['max_chat_in_flight']}")
        row("… scope locks: held ms in total (the serialised part) / waited ms summed over adds",
            lambda r, k=key: f"{r[k]['lock_held_ms']:.0f} / {r[k]['lock_wait_ms']:.0f}")
        row("… answered / failed; adds storing a change; changes stored", lambda r, k=key: (
            f"{r[k]['answered']}/{args.concurrency} / {r[k]['failed']}; {r[k]['adds_with_change']}; {r[k]['changes_stored']}/{r[k]['changes']}"))
        row("… engine-process CPU ms per burst; chat / embedding calls", lambda r, k=key: f"{r[k]['cpu_ms']:.0f}; {r[k]['chat']} / {r[k]['embeddings']}")
    if alone:
        a2, a1 = alone["two_call"], alone["one_call"]
        lines += [
            "",
            "### The engine alone (no HTTP)",
            "",
            "The same adds with the providers in process: the scripted model answering the same "
            f"(`ScriptedLLM`, +{args.chat_latency * 1e3:.0f} ms per call for the bursts) and the server's "
            "embeddings precomputed (looked up, so no embedding CPU). Left: the engine, the flat search "
            f"({args.n:,} rows) and the SQLite history. The gap to the table above is the HTTP client's CPU.",
            "",
            "| workload | two_call | one_call |",
            "|---|---:|---:|",
            f"| sequential add, chat instant: p50 ms / CPU ms per add | {a2['sequential']['p50_ms']:.2f} / {a2['sequential']['cpu_ms']:.2f} | "
            f"{a1['sequential']['p50_ms']:.2f} / {a1['sequential']['cpu_ms']:.2f} |",
            f"| {args.concurrency} concurrent adds, one scope, +{args.chat_latency * 1e3:.0f} ms: wall ms (2 bursts, best) / CPU ms | "
            f"{a2['one_scope']['wall_ms']:.0f} / {a2['one_scope']['cpu_ms']:.0f} | {a1['one_scope']['wall_ms']:.0f} / {a1['one_scope']['cpu_ms']:.0f} |",
            f"| {args.concurrency} concurrent adds, {args.concurrency} scopes, +{args.chat_latency * 1e3:.0f} ms: wall ms (2 bursts, best) / CPU ms | "
            f"{a2['many_scopes']['wall_ms']:.0f} / {a2['many_scopes']['cpu_ms']:.0f} | {a1['many_scopes']['wall_ms']:.0f} / {a1['many_scopes']['cpu_ms']:.0f} |",
        ]
    lines += [
        "",
        "## Machine and command",
        "",
        f"- CPU: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}; Python {platform.python_version()}",
        f"- BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')} (OPENBLAS_NUM_THREADS)",
        f"- load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared machine: wall times are noisy)",
        f"- code: {_git()}",
        f"- total run time: {total_s:.0f} s",
        "",
        "```",
        "cd /work/main && " + " ".join(["OPENBLAS_NUM_THREADS=" + os.environ["OPENBLAS_NUM_THREADS"]] if "OPENBLAS_NUM_THREADS" in os.environ else [])
        + (" " if "OPENBLAS_NUM_THREADS" in os.environ else "") + ".venv/bin/python bench/addmode/bench_addmode.py " + " ".join(sys.argv[1:]),
        "```",
        "",
    ]
    return "\n".join(lines)


NOTES_MARK = "## Notes"


def main() -> None:
    import logging

    # The decision mix often answers UPDATE with a merged text the plan cannot map back to its fact,
    # and the guard re-adds the fact with a warning (by design, in both modes): keep stderr readable.
    logging.getLogger("mem7.add").setLevel(logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="memories in the measured scope")
    p.add_argument("--per-scope", type=int, default=100, help="memories in each of the many-scope burst's scopes")
    p.add_argument("--ops", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--slow-ops", type=int, default=30)
    p.add_argument("--chat-latency", type=float, default=0.05)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--bursts", type=int, default=3)
    p.add_argument("--agreement-adds", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--corpus-cache", type=Path, default=None)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "bench/results/addmode.md")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.corpus_cache is None:
        args.corpus_cache = Path(tempfile.gettempdir()) / f"mem7-bench-addmode-corpus-{args.seed}-{args.n}-{args.concurrency}x{args.per_scope}.npy"
    from bench.addmode import loopback_addmode as loopback
    from bench.overhead import bench_overhead as overhead

    t0 = time.perf_counter()
    agree = asyncio.run(agreement(args, overhead, loopback))
    fast: dict[str, dict[str, Any]] = {}
    alone: dict[str, dict[str, Any]] = {}
    if not args.no_speed:
        for mode in MODES:
            alone[mode] = asyncio.run(engine_alone(args, overhead, mode))
        srv = Loopback(HERE / "loopback_addmode.py")
        try:
            for mode in MODES:
                fast[mode] = asyncio.run(speed(args, overhead, srv, mode))
            errors = srv.cmd(cmd="errors")["errors"]
            if errors:
                raise RuntimeError(f"the loopback server reported errors: {errors[:3]}")
        finally:
            srv.stop()
    total = time.perf_counter() - t0
    if args.json:
        args.json.write_text(json.dumps({"agreement": agree, "speed": fast, "engine_alone": alone}, indent=1, default=str))
    if fast:
        report = write_report(args, agree, fast, alone, total)
        notes = ""
        if args.out.exists() and NOTES_MARK in args.out.read_text():
            notes = args.out.read_text().split(NOTES_MARK, 1)[1]
        args.out.write_text(report + (f"\n{NOTES_MARK}{notes}" if notes else ""))
        log(f"wrote {args.out}")
    else:
        print(json.dumps(agree, indent=1, default=str))


if __name__ == "__main__":
    main()
