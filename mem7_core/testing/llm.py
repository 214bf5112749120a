"""The LLM conformance suite every ``LLM`` plugin should pass.

Subclass it in the provider's tests and supply one async fixture, ``llm``, yielding a provider
instance pointed at a server that answers like :func:`mem7_core.testing.fakes.rule_based_reply`
(for OpenAI-compatible providers: the ``openai_server`` fixture), and closing it afterwards::

    import pytest
    from mem7_core.testing import LLMConformance

    class TestMyLLM(LLMConformance):
        @pytest.fixture
        async def llm(self, openai_server):
            provider = MyLLM(MyLLM.Config(base_url=openai_server.url, api_key="test"))
            yield provider
            await provider.aclose()

Tests are ``async def``, run by pytest-asyncio; the core's pytest plugin
(:mod:`mem7_core.testing.pytest_plugin`) runs them with no configuration of the provider's own.

Knobs a subclass may override:

- ``concurrency``: how many calls the concurrency test gathers (default 10).
- ``server_calls_named_tools``: set True when the fake server answers with a tool call when the
  user message names a tool (the loopback ``OpenAIServer`` does); the tools test then requires the
  call to come back. Otherwise a text answer is accepted too.

The vision test runs only when ``llm.capabilities.vision`` is true, the tools test only when
``llm.capabilities.tools`` is, the JSON tests only when ``llm.capabilities.json_mode`` is.

``LLMResponse.tool_calls`` entries must be dicts with at least ``name`` (str) and ``arguments``
(a dict, parsed from the model's JSON); ``id`` is recommended.

This module imports pytest, so it is only imported by tests.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest

from ..engine.prompts import UPDATE_MEMORY_PROMPT, UPDATE_MEMORY_USER, USER_FACT_EXTRACTION_PROMPT
from ..models import LLMResponse
from ..providers.llm import LLM, LLMCapabilities
from .registration import assert_registers

# A 1x1 transparent PNG.
TINY_PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


def extraction_messages(*lines: str, today: str = "2025-01-01") -> list[dict[str, Any]]:
    """The fact-extraction call as the engine makes it: system prompt, then ``role: content`` lines."""
    return [
        {"role": "system", "content": USER_FACT_EXTRACTION_PROMPT.format(today=today)},
        {"role": "user", "content": "\n".join(lines)},
    ]


class LLMConformance:
    """Behaviour every LLM provider must show. Subclass it and provide the ``llm`` fixture."""

    concurrency: ClassVar[int] = 10
    server_calls_named_tools: ClassVar[bool] = False

    # ============================================================================ helpers
    @staticmethod
    def parse_json(response: LLMResponse) -> Any:
        """JSON mode promises a bare JSON object: no code fences, no prose."""
        assert isinstance(response.content, str), f"content must be a str, got {type(response.content).__name__}"
        try:
            return json.loads(response.content.strip())
        except ValueError as exc:
            raise AssertionError(f"JSON mode answer is not JSON: {response.content[:200]!r}") from exc

    @staticmethod
    def require(llm: LLM, capability: str) -> None:
        if not getattr(llm.capabilities, capability):
            pytest.skip(f"{type(llm).__name__} does not declare capabilities.{capability}")

    # ============================================================================ shape
    async def test_the_class_registers_as_a_plugin(self, llm: LLM) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(llm)

    async def test_is_an_llm_provider(self, llm: LLM) -> None:
        assert isinstance(llm, LLM)
        assert llm.kind == "llm"
        assert isinstance(type(llm).name, str) and type(llm).name
        assert isinstance(llm.capabilities, LLMCapabilities)

    # ============================================================================ text
    async def test_plain_text_reply(self, llm: LLM) -> None:
        response = await llm.generate([{"role": "user", "content": "Hello, how are you today?"}])
        assert isinstance(response, LLMResponse)
        assert isinstance(response.content, str) and response.content.strip()
        assert response.tool_calls == [] or isinstance(response.tool_calls, list)
        assert isinstance(response.usage, dict)

    async def test_usage_is_token_counts(self, llm: LLM) -> None:
        """``usage`` (empty when the service answers none) holds ``prompt_tokens`` and
        ``completion_tokens`` as non-negative ints: the engine's usage figures and the telemetry's
        ``gen_ai.usage.*`` read those two keys, and a longer prompt is not fewer tokens."""
        short = await llm.generate([{"role": "user", "content": "Hi."}])
        long = await llm.generate([{"role": "user", "content": "Please read this. " * 40 + "Now say hi."}])
        for response in (short, long):
            for key, value in response.usage.items():
                assert type(value) is int and value >= 0, f"usage[{key!r}] = {value!r}: not a token count"
            if response.usage:
                assert {"prompt_tokens", "completion_tokens"} <= set(response.usage), (
                    f"usage has {sorted(response.usage)}: name the counts prompt_tokens and completion_tokens")
        if short.usage and long.usage:
            assert long.usage["prompt_tokens"] > short.usage["prompt_tokens"]

    async def test_system_and_history_messages(self, llm: LLM) -> None:
        response = await llm.generate(
            [
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "Say something."},
                {"role": "assistant", "content": "Something."},
                {"role": "user", "content": "Again, please."},
            ]
        )
        assert isinstance(response.content, str) and response.content.strip()

    async def test_per_call_overrides_accepted(self, llm: LLM) -> None:
        response = await llm.generate(
            [{"role": "user", "content": "Reply briefly."}], temperature=0.0, max_tokens=50
        )
        assert isinstance(response.content, str)

    # ============================================================================ JSON mode
    async def test_json_mode_fact_extraction(self, llm: LLM) -> None:
        self.require(llm, "json_mode")
        response = await llm.generate(
            extraction_messages("user: My name is Alice. I love hiking in the Alps.", "assistant: Nice to meet you!"),
            response_format="json",
        )
        data = self.parse_json(response)
        assert isinstance(data, dict) and isinstance(data.get("facts"), list)
        texts = " ".join(f["text"] if isinstance(f, dict) else str(f) for f in data["facts"])
        assert "Alice" in texts and "hiking" in texts

    async def test_json_mode_update_decision(self, llm: LLM) -> None:
        self.require(llm, "json_mode")
        user = UPDATE_MEMORY_USER.format(existing="0: Likes tea", facts="- Likes tea\n- Lives in Paris")
        response = await llm.generate(
            [{"role": "system", "content": UPDATE_MEMORY_PROMPT}, {"role": "user", "content": user}],
            response_format="json",
        )
        data = self.parse_json(response)
        assert isinstance(data, dict) and isinstance(data.get("memory"), list) and data["memory"]

    async def test_json_mode_empty_extraction(self, llm: LLM) -> None:
        self.require(llm, "json_mode")
        response = await llm.generate(extraction_messages("user: Hi"), response_format="json")
        data = self.parse_json(response)
        assert isinstance(data, dict) and data.get("facts") == []

    # ============================================================================ concurrency
    async def test_concurrent_calls(self, llm: LLM) -> None:
        """Gathered calls on one instance all succeed, each with its own answer (no cross-talk)."""
        names = [f"Person{i:02d}" for i in range(self.concurrency)]
        calls = [
            llm.generate(extraction_messages(f"user: My name is {name}. I work as a baker."), response_format="json")
            if llm.capabilities.json_mode
            else llm.generate(extraction_messages(f"user: My name is {name}. I work as a baker."))
            for name in names
        ]
        responses = await asyncio.gather(*calls)
        assert len(responses) == self.concurrency
        for name, response in zip(names, responses, strict=True):
            assert isinstance(response, LLMResponse)
            assert name in response.content, f"answer for {name} was {response.content[:200]!r}"

    # ============================================================================ vision
    async def test_vision_parts_accepted(self, llm: LLM) -> None:
        self.require(llm, "vision")
        response = await llm.generate(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}},
                    ],
                }
            ]
        )
        assert isinstance(response.content, str) and response.content.strip()

    # ============================================================================ tools
    async def test_tools(self, llm: LLM) -> None:
        self.require(llm, "tools")
        response = await llm.generate(
            [{"role": "user", "content": "Use get_weather to find the weather in Paris."}], tools=[WEATHER_TOOL]
        )
        assert isinstance(response, LLMResponse)
        assert isinstance(response.tool_calls, list)
        if self.server_calls_named_tools:
            assert response.tool_calls, "the server answered with a tool call, the provider lost it"
        else:
            assert response.tool_calls or response.content
        for call in response.tool_calls:
            assert isinstance(call, dict)
            assert call.get("name") == "get_weather"
            assert isinstance(call.get("arguments"), dict)
        if self.server_calls_named_tools:
            assert "city" in response.tool_calls[0]["arguments"]

    async def test_tools_not_called_when_not_named(self, llm: LLM) -> None:
        self.require(llm, "tools")
        response = await llm.generate([{"role": "user", "content": "Hello there."}], tools=[WEATHER_TOOL])
        assert isinstance(response.tool_calls, list)
        assert response.content or response.tool_calls

    # ============================================================================ lifecycle
    async def test_aclose_is_idempotent(self, llm: LLM) -> None:
        await llm.generate([{"role": "user", "content": "Hello there."}])
        await llm.aclose()
        await llm.aclose()
