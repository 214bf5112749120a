"""BedrockLLM and BedrockEmbedder's own behaviour, with the real boto3 client against the loopback
emulator: the Converse and InvokeModel requests they build, JSON mode in each of its ways, tools and
images, SigV4 credentials, throttling retries, the errors they raise, and config resolution."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from pydantic import ValidationError

from mem7_bedrock import BedrockEmbedder, BedrockLLM
from mem7_core.errors import ConfigError, ProviderError
from mem7_core.providers import usage
from mem7_core.testing.llm import TINY_PNG_DATA_URL, WEATHER_TOOL, extraction_messages

BedrockEmulator = Any  # tests/conftest.py's, which pytest loads as a plugin (not importable here)
REGION = "us-east-1"
FAKE_KEY, FAKE_SECRET = "AKIAFAKE000000000000", "fake-secret"  # for tests that send nothing


async def _one(server: BedrockEmulator, aws: dict[str, Any], messages: list[dict[str, Any]],
               cfg: dict[str, Any] | None = None, **kw: Any) -> tuple[Any, dict[str, Any]]:
    llm = BedrockLLM.from_config({**aws, **(cfg or {})})
    try:
        response = await llm.generate(messages, **kw)
    finally:
        await llm.aclose()
    return response, server.last().body


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def _waits(provider: Any) -> list[float]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    provider._retry.sleep = record
    return waits


# ----------------------------------------------------------------------------------- Converse request
async def test_system_roles_and_inference_config(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    response, body = await _one(bedrock_server, aws, [
        {"role": "system", "content": "Be terse."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again"},
        {"role": "user", "content": [{"type": "text", "text": "Please"}, {"type": "text", "text": "  "}]},
    ], temperature=0.3, max_tokens=77)
    rec = bedrock_server.last()
    assert rec.path == "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
    assert rec.extra["model"] == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert rec.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={bedrock_server.access_key}/")
    assert f"/{REGION}/bedrock/aws4_request" in rec.headers["authorization"]
    assert body["system"] == [{"text": "Be terse."}]
    # a conversation starts with the user and alternates; blank text blocks are not sent
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [{"text": "Again"}, {"text": "Please"}]
    assert body["inferenceConfig"] == {"maxTokens": 77, "temperature": 0.3}
    assert "toolConfig" not in body and "outputConfig" not in body
    assert response.content and response.usage["total_tokens"] == \
        response.usage["prompt_tokens"] + response.usage["completion_tokens"] > 0


async def test_image_parts_are_sent_as_bytes(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    response, body = await _one(bedrock_server, aws, [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "s3://bucket/photos/dog.jpg"}},
    ]}])
    blocks = body["messages"][0]["content"]
    image = blocks[1]["image"]
    assert image["format"] == "png"
    assert base64.b64decode(image["source"]["bytes"]) == base64.b64decode(TINY_PNG_DATA_URL.split(",", 1)[1])
    assert blocks[2] == {"text": "[image: https://example.com/cat.png]"}  # Converse takes no http URL
    assert blocks[3]["image"] == {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/photos/dog.jpg"}}}
    assert response.content


async def test_vision_off_sends_placeholders(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    _, body = await _one(bedrock_server, aws, [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": TINY_PNG_DATA_URL}}]}],
        {"enable_vision": False})
    assert body["messages"][0]["content"] == [{"text": "What is this?"}, {"text": "[image]"}]


async def test_a_bad_data_url_is_refused_before_sending(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config(aws)
    with pytest.raises(ProviderError, match=r"messages\[0\]\.content\[0\].*png\|jpeg\|gif\|webp"):
        await llm.generate([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}])
    await llm.aclose()
    assert bedrock_server.count() == 0


async def test_tools_and_tool_results_round_trip(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config(aws)
    first = await llm.generate([{"role": "user", "content": "Use get_weather for Paris."}], tools=[WEATHER_TOOL])
    body = bedrock_server.last().body
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == WEATHER_TOOL["function"]["parameters"]
    [call] = first.tool_calls
    assert call["name"] == "get_weather" and call["arguments"] == {"city": "test"} and call["id"]
    second = await llm.generate([
        {"role": "user", "content": "Use get_weather for Paris."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call["id"], "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps(call["arguments"])}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 18}'},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ], tools=[WEATHER_TOOL])
    await llm.aclose()
    sent = bedrock_server.last().body["messages"]
    assert sent[1]["content"] == [{"toolUse": {"toolUseId": call["id"], "name": "get_weather",
                                               "input": {"city": "test"}}}]
    assert sent[2]["content"] == [
        {"toolResult": {"toolUseId": call["id"], "content": [{"json": {"temp_c": 18}}]}},
        {"toolResult": {"toolUseId": call["id"], "content": [{"text": "sunny"}]}},
    ]
    assert second.content and bedrock_server.errors == []


async def test_a_tool_history_without_tools_is_sent_as_text(bedrock_server: BedrockEmulator,
                                                            aws: dict[str, Any]) -> None:
    """Converse refuses toolUse / toolResult blocks in a call offering no tools: they become text."""
    response, body = await _one(bedrock_server, aws, [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": '{"temp_c": 18}'},
        {"role": "user", "content": "Summarise."},
    ])
    assert "toolConfig" not in body and bedrock_server.last().status == 200 and response.content
    assert body["messages"][1]["content"] == [{"text": "Checking."},
                                              {"text": '[called get_weather({"city": "Paris"})]'}]
    assert body["messages"][2]["content"] == [{"text": '[tool result: {"temp_c": 18}]'}, {"text": "Summarise."}]


# ----------------------------------------------------------------------------------- JSON mode
async def test_json_mode_tool_is_forced_and_its_input_is_the_answer(bedrock_server: BedrockEmulator,
                                                                    aws: dict[str, Any]) -> None:
    response, body = await _one(bedrock_server, aws, extraction_messages("user: My name is Alice."),
                                response_format="json")
    assert body["toolConfig"]["toolChoice"] == {"any": {}}
    assert [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]] == ["json_response"]
    assert json.loads(response.content)["facts"] and response.tool_calls == []


async def test_json_mode_tool_without_the_tool_call_is_an_error(bedrock_server: BedrockEmulator,
                                                                aws: dict[str, Any]) -> None:
    bedrock_server.script({"content": [{"text": "Sure! Here are the facts."}], "stopReason": "end_turn"})
    with pytest.raises(ProviderError, match="no json_response tool call"):
        await _one(bedrock_server, aws, extraction_messages("user: Hi"), response_format="json")


async def test_json_mode_schema_sends_structured_output(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"facts": {"type": "array"}}}
    response, body = await _one(bedrock_server, aws, extraction_messages("user: I like tea."),
                                {"json_mode": "schema", "response_schema": schema}, response_format="json")
    fmt = body["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema" and json.loads(fmt["structure"]["jsonSchema"]["schema"]) == schema
    assert "toolConfig" not in body
    assert isinstance(json.loads(response.content)["facts"], list)


async def test_json_mode_schema_rejects_a_non_object(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    bedrock_server.script({"content": [{"text": "[1, 2]"}]})
    with pytest.raises(ProviderError, match="JSON list, not an object"):
        await _one(bedrock_server, aws, extraction_messages("user: Hi"), {"json_mode": "schema"}, response_format="json")


async def test_json_mode_schema_cut_at_max_tokens_says_so(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    bedrock_server.script({"content": [{"text": '{"facts": ['}], "stopReason": "max_tokens"})
    with pytest.raises(ProviderError, match=r"cut at max_tokens.*llm\.config\.max_tokens"):
        await _one(bedrock_server, aws, extraction_messages("user: Hi"), {"json_mode": "schema"}, response_format="json")


async def test_json_mode_prompt_extracts_the_object(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    bedrock_server.script('Here you go:\n```json\n{"facts": ["Likes tea"]}\n```')
    response, body = await _one(bedrock_server, aws, extraction_messages("user: I like tea."),
                                {"json_mode": "prompt"}, response_format="json")
    assert "JSON object only" in body["system"][-1]["text"] and "toolConfig" not in body
    assert json.loads(response.content) == {"facts": ["Likes tea"]}
    bedrock_server.script("I cannot answer in JSON.")
    with pytest.raises(ProviderError, match="no JSON object"):
        await _one(bedrock_server, aws, extraction_messages("user: I like tea."), {"json_mode": "prompt"},
                   response_format="json")


async def test_json_mode_off_declares_no_capability(aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "json_mode": "off", "enable_vision": False})
    assert not llm.capabilities.json_mode and not llm.capabilities.vision and llm.capabilities.tools
    await llm.aclose()


async def test_a_blocked_answer_is_an_error(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    bedrock_server.script({"content": [], "stopReason": "guardrail_intervened"})
    with pytest.raises(ProviderError, match=r"blocked .*guardrail_intervened"):
        await _one(bedrock_server, aws, [{"role": "user", "content": "Hi"}])


# ----------------------------------------------------------------------------------- credentials
async def test_a_wrong_secret_fails_the_signature_check(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "aws_secret_access_key": "not-the-secret"})
    with pytest.raises(ProviderError, match=r"authentication failed \(403 InvalidSignatureException\).*"
                                            r"aws_access_key_id") as err:
        await llm.generate([{"role": "user", "content": "Hi"}])
    await llm.aclose()
    assert not err.value.retryable and bedrock_server.count("converse") == 1


async def test_an_unknown_access_key_is_refused(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "aws_access_key_id": "AKIAUNKNOWN000000000"})
    with pytest.raises(ProviderError, match="UnrecognizedClientException"):
        await llm.generate([{"role": "user", "content": "Hi"}])
    await llm.aclose()


async def test_credentials_and_region_from_the_standard_chain(bedrock_server: BedrockEmulator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock_server.secret_key)
    monkeypatch.setenv("AWS_REGION", REGION)
    llm = BedrockLLM.from_config({"endpoint_url": bedrock_server.url})
    response = await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()
    assert response.content and bedrock_server.last().status == 200


async def test_a_signing_region_other_than_the_services_is_refused(bedrock_server: BedrockEmulator,
                                                                   aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "region": "eu-west-3"})
    with pytest.raises(ProviderError, match="InvalidSignatureException"):
        await llm.generate([{"role": "user", "content": "Hi"}])
    await llm.aclose()


# ----------------------------------------------------------------------------------- retries, errors
async def test_throttling_is_retried_honouring_retry_after(bedrock_server: BedrockEmulator,
                                                            aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "max_retries": 3})
    waits = _waits(llm)
    bedrock_server.fail_next(2, 429, retry_after="1.5")
    response = await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()
    assert response.content and bedrock_server.count("converse") == 3 and waits == [1.5, 1.5]


async def test_throttling_past_the_retries_is_a_retryable_rate_limit(bedrock_server: BedrockEmulator,
                                                                      aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "max_retries": 1})
    _waits(llm)
    bedrock_server.fail_next(5, 429)
    with pytest.raises(ProviderError, match=r"rate limited \(429\) after 2 attempts.*ThrottlingException") as err:
        await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()
    assert err.value.retryable and bedrock_server.count("converse") == 2


@pytest.mark.parametrize("status", [500, 503, 408])
async def test_server_errors_are_retried(bedrock_server: BedrockEmulator, aws: dict[str, Any], status: int) -> None:
    llm = BedrockLLM.from_config(aws)
    _waits(llm)
    bedrock_server.fail_next(1, status)
    assert (await llm.generate([{"role": "user", "content": "Hello"}])).content
    await llm.aclose()
    assert bedrock_server.count("converse") == 2


async def test_a_validation_error_is_clear_and_not_retried(bedrock_server: BedrockEmulator,
                                                           aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "model": "amazon.titan-embed-text-v2:0"})
    with pytest.raises(ProviderError, match=r"\(400 ValidationException\).*doesn't support the model.*"
                                            r"llm\.config\.model") as err:
        await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()
    assert not err.value.retryable and bedrock_server.count("converse") == 1


async def test_a_model_error_is_not_retried(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config(aws)
    bedrock_server.fail_next(1, 424)
    with pytest.raises(ProviderError, match="failed to answer"):
        await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()
    assert bedrock_server.count("converse") == 1


async def test_a_dropped_connection_is_retried(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config(aws)
    _waits(llm)
    bedrock_server.drop_next(1)
    assert (await llm.generate([{"role": "user", "content": "Hello"}])).content
    await llm.aclose()
    assert bedrock_server.count("converse") == 2


async def test_a_malformed_answer_is_an_error(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "max_retries": 0})
    bedrock_server.malformed_next(1, body={"output": {"nothing": True}})
    with pytest.raises(ProviderError, match="malformed response"):
        await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()


async def test_a_slow_answer_times_out(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "timeout": 0.2, "max_retries": 0})
    bedrock_server.slow_next(1, delay=1.0)
    with pytest.raises(ProviderError, match=r"timed out \(timeout 0\.2s\)"):
        await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()


async def test_an_unreachable_endpoint_is_named(aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config({**aws, "endpoint_url": "http://127.0.0.1:9", "max_retries": 0})
    with pytest.raises(ProviderError, match=r"http://127\.0\.0\.1:9 is unreachable.*Is the server running"):
        await llm.generate([{"role": "user", "content": "Hello"}])
    await llm.aclose()


async def test_calls_after_aclose_fail(aws: dict[str, Any]) -> None:
    llm = BedrockLLM.from_config(aws)
    await llm.aclose()
    with pytest.raises(ProviderError, match=r"generate\(\) called after aclose\(\)"):
        await llm.generate([{"role": "user", "content": "Hello"}])


# ----------------------------------------------------------------------------------- config
def test_no_region_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"no AWS region.*llm\.config\.region"):
        BedrockLLM.from_config({"aws_access_key_id": FAKE_KEY, "aws_secret_access_key": FAKE_SECRET})


def test_no_credentials_is_a_config_error_naming_the_fields() -> None:
    with pytest.raises(ConfigError, match=r"no AWS credentials.*embedder\.config\.aws_access_key_id"):
        BedrockEmbedder.from_config({"region": REGION})


def test_an_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"nope.*llm\.config\.profile_name"):
        BedrockLLM.from_config({"region": REGION, "profile_name": "nope"})


def test_half_a_key_pair_is_refused() -> None:
    with pytest.raises((ValidationError, ConfigError), match="aws_access_key_id and aws_secret_access_key go together"):
        BedrockLLM.from_config({"region": REGION, "aws_access_key_id": FAKE_KEY})


async def test_mem0s_provider_name_and_keys(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    from mem7_core import get_registry

    assert get_registry().get("llm", "aws_bedrock") is BedrockLLM
    assert get_registry().get("embedder", "aws_bedrock") is BedrockEmbedder
    mem0_style = {k: v for k, v in aws.items() if k != "region"} | {"aws_region": REGION}
    llm = BedrockLLM.from_config(mem0_style)
    assert llm.config.region == REGION and (await llm.generate([{"role": "user", "content": "Hi"}])).content
    await llm.aclose()


def test_a_typo_is_named_by_the_engine() -> None:
    from mem7_core import AsyncMemory

    with pytest.raises(ConfigError, match=r"llm\.config\.regoin"):
        AsyncMemory({"llm": {"provider": "bedrock", "config": {"regoin": REGION}}, "embedder": {"provider": "hash"},
                     "vector_store": {"provider": "flat"}})


def test_the_secrets_do_not_show_in_the_config() -> None:
    cfg = BedrockLLM.Config(region=REGION, aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_SECRET)
    assert FAKE_SECRET not in repr(cfg) and FAKE_SECRET not in str(cfg.model_dump())


# ----------------------------------------------------------------------------------- embedder
async def test_titan_sends_one_text_per_call(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config({**aws, "embedding_dims": 512, "max_concurrency": 2})
    vectors = await emb.embed(["alpha", "", "gamma"])
    await emb.aclose()
    bodies = sorted((r.body for r in bedrock_server.requests), key=lambda b: b["inputText"])
    assert bodies == [{"inputText": " ", "dimensions": 512, "normalize": True},
                      {"inputText": "alpha", "dimensions": 512, "normalize": True},
                      {"inputText": "gamma", "dimensions": 512, "normalize": True}]
    assert all(r.path == "/model/amazon.titan-embed-text-v2%3A0/invoke" for r in bedrock_server.requests)
    assert [len(v) for v in vectors] == [512] * 3 and all(abs(_norm(v) - 1) < 1e-9 for v in vectors)


async def test_cohere_batches_by_96_with_input_types(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config({**aws, "model": "cohere.embed-multilingual-v3"})
    texts = [f"text number {i}" for i in range(100)]
    vectors = await emb.embed(texts)
    [query] = await emb.embed(["text number 3"], purpose="search")
    await emb.aclose()
    bodies = [r.body for r in bedrock_server.requests]
    assert sorted(len(b["texts"]) for b in bodies[:2]) == [4, 96]
    assert {b["input_type"] for b in bodies[:2]} == {"search_document"} and bodies[2]["input_type"] == "search_query"
    assert bodies[0]["embedding_types"] == ["float"] and bodies[0]["truncate"] == "END"
    # the emulator's Cohere vectors are not unit length: normalised here
    assert len(vectors) == 100 and all(abs(_norm(v) - 1) < 1e-9 for v in [*vectors, query])
    assert sum(a * b for a, b in zip(vectors[3], query, strict=True)) < 0.9999  # a query embeds differently


async def test_cohere_v4_sends_its_output_dimension(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config({**aws, "model": "cohere.embed-v4:0", "embedding_dims": 256})
    [vec] = await emb.embed(["hello"])
    await emb.aclose()
    assert bedrock_server.last().body["output_dimension"] == 256 and len(vec) == 256


async def test_titan_v1_takes_the_text_alone(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config({**aws, "model": "amazon.titan-embed-text-v1", "embedding_dims": 1536})
    [vec] = await emb.embed(["hello"])
    await emb.aclose()
    assert bedrock_server.last().body == {"inputText": "hello"} and len(vec) == 1536


async def test_wrong_dims_are_named(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config({**aws, "model": "cohere.embed-english-v3", "embedding_dims": 768})
    with pytest.raises(ProviderError, match=r"returned 1024-dimensional vectors.*embedding_dims to 1024"):
        await emb.embed(["hello"])
    await emb.aclose()


async def test_embedder_throttling_is_retried(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config(aws)
    _waits(emb)
    bedrock_server.fail_next(1, 429, retry_after=0)
    [vec] = await emb.embed(["hello"])
    await emb.aclose()
    assert len(vec) == 1024 and bedrock_server.count("invoke") == 2


async def test_titan_embedder_reports_its_token_counts(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    emb = BedrockEmbedder.from_config(aws)
    with usage.embedding_call() as reported:  # as the engine's meter opens around each embed
        await emb.embed(["hello there", "one two three"])
    await emb.aclose()
    assert sorted(reported) == [2, 3]  # Titan: one invoke per text, its inputTextTokenCount (the emulator's words)


def test_embedder_config_is_checked() -> None:
    with pytest.raises((ValidationError, ConfigError), match="256, 512 or 1024"):
        BedrockEmbedder.Config(region=REGION, embedding_dims=300)
    with pytest.raises((ValidationError, ConfigError), match="set request_format to titan or cohere"):
        BedrockEmbedder.Config(region=REGION, model="my-custom-model")
    assert BedrockEmbedder.Config(region=REGION, model="arn:aws:bedrock:x", request_format="cohere").model


# ----------------------------------------------------------------------------------- as users meet it
def test_the_entry_point_registers_both() -> None:
    from mem7_core import get_registry

    assert get_registry().get("llm", "bedrock") is BedrockLLM
    assert get_registry().get("embedder", "bedrock") is BedrockEmbedder


async def test_an_engine_remembers_through_bedrock(bedrock_server: BedrockEmulator, aws: dict[str, Any]) -> None:
    from mem7_core import AsyncMemory

    cfg = {
        "llm": {"provider": "bedrock", "config": aws},
        "embedder": {"provider": "bedrock", "config": {**aws, "embedding_dims": 256}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    async with AsyncMemory(cfg) as mem:
        assert isinstance(mem.llm, BedrockLLM)
        await mem.add([{"role": "user", "content": "My name is Alice. I love hiking in the Alps."}], user_id="alice")
        found = await mem.search("hiking", user_id="alice")
    assert "hiking" in " ".join(r["memory"] for r in found["results"])
    chats = [r.body for r in bedrock_server.requests if r.path.endswith("/converse")]
    assert chats and all(b["toolConfig"]["toolChoice"] == {"any": {}} for b in chats)
    assert bedrock_server.count("invoke") >= 2 and bedrock_server.errors == []


def test_discovering_the_plugin_does_not_import_boto3() -> None:
    """The registry may import every plugin to find a provider: boto3 waits for the first Bedrock provider."""
    import subprocess
    import sys

    code = "import sys, mem7_bedrock.plugin; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
