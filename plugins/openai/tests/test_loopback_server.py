"""The loopback OpenAI-compatible server itself (mem7_core.testing.openai_server), over raw HTTP
and through the real ``openai`` client."""

from __future__ import annotations

import base64
import json
import socket
from array import array

import httpx
import openai
import pytest

from mem7_core.testing.fakes import hash_embedding, rule_based_reply
from mem7_core.testing.llm import extraction_messages
from mem7_core.testing.openai_server import Fault, OpenAIServer, ToolCall


def test_url_and_lifecycle() -> None:
    server = OpenAIServer()
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}/v1"
        assert server.start() is server  # idempotent
        r = httpx.get(f"{server.url}/models")
        assert r.status_code == 200 and r.json()["object"] == "list"
    server.stop()  # idempotent
    with server:  # restartable
        assert httpx.get(f"{server.url}/models").status_code == 200


def test_keep_alive_and_counts(openai_server: OpenAIServer) -> None:
    with httpx.Client(base_url=openai_server.url) as client:
        for _ in range(3):
            r = client.post("/embeddings", json={"model": "text-embedding-3-small", "input": "hi", "dimensions": 4})
            assert r.status_code == 200 and r.headers.get("connection") != "close"
        client.get("/models")
    assert openai_server.counts == {"embeddings": 3, "models": 1}
    assert openai_server.count() == 4


def test_raw_connection_reuse(openai_server: OpenAIServer) -> None:
    body = json.dumps({"model": "m", "input": ["a", "b"], "dimensions": 2}).encode()
    req = (f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", openai_server.port)) as sock:
        for _ in range(2):  # two requests on one socket
            sock.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            while len(rest) < length:
                rest += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")
            assert len(json.loads(rest)["data"]) == 2


def test_chunked_request_body(openai_server: OpenAIServer) -> None:
    def gen():
        yield b'{"model": "m", '
        yield b'"input": "chunked", "dimensions": 3}'

    r = httpx.post(f"{openai_server.url}/embeddings", content=gen(), headers={"content-type": "application/json"})
    assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 3


def test_embeddings_formats_and_validation(openai_server: OpenAIServer) -> None:
    url = f"{openai_server.url}/embeddings"
    r = httpx.post(url, json={"model": "text-embedding-3-small", "input": ["x y", "z"], "dimensions": 8})
    out = r.json()
    assert out["model"] == "text-embedding-3-small" and out["usage"]["prompt_tokens"] == 3
    assert [d["index"] for d in out["data"]] == [0, 1]
    b64 = httpx.post(url, json={"model": "m", "input": "x y", "dimensions": 8, "encoding_format": "base64"}).json()
    decoded = array("f", base64.b64decode(b64["data"][0]["embedding"])).tolist()
    assert decoded == out["data"][0]["embedding"]
    assert max(abs(a - b) for a, b in zip(decoded, hash_embedding("x y", 8), strict=True)) < 1e-6
    assert len(httpx.post(url, json={"model": "text-embedding-3-large", "input": "x"}).json()["data"][0]["embedding"]) == 3072
    for bad in ({"model": "m", "input": ""}, {"model": "m", "input": []}, {"input": "x"},
                {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8}):
        r = httpx.post(url, json=bad)
        assert r.status_code == 400 and "message" in r.json()["error"]
    assert httpx.post(url, content=b"{nope", headers={"content-type": "application/json"}).status_code == 400


def test_auth(openai_server: OpenAIServer) -> None:
    openai_server.api_key = "sk-right"
    url = f"{openai_server.url}/models"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer sk-wrong"}).json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(url, headers={"authorization": "Bearer sk-right"}).status_code == 200
    assert httpx.get(url, headers={"api-key": "sk-right"}).status_code == 200


def test_unknown_route_and_model(openai_server: OpenAIServer) -> None:
    assert httpx.post(f"{openai_server.url}/completions", json={}).status_code == 404
    assert httpx.get(f"{openai_server.url}/models/gpt-4.1-nano").json()["id"] == "gpt-4.1-nano"
    assert httpx.get(f"{openai_server.url}/models/nope").status_code == 404


async def test_chat_default_is_rule_based(openai_server: OpenAIServer) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.url, max_retries=0)
    messages = extraction_messages("user: I live in Lyon. I prefer tea.")
    r = await client.chat.completions.create(model="gpt-4.1-nano", messages=messages,
                                             response_format={"type": "json_object"})
    assert r.choices[0].message.content == rule_based_reply(messages)
    assert r.model == "gpt-4.1-nano" and r.choices[0].finish_reason == "stop"
    await client.close()


