"""GeminiLLM and GeminiEmbedder's own behaviour, with the real ``google-genai`` client against the
loopback emulator: the requests they build, strict JSON mode, task types, retries and the errors
they raise, and config resolution."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest
from pydantic import ValidationError

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.testing.llm import TINY_PNG_DATA_URL, WEATHER_TOOL, extraction_messages
from mem7_gemini import GeminiEmbedder, GeminiLLM

API_KEY = "gm-test"  # the emulator's (tests/conftest.py)


def _llm(server: Any, **cfg: Any) -> GeminiLLM:
    return GeminiLLM.from_config({"api_key": API_KEY, "base_url": server.url, "retry_backoff": 0.0, **cfg})


def _embedder(server: Any, **cfg: Any) -> GeminiEmbedder:
    return GeminiEmbedder.from_config({"api_key": API_KEY, "base_url": server.url, "retry_backoff": 0.0, **cfg})


async def _one(server: Any, messages: list[dict[str, Any]], cfg: dict[str, Any] | None = None,
               **kw: Any) -> tuple[Any, dict[str, Any]]:
    llm = _llm(server, **(cfg or {}))
    try:
        response = await llm.generate(messages, **kw)
    finally:
        await llm.aclose()
    return response, server.last().body


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


# ----------------------------------------------------------------------------------- LLM request
async def test_system_and_roles_are_translated(gemini_server: Any) -> None:
    response, body = await _one(gemini_server, [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again"},
        {"role": "user", "content": "Please"},
    ])
    assert body["systemInstruction"]["parts"] == [{"text": "Be terse."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][2]["parts"] == [{"text": "Again"}, {"text": "Please"}]
    assert body["generationConfig"]["temperature"] == 0.0 and body["generationConfig"]["maxOutputTokens"] == 1000
    assert gemini_server.last().path == f"/{gemini_server.last().path.split('/')[1]}/models/gemini-2.5-flash:generateContent"
    assert gemini_server.last().headers["x-goog-api-key"] == API_KEY
    assert response.content == "OK"


async def test_per_call_overrides_reach_the_body(gemini_server: Any) -> None:
    _, body = await _one(gemini_server, [{"role": "user", "content": "Hi"}], temperature=0.7, max_tokens=9)
    assert body["generationConfig"]["temperature"] == 0.7 and body["generationConfig"]["maxOutputTokens"] == 9


async def test_images_become_inline_and_file_data(gemini_server: Any) -> None:
    response, body = await _one(gemini_server, [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]}])
    parts = body["contents"][0]["parts"]
    # the client spells some fields in snake_case, which the proto JSON mapping accepts as well
    inline, file = parts[1]["inlineData"], parts[2]["fileData"]
    assert inline["data"] == TINY_PNG_DATA_URL.split(",", 1)[1]
    assert (inline.get("mimeType") or inline.get("mime_type")) == "image/png"
    assert (file.get("fileUri") or file.get("file_uri")) == "https://example.com/cat.png"
    assert (file.get("mimeType") or file.get("mime_type")) == "image/png"
    assert response.content == "An image."


async def test_a_bad_image_is_a_clear_error_without_a_request(gemini_server: Any) -> None:
    llm = _llm(gemini_server)
    with pytest.raises(ProviderError, match=r"messages\[0\]\.content\[0\].*base64"):
        await llm.generate([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}]}])
    await llm.aclose()
    assert gemini_server.count() == 0


async def test_tools_and_tool_history(gemini_server: Any) -> None:
    response, body = await _one(gemini_server, [{"role": "user", "content": "Use get_weather for Paris"}],
                                tools=[WEATHER_TOOL])
    [decl] = body["tools"][0]["functionDeclarations"]
    assert decl["name"] == "get_weather" and decl["description"] == "Current weather for a city."
    [call] = response.tool_calls
    assert call["name"] == "get_weather" and call["arguments"] == {"city": "test"}
    _, body = await _one(gemini_server, [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "sunny"}'},
    ], tools=[WEATHER_TOOL])
    assert body["contents"][1]["parts"][0]["functionCall"]["args"] == {"city": "Paris"}
    response_part = body["contents"][2]["parts"][0]["functionResponse"]
    assert response_part["name"] == "get_weather" and response_part["response"] == {"sky": "sunny"}


# ----------------------------------------------------------------------------------- JSON mode
async def test_json_mode_asks_for_json_with_a_schema(gemini_server: Any) -> None:
    response, body = await _one(gemini_server, extraction_messages("user: My name is Bob."), response_format="json")
    gen = body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseJsonSchema"] == {"type": "object"}
    assert "Bob" in response.content


async def test_json_mode_mime_only_and_off(gemini_server: Any) -> None:
    _, body = await _one(gemini_server, extraction_messages("user: Hi"), {"json_mode": "mime"}, response_format="json")
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in body["generationConfig"]
    llm = _llm(gemini_server, json_mode="off")
    assert llm.capabilities.json_mode is False
    await llm.generate(extraction_messages("user: Hi"), response_format="json")
    await llm.aclose()
    assert "responseMimeType" not in gemini_server.last().body.get("generationConfig", {})


@pytest.mark.parametrize("text, match", [("Sure: {\"facts\": []}", "not JSON"), ("[1, 2]", "not an object")])
async def test_json_mode_parses_strictly(gemini_server: Any, text: str, match: str) -> None:
    gemini_server.script([{"text": text}])
    with pytest.raises(ProviderError, match=match):
        await _one(gemini_server, extraction_messages("user: Hi"), {"max_retries": 0}, response_format="json")


async def test_json_cut_at_max_tokens_names_the_field(gemini_server: Any) -> None:
    gemini_server.script({"finishReason": "MAX_TOKENS", "parts": [{"text": '{"facts": ["a lo'}]})
    with pytest.raises(ProviderError, match=r"max_tokens: raise llm\.config\.max_tokens"):
        await _one(gemini_server, extraction_messages("user: Hi"), {"max_retries": 0}, response_format="json")


async def test_a_blocked_answer_is_an_error(gemini_server: Any) -> None:
    gemini_server.script({"finishReason": "SAFETY", "parts": []})
    with pytest.raises(ProviderError, match=r"blocked .*SAFETY") as info:
        await _one(gemini_server, [{"role": "user", "content": "Hi"}])
    assert not info.value.retryable


# ------------------------------------------------------------------------------ retries, errors
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_retryable_statuses_are_retried(gemini_server: Any, status: int) -> None:
    gemini_server.fail_next(2, status=status, retry_after=0)
    response, _ = await _one(gemini_server, [{"role": "user", "content": "Hi"}])
    assert response.content == "OK" and gemini_server.count() == 3


async def test_retries_are_bounded_and_the_error_says_so(gemini_server: Any) -> None:
    gemini_server.fail_next(10, status=429, retry_after=0)
    with pytest.raises(ProviderError, match=r"rate limited \(429\) after 3 attempts.*RESOURCE_EXHAUSTED") as info:
        await _one(gemini_server, [{"role": "user", "content": "Hi"}])
    assert info.value.retryable and info.value.provider == "gemini" and gemini_server.count() == 3


async def test_a_wrong_key_says_so_and_is_not_retried(gemini_server: Any) -> None:
    llm = GeminiLLM.from_config({"api_key": "wrong", "base_url": gemini_server.url})
    with pytest.raises(ProviderError, match=r"API_KEY_INVALID.*GEMINI_API_KEY") as info:
        await llm.generate([{"role": "user", "content": "Hi"}])
    await llm.aclose()
    assert not info.value.retryable and gemini_server.count() == 1


async def test_an_unknown_model_names_the_field(gemini_server: Any) -> None:
    with pytest.raises(ProviderError, match=r"not found \(404\).*llm\.config\.model"):
        await _one(gemini_server, [{"role": "user", "content": "Hi"}], {"model": "palm-2"})
    assert gemini_server.count() == 1


async def test_a_slow_answer_times_out_and_is_retried(gemini_server: Any) -> None:
    gemini_server.slow_next(1, delay=1.5)
    response, _ = await _one(gemini_server, [{"role": "user", "content": "Hi"}], {"timeout": 0.4})
    assert response.content == "OK" and gemini_server.count() == 2


async def test_dropped_connections_end_as_unreachable(gemini_server: Any) -> None:
    gemini_server.drop_next(5)
    with pytest.raises(ProviderError, match="unreachable after 2 attempts") as info:
        await _one(gemini_server, [{"role": "user", "content": "Hi"}], {"max_retries": 1})
    assert info.value.retryable


async def test_the_client_makes_one_attempt_per_retry_of_ours(gemini_server: Any) -> None:
    """The SDK's own silent retry of a dropped connection (after a 1-10 s sleep) is off."""
    gemini_server.drop_next(5)
    with pytest.raises(ProviderError, match="unreachable after 1 attempt"):
        await _one(gemini_server, [{"role": "user", "content": "Hi"}], {"max_retries": 0})
    assert gemini_server.count() == 1


