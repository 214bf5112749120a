"""LLMReranker passes the reranker conformance suite, scored by an LLM that judges relevance by word
overlap (the share of the query's words found in each document, as the prompt shows them): a
ScriptedLLM, and the real openai client against the loopback OpenAI server."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from mem7_core.providers import Message
from mem7_core.testing import RerankerConformance
from mem7_core.testing.fakes import ScriptedLLM
from mem7_core.testing.openai_server import OpenAIServer
from mem7_llm_rerank import LLMReranker

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def overlap_answer(messages: Sequence[Message]) -> dict[str, Any]:
    """The rerank answer of a model scoring each document by the share of the query's words in it."""
    user = next(str(m["content"]) for m in messages if m["role"] == "user")
    query_line = re.search(r"^Query: (\".*\")$", user, re.M)
    assert query_line is not None, user
    query = _words(json.loads(query_line.group(1)))
    docs = [json.loads(m.group(2)) for m in re.finditer(r'^\[(\d+)\] (".*")$', user, re.M)]
    return {"scores": [{"index": i, "score": len(query & _words(d)) / len(query) if query else 0.0}
                       for i, d in enumerate(docs)]}


def _broken(messages: Sequence[Message]) -> Any:
    raise ConnectionResetError("the scoring LLM's connection dropped")


class TestLLMRerankerConformance(RerankerConformance):
    """Given a ScriptedLLM (not closed by the reranker); one LLM call per rerank."""

    @pytest.fixture
    def scoring_llm(self) -> ScriptedLLM:
        return ScriptedLLM(overlap_answer)

    @pytest.fixture
    async def reranker(self, scoring_llm: ScriptedLLM) -> AsyncIterator[LLMReranker]:
        rr = LLMReranker(llm=scoring_llm)
        yield rr
        await rr.aclose()

    @pytest.fixture
    def backend_calls(self, scoring_llm: ScriptedLLM) -> Callable[[], int]:
        return lambda: len(scoring_llm.calls)

    @pytest.fixture
    async def failing_reranker(self) -> AsyncIterator[LLMReranker]:
        rr = LLMReranker(llm=ScriptedLLM(_broken))
        yield rr
        await rr.aclose()


class TestLLMRerankerOverOpenAIConformance(RerankerConformance):
    """The scoring LLM built from ``reranker.config.llm`` (the openai provider, closed by the
    reranker) against the loopback OpenAI server."""

    @staticmethod
    def _make(server: OpenAIServer) -> LLMReranker:
        return LLMReranker.from_config({"llm": {"provider": "openai", "config": {
            "api_key": "sk-test", "base_url": server.url, "max_retries": 0, "retry_backoff": 0.0}}})

    @pytest.fixture
    async def reranker(self, openai_server: OpenAIServer) -> AsyncIterator[LLMReranker]:
        openai_server.script(overlap_answer)
        rr = self._make(openai_server)
        yield rr
        await rr.aclose()

    @pytest.fixture
    def backend_calls(self, openai_server: OpenAIServer) -> Callable[[], int]:
        return lambda: openai_server.count("chat")

    @pytest.fixture
    async def failing_reranker(self, openai_server: OpenAIServer) -> AsyncIterator[LLMReranker]:
        openai_server.script(["I can't score these documents, sorry."] * 10)
        rr = self._make(openai_server)
        yield rr
        await rr.aclose()
