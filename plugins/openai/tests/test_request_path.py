"""The cheap request path: no client (nor ``openai`` import) at construction, one TLS context per
process, base64 embeddings decoded exactly, and the raw JSON answers parsed like the SDK would."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import subprocess
import sys
import textwrap

import pytest

from mem7_core.errors import ProviderError
from mem7_core.testing.fakes import hash_embedding
from mem7_core.testing.openai_server import OpenAIServer
from mem7_openai import OpenAIEmbedder, OpenAILLM
from mem7_openai._client import shared_ssl_context
from mem7_openai.embedder import _vector


def test_constructing_providers_imports_no_openai_and_builds_no_client() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        from mem7_openai import OpenAIEmbedder, OpenAILLM
        llm = OpenAILLM.from_config({"api_key": "k", "base_url": "https://example.invalid/v1"})
        emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": "https://example.invalid/v1"})
        print(json.dumps({"openai": "openai" in sys.modules, "clients": [llm._client, emb._client]}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"openai": False, "clients": [None, None]}


def test_the_platform_header_is_computed_once_per_process() -> None:
    """The SDK works out its ``X-Stainless-OS`` header per client, in a worker thread; the plugin
    does it once per process (it cannot change): a new engine's first requests wait for no thread."""
    code = textwrap.dedent(
        """
        import asyncio, json
        import openai._base_client as base
        from mem7_core.testing.openai_server import OpenAIServer
        from mem7_openai import OpenAILLM

        calls = []
        real = base.get_platform
        base.get_platform = lambda: calls.append(1) or real()

        async def main():
            srv = OpenAIServer().start()
            try:
                sent = []
                for _ in range(3):  # three engines' LLMs, one after the other
                    llm = OpenAILLM.from_config({"api_key": "k", "base_url": srv.url})
                    await llm.generate([{"role": "user", "content": "hi"}])
                    sent.append(srv.last_request("chat").headers.get("x-stainless-os"))
                    await llm.aclose()
                return sent
            finally:
                srv.stop()

        sent = asyncio.run(main())
        print(json.dumps({"calls": len(calls), "sent": sent, "real": str(real())}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["calls"] == 1  # three clients; the SDK alone would ask three times
    assert got["sent"] == [got["real"]] * 3  # and every request carries the SDK's own value


async def test_clients_share_one_tls_context(openai_server: OpenAIServer) -> None:
    conn = {"api_key": "k", "base_url": openai_server.url, "embedding_dims": 8}
    emb = OpenAIEmbedder.from_config(conn)
    llm = OpenAILLM.from_config({"api_key": "k", "base_url": openai_server.url})
    await emb.embed(["hello"])
    await llm.generate([{"role": "user", "content": "hi"}])
    contexts = set()
    for provider in (emb, llm):
        pool = provider._client._client._transport._pool  # the HTTP library's connection pool
        contexts.add(id(pool._ssl_context))
    assert contexts == {id(shared_ssl_context())}
    await emb.aclose()
    await llm.aclose()


async def test_embeddings_travel_as_base64_and_decode_exactly(openai_server: OpenAIServer) -> None:
    emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": openai_server.url, "embedding_dims": 48})
    texts = ["I like green tea", "my sister lives in Porto", " "]
    vectors = await emb.embed(texts)
    assert openai_server.last_request("embeddings").body["encoding_format"] == "base64"
    for text, vec in zip(texts, vectors, strict=True):
        want = struct.unpack("<48f", struct.pack("<48f", *hash_embedding(text, 48)))  # float32 round trip
        assert vec == list(want)
    await emb.aclose()


def test_vector_accepts_float_lists_and_rejects_garbage() -> None:
    raw = struct.pack("<3f", 0.5, -1.25, 2.0)
    assert _vector(base64.b64encode(raw).decode()) == [0.5, -1.25, 2.0]
    assert _vector([1, 2.5, -3]) == [1.0, 2.5, -3.0]  # servers that ignore encoding_format
    with pytest.raises(ValueError, match="float32"):
        _vector(base64.b64encode(b"12345").decode())
    with pytest.raises(TypeError, match="dict"):
        _vector({"x": 1})


@pytest.mark.parametrize(
    "body",
    [b'{"object": "chat.completion", "choices": []}', b'{"choices": [{"message": {"content": 5}}]}', b'[1, 2]'],
)
async def test_a_chat_answer_that_is_not_a_completion_is_a_clear_error(openai_server: OpenAIServer, body: bytes) -> None:
    llm = OpenAILLM.from_config({"api_key": "k", "base_url": openai_server.url, "max_retries": 0})
    openai_server.malformed_next(body=body, endpoint="chat")
    with pytest.raises(ProviderError, match="malformed response"):
        await llm.generate([{"role": "user", "content": "hi"}])
    openai_server.script(["fine"])
    assert (await llm.generate([{"role": "user", "content": "hi"}])).content == "fine"
    await llm.aclose()


async def test_embedding_answer_with_missing_vectors_is_a_clear_error(openai_server: OpenAIServer) -> None:
    emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": openai_server.url, "embedding_dims": 8,
                                      "max_retries": 0})
    openai_server.malformed_next(body=b'{"data": [{"index": 0}]}', endpoint="embeddings")
    with pytest.raises(ProviderError, match="malformed response"):
        await emb.embed(["hello"])
    await emb.aclose()


# ------------------------------------------------------------------------- the direct path
def _provider_pair(kind: str, conn: dict[str, object], alias: str) -> tuple[object, object]:
    cls = OpenAILLM if kind == "llm" else OpenAIEmbedder
    direct = cls.from_config({**conn, "transport": "direct"}, selected_as=alias)
    sdk = cls.from_config({**conn, "transport": "sdk"}, selected_as=alias)
    return direct, sdk


async def _call(provider: object, i: int) -> object:
    if isinstance(provider, OpenAILLM):
        return (await provider.generate([{"role": "user", "content": f"json please {i}"}],
                                        response_format="json")).content
    assert isinstance(provider, OpenAIEmbedder)
    return await provider.embed([f"text {i}"])


@pytest.mark.parametrize("alias", ["openai", "azure"])
@pytest.mark.parametrize("kind", ["llm", "embedder"])
async def test_direct_path_is_taken_and_sends_what_the_sdk_sends(openai_server: OpenAIServer, kind: str,
                                                                  alias: str) -> None:
    """Fails when an SDK upgrade moves the internals the direct path uses (it would fall back to
    the sdk transport and ``direct_calls`` stays 0), or when the two paths stop sending the same request."""
    if alias == "azure":
        conn: dict[str, object] = {"api_key": "k", "azure_endpoint": openai_server.root_url,
                                   "azure_deployment": "dep", "api_version": "2024-08-01-preview"}
    else:
        conn = {"api_key": "k", "base_url": openai_server.url, "organization": "org-1",
                "default_headers": {"X-Tenant": "t1"}}
    if kind == "embedder":
        conn["embedding_dims"] = 16
    direct, sdk = _provider_pair(kind, conn, alias)
    endpoint = "chat" if kind == "llm" else "embeddings"
    sent = []
    for provider in (direct, sdk):
        openai_server.script(["{}"] * 3)
        answers = [await _call(provider, i) for i in range(3)]
        rec = openai_server.last_request(endpoint)
        assert rec is not None
        # with_raw_response marks its requests (X-Stainless-Raw-Response), nothing else differs
        headers = {k: v for k, v in rec.headers.items() if k.lower() != "x-stainless-raw-response"}
        sent.append((answers, rec.path, rec.body, headers))
    assert direct._http.direct_calls == 3  # type: ignore[attr-defined]
    assert sdk._http.direct_calls == 0  # type: ignore[attr-defined]
    assert sent[0] == sent[1]
    headers = sent[0][3]
    assert headers["authorization" if alias == "openai" else "api-key"] in ("Bearer k", "k")
    if alias == "azure":
        assert sent[0][1].startswith("/openai/deployments/dep/")
    else:
        assert headers["openai-organization"] == "org-1" and headers["x-tenant"] == "t1"
    for provider in (direct, sdk):
        await provider.aclose()  # type: ignore[attr-defined]


async def test_direct_path_errors_are_the_sdks(openai_server: OpenAIServer) -> None:
    """Status errors, Retry-After and dropped connections behave the same on both paths."""
    import openai

    for path in ("direct", "sdk"):
        emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": openai_server.url, "embedding_dims": 8,
                                          "transport": path, "max_retries": 0})
        openai_server.fail_next(status=400, body={"error": {"message": "bad input field"}}, endpoint="embeddings")
        with pytest.raises(ProviderError, match=r"rejected \(400\).*bad input field") as info:
            await emb.embed(["x"])
        assert isinstance(info.value.__cause__, openai.BadRequestError)
        openai_server.fail_next(status=429, retry_after=2, endpoint="embeddings")
        with pytest.raises(ProviderError, match="rate limited") as info:
            await emb.embed(["x"])
        cause = info.value.__cause__
        assert isinstance(cause, openai.RateLimitError) and cause.response.headers["retry-after"] == "2"
        openai_server.drop_next(endpoint="embeddings")
        with pytest.raises(ProviderError, match="unreachable") as info:
            await emb.embed(["x"])
        assert isinstance(info.value.__cause__, openai.APIConnectionError)
        assert len(await emb.embed(["x"])) == 1
        assert emb._http.direct_calls == (4 if path == "direct" else 0)
        await emb.aclose()


async def test_direct_path_falls_back_to_the_sdk_when_the_sdk_lacks_what_it_needs(
    openai_server: OpenAIServer,
) -> None:
    """An SDK without the internals the direct path relies on: every call takes the sdk transport."""
    emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": openai_server.url, "embedding_dims": 8,
                                      "transport": "direct"})
    client = emb._http.client
    client._make_status_error_from_response = None  # type: ignore[method-assign]  # as if renamed
    vectors = await emb.embed(["a", "b"])
    assert len(vectors) == 2 and emb._http.direct_calls == 0
    assert openai_server.count("embeddings") == 1
    await emb.aclose()


async def test_direct_path_keeps_one_connection(openai_server: OpenAIServer) -> None:
    """Calls on the direct path reuse the client's keep-alive pool (no connection per call); the
    aiohttp backend's pool: ``test_wire_backends.py``."""
    llm = OpenAILLM.from_config({"api_key": "k", "base_url": openai_server.url, "transport": "direct",
                                 "http_backend": "httpx"})
    for _ in range(5):
        await llm.generate([{"role": "user", "content": "hi"}])
    pool = llm._client._client._transport._pool
    assert len(pool.connections) == 1 and llm._http.direct_calls == 5
    await llm.aclose()


def test_transport_is_validated_and_defaults_to_direct() -> None:
    from pydantic import ValidationError

    assert OpenAILLM.from_config({"api_key": "k"}).config.transport == "direct"
    assert OpenAIEmbedder.from_config({"api_key": "k"}).config.transport == "direct"
    assert OpenAILLM.from_config({"api_key": "k", "transport": "sdk"}).config.transport == "sdk"
    assert OpenAILLM.from_config({"api_key": "k", "request_path": "sdk"}).config.transport == "sdk"  # older name
    with pytest.raises(ValidationError, match="transport"):
        OpenAILLM.from_config({"api_key": "k", "transport": "fast"})
    with pytest.raises(ValidationError, match="request_path"):
        OpenAILLM.from_config({"api_key": "k", "request_path": "fast"})


async def test_the_default_transport_is_the_direct_path(openai_server: OpenAIServer) -> None:
    """Without ``transport`` in the config, calls take the direct path (never the resource methods,
    whose raw-response header marks them)."""
    llm = OpenAILLM(OpenAILLM.Config(api_key="k", base_url=openai_server.url))
    emb = OpenAIEmbedder(OpenAIEmbedder.Config(api_key="k", base_url=openai_server.url, embedding_dims=8))
    assert llm._http.direct and emb._http.direct
    await llm.generate([{"role": "user", "content": "hi"}])
    await emb.embed(["x"])
    assert llm._http.direct_calls == 1 and emb._http.direct_calls == 1
    for rec in (openai_server.last_request("chat"), openai_server.last_request("embeddings")):
        assert rec is not None and "x-stainless-raw-response" not in rec.headers
    await llm.aclose()
    await emb.aclose()


async def test_transport_sdk_uses_the_public_resource_methods(openai_server: OpenAIServer) -> None:
    """``transport: sdk``: calls go through ``chat.completions`` / ``embeddings`` (raw response),
    never the direct path."""
    llm = OpenAILLM(OpenAILLM.Config(api_key="k", base_url=openai_server.url, transport="sdk"))
    emb = OpenAIEmbedder(OpenAIEmbedder.Config(api_key="k", base_url=openai_server.url, embedding_dims=8,
                                               transport="sdk"))
    assert not llm._http.direct and not emb._http.direct
    await llm.generate([{"role": "user", "content": "hi"}])
    await emb.embed(["x"])
    assert llm._http.direct_calls == 0 and emb._http.direct_calls == 0
    for rec in (openai_server.last_request("chat"), openai_server.last_request("embeddings")):
        assert rec is not None and rec.headers.get("x-stainless-raw-response") == "true"
    await llm.aclose()
    await emb.aclose()


async def test_calls_starting_together_build_the_direct_request_once(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many calls on a new provider at once (adds starting together on a new engine): one of them
    builds the endpoint's request, the others wait for it, and all take the direct path."""
    from mem7_openai._client import LazyClient

    built: list[tuple[str, object]] = []
    template = LazyClient._template

    async def counting(self: LazyClient, client: object, path: str, model: object) -> object:
        built.append((path, model))
        return await template(self, client, path, model)

    monkeypatch.setattr(LazyClient, "_template", counting)
    emb = OpenAIEmbedder.from_config({"api_key": "k", "base_url": openai_server.url, "embedding_dims": 8,
                                      "transport": "direct"})
    vectors = await asyncio.gather(*(emb.embed([f"text {i}"]) for i in range(16)))
    assert [len(v) for v in vectors] == [1] * 16
    assert built == [("/embeddings", emb.model)] and emb._http.direct_calls == 16
    await emb.aclose()
