"""User trial of the CLI beside other processes on one data directory: ``Memory()`` with no config
in two Python processes, ``mem7 add`` loops and a ``mem7 import``, all writing at once, a ``mem7
list`` reading meanwhile. Every acknowledged write is stored once, history has one ADD for each,
and what the CLI lists is what a ``Memory()`` of this process reads. Real console scripts and
interpreters on the embedded default (hash embedder, to keep it fast).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ADD_LINE = re.compile(r"^ADD\s+(\S+)\s+(.*)$", re.M)

WRITER = """
import sys
from mem7 import Memory
m = Memory()  # no config: the embedded default, MEM7_DATA_DIR and MEM7_* from the environment
for k in range(int(sys.argv[2])):
    [item] = m.add(f"python writer {sys.argv[1]} note {k}", user_id="shared", infer=False)["results"]
    print(item["id"], item["memory"], sep="\\t", flush=True)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEM7_", "OPENAI_"))}
    return {**clean, "MEM7_DATA_DIR": str(tmp_path / "data"), "MEM7_EMBEDDER__PROVIDER": "hash",
            "MEM7_USER_ID": "someone-else"}


def _mem7() -> str:
    exe = shutil.which("mem7", path=str(Path(sys.executable).parent)) or shutil.which("mem7")
    assert exe, "the mem7 console script is not installed"
    return exe


def test_memory_processes_cli_adds_and_an_import_at_once(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tmp_path / "import.jsonl"
    lines.write_text("".join(json.dumps({"role": "user", "content": f"imported note {k}", "user_id": "shared"}) + "\n"
                             for k in range(50)), encoding="utf-8")
    cli_loop = "for k in $(seq 0 5); do \"$0\" add \"cli writer $1 note $k\" --user shared || exit 1; done"
    procs = {
        "py0": [sys.executable, "-c", WRITER, "0", "60"],
        "py1": [sys.executable, "-c", WRITER, "1", "60"],
        "cli0": ["bash", "-c", cli_loop, _mem7(), "0"],
        "cli1": ["bash", "-c", cli_loop, _mem7(), "1"],
        "import": [_mem7(), "--json", "import", str(lines)],
        "list": ["bash", "-c", '"$0" add "before the list" --user shared && "$0" --json list --user shared '
                 "--limit 1000", _mem7()],
    }
    running = {name: subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, cmd in procs.items()}
    out: dict[str, str] = {}
    for name, proc in running.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, (name, stderr)
        out[name] = stdout

    acked: dict[str, str] = {}
    for name in ("py0", "py1"):
        for row in out[name].splitlines():
            mem_id, text = row.split("\t")
            acked[mem_id] = text
    for name in ("cli0", "cli1", "list"):
        acked.update(dict(ADD_LINE.findall(out[name].split("{", 1)[0])))
    assert len(acked) == 120 + 12 + 1  # every printed id distinct
    assert json.loads(out["import"])["imported"] == 50
    listed_midway = {m["id"] for m in json.loads("{" + out["list"].split("{", 1)[1])["results"]}
    assert "before the list" in {acked.get(i) for i in listed_midway}  # its own add, then whatever was there

    from mem7 import Memory

    for key in ("MEM7_DATA_DIR", "MEM7_EMBEDDER__PROVIDER"):
        monkeypatch.setenv(key, env[key])
    with Memory() as memory:
        stored = {m["id"]: m["memory"] for m in memory.get_all(user_id="shared", limit=10_000)["results"]}
    assert {i: stored[i] for i in acked} == acked  # every acknowledged add, with its text
    assert sorted(t for i, t in stored.items() if i not in acked) == sorted(f"imported note {k}" for k in range(50))
    assert len(stored) == 183 and listed_midway <= set(stored)
    listed = subprocess.run([_mem7(), "--json", "list", "--user", "shared", "--limit", "1000"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    assert {m["id"]: m["memory"] for m in json.loads(listed.stdout)["results"]} == stored
    with sqlite3.connect(Path(env["MEM7_DATA_DIR"]) / "vectors" / "mem7_memories" / "mem7.db") as conn:
        events = conn.execute("SELECT memory_id, event FROM history").fetchall()
    assert sorted(events) == sorted((i, "ADD") for i in stored)  # one ADD each, nothing else
