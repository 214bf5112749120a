"""AnthropicLLM passes the LLM conformance suite, with the real ``anthropic`` client against the
loopback Messages API emulator (``anthropic_server``, tests/conftest.py), which answers mem7's
prompts with :func:`mem7_core.testing.fakes.rule_based_reply` and calls a tool the user names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mem7_anthropic import AnthropicLLM
from mem7_core.testing import LLMConformance


class TestAnthropicLLMConformance(LLMConformance):
    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self, anthropic_server: Any, make_llm: Any) -> AsyncIterator[AnthropicLLM]:
        provider = make_llm(anthropic_server)
        yield provider
        await provider.aclose()


class TestAnthropicLLMPrefillConformance(LLMConformance):
    """The same suite with JSON mode by prefill (``json_mode="prefill"``)."""

    server_calls_named_tools = True

    @pytest.fixture
    async def llm(self, anthropic_server: Any, make_llm: Any) -> AsyncIterator[AnthropicLLM]:
        provider = make_llm(anthropic_server, json_mode="prefill")
        yield provider
        await provider.aclose()
