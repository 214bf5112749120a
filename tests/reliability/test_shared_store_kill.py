"""Issue 14 — one shared store of record per data directory, under ``kill -9`` and concurrency.

The embedded default (``MemoryConfig.embedded(data_dir)``, what ``mem7`` and ``mem7 serve
--data-dir`` run) keeps memories, vectors and history in one SQLite database per collection
(``<data_dir>/vectors/mem7_memories/mem7.db``) and commits each write's vectors and history events
in one transaction. So, whatever process dies and whenever:

1. ``mem7 serve`` with 4 concurrent REST writers, SIGKILLed at a random moment, 3 rounds on one
   directory: every acknowledged (200) add is stored with its text, at most the requests in
   flight at each kill are stored unacknowledged, history equals the store exactly, the database
   passes ``PRAGMA integrity_check``, and the restarted server lists every acknowledged memory.
2. A loop of ``mem7 add`` (the CLI's ``main`` called repeatedly in one process, then a shell loop
   of real ``mem7`` processes) SIGKILLed at random moments: every add whose ``ADD`` line was
   printed is stored; history equals the store.
3. ``mem7 import`` of an exported-memories JSONL file SIGKILLed mid-way, twice: the store holds
   whole import batches only (a prefix of the file, a multiple of the batch size), history equals
   the store, and re-running the import completes with the full set (ids already stored skipped).
4. Property: 2–3 processes run random add/update/delete scripts on one directory at once; the
   history table in commit order (rowid) is a serial log that, replayed, gives exactly the final
   store; every acknowledged operation is in it once, in each process's program order, and every
   UPDATE / DELETE event's old text is the text the log had at that point.
5. The cross-process races of (4), pinned deterministically with two engines on one directory
   (another engine's write landing between an engine's read of a record and its commit): an
   update keeps the other process's change, a delete racing a delete writes one DELETE event, an
   import (``on_conflict="skip"``) racing an import of the same id leaves the stored memory alone.

All processes run the hash embedder and no LLM (no MEM7_* / OPENAI_* variables reach them);
servers listen on loopback only. Kill moments come from seeded generators.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from _kit import consistency_problems, history_rows, records
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from mem7_core import AsyncMemory, MemoryConfig
from mem7_core.transfer import IMPORT_BATCH  # memory lines written per transaction by `mem7 import`

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLI_LOOP = HERE / "_shared_cli_loop.py"
OPS_WORKER = HERE / "_shared_ops_worker.py"
DB = Path("vectors") / "mem7_memories" / "mem7.db"


# ------------------------------------------------------------------------------------ helpers
def _env(**extra: str) -> dict[str, str]:
    """The environment of every child: no MEM7_* / OPENAI_* settings, the hash embedder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM7_", "OPENAI_"))}
    env.update({"MEM7_EMBEDDER__PROVIDER": "hash", "PYTHONPATH": os.pathsep.join(sys.path)})
    env.update(extra)
    return env


def _mem7_exe() -> str:
    exe = shutil.which("mem7", path=str(Path(sys.executable).parent)) or shutil.which("mem7")
    assert exe, "the mem7 console script is not installed (pip install -e . in the venv)"
    return exe


def _engine(data_dir: Path) -> AsyncMemory:
    return AsyncMemory(MemoryConfig.embedded(data_dir, embedder={"provider": "hash"}))


def _integrity(data_dir: Path) -> None:
    db = data_dir / DB
    if not db.exists():  # nothing written yet (a kill before the first commit); _check finds any loss
        return
    with sqlite3.connect(str(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _count(data_dir: Path) -> int:
    """Rows in the memories table, read without the engine (0 until the schema exists)."""
    db = data_dir / DB
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])
    except sqlite3.OperationalError:  # created, schema not written yet
        return 0


async def _state(data_dir: Path) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """Reopen the directory: (every stored record id -> payload, every history row in rowid order)."""
    _integrity(data_dir)
    async with _engine(data_dir) as mem:
        stored = await records(mem)
        rows = await history_rows(mem)
    _integrity(data_dir)
    return stored, rows


