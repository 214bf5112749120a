"""Token usage per operation (issue #21, "cost you can see"): ``usage`` in results, engine totals.

The engine runs mem7-openai (LLM and embedder) over HTTP against the loopback OpenAI server, which
answers each call with a ``usage`` it records on the request (``RecordedRequest.usage``): every
figure an operation reports is checked against what the server said for that operation's requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory
from mem7_core.providers import Embedder, EmbedPurpose
from mem7_core.providers import usage as U
from mem7_core.testing.one_call import one_call_reply
from mem7_core.testing.openai_server import OpenAIServer, RecordedRequest

LLM_MODEL, EMBED_MODEL = "gpt-4.1-nano", "text-embedding-3-small"
ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def config(url: str, **extra: Any) -> dict[str, Any]:
    conn = {"base_url": url, "api_key": "test", "max_retries": 0, "timeout": 10.0}
    return {
        "llm": {"provider": "openai", "config": {**conn, "model": LLM_MODEL}},
        "embedder": {"provider": "openai", "config": {**conn, "model": EMBED_MODEL, "embedding_dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        **extra,
    }


def expected(requests: Sequence[RecordedRequest]) -> dict[str, Any]:
    """The usage report the engine should give for these requests, from what the server answered."""
    chats = [r for r in requests if r.endpoint == "chat"]
    embeds = [r for r in requests if r.endpoint == "embeddings"]
    models = []
    if chats:
        models.append({"kind": "llm", "provider": "openai", "model": LLM_MODEL, "calls": len(chats), "texts": 0,
                       "prompt_tokens": sum(r.usage["prompt_tokens"] for r in chats if r.usage),
                       "completion_tokens": sum(r.usage["completion_tokens"] for r in chats if r.usage),
                       "embedding_tokens": None})
    if embeds:
        models.append({"kind": "embedder", "provider": "openai", "model": EMBED_MODEL, "calls": len(embeds),
                       "texts": sum(len(r.body["input"]) for r in embeds), "prompt_tokens": None,
                       "completion_tokens": None,
                       "embedding_tokens": sum(r.usage["prompt_tokens"] for r in embeds if r.usage)})
    totals = {k: sum(m[k] or 0 for m in models) for k in ("calls", "prompt_tokens", "completion_tokens",
                                                           "embedding_tokens")}
    return {**totals, "total_tokens": totals["prompt_tokens"] + totals["completion_tokens"]
            + totals["embedding_tokens"], "models": models}


class Watch:
    """The requests the server saw since the last :meth:`take`."""

    def __init__(self, srv: OpenAIServer) -> None:
        self.srv = srv
        self.seen = 0

    def take(self) -> list[RecordedRequest]:
        everything = [r for r in self.srv.requests() if r.endpoint in ("chat", "embeddings")]
        new, self.seen = everything[self.seen:], len(everything)
        return new


def added(totals: list[dict[str, Any]]) -> dict[str, Any]:
    """Usage reports added up, as the engine's totals should be."""
    acc = U.Usage()
    for t in totals:
        for m in t["models"]:
            acc.add((m["kind"], m["provider"], m["model"]), m["calls"], m["texts"], m["prompt_tokens"],
                    m["completion_tokens"], m["embedding_tokens"])
    return acc.to_dict()


# ------------------------------------------------------------------------------ operations
async def test_two_call_add_search_update_report_the_calls_they_made(openai_server: OpenAIServer) -> None:
    watch = Watch(openai_server)
    reports = []
    async with AsyncMemory(config(openai_server.url)) as mem:
        first = await mem.add("My name is Alice. I love hiking in the Alps.", user_id="alice")
        new = watch.take()
        assert [r.endpoint for r in new] == ["chat", "embeddings"]  # no candidates yet: no decision call
        assert first["usage"] == expected(new)
        assert first["usage"]["models"][1]["texts"] == 2 and first["usage"]["embedding_tokens"] > 0
        reports.append(first["usage"])

        second = await mem.add("I work as a nurse in Lyon.", user_id="alice")  # extract, embed, decide
        new = watch.take()
        assert sorted(r.endpoint for r in new) == ["chat", "chat", "embeddings"]
        assert second["usage"] == expected(new) and second["usage"]["models"][0]["calls"] == 2
        reports.append(second["usage"])

        found = await mem.search("where does alice work", user_id="alice")
        new = watch.take()
        assert found["usage"] == expected(new) and found["usage"]["calls"] == 1
        reports.append(found["usage"])

        item = found["results"][0]["id"]
        changed = await mem.update(item, "I work as a surgeon in Lyon")
        assert changed["usage"] == expected(watch.take()) and changed["usage"]["models"][0]["texts"] == 1
        reports.append(changed["usage"])

        assert "usage" not in await mem.delete(item)  # no model called: no usage key
        assert "usage" not in await mem.get_all(user_id="alice")

        assert mem.usage == added(reports) == expected(watch.srv.requests())
        before = mem.reset_usage()
        assert before == added(reports)
        assert mem.usage == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "embedding_tokens": 0,
                             "total_tokens": 0, "models": []}


