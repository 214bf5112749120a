"""``mem7 mcp`` against hostile input (issue 16, finding 7), over stdio in a real subprocess.

- A raw JSON-RPC client: every malformed line (invalid JSON, a lone surrogate escape, 5,000-deep
  nesting, invalid UTF-8, a batch, a message without ``method``) gets a JSON-RPC error response with
  the request's id when it can be recovered, and the server keeps answering the following requests.
- The official SDK client: ``mem7 mcp --pin-user`` refuses a tool call naming another user and never
  finds another user's memories, while its own scope works.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _serve import clean_env, mem7_exe

pytest.importorskip("mcp", reason="the MCP server needs mem7-core[mcp]")

from test_mcp import call, call_error, session

from mem7_core.server.mcp_stdio import MAX_DEPTH, check_line

TIMEOUT = 30.0


class RawClient:
    """``mem7 mcp`` spoken to line by line; :meth:`receive` fails instead of waiting forever."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message).encode())

    def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no response within {timeout}s (the server dropped the line)")
        return json.loads(line)

    def request(self, request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})})
        response = self.receive()
        assert response.get("id") == request_id, response
        return response


@contextmanager
def raw_server(data: Path, *args: str) -> Iterator[RawClient]:
    proc = subprocess.Popen([mem7_exe(), "mcp", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(data))
    try:
        client = RawClient(proc)
        init = client.request(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                "clientInfo": {"name": "raw", "version": "1"}})
        assert "result" in init, init
        client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield client
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server fails the test below
            proc.kill()
            proc.wait()
            raise


def _tool_call(request_id: int, name: str, arguments_json: str) -> bytes:
    return (f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", '
            f'"params": {{"name": "{name}", "arguments": {arguments_json}}}}}').encode()


def _list_texts(client: RawClient, request_id: int) -> list[str]:
    response = client.request(request_id, "tools/call", {"name": "list_memories", "arguments": {}})
    result = response["result"]
    assert not result.get("isError"), result
    return [m["memory"] for m in json.loads(result["content"][0]["text"])["results"]]


def test_every_malformed_line_gets_a_json_rpc_error_and_the_server_keeps_serving(tmp_path: Path) -> None:
    with raw_server(tmp_path, "--user", "mia") as client:
        client.send_raw(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"')  # truncated
        response = client.receive()
        assert response["id"] is None and response["error"]["code"] == -32700, response
        assert response["error"]["message"].startswith("Parse error: the line is not valid JSON"), response

        # each malformed line answered, in order; a request id is echoed whenever it can be read
        cases: list[tuple[bytes, int, Any, str]] = [
            (b"{not json", -32700, None, "not valid JSON"),
            (_tool_call(11, "add_memory", '{"text": "bad \\ud800 text"}'), -32602, 11,
             "params.arguments.text contains a lone UTF-16 surrogate"),
            (_tool_call(12, "add_memory", '{"text": "ok", "metadata": {"\\udfff": 1}}'), -32602, 12,
             "params.arguments.metadata.\\udfff (a member name) contains a lone UTF-16 surrogate"),
            (_tool_call(13, "list_memories", '{"filters": {"k": ' + "[" * 5000 + "]" * 5000 + "}}"), -32600, 13,
             "levels deep; at most"),
            (b'{"filters": ' + b"{" * 5000, -32600, None, "nested"),  # deep and unterminated
            (b'{"jsonrpc": "2.0", "id": 14, "method": "tools/list", "x": "\xff\xfe"}', -32700, None, "UTF-8"),
            (b"[1, 2]", -32600, None, "batches are not supported"),
            (b'{"jsonrpc": "2.0", "id": 15}', -32600, 15, "not a JSON-RPC 2.0 message"),
            (b'{"jsonrpc": "2.0", "id": "s-16", "method": 7}', -32600, "s-16", "not a JSON-RPC 2.0 message"),
        ]
        for line, code, request_id, text in cases:
            client.send_raw(line)
            response = client.receive()
            assert response["jsonrpc"] == "2.0" and response["id"] == request_id, (line[:80], response)
            assert response["error"]["code"] == code and text in response["error"]["message"], (line[:80], response)
            assert "result" not in response

        # nothing was stored by the refused add, and a normal request afterwards still works
        assert _list_texts(client, 20) == []
        added = client.request(21, "tools/call", {"name": "add_memory", "arguments": {"text": "I like tea"}})
        assert not added["result"].get("isError"), added
        assert _list_texts(client, 22) == ["I like tea"]
        assert client.proc.poll() is None


def test_check_line_classifies_without_recursing() -> None:
    assert check_line(b"   \n") == (None, None)  # blank lines are ignored, as the SDK would
    ok = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}\n'
    assert check_line(ok) == (ok.decode().strip(), None)
    nested = '{"jsonrpc": "2.0", "method": "ping", "id": 9, "params": {"a": ' + "[" * 100_000
    _, error = check_line(nested.encode())
    assert error is not None and error["id"] == 9 and error["error"]["code"] == -32600
    _, error = check_line(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode())
    assert error is not None and "batches" in error["error"]["message"]  # within the depth limit: parsed
    _, error = check_line(b'{"method": "ping", "id": "\\ud800"}')  # a surrogate id is not echoed back
    assert error is not None and error["id"] is None and error["error"]["code"] == -32600


