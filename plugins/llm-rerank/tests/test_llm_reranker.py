"""LLMReranker: reranker expectations and malformed answers with a ScriptedLLM (counting calls: one
per rerank), config and registry, then the engine end to end, with the reranker given directly and
built from config, against the loopback OpenAI server and the real openai client."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ConfigError, ProviderError, ProviderNotFoundError
from mem7_core.plugins import PluginRegistry, get_registry, hookimpl
from mem7_core.providers import LLMCapabilities, Message
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM
from mem7_core.testing.openai_server import Fault, OpenAIServer
from mem7_llm_rerank import RERANK_MARKER, LLMReranker
from mem7_openai import OpenAILLM

QUERY = "what alice drinks"
DOCS = ["alice went hiking", "alice drinks green tea", "bob likes coffee", "alice drinks water when running"]


def docs_in(messages: Sequence[Message]) -> list[str]:
    """The documents of a rerank prompt, as the LLM sees them (``[i] "json string"`` lines)."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    return [json.loads(m.group(2)) for m in re.finditer(r'^\[(\d+)\] (".*")$', user, re.M)]


def scorer(rule: Callable[[str], float]) -> Callable[[Sequence[Message]], dict[str, Any]]:
    """A scripted LLM answer scoring each document of the prompt with ``rule``."""

    def reply(messages: Sequence[Message], *_: Any) -> dict[str, Any]:
        return {"scores": [{"index": i, "score": rule(d)} for i, d in enumerate(docs_in(messages))]}

    return reply


def word_overlap(doc: str) -> float:
    q = set(QUERY.split())
    return len(q & set(doc.split())) / len(q)


def rr_with(script: Any, **cfg: Any) -> tuple[LLMReranker, ScriptedLLM]:
    llm = ScriptedLLM(script)
    return LLMReranker(LLMReranker.Config(**cfg), llm=llm), llm


# ------------------------------------------------------------------ reranker expectations
async def test_valid_indexes_best_first_one_call() -> None:
    rr, llm = rr_with(scorer(word_overlap))
    results = await rr.rerank(QUERY, DOCS)
    assert len(llm.calls) == 1
    assert sorted(r.index for r in results) == list(range(len(DOCS)))
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert results[0].index == 1  # "alice drinks green tea": 2 of 3 words, tied with [3]; ties keep input order
    for r in results:
        assert r.score == pytest.approx(word_overlap(DOCS[r.index]))


async def test_top_n_respected() -> None:
    rr, _ = rr_with(scorer(word_overlap))
    full = await rr.rerank(QUERY, DOCS)
    top2 = await rr.rerank(QUERY, DOCS, top_n=2)
    assert [r.index for r in top2] == [r.index for r in full[:2]]
    assert len(await rr.rerank(QUERY, DOCS, top_n=99)) == len(DOCS)
    capped, _ = rr_with(scorer(word_overlap), top_n=1)
    assert len(await capped.rerank(QUERY, DOCS)) == 1
    assert len(await capped.rerank(QUERY, DOCS, top_n=3)) == 3  # the caller's top_n wins


async def test_empty_documents_make_no_call() -> None:
    rr, llm = rr_with(scorer(word_overlap))
    assert await rr.rerank(QUERY, []) == []
    assert await rr.rerank(QUERY, DOCS, top_n=0) == []
    assert llm.calls == []


@pytest.mark.parametrize("n", [1, 5, 40])
async def test_exactly_one_llm_call_per_rerank_whatever_the_count(n: int) -> None:
    rr, llm = rr_with(scorer(lambda d: 0.5))
    docs = [f"memory number {i}" for i in range(n)]
    for k in range(3):
        results = await rr.rerank("memory", docs)
        assert len(llm.calls) == k + 1
        assert len(results) == n
    assert docs_in(llm.calls[0]["messages"]) == docs  # every candidate in the one prompt
    assert len(llm.calls_for(RERANK_MARKER)) == 3


async def test_prompt_and_call_parameters() -> None:
    rr, llm = rr_with(scorer(word_overlap), temperature=0.3, max_document_chars=20,
                      custom_prompt="Prefer documents about drinks.")
    await rr.rerank(QUERY, ["x" * 50, 'quote " and\nnewline'])
    call = llm.calls[0]
    assert call["response_format"] == "json" and call["temperature"] == 0.3
    system = call["messages"][0]["content"]
    assert system.startswith(RERANK_MARKER) and "Prefer documents about drinks." in system and "JSON" in system
    assert docs_in(call["messages"]) == ["x" * 20 + "…", 'quote " and\nnewline']
    assert json.dumps(QUERY) in call["messages"][1]["content"]


