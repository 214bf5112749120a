"""BedrockLLM and BedrockEmbedder pass the core's LLM and embedder conformance suites, with the real
boto3 ``bedrock-runtime`` client (SigV4-signed with the test's fake credentials) against the
loopback emulator (``bedrock_server``, tests/conftest.py): chat answers are the kit's rule-based
replies, embeddings its deterministic feature-hashing vectors (lexical, so the paraphrase test is
skipped: ``semantic = False``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mem7_bedrock import BedrockEmbedder, BedrockLLM
from mem7_core.testing import EmbedderConformance, LLMConformance


class TestBedrockLLMConformance(LLMConformance):
    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self, aws: dict[str, Any]) -> AsyncIterator[BedrockLLM]:
        provider = BedrockLLM.from_config(aws)
        yield provider
        await provider.aclose()


class TestBedrockLLMSchemaConformance(LLMConformance):
    """JSON mode through Converse structured output (``outputConfig``)."""

    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self, aws: dict[str, Any]) -> AsyncIterator[BedrockLLM]:
        provider = BedrockLLM.from_config({**aws, "json_mode": "schema"})
        yield provider
        await provider.aclose()


class TestTitanEmbedderConformance(EmbedderConformance):
    semantic = False  # the emulator embeds by feature hashing: lexical only
    reports_tokens = True  # Titan answers inputTextTokenCount
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, aws: dict[str, Any]) -> AsyncIterator[BedrockEmbedder]:
        emb = BedrockEmbedder.from_config({**aws, "embedding_dims": 256})
        yield emb
        await emb.aclose()


class TestCohereEmbedderConformance(EmbedderConformance):
    semantic = False
    reports_tokens = False  # Cohere's body on Bedrock carries no token count
    tolerance = 0.9999

    @pytest.fixture
    async def embedder(self, aws: dict[str, Any]) -> AsyncIterator[BedrockEmbedder]:
        emb = BedrockEmbedder.from_config({**aws, "model": "cohere.embed-english-v3"})
        yield emb
        await emb.aclose()