async def test_pinned_server_confines_every_tool_call_to_its_user(tmp_path: Path) -> None:
    async with session(tmp_path, "--user", "bob") as client:  # unpinned: bob's memory, the victim
        bobs = (await call(client, "add_memory", text="bob's bank PIN is 1234"))["results"][0]["id"]

    async with session(tmp_path, "--pin-user", "alice") as client:
        mine = (await call(client, "add_memory", text="I like green tea"))["results"][0]
        [listed] = (await call(client, "list_memories"))["results"]
        assert (listed["id"], listed["memory"], listed["user_id"]) == (mine["id"], "I like green tea", "alice")
        assert [m["id"] for m in (await call(client, "list_memories", user_id="alice"))["results"]] == [mine["id"]]
        hits = (await call(client, "search_memories", query="bank PIN"))["results"]
        assert [h["id"] for h in hits] == [mine["id"]]

        for tool, arguments in [
            ("list_memories", {"user_id": "bob"}),
            ("search_memories", {"query": "bank PIN", "user_id": "bob"}),
            ("delete_memory", {"memory_id": bobs, "user_id": "bob"}),
            ("add_memory", {"text": "planted", "user_id": "bob"}),
            ("list_memories", {"filters": {"user_id": "bob"}}),
            ("search_memories", {"query": "PIN", "filters": {"user_id": "bob"}}),
        ]:
            message = await call_error(client, tool, **arguments)
            assert "pinned to user_id='alice'" in message and "user_id='bob'" in message, (tool, message)

        # a filter reaching for bob below the top level only narrows alice's scope
        for filters in ({"OR": [{"user_id": "bob"}, {"user_id": "alice"}]}, {"NOT": [{"user_id": "alice"}]}):
            try:
                found = (await call(client, "list_memories", filters=filters))["results"]
            except AssertionError:  # refused outright is as good
                continue
            assert all(m["user_id"] == "alice" for m in found), found

        # another scope's memory by id alone, or under another agent/run of the pinned user: not found
        assert "not found" in await call_error(client, "delete_memory", memory_id=bobs)
        assert "not found" in await call_error(client, "delete_memory", memory_id=bobs, agent_id="x")
        assert await call(client, "list_memories", agent_id="x") == {"results": []}

        assert "deleted" in (await call(client, "delete_memory", memory_id=mine["id"]))["message"]
        assert (await call(client, "list_memories"))["results"] == []

    async with session(tmp_path, "--user", "bob") as client:  # bob's memory survived every attempt
        assert [m["id"] for m in (await call(client, "list_memories"))["results"]] == [bobs]


async def test_pin_agent_keeps_the_users_choice_within_the_agent(tmp_path: Path) -> None:
    async with session(tmp_path, "--pin-agent", "helper", "--user", "mia") as client:
        await call(client, "add_memory", text="mia's note")
        await call(client, "add_memory", text="noa's note", user_id="noa")
        [mias] = (await call(client, "list_memories"))["results"]
        assert (mias["memory"], mias["user_id"], mias["agent_id"]) == ("mia's note", "mia", "helper")
        [noas] = (await call(client, "list_memories", user_id="noa"))["results"]
        assert (noas["memory"], noas["user_id"], noas["agent_id"]) == ("noa's note", "noa", "helper")
        assert "pinned to agent_id='helper'" in await call_error(client, "list_memories", agent_id="other")


@pytest.mark.parametrize(("args", "message"), [
    (["--pin-user", "alice", "--user", "bob"], "--user bob contradicts --pin-user alice"),
    (["--pin-user", " "], "--pin-user needs a non-empty id"),
])
def test_contradictory_pins_are_refused_at_startup(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run([mem7_exe(), "mcp", *args], env=clean_env(tmp_path), capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and message in done.stderr, done.stderr
