"""``mem7 serve --workers N``: several worker processes behind one port, each with its own engine.

Real ``mem7 serve`` subprocesses on loopback (see ``_serve.py``). Every request opens a new
connection (``Connection: close``), so the kernel hands requests to both workers; the
``X-Mem7-Worker`` header says which one answered. Concurrent clients add memories and, on every
following request, list / get / search them through whichever worker answers: every
acknowledged add must be visible. Then SIGTERM / SIGINT must close every worker's engine.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serve import ServeProcess, clean_env

from mem7_core.cli import main as cli_main

WORKERS_LINE = re.compile(r"listening on http://\S+ \((\d+) workers, pids ([\d, ]+)\)")
STOPPED_ALL = "mem7 serve: stopped (engine closed in all 2 workers)"
USER = "wes"
THREADS = 6
ADDS_PER_THREAD = 6
WORDS = ("amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper", "kelp",
         "lumen", "maple", "nectar", "onyx", "pebble", "quartz", "russet", "saffron", "tundra", "umber", "violet")


def announced_pids(server: ServeProcess) -> set[int]:
    match = WORKERS_LINE.search(server.stderr)
    assert match, server.stderr
    pids = {int(p) for p in match.group(2).split(",")}
    assert int(match.group(1)) == len(pids) == 2, server.stderr
    return pids


class Traffic:
    """Concurrent clients over fresh connections; checks read-your-writes across workers."""

    def __init__(self, server: ServeProcess) -> None:
        self.url = server.url
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # id -> text, once its add was acknowledged
        self.pids: set[int] = set()
        self.errors: list[BaseException] = []

    def request(self, http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
        response = http.request(method, path, headers={"Connection": "close"}, **kw)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        worker = response.headers.get("x-mem7-worker")
        assert worker and worker.isdigit(), response.headers
        with self.lock:
            self.pids.add(int(worker))
        return response

    def snapshot(self) -> dict[str, str]:
        with self.lock:
            return dict(self.acked)

    def listed(self, http: httpx.Client) -> set[str]:
        body = self.request(http, "GET", "/memories", params={"user_id": USER, "limit": 1000}).json()
        return {m["id"] for m in body["results"]}

    def client(self, n: int) -> None:
        rng = random.Random(n)
        try:
            with httpx.Client(base_url=self.url, timeout=30) as http:
                for k in range(ADDS_PER_THREAD):
                    text = f"note {n}-{k}: the {rng.choice(WORDS)} {rng.choice(WORDS)} key is under {uuid.uuid4().hex[:8]}"
                    body = self.request(http, "POST", "/memories",
                                        json={"messages": text, "user_id": USER, "infer": False}).json()
                    [added] = body["results"]
                    assert added["event"] == "ADD", body
                    with self.lock:
                        self.acked[added["id"]] = text
                    # Every add acknowledged before this request started (ours included) is visible.
                    before = self.snapshot()
                    missing = set(before) - self.listed(http)
                    assert not missing, f"acknowledged adds missing from a list: {sorted(missing)}"
                    some_id, some_text = rng.choice(sorted(before.items()))
                    item = self.request(http, "GET", f"/memories/{some_id}").json()
                    assert item["memory"] == some_text
                    hits = self.request(http, "POST", "/memories/search",
                                        json={"query": some_text, "user_id": USER, "limit": 5}).json()["results"]
                    assert some_id in [h["id"] for h in hits], f"search for {some_text!r} missed {some_id}"
        except BaseException as exc:  # reported by run()
            self.errors.append(exc)

    def run(self) -> None:
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if self.errors:
            raise self.errors[0]
        with httpx.Client(base_url=self.url, timeout=30) as http:
            # Both workers have answered memory requests (bounded: the kernel picks who accepts).
            deadline = time.monotonic() + 10
            while len(self.pids) < 2 and time.monotonic() < deadline:
                assert self.listed(http) == set(self.acked)
            assert self.listed(http) == set(self.acked) and len(self.acked) == THREADS * ADDS_PER_THREAD


def check_workers(server: ServeProcess) -> None:
    pids = announced_pids(server)
    traffic = Traffic(server)
    traffic.run()
    assert traffic.pids == pids, f"answered by {traffic.pids}, announced {pids}"


# ------------------------------------------------------------------------------------ stores
def run_two_workers(server: ServeProcess) -> None:
    """Start ``server``, check read-your-writes across its workers, stop it: every engine closed."""
    server.start()
    try:
        check_workers(server)
    finally:
        server.terminate()
        code = server.wait(60)
    assert code == 0, server.stderr
    assert STOPPED_ALL in server.stderr, server.stderr


def test_two_workers_on_pgvector_share_every_acknowledged_write(tmp_path: Path, pg_dsn: str) -> None:
    table = f"wrk_{uuid.uuid4().hex[:12]}"
    config = tmp_path / "mem7.json"
    config.write_text(json.dumps({
        "llm": None,
        "embedder": {"provider": "hash", "config": {}},
        "vector_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "collection_name": table}},
        "history_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "table_name": f"{table}_history"}},
    }))
    run_two_workers(ServeProcess(clean_env(tmp_path / "data"), ["--workers", "2", "--config", str(config)]))


def test_two_workers_on_redis_share_every_acknowledged_write(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "mem7.json"
    config.write_text(json.dumps({
        "llm": None,
        "embedder": {"provider": "hash", "config": {}},
        "vector_store": {"provider": "redis", "config": {"url": redis_url, "collection_name": f"wrk_{uuid.uuid4().hex[:12]}"}},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / "history.db")}},
    }))
    run_two_workers(ServeProcess(clean_env(tmp_path / "data"), ["--workers", "2", "--config", str(config)]))


def test_two_workers_on_the_embedded_default_share_every_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_two_workers(ServeProcess(clean_env(data), ["--workers", "2", "--data-dir", str(data)]))


# ------------------------------------------------------------------------------------ lifecycle
def test_sigint_closes_every_worker_engine_and_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    """MEM7_SERVER_WORKERS sets the count; a killed worker is replaced; SIGINT stops all, engines closed."""
    import os
    import signal

    env = clean_env(tmp_path / "data", {"MEM7_SERVER_WORKERS": "2"})
    server = ServeProcess(env).start()
    try:
        victim, survivor = sorted(announced_pids(server))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "started" not in server.stderr and time.monotonic() < deadline:
            time.sleep(0.05)
        replaced = re.search(rf"worker {victim} exited unexpectedly \(exit code -9\); starting another\n"
                             rf"mem7 serve: worker (\d+) started", server.stderr)
        assert replaced, server.stderr
        fresh = int(replaced.group(1))
        seen: set[int] = set()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while seen != {survivor, fresh} and time.monotonic() < deadline:
                response = http.get("/health", headers={"Connection": "close"})
                assert response.status_code == 200
                seen.add(int(response.headers["x-mem7-worker"]))
        assert seen == {survivor, fresh}
    finally:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGINT)
        code = server.wait(60)
    assert code == 0, server.stderr
    assert STOPPED_ALL in server.stderr, server.stderr


def test_one_worker_sends_no_worker_header(tmp_path: Path) -> None:
    with ServeProcess(clean_env(tmp_path), ["--workers", "1"]) as server:
        response = httpx.get(f"{server.url}/health", timeout=30)
        assert response.status_code == 200 and "x-mem7-worker" not in response.headers
        assert not WORKERS_LINE.search(server.stderr)


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--workers", "0"], {}, "--workers"),
        (["--workers", "two"], {}, "--workers"),
        (["--workers", "-1"], {}, "--workers"),
        (["--workers", "1.5"], {}, "--workers"),
        ([], {"MEM7_SERVER_WORKERS": "0"}, "MEM7_SERVER_WORKERS"),
        ([], {"MEM7_SERVER_WORKERS": "many"}, "MEM7_SERVER_WORKERS"),
    ],
)
def test_bad_worker_counts_are_one_line_naming_the_flag(
    argv: list[str], env: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("MEM7_SERVER_WORKERS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = cli_main(["serve", "--port", "0", "--data-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"mem7: error: {named} must be a whole number"), err


@pytest.mark.parametrize(
    ("stores", "reason"),
    [
        ({"vector_store": {"provider": "qdrant", "config": {"path": "QDRANT"}}}, "Qdrant in local mode (path) locks"),
        ({"vector_store": {"provider": "qdrant", "config": {}}}, "Qdrant in local mode in memory"),
        ({"vector_store": {"provider": "flat", "config": {"path": None}}}, "the flat vector store has no path"),
        ({"graph_store": {"provider": "kuzu", "config": {"path": "GRAPH"}}}, "the kuzu graph store is for one process"),
        ({"graph_store": {"provider": "flat", "config": {}}}, "the flat graph store is for one process"),
    ],
)
def test_workers_refuse_stores_one_process_only(
    stores: dict[str, Any], reason: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """Refused before anything starts (e.g. Qdrant's local mode would 502 in every worker but one)."""
    config = tmp_path / "mem7.json"
    text = json.dumps({"llm": None, "embedder": {"provider": "hash", "config": {}}, **stores})
    config.write_text(text.replace("QDRANT", str(tmp_path / "q")).replace("GRAPH", str(tmp_path / "g")))
    code = cli_main(["serve", "--port", "0", "--workers", "3", "--data-dir", str(tmp_path), "--config", str(config)])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert line.startswith("mem7: error: 3 workers cannot share this config: ") and reason in line, line
    assert "--workers 1" in line
    assert not (tmp_path / "q").exists() and not (tmp_path / "g").exists()