async def _check(data_dir: Path, acked: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every acknowledged id stored with its text; history equals the store; returns the store."""
    stored, rows = await _state(data_dir)
    missing = sorted(i for i in acked if i not in stored)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged memories lost: {missing[:5]}"
    wrong = {i: (t, stored[i].get("data")) for i, t in acked.items() if stored[i].get("data") != t}
    assert not wrong, f"acknowledged memories with another text: {list(wrong.items())[:5]}"
    problems = consistency_problems(stored, rows)
    assert not problems, "store and history disagree after SIGKILL:\n" + "\n".join(problems[:20])
    return stored


def _kill(proc: subprocess.Popen[str], *, group: bool = False) -> None:
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)


# ------------------------------------------------------------------------------------ 1. server
def _serve_module() -> Any:
    """tests/server/_serve.py (ServeProcess: ``mem7 serve --port 0`` on loopback, waits for its URL)."""
    if "_serve" in sys.modules:
        return sys.modules["_serve"]
    spec = importlib.util.spec_from_file_location("_serve", REPO / "tests" / "server" / "_serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_serve"] = module
    spec.loader.exec_module(module)
    return module


class Writers:
    """4 client threads POSTing ``infer: false`` adds until told to stop or the server dies."""

    USERS = ("shared", "shared", "solo-2", "solo-3")  # two share a scope (one lock), two have their own

    def __init__(self, url: str, round_: int) -> None:
        self.url = url
        self.round = round_
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}
        self.sent: set[str] = set()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(len(self.USERS))]

    def run(self, n: int) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=20) as http:
            for k in range(5_000):
                if self.stop.is_set():
                    return
                text = f"round {self.round} writer {n} note {k} on topic {k % 11}"
                with self.lock:
                    self.sent.add(text)
                try:
                    response = http.post("/memories", json={"messages": text, "user_id": self.USERS[n], "infer": False})
                except httpx.HTTPError:
                    return  # the server is gone (killed): this request was never acknowledged
                if response.status_code != 200:
                    with self.lock:
                        self.errors.append(f"{response.status_code} {response.text[:300]}")
                    return
                [added] = response.json()["results"]
                with self.lock:
                    if added["event"] != "ADD" or added["memory"] != text:
                        self.errors.append(f"unexpected result {added}")
                    self.acked[added["id"]] = text

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)
            assert not t.is_alive(), "a writer thread hung"


async def test_sigkill_of_serve_with_concurrent_writers(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="mem7 serve needs mem7-core[server]")
    pytest.importorskip("httpx")
    import httpx

    serve = _serve_module()
    rng = random.Random(14)
    data = tmp_path / "data"
    env = _env(MEM7_DATA_DIR=str(data), MEM7_USER_ID="default-user")
    acked: dict[str, str] = {}
    sent: set[str] = set()
    rounds = 3
    for round_ in range(rounds):
        server = serve.ServeProcess(env)
        server.start()
        try:
            if acked:  # the restarted server sees everything acknowledged before the kills
                with httpx.Client(base_url=server.url, timeout=20) as http:
                    listed: set[str] = set()
                    for user in set(Writers.USERS):
                        body = http.get("/memories", params={"user_id": user, "limit": 10_000}).json()
                        listed |= {m["id"] for m in body["results"]}
                missing = set(acked) - listed
                assert not missing, f"restarted server does not list {len(missing)} acknowledged memories"
            writers = Writers(server.url, round_)
            writers.start()
            target = rng.randint(5, 60)  # acknowledged adds this round before the kill is armed
            deadline = time.monotonic() + 20
            while writers.count() < target and time.monotonic() < deadline and not writers.errors:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)
            assert server.wait(30) == -signal.SIGKILL
        finally:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.kill()
                server.wait(10)
        writers.join()
        assert not writers.errors, writers.errors[:5]
        assert writers.count() >= target, f"only {writers.count()} adds acknowledged in round {round_}: {server.stderr}"
        acked |= writers.acked
        sent |= writers.sent
        stored = await _check(data, acked)
        # Nothing stored that no client sent, and unacknowledged stored writes only for requests in
        # flight at a kill (each writer has at most one outstanding).
        strange = [p.get("data") for p in stored.values() if p.get("data") not in sent]
        assert not strange, strange[:5]
        assert len(stored) - len(acked) <= len(Writers.USERS) * (round_ + 1), (len(stored), len(acked))
    assert len(acked) >= 3 * 5


# ------------------------------------------------------------------------------------ 2. CLI loop
def _added_lines(out: str) -> dict[str, str]:
    """``ADD     <id>  <text>`` lines complete on stdout -> id: text."""
    acked: dict[str, str] = {}
    for line in out.splitlines(keepends=True):
        if line.startswith("ADD") and line.endswith("\n"):
            _event, mem_id, text = line.rstrip("\n").split(maxsplit=2)
            acked[mem_id] = text
    return acked


async def test_sigkill_of_a_cli_add_loop(tmp_path: Path) -> None:
    rng = random.Random(1414)
    data = tmp_path / "data"
    acked: dict[str, str] = {}
    kills = 0
    # Rounds of the CLI's main() called in a loop in one process (each call opens its own engine,
    # as a `mem7 add` process would): killed after a random number of printed ADD lines.
    for round_, prints_before_kill in enumerate([0, 3, 11, 7]):
        proc = subprocess.Popen(
            [sys.executable, str(CLI_LOOP), str(data), f"loop{round_}", "10000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=_env(),
        )
        assert proc.stdout is not None
        lines: list[str] = []
        try:
            first = proc.stdout.readline()
            assert first == "READY\n", first + (proc.stderr.read() if proc.stderr else "")
            while sum(ln.startswith("ADD") for ln in lines) < prints_before_kill:
                line = proc.stdout.readline()
                assert line, "the CLI loop died early: " + (proc.stderr.read() if proc.stderr else "")
                assert not line.startswith("EXIT"), line
                lines.append(line)
            time.sleep(rng.uniform(0, 0.04))
        finally:
            _kill(proc)
            rest, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        kills += 1
        got = _added_lines("".join(lines) + rest)
        assert len(got) >= prints_before_kill
        acked |= got
        stored = await _check(data, acked)
        assert len(stored) - len(acked) <= kills, "more unacknowledged adds stored than kills"

    # A shell loop of real `mem7 add` processes, the whole process group killed at a random moment.
    script = (
        'for i in $(seq 0 99); do "$MEM7" --data-dir "$DATA" add --no-infer --user u "shell note $i" || exit 1; done'
    )
    for _round in range(2):
        proc = subprocess.Popen(
            ["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            env=_env(MEM7=_mem7_exe(), DATA=str(data)), start_new_session=True,
        )
        try:
            time.sleep(rng.uniform(1.2, 2.5))
        finally:
            _kill(proc, group=True)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        kills += 1
        got = _added_lines(out)
        assert got, f"no mem7 add finished before the kill: {err}"
        acked |= got
        stored = await _check(data, acked)
        assert len(stored) - len(acked) <= kills, "more unacknowledged adds stored than kills"


# ------------------------------------------------------------------------------------ 3. import
def _import(data: Path, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [_mem7_exe(), "--data-dir", str(data), "import", "--json", "--no-infer", str(source)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=_env(),
    )


async def test_sigkill_during_import_leaves_whole_batches(tmp_path: Path) -> None:
    rng = random.Random(77)
    total = 80 * IMPORT_BATCH
    # An exported-memories file, written by `mem7 export` from a small store and extended to
    # `total` lines in the same format (fresh ids; every field of the first line kept).
    origin = tmp_path / "origin"
    async with _engine(origin) as mem:
        await mem.add("the first exported memory", user_id="imp", infer=False, metadata={"src": "export"})
    export = subprocess.run(
        [_mem7_exe(), "--data-dir", str(origin), "export"], capture_output=True, text=True, env=_env(), timeout=60,
    )
    assert export.returncode == 0, export.stderr
    [template] = [json.loads(ln) for ln in export.stdout.splitlines()]
    lines = [template] + [
        {**template, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "memory": f"imported memory {i} on {i % 23}"}
        for i in range(1, total)
    ]
    source = tmp_path / "memories.jsonl"
    source.write_text("".join(json.dumps(ln) + "\n" for ln in lines), encoding="utf-8")
    order = [ln["id"] for ln in lines]
    texts = {ln["id"]: ln["memory"] for ln in lines}

    data = tmp_path / "data"
    for _round in range(2):
        before = _count(data)
        proc = _import(data, source)
        try:
            # Armed once this run has written something: then a random moment inside the import.
            deadline = time.monotonic() + 30
            while _count(data) <= before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
        finally:
            _kill(proc)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"the import ended before the kill (rc {proc.returncode}): {out} {err}"
        stored = await _check(data, {})
        n = len(stored)
        assert before < n < total, (before, n)
        # No torn batch: the store holds the file's first n lines, n a multiple of the batch size.
        assert n % IMPORT_BATCH == 0, f"{n} memories stored: not whole batches of {IMPORT_BATCH}"
        assert set(stored) == set(order[:n]), "the stored memories are not a prefix of the import file"
        assert all(stored[i]["data"] == texts[i] for i in stored)

    proc = _import(data, source)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["lines"] == report["imported"] == total, report
    assert report["memories"] + report["already_present"] == total and report["already_present"] == n, report
    stored = await _check(data, texts)
    assert len(stored) == total
    assert stored[order[0]].get("src") == "export", stored[order[0]]  # the exported line kept its metadata


# ------------------------------------------------------------------------------------ 4. property
OPS = st.lists(
    st.tuples(st.sampled_from(["add", "add", "update", "update", "delete"]), st.floats(0, 1, exclude_max=True)),
    min_size=25, max_size=30,
)
CONTENDED = [("add", 0.0), ("update", 0.0), ("delete", 0.0), ("update", 0.5), ("delete", 0.99)] * 6
SEEDED = 6


def _run_workers(data: Path, scripts: list[list[tuple[str, float]]]) -> list[list[dict[str, Any]]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(OPS_WORKER), str(data), f"p{n}", json.dumps(script)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for n, script in enumerate(scripts)
    ]
    try:
        for p in procs:  # every engine open first, then all start together
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line == "READY\n", line + (p.stderr.read() if p.stderr else "")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("GO\n")
            p.stdin.flush()
        for p in procs:
            p.stdin.close()  # type: ignore[union-attr]
            p.stdin = None  # communicate() below must not flush it again
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0 and out.endswith("DONE\n"), err[-3000:]
            results.append([json.loads(ln) for ln in out.splitlines() if ln.startswith("{")])
        return results
    finally:
        for p in procs:
            _kill(p)


def _replay(rows: list[tuple[Any, ...]]) -> tuple[dict[str, str], list[str]]:
    """Replay history rows (id, memory_id, event, old, new) in commit order: the expected store."""
    state: dict[str, str] = {}
    problems: list[str] = []
    for n, (_, mem_id, event, old, new) in enumerate(rows):
        if event == "ADD":
            if mem_id in state:
                problems.append(f"row {n}: ADD of {mem_id}, already live")
            state[mem_id] = new
        elif event == "UPDATE":
            if mem_id not in state:
                problems.append(f"row {n}: UPDATE of {mem_id}, not live")
            elif old != state[mem_id]:
                problems.append(f"row {n}: UPDATE of {mem_id} from {old!r}, but the log had {state[mem_id]!r}")
            state[mem_id] = new
        elif event == "DELETE":
            if mem_id not in state:
                problems.append(f"row {n}: DELETE of {mem_id}, not live")
            elif old != state[mem_id]:
                problems.append(f"row {n}: DELETE of {mem_id} from {old!r}, but the log had {state[mem_id]!r}")
            state.pop(mem_id, None)
        else:
            problems.append(f"row {n}: unknown event {event!r}")
    return state, problems


def _log_problems(rows: list[tuple[Any, ...]], results: list[list[dict[str, Any]]]) -> list[str]:
    """Every acknowledged operation is in the log once, in its process's order; refused ones are not."""
    problems: list[str] = []
    position: dict[tuple[str, str, str | None], list[int]] = {}
    for n, (_, mem_id, event, _old, new) in enumerate(rows):
        position.setdefault((event, mem_id, new), []).append(n)
    deleted = {mem_id for (event, mem_id, _new) in position if event == "DELETE"}
    ok_deletes: dict[str, int] = {}
    for w, ops in enumerate(results):
        last = -1
        for k, r in enumerate(ops):
            if r["id"] is None:
                continue
            if r["op"] == "add":
                key: tuple[str, str, str | None] = ("ADD", r["id"], r["text"])
            elif r["op"] == "update":
                key = ("UPDATE", r["id"], r["text"])
            else:
                key = ("DELETE", r["id"], None)
            if r["op"] == "add" or r["ok"]:
                where = position.get(key, [])
                if len(where) != 1:
                    problems.append(f"p{w} op {k} {r}: {len(where)} events in history")
                    continue
                if where[0] < last:
                    problems.append(f"p{w} op {k} {r}: committed before the process's previous operation")
                last = where[0]
                if r["op"] == "delete":
                    ok_deletes[r["id"]] = ok_deletes.get(r["id"], 0) + 1
            else:  # MemoryNotFoundError: only right if the memory really was deleted, and nothing written
                if r["id"] not in deleted:
                    problems.append(f"p{w} op {k} {r}: refused as not found, but never deleted")
                if r["op"] == "update" and key in position:
                    problems.append(f"p{w} op {k} {r}: refused, yet its UPDATE is in history")
    problems += [f"{i} deleted successfully by {c} calls" for i, c in ok_deletes.items() if c > 1]
    return problems


@settings(max_examples=5, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@example(scripts=[CONTENDED, CONTENDED[::-1], CONTENDED])
@given(scripts=st.lists(OPS, min_size=2, max_size=3))
def test_concurrent_processes_equal_the_serial_log(tmp_path_factory: pytest.TempPathFactory, scripts) -> None:
    data = tmp_path_factory.mktemp("prop") / "data"

    async def seed() -> set[str]:
        async with _engine(data) as mem:
            out = await mem.add([f"seed memory {i}" for i in range(SEEDED)], user_id="prop", infer=False)
            return {r["id"] for r in out["results"]}

    seeded = asyncio.run(seed())
    assert len(seeded) == SEEDED
    results = _run_workers(data, [list(s) for s in scripts])
    stored, rows = asyncio.run(_state(data))

    problems = consistency_problems(stored, rows)
    expected, replay_problems = _replay(rows)
    problems += replay_problems
    actual = {i: str(p.get("data")) for i, p in stored.items()}
    if expected != actual:
        problems.append(
            f"replayed log != store: only in log {sorted(set(expected) - set(actual))[:5]}, only in store "
            f"{sorted(set(actual) - set(expected))[:5]}, differing "
            f"{[(i, expected[i], actual[i]) for i in set(expected) & set(actual) if expected[i] != actual[i]][:5]}"
        )
    problems += _log_problems(rows, results)
    adds = sum(r["op"] == "add" for ops in results for r in ops)
    ok_deletes = sum(r["op"] == "delete" and bool(r.get("ok")) for ops in results for r in ops)
    if len(stored) != SEEDED + adds - ok_deletes:
        problems.append(f"{len(stored)} stored, expected {SEEDED} + {adds} adds - {ok_deletes} deletes")
    if sum(r[2] == "ADD" for r in rows) != SEEDED + adds:
        problems.append("ADD events != acknowledged adds")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])


