"""The REST server over real HTTP on loopback: the ``mem7 serve`` script in a subprocess.

Covers every operation and its shape (compared with the Python API's models), bearer auth, scope
pinning, the error mapping (401 / 403 / 404 / 422 naming the field / 502 naming the provider),
graceful shutdown with a request in flight, and several processes sharing the same stores.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serve import ADMIN, ALICE, BOB, ServeProcess, clean_env, mem7_exe

from mem7_core.models import HistoryEvent, Item

SERVE_CONFIG = (
    "import json, sys\n"
    "from mem7_core.config import MemoryConfig\n"
    "from mem7_core.server.rest import serve\n"
    "serve(MemoryConfig.model_validate(json.loads(sys.argv[1])), port=0,\n"
    "      announce=lambda line: print('mem7 serve: ' + line, file=sys.stderr, flush=True))\n"
)
"""``mem7 serve`` for a config given as JSON on the command line (no embedded-default layer)."""
ITEM_KEYS = set(Item.model_fields)
EVENT_KEYS = set(HistoryEvent.model_fields)


def client(server: ServeProcess, token: str | None = ADMIN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def loc_names(response: httpx.Response) -> list[str]:
    """The field names a 422 response points at."""
    assert response.status_code == 422, response.text
    return [str(part) for err in response.json()["detail"] for part in err["loc"]]


# ------------------------------------------------------------------------------------ basics
def test_health_needs_no_token_and_openapi_lists_every_operation(rest_server: ServeProcess) -> None:
    with client(rest_server, token=None) as http:
        health = http.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["version"]
        spec = http.get("/openapi.json").json()
    ops = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert {
        ("POST", "/memories"), ("POST", "/memories/search"), ("GET", "/memories"), ("DELETE", "/memories"),
        ("GET", "/memories/{memory_id}"), ("PUT", "/memories/{memory_id}"), ("DELETE", "/memories/{memory_id}"),
        ("GET", "/memories/{memory_id}/history"), ("POST", "/reset"), ("GET", "/health"),
    } <= ops
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer not-a-token"}, "unknown bearer token"),
        ({"Authorization": f"Basic {ADMIN}"}, "malformed"),
        ({"Authorization": f"Bearer {ADMIN}x"}, "unknown bearer token"),
    ],
)
def test_requests_without_a_valid_token_get_401(rest_server: ServeProcess, headers: dict[str, str], why: str) -> None:
    with httpx.Client(base_url=rest_server.url, headers=headers) as http:
        r = http.get("/memories", params={"user_id": "alice"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert why in r.json()["detail"]


# ------------------------------------------------------------------------------------ every operation
def test_every_operation_round_trips_with_the_python_shapes(rest_server: ServeProcess) -> None:
    with client(rest_server) as http:
        added = http.post("/memories", json={
            "messages": [{"role": "user", "content": "I keep bees on my balcony in Porto"},
                         {"role": "assistant", "content": "Lovely hobby"}],
            "user_id": "carol", "metadata": {"topic": "hobby"}, "infer": False,
        })
        assert added.status_code == 200, added.text
        results = added.json()["results"]
        assert [r["event"] for r in results] == ["ADD", "ADD"]
        assert set(results[0]) <= {"id", "memory", "event", "action", "old_value", "new_value"}
        bees_id = results[0]["id"]

        http.post("/memories", json={"messages": "My cat is called Miso", "user_id": "carol", "infer": False})

        found = http.post("/memories/search", json={"query": "bees balcony", "user_id": "carol", "limit": 2})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["results"][0]["id"] == bees_id and body["memories"] == body["results"]
        top = body["results"][0]
        assert set(top) <= ITEM_KEYS and {"id", "memory", "hash", "created_at", "score"} <= set(top)
        assert top["user_id"] == "carol" and top["metadata"] == {"topic": "hobby"}

        filtered = http.post("/memories/search", json={"query": "cat", "user_id": "carol",
                                                        "filters": {"topic": "hobby"}})
        assert {r["id"] for r in filtered.json()["results"]} <= {bees_id, results[1]["id"]}

        listed = http.get("/memories", params={"user_id": "carol"}).json()
        assert [r["memory"] for r in listed["results"]] == [
            "I keep bees on my balcony in Porto", "Lovely hobby", "My cat is called Miso"]
        only_hobby = http.get("/memories", params={"user_id": "carol", "filters": json.dumps({"topic": "hobby"})})
        assert len(only_hobby.json()["results"]) == 2
        assert len(http.get("/memories", params={"user_id": "carol", "limit": 1}).json()["results"]) == 1

        got = http.get(f"/memories/{bees_id}")
        assert got.status_code == 200 and got.json()["memory"] == "I keep bees on my balcony in Porto"
        assert set(got.json()) <= ITEM_KEYS

        updated = http.put(f"/memories/{bees_id}", json={"text": "I keep bees in Lisbon now",
                                                          "metadata": {"hives": 2}})
        assert updated.status_code == 200 and bees_id in updated.json()["message"]
        after = http.get(f"/memories/{bees_id}").json()
        assert after["memory"] == "I keep bees in Lisbon now" and after["metadata"] == {"topic": "hobby", "hives": 2}

        history = http.get(f"/memories/{bees_id}/history").json()
        assert [e["event"] for e in history] == ["ADD", "UPDATE"]
        assert history[1]["old_memory"] == "I keep bees on my balcony in Porto"
        assert all(set(e) <= EVENT_KEYS for e in history)

        deleted = http.delete(f"/memories/{bees_id}")
        assert deleted.status_code == 200 and "deleted" in deleted.json()["message"]
        assert http.get(f"/memories/{bees_id}").status_code == 404
        assert [e["event"] for e in http.get(f"/memories/{bees_id}/history").json()] == ["ADD", "UPDATE", "DELETE"]

        wiped = http.delete("/memories", params={"user_id": "carol"})
        assert wiped.status_code == 200 and wiped.json()["message"] == "Deleted 2 memories"
        assert http.get("/memories", params={"user_id": "carol"}).json()["results"] == []


def test_reset_wipes_everything(tmp_path: Path) -> None:
    with ServeProcess(clean_env(tmp_path)) as server, client(server, token=None) as http:  # open server
        http.post("/memories", json={"messages": "one", "user_id": "u1"})
        http.post("/memories", json={"messages": "two", "agent_id": "a1"})
        assert http.post("/reset").json() == {"message": "Memory store reset"}
        assert http.get("/memories", params={"user_id": "u1"}).json()["results"] == []
        assert http.get("/memories", params={"agent_id": "a1"}).json()["results"] == []


# ------------------------------------------------------------------------------------ pinned tokens
def test_a_token_pinned_to_alice_cannot_touch_bob(rest_server: ServeProcess) -> None:
    with client(rest_server, ALICE) as alice, client(rest_server, BOB) as bob:
        # omitted scope: the pinned one
        mine = alice.post("/memories", json={"messages": "alice likes tea", "infer": False}).json()["results"][0]["id"]
        assert alice.get(f"/memories/{mine}").json()["user_id"] == "alice"
        theirs = bob.post("/memories", json={"messages": "bob likes tea"}).json()["results"][0]["id"]

        # naming another user: 403, directly or the mem0 way inside filters
        for r in (
            alice.post("/memories", json={"messages": "x", "user_id": "bob"}),
            alice.post("/memories/search", json={"query": "tea", "user_id": "bob"}),
            alice.post("/memories/search", json={"query": "tea", "filters": {"user_id": "bob"}}),
            alice.get("/memories", params={"user_id": "bob"}),
            alice.delete("/memories", params={"user_id": "bob"}),
            alice.get(f"/memories/{theirs}", params={"user_id": "bob"}),
        ):
            assert r.status_code == 403, r.text
            assert "pinned to user_id='alice'" in r.json()["detail"]

        # search and list only ever see alice's memories
        hits = alice.post("/memories/search", json={"query": "who likes tea"}).json()["results"]
        assert [h["id"] for h in hits] == [mine]
        assert [m["id"] for m in alice.get("/memories").json()["results"]] == [mine]

        # by id, bob's memory does not exist for alice (no existence oracle), and stays intact
        assert alice.get(f"/memories/{theirs}").status_code == 404
        assert alice.put(f"/memories/{theirs}", json={"text": "hacked"}).status_code == 404
        assert alice.delete(f"/memories/{theirs}").status_code == 404
        assert alice.get(f"/memories/{theirs}/history").status_code == 404
        assert bob.get(f"/memories/{theirs}").json()["memory"] == "bob likes tea"
        assert [e["event"] for e in bob.get(f"/memories/{theirs}/history").json()] == ["ADD"]

        # unpinned keys stay free: alice may use agents and runs of her own
        scoped = alice.post("/memories", json={"messages": "tea in the run", "run_id": "r1"}).json()["results"][0]
        assert alice.get(f"/memories/{scoped['id']}").json()["run_id"] == "r1"

        # reset touches every scope: pinned tokens may not
        assert alice.post("/reset").status_code == 403
        assert bob.get(f"/memories/{theirs}").status_code == 200


# ------------------------------------------------------------------------------------ errors
def test_bad_input_is_422_naming_the_field(rest_server: ServeProcess) -> None:
    with client(rest_server) as http:
        assert "query" in loc_names(http.post("/memories/search", json={"user_id": "u"}))
        assert "limit" in loc_names(http.post("/memories/search", json={"query": "q", "user_id": "u", "limit": 0}))
        assert "memory_type" in loc_names(
            http.post("/memories", json={"messages": "x", "user_id": "u", "memory_type": "nonsense"}))
        bad_op = http.post("/memories/search", json={"query": "q", "user_id": "u", "filters": {"k": {"regex": "x"}}})
        assert "filters" in loc_names(bad_op) and "regex" in bad_op.text
        not_json = http.get("/memories", params={"user_id": "u", "filters": "{nope"})
        assert "filters" in loc_names(not_json) and "not valid JSON" in not_json.text
        no_scope = http.post("/memories/search", json={"query": "q"})
        assert "user_id" in loc_names(no_scope) and "agent_id" in no_scope.text
        reserved = http.post("/memories", json={"messages": "x", "user_id": "u", "metadata": {"hash": "h"}})
        assert reserved.status_code == 422 and "hash" in reserved.text
        assert http.put("/memories/nope", json={"text": "x"}).status_code == 404
        assert http.get("/memories/nope").json() == {"detail": "Memory 'nope' not found"}


@pytest.fixture
def llm_server(tmp_path: Path, openai_server: Any) -> Any:
    """``mem7 serve`` with the OpenAI provider pointed at the loopback OpenAI server (fail fast)."""
    env = clean_env(tmp_path, {
        "OPENAI_BASE_URL": openai_server.url, "OPENAI_API_KEY": "sk-test",
        "MEM7_LLM__CONFIG__MAX_RETRIES": "0", "MEM7_LLM_RETRIES": "0",
    })
    with ServeProcess(env, ["--graceful-timeout", "20"]) as server:
        yield server


def test_add_with_an_llm_extracts_facts_and_a_failing_llm_is_502_naming_it(llm_server: ServeProcess,
                                                                            openai_server: Any) -> None:
    with client(llm_server) as http:
        ok = http.post("/memories", json={"messages": "I am allergic to peanuts and I love hiking", "user_id": "dan"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["results"] and all(r["event"] == "ADD" for r in ok.json()["results"])
        assert openai_server.count("chat") >= 1

        openai_server.fail_next(5, status=500)
        failed = http.post("/memories", json={"messages": "I moved to Oslo", "user_id": "dan"})
        assert failed.status_code in (502, 503), failed.text
        assert failed.json()["provider"] == "openai" and "openai" in failed.json()["detail"]


def test_sigterm_finishes_the_request_in_flight_then_closes_the_engine(llm_server: ServeProcess,
                                                                       openai_server: Any) -> None:
    openai_server.latency = 1.0  # each LLM call; an inferred add makes two
    outcome: dict[str, Any] = {}

    def slow_add() -> None:
        with client(llm_server) as http:
            outcome["response"] = http.post("/memories", json={"messages": "I play the cello", "user_id": "eve"})

    worker = threading.Thread(target=slow_add)
    worker.start()
    deadline = time.monotonic() + 10
    while openai_server.count("chat") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_server.count("chat") >= 1, "the add never reached the LLM"
    llm_server.terminate()
    worker.join(30)
    response = outcome["response"]
    assert response.status_code == 200 and response.json()["results"], response.text
    assert llm_server.wait(30) == 0
    assert "mem7 serve: stopped (engine closed)" in llm_server.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{llm_server.url}/health", timeout=2)


# ------------------------------------------------------------------------------------ processes
def test_several_processes_share_server_backed_stores(tmp_path: Path, pg_dsn: str) -> None:
    """Two servers on the same PostgreSQL (pgvector store + history): a write through one is read by the other."""
    table = f"srv_{int(time.time() * 1000) % 10**9}"
    config = json.dumps({
        "llm": None,
        "embedder": {"provider": "hash", "config": {}},
        "vector_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "collection_name": table}},
        "history_store": {"provider": "pgvector", "config": {"dsn": pg_dsn, "table_name": f"{table}_history"}},
    })
    # rest.serve() with an explicit config: the CLI layers its embedded default (flat) under any
    # config, and a provider switched in a layer keeps the flat store's `path` (see the report).
    command = [sys.executable, "-c", SERVE_CONFIG, config]
    env = clean_env(tmp_path)
    with ServeProcess(env, command=command) as one, ServeProcess(env, command=command) as two, \
            client(one, None) as a, client(two, None) as b:
        first = a.post("/memories", json={"messages": "the wifi password is on the fridge", "user_id": "fay"})
        assert first.status_code == 200, first.text
        mem_id = first.json()["results"][0]["id"]
        assert b.get(f"/memories/{mem_id}").json()["memory"] == "the wifi password is on the fridge"
        assert [m["id"] for m in b.get("/memories", params={"user_id": "fay"}).json()["results"]] == [mem_id]
        assert b.post("/memories/search", json={"query": "wifi password", "user_id": "fay"}).json()["results"][0][
            "id"] == mem_id
        assert b.put(f"/memories/{mem_id}", json={"text": "the wifi password is on the router"}).status_code == 200
        assert a.get(f"/memories/{mem_id}").json()["memory"] == "the wifi password is on the router"
        assert [e["event"] for e in a.get(f"/memories/{mem_id}/history").json()] == ["ADD", "UPDATE"]
        assert a.delete(f"/memories/{mem_id}").status_code == 200
        assert b.get(f"/memories/{mem_id}").status_code == 404


def test_the_flat_store_persists_across_server_restarts(tmp_path: Path) -> None:
    """The embedded default (flat + SQLite) is one process at a time: data survives a restart."""
    env = clean_env(tmp_path)
    with ServeProcess(env) as first, client(first, None) as http:
        mem_id = http.post("/memories", json={"messages": "kept across restarts", "user_id": "gus"}).json()[
            "results"][0]["id"]
    with ServeProcess(env) as second, client(second, None) as http:
        assert http.get(f"/memories/{mem_id}").json()["memory"] == "kept across restarts"
        assert [e["event"] for e in http.get(f"/memories/{mem_id}/history").json()] == ["ADD"]


# ------------------------------------------------------------------------------------ startup
def test_require_auth_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run([mem7_exe(), "serve", "--port", "0", "--require-auth"], env=clean_env(tmp_path),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mem7: error: --require-auth is set but no token is configured: set MEM7_SERVER_TOKENS or pass --tokens-file"
    ]


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([mem7_exe(), "serve", "--port", str(port)], env=clean_env(tmp_path),
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"mem7: error: cannot listen on 127.0.0.1:{port}") and "--port" in line


def test_tokens_file_pins_scopes(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tok-zoe-1234: {user_id: zoe}\ntok-root-1234: null\n")
    with ServeProcess(clean_env(tmp_path), ["--tokens-file", str(tokens)]) as server:
        with client(server, "tok-zoe-1234") as zoe, client(server, "tok-root-1234") as root:
            mem_id = zoe.post("/memories", json={"messages": "zoe's note"}).json()["results"][0]["id"]
            assert root.get(f"/memories/{mem_id}").json()["user_id"] == "zoe"
            assert zoe.get("/memories", params={"user_id": "root"}).status_code == 403
        with client(server, ADMIN) as stranger:  # a token of another server
            assert stranger.get("/health").status_code == 200
            assert stranger.get(f"/memories/{mem_id}").status_code == 401


def test_bad_tokens_file_is_one_line_naming_the_problem(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tok-x-123": {"user": "x"}}))
    done = subprocess.run([mem7_exe(), "serve", "--port", "0", "--tokens-file", str(tokens)],
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "user" in lines[0] and "allowed keys: user_id, agent_id, run_id" in lines[0]


def test_serve_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "from mem7_core.cli import main; sys.exit(main(['serve', '--port', '0']))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(tmp_path), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "mem7 serve needs the server extra: pip install 'mem7-core[server]'"


# ------------------------------------------------------------------------------------ review fixes
def test_non_finite_numbers_are_422_and_never_stored(rest_server: ServeProcess) -> None:
    """JSON has no NaN / Infinity: Python's parser accepts them, but a stored NaN would make every
    later read of the scope fail to serialise (a 500 for the tenant, for good)."""
    with client(rest_server) as http:
        added = http.post("/memories", content='{"messages": "x", "user_id": "nan-u", "infer": false, "metadata": {"k": NaN}}',
                          headers={"Content-Type": "application/json"})
        assert "metadata" in loc_names(added) and "NaN" in added.text
        kept = http.post("/memories", json={"messages": "fine", "user_id": "nan-u", "infer": False}).json()["results"][0]["id"]
        nested = http.put(f"/memories/{kept}", content='{"text": "y", "metadata": {"k": [1, {"z": Infinity}]}}',
                          headers={"Content-Type": "application/json"})
        assert "metadata" in loc_names(nested)
        listed = http.get("/memories", params={"user_id": "nan-u"})
        assert listed.status_code == 200 and [m["memory"] for m in listed.json()["results"]] == ["fine"]


def test_deeply_nested_filters_are_422_not_500(rest_server: ServeProcess) -> None:
    with client(rest_server) as http:
        for depth in (100, 1500):  # past the engine's nesting limit; past the JSON parser's recursion limit
            text = '{"NOT": ' * depth + '{"k": 1}' + "}" * depth
            assert "filters" in loc_names(http.get("/memories", params={"user_id": "u", "filters": text}))
            r = http.post("/memories/search", content='{"query": "q", "user_id": "u", "filters": ' + text + "}",
                          headers={"Content-Type": "application/json"})
            assert r.status_code in (400, 422), r.text
    text = '{"NOT": ' * 100 + '{"k": 1}' + "}" * 100
    with client(rest_server) as http:
        assert "filters" in loc_names(http.get("/memories", params={"user_id": "u", "filters": text}))
        r = http.post("/memories/search", content='{"query": "q", "user_id": "u", "filters": ' + text + "}",
                      headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422), r.text


def test_history_and_get_of_another_tenant_with_unpinned_keys(rest_server: ServeProcess) -> None:
    """A pin on user_id leaves agent/run free, but never reaches a memory of another user through them."""
    with client(rest_server, ALICE) as alice, client(rest_server, BOB) as bob:
        theirs = bob.post("/memories", json={"messages": "bob's agent note", "agent_id": "shared", "infer": False})
        theirs_id = theirs.json()["results"][0]["id"]
        for r in (
            alice.get(f"/memories/{theirs_id}", params={"agent_id": "shared"}),
            alice.get(f"/memories/{theirs_id}/history", params={"agent_id": "shared"}),
            alice.delete(f"/memories/{theirs_id}", params={"agent_id": "shared"}),
            alice.put(f"/memories/{theirs_id}", json={"text": "hacked", "agent_id": "shared"}),
        ):
            assert r.status_code == 404, r.text
        assert alice.get("/memories", params={"agent_id": "shared"}).json()["results"] == []
        assert alice.delete("/memories", params={"agent_id": "shared"}).json()["message"] == "Deleted 0 memories"
        hits = alice.post("/memories/search", json={"query": "bob's agent note", "agent_id": "shared",
                                                    "filters": {"OR": [{"user_id": "bob"}, {"agent_id": "shared"}]}})
        assert hits.status_code == 200 and hits.json()["results"] == []
        assert bob.get(f"/memories/{theirs_id}").json()["memory"] == "bob's agent note"
    with client(rest_server) as admin:  # delete_all never runs unscoped, even for an unrestricted token
        assert "user_id" in loc_names(admin.delete("/memories"))
        assert "user_id" in loc_names(admin.delete("/memories", params={"filters": '{"topic": "x"}'}))
        assert admin.get(f"/memories/{theirs_id}").status_code == 200


def test_import_is_for_unrestricted_tokens_and_restores_verbatim(rest_server: ServeProcess) -> None:
    items = [
        {"id": "0190c2d2-0000-7000-8000-00000000a001", "memory": "imported fact", "user_id": "imp-u",
         "created_at": "2024-01-02T03:04:05+00:00", "metadata": {"src": "backup"}, "access_count": 2},
    ]
    with client(rest_server) as admin, client(rest_server, ALICE) as alice:
        refused = alice.post("/memories/import", json={"items": [{**items[0], "user_id": "alice"}]})
        assert refused.status_code == 403 and "pinned" in refused.json()["detail"]
        done = admin.post("/memories/import", json={"items": items})
        assert done.status_code == 200, done.text
        counts = {k: v for k, v in done.json().items() if k != "usage"}
        assert counts == {"imported": 1, "replaced": 0, "skipped": 0}
        assert done.json()["usage"]["models"][0]["texts"] == 1  # the imported memory's embedding
        item = admin.get(f"/memories/{items[0]['id']}").json()
        assert (item["memory"], item["created_at"], item["metadata"], item["access_count"]) == (
            "imported fact", "2024-01-02T03:04:05+00:00", {"src": "backup"}, 2)
        assert admin.post("/memories/import", json={"items": items}).json()["skipped"] == 1
        conflict = admin.post("/memories/import", json={"items": items, "on_conflict": "error"})
        assert conflict.status_code == 409 and items[0]["id"] in conflict.json()["detail"]
        bad = admin.post("/memories/import", json={"items": [{"memory": "", "user_id": "u"}]})
        assert "items" in loc_names(bad) and "items[0].memory" in bad.text
        assert "on_conflict" in loc_names(admin.post("/memories/import", json={"items": items, "on_conflict": "merge"}))
