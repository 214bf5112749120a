"""Keyword search in stores declaring ``keyword_search`` (``VectorStore.keyword_search``): the
conformance suite :class:`KeywordSearchConformance` and its shared data.

The data: a small corpus in one scope (``user_id="alice"``, added by the tests), the same words in
other scopes (never returned, never counted in the scope's statistics) and queries to compare a
store's ranking with the core's :class:`~mem7_core.providers.keywords.BM25Index` on
(:func:`keyword_reference`).

This module imports pytest, so it is only imported by tests (``import mem7_core`` never loads it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from ..filters import evaluate, parse_filters
from ..models import Scope, ScoredRecord, VectorRecord
from ..providers.keywords import BM25Index, calibrate_bm25
from ..providers.vector_store import VectorStore

KEYWORD_CORPUS: list[tuple[str, str, dict[str, Any]]] = [
    ("a01", "Alice drinks green tea every morning", {"topic": "drinks", "n": 1}),
    ("a02", "Alice prefers coffee to tea when she works late", {"topic": "drinks", "n": 2}),
    ("a03", "The tea ceremony in Kyoto was the highlight of the trip", {"topic": "travel", "n": 3}),
    ("a04", "Alice plays tennis on Sundays with Bob", {"topic": "sport", "n": 4}),
    ("a05", "Bob and Alice went hiking in the Alps in July", {"topic": "travel", "n": 5}),
    ("a06", "tea tea tea: Alice really likes tea", {"topic": "drinks", "n": 6}),
    ("a07", "Alice's book-club meets on the first Monday of the month", {"topic": "hobby", "n": 7}),
    ("a08", "She adopted a cat named Miso in 2023", {"topic": "pets", "n": 8}),
    ("a09", "Miso the cat hates the vacuum cleaner", {"topic": "pets", "n": 9}),
    (
        "a10",
        "A long note about green gardens, green walls, green roofs and a green tea plant",
        {"topic": "hobby", "n": 10},
    ),
    ("a11", "Alice is allergic to peanuts", {"topic": "health", "tags": ["food", "allergy"], "n": 11}),
    ("a12", "", {"topic": "empty", "n": 12}),
]
KEYWORD_OTHERS: list[tuple[str, str, dict[str, Any]]] = [  # same words, other users: never returned, never counted
    ("b01", "tea tea tea green tea for Bob", {"user_id": "bob"}),
    ("b02", "Bob drinks tea and coffee and plays tennis", {"user_id": "bob"}),
    ("c01", "Carol's cat Miso drinks tea", {"user_id": "carol", "agent_id": "helper"}),
]
KEYWORD_QUERIES = [
    "tea",
    "green tea",
    "What does Alice drink in the morning?",
    "cat Miso",
    "tennis with Bob",
    "book club",
    "Kyoto trip",
    "nothing matches this zebra",
]


def keyword_reference(
    texts: dict[str, str], query: str, *, index: BM25Index | None = None, k1: float = 1.2, b: float = 0.75,
    stopwords: bool = True,
) -> list[tuple[str, float]]:
    """The engine's in-process answer a store's ``keyword_search`` is compared with: ``texts`` in a
    :class:`BM25Index` (``index``, empty, when given; else one with ``k1``, ``b``, ``stopwords``),
    scores calibrated by :func:`calibrate_bm25`, best first, ties by id."""
    index = index if index is not None else BM25Index(k1=k1, b=b, stopwords=stopwords)
    for rid, text in texts.items():
        index.add(rid, text)
    terms = index.terms(query)
    mass = index.idf_mass(terms)
    raw = index.score_terms(terms)
    ranked = sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(rid, calibrate_bm25(s, mass)) for rid, s in ranked]


def hit_pairs(hits: list[ScoredRecord]) -> list[tuple[str, float]]:
    """``(id, score)`` of each hit, in order."""
    return [(h.id, h.score) for h in hits]


class FixedLengthBM25Index(BM25Index):
    """:class:`BM25Index` normalising document lengths by a fixed reference length ``avgdl``
    instead of the live average: the reference for a store that writes each document's term
    weights once, at write time (qdrant's sparse vectors with ``keyword_avgdl``)."""

    def __init__(self, avgdl: float, *, k1: float = 1.2, b: float = 0.75, stopwords: bool = True) -> None:
        super().__init__(k1=k1, b=b, stopwords=stopwords)
        self.fixed_avgdl = float(avgdl)

    @property
    def avgdl(self) -> float:
        return self.fixed_avgdl


_KW_ID_NAMESPACE = uuid.UUID("6d656d37-0000-4000-8000-6b6579776f72")

ALICE = Scope(user_id="alice")

KEYWORD_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("eq", {"topic": "drinks"}),
    ("in", {"topic": {"in": ["drinks", "travel"]}}),
    ("gte", {"n": {"gte": 3}}),
    ("or", {"OR": [{"topic": "pets"}, {"tags": {"contains": "food"}}]}),
    ("eq-list", {"tags": {"eq": ["food", "allergy"]}}),
    ("and-ne", {"AND": [{"topic": {"ne": "travel"}}, {"tags": {"ne": ["food", "allergy"]}}]}),
    ("icontains", {"topic": {"icontains": "DRI"}}),
    ("not", {"NOT": [{"topic": "drinks"}]}),
    ("contradiction", {"AND": [{"n": 1}, {"n": 2}]}),
]
"""Filters a keyword search must respect (every operator: the engine hands its filters to the store
as they are), each evaluated against :func:`mem7_core.filters.evaluate` on the stored payloads."""