async def test_text_mode_for_llms_without_json_mode() -> None:
    class PlainLLM(ScriptedLLM):
        capabilities = LLMCapabilities(json_mode=False)

    llm = PlainLLM(scorer(word_overlap))
    rr = LLMReranker(llm=llm)
    await rr.rerank(QUERY, DOCS)
    assert llm.calls[0]["response_format"] == "text"


# ------------------------------------------------------------------ malformed answers
@pytest.mark.parametrize(
    ("answer", "order", "scores"),
    [
        ('```json\n{"scores": [{"index": 2, "score": 0.9}, {"index": 0, "score": 0.5}, '
         '{"index": 1, "score": 0.1}]}\n```', [2, 0, 1], [0.9, 0.5, 0.1]),               # code fence
        ('{"scores": [{"index": 1, "score": 0.8}]}', [1, 0, 2], [0.8, 0.0, 0.0]),       # missing indexes: last, 0
        ('{"scores": [{"index": 7, "score": 1.0}, {"index": 2, "score": 0.4}]}', [2, 0, 1], [0.4, 0.0, 0.0]),
        ('{"scores": [{"index": 0, "score": "n/a"}, {"index": 1, "score": "0.7"}]}', [1, 0, 2], [0.7, 0.0, 0.0]),
        ('{"scores": [{"index": 2, "score": 0.6}, {"index": 0, "score": 0.3}, {"index": 1, "sc',
         [2, 0, 1], [0.6, 0.3, 0.0]),                                                    # truncated JSON
        ('{"scores": [{"index": 0, "score": 2}, {"index": 1, "score": 9}]}', [1, 0, 2], [0.9, 0.2, 0.0]),  # 0-10
    ],
)
async def test_malformed_but_usable_answers(answer: str, order: list[int], scores: list[float]) -> None:
    rr, llm = rr_with([answer])
    results = await rr.rerank(QUERY, DOCS[:3])
    assert [r.index for r in results] == order
    assert [r.score for r in results] == pytest.approx(scores)
    assert len(llm.calls) == 1


@pytest.mark.parametrize(
    "answer",
    ["I think the second one.", "", '{"scores": []}', '{"scores": [{"index": 0, "score": "high"}]}',
     '{"scores": [{"index": 5, "score": 0.9}]}', '{"scores": [{"index": 0, "sc'],
)
async def test_unusable_answers_raise_provider_error_after_one_call(answer: str) -> None:
    rr, llm = rr_with([answer])
    with pytest.raises(ProviderError, match=r"\[llm_rerank\] reranker: no usable scores") as info:
        await rr.rerank(QUERY, DOCS)
    assert info.value.provider == "llm_rerank"
    assert len(llm.calls) == 1  # no second attempt: the engine keeps the vector order instead


async def test_llm_failure_is_a_provider_error_naming_the_reranker() -> None:
    rr, llm = rr_with([ProviderError("openai", "llm: rate limited (429) after 3 attempts", retryable=True)])
    with pytest.raises(ProviderError, match=r"\[llm_rerank\] reranker: the scoring LLM failed: \[openai\] llm: "
                                            r"rate limited") as info:
        await rr.rerank(QUERY, DOCS)
    assert info.value.retryable and len(llm.calls) == 1


async def test_aclose_closes_only_an_llm_it_built(openai_server: OpenAIServer) -> None:
    given = ScriptedLLM()
    closed: list[bool] = []

    async def record_close() -> None:
        closed.append(True)

    given.aclose = record_close  # type: ignore[method-assign]
    rr = LLMReranker(llm=given)
    await rr.aclose()
    await rr.aclose()
    assert closed == []
    with pytest.raises(ProviderError, match="after aclose"):
        await rr.rerank(QUERY, DOCS)
    built = LLMReranker.from_config({"llm": {"provider": "openai", "config": {"api_key": "k",
                                                                            "base_url": openai_server.url}}})
    assert isinstance(built.llm, OpenAILLM)
    await built.aclose()
    assert built.llm._closed


# ------------------------------------------------------------------ config and registry
def test_registry_names() -> None:
    registry = PluginRegistry()
    for name in ("llm_rerank", "llm", "llm-rerank", "llm_reranker"):
        assert registry.get("reranker", name) is LLMReranker, name
    assert registry.origin("reranker", "llm") == "llm_rerank"