# ------------------------------------------------------------------------------------ 5. races, pinned
# Deterministic forms of the cross-process races the property test runs into: two engines on one
# directory (each with its own cache, locks and connection, as two processes have), and engine B's
# write landing between engine A's read of a record and A's commit (the engine reads outside the
# store's write transaction; its scope locks are per process).
def _before_first_commit(mem: AsyncMemory, step: Any) -> None:
    """Run ``await step()`` (another engine's write) right before ``mem``'s next commit."""
    commit = mem.vector_store.commit
    fired: list[bool] = []

    async def racing(batch: Any) -> None:
        if not fired:
            fired.append(True)
            await step()
        await commit(batch)

    mem.vector_store.commit = racing  # type: ignore[method-assign]


async def test_update_racing_another_process_loses_nothing(tmp_path: Path) -> None:
    async with _engine(tmp_path) as a, _engine(tmp_path) as b:
        mem_id = (await a.add("seed", user_id="u", infer=False))["results"][0]["id"]
        _before_first_commit(a, lambda: b.update(mem_id, "from B", metadata={"tag": "b"}))
        await a.update(mem_id, "from A")  # as if serialised after B's: B's metadata kept, one chain of texts
    stored, rows = await _state(tmp_path)
    _, chain = _replay(rows)  # e.g. A's UPDATE event says it changed 'seed', but the store held 'from B'
    lost = [] if stored[mem_id].get("tag") == "b" else [f"B's acknowledged metadata was overwritten: {stored[mem_id]}"]
    assert stored[mem_id]["data"] == "from A"
    assert not chain + lost, chain + lost