async def test_one_call_add_reports_one_llm_call(openai_server: OpenAIServer) -> None:
    openai_server.script(one_call_reply)
    watch = Watch(openai_server)
    async with AsyncMemory(config(openai_server.url, add_mode="one_call")) as mem:
        await mem.add("I live in Porto.", user_id="bo", infer=False)
        watch.take()
        res = await mem.add("I love surfing at dawn. My sister lives in Porto.", user_id="bo")
        new = watch.take()
        assert [r.endpoint for r in new].count("chat") == 1
        assert res["results"] and res["usage"] == expected(new)
        assert res["usage"]["models"][0]["calls"] == 1


async def test_verbatim_add_counts_one_embedding_call_per_add(openai_server: OpenAIServer) -> None:
    watch = Watch(openai_server)
    async with AsyncMemory(config(openai_server.url)) as mem:
        res = await mem.add(["I like tea", "I own a red bicycle"], user_id="u", infer=False)
        new = watch.take()
        assert [r.endpoint for r in new] == ["embeddings"]
        assert res["usage"] == expected(new)
        assert res["usage"]["embedding_tokens"] == 3 + 5  # the server's count: whitespace words
        assert "usage" not in await mem.add("   ", user_id="u", infer=False)  # nothing to store: no call


async def test_graph_memory_calls_count_in_add_and_search(openai_server: OpenAIServer) -> None:
    watch = Watch(openai_server)
    async with AsyncMemory(config(openai_server.url, graph_store={"provider": "flat"})) as mem:
        res = await mem.add("Alice works at Acme. Alice lives in Paris.", user_id="alice")
        new = watch.take()
        assert res["relations"], "the graph path ran"
        chats = [r for r in new if r.endpoint == "chat"]
        assert len(chats) >= 2  # the vector path's extraction + the graph's entity extraction (at least)
        assert res["usage"] == expected(new)
        found = await mem.search("where does Alice work", user_id="alice")
        assert found["usage"] == expected(watch.take())
        assert found["usage"]["models"][0]["kind"] == "llm"  # the graph search's entity extraction
        assert mem.usage == added([res["usage"], found["usage"]])


async def test_shared_embedding_requests_are_split_and_add_up(openai_server: OpenAIServer) -> None:
    openai_server.latency = 0.02  # calls overlap: the write path's embedding calls merge
    async with AsyncMemory(config(openai_server.url)) as mem:
        texts = [f"User {i} keeps {i + 2} cats and a very old dog named Rex{i}." for i in range(12)]
        results = await asyncio.gather(*(mem.add(t, user_id=f"u{i}") for i, t in enumerate(texts)))
        embeds = openai_server.requests("embeddings")
        batcher = mem._write_path.embed_batch
        assert batcher.requests == len(embeds) < len(texts), "some requests were shared"
        assert any(r["usage"]["models"][1]["calls"] == 0 for r in results), "a caller of a shared request"
        for r in results:  # each add's share: its own texts
            assert r["usage"]["models"][1]["texts"] == len(r["results"])
        assert added([r["usage"] for r in results]) == mem.usage == expected(openai_server.requests())


def test_sync_memory_has_the_same_usage(openai_server: OpenAIServer) -> None:
    with Memory(config(openai_server.url)) as m:
        res = m.add("I like green tea", user_id="u", infer=False)
        assert m.usage == res["usage"] == expected(openai_server.requests())
        assert m.reset_usage() == res["usage"] and m.usage["calls"] == 0


# ------------------------------------------------------------------------------ the contract
class CountingEmbedder(Embedder):
    """Reports one token per character, from a worker thread (as blocking SDK calls do)."""

    name = "counting"

    @property
    def dims(self) -> int:
        return 4

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        def work() -> list[list[float]]:
            U.report_embedding_tokens(sum(len(t) for t in texts))
            U.report_embedding_tokens(-3)  # nonsense from a service is ignored
            return [[1.0, float(len(t)), 0.0, 0.0] for t in texts]

        return await asyncio.to_thread(work)


class SilentEmbedder(CountingEmbedder):
    """Reports nothing, as an embedder written before the contract had usage."""

    name = "silent"

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        return [[1.0, float(len(t)), 0.0, 0.0] for t in texts]


