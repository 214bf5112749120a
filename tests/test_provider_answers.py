"""The engine holds when a provider answers the wrong shape (engine/answers.py): a third-party
provider that skipped its conformance suite, passed to a real engine (flat store, SQLite history).

An embedder's or an LLM's wrong answer is a ProviderError naming the provider, what it returned
and what the contract wants, raised before anything is stored; a reranker's is a reranker failure
like any other: the retrieval order is kept, and the log says why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ProviderError
from mem7_core.models import LLMResponse, RerankResult
from mem7_core.providers import LLM, Reranker
from mem7_core.providers.embedder import EmbedPurpose
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM

DIMS = 16
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash", "config": {"dims": DIMS}},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
THREE = [{"role": "user", "content": t} for t in ("I like green tea", "I live in Lisbon", "I surf on weekends")]


class Misanswering(HashEmbedder):
    """The hash embedder, with its answer bent by ``bend`` (for ``purpose`` only, when given)."""

    name = "misanswering"

    def __init__(self, bend: Any, purpose: EmbedPurpose | None = None) -> None:
        super().__init__(HashEmbedder.Config(dims=DIMS))
        self.bend = bend
        self.purpose = purpose

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> Any:
        vectors = await super().embed(texts, purpose=purpose)
        return self.bend(vectors) if self.purpose in (None, purpose) else vectors


def _with(value: float) -> Any:
    def bend(vectors: list[list[float]]) -> list[list[float]]:
        vectors[-1][3] = value
        return vectors

    return bend


async def _nothing_stored(mem: AsyncMemory) -> None:
    assert (await mem.get_all(user_id="u"))["results"] == []


# ======================================================================================= embedder
@pytest.mark.parametrize(
    ("bend", "said"),
    [
        (lambda vs: [v[:3] for v in vs], "returned a vector of 3 dimensions (vector 0 of 3), its dims is 16"),
        (_with(float("nan")), "returned a vector holding a NaN (vector 2 of 3)"),
        (_with(float("inf")), "returned a vector holding an inf (vector 2 of 3)"),
        (lambda vs: [[*v[:-1], "x"] for v in vs], "returned a vector holding a str, not a number (vector 0 of 3)"),
        (lambda vs: np.asarray(vs)[:, :3], "returned vectors of 3 dimensions, its dims is 16"),
        (lambda vs: np.asarray(_with(float("nan"))(vs)), "returned a vector holding a NaN (vector 2 of 3)"),
    ],
    ids=["wrong-dims", "nan", "inf", "not-a-number", "array-wrong-dims", "array-nan"],
)
async def test_an_embedder_answering_bad_vectors_is_a_provider_error_and_nothing_is_stored(bend: Any, said: str) -> None:
    """E1: vectors of the wrong size, or holding NaN / inf, are refused at the embedder."""
    async with AsyncMemory(BASE, embedder=Misanswering(bend)) as mem:
        with pytest.raises(ProviderError) as caught:
            await mem.add(THREE, user_id="u", infer=False)
        assert caught.value.provider == "embedder:misanswering"
        assert f"embedder 'misanswering' {said}" in str(caught.value)
        assert "Embedder.embed must return one vector of `dims` (16) finite numbers per text" in str(caught.value)
        await _nothing_stored(mem)


@pytest.mark.parametrize(
    ("bend", "said"),
    [(lambda vs: vs[:-1], "returned 2 vectors for 3 texts"), (lambda vs: [*vs, vs[0]], "returned 4 vectors for 3 texts")],
    ids=["fewer", "more"],
)
async def test_an_embedder_answering_another_number_of_vectors_is_a_provider_error(bend: Any, said: str) -> None:
    """E2: one vector per text, or the texts and vectors would be paired wrongly (or not at all)."""
    async with AsyncMemory(BASE, embedder=Misanswering(bend)) as mem:
        with pytest.raises(ProviderError, match=rf"^\[embedder:misanswering\] embedder 'misanswering' {said}; "):
            await mem.add(THREE, user_id="u", infer=False)
        await _nothing_stored(mem)


async def test_an_embedder_answering_a_query_with_the_wrong_size_fails_the_search() -> None:
    """The query's vector is checked as the stored ones are (E1 on the read path)."""
    async with AsyncMemory(BASE, embedder=Misanswering(lambda vs: [v[:3] for v in vs], purpose="search")) as mem:
        await mem.add(THREE, user_id="u", infer=False)
        with pytest.raises(ProviderError, match=r"\[embedder:misanswering\] .* a vector of 3 dimensions \(vector 0 of 1\), its dims is 16"):
            await mem.search("tea", user_id="u")
        assert len((await mem.get_all(user_id="u"))["results"]) == 3  # what was stored stays


