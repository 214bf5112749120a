"""Issue 16, findings 2 and 3: an empty pin fails closed; Host and Origin checks; no open server beyond loopback.

The key cases run the real ``mem7 serve`` over loopback HTTP (a DNS-rebinding ``Host``, a
cross-origin ``POST /reset``, the workers getting the same settings); the rest run the app in
process (``TestClient``) or :class:`~mem7_core.server.guard.RequestGuard` alone. No test sends
traffic beyond loopback: a non-loopback ``--host`` is only checked to be refused before binding.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _serve import ADMIN, ServeProcess, clean_env, mem7_exe

from mem7_core.config import MemoryConfig
from mem7_core.errors import ConfigError
from mem7_core.server.auth import Pin, TokenTable
from mem7_core.server.guard import RequestGuard, is_loopback

EVIL = "http://evil.example"


def run_serve(tmp_path: Path, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``mem7 serve`` expected to refuse to start (a timeout would mean it started)."""
    return subprocess.run([mem7_exe(), "serve", "--port", "0", *args], env=clean_env(tmp_path, extra_env),
                          capture_output=True, text=True, timeout=60, check=False)


def seed(http: httpx.Client) -> str:
    r = http.post("/memories", json={"messages": "the spare key is under the mat", "user_id": "ann", "infer": False})
    assert r.status_code == 200, r.text
    return str(r.json()["results"][0]["id"])


def ann_ids(http: httpx.Client) -> list[str]:
    r = http.get("/memories", params={"user_id": "ann"})
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["results"]]


# ------------------------------------------------------------------------------------ finding 2: empty pin
@pytest.mark.parametrize("where", ["env", "file"])
def test_an_empty_pin_is_refused_at_startup_naming_its_position_not_the_token(tmp_path: Path, where: str) -> None:
    secret = "tok-alice-SECRET-987654"
    table = {"tok-admin-SECRET-123456": None, secret: {}}
    if where == "env":
        done = run_serve(tmp_path, [], {"MEM7_SERVER_TOKENS": json.dumps(table)})
    else:
        (tmp_path / "tokens.json").write_text(json.dumps(table))
        done = run_serve(tmp_path, ["--tokens-file", str(tmp_path / "tokens.json")])
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("mem7: error: ") and "token #2 is mapped to an empty pin" in line
    assert "SECRET" not in line and "tok-" not in line


def test_an_empty_pin_is_never_an_unrestricted_token() -> None:
    with pytest.raises(ConfigError, match="empty pin"):
        TokenTable.from_sources(env={"MEM7_SERVER_TOKENS": '{"tok-alice": {}}'})
    # unrestricted is spelled null (or a plain token), as the docs say
    root = TokenTable.from_sources(env={"MEM7_SERVER_TOKENS": '{"tok-root": null}'})
    assert root.authenticate("Bearer tok-root").pin is None
    assert TokenTable.from_sources(env={"MEM7_SERVER_TOKENS": "tok-a,tok-b"}).authenticate("Bearer tok-b").pin is None


def test_a_blank_yaml_value_is_not_an_unrestricted_token(tmp_path: Path) -> None:
    from mem7_core.server.auth import read_tokens_file

    (tmp_path / "t.yaml").write_text("tok-admin-1: null\ntok-root-2: ~\ntok-alice-3:\n")
    with pytest.raises(ConfigError, match="token #3 has no value") as info:
        read_tokens_file(tmp_path / "t.yaml")
    assert "tok-" not in str(info.value)
    (tmp_path / "t.yaml").write_text("tok-admin-1: null\ntok-root-2: ~\ntok-alice-3: {user_id: alice}\n")
    assert read_tokens_file(tmp_path / "t.yaml") == {"tok-admin-1": None, "tok-root-2": None,
                                                     "tok-alice-3": Pin(user_id="alice")}


def test_bad_token_messages_never_print_the_token() -> None:
    with pytest.raises(ConfigError) as info:
        TokenTable.from_sources(env={"MEM7_SERVER_TOKENS": '{"ok-1": null, "bad secret": null}'})
    assert "token #2" in str(info.value) and "secret" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        TokenTable.from_sources(env={"MEM7_SERVER_TOKENS": '{"tok-SECRETX": {"user_id": null}}'})
    assert "token #1" in str(info.value) and "SECRETX" not in str(info.value)


# ------------------------------------------------------------------------------------ finding 3: real HTTP
@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """The default server: no tokens, loopback, default Host / Origin settings."""
    with ServeProcess(clean_env(tmp_path_factory.mktemp("open-serve"))) as server:
        yield server


