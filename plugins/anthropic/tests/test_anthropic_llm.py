"""AnthropicLLM's own behaviour, with the real ``anthropic`` client against the loopback emulator:
the request it builds (system, images, tools, JSON mode), strict JSON parsing, retries and the
errors it raises, and config resolution."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mem7_anthropic import AnthropicLLM
from mem7_anthropic.llm import JSON_TOOL
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.testing.llm import TINY_PNG_DATA_URL, WEATHER_TOOL, extraction_messages

API_KEY = "sk-ant-test"  # the emulator's (tests/conftest.py)


async def _one(server: Any, messages: list[dict[str, Any]], **kw: Any) -> tuple[Any, dict[str, Any]]:
    cfg = kw.pop("cfg", {})
    llm = AnthropicLLM.from_config({"api_key": API_KEY, "base_url": server.url, "retry_backoff": 0.0, **cfg})
    try:
        response = await llm.generate(messages, **kw)
    finally:
        await llm.aclose()
    return response, server.last().body


# ------------------------------------------------------------------------------------ request
async def test_system_messages_become_the_system_prompt(anthropic_server: Any) -> None:
    _, body = await _one(anthropic_server, [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": "Again"},
    ])
    assert body["system"] == "Be terse.\n\nAnswer in English."
    assert [m["role"] for m in body["messages"]] == ["user"]  # consecutive user turns merged
    assert [b["text"] for b in body["messages"][0]["content"]] == ["Hi", "Again"]
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == 1000
    assert "temperature" not in body  # None: the model's default


async def test_per_call_overrides_reach_the_body(anthropic_server: Any) -> None:
    _, body = await _one(anthropic_server, [{"role": "user", "content": "Hi"}], temperature=0.3, max_tokens=7,
                         cfg={"top_p": 0.9})
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7 and body["top_p"] == 0.9
    assert anthropic_server.last().headers["anthropic-version"]


async def test_image_parts_become_base64_image_blocks(anthropic_server: Any) -> None:
    response, body = await _one(anthropic_server, [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]}])
    blocks = body["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                     "data": TINY_PNG_DATA_URL.split(",", 1)[1]}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert response.content == "An image."


async def test_vision_off_sends_placeholders(anthropic_server: Any, make_llm: Any) -> None:
    llm = make_llm(anthropic_server, enable_vision=False)
    assert llm.capabilities.vision is False
    await llm.generate([{"role": "user", "content": [
        {"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}}]}])
    await llm.aclose()
    assert [b["type"] for b in anthropic_server.last().body["messages"][0]["content"]] == ["text", "text"]


async def test_a_bad_image_url_is_a_clear_error_without_a_request(anthropic_server: Any, make_llm: Any) -> None:
    llm = make_llm(anthropic_server)
    with pytest.raises(ProviderError, match=r"messages\[0\]\.content\[0\].*image/bmp"):
        await llm.generate([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}}]}])
    await llm.aclose()
    assert anthropic_server.count() == 0


async def test_tools_are_translated_and_calls_come_back(anthropic_server: Any) -> None:
    response, body = await _one(anthropic_server, [{"role": "user", "content": "Use get_weather for Paris"}],
                                tools=[WEATHER_TOOL])
    assert body["tools"] == [{"name": "get_weather", "description": "Current weather for a city.",
                              "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert "tool_choice" not in body
    [call] = response.tool_calls
    assert call["name"] == "get_weather" and call["arguments"] == {"city": "test"}
    assert call["id"].startswith("toolu_")


async def test_tool_history_becomes_tool_use_and_tool_result(anthropic_server: Any) -> None:
    _, body = await _one(anthropic_server, [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    ], tools=[WEATHER_TOOL])
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}


# ---------------------------------------------------------------------------------- JSON mode
async def test_json_mode_forces_the_answer_tool(anthropic_server: Any) -> None:
    response, body = await _one(anthropic_server, extraction_messages("user: My name is Bob."),
                                response_format="json")
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert [t["name"] for t in body["tools"]] == [JSON_TOOL]
    assert response.tool_calls == []  # the answer tool is the content, not a call
    assert '"facts"' in response.content and "Bob" in response.content


async def test_json_mode_with_tools_requires_some_tool(anthropic_server: Any) -> None:
    _, body = await _one(anthropic_server, extraction_messages("user: I am Eve."), response_format="json",
                         tools=[WEATHER_TOOL])
    assert body["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in body["tools"]] == ["get_weather", JSON_TOOL]


async def test_json_mode_without_the_tool_call_is_an_error(anthropic_server: Any) -> None:
    anthropic_server.script([{"type": "text", "text": "Sure! Here is JSON: {}"}])
    with pytest.raises(ProviderError, match=f"no {JSON_TOOL} tool call"):
        await _one(anthropic_server, extraction_messages("user: Hi"), response_format="json", cfg={"max_retries": 0})


async def test_prefill_json_mode_parses_strictly(anthropic_server: Any) -> None:
    response, body = await _one(anthropic_server, extraction_messages("user: My name is Ann."),
                                response_format="json", cfg={"json_mode": "prefill"})
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}
    assert "tools" not in body
    assert "Ann" in response.content
    anthropic_server.script([{"type": "text", "text": '"facts": []} and some prose'}])
    with pytest.raises(ProviderError, match="not JSON"):
        await _one(anthropic_server, extraction_messages("user: Hi"), response_format="json",
                   cfg={"json_mode": "prefill", "max_retries": 0})


async def test_json_answer_cut_at_max_tokens_names_the_field(anthropic_server: Any, make_llm: Any) -> None:
    anthropic_server.script([{"type": "text", "text": '"facts": ["a lo'}])
    llm = make_llm(anthropic_server, json_mode="prefill", max_retries=0)
    message = await llm._client.messages.create(**llm.request(extraction_messages("user: Hi"), "json"))
    message.stop_reason = "max_tokens"
    with pytest.raises(ProviderError, match="max_tokens"):
        llm._response(message, json_mode="prefill")
    await llm.aclose()


async def test_json_mode_off_sends_neither_tool_nor_prefill(anthropic_server: Any, make_llm: Any) -> None:
    llm = make_llm(anthropic_server, json_mode="off")
    assert llm.capabilities.json_mode is False
    await llm.generate(extraction_messages("user: Hi"), response_format="json")
    await llm.aclose()
    body = anthropic_server.last().body
    assert "tools" not in body and body["messages"][-1]["role"] == "user"


# ------------------------------------------------------------------------------ retries, errors
@pytest.mark.parametrize("status", [429, 500, 529])
async def test_retryable_statuses_are_retried(anthropic_server: Any, status: int) -> None:
    anthropic_server.fail_next(2, status=status, retry_after=0)
    response, _ = await _one(anthropic_server, [{"role": "user", "content": "Hi"}])
    assert response.content == "OK"
    assert anthropic_server.count() == 3


async def test_retries_are_bounded_and_the_error_says_so(anthropic_server: Any) -> None:
    anthropic_server.fail_next(10, status=529)
    with pytest.raises(ProviderError) as info:
        await _one(anthropic_server, [{"role": "user", "content": "Hi"}], cfg={"max_retries": 2})
    assert anthropic_server.count() == 3
    err = info.value
    assert err.provider == "anthropic" and err.retryable
    assert "529" in str(err) and "after 3 attempts" in str(err) and "overloaded_error" in str(err)


async def test_rate_limit_error_is_retryable(anthropic_server: Any) -> None:
    anthropic_server.fail_next(10, status=429, retry_after=0)
    with pytest.raises(ProviderError, match=r"rate limited \(429\)") as info:
        await _one(anthropic_server, [{"role": "user", "content": "Hi"}], cfg={"max_retries": 1})
    assert info.value.retryable and anthropic_server.count() == 2


async def test_client_errors_are_not_retried(anthropic_server: Any) -> None:
    with pytest.raises(ProviderError, match=r"not found.*llm.config.model") as info:
        await _one(anthropic_server, [{"role": "user", "content": "Hi"}], cfg={"model": "gpt-4"})
    assert not info.value.retryable and anthropic_server.count() == 1


async def test_a_wrong_key_names_where_the_key_comes_from(anthropic_server: Any) -> None:
    llm = AnthropicLLM.from_config({"api_key": "wrong", "base_url": anthropic_server.url})
    with pytest.raises(ProviderError, match=r"authentication failed.*ANTHROPIC_API_KEY"):
        await llm.generate([{"role": "user", "content": "Hi"}])
    await llm.aclose()
    assert anthropic_server.count() == 1


async def test_a_slow_answer_times_out_and_is_retried(anthropic_server: Any) -> None:
    anthropic_server.slow_next(1, delay=1.0)
    response, _ = await _one(anthropic_server, [{"role": "user", "content": "Hi"}], cfg={"timeout": 0.3})
    assert response.content == "OK" and anthropic_server.count() == 2


async def test_dropped_connections_end_as_unreachable(anthropic_server: Any) -> None:
    anthropic_server.drop_next(5)
    with pytest.raises(ProviderError, match="unreachable after 2 attempts") as info:
        await _one(anthropic_server, [{"role": "user", "content": "Hi"}], cfg={"max_retries": 1})
    assert info.value.retryable
    assert anthropic_server.count() == 2  # the client's own retries are off: one request per attempt of ours


async def test_generate_after_aclose_fails(anthropic_server: Any, make_llm: Any) -> None:
    llm = make_llm(anthropic_server)
    await llm.aclose()
    with pytest.raises(ProviderError, match="after aclose"):
        await llm.generate([{"role": "user", "content": "Hi"}])


async def test_usage_is_reported(anthropic_server: Any) -> None:
    response, _ = await _one(anthropic_server, [{"role": "user", "content": "Hello there friend"}])
    assert response.usage["prompt_tokens"] == 3
    assert response.usage["total_tokens"] == response.usage["prompt_tokens"] + response.usage["completion_tokens"]


# ------------------------------------------------------------------------------------- config
def test_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"ANTHROPIC_API_KEY or llm\.config\.api_key"):
        AnthropicLLM.from_config({})


async def test_key_and_base_url_from_the_environment(anthropic_server: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.url + "/v1/")
    llm = AnthropicLLM.from_config({})
    assert llm.base_url == anthropic_server.url  # trailing /v1 dropped: the client appends it
    assert (await llm.generate([{"role": "user", "content": "Hi"}])).content == "OK"
    await llm.aclose()


def test_unknown_or_out_of_range_fields_fail() -> None:
    with pytest.raises(ValidationError, match="max_token"):
        AnthropicLLM.Config.model_validate({"max_token": 5})
    with pytest.raises(ValidationError, match="temperature"):
        AnthropicLLM.Config.model_validate({"temperature": 1.5})


def test_registered_through_the_entry_point() -> None:
    from mem7_core.plugins import PluginRegistry

    registry = PluginRegistry()
    assert registry.get("llm", "anthropic") is AnthropicLLM


# --------------------------------------------------------------------------------- end to end
def test_the_real_anthropic_client_is_used() -> None:
    # --import-mode=importlib and a plugins/anthropic/ dir: the name must resolve to the installed SDK.
    from pathlib import Path

    import anthropic

    assert Path(anthropic.__file__).parent.name == "anthropic" and "site-packages" in anthropic.__file__


async def test_engine_infers_memories_through_claude(anthropic_server: Any) -> None:
    """An inferred add: the engine's extraction and update calls go through JSON mode (the forced tool)."""
    from mem7_core import AsyncMemory

    cfg = {
        "llm": {"provider": "anthropic", "config": {"api_key": API_KEY, "base_url": anthropic_server.url}},
        "embedder": {"provider": "hash", "config": {"dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    async with AsyncMemory(cfg) as mem:
        assert isinstance(mem.llm, AnthropicLLM)
        await mem.add([{"role": "user", "content": "My name is Alice. I love hiking in the Alps."}], user_id="alice")
        found = await mem.search("hiking", user_id="alice")
    memories = " ".join(r["memory"] for r in found["results"])
    assert "hiking" in memories
    bodies = [r.body for r in anthropic_server.requests]
    assert bodies and all(b["tool_choice"] == {"type": "tool", "name": JSON_TOOL} for b in bodies)


def test_discovering_the_plugin_does_not_import_the_sdk() -> None:
    """The registry may import every plugin to find a provider: ``import anthropic`` (~2 s cold) waits
    for the first AnthropicLLM."""
    import subprocess
    import sys

    code = "import sys, mem7_anthropic.plugin; print('anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
