"""Several processes on one data directory (issue 14): CLI processes adding concurrently, and a
running ``mem7 serve`` beside CLI adds and lists. Every acknowledged write is visible from every
process's next operation, before and after the server stops; a read-only ``mem7 list`` writes
nothing. Real console scripts, the embedded default on the hash embedder (``_serve.clean_env``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import threading
from pathlib import Path

import httpx
from _serve import ServeProcess, clean_env, mem7_exe

ADD_LINE = re.compile(r"^ADD\s+(\S+)", re.M)


def _mem7(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([mem7_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _listed(env: dict[str, str], user: str) -> dict[str, str]:
    proc = _mem7(env, "--json", "list", "--user", user, "--limit", "1000")
    assert proc.returncode == 0, proc.stderr
    return {m["id"]: m["memory"] for m in json.loads(proc.stdout)["results"]}


def _db(data: Path) -> Path:
    return data / "vectors" / "mem7_memories" / "mem7.db"


def _history(data: Path) -> list[tuple[str, str]]:
    """(memory_id, event) of every history row, read with no engine open in this process."""
    with sqlite3.connect(_db(data)) as conn:
        return conn.execute("SELECT memory_id, event FROM history ORDER BY rowid").fetchall()


def _files(data: Path, *, with_shm: bool = True) -> dict[str, str]:
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.rglob("*"))
        if p.is_file() and (with_shm or not p.name.endswith("-shm"))
    }


def test_four_cli_processes_adding_concurrently_lose_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(data)
    printed: list[list[str]] = [[] for _ in range(4)]
    failures: list[str] = []

    def writer(w: int) -> None:
        for k in range(25):
            proc = _mem7(env, "add", f"writer {w} note {k} about kites", "--user", "shared")
            found = ADD_LINE.findall(proc.stdout)
            if proc.returncode != 0 or len(found) != 1:
                failures.append(f"writer {w} add {k}: exit {proc.returncode} {proc.stdout!r} {proc.stderr!r}")
                return
            printed[w].append(found[0])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    acked = {i for ids in printed for i in ids}
    assert len(acked) == 100
    stored = _listed(env, "shared")
    assert set(stored) == acked  # ids equal to those printed, none lost, none extra
    assert sorted(stored.values()) == sorted(f"writer {w} note {k} about kites" for w in range(4) for k in range(25))
    events = _history(data)
    assert sorted(m for m, e in events if e == "ADD") == sorted(acked) and len(events) == 100


def test_serve_and_cli_share_one_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(data)
    with ServeProcess(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:

        def served() -> dict[str, str]:
            body = http.get("/memories", params={"user_id": "kim", "limit": 1000}).raise_for_status().json()
            return {m["id"]: m["memory"] for m in body["results"]}

        via_server = []
        for k in range(3):
            body = http.post("/memories", json={"messages": f"server note {k}", "user_id": "kim", "infer": False}).raise_for_status().json()
            via_server.append(body["results"][0]["id"])
        via_cli = []
        for k in range(3):
            proc = _mem7(env, "add", f"cli note {k}", "--user", "kim")
            assert proc.returncode == 0, proc.stderr
            via_cli.append(ADD_LINE.findall(proc.stdout)[0])
            # the server sees the CLI's write on its next request
            assert via_cli[-1] in served()
        assert set(_listed(env, "kim")) == set(via_server + via_cli) == set(served())
        # an update and a delete through the CLI reach the server, and the other way round
        assert _mem7(env, "update", via_server[0], "server note 0, reworded by the CLI").returncode == 0
        http.delete(f"/memories/{via_cli[0]}").raise_for_status()
        now = served()
        assert now[via_server[0]] == "server note 0, reworded by the CLI" and via_cli[0] not in now
        assert _listed(env, "kim") == now
        hits = http.post("/memories/search", json={"query": "reworded by the CLI", "user_id": "kim"}).raise_for_status().json()
        assert hits["results"][0]["id"] == via_server[0]  # the server's keyword index caught up too
        # a read-only list beside the running server leaves the database and its WAL as they were
        # (the -shm file is SQLite's shared-memory index; readers take read marks in it by design)
        before = _files(data, with_shm=False)
        assert len(_listed(env, "kim")) == 5
        assert _files(data, with_shm=False) == before
        final = now
    # after a graceful stop: everything acknowledged is there, and a reader writes nothing at all
    assert _listed(env, "kim") == final
    before = _files(data)
    assert _listed(env, "kim") == final
    assert _files(data) == before
    events = _history(data)
    assert sorted(e for _, e in events) == ["ADD"] * 6 + ["DELETE", "UPDATE"]