async def test_llm_built_from_its_own_section_through_the_registry(openai_server: OpenAIServer) -> None:
    rr = PluginRegistry().create("reranker", "llm", {
        "llm": {"provider": "openai", "config": {"api_key": "sk-x", "base_url": openai_server.url,
                                                 "model": "gpt-4.1-mini"}},
        "top_n": 5,
    })
    assert isinstance(rr, LLMReranker) and isinstance(rr.llm, OpenAILLM)
    assert rr.llm.model == "gpt-4.1-mini" and rr.llm.base_url == openai_server.url and rr.config.top_n == 5
    await rr.aclose()
    # flat keys in the llm section are its config (as everywhere in mem7's config); openai's defaults apply
    flat = LLMReranker.from_config({"llm": {"provider": "openai", "api_key": "k"}})
    assert flat.llm.model == "gpt-4.1-nano"
    await flat.aclose()


def test_config_errors_name_the_section() -> None:
    with pytest.raises(ConfigError, match=r"reranker\.config\.llm \(openai\): openai llm: no api_key\. "
                                          r"Set OPENAI_API_KEY"):
        LLMReranker.from_config({})  # default: openai, and no key in the environment
    with pytest.raises(ConfigError, match=r"reranker\.config\.llm\.config\.temprature"):
        LLMReranker.from_config({"llm": {"provider": "openai", "config": {"api_key": "k", "temprature": 0}}})
    with pytest.raises(ProviderNotFoundError, match="No llm provider named 'nope'"):
        LLMReranker.from_config({"llm": {"provider": "nope"}})
    with pytest.raises(ValueError, match="top_nn"):
        LLMReranker.from_config({"top_nn": 3})


async def test_mem0_style_keys() -> None:
    rr = LLMReranker.from_config({"provider": "openai", "model": "gpt-4o-mini", "api_key": "k", "top_k": 3,
                                  "temperature": 0.1, "max_tokens": 100})
    assert isinstance(rr.llm, OpenAILLM) and rr.llm.model == "gpt-4o-mini"
    assert (rr.config.top_n, rr.config.temperature, rr.max_tokens_for(30)) == (3, 0.1, 100)
    await rr.aclose()
    assert LLMReranker(llm=ScriptedLLM()).max_tokens_for(30) == 40 + 20 * 30


# ------------------------------------------------------------------ engine end to end
FACTS = ["alice likes green tea", "alice went hiking in june", "alice drinks coffee at work",
         "bob likes tea", "alice drinks water when running", "alice owns a red bike"]
ENGINE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash", "config": {"dims": 64}},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


def prefers_running(doc: str) -> float:
    return 0.95 if "running" in doc else 0.2 if "alice" in doc else 0.05


async def _seed(mem: AsyncMemory) -> None:
    for fact in FACTS:
        await mem.add(fact, user_id="alice", infer=False)


async def test_engine_with_reranker_given_one_llm_call_per_search() -> None:
    rr, llm = rr_with(scorer(prefers_running))
    async with AsyncMemory(ENGINE, llm=ScriptedLLM(), reranker=rr) as mem:
        await _seed(mem)
        for k in range(3):
            r = await mem.search("alice drinks tea", user_id="alice", limit=2)
            assert len(llm.calls) == k + 1  # one LLM call per search, all candidates in it
            assert r["results"][0]["memory"] == "alice drinks water when running"
            assert r["results"][0]["score"] == pytest.approx(0.95)
        assert len(docs_in(llm.calls[0]["messages"])) == 6  # limit 2 × top_k_multiplier 3
        await mem.search("alice drinks tea", user_id="alice", limit=2, rerank=False)
        assert len(llm.calls) == 3


class RegistryOnlyLLM(ScriptedLLM):
    """An LLM provider registered only in one test's registry, never in the process-wide one."""

    name = "registry_only_llm"
    built: ClassVar[list[RegistryOnlyLLM]] = []

    def __init__(self, config: Any = None) -> None:
        super().__init__(scorer(prefers_running))
        RegistryOnlyLLM.built.append(self)


class _RegistryOnlyPlugin:
    @hookimpl
    def mem7_register_llms(self, register: Any) -> None:
        register(RegistryOnlyLLM)