async def test_json_mode_rules(openai_server: OpenAIServer) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.url, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="json"):  # as the real API: the word must appear
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                             response_format={"type": "json_object"})
    r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi, in JSON"}],
                                             response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)  # non-JSON answers get wrapped
    await client.close()


async def test_scripts(openai_server: OpenAIServer) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.url, max_retries=0)
    hi = [{"role": "user", "content": "hi"}]

    async def ask(**kw):
        return (await client.chat.completions.create(model="m", messages=hi, **kw)).choices[0].message

    openai_server.script(["first", {"a": 1}, ToolCall("f", {"x": 1}, id="c1")])
    assert (await ask()).content == "first"
    assert json.loads((await ask()).content) == {"a": 1}
    msg = await ask()
    assert msg.tool_calls[0].id == "c1" and json.loads(msg.tool_calls[0].function.arguments) == {"x": 1}
    assert (await ask()).content == "OK"  # queue exhausted: default again
    openai_server.script(lambda messages: f"n={len(messages)}")
    assert (await ask()).content == "n=1"
    openai_server.script(lambda messages, body: body["model"])
    assert (await ask()).content == "m"
    openai_server.script([Fault(status=503, retry_after=2)])
    with pytest.raises(openai.InternalServerError) as info:
        await ask()
    assert info.value.response.headers["retry-after"] == "2"
    openai_server.script(lambda messages: 1 / 0)
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        await ask()
    assert isinstance(openai_server.errors[0], ZeroDivisionError)
    openai_server.script(None)
    assert (await ask()).content == "OK"
    await client.close()


async def test_tool_choice_and_named_tools(openai_server: OpenAIServer) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.url, max_retries=0)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "required": ["q", "n", "mode"],
        "properties": {"q": {"type": "string"}, "n": {"type": "integer"}, "mode": {"enum": ["fast", "slow"]}}}}}
    r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}],
                                             tools=[tool], tool_choice="required")
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"q": "test", "n": 0, "mode": "fast"}
    r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}], tools=[tool])
    assert r.choices[0].message.tool_calls is None
    r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "please lookup"}],
                                             tools=[tool], tool_choice="none")
    assert r.choices[0].message.tool_calls is None
    await client.close()


async def test_images(openai_server: OpenAIServer) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.url, max_retries=0)
    msg = [{"role": "user", "content": [{"type": "text", "text": "what?"},
                                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]
    r = await client.chat.completions.create(model="m", messages=msg)
    assert r.choices[0].message.content == "An image."
    openai_server.vision = False
    with pytest.raises(openai.BadRequestError, match="Image input"):
        await client.chat.completions.create(model="m", messages=msg)
    await client.close()


async def test_streaming(openai_server: OpenAIServer) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.url, max_retries=0)
    stream = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                  stream=True, stream_options={"include_usage": True})
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        usage = chunk.usage or usage
    assert text == "OK" and usage is not None
    await client.close()


async def test_fault_filters_and_reset(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(1, status=500, endpoint="chat")
    r = httpx.post(f"{openai_server.url}/embeddings", json={"model": "m", "input": "x", "dimensions": 2})
    assert r.status_code == 200  # the chat fault is not consumed by embeddings
    r = httpx.post(f"{openai_server.url}/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 500 and r.json()["error"]["message"]
    openai_server.malformed_next(body=b"")
    r = httpx.post(f"{openai_server.url}/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200 and r.content == b""
    openai_server.drop_next()
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{openai_server.url}/chat/completions", json={"model": "m", "messages": []})
    openai_server.fail_next(3, status=429)
    openai_server.latency = 0.5
    openai_server.reset()
    assert openai_server.count() == 0 and openai_server.latency == 0.0
    r = httpx.post(f"{openai_server.url}/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200


def test_recorded_requests(openai_server: OpenAIServer) -> None:
    httpx.post(f"{openai_server.url}/chat/completions?x=1", headers={"X-Trace": "t"},
               json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    rec = openai_server.last_request()
    assert (rec.method, rec.path, rec.endpoint, rec.query, rec.status) == ("POST", "/v1/chat/completions", "chat",
                                                                           {"x": "1"}, 200)
    assert rec.headers["x-trace"] == "t" and rec.body["model"] == "m"
    assert openai_server.last_request("embeddings") is None


def test_session_fixture(openai_server_session: OpenAIServer) -> None:
    openai_server_session.reset()
    assert httpx.get(f"{openai_server_session.url}/models").status_code == 200
    assert openai_server_session.count("models") == 1
