"""``explain`` on every face (issue 22): REST ``SearchRequest.explain``, the MCP tool's argument and
``mem7 search --explain`` give the parts the Python API gives, on one data directory.

A real ``mem7 serve`` (context scoring on) holds the memories; the Python engine of this process,
the MCP server (over stdio) and the CLI open the same directory. Decay stays off: each search
rehearses what it returns, and the next search's decay factor would then rightly differ.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serve import ADMIN, ServeProcess, clean_env, mem7_exe

from mem7_core import Memory

TURNS = [
    ("where did you travel last summer with your sister", "episodic"),
    ("Yes, twice! Lisbon and Porto", "episodic"),
    ("I prefer window seats on long flights", "preference"),
    ("my sister travels for work every month", "factual"),
]
QUERY = "travel with my sister"
CONFIG = {"MEM7_CONTEXT__ENABLED": "true", "MEM7_SERVER_TOKENS": json.dumps({ADMIN: None})}


def replay(steps: list[dict[str, Any]]) -> float:
    s = 0.0
    for st in steps:
        s = s + st["value"] if st["op"] == "add" else s * st["value"] if st["op"] == "multiply" else st["value"]
    return s


def explained(results: list[Any]) -> list[tuple[str, dict[str, float], list[str]]]:
    out = []
    for r in results:
        assert math.isclose(replay(r["score_steps"]), r["score"], rel_tol=1e-9, abs_tol=1e-9), r
        out.append((r["memory"], r["score_parts"], [st["step"] for st in r["score_steps"]]))
    return out


def same(a: list[tuple[str, dict[str, float], list[str]]], b: list[tuple[str, dict[str, float], list[str]]]) -> None:
    """The same results with the same parts (to float precision: each process builds its own index)."""
    assert [(t, sorted(p), s) for t, p, s in a] == [(t, sorted(p), s) for t, p, s in b]
    for (_, pa, _), (_, pb, _) in zip(a, b):
        assert pa == pytest.approx(pb, rel=1e-12, abs=1e-12)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("explain-data")


@pytest.fixture(scope="module")
def server(data: Path) -> Any:
    with ServeProcess(clean_env(data, CONFIG)) as srv:
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as http:
            for text, kind in TURNS:
                r = http.post("/memories", json={"messages": text, "user_id": "alice", "infer": False,
                                                 "memory_type": kind})
                assert r.status_code == 200, r.text
        yield srv


def rest_search(server: ServeProcess, **body: Any) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as http:
        return http.post("/memories/search", json={"query": QUERY, "user_id": "alice", **body})


def test_rest_gives_the_parts_python_gives(server: ServeProcess, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = rest_search(server, explain=True, task_type="design")
    assert r.status_code == 200, r.text
    rest = r.json()["results"]
    assert rest and all(set(i) >= {"score_parts", "score_steps"} for i in rest)
    assert {i["score_parts"]["context"] for i in rest} >= {0.5, 1.0}  # design: episodic 0.5, preference 1.0

    for name in list(os.environ):
        if name.startswith(("MEM7_", "OPENAI_")):
            monkeypatch.delenv(name)
    for name, value in clean_env(data, CONFIG).items():
        monkeypatch.setenv(name, value)
    with Memory() as mem:  # the embedded default on the same directory, in this process
        local = mem.search(QUERY, user_id="alice", explain=True, task_type="design")["results"]
    same(explained(rest), explained(local))


def test_rest_without_explain_is_unchanged_and_explain_is_checked(server: ServeProcess) -> None:
    plain = rest_search(server)
    assert plain.status_code == 200
    with_parts = rest_search(server, explain=True).json()
    for item in with_parts["results"] + with_parts["memories"]:
        del item["score_parts"], item["score_steps"]
    assert with_parts == plain.json()

    bad = rest_search(server, explain="sometimes")
    assert bad.status_code == 422
    assert "explain" in bad.text


async def test_mcp_tool_takes_explain(server: ServeProcess, data: Path) -> None:
    mcp = pytest.importorskip("mcp", reason="the MCP server needs mem7-core[mcp]")
    from mcp.client.stdio import stdio_client

    params = mcp.StdioServerParameters(command=mem7_exe(), args=["mcp"], env=clean_env(data, CONFIG))
    async with stdio_client(params) as (read, write), mcp.ClientSession(read, write) as client:
        await client.initialize()
        out = await client.call_tool("search_memories", {"query": QUERY, "user_id": "alice", "explain": True,
                                                         "limit": 100})
        hits = json.loads("".join(getattr(c, "text", "") for c in out.content))["results"]
        plain = await client.call_tool("search_memories", {"query": QUERY, "user_id": "alice"})
        plain_hits = json.loads("".join(getattr(c, "text", "") for c in plain.content))["results"]
    assert hits and all("context" in p for _, p, _ in explained(hits))  # classified as general: no LLM
    assert all("score_parts" not in h for h in plain_hits)


def test_cli_search_explain(server: ServeProcess, data: Path) -> None:
    def mem7(*args: str) -> str:
        done = subprocess.run([mem7_exe(), *args], env=clean_env(data, CONFIG), capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    lines = mem7("search", QUERY, "--user", "alice", "--explain").splitlines()
    assert lines[1].strip().startswith("= dense ") and " + keyword " in lines[1] and " × context " in lines[1]
    as_json = json.loads(mem7("--json", "search", QUERY, "--user", "alice", "--explain"))["results"]
    assert explained(as_json)