# ------------------------------------------------------------------------------------ embedder
@pytest.mark.parametrize("purpose, task", [("add", "RETRIEVAL_DOCUMENT"), ("update", "RETRIEVAL_DOCUMENT"),
                                           ("search", "RETRIEVAL_QUERY")])
async def test_purpose_picks_the_task_type(gemini_server: Any, purpose: Any, task: str) -> None:
    emb = _embedder(gemini_server)
    rows = await emb.embed(["coffee in the morning", ""], purpose=purpose)
    await emb.aclose()
    rec = gemini_server.last()
    assert rec.extra["rpc"] == "batchEmbedContents" and rec.extra["model"] == "gemini-embedding-001"
    assert [r["taskType"] for r in rec.body["requests"]] == [task, task]
    assert [r["outputDimensionality"] for r in rec.body["requests"]] == [768, 768]
    assert rec.body["requests"][1]["content"]["parts"] == [{"text": " "}]  # the API rejects empty texts
    assert len(rows) == 2 and all(len(r) == 768 for r in rows)


async def test_query_and_document_vectors_differ(gemini_server: Any) -> None:
    emb = _embedder(gemini_server)
    [doc] = await emb.embed(["coffee"], purpose="add")
    [query] = await emb.embed(["coffee"], purpose="search")
    await emb.aclose()
    assert doc != query


