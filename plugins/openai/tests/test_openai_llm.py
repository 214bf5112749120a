"""OpenAILLM: the shared LLM conformance suite, then retries, errors, aliases and Azure, all with
the real ``openai`` client against the loopback server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.plugins import PluginRegistry
from mem7_core.testing import LLMConformance
from mem7_core.testing.llm import TINY_PNG_DATA_URL, WEATHER_TOOL, extraction_messages
from mem7_core.testing.openai_server import Fault, OpenAIServer, ToolCall
from mem7_openai import OpenAIEmbedder, OpenAILLM

HELLO = [{"role": "user", "content": "Hello there"}]


def make_llm(server: OpenAIServer, **cfg: Any) -> OpenAILLM:
    cfg.setdefault("api_key", "sk-test")
    cfg.setdefault("base_url", server.url)
    cfg.setdefault("retry_backoff", 0.0)
    return OpenAILLM.from_config(cfg)


class TestOpenAIConformance(LLMConformance):
    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self, openai_server: OpenAIServer):
        provider = make_llm(openai_server, enable_vision=True)
        yield provider
        await provider.aclose()


class TestOpenAIConformanceNoVision(LLMConformance):
    """Default config (vision off) against a server whose model rejects images."""

    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self):
        with OpenAIServer(api_key="sk-test", vision=False) as server:
            provider = make_llm(server)
            yield provider
            await provider.aclose()


# ------------------------------------------------------------------------------------ requests
async def test_json_mode_flag_sent(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server)
    await llm.generate(extraction_messages("user: My name is Bob."), response_format="json")
    body = openai_server.last_request("chat").body
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "gpt-4.1-nano"
    assert body["temperature"] == 0.0 and body["max_tokens"] == 1000
    await llm.generate(HELLO)
    assert "response_format" not in openai_server.last_request("chat").body
    await llm.aclose()


async def test_overrides_and_bearer_auth(openai_server: OpenAIServer) -> None:
    openai_server.api_key = "sk-secret"
    llm = make_llm(openai_server, api_key="sk-secret", model="gpt-4.1-mini", default_headers={"X-Team": "mem7"})
    await llm.generate(HELLO, temperature=0.7, max_tokens=12)
    req = openai_server.last_request("chat")
    assert req.headers["authorization"] == "Bearer sk-secret"
    assert req.headers["x-team"] == "mem7"
    assert (req.body["model"], req.body["temperature"], req.body["max_tokens"]) == ("gpt-4.1-mini", 0.7, 12)
    await llm.aclose()


async def test_reasoning_models_get_max_completion_tokens(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server, model="o4-mini")
    await llm.generate(HELLO)
    body = openai_server.last_request("chat").body
    assert body["max_completion_tokens"] == 1000
    assert "max_tokens" not in body and "temperature" not in body
    await llm.aclose()


async def test_one_client_per_instance_and_one_request_per_call(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server)
    assert llm._client is None  # construction builds no client (no TLS context, no openai import)
    await asyncio.gather(*(llm.generate(HELLO) for _ in range(5)))
    client = llm._client
    assert client is not None
    await llm.generate(HELLO)
    assert llm._client is client
    assert openai_server.count("chat") == 6
    await llm.aclose()


async def test_tool_calls_returned_as_dicts(openai_server: OpenAIServer) -> None:
    openai_server.script([[ToolCall("get_weather", {"city": "Paris"}, id="call_1"), ToolCall("get_weather", "not json")]])
    llm = make_llm(openai_server)
    resp = await llm.generate([{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL])
    assert openai_server.last_request("chat").body["tools"] == [WEATHER_TOOL]
    assert resp.tool_calls[0] == {"id": "call_1", "type": "function", "name": "get_weather",
                                  "arguments": {"city": "Paris"}}
    assert resp.tool_calls[1]["arguments"] == {} and resp.tool_calls[1]["raw_arguments"] == "not json"
    await llm.aclose()


async def test_images_become_placeholders_when_vision_off(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server)
    assert llm.capabilities.vision is False
    await llm.generate([{"role": "user", "content": [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}},
    ]}])
    sent = openai_server.last_request("chat").body["messages"][0]["content"]
    assert sent == "Look:\n[image: https://example.com/cat.png]\n[image]"


async def test_images_sent_when_vision_on(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server, enable_vision=True)
    assert llm.capabilities.vision is True
    parts = [{"type": "text", "text": "Look:"}, {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}}]
    resp = await llm.generate([{"role": "user", "content": parts}])
    assert openai_server.last_request("chat").body["messages"][0]["content"] == parts
    assert resp.content == "An image."
    await llm.aclose()


async def test_usage_reported(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server)
    resp = await llm.generate(HELLO)
    assert resp.usage["total_tokens"] == resp.usage["prompt_tokens"] + resp.usage["completion_tokens"] > 0
    await llm.aclose()


async def test_json_schema_mode_for_lmstudio(openai_server: OpenAIServer) -> None:
    llm = OpenAILLM.from_config({"base_url": openai_server.url, "model": "qwen2.5-7b"}, selected_as="lmstudio")
    await llm.generate(extraction_messages("user: I like tea."), response_format="json")
    rf = openai_server.last_request("chat").body["response_format"]
    assert rf["type"] == "json_schema"
    off = make_llm(openai_server, json_mode="off")
    assert off.capabilities.json_mode is False
    await off.generate(extraction_messages("user: I like tea."), response_format="json")
    assert "response_format" not in openai_server.last_request("chat").body
    await llm.aclose()
    await off.aclose()


# ------------------------------------------------------------------------------------ retries
async def test_retries_on_429_then_succeeds(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(2, status=429, retry_after=0)
    llm = make_llm(openai_server, max_retries=2)
    resp = await llm.generate(HELLO)
    assert resp.content == "OK"
    assert openai_server.count("chat") == 3
    await llm.aclose()


async def test_retry_after_is_honoured_and_backoff_grows(openai_server: OpenAIServer) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    openai_server.fail_next(1, status=429, retry_after=1.5)
    openai_server.fail_next(2, status=503)
    llm = make_llm(openai_server, max_retries=3, retry_backoff=0.5, retry_max_backoff=1.5)
    llm._retrier.sleep = record
    assert (await llm.generate(HELLO)).content == "OK"
    assert openai_server.count("chat") == 4
    assert waits[0] == 1.5  # Retry-After wins over the backoff
    assert 0.75 <= waits[1] <= 1.0  # 0.5 * 2**1, with up to 25 % jitter off
    assert 1.125 <= waits[2] <= 1.5  # 0.5 * 2**2 = 2.0, capped at retry_max_backoff
    await llm.aclose()


async def test_long_retry_after_is_not_waited_for(openai_server: OpenAIServer) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    openai_server.fail_next(1, status=429, retry_after=3600)
    llm = make_llm(openai_server, max_retries=3)
    llm._retrier.sleep = record
    with pytest.raises(ProviderError, match="429"):
        await llm.generate(HELLO)
    assert waits == [] and openai_server.count("chat") == 1
    await llm.aclose()


async def test_bounded_retries_then_provider_error(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(10, status=429, retry_after=0)
    llm = make_llm(openai_server, max_retries=2)
    with pytest.raises(ProviderError) as info:
        await llm.generate(HELLO)
    assert info.value.provider == "openai"
    assert "429" in str(info.value) and "3 attempts" in str(info.value)
    assert openai_server.count("chat") == 3
    await llm.aclose()


async def test_server_errors_and_dropped_connections_are_retried(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(1, status=500, retry_after=0)
    openai_server.drop_next(1)
    llm = make_llm(openai_server, max_retries=2)
    assert (await llm.generate(HELLO)).content == "OK"
    assert openai_server.count("chat") == 3
    await llm.aclose()


async def test_client_errors_are_not_retried(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(3, status=400, body={"error": {"message": "bad things", "type": "invalid_request_error"}})
    llm = make_llm(openai_server, max_retries=2)
    with pytest.raises(ProviderError, match="bad things"):
        await llm.generate(HELLO)
    assert openai_server.count("chat") == 1
    await llm.aclose()


async def test_zero_retries(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(1, status=503)
    llm = make_llm(openai_server, max_retries=0)
    with pytest.raises(ProviderError, match="503"):
        await llm.generate(HELLO)
    assert openai_server.count("chat") == 1
    await llm.aclose()


# ------------------------------------------------------------------------------------ errors
async def test_timeout_is_a_provider_error(openai_server: OpenAIServer) -> None:
    openai_server.inject(Fault(status=200, body={}, delay=5.0))
    llm = make_llm(openai_server, timeout=0.2, max_retries=0)
    with pytest.raises(ProviderError, match="timed out") as info:
        await llm.generate(HELLO)
    assert info.value.provider == "openai"
    await llm.aclose()


async def test_unreachable_server_names_the_url() -> None:
    with OpenAIServer() as server:
        url = server.url
    llm = OpenAILLM.from_config({"api_key": "sk-test", "base_url": url, "max_retries": 1, "retry_backoff": 0.0})
    with pytest.raises(ProviderError) as info:
        await llm.generate(HELLO)
    assert url in str(info.value) and "unreachable" in str(info.value)
    assert info.value.provider == "openai"
    await llm.aclose()


async def test_wrong_key_says_check_the_key(openai_server: OpenAIServer) -> None:
    openai_server.api_key = "sk-right"
    llm = make_llm(openai_server, api_key="sk-wrong", max_retries=3)
    with pytest.raises(ProviderError, match=r"401.*OPENAI_API_KEY or llm\.config\.api_key"):
        await llm.generate(HELLO)
    assert openai_server.count("chat") == 1  # auth failures are not retried
    await llm.aclose()


@pytest.mark.parametrize("body", [b'{"choices": [', b"", b"not json", b'{"object": "chat.completion"}'])
async def test_malformed_bodies_are_provider_errors(openai_server: OpenAIServer, body: bytes) -> None:
    # Retried like other transient errors (issue 16): the body that is not JSON fails only when
    # every attempt gets one; a JSON body of the wrong shape is retryable for the engine.
    llm = make_llm(openai_server, retry_backoff=0)
    openai_server.malformed_next(1 + llm.config.max_retries, body=body)
    with pytest.raises(ProviderError, match="malformed response") as info:
        await llm.generate(HELLO)
    assert info.value.retryable
    openai_server.reset()
    assert (await llm.generate(HELLO)).content == "OK"  # the client is still usable
    await llm.aclose()


async def test_missing_model_is_a_not_found_hint(openai_server: OpenAIServer) -> None:
    openai_server.fail_next(1, status=404, body={"error": {"message": "model 'x' not found"}})
    llm = make_llm(openai_server, model="x")
    with pytest.raises(ProviderError, match=r"404.*llm.config.model \('x'\)"):
        await llm.generate(HELLO)
    await llm.aclose()


async def test_generate_after_aclose(openai_server: OpenAIServer) -> None:
    llm = make_llm(openai_server)
    await llm.aclose()
    with pytest.raises(ProviderError):
        await llm.generate(HELLO)


# ------------------------------------------------------------------------------------ config
def test_missing_api_key_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"openai llm: no api_key\. Set OPENAI_API_KEY or llm.config.api_key"):
        OpenAILLM.from_config({})
    with pytest.raises(ConfigError, match="GROQ_API_KEY"):
        OpenAILLM.from_config({}, selected_as="groq")
    with pytest.raises(ConfigError, match=r"AZURE_OPENAI_API_KEY or embedder\.config\.api_key"):
        OpenAIEmbedder.from_config({"azure_endpoint": "https://x.openai.azure.com"}, selected_as="azure")


def test_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    llm = OpenAILLM.from_config({})
    assert llm.connection.api_key == "sk-env"
    assert llm.base_url == "http://127.0.0.1:1/v1"
    assert llm.model == "gpt-4.1-nano"
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert OpenAILLM.from_config({}).base_url == "https://api.openai.com/v1"


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="temprature"):
        OpenAILLM.from_config({"api_key": "k", "temprature": 0.5})


def test_api_key_not_in_repr() -> None:
    llm = OpenAILLM.from_config({"api_key": "sk-very-secret"})
    assert "sk-very-secret" not in repr(llm.config) and "sk-very-secret" not in repr(llm)


@pytest.mark.parametrize(
    ("alias", "base_url", "model"),
    [
        ("ollama", "http://localhost:11434/v1", "llama3.1"),
        ("together", "https://api.together.xyz/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("xai", "https://api.x.ai/v1", "grok-3-mini"),
        ("grok", "https://api.x.ai/v1", "grok-3-mini"),
        ("deepseek", "https://api.deepseek.com/v1", "deepseek-chat"),
        ("groq", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile"),
    ],
)
def test_alias_defaults(monkeypatch: pytest.MonkeyPatch, alias: str, base_url: str, model: str) -> None:
    for var in ("TOGETHER_API_KEY", "XAI_API_KEY", "DEEPSEEK_API_KEY", "GROQ_API_KEY"):
        monkeypatch.setenv(var, f"key-{var}")
    llm = OpenAILLM.from_config({}, selected_as=alias)
    assert (llm.base_url, llm.model) == (base_url, model)


def test_alias_key_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-env")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    groq = OpenAILLM.from_config({"model": "mixtral"}, selected_as="groq")
    assert groq.connection.api_key == "gsk-env" and groq.model == "mixtral"
    ollama = OpenAILLM.from_config({"ollama_base_url": "http://gpu-box:11434/v1"}, selected_as="ollama")
    assert ollama.base_url == "http://gpu-box:11434/v1"
    assert ollama.connection.api_key == "ollama"  # no key needed: a placeholder


def test_vllm_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="vllm llm: no model"):
        OpenAILLM.from_config({}, selected_as="vllm")
    vllm = OpenAILLM.from_config({"model": "Qwen/Qwen2.5-7B-Instruct"}, selected_as="vllm")
    assert vllm.base_url == "http://localhost:8000/v1" and vllm.connection.api_key == "EMPTY"
    monkeypatch.setenv("VLLM_API_KEY", "token")
    assert OpenAILLM.from_config({"model": "m"}, selected_as="vllm").connection.api_key == "token"


async def test_ollama_alias_against_loopback(openai_server: OpenAIServer) -> None:
    llm = OpenAILLM.from_config({"base_url": openai_server.url}, selected_as="ollama")
    resp = await llm.generate(HELLO)
    assert resp.content == "OK"
    req = openai_server.last_request("chat")
    assert req.body["model"] == "llama3.1" and req.headers["authorization"] == "Bearer ollama"
    await llm.aclose()


# ------------------------------------------------------------------------------------ azure
async def test_azure_deployment_route(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    openai_server.api_key = "azure-key"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", openai_server.root_url)
    llm = OpenAILLM.from_config({"azure_deployment": "nano-prod", "retry_backoff": 0.0}, selected_as="azure")
    resp = await llm.generate(extraction_messages("user: My name is Zoe."), response_format="json")
    assert "Zoe" in resp.content
    req = openai_server.last_request("chat")
    assert req.path == "/openai/deployments/nano-prod/chat/completions"
    assert req.deployment == "nano-prod"
    assert req.query["api-version"] == "2024-10-21"
    assert req.headers["api-key"] == "azure-key"
    await llm.aclose()


async def test_azure_mem0_kwargs_and_model_as_deployment(openai_server: OpenAIServer) -> None:
    llm = OpenAILLM.from_config(
        {"model": "gpt-4o", "azure_kwargs": {"api_key": "k", "azure_endpoint": openai_server.root_url,
                                             "api_version": "2025-01-01-preview"}},
        selected_as="azure_openai",
    )
    await llm.generate(HELLO)
    req = openai_server.last_request("chat")
    assert req.deployment == "gpt-4o" and req.query["api-version"] == "2025-01-01-preview"
    await llm.aclose()


def test_azure_needs_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        OpenAILLM.from_config({}, selected_as="azure")


# ------------------------------------------------------------------------------------ registry
def test_registry_resolves_aliases() -> None:
    registry = PluginRegistry()
    assert registry.get("llm", "openai") is OpenAILLM
    for alias in ("ollama", "groq", "together", "xai", "grok", "deepseek", "vllm", "lmstudio", "azure", "azure_openai"):
        assert registry.get("llm", alias) is OpenAILLM, alias
    for alias in ("openai", "ollama", "vllm", "lmstudio", "together", "azure", "azure_openai"):
        assert registry.get("embedder", alias) is OpenAIEmbedder, alias
    assert registry.origin("llm", "ollama") == "openai"


def test_registry_create_passes_the_alias() -> None:
    llm = PluginRegistry().create("llm", "ollama", {"model": "qwen3"})
    assert isinstance(llm, OpenAILLM)
    assert llm.alias.name == "ollama" and llm.base_url == "http://localhost:11434/v1"
