"""Every provider alias of mem7-openai: it resolves to this plugin through the registry, with the
alias's default base URL, model and API-key variable, and that key reaches the server; Azure's
deployment and api-version (from config or environment) reach the loopback server's Azure routes."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderNotFoundError
from mem7_core.plugins import PluginRegistry
from mem7_core.testing.openai_server import OpenAIServer
from mem7_openai import OpenAIEmbedder, OpenAILLM

HELLO = [{"role": "user", "content": "Hello there"}]

# alias, default base URL, key variable, key required?, placeholder key, default LLM model (None: required)
ALIASES: list[tuple[str, str, str, bool, str | None, str | None]] = [
    ("ollama", "http://localhost:11434/v1", "OLLAMA_API_KEY", False, "ollama", "llama3.1"),
    ("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", False, "EMPTY", None),
    ("lmstudio", "http://localhost:1234/v1", "LMSTUDIO_API_KEY", False, "lm-studio", None),
    ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", True, None, "llama-3.3-70b-versatile"),
    ("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", True, None,
     "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", True, None, "deepseek-chat"),
    ("xai", "https://api.x.ai/v1", "XAI_API_KEY", True, None, "grok-3-mini"),
    ("grok", "https://api.x.ai/v1", "XAI_API_KEY", True, None, "grok-3-mini"),
]
ALIAS_NAMES = [a[0] for a in ALIASES]
ALL_LLM_ALIASES = [*ALIAS_NAMES, "azure", "azure_openai"]
EMBEDDER_ALIASES = ["ollama", "vllm", "lmstudio", "together", "azure", "azure_openai"]
NO_EMBEDDINGS = ["groq", "deepseek", "xai", "grok"]


def model_cfg(model: str | None) -> dict[str, Any]:
    return {} if model is not None else {"model": "served-model"}


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry()


# ------------------------------------------------------------------ resolution
def test_the_openai_entry_point_is_mem7_openai() -> None:
    [ep] = [ep for ep in entry_points(group="mem7") if ep.name == "openai"]
    assert ep.dist is not None and ep.dist.name == "mem7-openai"
    assert ep.value == "mem7_openai.plugin"


@pytest.mark.parametrize("alias", ALL_LLM_ALIASES)
def test_llm_alias_resolves_to_mem7_openai(registry: PluginRegistry, alias: str) -> None:
    assert registry.get("llm", alias) is OpenAILLM
    assert registry.origin("llm", alias) == "openai"


@pytest.mark.parametrize("alias", EMBEDDER_ALIASES)
def test_embedder_alias_resolves_to_mem7_openai(registry: PluginRegistry, alias: str) -> None:
    assert registry.get("embedder", alias) is OpenAIEmbedder
    assert registry.origin("embedder", alias) == "openai"


@pytest.mark.parametrize("alias", NO_EMBEDDINGS)
def test_aliases_without_an_embeddings_api(registry: PluginRegistry, alias: str) -> None:
    with pytest.raises(ProviderNotFoundError, match=f"No embedder provider named '{alias}'"):
        registry.get("embedder", alias)
    with pytest.raises(ConfigError, match=f"{alias} has no embeddings API"):
        OpenAIEmbedder(OpenAIEmbedder.Config(api_key="k"), alias=alias)


# ------------------------------------------------------------------ defaults and keys
@pytest.mark.parametrize(("alias", "base_url", "key_env", "required", "placeholder", "model"), ALIASES)
def test_default_base_url_model_and_key_variable(
    registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch,
    alias: str, base_url: str, key_env: str, required: bool, placeholder: str | None, model: str | None,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-aliases")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")  # the openai provider's only
    monkeypatch.setenv(key_env, f"key-from-{key_env}")
    llm = registry.create("llm", alias, model_cfg(model))
    assert isinstance(llm, OpenAILLM) and llm.alias.name == alias
    assert llm.base_url == base_url
    assert llm.model == (model or "served-model")
    assert llm.connection.api_key == f"key-from-{key_env}"


@pytest.mark.parametrize(("alias", "base_url", "key_env", "required", "placeholder", "model"), ALIASES)
def test_missing_key(
    alias: str, base_url: str, key_env: str, required: bool, placeholder: str | None, model: str | None,
) -> None:
    if required:
        with pytest.raises(ConfigError, match=rf"{alias} llm: no api_key\. Set {key_env} or llm\.config\.api_key"):
            OpenAILLM.from_config(model_cfg(model), selected_as=alias)
    else:  # local servers need no key: a placeholder is sent
        llm = OpenAILLM.from_config(model_cfg(model), selected_as=alias)
        assert llm.connection.api_key == placeholder


@pytest.mark.parametrize(("alias", "base_url", "key_env", "required", "placeholder", "model"), ALIASES)
async def test_key_from_the_alias_variable_reaches_the_server(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
    alias: str, base_url: str, key_env: str, required: bool, placeholder: str | None, model: str | None,
) -> None:
    openai_server.api_key = f"srv-{alias}"
    monkeypatch.setenv(key_env, f"srv-{alias}")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    llm = PluginRegistry().create("llm", alias, {"base_url": openai_server.url, **model_cfg(model)})
    resp = await llm.generate(HELLO)
    assert resp.content == "OK"
    req = openai_server.last_request("chat")
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer srv-{alias}"
    assert req.body["model"] == (model or "served-model")
    await llm.aclose()


@pytest.mark.parametrize(("alias", "placeholder"), [("ollama", "ollama"), ("vllm", "EMPTY"), ("lmstudio", "lm-studio")])
async def test_local_placeholder_key_is_sent(openai_server: OpenAIServer, alias: str, placeholder: str) -> None:
    llm = OpenAILLM.from_config({"base_url": openai_server.url, "model": "m"}, selected_as=alias)
    await llm.generate(HELLO)
    assert openai_server.last_request("chat").headers["authorization"] == f"Bearer {placeholder}"
    await llm.aclose()


@pytest.mark.parametrize(("alias", "key_env", "model", "dims"), [
    ("ollama", "OLLAMA_API_KEY", "nomic-embed-text", 768),
    ("together", "TOGETHER_API_KEY", "BAAI/bge-base-en-v1.5", 768),
])
async def test_embedder_alias_key_and_model_reach_the_server(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, alias: str, key_env: str, model: str, dims: int,
) -> None:
    openai_server.api_key = "emb-key"
    openai_server.embedding_dims = dims
    monkeypatch.setenv(key_env, "emb-key")
    emb = PluginRegistry().create("embedder", alias, {"base_url": openai_server.url})
    [vec] = await emb.embed(["hello"])
    assert len(vec) == dims
    req = openai_server.last_request("embeddings")
    assert req.headers["authorization"] == "Bearer emb-key" and req.body["model"] == model
    await emb.aclose()


# ------------------------------------------------------------------ azure
@pytest.mark.parametrize("alias", ["azure", "azure_openai"])
async def test_azure_env_deployment_and_api_version_reach_the_server(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, alias: str,
) -> None:
    openai_server.api_key = "az-key"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", openai_server.root_url)
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "env-deployment")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    llm = PluginRegistry().create("llm", alias, {})
    assert isinstance(llm, OpenAILLM) and llm.alias.name == "azure"
    await llm.generate(HELLO)
    req = openai_server.last_request("chat")
    assert req.path == "/openai/deployments/env-deployment/chat/completions"
    assert req.deployment == "env-deployment" and req.query["api-version"] == "2024-06-01"
    assert req.headers["api-key"] == "az-key"
    assert "authorization" not in req.headers
    await llm.aclose()


async def test_azure_config_beats_environment(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "env-deployment")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    llm = OpenAILLM.from_config(
        {"api_key": "cfg-key", "azure_endpoint": openai_server.root_url, "azure_deployment": "cfg-deployment",
         "api_version": "2025-01-01-preview"},
        selected_as="azure",
    )
    await llm.generate(HELLO)
    req = openai_server.last_request("chat")
    assert req.deployment == "cfg-deployment" and req.query["api-version"] == "2025-01-01-preview"
    assert req.headers["api-key"] == "cfg-key"
    await llm.aclose()


async def test_azure_defaults_deployment_is_the_model_and_base_url_is_the_endpoint(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    llm = OpenAILLM.from_config({"base_url": openai_server.root_url, "model": "gpt-4o"}, selected_as="azure_openai")
    await llm.generate(HELLO)
    req = openai_server.last_request("chat")
    assert req.deployment == "gpt-4o" and req.query["api-version"] == "2024-10-21"
    await llm.aclose()


async def test_azure_embedder_env_deployment_and_api_version(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", openai_server.root_url)
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "emb-deployment")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    emb = PluginRegistry().create("embedder", "azure_openai", {"embedding_dims": 32})
    [vec] = await emb.embed(["hello"])
    assert len(vec) == 32
    req = openai_server.last_request("embeddings")
    assert req.path == "/openai/deployments/emb-deployment/embeddings"
    assert req.query["api-version"] == "2024-06-01" and req.headers["api-key"] == "az-key"
    await emb.aclose()


async def test_azure_through_the_engine_config(openai_server: OpenAIServer) -> None:
    """An engine whose llm and embedder sections select ``azure_openai``: both use the deployment routes."""
    azure = {"api_key": "k", "azure_endpoint": openai_server.root_url, "api_version": "2024-08-01-preview"}
    config = {
        "llm": {"provider": "azure_openai", "config": {**azure, "azure_deployment": "chat-dep"}},
        "embedder": {"provider": "Azure", "config": {**azure, "azure_deployment": "emb-dep", "embedding_dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    async with AsyncMemory(config) as mem:
        assert isinstance(mem.llm, OpenAILLM) and isinstance(mem.embedder, OpenAIEmbedder)
        await mem.add("My name is Zoe and I like tea.", user_id="zoe")
        found = await mem.search("tea", user_id="zoe")
    assert found["results"]
    chats, embeds = openai_server.requests("chat"), openai_server.requests("embeddings")
    assert chats and embeds
    assert {r.deployment for r in chats} == {"chat-dep"} and {r.deployment for r in embeds} == {"emb-dep"}
    assert {r.query["api-version"] for r in chats + embeds} == {"2024-08-01-preview"}