async def test_an_embedder_answering_a_well_formed_array_is_accepted() -> None:
    """A 2-D numpy array is a right answer (Embedder.embed's contract), checked without a copy."""
    async with AsyncMemory(BASE, embedder=Misanswering(np.asarray)) as mem:
        added = await mem.add(THREE, user_id="u", infer=False)
        assert [r["memory"] for r in added["results"]] == [m["content"] for m in THREE]
        found = await mem.search("green tea", user_id="u", limit=1)
        assert [r["memory"] for r in found["results"]] == ["I like green tea"]


# ========================================================================================== LLM
class StrLLM(LLM):
    """Answers ``answer`` instead of an LLMResponse."""

    name = "strllm"

    def __init__(self, answer: Any) -> None:
        super().__init__(None)
        self.answer = answer

    async def generate(self, messages: Any, *, response_format: Any = "text", tools: Any = None,
                       temperature: float | None = None, max_tokens: int | None = None) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ('{"facts": ["I like tea"]}', "returned a str, not an LLMResponse"),
        ({"content": '{"facts": []}'}, "returned a dict, not an LLMResponse"),
        (LLMResponse(content=None), "returned an LLMResponse whose content is a NoneType"),  # type: ignore[arg-type]
    ],
    ids=["str", "dict", "content-none"],
)
async def test_an_llm_answering_the_wrong_shape_is_a_provider_error_naming_it(answer: Any, said: str) -> None:
    """E5: not an AttributeError from deep in the engine, but the LLM named and the contract said."""
    async with AsyncMemory(BASE, llm=StrLLM(answer)) as mem:
        with pytest.raises(ProviderError) as caught:
            await mem.add("I like green tea", user_id="u")
        assert caught.value.provider == "llm:strllm"
        assert f"llm 'strllm' {said}; LLM.generate must return mem7_core.models.LLMResponse(" in str(caught.value)
        await _nothing_stored(mem)
        assert mem.usage["calls"] == 1  # asked once (a wrong shape is not retried), and counted


# ===================================================================================== reranker
class BadReranker(Reranker):
    """Answers ``answer(len(documents))``."""

    name = "badrank"

    def __init__(self, answer: Any) -> None:
        super().__init__(None)
        self.answer = answer
        self.calls = 0

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> Any:
        self.calls += 1
        return self.answer(len(documents))


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda n: [RerankResult(index=i + 5, score=float(n - i)) for i in range(n)], "result index 5 is not a new index into the 3 documents"),
        (lambda n: [(n - 1 - i, float(n - i)) for i in range(n)], "returned a tuple among its results, not a RerankResult"),
        (lambda n: [RerankResult(index=n - 1, score=2.0), RerankResult(index=n - 1, score=1.0)], "result index 2 is not a new index"),
        (lambda n: [RerankResult(index=n - 1, score=float("nan"))], "relevance_score nan of result 2 is not a number"),
        (lambda n: None, "returned a NoneType"),
    ],
    ids=["out-of-range", "tuples", "repeated-index", "nan-score", "none"],
)
async def test_a_reranker_answering_the_wrong_shape_keeps_the_retrieval_order(
    answer: Any, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    """E3, E4: as any failing reranker (docs/concepts.md, search()): the retrieval order, logged;
    not an empty result, not a TypeError."""
    reranker = BadReranker(answer)
    async with AsyncMemory(BASE, reranker=reranker) as mem:
        await mem.add(THREE, user_id="u", infer=False)
        expected = await mem.search("green tea", user_id="u", rerank=False)
        with caplog.at_level(logging.WARNING, logger="mem7.engine"):
            found = await mem.search("green tea", user_id="u")
        assert reranker.calls == 1
        assert [r["memory"] for r in found["results"]] == [r["memory"] for r in expected["results"]]
        assert [r["score"] for r in found["results"]] == pytest.approx([r["score"] for r in expected["results"]])
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "[reranker:badrank] reranker 'badrank' " in logged and said in logged
        assert "keeping the vector order" in logged


async def test_a_reranker_answering_a_subset_best_first_is_used() -> None:
    """Not every document need come back (a reranker's top_n): a right answer is still used."""
    reranker = BadReranker(lambda n: [RerankResult(index=n - 1, score=0.5)])
    async with AsyncMemory(BASE, reranker=reranker, llm=ScriptedLLM()) as mem:
        await mem.add(THREE, user_id="u", infer=False)
        plain = await mem.search("green tea", user_id="u", rerank=False)
        found = await mem.search("green tea", user_id="u")
        assert [(r["memory"], r["score"]) for r in found["results"]] == [(plain["results"][-1]["memory"], 0.5)]