async def test_delete_racing_another_process_writes_one_delete(tmp_path: Path) -> None:
    async with _engine(tmp_path) as a, _engine(tmp_path) as b:
        mem_id = (await a.add("victim", user_id="u", infer=False))["results"][0]["id"]
        _before_first_commit(a, lambda: b.delete(mem_id))
        from mem7_core.errors import MemoryNotFoundError

        try:  # B deleted it first: A's delete finds nothing (or succeeds idempotently), writes nothing
            await a.delete(mem_id)
        except MemoryNotFoundError:
            pass
    stored, rows = await _state(tmp_path)
    assert [r[2] for r in rows if r[1] == mem_id] == ["ADD", "DELETE"], rows
    assert not consistency_problems(stored, rows), consistency_problems(stored, rows)


async def test_import_racing_another_import_skips_the_stored_id(tmp_path: Path) -> None:
    item = {"id": "0190a0b0-0000-7000-8000-000000000001", "memory": "imported by A", "user_id": "u"}
    async with _engine(tmp_path) as a, _engine(tmp_path) as b:
        _before_first_commit(a, lambda: b.import_memories([{**item, "memory": "imported by B"}]))
        result = await a.import_memories([item])  # on_conflict="skip": B's memory stays
    stored, rows = await _state(tmp_path)
    assert stored[item["id"]]["data"] == "imported by B", (result, stored[item["id"]])
    assert not consistency_problems(stored, rows), consistency_problems(stored, rows)
