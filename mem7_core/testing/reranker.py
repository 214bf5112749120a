"""The reranker conformance suite every ``Reranker`` plugin should pass.

Subclass it in the provider's tests and supply one async fixture, ``reranker``, yielding a ready
reranker (and closing it afterwards)::

    import pytest
    from mem7_core.testing import RerankerConformance

    class TestMyReranker(RerankerConformance):
        @pytest.fixture
        async def reranker(self, my_emulator):
            rr = MyReranker(MyReranker.Config(base_url=my_emulator.url, api_key="test"))
            yield rr
            await rr.aclose()

Tests are ``async def``, run by pytest-asyncio; the core's pytest plugin
(:mod:`mem7_core.testing.pytest_plugin`) runs them with no configuration of the provider's own.

The backend behind ``reranker`` may be a real model, a loopback emulator or a test double, as
long as it judges relevance: the "obvious case" tests give a query and documents where exactly one
document shares most of the query's words (``alice's favourite drink is green tea`` for ``favourite
drink of alice``) and the others next to none, so a real reranker and a double scoring by word
overlap (the share of the query's words found in the document) both put it first. A backend answering arbitrary
scores sets ``judges_relevance = False``: those tests are then skipped, the shape tests still run.

Optional fixtures a subclass may override (each test needing one is skipped, saying which,
when it is not supplied):

- ``backend_calls``: a function returning how many calls the backend (HTTP requests, LLM calls)
  has received so far, for the same backend as ``reranker``. Runs the "no documents, no call" test:
  a reranker should not pay for a call that can only answer ``[]``.
- ``failing_reranker``: a reranker whose backend fails (server error, unreachable, unusable answer;
  retries off), to check the failure comes out as a :class:`~mem7_core.errors.ProviderError`, which
  is what the engine catches to keep the original order.

Knobs (class attributes):

- ``judges_relevance``: see above (default True).
- ``deterministic``: the same call gives the same scores (default True). When False, the duplicate
  and concurrency tests check shape only.
- ``score_tolerance``: how far two scores of the same text may differ (default 1e-6).
- ``many_documents``: size of the big-batch test (default 50).

The contract checked on every answer: a list of :class:`~mem7_core.models.RerankResult`, each
``index`` an int naming a document (``0 <= index < len(documents)``), no index twice, scores finite
numbers, best first (non-increasing), at most ``top_n`` results (``None``: every document, ``0``:
none). No documents give ``[]``.

This module imports pytest, so it is only imported by tests (``import mem7_core`` never loads it).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from ..errors import ProviderError
from ..models import RerankResult
from ..providers.reranker import Reranker
from .registration import assert_registers

#: (query, documents, index of the one relevant document). The relevant document shares most of
#: the query's words, the others at most a "the"; it sits in the middle, first and last across the
#: cases, so a reranker keeping (or reversing) the input order fails. Tuples: nothing can mutate them.
OBVIOUS_CASES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    (
        "favourite drink of alice",
        (
            "bob repaired his bicycle on sunday",
            "the quarterly tax report is due in march",
            "alice's favourite drink is green tea",
            "our server crashed during the deploy",
            "paris has many museums",
        ),
        2,
    ),
    (
        "hiking trip in the swiss mountains",
        (
            "planning a hiking trip in the swiss mountains next summer",
            "dinner with family on friday",
            "the python code has a bug",
        ),
        0,
    ),
    (
        "which guitar does carol play",
        (
            "dave prefers espresso over tea",
            "the deadline for the project moved",
            "meeting notes from monday",
            "carol plays a red electric guitar",
        ),
        3,
    ),
)

UNICODE_QUERY = "crème brûlée recipe"
UNICODE_DOCUMENTS = (
    "Straße in München gesperrt",
    "日本語のテキストです。東京に住んでいます。",
    "a recipe for crème brûlée with caramelised sugar",
    "Emoji 🚀🔥 and symbols ∑ ∫ √ ≠ ≤",
    "Русский текст и العربية и עברית",
)
UNICODE_RELEVANT = 2

GENERIC_QUERY = "what does the user like to drink"
GENERIC_DOCUMENTS = (
    "the user likes green tea in the morning",
    "the user went hiking in the alps",
    "the user drinks coffee at work",
    "bob likes to drink water",
    "the deploy failed on friday",
)


class RerankerConformance:
    """Behaviour every :class:`~mem7_core.providers.Reranker` must show. Subclass and add ``reranker``."""

    judges_relevance: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True
    score_tolerance: ClassVar[float] = 1e-6
    many_documents: ClassVar[int] = 50

    # ============================================================================ optional fixtures
    @pytest.fixture
    def backend_calls(self) -> Callable[[], int]:
        """How many calls the backend has received so far (override to run the no-call test)."""
        pytest.skip("backend_calls fixture not provided by this provider's tests (cannot count backend calls)")

    @pytest.fixture
    def failing_reranker(self) -> Reranker:
        """A reranker whose backend fails (override to run the error test)."""
        pytest.skip("failing_reranker fixture not provided by this provider's tests (no way to make it fail)")

    # ============================================================================ helpers
    async def rerank(
        self, reranker: Reranker, query: str, documents: Sequence[str], *, top_n: int | None = None
    ) -> list[RerankResult]:
        """``reranker.rerank`` on a fresh list of ``documents`` (a reranker that mutates its input
        cannot spoil the suite's constants), with the answer checked against the contract."""
        docs = list(documents)
        results = await reranker.rerank(query, docs, top_n=top_n)
        self.check(results, len(docs), top_n)
        return results

    @staticmethod
    def check(results: Any, count: int, top_n: int | None) -> None:
        """``results`` is a valid answer for ``count`` documents and ``top_n``."""
        assert isinstance(results, list), f"rerank() must return a list, got {type(results).__name__}"
        seen: set[int] = set()
        for pos, r in enumerate(results):
            assert isinstance(r, RerankResult), f"result {pos} is a {type(r).__name__}, not a RerankResult"
            assert isinstance(r.index, int) and not isinstance(r.index, bool), f"result {pos}: index {r.index!r}"
            assert 0 <= r.index < count, f"result {pos}: index {r.index} is not an index into {count} documents"
            assert r.index not in seen, f"result {pos}: index {r.index} returned twice"
            seen.add(r.index)
            assert isinstance(r.score, (int, float)) and not isinstance(r.score, bool), (
                f"result {pos}: score {r.score!r} is not a number"
            )
            assert math.isfinite(r.score), f"result {pos}: score {r.score!r} is not finite"
        scores = [r.score for r in results]
        assert all(a >= b for a, b in itertools.pairwise(scores)), (
            f"results are not best first (scores must not increase): {scores}"
        )
        expected = count if top_n is None else min(top_n, count)
        assert len(results) == expected, (
            f"{len(results)} results for {count} documents and top_n={top_n}, expected {expected}"
        )

    def require_relevance(self) -> None:
        if not self.judges_relevance:
            pytest.skip("the fixture's backend does not judge relevance (judges_relevance = False)")

    # ============================================================================ shape
    async def test_the_class_registers_as_a_plugin(self, reranker: Reranker) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(reranker)

    async def test_is_a_reranker_provider(self, reranker: Reranker) -> None:
        assert isinstance(reranker, Reranker)
        assert reranker.kind == "reranker"
        assert isinstance(type(reranker).name, str) and type(reranker).name

    async def test_every_document_once_best_first(self, reranker: Reranker) -> None:
        results = await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS)
        assert sorted(r.index for r in results) == list(range(len(GENERIC_DOCUMENTS)))

    async def test_top_n_respected(self, reranker: Reranker) -> None:
        full = await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS)
        for n in (1, 2, len(GENERIC_DOCUMENTS) - 1):
            top = await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS, top_n=n)
            if self.deterministic:
                assert [r.score for r in top] == pytest.approx(
                    [r.score for r in full[:n]], abs=self.score_tolerance
                ), f"top_n={n} is not the head of the full ranking"

    async def test_top_n_none_and_above_count_give_every_document(self, reranker: Reranker) -> None:
        await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS, top_n=None)
        await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS, top_n=len(GENERIC_DOCUMENTS))
        await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS, top_n=len(GENERIC_DOCUMENTS) + 10)

    async def test_top_n_zero_gives_nothing(self, reranker: Reranker) -> None:
        assert await reranker.rerank(GENERIC_QUERY, list(GENERIC_DOCUMENTS), top_n=0) == []

    async def test_empty_documents_give_empty_list(self, reranker: Reranker) -> None:
        assert await reranker.rerank(GENERIC_QUERY, []) == []
        assert await reranker.rerank(GENERIC_QUERY, [], top_n=3) == []

    async def test_empty_documents_make_no_backend_call(
        self, reranker: Reranker, backend_calls: Callable[[], int]
    ) -> None:
        before = backend_calls()
        assert await reranker.rerank(GENERIC_QUERY, []) == []
        assert await reranker.rerank(GENERIC_QUERY, list(GENERIC_DOCUMENTS), top_n=0) == []
        assert backend_calls() == before, "no documents (or top_n=0) can only answer [], yet the backend was called"
        await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS)
        assert backend_calls() > before, "backend_calls() did not count a real rerank call"

    async def test_one_document(self, reranker: Reranker) -> None:
        [only] = await self.rerank(reranker, "green tea", ["alice likes green tea"])
        assert only.index == 0
        [only] = await self.rerank(reranker, "green tea", ["alice likes green tea"], top_n=1)
        assert only.index == 0
        [only] = await self.rerank(reranker, "unrelated query words", ["alice likes green tea"])
        assert only.index == 0

    async def test_duplicate_documents(self, reranker: Reranker) -> None:
        docs = ["alice likes green tea", "bob went hiking", "alice likes green tea", "alice likes green tea"]
        results = await self.rerank(reranker, "green tea", docs)
        assert sorted(r.index for r in results) == [0, 1, 2, 3], "each copy of a duplicate is its own result"
        if self.deterministic:
            by_index = {r.index: r.score for r in results}
            assert by_index[0] == pytest.approx(by_index[2], abs=self.score_tolerance)
            assert by_index[0] == pytest.approx(by_index[3], abs=self.score_tolerance)

    async def test_accepts_any_sequence_and_does_not_mutate_it(self, reranker: Reranker) -> None:
        as_tuple = tuple(GENERIC_DOCUMENTS)
        self.check(await reranker.rerank(GENERIC_QUERY, as_tuple), len(as_tuple), None)
        as_list = list(GENERIC_DOCUMENTS)
        self.check(await reranker.rerank(GENERIC_QUERY, as_list, top_n=2), len(as_list), 2)
        assert as_list == list(GENERIC_DOCUMENTS), "rerank() changed the caller's list of documents"

    async def test_many_documents(self, reranker: Reranker) -> None:
        docs = [f"memory number {i} about {GENERIC_DOCUMENTS[i % len(GENERIC_DOCUMENTS)]}"
                for i in range(self.many_documents)]
        results = await self.rerank(reranker, GENERIC_QUERY, docs)
        assert sorted(r.index for r in results) == list(range(self.many_documents))
        await self.rerank(reranker, GENERIC_QUERY, docs, top_n=7)

    async def test_unrelated_query_still_ranks_every_document(self, reranker: Reranker) -> None:
        results = await self.rerank(reranker, "zymurgy xylophone quokka", GENERIC_DOCUMENTS)
        assert sorted(r.index for r in results) == list(range(len(GENERIC_DOCUMENTS)))

    async def test_unicode(self, reranker: Reranker) -> None:
        results = await self.rerank(reranker, UNICODE_QUERY, UNICODE_DOCUMENTS)
        assert sorted(r.index for r in results) == list(range(len(UNICODE_DOCUMENTS)))
        await self.rerank(reranker, "日本語 東京", UNICODE_DOCUMENTS, top_n=2)
        if self.judges_relevance:  # text mangled on the way (encoding, escaping) loses the match
            assert results[0].index == UNICODE_RELEVANT, (
                f"{UNICODE_DOCUMENTS[UNICODE_RELEVANT]!r} should rank first for {UNICODE_QUERY!r}, got {results}"
            )

    # ============================================================================ relevance
    @pytest.mark.parametrize("case", range(len(OBVIOUS_CASES)), ids=["middle", "first", "last"])
    async def test_relevant_document_ranks_first(self, reranker: Reranker, case: int) -> None:
        self.require_relevance()
        query, docs, relevant = OBVIOUS_CASES[case]
        results = await self.rerank(reranker, query, docs)
        assert results[0].index == relevant, (
            f"{docs[relevant]!r} should rank first for {query!r}, got order {[r.index for r in results]}"
        )
        others = [r.score for r in results[1:]]
        assert all(results[0].score > s for s in others), (
            f"the relevant document's score {results[0].score} is not above the others' {others}"
        )
        [top] = await self.rerank(reranker, query, docs, top_n=1)
        assert top.index == relevant, "top_n=1 must keep the best document"

    # ============================================================================ concurrency
    async def test_concurrent_calls(self, reranker: Reranker) -> None:
        cases = [(q, d) for q, d, _ in OBVIOUS_CASES] + [(GENERIC_QUERY, GENERIC_DOCUMENTS)]
        sequential = [await self.rerank(reranker, q, d) for q, d in cases]
        gathered = await asyncio.gather(*(reranker.rerank(q, list(d)) for q, d in cases))
        for (q, d), seq, got in zip(cases, sequential, gathered, strict=True):
            self.check(got, len(d), None)
            if self.deterministic:
                assert [r.score for r in got] == pytest.approx([r.score for r in seq], abs=self.score_tolerance), (
                    f"concurrent answer for {q!r} differs from the sequential one (cross-talk?)"
                )
                if self.judges_relevance:
                    assert got[0].index == seq[0].index

    # ============================================================================ errors, lifecycle
    async def test_backend_failure_is_a_provider_error(self, failing_reranker: Reranker) -> None:
        with pytest.raises(ProviderError) as info:
            await failing_reranker.rerank(GENERIC_QUERY, list(GENERIC_DOCUMENTS))
        assert isinstance(info.value.provider, str) and info.value.provider, "ProviderError.provider must name it"
        with pytest.raises(ProviderError):  # and again: a failure leaves the reranker usable, not broken
            await failing_reranker.rerank(GENERIC_QUERY, list(GENERIC_DOCUMENTS), top_n=2)

    async def test_aclose_is_idempotent(self, reranker: Reranker) -> None:
        await self.rerank(reranker, GENERIC_QUERY, GENERIC_DOCUMENTS)
        await reranker.aclose()
        await reranker.aclose()

    async def test_rerank_after_aclose_answers_or_raises_provider_error(self, reranker: Reranker) -> None:
        """After ``aclose`` a reranker may refuse (``ProviderError``) or still work, nothing else."""
        await reranker.aclose()
        try:
            results = await reranker.rerank(GENERIC_QUERY, list(GENERIC_DOCUMENTS))
        except ProviderError:
            return
        except Exception as exc:  # noqa: BLE001 - the point: any other exception fails the contract
            pytest.fail(f"rerank() after aclose() raised {type(exc).__name__}: {exc}, not a ProviderError")
        self.check(results, len(GENERIC_DOCUMENTS), None)