async def test_truncated_vectors_are_normalised_here(gemini_server: Any) -> None:
    emb = _embedder(gemini_server, embedding_dims=128)
    raw = _embedder(gemini_server, embedding_dims=128, normalize=False)
    [a] = await emb.embed(["a text of some length"])
    [b] = await raw.embed(["a text of some length"])
    await emb.aclose()
    await raw.aclose()
    assert abs(_norm(a) - 1.0) < 1e-6
    assert abs(_norm(b) - 1.0) > 0.1  # the service (and the emulator) does not normalise below full size
    assert [x / _norm(b) for x in b] == pytest.approx(a)


async def test_big_batches_are_split_in_order(gemini_server: Any) -> None:
    emb = _embedder(gemini_server, embedding_dims=64, batch_size=100)
    texts = [f"text number {i}" for i in range(230)]
    rows = await emb.embed(texts)
    [alone] = await emb.embed([texts[170]])
    await emb.aclose()
    assert gemini_server.count(rpc="batchEmbedContents") == 4
    assert sorted(len(r.body["requests"]) for r in gemini_server.requests[:3]) == [30, 100, 100]
    assert rows[170] == pytest.approx(alone)


async def test_a_dimension_mismatch_names_the_field(gemini_server: Any) -> None:
    emb = _embedder(gemini_server, send_dimensions=False)  # the model answers its full 3072
    with pytest.raises(ProviderError, match=r"set embedder\.config\.embedding_dims to 3072"):
        await emb.embed(["hello"])
    await emb.aclose()
    assert "outputDimensionality" not in gemini_server.last().body["requests"][0]


async def test_embedder_errors_are_retried_and_named(gemini_server: Any) -> None:
    gemini_server.fail_next(1, status=503)
    emb = _embedder(gemini_server)
    assert len(await emb.embed(["x"])) == 1
    assert gemini_server.count() == 2
    with pytest.raises(ProviderError, match=r"not found \(404\).*embedder\.config\.model"):
        await _embedder(gemini_server, model="gemini-2.5-flash").embed(["x"])
    await emb.aclose()


