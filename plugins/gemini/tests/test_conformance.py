"""GeminiLLM and GeminiEmbedder pass the core's LLM and embedder conformance suites, with the real
``google-genai`` client against the loopback Gemini API emulator (``gemini_server``,
tests/conftest.py): chat answers are the kit's rule-based replies, embeddings its deterministic
feature-hashing vectors (lexical, so the paraphrase test is skipped: ``semantic = False``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mem7_core.testing import EmbedderConformance, LLMConformance
from mem7_gemini import GeminiEmbedder, GeminiLLM

API_KEY = "gm-test"  # the emulator's (tests/conftest.py)


class TestGeminiLLMConformance(LLMConformance):
    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self, gemini_server: Any) -> AsyncIterator[GeminiLLM]:
        provider = GeminiLLM.from_config({"api_key": API_KEY, "base_url": gemini_server.url, "retry_backoff": 0.0})
        yield provider
        await provider.aclose()


class TestGeminiEmbedderConformance(EmbedderConformance):
    semantic = False  # the emulator embeds by feature hashing: lexical only
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, gemini_server: Any) -> AsyncIterator[GeminiEmbedder]:
        emb = GeminiEmbedder.from_config({"api_key": API_KEY, "base_url": gemini_server.url, "embedding_dims": 256,
                                          "batch_size": 16, "retry_backoff": 0.0})
        yield emb
        await emb.aclose()