@pytest.mark.parametrize("embedder, tokens", [(CountingEmbedder(), 10 + 10), (SilentEmbedder(), None)])
async def test_embedders_report_tokens_or_still_count_calls_and_texts(embedder: Embedder, tokens: int | None) -> None:
    cfg = {"llm": None, "vector_store": {"provider": "flat"}, "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}}
    async with AsyncMemory(cfg, embedder=embedder) as mem:
        res = await mem.add(["I like tea", "I own cats"], user_id="u", infer=False)
        (row,) = res["usage"]["models"]
        assert (row["kind"], row["provider"], row["calls"], row["texts"]) == ("embedder", embedder.name, 1, 2)
        assert row["embedding_tokens"] == tokens
        assert res["usage"]["embedding_tokens"] == (tokens or 0) and res["usage"]["total_tokens"] == (tokens or 0)
    # a provider used on its own (no engine around it) reports into nothing, and does not fail
    assert len(await embedder.embed(["x"])) == 1


def test_split_is_proportional_and_adds_up() -> None:
    assert U.split(10, [1, 1]) == [5, 5]
    assert U.split(10, [1, 2]) == [3, 7]  # 3.33 / 6.67: the larger remainder gets the extra token
    assert U.split(7, [1, 1, 1]) == [3, 2, 2]  # ties go to the earlier share
    assert U.split(5, [0, 0]) == [5, 0]
    for total in range(40):
        for weights in ([3, 1, 4], [1], [2, 7, 1, 1]):
            assert sum(U.split(total, weights)) == total


# ------------------------------------------------------------------------------ telemetry
async def test_spans_carry_gen_ai_usage_and_the_operation_totals(openai_server: OpenAIServer) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'mem7-core[otel]'")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    watch = Watch(openai_server)
    cfg = config(openai_server.url, telemetry={"enabled": True})
    async with AsyncMemory(cfg, tracer_provider=provider) as mem:
        res = await mem.add("My name is Alice. I love hiking in the Alps.", user_id="alice")
    provider.shutdown()
    (chat,) = [r for r in watch.take() if r.endpoint == "chat"]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    llm, emb, op = spans["llm.generate"].attributes, spans["embedder.embed"].attributes, spans["add"].attributes
    assert llm is not None and emb is not None and op is not None
    assert (llm["gen_ai.operation.name"], llm["gen_ai.provider.name"], llm["gen_ai.request.model"]) == (
        "chat", "openai", LLM_MODEL)
    assert chat.usage is not None
    assert llm["gen_ai.usage.input_tokens"] == chat.usage["prompt_tokens"]
    assert llm["gen_ai.usage.output_tokens"] == chat.usage["completion_tokens"]
    assert (emb["gen_ai.operation.name"], emb["gen_ai.provider.name"], emb["gen_ai.request.model"]) == (
        "embeddings", "openai", EMBED_MODEL)
    assert emb["gen_ai.usage.input_tokens"] == res["usage"]["embedding_tokens"] > 0
    for key in ("calls", "prompt_tokens", "completion_tokens", "embedding_tokens", "total_tokens"):
        assert op[f"mem7.usage.{key}"] == res["usage"][key]
    assert "gen_ai.usage.input_tokens" not in op  # per call only: a backend summing the trace counts once


async def test_a_rerankers_own_llm_is_counted() -> None:
    # llm_rerank asks its own LLM once per search: those tokens are the search's cost too (they used
    # to be left out of the search's usage and the engine's totals).
    from mem7_core.models import LLMResponse
    from mem7_core.testing.fakes import ScriptedLLM
    from mem7_llm_rerank import LLMReranker

    class PricedLLM(ScriptedLLM):
        name = "priced"

        async def generate(self, messages: Any, **kwargs: Any) -> LLMResponse:
            answer = await super().generate(messages, **kwargs)
            return LLMResponse(content=answer.content, usage={"prompt_tokens": 120, "completion_tokens": 9})

    scorer = PricedLLM(lambda messages, **_: '{"scores": [{"index": 0, "score": 0.9}, {"index": 1, "score": 0.2}]}')
    cfg = {"llm": None, "embedder": {"provider": "hash"}, "vector_store": {"provider": "flat"},
           "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}}
    async with AsyncMemory(cfg, reranker=LLMReranker(llm=scorer)) as mem:
        await mem.add(["I keep bees", "I like tea"], user_id="u", infer=False)
        mem.reset_usage()
        found = await mem.search("bees", user_id="u", limit=2)
        rows = {m["kind"]: m for m in found["usage"]["models"]}
        assert len(scorer.calls) == 1
        assert (rows["llm"]["provider"], rows["llm"]["calls"]) == ("priced", 1)
        assert (rows["llm"]["prompt_tokens"], rows["llm"]["completion_tokens"]) == (120, 9)
        assert found["usage"]["prompt_tokens"] == 120 and found["usage"]["calls"] == 2  # + the query's embedding
        assert mem.usage == found["usage"]
        unranked = await mem.search("bees", user_id="u", limit=2, rerank=False)
        assert [m["kind"] for m in unranked["usage"]["models"]] == ["embedder"]