# -------------------------------------------------------------------------------------- config
def test_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"GEMINI_API_KEY \(or GOOGLE_API_KEY\) or llm\.config\.api_key"):
        GeminiLLM.from_config({})
    with pytest.raises(ConfigError, match=r"embedder\.config\.api_key"):
        GeminiEmbedder.from_config({})


@pytest.mark.parametrize("var", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
async def test_key_and_base_url_from_the_environment(gemini_server: Any, monkeypatch: pytest.MonkeyPatch,
                                                     var: str) -> None:
    monkeypatch.setenv(var, API_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini_server.url)
    llm = GeminiLLM.from_config({"api_version": "v1beta"})
    assert (await llm.generate([{"role": "user", "content": "Hi"}])).content == "OK"
    await llm.aclose()
    assert gemini_server.last().path.startswith("/v1beta/models/")


def test_gemini_key_wins_over_google_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from mem7_gemini._common import resolve_key

    monkeypatch.setenv("GEMINI_API_KEY", "first")
    monkeypatch.setenv("GOOGLE_API_KEY", "second")
    assert resolve_key(GeminiLLM.Config(), "llm") == "first"


def test_unknown_or_out_of_range_fields_fail() -> None:
    with pytest.raises(ValidationError, match="max_token"):
        GeminiLLM.Config.model_validate({"max_token": 5})
    with pytest.raises(ValidationError, match="embedding_dims"):
        GeminiEmbedder.Config.model_validate({"embedding_dims": 4096})
    with pytest.raises(ValidationError, match="query_task_type"):
        GeminiEmbedder.Config.model_validate({"query_task_type": "SEARCH"})


def test_registered_through_the_entry_point() -> None:
    from mem7_core.plugins import PluginRegistry

    registry = PluginRegistry()
    assert registry.get("llm", "gemini") is GeminiLLM
    assert registry.get("embedder", "gemini") is GeminiEmbedder


def test_inline_data_is_the_image_bytes() -> None:
    from mem7_gemini.llm import _image_part

    part = _image_part(TINY_PNG_DATA_URL, "x")
    assert part.inline_data is not None
    assert part.inline_data.data == base64.b64decode(TINY_PNG_DATA_URL.split(",", 1)[1])


# --------------------------------------------------------------------------------- end to end
def test_the_real_genai_client_is_used() -> None:
    # --import-mode=importlib and a plugins/gemini/ dir: the name must resolve to the installed SDK.
    from google import genai

    assert "site-packages" in str(genai.__file__)


async def test_engine_adds_and_searches_through_gemini(gemini_server: Any) -> None:
    """An inferred add and a search: extraction in JSON mode, documents and queries with their task types."""
    from mem7_core import AsyncMemory

    conn = {"api_key": API_KEY, "base_url": gemini_server.url}
    cfg = {
        "llm": {"provider": "gemini", "config": conn},
        "embedder": {"provider": "gemini", "config": {**conn, "embedding_dims": 128}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    async with AsyncMemory(cfg) as mem:
        assert isinstance(mem.llm, GeminiLLM)
        await mem.add([{"role": "user", "content": "My name is Alice. I love hiking in the Alps."}], user_id="alice")
        found = await mem.search("hiking", user_id="alice")
    assert "hiking" in " ".join(r["memory"] for r in found["results"])
    chats = [r for r in gemini_server.requests if r.extra["rpc"] == "generateContent"]
    assert chats and all(r.body["generationConfig"]["responseMimeType"] == "application/json" for r in chats)
    tasks = {q["taskType"] for r in gemini_server.requests if r.extra["rpc"] == "batchEmbedContents"
             for q in r.body["requests"]}
    assert tasks == {"RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"}


def test_discovering_the_plugin_does_not_import_the_sdk() -> None:
    """The registry may import every plugin to find a provider: google-genai (~0.6 s) waits for the
    first Gemini provider."""
    import subprocess
    import sys

    code = "import sys, mem7_gemini.plugin; print('google.genai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
