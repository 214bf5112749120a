"""The cheap request path: no client (nor ``openai`` import) at construction, one TLS context per
process, base64 embeddings decoded exactly, and the raw JSON answers parsed like the SDK would."""

from __future__ import annotations

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
