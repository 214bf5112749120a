"""The graph-store conformance suite every ``GraphStore`` plugin must pass.

Subclass it in the provider's tests and supply one async fixture, ``graph_store``, that yields a
fresh, empty store (and closes it afterwards)::

    import pytest
    from mem7_core.testing import GraphStoreConformance

    class TestMyGraph(GraphStoreConformance):
        dims = 8                       # optional

        @pytest.fixture
        async def graph_store(self, tmp_path):
            store = MyGraphStore(MyGraphStore.Config(path=str(tmp_path / "graph")))
            yield store
            await store.aclose()

Tests are ``async def``, run by pytest-asyncio; the core's pytest plugin
(:mod:`mem7_core.testing.pytest_plugin`) runs them with no configuration of the provider's own.

Knobs a subclass may override:

- ``dims``: embedding size used by the tests (default 8, at least 8).
- ``supports_persistence``: set True and override :meth:`GraphStoreConformance.reopen` (close the
  store and open a new one on the same data) to run the persistence tests.
- ``score_tolerance``: how far a returned ``score`` may be from the exact cosine (float32 stores).
- ``run_property_tests``: set False to skip the hypothesis property test (also skipped when
  hypothesis is not installed).
- ``long_name_length``: length of the "very long" entity name (default 1000 characters; keep it
  under a server's index-key limit).

The contract is the docstrings of :mod:`mem7_core.providers.graph_store`. The embeddings the suite
builds are axis vectors and known-angle mixes, so the expected cosines are exact (0.5 is exactly 0.5
in float32 too), and the threshold-boundary test can demand ``cosine == threshold`` be included.

This module imports pytest, so it is only imported by tests (``import mem7_core`` never loads it).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from ..models import Scope
from ..providers.graph_store import Entity, GraphRelation, GraphStore
from ..providers.vectors import cosine
from ._hypothesis import HAVE_HYPOTHESIS, given, property_settings, st
from .registration import assert_registers

Triple = tuple[str, str, str]

U1 = Scope(user_id="u1")
U2 = Scope(user_id="u2")

HOSTILE_NAMES: list[str] = [
    "it's",
    'say "hi"',
    "back`tick`",
    "}) DETACH DELETE n //",
    "' OR 1=1 --",
    '" OR ""="',
    "$param",
    "{name}",
    "a.b:c",
    "semi;colon",
    "back\\slash",
    "new\nline\ttab",
    "ключ-ünïcødé-キー-🚀",
    "  padded  ",
    "Alice",
    "alice",
    "ALICE",
]
"""Entity names a store must keep and compare literally (names differing only in case are distinct)."""

HOSTILE_LABELS: list[str] = [
    "works at",
    "half-baked",
    "it's",
    'say "x"',
    "`rel`",
    "]->(x) DETACH DELETE x //",
    "' OR 1=1 --",
    "$rel",
    "new\nline",
    "Likes",
    "likes",
    "ünïcødé_relation",
]
"""Relationship labels a store must keep literally (the engine normalises; the store must not break)."""


def rel(source: str, relationship: str, destination: str) -> GraphRelation:
    """A relation as the engine passes it in: only the triple set."""
    return GraphRelation(source=source, relationship=relationship, destination=destination)


def triples(relations: Iterable[GraphRelation]) -> list[Triple]:
    return [r.triple for r in relations]


def state(relations: Iterable[GraphRelation]) -> list[tuple[Triple, bool, int, str | None, str | None, str | None]]:
    """Everything a store keeps about each relation (not ``score``, which search sets)."""
    return [(r.triple, r.valid, r.mentions, r.created_at, r.updated_at, r.last_accessed_at) for r in relations]


class GraphStoreConformance:
    """Behaviour every graph store must show. Subclass it and provide the ``graph_store`` fixture."""

    dims: ClassVar[int] = 8
    supports_persistence: ClassVar[bool] = False
    run_property_tests: ClassVar[bool] = True
    score_tolerance: ClassVar[float] = 1e-4
    long_name_length: ClassVar[int] = 1000

    # ============================================================================ hooks
    async def reopen(self, store: GraphStore) -> GraphStore:
        """Close ``store`` and return a new store on the same data (override for persistence).

        The suite closes the returned store itself.
        """
        pytest.skip("reopen() not provided by this provider's tests")

    # ============================================================================ helpers
    def e(self, i: int, scale: float = 1.0) -> list[float]:
        """The ``i``-th axis vector (times ``scale``)."""
        assert self.dims >= 8, "GraphStoreConformance needs dims >= 8"
        v = [0.0] * self.dims
        v[i] = scale
        return v

    def mix(self, i: int, j: int, c: float) -> list[float]:
        """A unit vector whose cosine with axis ``i`` is ``c`` (the rest on axis ``j``)."""
        v = self.e(i, c)
        v[j] = math.sqrt(max(0.0, 1.0 - c * c))
        return v

    def half(self) -> list[float]:
        """A unit vector whose cosine with axes 0-3 is exactly 0.5 (exact in float32 too)."""
        v = [0.0] * self.dims
        v[0:4] = [0.5, 0.5, 0.5, 0.5]
        return v

    def far(self) -> list[float]:
        """The default embedding of names a test does not query: orthogonal to axes 0-6."""
        return self.e(7)

    def rand(self, seed: int | str) -> list[float]:
        """A deterministic pseudo-random unit vector of ``self.dims`` components."""
        rng = random.Random(f"mem7-graph-{seed}")
        v = [rng.gauss(0.0, 1.0) for _ in range(self.dims)]
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    @staticmethod
    def ts(i: int) -> str:
        """An ISO-8601 UTC timestamp, increasing with ``i``."""
        return f"2024-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000000+00:00"

    async def put(
        self,
        store: GraphStore,
        scope: Scope,
        relations: Sequence[Triple],
        vectors: Mapping[str, Sequence[float]] | None = None,
        *,
        now: int = 1,
        extra_entities: Sequence[str] = (),
    ) -> list[GraphRelation]:
        """Upsert these triples, giving every endpoint as an entity (embedding from ``vectors`` or ``far``)."""
        vectors = vectors or {}
        names: list[str] = []
        for s, _, d in relations:
            for n in (s, d):
                if n not in names:
                    names.append(n)
        names.extend(n for n in extra_entities if n not in names)
        entities = [Entity(name=n, type="Other", embedding=list(vectors.get(n, self.far()))) for n in names]
        return await store.upsert(scope, entities, [rel(*t) for t in relations], now=self.ts(now))

    async def search(
        self,
        store: GraphStore,
        scope: Scope,
        queries: Sequence[Sequence[float]],
        *,
        threshold: float = 0.5,
        limit: int = 100,
    ) -> list[GraphRelation]:
        return await store.search(scope, [list(q) for q in queries], threshold=threshold, limit=limit)

    def assert_scores(self, got: Sequence[GraphRelation], want: Sequence[tuple[Triple, float]]) -> None:
        assert triples(got) == [t for t, _ in want]
        for r, (_, score) in zip(got, want):
            assert r.score is not None, f"search must set score on {r.triple}"
            assert r.score == pytest.approx(score, abs=self.score_tolerance), r.triple

    # ============================================================================ upsert
    async def test_the_class_registers_as_a_plugin(self, graph_store: GraphStore) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(graph_store)

    async def test_connect_is_idempotent_and_the_store_works_after(self, graph_store: GraphStore) -> None:
        """``connect`` (what ``Memory(...)`` calls to fail early on a bad config) may run twice,
        and changes nothing stored."""
        await graph_store.connect()
        await graph_store.connect()
        assert await graph_store.get_all(U1) == []
        await self.put(graph_store, U1, [("alice", "works_at", "acme")], {"alice": self.e(0), "acme": self.e(1)})
        await graph_store.connect()
        assert triples(await graph_store.get_all(U1)) == [("alice", "works_at", "acme")]

    async def test_upsert_new_then_get_all(self, graph_store: GraphStore) -> None:
        out = await self.put(
            graph_store,
            U1,
            [("alice", "works_at", "acme"), ("alice", "knows", "bob")],
            {"alice": self.e(0), "bob": self.e(1), "acme": self.e(2)},
            now=1,
        )
        assert triples(out) == [("alice", "works_at", "acme"), ("alice", "knows", "bob")]
        for r in out:
            assert (r.valid, r.mentions, r.created_at, r.updated_at) == (True, 1, self.ts(1), self.ts(1))
            assert r.last_accessed_at is None
        got = await graph_store.get_all(U1)
        assert state(got) == [
            (("alice", "knows", "bob"), True, 1, self.ts(1), self.ts(1), None),
            (("alice", "works_at", "acme"), True, 1, self.ts(1), self.ts(1), None),
        ]
        assert await graph_store.entity_count(U1) == 3
        assert await graph_store.get_all(U2) == []
        assert await graph_store.entity_count(U2) == 0

    async def test_entities_without_relations(self, graph_store: GraphStore) -> None:
        out = await graph_store.upsert(
            U1, [Entity("solo", "Person", self.e(0)), Entity("other", "Concept", self.e(1))], [], now=self.ts(1)
        )
        assert out == []
        assert await graph_store.entity_count(U1) == 2
        assert await graph_store.get_all(U1) == []
        assert await self.search(graph_store, U1, [self.e(0)]) == []

    async def test_repeat_bumps_mentions(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0), "bob": self.e(1)}
        await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=1)
        out = await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=2)
        assert state(out) == [(("alice", "knows", "bob"), True, 2, self.ts(1), self.ts(2), None)]
        assert await graph_store.entity_count(U1) == 2  # the entities were bumped, not duplicated
        # Endpoints already stored need not be given again (nor their embeddings).
        out = await graph_store.upsert(U1, [], [rel("alice", "knows", "bob")], now=self.ts(3))
        assert state(out) == [(("alice", "knows", "bob"), True, 3, self.ts(1), self.ts(3), None)]
        out = await graph_store.upsert(
            U1, [Entity("alice"), Entity("bob")], [rel("bob", "knows", "alice")], now=self.ts(4)
        )
        assert state(out) == [(("bob", "knows", "alice"), True, 1, self.ts(4), self.ts(4), None)]
        assert await graph_store.entity_count(U1) == 2
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 3, self.ts(1), self.ts(3), None),
            (("bob", "knows", "alice"), True, 1, self.ts(4), self.ts(4), None),
        ]

    async def test_same_triple_twice_in_one_call(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("alice", "knows", "bob"), ("alice", "knows", "bob")], now=1)
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 2, self.ts(1), self.ts(1), None)
        ]
        assert await graph_store.entity_count(U1) == 2

    async def test_entity_embedding_kept_unless_given(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("alice", "likes", "tea")], {"alice": self.e(0)}, now=1)
        # Re-asserted without an embedding: the stored one stays.
        await graph_store.upsert(U1, [Entity("alice", "Person")], [rel("alice", "likes", "tea")], now=self.ts(2))
        assert triples(await self.search(graph_store, U1, [self.e(0)], threshold=0.99)) == [("alice", "likes", "tea")]
        # Given a new embedding: it replaces the old one.
        await graph_store.upsert(U1, [Entity("alice", "Person", self.e(3))], [], now=self.ts(3))
        assert await self.search(graph_store, U1, [self.e(0)], threshold=0.5) == []
        assert triples(await self.search(graph_store, U1, [self.e(3)], threshold=0.99)) == [("alice", "likes", "tea")]
        assert await graph_store.entity_count(U1) == 2

    async def test_invalid_relation_reasserted_becomes_valid(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0)}
        await self.put(graph_store, U1, [("alice", "lives_in", "paris"), ("alice", "likes", "tea")], vectors, now=1)
        assert await graph_store.invalidate(U1, [rel("alice", "lives_in", "paris")], now=self.ts(2)) == 1
        assert triples(await graph_store.get_all(U1)) == [("alice", "likes", "tea")]
        out = await self.put(graph_store, U1, [("alice", "lives_in", "paris")], vectors, now=3)
        assert state(out) == [(("alice", "lives_in", "paris"), True, 2, self.ts(1), self.ts(3), None)]
        assert triples(await graph_store.get_all(U1)) == [("alice", "likes", "tea"), ("alice", "lives_in", "paris")]
        assert triples(await self.search(graph_store, U1, [self.e(0)])) == [
            ("alice", "lives_in", "paris"),  # 2 mentions first
            ("alice", "likes", "tea"),
        ]

    async def test_timestamps_come_from_now(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("a", "r", "b")], now=10)
        await self.put(graph_store, U1, [("a", "r", "c")], now=20)
        await self.put(graph_store, U1, [("a", "r", "b")], now=30)
        assert state(await graph_store.get_all(U1)) == [
            (("a", "r", "b"), True, 2, self.ts(10), self.ts(30), None),
            (("a", "r", "c"), True, 1, self.ts(20), self.ts(20), None),
        ]

    async def test_unknown_endpoint_raises_and_writes_nothing(self, graph_store: GraphStore) -> None:
        with pytest.raises(ValueError):
            await graph_store.upsert(
                U1, [Entity("alice", embedding=self.e(0))], [rel("alice", "knows", "ghost")], now=self.ts(1)
            )
        assert await graph_store.get_all(U1) == []
        assert await graph_store.entity_count(U1) == 0
        # An entity stored in another scope does not count as stored here.
        await self.put(graph_store, U2, [("alice", "knows", "bob")], now=1)
        await graph_store.upsert(U1, [Entity("alice", embedding=self.e(0))], [], now=self.ts(2))
        with pytest.raises(ValueError):
            await graph_store.upsert(U1, [], [rel("alice", "knows", "bob")], now=self.ts(3))
        with pytest.raises(ValueError):
            await graph_store.upsert(U1, [], [rel("bob", "knows", "alice")], now=self.ts(3))
        assert await graph_store.get_all(U1) == []
        assert await graph_store.entity_count(U1) == 1
        assert triples(await graph_store.get_all(U2)) == [("alice", "knows", "bob")]

    async def test_new_entity_without_embedding_raises(self, graph_store: GraphStore) -> None:
        with pytest.raises(ValueError):
            await graph_store.upsert(
                U1,
                [Entity("alice", embedding=self.e(0)), Entity("bob")],
                [rel("alice", "knows", "bob")],
                now=self.ts(1),
            )
        assert await graph_store.entity_count(U1) == 0
        assert await graph_store.get_all(U1) == []
        # The same name stored for another user does not make it known here.
        await self.put(graph_store, U2, [("alice", "knows", "bob")], now=1)
        with pytest.raises(ValueError):
            await graph_store.upsert(U1, [Entity("bob")], [], now=self.ts(2))
        assert await graph_store.entity_count(U1) == 0

    async def test_empty_scope_rejected(self, graph_store: GraphStore) -> None:
        with pytest.raises(ValueError):
            await graph_store.upsert(Scope(), [Entity("a", embedding=self.e(0))], [], now=self.ts(1))
        with pytest.raises(ValueError):
            await graph_store.delete_all(Scope())
        assert await graph_store.entity_count(Scope()) == 0

    async def test_returned_relations_are_copies(self, graph_store: GraphStore) -> None:
        out = await self.put(graph_store, U1, [("alice", "knows", "bob")], {"alice": self.e(0)}, now=1)
        out[0].mentions = 99
        out[0].valid = False
        got = await graph_store.get_all(U1)
        assert state(got) == [(("alice", "knows", "bob"), True, 1, self.ts(1), self.ts(1), None)]
        got[0].mentions = 42
        (hit,) = await self.search(graph_store, U1, [self.e(0)])
        hit.mentions = 7
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 1, self.ts(1), self.ts(1), None)
        ]

    # ============================================================================ search
    async def test_search_threshold_boundary(self, graph_store: GraphStore) -> None:
        await self.put(
            graph_store,
            U1,
            [("alice", "r1", "x1"), ("hal", "r2", "x2"), ("lo", "r3", "x3"), ("orth", "r4", "x4")],
            {"alice": self.e(0), "hal": self.half(), "lo": self.mix(0, 5, 0.499), "orth": self.e(6)},
        )
        q = [self.e(0)]
        # cosine exactly at the threshold is included; just below is not.
        self.assert_scores(
            await self.search(graph_store, U1, q, threshold=0.5),
            [(("alice", "r1", "x1"), 1.0), (("hal", "r2", "x2"), 0.5)],
        )
        self.assert_scores(await self.search(graph_store, U1, q, threshold=0.5001), [(("alice", "r1", "x1"), 1.0)])
        self.assert_scores(await self.search(graph_store, U1, q, threshold=1.0), [(("alice", "r1", "x1"), 1.0)])
        self.assert_scores(
            await self.search(graph_store, U1, q, threshold=0.49),
            [(("alice", "r1", "x1"), 1.0), (("hal", "r2", "x2"), 0.5), (("lo", "r3", "x3"), 0.499)],
        )
        # Orthogonal (cosine 0) entities match a threshold of 0; the x-nodes (axis 7) too.
        got = await self.search(graph_store, U1, q, threshold=0.0)
        assert triples(got) == [("alice", "r1", "x1"), ("hal", "r2", "x2"), ("lo", "r3", "x3"), ("orth", "r4", "x4")]
        assert got[-1].score == pytest.approx(0.0, abs=self.score_tolerance)

    async def test_search_is_cosine_not_dot_product(self, graph_store: GraphStore) -> None:
        big = [2.0 * x for x in self.half()]  # cosine 0.5 with axis 0, dot product 1.0 with 1.0 * e0
        await self.put(
            graph_store, U1, [("big", "r", "x"), ("small", "r", "y")], {"big": big, "small": self.e(0, 0.001)}
        )
        self.assert_scores(
            await self.search(graph_store, U1, [self.e(0, 3.0)], threshold=0.4),
            [(("small", "r", "y"), 1.0), (("big", "r", "x"), 0.5)],
        )

    async def test_search_one_hop_both_directions(self, graph_store: GraphStore) -> None:
        await self.put(
            graph_store,
            U1,
            [
                ("alice", "likes", "pizza"),
                ("bob", "knows", "alice"),
                ("bob", "likes", "sushi"),
                ("pizza", "made_in", "italy"),
                ("carol", "knows", "bob"),
            ],
            {
                "alice": self.e(0),
                "bob": self.e(1),
                "pizza": self.e(2),
                "sushi": self.e(3),
                "italy": self.e(4),
                "carol": self.e(5),
            },
        )
        got = await self.search(graph_store, U1, [self.e(0)], threshold=0.9)
        self.assert_scores(got, [(("alice", "likes", "pizza"), 1.0), (("bob", "knows", "alice"), 1.0)])

    async def test_search_excludes_invalid(self, graph_store: GraphStore) -> None:
        await self.put(
            graph_store, U1, [("alice", "likes", "tea"), ("coffee", "liked_by", "alice")], {"alice": self.e(0)}
        )
        assert await graph_store.invalidate(U1, [rel("alice", "likes", "tea")], now=self.ts(2)) == 1
        assert triples(await self.search(graph_store, U1, [self.e(0)])) == [("coffee", "liked_by", "alice")]
        assert await graph_store.invalidate(U1, [rel("coffee", "liked_by", "alice")], now=self.ts(3)) == 1
        assert await self.search(graph_store, U1, [self.e(0)]) == []

    async def test_search_dedups_and_scores_best_endpoint(self, graph_store: GraphStore) -> None:
        await self.put(
            graph_store,
            U1,
            [("alice", "knows", "bob"), ("alice", "likes", "tea"), ("self", "loves", "self")],
            {"alice": self.e(0), "bob": self.e(1), "tea": self.e(5), "self": self.e(2)},
        )
        h = self.e(0, 0.5)
        h[2:5] = [0.5, 0.5, 0.5]  # cosine 0.5 with alice (and with self), 0 with bob
        # Both endpoints of "alice knows bob" match: one result, scored by the better one (bob, 1.0).
        self.assert_scores(
            await self.search(graph_store, U1, [h, self.e(1)], threshold=0.5),
            [(("alice", "knows", "bob"), 1.0), (("alice", "likes", "tea"), 0.5), (("self", "loves", "self"), 0.5)],
        )
        # The best of several query embeddings counts for each entity.
        self.assert_scores(
            await self.search(graph_store, U1, [h, self.e(0)], threshold=0.5),
            [(("alice", "knows", "bob"), 1.0), (("alice", "likes", "tea"), 1.0), (("self", "loves", "self"), 0.5)],
        )
        # A self-loop reached from "both" ends is still one result.
        self.assert_scores(
            await self.search(graph_store, U1, [self.e(2)], threshold=0.9), [(("self", "loves", "self"), 1.0)]
        )

    async def test_search_ordering_and_ties(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0), "dan": self.half()}
        await self.put(
            graph_store,
            U1,
            [
                ("alice", "b_rel", "x"),
                ("alice", "a_rel", "y"),
                ("alice", "a_rel", "w"),
                ("aaron", "knows", "alice"),
                ("alice", "c_rel", "z"),
                ("dan", "r", "w"),
            ],
            vectors,
        )
        await self.put(graph_store, U1, [("alice", "c_rel", "z")], vectors, now=2)
        for i in range(3):
            await self.put(graph_store, U1, [("dan", "r", "w")], vectors, now=3 + i)
        want = [
            (("alice", "c_rel", "z"), 1.0),  # mentions 2 first among the 1.0 ties
            (("aaron", "knows", "alice"), 1.0),  # then by triple
            (("alice", "a_rel", "w"), 1.0),
            (("alice", "a_rel", "y"), 1.0),
            (("alice", "b_rel", "x"), 1.0),
            (("dan", "r", "w"), 0.5),  # lower score despite 4 mentions
        ]
        got = await self.search(graph_store, U1, [self.e(0)], threshold=0.5)
        self.assert_scores(got, want)
        assert [r.mentions for r in got] == [2, 1, 1, 1, 1, 4]
        assert all(r.valid for r in got)

    async def test_search_limit(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0), "bob": self.half()}
        await self.put(
            graph_store,
            U1,
            [("bob", "r", "x"), ("alice", "r3", "x"), ("alice", "r1", "x"), ("alice", "r2", "x")],
            vectors,
        )
        full = triples(await self.search(graph_store, U1, [self.e(0)], threshold=0.5, limit=10))
        assert full == [("alice", "r1", "x"), ("alice", "r2", "x"), ("alice", "r3", "x"), ("bob", "r", "x")]
        for n in (1, 2, 3, 4):
            assert triples(await self.search(graph_store, U1, [self.e(0)], threshold=0.5, limit=n)) == full[:n]

    async def test_search_empty_queries_and_empty_store(self, graph_store: GraphStore) -> None:
        assert await self.search(graph_store, U1, [self.e(0)]) == []
        await self.put(graph_store, U1, [("alice", "r", "x")], {"alice": self.e(0)})
        assert await self.search(graph_store, U1, []) == []
        assert await self.search(graph_store, U2, [self.e(0)]) == []

    async def test_search_after_many_relations(self, graph_store: GraphStore) -> None:
        """300 relations over 100 entities whose cosines with the query are 1, 0.98, 0.96, ... -0.98."""
        n_ent = 100
        cos = [1.0 - 0.02 * i for i in range(n_ent)]
        vectors = {f"n{i:03d}": self.mix(0, 1 + i % 6, c) for i, c in enumerate(cos)}
        rels = [(f"n{k % n_ent:03d}", f"rel_{k // n_ent}", f"n{(k * 7 + 13) % n_ent:03d}") for k in range(300)]
        rels = [t for t in rels if t[0] != t[2]]
        await self.put(graph_store, U1, rels, vectors, now=1)
        bumped = [t for i, t in enumerate(rels) if i % 5 == 0]
        await self.put(graph_store, U1, bumped, vectors, now=2)
        # The other user has the same entities and embeddings, and other relations.
        await self.put(
            graph_store, U2, [(f"n{i:03d}", "u2_rel", f"n{(i + 1) % n_ent:03d}") for i in range(n_ent)], vectors
        )
        invalid = rels[1::17]
        assert await graph_store.invalidate(U1, [rel(*t) for t in invalid], now=self.ts(3)) == len(invalid)

        threshold = 0.71  # between 0.72 and 0.70: no cosine within 0.01 of it
        mentions = {t: 1 + (t in bumped) for t in rels}
        score = {n: cos[int(n[1:])] for n in vectors}
        live = [t for t in rels if t not in invalid]
        expected = sorted(
            (t for t in live if max(score[t[0]], score[t[2]]) >= threshold),
            key=lambda t: (-max(score[t[0]], score[t[2]]), -mentions[t], t),
        )
        assert len(expected) > 20
        got = await self.search(graph_store, U1, [self.e(0)], threshold=threshold, limit=1000)
        self.assert_scores(got, [(t, max(score[t[0]], score[t[2]])) for t in expected])
        assert [r.mentions for r in got] == [mentions[t] for t in expected]
        top = await self.search(graph_store, U1, [self.e(0)], threshold=threshold, limit=10)
        assert triples(top) == expected[:10]
        assert len(await graph_store.get_all(U1)) == len(live)
        assert await graph_store.entity_count(U1) == n_ent
        assert await graph_store.entity_count(Scope()) == 2 * n_ent

    # ============================================================================ invalidate / rehearse
    async def test_invalidate_counts_and_is_idempotent(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("a", "r", "b"), ("a", "r", "c"), ("a", "s", "b")], now=1)
        n = await graph_store.invalidate(
            U1,
            [rel("a", "r", "b"), rel("a", "r", "c"), rel("a", "r", "missing"), rel("b", "r", "a")],
            now=self.ts(2),
        )
        assert n == 2
        assert triples(await graph_store.get_all(U1)) == [("a", "s", "b")]
        assert await graph_store.invalidate(U1, [rel("a", "r", "b"), rel("a", "r", "c")], now=self.ts(3)) == 0
        assert await graph_store.invalidate(U1, [], now=self.ts(3)) == 0
        assert await graph_store.invalidate(U2, [rel("a", "s", "b")], now=self.ts(3)) == 0
        assert triples(await graph_store.get_all(U1)) == [("a", "s", "b")]
        # Invalid relations still hold their entities: nothing is orphaned by a soft delete.
        assert await graph_store.entity_count(U1) == 3

    async def test_rehearse(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("a", "r", "b"), ("a", "r", "c")], now=1)
        await self.put(graph_store, U2, [("a", "r", "b")], now=1)
        await graph_store.rehearse(U1, [rel("a", "r", "b"), rel("x", "y", "z")], now=self.ts(5))
        await graph_store.rehearse(U1, [rel("a", "r", "b")], now=self.ts(6))
        await graph_store.rehearse(U1, [], now=self.ts(7))
        assert state(await graph_store.get_all(U1)) == [
            (("a", "r", "b"), True, 3, self.ts(1), self.ts(1), self.ts(6)),
            (("a", "r", "c"), True, 1, self.ts(1), self.ts(1), None),
        ]
        assert state(await graph_store.get_all(U2)) == [(("a", "r", "b"), True, 1, self.ts(1), self.ts(1), None)]
        assert await graph_store.entity_count(U1) == 3  # rehearsing an unknown triple creates nothing
        # A later upsert keeps counting from the rehearsed mentions.
        out = await self.put(graph_store, U1, [("a", "r", "b")], now=8)
        assert state(out) == [(("a", "r", "b"), True, 4, self.ts(1), self.ts(8), self.ts(6))]

    # ============================================================================ get_all / delete_all / reset
    async def test_get_all_order_and_limit(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("m", "r", "n"), ("c", "r", "d")], now=3)
        await self.put(graph_store, U1, [("z", "r", "y"), ("b", "r", "a")], now=1)
        await self.put(graph_store, U1, [("a", "r", "b")], now=2)
        await self.put(graph_store, U1, [("z", "r", "y")], now=9)  # a bump does not move it
        await self.put(graph_store, U1, [("gone", "r", "x")], now=0)
        await graph_store.invalidate(U1, [rel("gone", "r", "x")], now=self.ts(10))
        want = [("b", "r", "a"), ("z", "r", "y"), ("a", "r", "b"), ("c", "r", "d"), ("m", "r", "n")]
        assert triples(await graph_store.get_all(U1)) == want
        assert triples(await graph_store.get_all(U1, limit=None)) == want
        for n in (1, 2, 5, 50):
            assert triples(await graph_store.get_all(U1, limit=n)) == want[:n]

    async def test_get_all_including_invalid(self, graph_store: GraphStore) -> None:
        """Optional (``None``: not supported): valid and invalidated relations of the scope, oldest first."""
        await self.put(graph_store, U1, [("b", "r", "a")], now=1)
        await self.put(graph_store, U1, [("gone", "r", "x")], now=2)
        await self.put(graph_store, U1, [("c", "r", "d")], now=3)
        await self.put(graph_store, U2, [("other", "r", "user")], now=4)
        assert await graph_store.invalidate(U1, [rel("gone", "r", "x")], now=self.ts(10)) == 1
        found = await graph_store.get_all_including_invalid(U1)
        if found is None:
            pytest.skip("this graph store does not list invalidated relations (get_all_including_invalid)")
        assert [(r.triple, r.valid) for r in found] == [
            (("b", "r", "a"), True), (("gone", "r", "x"), False), (("c", "r", "d"), True)]
        assert found[1].updated_at == self.ts(10)
        limited = await graph_store.get_all_including_invalid(U1, limit=2)
        assert limited is not None and triples(limited) == [("b", "r", "a"), ("gone", "r", "x")]
        assert triples(await graph_store.get_all(U1)) == [("b", "r", "a"), ("c", "r", "d")]  # unchanged

    async def test_delete_all_removes_scope_and_its_orphans_only(self, graph_store: GraphStore) -> None:
        for scope in (U1, U2):
            await self.put(
                graph_store, scope, [("alice", "knows", "bob"), ("bob", "likes", "tea")], {"alice": self.e(0)}
            )
            await graph_store.upsert(scope, [Entity("lonely", embedding=self.e(1))], [], now=self.ts(2))
            await graph_store.invalidate(scope, [rel("bob", "likes", "tea")], now=self.ts(3))
        ua = Scope(user_id="u1", agent_id="a")
        await self.put(graph_store, ua, [("alice", "knows", "carol")], {"alice": self.e(0)})
        assert await graph_store.entity_count(U1) == 6
        await graph_store.delete_all(ua)
        assert triples(await graph_store.get_all(U1)) == [("alice", "knows", "bob")]
        assert await graph_store.entity_count(U1) == 4
        assert await graph_store.entity_count(ua) == 0
        await graph_store.delete_all(U1)
        assert await graph_store.get_all(U1) == []
        assert await graph_store.entity_count(U1) == 0
        assert await self.search(graph_store, U1, [self.e(0)], threshold=0.0) == []
        # u2 untouched, its orphan entity included.
        assert triples(await graph_store.get_all(U2)) == [("alice", "knows", "bob")]
        assert await graph_store.entity_count(U2) == 4
        self.assert_scores(await self.search(graph_store, U2, [self.e(0)]), [(("alice", "knows", "bob"), 1.0)])
        # The deleted entities are gone: referring to them without an embedding fails again.
        with pytest.raises(ValueError):
            await graph_store.upsert(U1, [], [rel("alice", "knows", "bob")], now=self.ts(4))
        await self.put(graph_store, U1, [("alice", "knows", "bob")], {"alice": self.e(0)}, now=5)
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 1, self.ts(5), self.ts(5), None)
        ]

    async def test_reset(self, graph_store: GraphStore) -> None:
        await self.put(graph_store, U1, [("a", "r", "b")], {"a": self.e(0)})
        await self.put(graph_store, Scope(agent_id="ag"), [("a", "r", "b")], {"a": self.e(0)})
        await graph_store.reset()
        assert await graph_store.entity_count(Scope()) == 0
        assert await graph_store.get_all(U1) == []
        assert await graph_store.get_all(Scope(agent_id="ag")) == []
        assert await self.search(graph_store, U1, [self.e(0)], threshold=0.0) == []
        await self.put(graph_store, U1, [("a", "r", "b")], {"a": self.e(0)}, now=4)
        assert state(await graph_store.get_all(U1)) == [(("a", "r", "b"), True, 1, self.ts(4), self.ts(4), None)]
        await graph_store.reset()
        await graph_store.reset()
        assert await graph_store.entity_count(Scope()) == 0

    # ============================================================================ scope isolation
    async def test_same_name_in_two_users_is_two_entities(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0), "bob": self.e(1)}
        await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=1)
        await self.put(graph_store, U2, [("alice", "knows", "bob")], vectors, now=2)
        await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=3)
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 2, self.ts(1), self.ts(3), None)
        ]
        assert state(await graph_store.get_all(U2)) == [
            (("alice", "knows", "bob"), True, 1, self.ts(2), self.ts(2), None)
        ]
        assert await graph_store.entity_count(U1) == 2
        assert await graph_store.entity_count(U2) == 2
        assert await graph_store.entity_count(Scope()) == 4
        await graph_store.rehearse(U2, [rel("alice", "knows", "bob")], now=self.ts(4))
        assert [r.mentions for r in await graph_store.get_all(U1)] == [2]
        assert [r.mentions for r in await graph_store.get_all(U2)] == [2]

    async def test_invalidate_and_delete_stay_in_their_user(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0)}
        for scope in (U1, U2):
            await self.put(graph_store, scope, [("alice", "likes", "tea"), ("alice", "likes", "jazz")], vectors)
        assert await graph_store.invalidate(U1, [rel("alice", "likes", "tea")], now=self.ts(2)) == 1
        assert triples(await graph_store.get_all(U1)) == [("alice", "likes", "jazz")]
        assert triples(await graph_store.get_all(U2)) == [("alice", "likes", "jazz"), ("alice", "likes", "tea")]
        assert triples(await self.search(graph_store, U2, [self.e(0)])) == [
            ("alice", "likes", "jazz"),
            ("alice", "likes", "tea"),
        ]
        await graph_store.delete_all(U2)
        assert await graph_store.get_all(U2) == []
        assert triples(await graph_store.get_all(U1)) == [("alice", "likes", "jazz")]
        assert await graph_store.entity_count(U1) == 3

    async def test_search_never_crosses_users(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0), "tea": self.e(1), "coffee": self.e(1)}
        await self.put(graph_store, U1, [("alice", "likes", "tea")], vectors)
        await self.put(graph_store, U2, [("alice", "likes", "coffee")], vectors)
        await self.put(graph_store, U2, [("alice", "likes", "coffee")], vectors, now=2)
        for q in ([self.e(0)], [self.e(1)], [self.e(0), self.e(1)]):
            assert triples(await self.search(graph_store, U1, q, threshold=0.0)) == [("alice", "likes", "tea")]
            assert triples(await self.search(graph_store, U2, q, threshold=0.0)) == [("alice", "likes", "coffee")]
        assert await self.search(graph_store, Scope(user_id="u3"), [self.e(0)], threshold=-1.0) == []

    async def test_agent_and_run_scopes(self, graph_store: GraphStore) -> None:
        scopes = {
            "u1": U1,
            "u1a": Scope(user_id="u1", agent_id="a"),
            "u1ar": Scope(user_id="u1", agent_id="a", run_id="r"),
            "a": Scope(agent_id="a"),
            "u2a": Scope(user_id="u2", agent_id="a"),
            "r": Scope(run_id="r"),
        }
        vectors = {"alice": self.e(0)}
        for i, (label, scope) in enumerate(scopes.items()):
            await self.put(graph_store, scope, [("alice", "in", label)], vectors, now=i)

        async def dests(scope: Scope) -> list[str]:
            return [r.destination for r in await graph_store.get_all(scope)]

        assert await dests(U1) == ["u1", "u1a", "u1ar"]
        assert await dests(scopes["u1a"]) == ["u1a", "u1ar"]
        assert await dests(scopes["u1ar"]) == ["u1ar"]
        assert await dests(Scope(agent_id="a")) == ["u1a", "u1ar", "a", "u2a"]
        assert await dests(Scope(run_id="r")) == ["u1ar", "r"]
        assert await dests(Scope(user_id="u2")) == ["u2a"]
        assert await dests(Scope(user_id="u1", run_id="r")) == ["u1ar"]
        assert await dests(Scope()) == ["u1", "u1a", "u1ar", "a", "u2a", "r"]
        # A read scope user_id=u1 sees u1's relations under agent a (and runs), nobody else's.
        got = await self.search(graph_store, U1, [self.e(0)], threshold=0.9)
        assert sorted(r.destination for r in got) == ["u1", "u1a", "u1ar"]
        assert all(r.score == pytest.approx(1.0, abs=self.score_tolerance) for r in got)
        # "alice" is one entity per exact scope; entity_count reads with the matching rule.
        assert await graph_store.entity_count(U1) == 6  # alice x3 + u1, u1a, u1ar
        assert await graph_store.entity_count(scopes["u1a"]) == 4
        assert await graph_store.entity_count(Scope(agent_id="a")) == 8

    async def test_write_to_agent_scope_does_not_touch_user_scope(self, graph_store: GraphStore) -> None:
        ua = Scope(user_id="u1", agent_id="a")
        vectors = {"alice": self.e(0), "bob": self.e(1)}
        await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=1)
        await self.put(graph_store, ua, [("alice", "knows", "bob")], vectors, now=2)
        await self.put(graph_store, ua, [("alice", "knows", "bob")], vectors, now=3)
        # Each exact scope has its own copy: a broad read returns both, each with its own count.
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 1, self.ts(1), self.ts(1), None),
            (("alice", "knows", "bob"), True, 2, self.ts(2), self.ts(3), None),
        ]
        assert state(await graph_store.get_all(ua)) == [
            (("alice", "knows", "bob"), True, 2, self.ts(2), self.ts(3), None)
        ]
        assert await graph_store.entity_count(U1) == 4
        assert await graph_store.entity_count(ua) == 2
        # Changing through the narrow scope leaves the broader scope's copy alone.
        await graph_store.rehearse(ua, [rel("alice", "knows", "bob")], now=self.ts(4))
        assert await graph_store.invalidate(ua, [rel("alice", "knows", "bob")], now=self.ts(5)) == 1
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "knows", "bob"), True, 1, self.ts(1), self.ts(1), None)
        ]
        # Changing through the broad scope reaches every matching copy.
        await self.put(graph_store, ua, [("alice", "knows", "bob")], vectors, now=6)
        assert await graph_store.invalidate(U1, [rel("alice", "knows", "bob")], now=self.ts(7)) == 2
        assert await graph_store.get_all(U1) == []

    async def test_hostile_scope_ids(self, graph_store: GraphStore) -> None:
        evil = Scope(user_id="u' OR 1=1 --", agent_id='a"}) DETACH DELETE n //', run_id="$run")
        near = Scope(user_id="u' OR 1=1 --x")
        await self.put(graph_store, evil, [("alice", "knows", "bob")], {"alice": self.e(0)})
        await self.put(graph_store, near, [("alice", "likes", "tea")], {"alice": self.e(0)})
        assert triples(await graph_store.get_all(evil)) == [("alice", "knows", "bob")]
        assert triples(await graph_store.get_all(Scope(user_id="u' OR 1=1 --"))) == [("alice", "knows", "bob")]
        assert triples(await self.search(graph_store, near, [self.e(0)])) == [("alice", "likes", "tea")]
        await graph_store.delete_all(evil)
        assert await graph_store.entity_count(evil) == 0
        assert await graph_store.entity_count(near) == 2

    # ============================================================================ hostile names
    async def test_hostile_names_stored_and_matched_literally(self, graph_store: GraphStore) -> None:
        long_name = ("long-" + "ü" * self.long_name_length)[: self.long_name_length]
        names = [*HOSTILE_NAMES, long_name]
        vectors = {n: self.rand(f"hostile-{i}") for i, n in enumerate(names)}
        rels = [(n, HOSTILE_LABELS[i % len(HOSTILE_LABELS)], names[(i + 1) % len(names)]) for i, n in enumerate(names)]
        out = await self.put(graph_store, U1, rels, vectors, now=1)
        assert triples(out) == rels
        assert await graph_store.entity_count(U1) == len(names)
        assert sorted(triples(await graph_store.get_all(U1))) == sorted(rels)
        # Repeats find the same entities and relations, byte for byte.
        await self.put(graph_store, U1, rels, vectors, now=2)
        got = await graph_store.get_all(U1)
        assert sorted(triples(got)) == sorted(rels) and all(r.mentions == 2 for r in got)
        assert await graph_store.entity_count(U1) == len(names)
        # Search by each name's exact embedding returns that name's relations (per a brute-force reference).
        for n in names:
            matched = {m for m in names if cosine(vectors[m], vectors[n]) >= 0.999}
            want = sorted(t for t in rels if t[0] in matched or t[2] in matched)
            got_t = triples(await self.search(graph_store, U1, [vectors[n]], threshold=0.999))
            assert sorted(got_t) == want, repr(n)
        # Labels differing only in case are distinct relations; invalidating one leaves the other.
        await self.put(graph_store, U1, [("alice", "Likes", "Alice"), ("alice", "likes", "Alice")], vectors, now=3)
        assert await graph_store.invalidate(U1, [rel("alice", "Likes", "Alice")], now=self.ts(4)) == 1
        live = triples(await graph_store.get_all(U1))
        assert ("alice", "likes", "Alice") in live and ("alice", "Likes", "Alice") not in live
        # Hostile triples are data in every method.
        assert await graph_store.invalidate(U1, [rel(*t) for t in rels], now=self.ts(5)) == len(rels)
        await graph_store.rehearse(U1, [rel("alice", "likes", "Alice")], now=self.ts(6))
        assert state(await graph_store.get_all(U1)) == [
            (("alice", "likes", "Alice"), True, 2, self.ts(3), self.ts(3), self.ts(6))
        ]
        await graph_store.delete_all(U1)
        assert await graph_store.entity_count(U1) == 0

    async def test_hostile_name_in_another_user_is_distinct(self, graph_store: GraphStore) -> None:
        evil = "}) DETACH DELETE n //"
        await self.put(graph_store, U1, [(evil, "r", "x")], {evil: self.e(0)})
        await self.put(graph_store, U2, [(evil, "r", "x")], {evil: self.e(0)})
        await graph_store.delete_all(U1)
        assert triples(await graph_store.get_all(U2)) == [(evil, "r", "x")]
        assert await graph_store.entity_count(U2) == 2

    # ============================================================================ concurrency
    async def test_concurrent_upserts_count_every_mention(self, graph_store: GraphStore) -> None:
        vectors = {"alice": self.e(0), "bob": self.e(1)}
        await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=0)
        await asyncio.gather(
            *(
                self.put(graph_store, U1 if i % 2 else U2, [("alice", "knows", "bob")], vectors, now=i + 1)
                for i in range(20)
            )
        )
        (r1,) = await graph_store.get_all(U1)
        (r2,) = await graph_store.get_all(U2)
        assert (r1.mentions, r2.mentions) == (11, 10)
        assert await graph_store.entity_count(U1) == 2 and await graph_store.entity_count(U2) == 2

    # ============================================================================ persistence
    async def test_persistence_round_trip(self, graph_store: GraphStore) -> None:
        if not self.supports_persistence:
            pytest.skip("store does not declare persistence")
        assert graph_store.capabilities.persistent
        ua = Scope(user_id="u1", agent_id="a")
        vectors = {"alice": self.e(0), "bob": self.e(1), "half": self.half(), HOSTILE_NAMES[3]: self.e(2)}
        await self.put(
            graph_store, U1, [("alice", "knows", "bob"), ("half", "likes", HOSTILE_NAMES[3])], vectors, now=1
        )
        await self.put(graph_store, U1, [("alice", "knows", "bob")], vectors, now=2)
        await self.put(graph_store, U1, [("bob", "lives_in", "paris")], vectors, now=3)
        await self.put(graph_store, ua, [("alice", "uses", "vim")], vectors, now=4)
        await self.put(graph_store, U2, [("alice", "knows", "carol"), ("gone", "r", "x")], vectors, now=5)
        await graph_store.upsert(U1, [Entity("lonely", embedding=self.e(3))], [], now=self.ts(6))
        await graph_store.invalidate(U1, [rel("bob", "lives_in", "paris")], now=self.ts(7))
        await graph_store.rehearse(U1, [rel("half", "likes", HOSTILE_NAMES[3])], now=self.ts(8))
        await graph_store.delete_all(Scope(user_id="u2", run_id="none"))  # matches nothing
        before = {k: state(await graph_store.get_all(s)) for k, s in (("u1", U1), ("ua", ua), ("u2", U2))}
        counts = {k: await graph_store.entity_count(s) for k, s in (("u1", U1), ("ua", ua), ("u2", U2))}
        query = [self.e(0)]
        hits = [(r.triple, r.score) for r in await self.search(graph_store, U1, query, threshold=0.5)]
        reopened = await self.reopen(graph_store)
        try:
            assert {k: state(await reopened.get_all(s)) for k, s in (("u1", U1), ("ua", ua), ("u2", U2))} == before
            assert {k: await reopened.entity_count(s) for k, s in (("u1", U1), ("ua", ua), ("u2", U2))} == counts
            self.assert_scores(await self.search(reopened, U1, query, threshold=0.5), hits)  # type: ignore[arg-type]
            # Invalid stays invalid (and keeps its count); stored entities need no embedding again.
            out = await reopened.upsert(
                U1, [], [rel("bob", "lives_in", "paris"), rel("lonely", "r", "alice")], now=self.ts(9)
            )
            assert state(out) == [
                (("bob", "lives_in", "paris"), True, 2, self.ts(3), self.ts(9), None),
                (("lonely", "r", "alice"), True, 1, self.ts(9), self.ts(9), None),
            ]
            assert triples(await self.search(reopened, U1, [self.e(3)], threshold=0.9)) == [("lonely", "r", "alice")]
        finally:
            await reopened.aclose()

    async def test_persistence_delete_reset_and_reopen_twice(self, graph_store: GraphStore) -> None:
        if not self.supports_persistence:
            pytest.skip("store does not declare persistence")
        await self.put(graph_store, U1, [("a", "r", "b")], {"a": self.e(0)}, now=1)
        await self.put(graph_store, U2, [("a", "r", "b")], {"a": self.e(0)}, now=1)
        await graph_store.delete_all(U1)
        first = await self.reopen(graph_store)
        assert await first.entity_count(U1) == 0
        assert triples(await first.get_all(U2)) == [("a", "r", "b")]
        await first.reset()
        await self.put(first, U1, [("c", "r", "d")], {"c": self.e(1)}, now=2)
        second = await self.reopen(first)
        try:
            assert await second.entity_count(Scope()) == 2
            assert state(await second.get_all(Scope())) == [(("c", "r", "d"), True, 1, self.ts(2), self.ts(2), None)]
            assert triples(await self.search(second, U1, [self.e(1)], threshold=0.9)) == [("c", "r", "d")]
        finally:
            await second.aclose()

    # ============================================================================ property
    if HAVE_HYPOTHESIS:

        @given(data=st.data())
        @property_settings
        async def test_property_operations_match_model(self, graph_store: GraphStore, data: Any) -> None:
            """Random upserts, invalidations, rehearsals and deletes against a plain-Python model."""
            if not self.run_property_tests:
                pytest.skip("property tests disabled")
            await graph_store.reset()
            scopes = [U1, U2, Scope(user_id="u1", agent_id="a")]
            names = ["ann", "ben", "cat", "dan", "eve"]
            # Cosines with the query axis 0: 1, 0.75, 0.5, 0.25, 0. Thresholds sit on the exact ones
            # (1, 0.5, 0) or well away from the others, so float32 rounding cannot flip a match.
            cos = {"ann": 1.0, "ben": 0.75, "cat": 0.5, "dan": 0.25, "eve": 0.0}
            vec = {
                "ann": self.e(0),
                "ben": self.mix(0, 1, 0.75),
                "cat": self.half(),
                "dan": self.mix(0, 5, 0.25),
                "eve": self.e(6),
            }
            labels = ["r", "s"]
            # model: exact scope -> triple -> [valid, mentions, created, updated, accessed]
            model: dict[Scope, dict[Triple, list[Any]]] = {s: {} for s in scopes}
            ents: dict[Scope, set[str]] = {s: set() for s in scopes}
            op = st.tuples(
                st.sampled_from(["upsert", "invalidate", "rehearse", "delete"]),
                st.sampled_from(range(len(scopes))),
                st.tuples(st.sampled_from(names), st.sampled_from(labels), st.sampled_from(names)),
            )
            ops = data.draw(st.lists(op, min_size=1, max_size=20), label="ops")
            for t, (kind, si, triple) in enumerate(ops, start=1):
                scope, now = scopes[si], self.ts(t)
                inside = [s for s in scopes if scope.matches(s.as_dict())]
                if kind == "upsert":
                    await self.put(graph_store, scope, [triple], vec, now=t)
                    ents[scope] |= {triple[0], triple[2]}
                    row = model[scope].get(triple)
                    if row is None:
                        model[scope][triple] = [True, 1, now, now, None]
                    else:
                        row[0], row[1], row[3] = True, row[1] + 1, now
                elif kind == "invalidate":
                    n = await graph_store.invalidate(scope, [rel(*triple)], now=now)
                    invalidated = 0
                    for s in inside:
                        row = model[s].get(triple)
                        if row is not None and row[0]:
                            row[0], row[3] = False, now
                            invalidated += 1
                    assert n == invalidated
                elif kind == "rehearse":
                    await graph_store.rehearse(scope, [rel(*triple)], now=now)
                    for s in inside:
                        row = model[s].get(triple)
                        if row is not None:
                            row[1], row[4] = row[1] + 1, now
                else:
                    await graph_store.delete_all(scope)
                    for s in inside:
                        model[s].clear()
                        ents[s].clear()
            for scope in [*scopes, Scope(agent_id="a")]:
                inside = [s for s in scopes if scope.matches(s.as_dict())]
                rows = [(tr, *row) for s in inside for tr, row in model[s].items() if row[0]]
                want_all = sorted(rows, key=lambda x: (x[3], x[0]))
                got_all = state(await graph_store.get_all(scope))
                assert sorted(got_all) == sorted(tuple(x) for x in want_all)
                assert [(g[3], g[0]) for g in got_all] == [(w[3], w[0]) for w in want_all]
                assert await graph_store.entity_count(scope) == sum(len(ents[s]) for s in inside)
                threshold = data.draw(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), label="threshold")
                hits = [
                    (
                        max(
                            cos[tr[0]] if cos[tr[0]] >= threshold else -2, cos[tr[2]] if cos[tr[2]] >= threshold else -2
                        ),
                        m,
                        tr,
                    )
                    for tr, _v, m, *_ in rows
                ]
                want = sorted((h for h in hits if h[0] >= threshold), key=lambda h: (-h[0], -h[1], h[2]))
                got = await self.search(graph_store, scope, [self.e(0)], threshold=threshold, limit=100)
                self.assert_scores(got, [(h[2], h[0]) for h in want])

    else:  # pragma: no cover

        def test_property_operations_match_model(self) -> None:
            pytest.skip("hypothesis is not installed")


__all__ = ["HOSTILE_LABELS", "HOSTILE_NAMES", "GraphStoreConformance"]