async def test_engine_builds_the_rerankers_llm_from_the_registry_it_was_given() -> None:
    """``reranker.config.llm`` is looked up in the engine's registry (``registry.create`` hands
    itself to ``from_config``), not in the process-wide one, which does not know this LLM."""
    import mem7_flat.plugin as flat_plugin
    import mem7_llm_rerank.plugin as rerank_plugin

    registry = PluginRegistry(discover=False)
    for name, plugin in (("flat", flat_plugin), ("llm_rerank", rerank_plugin), ("registry_only", _RegistryOnlyPlugin())):
        assert registry.register_plugin(plugin, name=name)
    with pytest.raises(ProviderNotFoundError, match="registry_only_llm"):
        get_registry().get("llm", "registry_only_llm")
    RegistryOnlyLLM.built.clear()
    cfg = {**ENGINE, "reranker": {"provider": "llm", "config": {"llm": {"provider": "registry_only_llm"}}}}
    async with AsyncMemory(cfg, llm=ScriptedLLM(), embedder=HashEmbedder(HashEmbedder.Config(dims=64)),
                           registry=registry) as mem:
        assert isinstance(mem.reranker, LLMReranker)
        # the engine meters the reranker's LLM (a proxy around it): that it is the registry's shows in its calls
        assert len(RegistryOnlyLLM.built) == 1 and repr(RegistryOnlyLLM.built[0]) in repr(mem.reranker.llm)
        await _seed(mem)
        r = await mem.search("alice drinks tea", user_id="alice", limit=2)
        assert len(RegistryOnlyLLM.built[0].calls) == 1
        assert r["results"][0]["memory"] == "alice drinks water when running"


def _openai_section(server: OpenAIServer, **extra: Any) -> dict[str, Any]:
    return {"provider": "openai", "config": {"api_key": "sk-test", "base_url": server.url,
                                             "retry_backoff": 0.0, **extra}}


@pytest.mark.parametrize("how", ["given", "config"])
async def test_engine_end_to_end_against_the_loopback_openai_server(openai_server: OpenAIServer, how: str) -> None:
    openai_server.api_key = "sk-test"
    openai_server.script(scorer(prefers_running))
    if how == "given":
        reranker = LLMReranker(LLMReranker.Config(llm=_openai_section(openai_server)))
        mem = AsyncMemory(ENGINE, llm=ScriptedLLM(), reranker=reranker)
    else:
        reranker = None
        cfg = {**ENGINE, "reranker": {"provider": "llm", "config": {"llm": _openai_section(openai_server)}}}
        mem = AsyncMemory(cfg, llm=ScriptedLLM())
    try:
        assert isinstance(mem.reranker, LLMReranker) and isinstance(mem.reranker.llm, OpenAILLM)
        await _seed(mem)
        assert openai_server.count("chat") == 0
        r = await mem.search("alice drinks tea", user_id="alice", limit=2)
        assert openai_server.count("chat") == 1  # one request per search
        assert openai_server.count() == 1
        assert r["results"][0]["memory"] == "alice drinks water when running"
        req = openai_server.last_request("chat")
        assert req.body["response_format"] == {"type": "json_object"}
        assert req.headers["authorization"] == "Bearer sk-test"
        assert len(docs_in(req.body["messages"])) == 6
        await mem.search("alice bike", user_id="alice", limit=3)
        assert openai_server.count("chat") == 2
    finally:
        await mem.aclose()
        if reranker is not None:
            await reranker.aclose()


@pytest.mark.parametrize("failure", ["server_error", "malformed_answer"])
async def test_engine_keeps_vector_order_when_the_llm_fails(
    openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    cfg = {**ENGINE, "reranker": {"provider": "llm_rerank",
                                  "config": {"llm": _openai_section(openai_server, max_retries=0)}}}
    async with AsyncMemory(cfg, llm=ScriptedLLM()) as mem:
        await _seed(mem)
        expected = await mem.search("alice drinks tea", user_id="alice", limit=3, rerank=False)
        if failure == "server_error":
            openai_server.script([Fault(status=500)])
        else:
            openai_server.script(["Sorry, I can't score these."])
        with caplog.at_level(logging.WARNING, logger="mem7"):
            r = await mem.search("alice drinks tea", user_id="alice", limit=3)
        assert openai_server.count("chat") == 1
        assert [x["memory"] for x in r["results"]] == [x["memory"] for x in expected["results"]]
        assert [x["score"] for x in r["results"]] == pytest.approx([x["score"] for x in expected["results"]])
        assert "reranker 'llm_rerank' failed" in caplog.text and "[llm_rerank]" in caplog.text
