"""The contract's helpers for HTTP rerankers and embedders: ``ranked_results`` (a rerank answer
checked and ranked) and ``embed_in_batches`` (a big batch split into capped requests, in order)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from mem7_core.models import RerankResult
from mem7_core.providers.embedder import embed_in_batches
from mem7_core.providers.reranker import ranked_results


def test_ranked_results_best_first_ties_in_service_order_and_capped() -> None:
    pairs = [(2, 0.5), (0, 0.9), (1, 0.5), (3, 1)]
    assert ranked_results(pairs, 4) == [RerankResult(3, 1.0), RerankResult(0, 0.9), RerankResult(2, 0.5),
                                        RerankResult(1, 0.5)]
    assert [r.index for r in ranked_results(pairs, 4, 2)] == [3, 0]
    assert ranked_results([], 4) == []


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([(4, 0.5)], r"result index 4 is not a new index into the 4 documents"),
        ([(-1, 0.5)], r"result index -1"),
        ([(0, 0.5), (0, 0.4)], r"result index 0 is not a new index"),
        ([(None, 0.5)], r"result index None"),
        ([(True, 0.5)], r"result index True"),
        ([(0, "high")], r"relevance_score 'high' of result 0 is not a number"),
        ([(0, math.nan)], r"relevance_score nan"),
        ([(0, None)], r"relevance_score None"),
    ],
)
def test_ranked_results_rejects_what_is_not_an_answer(pairs: list[tuple[object, object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ranked_results(pairs, 4)


async def test_embed_in_batches_splits_keeps_order_and_bounds_concurrency() -> None:
    calls: list[list[str]] = []
    in_flight = peak = 0

    async def embed(chunk: list[str]) -> list[list[float]]:
        nonlocal in_flight, peak
        calls.append(chunk)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return [[float(t)] for t in chunk]

    texts = [str(i) for i in range(10)]
    assert await embed_in_batches(texts, embed, batch_size=3, max_concurrency=2) == [[float(i)] for i in range(10)]
    assert sorted(len(c) for c in calls) == [1, 3, 3, 3] and peak == 2
    calls.clear()
    assert await embed_in_batches(("a", "b"), lambda c: embed(["1"] * len(c)), batch_size=3) == [[1.0], [1.0]]
    assert len(calls) == 1
    calls.clear()
    assert await embed_in_batches([], embed, batch_size=3) == [] and calls == []


def test_checked_vectors_checks_size_numbers_and_normalises() -> None:
    from mem7_core.errors import ProviderError
    from mem7_core.providers.embedder import checked_vectors

    assert checked_vectors([[3, 4], (0.0, 2.0)], dims=2, provider="p", model="m") == [[0.6, 0.8], [0.0, 1.0]]
    assert checked_vectors([[3, 4]], dims=2, provider="p", model="m", normalize=False) == [[3.0, 4.0]]
    assert checked_vectors([[0, 0]], dims=2, provider="p", model="m") == [[0.0, 0.0]]  # nothing to divide by
    with pytest.raises(ProviderError, match=r"\[p\] embedder: model 'm' returned 3-dimensional vectors but "
                                            r"embedding_dims is 2; set embedder.config.embedding_dims to 3"):
        checked_vectors([[1, 2, 3]], dims=2, provider="p", model="m")
    for row, message in (("ab", "not a list of numbers"), ([1, True], "not a list of numbers"),
                         ([1, math.inf], "NaN or inf"), (None, "not a list of numbers")):
        with pytest.raises(ValueError, match=message):
            checked_vectors([row], dims=2, provider="p", model="m")


def test_http_retry_config_fields_and_policy() -> None:
    from mem7_core.providers.http import HttpRetryConfig

    cfg = HttpRetryConfig.model_validate({"max_retries": 4, "retry_backoff": 0.1, "deadline": None})
    policy = cfg.retry_policy("svc")
    assert (policy.max_retries, policy.backoff, policy.max_backoff, policy.deadline, policy.name) == (
        4, 0.1, 8.0, None, "svc")
    assert cfg.timeout == 30.0
    with pytest.raises(ValueError, match="max_retries"):
        HttpRetryConfig.model_validate({"max_retries": 11})
    with pytest.raises(ValueError, match="timeoutt"):
        HttpRetryConfig.model_validate({"timeoutt": 1})


def test_rerank_config_reads_top_k_as_top_n() -> None:
    from mem7_core.providers.reranker import RerankConfig

    assert RerankConfig.model_validate({"top_k": 3}).top_n == 3
    assert RerankConfig.model_validate({"top_k": 3, "top_n": 5}).top_n == 5
    assert RerankConfig.model_validate({}).top_n is None
    with pytest.raises(ValueError, match="top_n"):
        RerankConfig.model_validate({"top_n": 0})


def test_lexical_relevance() -> None:
    from mem7_core.testing.fakes import lexical_relevance

    assert lexical_relevance("Green tea", "I drink green TEA daily") == 1.0
    assert lexical_relevance("green tea", "green coffee") == 0.5
    assert lexical_relevance("", "anything") == 0.0 and lexical_relevance("tea", "") == 0.0


# ------------------------------------------------------------------ check_vector (vector stores)
def test_check_vector_gives_floats_and_names_the_store_and_record() -> None:
    from mem7_core.providers import check_vector

    assert check_vector((1, 2.5), "record 'a'", provider="demo") == [1.0, 2.5]
    assert check_vector([1, 2], "q", provider="demo", dims=2) == [1.0, 2.0]
    cases: list[tuple[Any, int | None, str]] = [
        (None, None, r"^demo: record 'a' has no vector$"),
        ([], None, r"^demo: record 'a' is empty$"),
        (["x"], None, r"^demo: record 'a' must be a sequence of numbers$"),
        ([1.0, float("nan")], None, r"finite numbers only"),
        ([1.0, float("inf")], None, r"finite numbers only"),
        ([1.0, 2.0, 3.0], 2, r"^demo: record 'a' has 3 dims; the collection holds 2 dims$"),
    ]
    for vector, dims, message in cases:
        with pytest.raises(ValueError, match=message):
            check_vector(vector, "record 'a'", provider="demo", dims=dims)


# ------------------------------------------------------------------ equality_key (stores pushing eq down)
def test_equality_key_is_equal_exactly_when_the_reference_eq_matches() -> None:
    from mem7_core.filters import Condition, equality_key, match_condition

    values: list[Any] = [None, True, False, 0, 1, -1, 1.0, 0.0, 1.5, 2**60, float(2**60), float("inf"),
                         float("-inf"), float("nan"), "", "1", "a", "A", [1], {"a": 1}]
    for a in values:
        for b in values:
            if isinstance(b, (list, dict)) or b is None:
                continue  # eq takes a scalar operand
            ka, kb = equality_key(a), equality_key(b)
            same = ka is not None and ka == kb
            assert same == match_condition(Condition("k", "eq", b), {"k": a}), (a, b, ka, kb)
    # Stores persist the text: it must not drift.
    assert [equality_key(v) for v in (None, True, 3, 3.0, 2.5, "x", float("nan"), [1])] == \
        ["z", "b1", "n3", "n3", "n2.5", "sx", None, None]
