"""Shared fixtures: the real ``openai`` client against the loopback server (``openai_server``)."""

from __future__ import annotations

import pytest

ENV_VARS = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "GROQ_API_KEY", "TOGETHER_API_KEY",
    "XAI_API_KEY", "DEEPSEEK_API_KEY", "OLLAMA_API_KEY", "VLLM_API_KEY", "LMSTUDIO_API_KEY",
    "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real keys or endpoints."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