def test_a_dns_rebinding_host_is_400_and_loopback_names_are_served(open_server: ServeProcess) -> None:
    port = open_server.url.rsplit(":", 1)[1]
    with httpx.Client(base_url=open_server.url, timeout=30) as http:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
            r = http.get("/memories", params={"user_id": "ann"}, headers={"Host": host})
            assert r.status_code == 400, (host, r.text)
            assert "is not allowed" in r.json()["detail"] and "--allowed-hosts" in r.json()["detail"]
        r = http.post("/reset", headers={"Host": "evil.example", "Origin": EVIL})
        assert r.status_code == 400
        for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST."):
            assert http.get("/memories", params={"user_id": "ann"}, headers={"Host": host}).status_code == 200, host
        # liveness probes name the host by its address: /health is exempt
        assert http.get("/health", headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_a_cross_origin_reset_is_403_and_the_store_survives(open_server: ServeProcess) -> None:
    with httpx.Client(base_url=open_server.url, timeout=30) as http:
        mem_id = seed(http)
        for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site"}, {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
                        {"Origin": "http://localhost:1"}):  # another port is another origin
            r = http.post("/reset", headers=headers)
            assert r.status_code == 403, (headers, r.text)
            assert "refused" in r.json()["detail"] and "access-control-allow-origin" not in r.headers
        assert http.delete(f"/memories/{mem_id}", headers={"Origin": EVIL}).status_code == 403
        assert http.put(f"/memories/{mem_id}", json={"text": "gone"}, headers={"Origin": EVIL}).status_code == 403
        assert http.post("/memories", json={"messages": "x", "user_id": "ann"}, headers={"Origin": EVIL}).status_code == 403
        assert ann_ids(http) == [mem_id]
        assert http.get(f"/memories/{mem_id}").json()["memory"] == "the spare key is under the mat"
        # a preflight gets no permissive CORS answer
        pre = http.options("/reset", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers


def test_same_origin_and_curl_like_requests_still_work(open_server: ServeProcess) -> None:
    with httpx.Client(base_url=open_server.url, timeout=30) as http:
        seed(http)
        same = open_server.url  # the page served from the server itself
        assert http.post("/memories/search", json={"query": "key", "user_id": "ann"},
                         headers={"Origin": same, "Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert http.post("/memories", json={"messages": "y", "user_id": "ann", "infer": False},
                         headers={"Sec-Fetch-Site": "none"}).status_code == 200  # typed into the address bar
        # reads from any origin are served (the browser keeps the answer from the page: no CORS headers)
        assert http.get("/memories", params={"user_id": "ann"}, headers={"Origin": EVIL}).status_code == 200
        assert http.post("/reset").status_code == 200  # no Origin, no Sec-Fetch-*: not a browser
        assert ann_ids(http) == []


def test_allowed_hosts_and_origins_flags_reach_every_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["--workers", "2", "--data-dir", str(data), "--allowed-hosts", "mem.internal, other.internal",
            "--allowed-origins", "http://localhost:3000/"]
    close = {"Connection": "close"}  # a new connection per request: the kernel spreads them over both workers
    seen: dict[str, set[str]] = {"host ok": set(), "host refused": set(), "origin ok": set(), "origin refused": set()}
    with ServeProcess(clean_env(data), args) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(200):
            r = http.get("/memories", params={"user_id": "ann"}, headers={**close, "Host": "mem.internal:8000"})
            assert r.status_code == 200, r.text
            seen["host ok"].add(r.headers["x-mem7-worker"])
            r = http.get("/memories", params={"user_id": "ann"}, headers={**close, "Host": "evil.example"})
            assert r.status_code == 400
            seen["host refused"].add(r.headers["x-mem7-worker"])
            r = http.post("/memories", json={"messages": "z", "user_id": "ann", "infer": False},
                          headers={**close, "Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"})
            assert r.status_code == 200, r.text
            seen["origin ok"].add(r.headers["x-mem7-worker"])
            r = http.post("/reset", headers={**close, "Origin": "http://localhost:3001"})
            assert r.status_code == 403
            seen["origin refused"].add(r.headers["x-mem7-worker"])
            if all(len(pids) == 2 for pids in seen.values()):
                break
        assert all(len(pids) == 2 for pids in seen.values()), seen


def test_the_env_variables_configure_the_same(tmp_path: Path) -> None:
    env = clean_env(tmp_path, {"MEM7_SERVER_ALLOWED_HOSTS": "*", "MEM7_SERVER_ALLOWED_ORIGINS": "https://app.example"})
    with ServeProcess(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/memories", params={"user_id": "ann"}, headers={"Host": "anything.example"}).status_code == 200
        assert http.post("/reset", headers={"Origin": "https://app.example"}).status_code == 200
        assert http.post("/reset", headers={"Origin": EVIL}).status_code == 403


# ------------------------------------------------------------------------------------ listening beyond loopback
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_listening_beyond_loopback_without_tokens_is_refused(tmp_path: Path, host: str) -> None:
    done = run_serve(tmp_path, ["--host", host])
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"refusing to listen on {host} without auth" in line and "--insecure-no-auth" in line
    done = run_serve(tmp_path, [], {"MEM7_SERVER_HOST": host})
    assert done.returncode == 2 and "without auth" in done.stderr


def test_rest_serve_refuses_it_too_before_binding() -> None:
    from mem7_core.server.rest import serve

    config = MemoryConfig.model_validate({"llm": None, "embedder": {"provider": "hash", "config": {}}})
    with pytest.raises(ConfigError, match=r"refusing to listen on 192.0.2.10 without auth"):
        serve(config, host="192.0.2.10", port=0)  # a documentation address: never bound, nothing sent
    with pytest.raises(ConfigError, match="without auth"):
        serve(config, host="0.0.0.0", port=0, tokens=TokenTable())


def test_loopback_hosts_are_recognised() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "192.0.2.10", "10.0.0.1"):
        assert not is_loopback(host), host


def test_tokens_or_the_explicit_flag_allow_a_wider_bind(tmp_path: Path) -> None:
    """Past the auth check (it fails later, on the address): no socket beyond loopback is opened here."""
    tokens = {"MEM7_SERVER_TOKENS": json.dumps({ADMIN: None})}
    # 192.0.2.10 (TEST-NET-1) is not an address of this machine: binding fails locally, nothing is sent
    for args, env in ((["--host", "192.0.2.10"], tokens), (["--host", "192.0.2.10", "--insecure-no-auth"], None)):
        done = run_serve(tmp_path, args, env)
        assert done.returncode == 2, done.stderr
        assert "cannot listen on 192.0.2.10" in done.stderr and "refusing to listen" not in done.stderr
        # the explicit flag still warns
        assert ("serving on 192.0.2.10 without auth (--insecure-no-auth)" in done.stderr) == (env is None)


# ------------------------------------------------------------------------------------ in process
def app_client(guard: RequestGuard, base_url: str = "http://localhost") -> object:
    from fastapi.testclient import TestClient

    from mem7_core.server.rest import create_app

    config = MemoryConfig.model_validate({"llm": None, "embedder": {"provider": "hash", "config": {}},
                                          "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}})
    return TestClient(create_app(config, guard=guard), base_url=base_url)


def test_guard_in_process_bound_host_and_origins() -> None:
    guard = RequestGuard.for_bind("127.0.0.5", allowed_origins="https://app.example:8443")
    with app_client(guard, "http://127.0.0.5:9000") as http:  # type: ignore[attr-defined]
        assert http.get("/memories", params={"user_id": "u"}).status_code == 200  # the bound host
        assert http.get("/memories", params={"user_id": "u"}, headers={"host": "testserver"}).status_code == 400
        assert http.post("/reset", headers={"origin": "https://app.example:8443"}).status_code == 200
        assert http.post("/reset", headers={"origin": "https://app.example"}).status_code == 403
        assert http.post("/reset", headers={"origin": "https://127.0.0.5:9000"}).status_code == 200  # behind TLS
        assert http.get("/openapi.json", headers={"host": "evil.example"}).status_code == 400


def test_guard_unit_rules() -> None:
    guard = RequestGuard.for_bind("::1")
    assert guard.allowed_hosts == frozenset({"localhost", "127.0.0.1", "[::1]"})
    assert guard.check("GET", "/memories", {"host": "[::1]:8000"}) is None
    assert guard.check("GET", "/memories", {})[0] == 400  # type: ignore[index]
    assert RequestGuard.for_bind("0.0.0.0").allowed_hosts == frozenset({"localhost", "127.0.0.1", "[::1]"})
    assert RequestGuard.for_bind("127.0.0.1", allowed_hosts="*").check("GET", "/", {"host": "x"}) is None
    assert guard.check("PATCH", "/x", {"host": "localhost", "origin": EVIL})[0] == 403  # type: ignore[index]
    assert guard.check("OPTIONS", "/x", {"host": "localhost", "origin": EVIL}) is None
    with pytest.raises(ConfigError, match="would let any web page"):
        RequestGuard.for_bind("127.0.0.1", allowed_origins="*")
    with pytest.raises(ConfigError, match="is not an origin"):
        RequestGuard.for_bind("127.0.0.1", allowed_origins="app.example")


def test_bad_allowed_origins_is_a_usage_error(tmp_path: Path) -> None:
    done = run_serve(tmp_path, ["--allowed-origins", "*"])
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "--allowed-origins" in line