UNUSUAL_TEXTS: dict[str, str] = {
    "q1": "O'Brien said 'hello' \\ back\\slash and %s %(x)s placeholders",
    "q2": "Café naïve Straße 東京 タワー; ÉCOLE",
    "q3": "x" * 3000 + " tail word",  # a word longer than some engines index
    "q4": " ".join(["same"] * 400),  # a word repeated past where BM25 meets the idf mass: capped at 1
    "q5": "the same old snake_case and CamelCase story",
}
UNUSUAL_QUERIES = [
    "O'Brien hello",
    "slash placeholders s x",
    "café STRASSE straße 東京",
    "école",
    "ÉCOLE Naïve",
    "tail",
    "same",
    "snake case camelcase",
]


class KeywordSearchConformance:
    """What a store declaring ``capabilities.keyword_search`` must show in
    :meth:`~mem7_core.providers.vector_store.VectorStore.keyword_search`: the ranking of the core's
    :class:`~mem7_core.providers.keywords.BM25Index` over the scope's memories, calibrated by
    :func:`~mem7_core.providers.keywords.calibrate_bm25`.

    Subclass it and supply one async fixture, ``vector_store``, yielding a fresh, empty store with
    keyword search on (the same fixture as :class:`~mem7_core.testing.VectorStoreConformance`, so
    one class may subclass both). Every test is skipped when the store does not declare
    ``keyword_search``.

    Every answer is compared with the reference (:func:`keyword_reference` over the texts of the
    scope, with the index :meth:`keyword_index` gives): the same memories, each score within
    ``keyword_tolerance`` of the reference's, best first; where two reference scores differ by
    more than twice the tolerance the store must order them the same way (near-ties may come in
    either order). The statistics (N, df, average length) are the scope's, filters narrow the
    results but not the statistics, and ``limit`` keeps the best.

    Knobs a subclass may override:

    - ``dims``: vector size of the records (default 8).
    - ``supports_arbitrary_ids``: False for a store taking UUID ids only (the suite maps its ids).
    - ``keyword_tolerance``: how far a score may be from the reference (default 1e-4: float32
      arithmetic passes; an exact store should set it near 1e-9).
    - ``max_word_bytes``: the longest word (UTF-8 bytes) the store can find, when it has a limit
      (mem7-pgvector: 2046, below PostgreSQL's lexeme limit); longer words must not break a search.
      None (the default): any length.
    - :meth:`keyword_index`: the empty :class:`BM25Index` the reference ranks with (default: the
      core's defaults, k1 1.2, b 0.75, function words dropped). A store configured otherwise, or
      normalising lengths by a fixed reference length (:class:`FixedLengthBM25Index`), returns
      its equivalent.
    """

    dims: ClassVar[int] = 8
    supports_arbitrary_ids: ClassVar[bool] = True
    keyword_tolerance: ClassVar[float] = 1e-4
    max_word_bytes: ClassVar[int | None] = None

    # ============================================================================ hooks
    def keyword_index(self, store: VectorStore) -> BM25Index:
        """An empty index ranking as ``store`` ranks keywords (the reference is built in it)."""
        return BM25Index()

    # ============================================================================ helpers
    def kw_id(self, label: str) -> str:
        """The record id for ``label``: the label itself, or a stable UUID for UUID-only stores."""
        if self.supports_arbitrary_ids:
            return label
        return str(uuid.uuid5(_KW_ID_NAMESPACE, label))

    def kw_label(self, rid: str) -> str:
        """The label of a record id made by :meth:`kw_id` (the id itself when unknown)."""
        if self.supports_arbitrary_ids:
            return rid
        labels = self.__dict__.setdefault("_kw_labels", {})
        return str(labels.get(rid, rid))

    def kw_vec(self, i: int) -> list[float]:
        v = [0.1] * self.dims
        v[i % self.dims] = 1.0
        return v

    def kw_record(
        self, label: str, text: str, extra: Mapping[str, Any] | None = None, i: int = 0
    ) -> VectorRecord:
        """A memory of ``text`` for ``user_id="alice"`` (``extra`` may set other scope ids)."""
        rid = self.kw_id(label)
        if not self.supports_arbitrary_ids:
            self.__dict__.setdefault("_kw_labels", {})[rid] = label
        created = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}"
        payload: dict[str, Any] = {"data": text, "user_id": "alice", "created_at": created, **(extra or {})}
        return VectorRecord(id=rid, vector=self.kw_vec(i), payload=payload)

    async def kw_seed(self, store: VectorStore, *, others: bool = True) -> dict[str, str]:
        """Insert :data:`KEYWORD_CORPUS` (and :data:`KEYWORD_OTHERS`); alice's texts by label."""
        rows = KEYWORD_CORPUS + (KEYWORD_OTHERS if others else [])
        await store.insert([self.kw_record(label, text, extra, i) for i, (label, text, extra) in enumerate(rows)])
        return {label: text for label, text, _ in KEYWORD_CORPUS}

    def kw_require(self, store: VectorStore) -> None:
        if not store.capabilities.keyword_search:
            pytest.skip("store does not declare keyword_search (capabilities.keyword_search is False)")

    async def kw_search(
        self, store: VectorStore, query: str, *, scope: Scope = ALICE, limit: int = 100, filters: Any = None
    ) -> list[tuple[str, float]]:
        """``(label, score)`` of each hit of ``store.keyword_search``, in order."""
        node = parse_filters(filters) if isinstance(filters, Mapping) else filters
        hits = await store.keyword_search(query, scope=scope, limit=limit, filters=node)
        return [(self.kw_label(i), s) for i, s in hit_pairs(hits)]

    def kw_reference(self, store: VectorStore, texts: Mapping[str, str], query: str) -> list[tuple[str, float]]:
        """The reference answer over ``texts`` (label -> text), best first."""
        return keyword_reference(dict(texts), query, index=self.keyword_index(store))

    def assert_kw_ranking(
        self, got: list[tuple[str, float]], want: list[tuple[str, float]], *, limit: int = 100, what: str = ""
    ) -> None:
        """``got`` (a store's answer) agrees with ``want`` (the reference, every match best first)."""
        tol = self.keyword_tolerance
        ids = [i for i, _ in got]
        ref = dict(want)
        where = f"{what}: " if what else ""
        assert len(set(ids)) == len(ids), f"{where}an id came back twice: {ids}"
        stray = [i for i in ids if i not in ref]
        assert not stray, f"{where}returned {stray}, which match no query term in this scope and filters (want {want})"
        n = min(limit, len(want))
        assert len(got) == n, f"{where}{len(got)} hits for limit {limit}, want {n}: {got} vs {want}"
        for i, s in got:
            assert 0.0 < s <= 1.0, f"{where}score of {i} not in (0, 1]: {s}"
            assert abs(s - ref[i]) <= tol, f"{where}score of {i} is {s}, the reference's {ref[i]} (tolerance {tol})"
        scores = [s for _, s in got]
        assert scores == sorted(scores, reverse=True), f"{where}not best first: {got}"
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                assert ref[ids[b]] <= ref[ids[a]] + 2 * tol, (
                    f"{where}{ids[b]} must rank before {ids[a]}: {got} vs {want}"
                )
        if got:
            floor = min(ref[i] for i in ids)
            missed = [i for i, s in want if i not in ids and s > floor + 2 * tol]
            assert not missed, f"{where}left out {missed}, better than what came back: {got} vs {want}"

    async def assert_kw_matches(
        self, store: VectorStore, texts: Mapping[str, str], query: str, *, scope: Scope = ALICE, limit: int = 100,
        filters: Any = None, payloads: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[tuple[str, float]]:
        """Search ``store`` and compare with the reference over ``texts`` (the scope's memories),
        narrowed to the ``payloads`` that pass ``filters``; returns the store's answer."""
        want = self.kw_reference(store, texts, query)
        if filters is not None:
            node = parse_filters(filters) if isinstance(filters, Mapping) else filters
            assert payloads is not None
            want = [(i, s) for i, s in want if evaluate(node, dict(payloads[i]))]
        got = await self.kw_search(store, query, scope=scope, limit=limit, filters=filters)
        shown = repr(query) if len(query) <= 60 else repr(query[:40] + "...")
        what = f"{shown} in {scope}" + (f" with {filters}" if filters else "")
        self.assert_kw_ranking(got, want, limit=limit, what=what)
        return got

    # ============================================================================ ranking
    @pytest.mark.parametrize("query", KEYWORD_QUERIES)
    async def test_keyword_ranking_matches_the_reference(self, vector_store: VectorStore, query: str) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store)
        got = await self.assert_kw_matches(vector_store, alice, query)
        if query == "nothing matches this zebra":
            assert got == []

    async def test_keyword_limit_keeps_the_best(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store)
        want = self.kw_reference(vector_store, alice, "green tea")
        assert len(want) > 3
        for limit in (1, 3, len(want) - 1, len(want), len(want) + 5):
            await self.assert_kw_matches(vector_store, alice, "green tea", limit=limit)
        assert await vector_store.keyword_search("green tea", scope=ALICE, limit=0) == []

    async def test_keyword_empty_and_function_word_queries(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store)
        for query in ("", "   ", "?! ... --", "_"):
            assert await vector_store.keyword_search(query, scope=ALICE, limit=5) == [], repr(query)
        function_words = "the of and What did"
        got = await self.assert_kw_matches(vector_store, alice, function_words, limit=5)
        if self.keyword_index(vector_store).stopwords:
            assert got == [], "a query of function words only matches nothing"

    async def test_keyword_case_punctuation_and_repeats_follow_the_tokeniser(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store)
        base = await self.assert_kw_matches(vector_store, alice, "green tea")
        for query in ("GREEN Tea", "green, tea!", "tea green tea green", "green_tea"):
            got = await self.assert_kw_matches(vector_store, alice, query)
            assert {i for i, _ in got} == {i for i, _ in base}, query
        await self.assert_kw_matches(vector_store, alice, "Alice's book-club")
        await self.assert_kw_matches(vector_store, alice, "ALICE'S BOOK_CLUB")

    async def test_keyword_unusual_text_is_stored_and_found(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        await vector_store.insert([self.kw_record(k, t, None, i) for i, (k, t) in enumerate(UNUSUAL_TEXTS.items())])
        for query in UNUSUAL_QUERIES:
            await self.assert_kw_matches(vector_store, UNUSUAL_TEXTS, query)
        got = await self.kw_search(vector_store, "same", limit=10)
        assert [i for i, _ in got][:1] == ["q4"]
        assert got[0][1] == pytest.approx(1.0, abs=self.keyword_tolerance)  # calibrated and capped at 1

    async def test_keyword_long_words_are_found(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        size = self.max_word_bytes or 3000
        x, y = "x" * size, "y" * (size - 1) + "z"
        texts = {"w1": f"{x} tail", "w2": f"{y} and {x} {x}", "w3": "short words only", "w4": "tail"}
        await vector_store.insert([self.kw_record(k, t, None, i) for i, (k, t) in enumerate(texts.items())])
        for query in (x, y, f"{x} tail", "tail words"):
            await self.assert_kw_matches(vector_store, texts, query)
        if self.max_word_bytes is not None:  # beyond the limit: not found, but no error either
            longer = "x" * (self.max_word_bytes + 1)
            await vector_store.insert([self.kw_record("w5", f"{longer} tail", None, 5)])
            got = await self.kw_search(vector_store, f"{longer} tail")
            assert {i for i, _ in got} <= {"w1", "w4", "w5"}

    async def test_keyword_empty_store(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        assert await vector_store.keyword_search("tea", scope=ALICE, limit=5) == []
        await vector_store.insert([self.kw_record("e1", "black coffee", None, 0)])
        assert await vector_store.keyword_search("tea", scope=ALICE, limit=5) == []
        await vector_store.insert([self.kw_record("e2", "one tea", None, 1)])
        await self.assert_kw_matches(vector_store, {"e1": "black coffee", "e2": "one tea"}, "tea")

    async def test_keyword_rare_word_in_a_larger_scope(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store, others=False)
        filler = {f"f{i:04d}": f"filler memory number {i} about errands and chores" for i in range(300)}
        await vector_store.insert([self.kw_record(k, t, None, 20 + i) for i, (k, t) in enumerate(filler.items())])
        texts = {**alice, **filler}
        got = await self.assert_kw_matches(vector_store, texts, "Kyoto errands", limit=5)
        assert [i for i, _ in got][:1] == ["a03"]
        await self.assert_kw_matches(vector_store, texts, "Kyoto", limit=5)

    # ============================================================================ scope and filters
    async def test_keyword_scope_isolation(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store)
        others = {label for label, _, _ in KEYWORD_OTHERS}
        for query in ("tea", "tea tennis cat", "Miso coffee Bob", "green tea for Bob"):
            hits = await vector_store.keyword_search(query, scope=ALICE, limit=100)
            assert not {self.kw_label(h.id) for h in hits} & others, query
            assert all(h.payload.get("user_id") == "alice" for h in hits), query
            await self.assert_kw_matches(vector_store, alice, query)  # statistics: alice's memories only
        bob = {label: text for label, text, extra in KEYWORD_OTHERS if extra.get("user_id") == "bob"}
        for query in ("tea", "tea coffee", "tennis"):
            await self.assert_kw_matches(vector_store, bob, query, scope=Scope(user_id="bob"))
        carol = {"c01": "Carol's cat Miso drinks tea"}
        await self.assert_kw_matches(vector_store, carol, "tea Miso", scope=Scope(user_id="carol", agent_id="helper"))
        await self.assert_kw_matches(vector_store, carol, "tea Miso", scope=Scope(agent_id="helper"))
        assert await vector_store.keyword_search("tea", scope=Scope(user_id="carol", agent_id="other"), limit=100) == []
        assert await vector_store.keyword_search("tea", scope=Scope(user_id="nobody"), limit=100) == []
        assert await vector_store.keyword_search("tea", scope=Scope(user_id="alice", run_id="r1"), limit=100) == []

    async def test_keyword_hits_carry_their_payload(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        recs = [self.kw_record(label, text, extra, i) for i, (label, text, extra) in enumerate(KEYWORD_CORPUS)]
        await vector_store.insert(recs)
        stored = {r.id: r.payload for r in recs}
        hits = await vector_store.keyword_search("Alice tea cat peanuts", scope=ALICE, limit=100)
        assert hits
        for h in hits:
            assert h.payload == stored[h.id], h.id

    @pytest.mark.parametrize(("name", "raw"), KEYWORD_FILTERS, ids=[n for n, _ in KEYWORD_FILTERS])
    async def test_keyword_filters_narrow_results_not_statistics(
        self, vector_store: VectorStore, name: str, raw: dict[str, Any]
    ) -> None:
        self.kw_require(vector_store)
        alice = await self.kw_seed(vector_store)
        payloads = {label: {"data": text, "user_id": "alice", **extra} for label, text, extra in KEYWORD_CORPUS}
        for query in ("tea", "Alice cat peanuts tennis", "green"):
            for limit in (100, 1):
                await self.assert_kw_matches(vector_store, alice, query, limit=limit, filters=raw, payloads=payloads)

    # ============================================================================ writes
    async def test_keyword_reworded_memory_is_found_by_its_new_words(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        texts = await self.kw_seed(vector_store)
        assert "a04" in {i for i, _ in await self.kw_search(vector_store, "tennis")}
        new = {**KEYWORD_CORPUS[3][2], "data": "Alice plays badminton on Sundays with Bob", "user_id": "alice"}
        await vector_store.update(self.kw_id("a04"), payload=new)
        texts["a04"] = new["data"]
        assert "a04" not in {i for i, _ in await self.kw_search(vector_store, "tennis")}, "found by its old words"
        await self.assert_kw_matches(vector_store, texts, "tennis")
        await self.assert_kw_matches(vector_store, texts, "badminton Sundays")
        # An upsert rewords too; a vector-only update keeps the words.
        await vector_store.insert([self.kw_record("a08", "Miso the dog chases squirrels", {"topic": "pets"}, 8)])
        texts["a08"] = "Miso the dog chases squirrels"
        await vector_store.update(self.kw_id("a08"), vector=self.kw_vec(3))
        await self.assert_kw_matches(vector_store, texts, "dog squirrels Miso")
        await self.assert_kw_matches(vector_store, texts, "cat adopted 2023")
        # Vector and payload at once.
        await vector_store.update(
            self.kw_id("a01"), vector=self.kw_vec(2), payload={"data": "Alice drinks rooibos", "user_id": "alice"}
        )
        texts["a01"] = "Alice drinks rooibos"
        await self.assert_kw_matches(vector_store, texts, "rooibos tea")
        await self.assert_kw_matches(vector_store, texts, "green morning")
        # A memory emptied of words still counts in the scope, matching nothing.
        await vector_store.update(self.kw_id("a05"), payload={"data": "", "user_id": "alice"})
        texts["a05"] = ""
        await self.assert_kw_matches(vector_store, texts, "hiking Alps Bob")

    async def test_keyword_memory_moved_to_another_scope_leaves_it(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        texts = await self.kw_seed(vector_store)
        bob = {label: text for label, text, extra in KEYWORD_OTHERS if extra.get("user_id") == "bob"}
        await vector_store.update(self.kw_id("a09"), payload={"data": texts["a09"], "user_id": "bob"})
        bob["a09"] = texts.pop("a09")
        assert await self.kw_search(vector_store, "vacuum") == []
        await self.assert_kw_matches(vector_store, texts, "Miso cat")
        await self.assert_kw_matches(vector_store, bob, "vacuum", scope=Scope(user_id="bob"))
        await self.assert_kw_matches(vector_store, bob, "Miso tea", scope=Scope(user_id="bob"))

    async def test_keyword_deleted_memories_leave_results_and_statistics(self, vector_store: VectorStore) -> None:
        self.kw_require(vector_store)
        texts = await self.kw_seed(vector_store)
        await vector_store.delete([self.kw_id("a06")])
        del texts["a06"]
        got = await self.assert_kw_matches(vector_store, texts, "tea")
        assert "a06" not in {i for i, _ in got}
        tea = ["a01", "a02", "a03", "a10"]
        await vector_store.delete([self.kw_id(label) for label in tea])
        for label in tea:
            del texts[label]
        assert await self.kw_search(vector_store, "tea") == []
        await self.assert_kw_matches(vector_store, texts, "Alice")
        await self.assert_kw_matches(vector_store, texts, "green Miso")
        # Deleted, then added again with other words: found by the new ones only.
        await vector_store.insert([self.kw_record("a06", "Alice switched to mate", {"topic": "drinks"}, 6)])
        texts["a06"] = "Alice switched to mate"
        assert await self.kw_search(vector_store, "tea") == []
        await self.assert_kw_matches(vector_store, texts, "mate Alice")


__all__ = [
    "KEYWORD_CORPUS",
    "KEYWORD_FILTERS",
    "KEYWORD_OTHERS",
    "KEYWORD_QUERIES",
    "FixedLengthBM25Index",
    "KeywordSearchConformance",
    "hit_pairs",
    "keyword_reference",
]
