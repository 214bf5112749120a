"""The vector-store conformance suite every ``VectorStore`` plugin must pass.

Subclass it in the provider's tests and supply one async fixture, ``vector_store``, that yields a
fresh, empty store (and closes it afterwards)::

    import pytest
    from mem7_core.testing import VectorStoreConformance

    class TestMyStore(VectorStoreConformance):
        dims = 8                       # optional

        @pytest.fixture
        async def vector_store(self, tmp_path):
            store = MyStore(MyStore.Config(path=str(tmp_path)))
            yield store
            await store.aclose()

Tests are ``async def``, run by pytest-asyncio; the core's pytest plugin
(:mod:`mem7_core.testing.pytest_plugin`) runs them with no configuration of the provider's own.

Knobs a subclass may override:

- ``dims``: vector size used by the tests (default 8).
- ``supports_persistence``: set True and override :meth:`VectorStoreConformance.reopen` (close the
  store and open a new one on the same data) to run the persistence tests.
- ``supports_arbitrary_ids``: set False when the store only takes UUID ids; the suite then maps
  its readable ids to UUIDs and skips the hostile-id test.
- ``cosine_scores``: set False when scores are higher-is-better but not cosine similarity.
- ``run_property_tests``: set False to skip the hypothesis property tests (also skipped when
  hypothesis is not installed).
- :meth:`VectorStoreConformance.open_another`: return a second store on the same data while the
  first stays open (what another process would open) to run the sharing tests; required when
  the store declares ``change_feed``.

``rehearse`` is tested on every store; ``commit`` / ``own_history`` when the store declares
``atomic_history``, ``changes_since`` when it declares ``change_feed``. ``keyword_search`` has its
own suite, :class:`~mem7_core.testing.KeywordSearchConformance` (the same ``vector_store`` fixture).

Filter tests are skipped for operators missing from the store's ``capabilities.filter_operators``
(and nested logic when ``capabilities.logical`` is False): the engine evaluates those itself.
Every other answer must equal :func:`mem7_core.filters.evaluate` over the stored payloads. Ranges on
``created_at`` / ``updated_at`` (stored as the engine stores them, :func:`mem7_core.ids.iso`) must
select by instant, whatever form the bound was written in (``TIME_FILTER_CASES``).

This module imports pytest, so it is only imported by tests (``import mem7_core`` never loads it).
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from ..errors import MemoryNotFoundError
from ..filters import Condition, Filter, Not, Or, evaluate, parse_filters
from ..ids import iso
from ..models import Scope, ScoredRecord, VectorRecord
from ..providers.vector_store import EmbeddingSpace, VectorStore
from ..providers.vectors import cosine
from ._hypothesis import HAVE_HYPOTHESIS, given, property_settings, st
from .registration import assert_registers

_ID_NAMESPACE = uuid.UUID("6d656d37-0000-4000-8000-766563746f72")

# ------------------------------------------------------------------------------------------------
# Filter table: payloads and filters exercising every operator and the awkward corners of §7.
# ------------------------------------------------------------------------------------------------
FILTER_CORPUS: list[dict[str, Any]] = [
    {"cat": "x", "n": 1, "s": "apple", "tags": ["a", "b"], "flag": True, "nul": None},
    {"cat": "y", "n": 2.5, "s": "Banana", "tags": ["A"], "flag": False},
    {"cat": "z", "n": True, "s": "cherry pie", "tags": [], "flag": 1},
    {"cat": "x", "n": "3", "s": "Straße", "tags": [1, 2], "flag": 0},
    {"cat": "y", "n": None, "s": "ÉLODIE", "tags": [True], "nul": None},
    {"cat": "z", "s": "", "tags": ["Straße", "b"]},
    {"cat": "x", "n": 0, "s": "a%b_c", "tags": "a", "flag": True},
    {"cat": "y", "n": -4, "s": "it's", "tags": ["x'y", "%"]},
    {"n": False, "s": "zebra", "tags": ["b", "c"], "flag": False},
    {"cat": "x", "n": 10, "s": "élan", "tags": ["ÉLAN"]},
    {"cat": "z", "n": 1.0, "s": "BANANA split", "flag": "true"},
    {"cat": "y", "n": 7, "tags": ["a", 1, True]},
]

FILTER_CASES: list[tuple[str, dict[str, Any]]] = [
    # equality: bool never equals a number, 1 == 1.0, null, missing keys
    ("eq-plain", {"cat": "x"}),
    ("eq-int-matches-float", {"n": 1}),
    ("eq-true-not-1", {"n": True}),
    ("eq-0-not-false", {"n": 0}),
    ("eq-false", {"n": False}),
    ("eq-flag-true", {"flag": True}),
    ("eq-flag-1", {"flag": 1}),
    ("eq-string-true", {"flag": "true"}),
    ("eq-non-ascii", {"s": "Straße"}),
    ("eq-quote", {"s": "it's"}),
    ("eq-null", {"nul": None}),
    ("eq-null-op", {"n": {"eq": None}}),
    ("eq-missing-key", {"nope": "x"}),
    ("eq-op-float", {"n": {"eq": 2.5}}),
    ("eq-empty-string", {"s": ""}),
    # ne: holds for missing keys, bool vs int
    ("ne-int", {"n": {"ne": 1}}),
    ("ne-true", {"flag": {"ne": True}}),
    ("ne-missing-key", {"nope": {"ne": 1}}),
    ("ne-string", {"cat": {"ne": "x"}}),
    # ordering: numbers with numbers, strings with strings, bools never, no coercion
    ("gt-int", {"n": {"gt": 1}}),
    ("gte-int", {"n": {"gte": 1}}),
    ("lt-int", {"n": {"lt": 1}}),
    ("lte-float", {"n": {"lte": 2.5}}),
    ("gt-string-vs-mixed", {"n": {"gt": "2"}}),
    ("gte-string", {"s": {"gte": "b"}}),
    ("lt-string-case", {"s": {"lt": "B"}}),
    ("gt-string-non-ascii", {"s": {"gt": "z"}}),
    ("range-two-ops", {"n": {"gte": 0, "lt": 10}}),
    ("range-float-bounds", {"n": {"gt": -4.5, "lte": 1.0}}),
    ("gte-on-bools", {"flag": {"gte": 0}}),
    ("gt-number-on-strings", {"s": {"gt": 0}}),
    ("lt-missing", {"nope": {"lt": 5}}),
    # in / nin
    ("in-mixed", {"n": {"in": [1, "3"]}}),
    ("in-true", {"n": {"in": [True]}}),
    ("in-zero", {"n": {"in": [0]}}),
    ("in-null", {"nul": {"in": [None]}}),
    ("in-empty", {"cat": {"in": []}}),
    ("nin-numbers", {"n": {"nin": [1, 2.5]}}),
    ("nin-string-missing-holds", {"cat": {"nin": ["x"]}}),
    ("nin-empty", {"cat": {"nin": []}}),
    # contains: substring on strings, membership on lists
    ("contains-substring", {"s": {"contains": "an"}}),
    ("contains-percent-literal", {"s": {"contains": "%"}}),
    ("contains-underscore-literal", {"s": {"contains": "_"}}),
    ("contains-quote", {"s": {"contains": "'"}}),
    ("contains-list-member", {"tags": {"contains": "a"}}),
    ("contains-list-int-not-true", {"tags": {"contains": 1}}),
    ("contains-list-true", {"tags": {"contains": True}}),
    ("contains-number-on-string", {"s": {"contains": 1}}),
    ("contains-on-string-typed-n", {"n": {"contains": "3"}}),
    ("contains-list-percent", {"tags": {"contains": "%"}}),
    ("contains-empty-string", {"s": {"contains": ""}}),
    # icontains: casefold substring on strings, casefold membership on lists
    ("icontains-upper", {"s": {"icontains": "BANANA"}}),
    ("icontains-sharp-s", {"s": {"icontains": "strasse"}}),
    ("icontains-accented", {"s": {"icontains": "élodie"}}),
    ("icontains-list", {"tags": {"icontains": "a"}}),
    ("icontains-list-sharp-s", {"tags": {"icontains": "STRASSE"}}),
    ("icontains-list-accented", {"tags": {"icontains": "élan"}}),
    ("icontains-empty", {"s": {"icontains": ""}}),
    ("icontains-percent", {"s": {"icontains": "%B"}}),
    # "*": key present, even with a null value
    ("exists-null-valued", {"nul": "*"}),
    ("exists-n", {"n": "*"}),
    ("exists-missing", {"nope": "*"}),
    # logic
    ("implicit-and", {"cat": "x", "flag": True}),
    ("and", {"AND": [{"cat": "x"}, {"n": {"gt": 0}}]}),
    ("or", {"OR": [{"cat": "x"}, {"s": "Banana"}]}),
    ("or-mapping-form", {"OR": {"cat": "y"}}),
    ("not-single", {"NOT": [{"cat": "x"}]}),
    ("not-is-none-of", {"NOT": [{"cat": "x"}, {"flag": True}]}),
    ("not-missing-key", {"NOT": [{"nope": "x"}]}),
    ("or-inside-and", {"AND": [{"OR": [{"cat": "x"}, {"cat": "y"}]}, {"NOT": [{"n": {"in": [1]}}]}]}),
    ("and-inside-or", {"OR": [{"AND": [{"cat": "z"}, {"n": "*"}]}, {"NOT": [{"tags": "*"}]}]}),
    ("not-of-or", {"NOT": [{"OR": [{"cat": "x"}, {"n": {"lt": 0}}]}]}),
    ("double-not", {"NOT": [{"NOT": [{"cat": "y"}]}]}),
    ("key-and-logic", {"cat": "x", "OR": [{"n": {"gte": 1}}, {"tags": {"contains": "b"}}]}),
    # scope keys inside filters narrow, never widen
    ("or-other-user", {"OR": [{"user_id": "cf-other"}, {"cat": "x"}]}),
    ("other-user-eq", {"user_id": "cf-other"}),
    ("not-own-user", {"NOT": [{"user_id": "cf-user"}]}),
    ("user-in-both", {"user_id": {"in": ["cf-user", "cf-other"]}}),
]



def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


_MAY1 = _utc(2023, 5, 1)
_JUNE1 = _utc(2023, 6, 1)
_JUNE1_CEST = _utc(2023, 5, 31, 22)  # 2023-06-01T00:00:00+02:00

TIME_CORPUS: list[tuple[datetime, datetime, str]] = [
    # (created_at, updated_at, cat): stored as the engine stores times, ids.iso (canonical UTC).
    # The neighbours of every bound below are here, one microsecond either side.
    (_utc(2023, 4, 30, 23, 59, 59, 999999), _utc(2023, 4, 30, 23, 59, 59, 999999), "x"),
    (_MAY1, _JUNE1, "y"),
    (_utc(2023, 5, 1, 0, 0, 0, 1), _utc(2023, 5, 1, 0, 0, 0, 1), "x"),
    (_utc(2023, 5, 15, 12), _utc(2024, 1, 1), "y"),
    (_utc(2023, 5, 15, 12, 0, 0, 500000), _utc(2023, 5, 15, 12, 0, 0, 500000), "x"),
    (_utc(2023, 5, 31, 21, 59, 59, 999999), _utc(2023, 6, 30, 23, 59, 59, 999999), "x"),
    (_JUNE1_CEST, _JUNE1_CEST, "y"),
    (_JUNE1, _utc(2023, 7, 1), "x"),
    (_utc(2024, 2, 29, 1, 2, 3), _utc(2024, 2, 29, 1, 2, 3), "y"),
]

TimeCheck = Callable[[datetime, datetime, str], bool]
"""The expected answer of a time filter for a record's (created_at, updated_at, cat), as instants."""

TIME_FILTER_CASES: list[tuple[str, dict[str, Any], TimeCheck]] = [
    ("gte-date-only", {"created_at": {"gte": "2023-05-01"}}, lambda c, u, k: c >= _MAY1),
    ("gt-date-only-excludes-bound", {"created_at": {"gt": "2023-05-01"}}, lambda c, u, k: c > _MAY1),
    ("lt-offset-excludes-bound", {"created_at": {"lt": "2023-06-01T00:00:00+02:00"}}, lambda c, u, k: c < _JUNE1_CEST),
    ("lte-offset-includes-bound", {"created_at": {"lte": "2023-06-01T00:00:00+02:00"}},
     lambda c, u, k: c <= _JUNE1_CEST),
    ("closed-range", {"created_at": {"gte": "2023-05-01", "lt": "2023-06-01T00:00:00+02:00"}},
     lambda c, u, k: _MAY1 <= c < _JUNE1_CEST),
    ("closed-range-negative-offset", {"created_at": {"gte": "2023-05-01T00:00:00.000001Z",
                                                     "lte": "2023-05-31T16:00:00-06:00"}},
     lambda c, u, k: _utc(2023, 5, 1, 0, 0, 0, 1) <= c <= _JUNE1_CEST),
    ("naive-is-utc", {"created_at": {"lte": "2023-05-01 00:00:00.000001"}},
     lambda c, u, k: c <= _utc(2023, 5, 1, 0, 0, 0, 1)),
    ("z-suffix", {"created_at": {"gt": "2023-05-15T12:00:00Z"}}, lambda c, u, k: c > _utc(2023, 5, 15, 12)),
    ("epoch-seconds", {"created_at": {"lt": 1685577600}}, lambda c, u, k: c < _JUNE1),
    ("epoch-float", {"created_at": {"gte": 1684152000.5}}, lambda c, u, k: c >= _utc(2023, 5, 15, 12, 0, 0, 500000)),
    ("datetime-aware", {"created_at": {"gte": datetime(2023, 5, 31, 23, tzinfo=timezone(timedelta(hours=1)))}},
     lambda c, u, k: c >= _JUNE1_CEST),
    ("datetime-naive-is-utc", {"created_at": {"lt": datetime(2023, 5, 1)}}, lambda c, u, k: c < _MAY1),
    ("updated-open-range", {"updated_at": {"gte": "2023-06-01"}}, lambda c, u, k: u >= _JUNE1),
    ("updated-closed-range", {"updated_at": {"gt": "2023-05-31T22:00:00Z", "lte": "2023-07-01T02:00:00+02:00"}},
     lambda c, u, k: _JUNE1_CEST < u <= _utc(2023, 7, 1)),
    ("created-and-updated", {"created_at": {"lt": "2023-06-01"}, "updated_at": {"gte": "2023-06-01"}},
     lambda c, u, k: c < _JUNE1 <= u),
    ("range-and-metadata", {"created_at": {"gte": "2023-05-01", "lt": "2023-06-01"}, "cat": "x"},
     lambda c, u, k: _MAY1 <= c < _JUNE1 and k == "x"),
    ("eq-other-offset", {"created_at": "2023-06-01T00:00:00+02:00"}, lambda c, u, k: c == _JUNE1_CEST),
    ("eq-date-only", {"created_at": {"eq": "2023-05-01"}}, lambda c, u, k: c == _MAY1),
    ("ne-other-form", {"updated_at": {"ne": "2023-05-31T22:00:00.000Z"}}, lambda c, u, k: u != _JUNE1_CEST),
    ("in-mixed-forms", {"created_at": {"in": ["2023-05-01", 1685570400]}}, lambda c, u, k: c in (_MAY1, _JUNE1_CEST)),
    ("nin-mixed-forms", {"updated_at": {"nin": ["2023-06-01", "2024-01-01T01:00:00+01:00"]}},
     lambda c, u, k: u not in (_JUNE1, _utc(2024, 1, 1))),
    ("or-outside-may", {"OR": [{"created_at": {"lt": "2023-05-01"}}, {"created_at": {"gte": "2023-06-01"}}]},
     lambda c, u, k: not _MAY1 <= c < _JUNE1),
    ("not-may", {"NOT": [{"created_at": {"gte": "2023-05-01", "lt": "2023-06-01"}}]},
     lambda c, u, k: not _MAY1 <= c < _JUNE1),
]
"""Time ranges (spec §7 on the engine's ``created_at`` / ``updated_at``): bound values in every form
:func:`mem7_core.ids.parse_instant` takes, compared as instants, bounds included or excluded exactly."""

HOSTILE_STRINGS: list[str] = [
    "it's",
    'say "hi"',
    "back`tick`",
    "semi;colon",
    "' OR 1=1 --",
    '" OR ""="',
    "Robert'); DROP TABLE students;--",
    "MATCH (n) DETACH DELETE n",
    "}) RETURN n //",
    "$where",
    "a.b",
    "a%b_c*?",
    "back\\slash",
    "new\nline\ttab",
    "ключ-ünïcødé-キー-🚀",
    "  padded  ",
]


def _operators(node: Filter | None) -> tuple[set[str], bool]:
    """The operators a filter uses, and whether it needs OR/NOT (nested logic beyond ANDs)."""
    if node is None:
        return set(), False
    if isinstance(node, Condition):
        return {node.op}, False
    if isinstance(node, Not):
        child_ops, _ = _operators(node.child)
        return child_ops, True
    ops: set[str] = set()
    nested = isinstance(node, Or)
    for child in node.children:
        child_ops, child_nested = _operators(child)
        ops |= child_ops
        nested = nested or child_nested
    return ops, nested


class VectorStoreConformance:
    """Behaviour every vector store must show. Subclass it and provide the ``vector_store`` fixture."""

    dims: ClassVar[int] = 8
    supports_persistence: ClassVar[bool] = False
    supports_arbitrary_ids: ClassVar[bool] = True
    cosine_scores: ClassVar[bool] = True
    run_property_tests: ClassVar[bool] = True
    score_tolerance: ClassVar[float] = 1e-3

    # ============================================================================ hooks
    async def reopen(self, store: VectorStore) -> VectorStore:
        """Close ``store`` and return a new store on the same data (override for persistence).

        The suite closes the returned store itself.
        """
        pytest.skip("reopen() not provided by this provider's tests")

    async def open_another(self, store: VectorStore) -> VectorStore | None:
        """A second store on the same data, ``store`` left open (``None``: not shareable). The
        suite closes it itself."""
        return None

    # ============================================================================ helpers
    def make_id(self, label: str) -> str:
        """A record id for ``label``: the label itself, or a stable UUID for UUID-only stores."""
        if self.supports_arbitrary_ids:
            return label
        return str(uuid.uuid5(_ID_NAMESPACE, label))

    def vec(self, seed: int | str) -> list[float]:
        """A deterministic pseudo-random unit vector of ``self.dims`` components."""
        rng = random.Random(f"mem7-vec-{seed}")
        v = [rng.gauss(0.0, 1.0) for _ in range(self.dims)]
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def axis(self, i: int, scale: float = 1.0) -> list[float]:
        v = [0.0] * self.dims
        v[i % self.dims] = scale
        return v

    @staticmethod
    def ts(i: int) -> str:
        """An ISO-8601 UTC timestamp, increasing with ``i``."""
        return f"2024-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}.000000+00:00"

    def record(
        self,
        label: str,
        vector: Sequence[float] | None = None,
        *,
        seed: int | str | None = None,
        created: int = 0,
        **payload: Any,
    ) -> VectorRecord:
        body: dict[str, Any] = {"data": f"memory {label}", "created_at": self.ts(created)}
        body.update(payload)
        return VectorRecord(
            id=self.make_id(label),
            vector=list(vector) if vector is not None else self.vec(seed if seed is not None else label),
            payload=body,
        )

    @staticmethod
    def ids(records: Iterable[VectorRecord | ScoredRecord]) -> list[str]:
        """The ids of what a store returned, each checked to be a record (``get`` and ``list`` return
        :class:`VectorRecord`, ``search`` :class:`ScoredRecord`), so a store returning dicts or
        tuples fails saying so rather than with an ``AttributeError``."""
        out = []
        for r in records:
            assert isinstance(r, (VectorRecord, ScoredRecord)), (
                f"the store returned a {type(r).__name__} ({r!r:.120}): get and list return "
                "mem7_core.models.VectorRecord, search returns mem7_core.models.ScoredRecord")
            out.append(r.id)
        return out

    async def search_ids(
        self,
        store: VectorStore,
        vector: Sequence[float],
        scope: Scope,
        *,
        limit: int = 1000,
        filters: Mapping[str, Any] | Filter | None = None,
    ) -> list[str]:
        node = parse_filters(filters) if isinstance(filters, Mapping) else filters
        self.skip_unless_pushed_down(store, node)
        return self.ids(await store.search(vector, scope=scope, limit=limit, filters=node))

    async def list_ids(
        self,
        store: VectorStore,
        scope: Scope,
        *,
        filters: Mapping[str, Any] | Filter | None = None,
        limit: int | None = None,
    ) -> list[str]:
        node = parse_filters(filters) if isinstance(filters, Mapping) else filters
        self.skip_unless_pushed_down(store, node)
        return self.ids(await store.list(scope=scope, filters=node, limit=limit))

    def skip_unless_pushed_down(self, store: VectorStore, node: Filter | None) -> None:
        """Skip the test when ``node`` needs an operator or nesting the store does not push down."""
        ops, nested = _operators(node)
        caps = store.capabilities
        missing = ops - set(caps.filter_operators)
        if missing:
            pytest.skip(f"store does not push down {sorted(missing)}")
        if nested and not caps.logical:
            pytest.skip("store does not push down nested AND/OR/NOT")

    def expected_order(self, records: Iterable[VectorRecord]) -> list[str]:
        """Ids oldest first: by payload created_at, then id (the list() contract)."""
        return [r.id for r in sorted(records, key=lambda r: (str(r.payload.get("created_at") or ""), r.id))]

    async def _scoped_fixture(self, store: VectorStore) -> dict[str, VectorRecord]:
        """Records covering scope combinations; ``same`` rows share one vector across users."""
        shared = self.vec("shared")
        recs = {
            "u1": self.record("sc-u1", created=1, user_id="u1"),
            "u1a1": self.record("sc-u1a1", created=2, user_id="u1", agent_id="a1"),
            "u1a1r1": self.record("sc-u1a1r1", created=3, user_id="u1", agent_id="a1", run_id="r1"),
            "u1a2": self.record("sc-u1a2", created=4, user_id="u1", agent_id="a2"),
            "u2a1": self.record("sc-u2a1", created=5, user_id="u2", agent_id="a1"),
            "a1": self.record("sc-a1", created=6, agent_id="a1"),
            "r1": self.record("sc-r1", created=7, run_id="r1"),
            "u2": self.record("sc-u2", shared, created=8, user_id="u2"),
            "u1same": self.record("sc-u1same", shared, created=9, user_id="u1", run_id="r2"),
        }
        await store.insert(list(recs.values()))
        return recs

    # ============================================================================ insert / get
    async def test_the_class_registers_as_a_plugin(self, vector_store: VectorStore) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(vector_store)

    async def test_insert_then_get(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"ig-{i}", created=i, user_id="u1", n=i) for i in range(5)]
        await vector_store.insert(recs)
        got = await vector_store.get([r.id for r in recs])
        assert self.ids(got) == [r.id for r in recs]
        for want, have in zip(recs, got):
            assert have.payload == want.payload
            if have.vector is not None:
                assert len(have.vector) == self.dims
                assert cosine(have.vector, want.vector) == pytest.approx(1.0, abs=self.score_tolerance)  # type: ignore[arg-type]

    async def test_get_keeps_requested_order_and_skips_missing(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"go-{i}", created=i, user_id="u1") for i in range(4)]
        await vector_store.insert(recs)
        ask = [recs[2].id, self.make_id("go-missing"), recs[0].id, recs[3].id]
        assert self.ids(await vector_store.get(ask)) == [recs[2].id, recs[0].id, recs[3].id]
        assert await vector_store.get([]) == []
        assert await vector_store.get([self.make_id("go-nothing")]) == []

    async def test_payload_round_trip(self, vector_store: VectorStore) -> None:
        payload = {
            "data": "Ünïcødé ✓ 日本語 🚀 \"quoted\" 'single' \\ back",
            "created_at": self.ts(1),
            "user_id": "u1",
            "count": 3,
            "ratio": 0.25,
            "neg": -7,
            "yes": True,
            "no": False,
            "nothing": None,
            "tags": ["a", 1, 2.5, True, None],
            "nested": {"k": [1, {"deep": "v"}], "t": False},
            "empty_list": [],
            "empty_dict": {},
            "empty_str": "",
        }
        rec = VectorRecord(id=self.make_id("rt-1"), vector=self.vec(1), payload=payload)
        await vector_store.insert([rec])
        (got,) = await vector_store.get([rec.id])
        assert got.payload == payload
        assert got.payload["yes"] is True and got.payload["no"] is False
        assert type(got.payload["count"]) is int and type(got.payload["ratio"]) is float
        (hit,) = await vector_store.search(self.vec(1), scope=Scope(user_id="u1"), limit=1)
        assert hit.payload == payload

    async def test_store_does_not_alias_caller_payloads(self, vector_store: VectorStore) -> None:
        payload: dict[str, Any] = {
            "data": "x", "created_at": self.ts(1), "user_id": "u1", "tags": ["a"], "meta": {"k": 1}
        }
        rec = VectorRecord(id=self.make_id("alias-1"), vector=self.vec(1), payload=payload)
        await vector_store.insert([rec])
        payload["tags"].append("mutated")
        payload["meta"]["k"] = 2
        payload["data"] = "mutated"
        (got,) = await vector_store.get([rec.id])
        assert got.payload["tags"] == ["a"] and got.payload["meta"] == {"k": 1} and got.payload["data"] == "x"
        got.payload["tags"].append("again")
        got.payload["data"] = "again"
        (again,) = await vector_store.get([rec.id])
        assert again.payload["tags"] == ["a"] and again.payload["data"] == "x"

    async def test_unnormalised_vectors(self, vector_store: VectorStore) -> None:
        await vector_store.insert(
            [
                self.record("un-big", self.axis(0, 5.0), user_id="u1", created=1),
                self.record("un-small", self.axis(1, 0.001), user_id="u1", created=2),
            ]
        )
        hits = await vector_store.search(self.axis(0, 0.5), scope=Scope(user_id="u1"), limit=2)
        assert hits[0].id == self.make_id("un-big")
        if self.cosine_scores:
            assert hits[0].score == pytest.approx(1.0, abs=self.score_tolerance)
            assert hits[1].score == pytest.approx(0.0, abs=self.score_tolerance)

    async def test_upsert_is_idempotent_and_last_payload_wins(self, vector_store: VectorStore) -> None:
        first = self.record("up-1", self.vec("a"), user_id="u1", created=1, version=1)
        second = self.record("up-1", self.vec("b"), user_id="u1", created=1, version=2)
        await vector_store.insert([first])
        await vector_store.insert([second])
        assert await vector_store.count(scope=Scope(user_id="u1")) == 1
        (got,) = await vector_store.get([first.id])
        assert got.payload["version"] == 2
        hits = await vector_store.search(self.vec("b"), scope=Scope(user_id="u1"), limit=10)
        assert self.ids(hits) == [first.id]
        if self.cosine_scores:
            assert hits[0].score == pytest.approx(1.0, abs=self.score_tolerance)
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == [first.id]

    async def test_upsert_same_id_into_another_scope_moves_it(self, vector_store: VectorStore) -> None:
        await vector_store.insert([self.record("mv-1", user_id="u1", created=1)])
        await vector_store.insert([self.record("mv-1", user_id="u2", created=1)])
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == []
        assert await self.list_ids(vector_store, Scope(user_id="u2")) == [self.make_id("mv-1")]
        assert await self.search_ids(vector_store, self.vec("mv-1"), Scope(user_id="u1")) == []

    async def test_concurrent_inserts(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"cc-{i}", created=i, user_id="u1") for i in range(24)]
        await asyncio.gather(*(vector_store.insert([r]) for r in recs))
        assert await vector_store.count(scope=Scope(user_id="u1")) == 24
        assert sorted(await self.list_ids(vector_store, Scope(user_id="u1"))) == sorted(r.id for r in recs)

    # ============================================================================ update
    async def test_update_vector_only(self, vector_store: VectorStore) -> None:
        a = self.record("uv-a", self.axis(0), user_id="u1", created=1, keep="me")
        b = self.record("uv-b", self.axis(1), user_id="u1", created=2)
        await vector_store.insert([a, b])
        await vector_store.update(a.id, vector=self.axis(2))
        (got,) = await vector_store.get([a.id])
        assert got.payload == a.payload
        hits = await vector_store.search(self.axis(2), scope=Scope(user_id="u1"), limit=1)
        assert self.ids(hits) == [a.id]
        if self.cosine_scores:
            assert hits[0].score == pytest.approx(1.0, abs=self.score_tolerance)
            near_0 = await vector_store.search(self.axis(0), scope=Scope(user_id="u1"), limit=2)
            (old,) = [h for h in near_0 if h.id == a.id]
            assert old.score == pytest.approx(0.0, abs=self.score_tolerance)

    async def test_update_payload_only_replaces_whole_payload(self, vector_store: VectorStore) -> None:
        a = self.record("up-a", self.axis(0), user_id="u1", created=1, old_key="gone")
        await vector_store.insert([a, self.record("up-b", self.axis(1), user_id="u1", created=2)])
        new_payload = {"data": "new text", "created_at": self.ts(1), "user_id": "u1", "new_key": 5}
        await vector_store.update(a.id, payload=new_payload)
        (got,) = await vector_store.get([a.id])
        assert got.payload == new_payload
        assert "old_key" not in got.payload
        hits = await vector_store.search(self.axis(0), scope=Scope(user_id="u1"), limit=1)
        assert self.ids(hits) == [a.id]
        assert hits[0].payload == new_payload
        if self.cosine_scores:
            assert hits[0].score == pytest.approx(1.0, abs=self.score_tolerance)
        assert await self.list_ids(vector_store, Scope(user_id="u1"), filters={"new_key": 5}) == [a.id]
        assert await self.list_ids(vector_store, Scope(user_id="u1"), filters={"old_key": "gone"}) == []

    async def test_update_vector_and_payload(self, vector_store: VectorStore) -> None:
        a = self.record("uvp-a", self.axis(0), user_id="u1", created=1)
        await vector_store.insert([a])
        await vector_store.update(a.id, vector=self.axis(3), payload={**a.payload, "v": 2})
        hits = await vector_store.search(self.axis(3), scope=Scope(user_id="u1"), limit=1)
        assert self.ids(hits) == [a.id] and hits[0].payload["v"] == 2

    async def test_update_payload_can_change_scope(self, vector_store: VectorStore) -> None:
        a = self.record("us-a", self.axis(0), user_id="u1", created=1)
        await vector_store.insert([a])
        await vector_store.update(a.id, payload={**a.payload, "user_id": "u2"})
        assert await self.search_ids(vector_store, self.axis(0), Scope(user_id="u1")) == []
        assert await self.search_ids(vector_store, self.axis(0), Scope(user_id="u2")) == [a.id]
        assert await vector_store.count(scope=Scope(user_id="u1")) == 0
        await vector_store.update(a.id, payload={**a.payload, "user_id": "u1"})
        assert await self.search_ids(vector_store, self.axis(0), Scope(user_id="u1")) == [a.id]
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == [a.id]
        assert await self.search_ids(vector_store, self.axis(0), Scope(user_id="u2")) == []

    async def test_update_unknown_id_raises(self, vector_store: VectorStore) -> None:
        await vector_store.insert([self.record("uu-a", user_id="u1")])
        with pytest.raises(MemoryNotFoundError):
            await vector_store.update(self.make_id("uu-missing"), vector=self.vec(1))
        with pytest.raises(MemoryNotFoundError):
            await vector_store.update(self.make_id("uu-missing"), payload={"data": "x", "user_id": "u1"})
        assert await vector_store.get([self.make_id("uu-missing")]) == []
        assert await vector_store.count(scope=Scope(user_id="u1")) == 1

    # ============================================================================ delete
    async def test_delete(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"del-{i}", created=i, user_id="u1") for i in range(4)]
        await vector_store.insert(recs)
        await vector_store.delete([recs[1].id, self.make_id("del-unknown")])
        await vector_store.delete([self.make_id("del-unknown-2")])
        await vector_store.delete([])
        remaining = [recs[0].id, recs[2].id, recs[3].id]
        assert self.ids(await vector_store.get([r.id for r in recs])) == remaining
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == remaining
        assert await vector_store.count(scope=Scope(user_id="u1")) == 3
        assert recs[1].id not in await self.search_ids(vector_store, recs[1].vector, Scope(user_id="u1"))  # type: ignore[arg-type]
        await vector_store.delete([recs[1].id])  # already gone: ignored

    async def test_delete_then_reinsert(self, vector_store: VectorStore) -> None:
        rec = self.record("dr-1", user_id="u1", created=1, v=1)
        await vector_store.insert([rec])
        await vector_store.delete([rec.id])
        await vector_store.insert([self.record("dr-1", user_id="u1", created=1, v=2)])
        (got,) = await vector_store.get([rec.id])
        assert got.payload["v"] == 2
        assert await vector_store.count(scope=Scope(user_id="u1")) == 1

    async def test_many_deletes_keep_answers(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"md-{i}", created=i, user_id="u1" if i % 2 else "u2") for i in range(120)]
        await vector_store.insert(recs)
        gone = {r.id for r in recs[:90]}
        await vector_store.delete(sorted(gone))
        kept = [r for r in recs if r.id not in gone]
        for user in ("u1", "u2"):
            want = [r for r in kept if r.payload["user_id"] == user]
            assert await self.list_ids(vector_store, Scope(user_id=user)) == self.expected_order(want)
            q = self.vec("md-q")
            got = await self.search_ids(vector_store, q, Scope(user_id=user), limit=5)
            best = sorted(want, key=lambda r: -cosine(q, r.vector))[:5]  # type: ignore[arg-type]
            assert got == [r.id for r in best]

    # ============================================================================ list
    async def test_list_oldest_first_then_id(self, vector_store: VectorStore) -> None:
        recs = [
            self.record("ls-c", created=3, user_id="u1"),
            self.record("ls-a", created=5, user_id="u1"),
            self.record("ls-b2", created=1, user_id="u1"),
            self.record("ls-b1", created=1, user_id="u1"),
            self.record("ls-z", created=2, user_id="u1"),
        ]
        await vector_store.insert(recs)
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == self.expected_order(recs)

    async def test_list_limit(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"ll-{i:02d}", created=20 - i, user_id="u1") for i in range(12)]
        await vector_store.insert(recs)
        order = self.expected_order(recs)
        assert await self.list_ids(vector_store, Scope(user_id="u1"), limit=5) == order[:5]
        assert await self.list_ids(vector_store, Scope(user_id="u1"), limit=100) == order
        assert await self.list_ids(vector_store, Scope(user_id="u1"), limit=None) == order

    async def test_list_scope_and_filters(self, vector_store: VectorStore) -> None:
        recs = await self._scoped_fixture(vector_store)
        expect = {
            Scope(user_id="u1"): ["u1", "u1a1", "u1a1r1", "u1a2", "u1same"],
            Scope(agent_id="a1"): ["u1a1", "u1a1r1", "u2a1", "a1"],
            Scope(user_id="u1", agent_id="a1"): ["u1a1", "u1a1r1"],
            Scope(user_id="u1", agent_id="a1", run_id="r1"): ["u1a1r1"],
            Scope(run_id="r1"): ["u1a1r1", "r1"],
            Scope(user_id="u2", run_id="r1"): [],
            Scope(user_id="nobody"): [],
        }
        for scope, keys in expect.items():
            want = self.expected_order([recs[k] for k in keys])
            assert await self.list_ids(vector_store, scope) == want, scope
            assert await vector_store.count(scope=scope) == len(keys), scope
        assert await self.list_ids(vector_store, Scope(user_id="u1"), filters={"agent_id": "a1"}) == (
            self.expected_order([recs["u1a1"], recs["u1a1r1"]])
        )
        assert await self.list_ids(vector_store, Scope(user_id="u1"), filters={"agent_id": "*"}) == (
            self.expected_order([recs["u1a1"], recs["u1a1r1"], recs["u1a2"]])
        )

    async def test_empty_scope_matches_all_even_without_scope_ids(self, vector_store: VectorStore) -> None:
        bare = [
            VectorRecord(
                id=self.make_id(f"bare-{i}"), vector=self.vec(i), payload={"data": f"b{i}", "created_at": self.ts(i)}
            )
            for i in range(3)
        ]
        scoped = self.record("bare-scoped", user_id="u1", created=9)
        await vector_store.insert([*bare, scoped])
        everything = self.expected_order([*bare, scoped])
        assert await self.list_ids(vector_store, Scope()) == everything
        assert await vector_store.count(scope=Scope()) == 4
        assert sorted(await self.search_ids(vector_store, self.vec(0), Scope())) == sorted(everything)
        assert (await vector_store.search(self.vec(0), scope=Scope(), limit=1))[0].id == bare[0].id
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == [scoped.id]

    # ============================================================================ search
    async def test_search_best_first_and_limit(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"sb-{i}", created=i, user_id="u1") for i in range(15)]
        await vector_store.insert(recs)
        q = self.vec("sb-query")
        ranked = sorted(recs, key=lambda r: -cosine(q, r.vector))  # type: ignore[arg-type]
        hits = await vector_store.search(q, scope=Scope(user_id="u1"), limit=4)
        assert self.ids(hits) == [r.id for r in ranked[:4]]
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(math.isfinite(s) for s in scores)
        if self.cosine_scores:
            for h, r in zip(hits, ranked):
                assert h.score == pytest.approx(cosine(q, r.vector), abs=self.score_tolerance)  # type: ignore[arg-type]
        everything = await vector_store.search(q, scope=Scope(user_id="u1"), limit=100)
        assert self.ids(everything) == [r.id for r in ranked]
        assert len(await vector_store.search(q, scope=Scope(user_id="u1"), limit=1)) == 1

    async def test_identical_vector_scores_highest(self, vector_store: VectorStore) -> None:
        target = self.record("sc-target", self.vec("target"), user_id="u1", created=0)
        others = [self.record(f"sc-other-{i}", created=i + 1, user_id="u1") for i in range(10)]
        await vector_store.insert([*others, target])
        hits = await vector_store.search(self.vec("target"), scope=Scope(user_id="u1"), limit=11)
        assert hits[0].id == target.id
        assert all(hits[0].score >= h.score for h in hits)
        if self.cosine_scores:
            assert hits[0].score == pytest.approx(1.0, abs=self.score_tolerance)
            assert all(-1 - self.score_tolerance <= h.score <= 1 + self.score_tolerance for h in hits)
            scaled = [3.0 * x for x in self.vec("target")]
            (top,) = await vector_store.search(scaled, scope=Scope(user_id="u1"), limit=1)
            assert top.id == target.id and top.score == pytest.approx(1.0, abs=self.score_tolerance)

    async def test_search_empty_store_and_empty_scope(self, vector_store: VectorStore) -> None:
        assert await vector_store.search(self.vec(1), scope=Scope(user_id="u1"), limit=5) == []
        await vector_store.insert([self.record("se-1", user_id="u1")])
        assert await vector_store.search(self.vec(1), scope=Scope(user_id="u9"), limit=5) == []

    async def test_search_scope_isolation(self, vector_store: VectorStore) -> None:
        recs = await self._scoped_fixture(vector_store)
        q = self.vec("shared")
        expect = {
            Scope(user_id="u1"): {"u1", "u1a1", "u1a1r1", "u1a2", "u1same"},
            Scope(user_id="u2"): {"u2a1", "u2"},
            Scope(agent_id="a1"): {"u1a1", "u1a1r1", "u2a1", "a1"},
            Scope(user_id="u1", agent_id="a1"): {"u1a1", "u1a1r1"},
            Scope(user_id="u2", agent_id="a1"): {"u2a1"},
            Scope(user_id="u1", agent_id="a1", run_id="r1"): {"u1a1r1"},
            Scope(user_id="u1", run_id="r1"): {"u1a1r1"},
            Scope(agent_id="a1", run_id="r1"): {"u1a1r1"},
            Scope(run_id="r1"): {"u1a1r1", "r1"},
            Scope(run_id="r2"): {"u1same"},
            Scope(user_id="u2", run_id="r2"): set(),
            Scope(agent_id="a2", user_id="u2"): set(),
        }
        for scope, keys in expect.items():
            got = await self.search_ids(vector_store, q, scope, limit=100)
            assert sorted(got) == sorted(recs[k].id for k in keys), scope
            assert len(got) == len(set(got)), scope

    async def test_other_users_identical_vector_never_returned(self, vector_store: VectorStore) -> None:
        recs = await self._scoped_fixture(vector_store)
        q = self.vec("shared")
        hits = await vector_store.search(q, scope=Scope(user_id="u1"), limit=100)
        assert recs["u2"].id not in self.ids(hits)
        assert hits[0].id == recs["u1same"].id
        hits = await vector_store.search(q, scope=Scope(user_id="u1"), limit=1)
        assert self.ids(hits) == [recs["u1same"].id]
        hits = await vector_store.search(q, scope=Scope(user_id="u2"), limit=1)
        assert self.ids(hits) == [recs["u2"].id]

    async def test_filters_never_widen_scope(self, vector_store: VectorStore) -> None:
        recs = await self._scoped_fixture(vector_store)
        u1 = Scope(user_id="u1")
        q = self.vec("shared")
        for filters in (
            {"OR": [{"user_id": "u2"}, {"user_id": "u1"}]},
            {"OR": [{"user_id": "u2"}, {"agent_id": "a1"}]},
            {"user_id": {"in": ["u1", "u2"]}},
            {"user_id": {"ne": "nobody"}},
            {"NOT": [{"user_id": "nobody"}]},
            {"user_id": "*"},
        ):
            node = parse_filters(filters)
            self.skip_unless_pushed_down(vector_store, node)
            got_search = set(await self.search_ids(vector_store, q, u1, filters=node))
            got_list = set(await self.list_ids(vector_store, u1, filters=node))
            want = {r.id for r in recs.values() if u1.matches(r.payload) and evaluate(node, r.payload)}
            assert got_search == want, filters
            assert got_list == want, filters
            assert recs["u2"].id not in got_search | got_list
        assert await self.search_ids(vector_store, q, u1, filters={"user_id": "u2"}) == []
        assert await self.list_ids(vector_store, u1, filters={"user_id": "u2"}) == []

    async def test_search_limit_with_filter(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"sf-{i}", created=i, user_id="u1", even=i % 2 == 0) for i in range(20)]
        await vector_store.insert(recs)
        q = self.vec("sf-q")
        node = parse_filters({"even": True})
        self.skip_unless_pushed_down(vector_store, node)
        want = [r.id for r in sorted(recs, key=lambda r: -cosine(q, r.vector)) if r.payload["even"]]  # type: ignore[arg-type]
        assert await self.search_ids(vector_store, q, Scope(user_id="u1"), limit=3, filters=node) == want[:3]
        assert await self.list_ids(vector_store, Scope(user_id="u1"), filters=node, limit=2) == (
            self.expected_order([r for r in recs if r.payload["even"]])[:2]
        )

    async def test_search_many_equals_one_search_per_vector(self, vector_store: VectorStore) -> None:
        """``search_many`` (the add path's batched candidate retrieval) answers exactly what one
        ``search`` per vector answers, in the order of the vectors, scope and filters included."""
        recs = [self.record(f"sm-{i}", created=i, user_id="u1" if i % 3 else "u2", even=i % 2 == 0) for i in range(18)]
        await vector_store.insert(recs)
        queries = [self.vec(f"sm-q{i}") for i in range(4)] + [list(recs[4].vector)]  # type: ignore[arg-type]
        for scope, filters in (
            (Scope(user_id="u1"), None),
            (Scope(user_id="u2"), None),
            (Scope(user_id="u1"), {"even": True}),
        ):
            node = parse_filters(filters) if filters else None
            if node is not None:
                self.skip_unless_pushed_down(vector_store, node)
            batched = await vector_store.search_many(queries, scope=scope, limit=3, filters=node)
            assert len(batched) == len(queries)
            for q, hits in zip(queries, batched):
                single = await vector_store.search(q, scope=scope, limit=3, filters=node)
                assert self.ids(hits) == self.ids(single), (scope, filters)
                for a, b in zip(hits, single):
                    assert a.score == pytest.approx(b.score, abs=self.score_tolerance)
        assert await vector_store.search_many([], scope=Scope(user_id="u1"), limit=3) == []

    # ============================================================================ filters
    @pytest.mark.parametrize("case", FILTER_CASES, ids=[name for name, _ in FILTER_CASES])
    async def test_filter_matches_reference(self, vector_store: VectorStore, case: tuple[str, dict[str, Any]]) -> None:
        _, filters = case
        node = parse_filters(filters)
        self.skip_unless_pushed_down(vector_store, node)
        mine: list[VectorRecord] = []
        theirs: list[VectorRecord] = []
        for i, meta in enumerate(FILTER_CORPUS):
            mine.append(self.record(f"cf-{i:02d}", created=i, seed=f"cf-{i}", user_id="cf-user", **meta))
            theirs.append(self.record(f"cf-o-{i:02d}", created=i, seed=f"cf-{i}", user_id="cf-other", **meta))
        await vector_store.insert(mine + theirs)
        scope = Scope(user_id="cf-user")
        want = [r for r in mine if evaluate(node, r.payload)]
        got_list = await self.list_ids(vector_store, scope, filters=node)
        assert got_list == self.expected_order(want), f"list() with {filters}"
        q = self.vec("cf-query")
        got_search = await self.search_ids(vector_store, q, scope, filters=node, limit=len(mine) + 5)
        assert sorted(got_search) == sorted(r.id for r in want), f"search() with {filters}"
        ranked = [r.id for r in sorted(want, key=lambda r: -cosine(q, r.vector))]  # type: ignore[arg-type]
        assert got_search == ranked, f"search() order with {filters}"
        if want:
            top = await self.search_ids(vector_store, q, scope, filters=node, limit=1)
            assert top == ranked[:1]

    async def test_filter_on_missing_key_everywhere(self, vector_store: VectorStore) -> None:
        await vector_store.insert([self.record(f"mk-{i}", created=i, user_id="u1") for i in range(3)])
        for filters, n in (
            ({"ghost": 1}, 0),
            ({"ghost": {"ne": 1}}, 3),
            ({"ghost": {"nin": [1]}}, 3),
            ({"ghost": "*"}, 0),
        ):
            node = parse_filters(filters)
            self.skip_unless_pushed_down(vector_store, node)
            assert len(await self.list_ids(vector_store, Scope(user_id="u1"), filters=node)) == n, filters
            assert len(await self.search_ids(vector_store, self.vec(0), Scope(user_id="u1"), filters=node)) == n

    @pytest.mark.parametrize("case", TIME_FILTER_CASES, ids=[name for name, _, _ in TIME_FILTER_CASES])
    async def test_time_range_filters_compare_instants(
        self, vector_store: VectorStore, case: tuple[str, dict[str, Any], TimeCheck]
    ) -> None:
        """``created_at`` / ``updated_at`` filters select by instant: bounds in any offset, naive,
        date-only, datetime or epoch form; boundaries exact; ANDed with metadata and the scope."""
        _, filters, check = case
        node = parse_filters(filters)
        self.skip_unless_pushed_down(vector_store, node)
        mine: list[VectorRecord] = []
        theirs: list[VectorRecord] = []
        for i, (created, updated, cat) in enumerate(TIME_CORPUS):
            times: dict[str, Any] = {"created_at": iso(created), "updated_at": iso(updated), "cat": cat}
            mine.append(self.record(f"tf-{i:02d}", seed=f"tf-{i}", user_id="tf-user", **times))
            theirs.append(self.record(f"tf-o-{i:02d}", seed=f"tf-{i}", user_id="tf-other", **times))
        await vector_store.insert(mine + theirs)
        want = [r for r, (c, u, k) in zip(mine, TIME_CORPUS) if check(c, u, k)]
        assert want == [r for r in mine if evaluate(node, r.payload)], "the reference semantics disagree"
        scope = Scope(user_id="tf-user")
        assert await self.list_ids(vector_store, scope, filters=node) == self.expected_order(want), filters
        if want:
            assert await self.list_ids(vector_store, scope, filters=node, limit=1) == self.expected_order(want)[:1]
        q = self.vec("tf-query")
        ranked = [r.id for r in sorted(want, key=lambda r: -cosine(q, r.vector))]  # type: ignore[arg-type]
        assert await self.search_ids(vector_store, q, scope, filters=node, limit=len(mine) + 5) == ranked, filters
        assert await self.search_ids(vector_store, q, scope, filters=node, limit=2) == ranked[:2], filters

    # ============================================================================ hostile input
    async def test_hostile_strings_stored_and_matched_literally(self, vector_store: VectorStore) -> None:
        recs = []
        for i, s in enumerate(HOSTILE_STRINGS):
            recs.append(
                VectorRecord(
                    id=self.make_id(f"hostile-{i}"),
                    vector=self.vec(f"hostile-{i}"),
                    payload={"data": s, "created_at": self.ts(i), "user_id": "u1", "v": s, s: i, "tagged": [s]},
                )
            )
        await vector_store.insert(recs)
        got = await vector_store.get([r.id for r in recs])
        assert [g.payload for g in got] == [r.payload for r in recs]
        u1 = Scope(user_id="u1")
        for i, s in enumerate(HOSTILE_STRINGS):
            rid = recs[i].id
            for filters in (
                {"v": s},
                {s: i},
                {s: "*"},
                {"v": {"in": [s]}},
                {"tagged": {"contains": s}},
                {"v": {"contains": s}},
            ):
                node = parse_filters(filters)
                self.skip_unless_pushed_down(vector_store, node)
                want = [r.id for r in recs if evaluate(node, r.payload)]
                assert rid in want
                assert await self.list_ids(vector_store, u1, filters=node) == want, filters
                found = await self.search_ids(vector_store, self.vec(0), u1, filters=node)
                assert sorted(found) == sorted(want), filters
            node = parse_filters({"v": {"icontains": s.upper()}})
            want = [r.id for r in recs if evaluate(node, r.payload)]
            if {"icontains"} <= set(vector_store.capabilities.filter_operators):
                assert await self.list_ids(vector_store, u1, filters=node) == want
        assert await vector_store.count(scope=u1) == len(recs)
        assert await self.list_ids(vector_store, u1, filters={"v": "' OR '1'='1"}) == []

    async def test_hostile_ids(self, vector_store: VectorStore) -> None:
        if not self.supports_arbitrary_ids:
            pytest.skip("store only accepts UUID ids")
        recs = [
            VectorRecord(id=s, vector=self.vec(s), payload={"data": s, "created_at": self.ts(i), "user_id": "u1"})
            for i, s in enumerate(HOSTILE_STRINGS)
        ]
        await vector_store.insert(recs)
        assert self.ids(await vector_store.get(list(reversed(HOSTILE_STRINGS)))) == list(reversed(HOSTILE_STRINGS))
        (hit,) = await vector_store.search(self.vec("' OR 1=1 --"), scope=Scope(user_id="u1"), limit=1)
        assert hit.id == "' OR 1=1 --"
        await vector_store.update("it's", payload={"data": "updated", "created_at": self.ts(0), "user_id": "u1"})
        (got,) = await vector_store.get(["it's"])
        assert got.payload["data"] == "updated"
        await vector_store.delete(["' OR 1=1 --", "MATCH (n) DETACH DELETE n"])
        left = await self.list_ids(vector_store, Scope(user_id="u1"))
        assert sorted(left) == sorted(set(HOSTILE_STRINGS) - {"' OR 1=1 --", "MATCH (n) DETACH DELETE n"})

    async def test_hostile_scope_ids(self, vector_store: VectorStore) -> None:
        evil = "u1' OR '1'='1"
        await vector_store.insert(
            [
                self.record("hs-evil", self.vec("hs"), user_id=evil, created=1),
                self.record("hs-u1", self.vec("hs"), user_id="u1", created=2),
                self.record("hs-star", self.vec("hs"), user_id="*", created=3),
                self.record("hs-pct", self.vec("hs"), user_id="%", created=4),
            ]
        )
        assert await self.search_ids(vector_store, self.vec("hs"), Scope(user_id=evil)) == [self.make_id("hs-evil")]
        assert await self.list_ids(vector_store, Scope(user_id="u1")) == [self.make_id("hs-u1")]
        assert await self.list_ids(vector_store, Scope(user_id="*")) == [self.make_id("hs-star")]
        assert await self.list_ids(vector_store, Scope(user_id="%")) == [self.make_id("hs-pct")]
        assert await vector_store.count(scope=Scope(user_id="u1' OR 1=1 --")) == 0

    # ============================================================================ reset / count
    async def test_reset(self, vector_store: VectorStore) -> None:
        recs = [self.record(f"rs-{i}", created=i, user_id="u1" if i % 2 else "u2") for i in range(6)]
        await vector_store.insert(recs)
        await vector_store.reset()
        assert await vector_store.count(scope=Scope()) == 0
        assert await vector_store.count(scope=Scope(user_id="u1")) == 0
        assert await vector_store.get([r.id for r in recs]) == []
        assert await vector_store.list(scope=Scope(user_id="u1")) == []
        assert await vector_store.search(self.vec(1), scope=Scope(user_id="u1"), limit=5) == []
        await vector_store.insert([recs[0]])
        assert self.ids(await vector_store.get([recs[0].id])) == [recs[0].id]
        assert await vector_store.count(scope=Scope()) == 1

    async def test_count(self, vector_store: VectorStore) -> None:
        assert await vector_store.count(scope=Scope(user_id="u1")) == 0
        await vector_store.insert(
            [self.record(f"ct-{i}", created=i, user_id="u1", agent_id=f"a{i % 3}") for i in range(9)]
        )
        assert await vector_store.count(scope=Scope(user_id="u1")) == 9
        assert await vector_store.count(scope=Scope(user_id="u1", agent_id="a0")) == 3
        assert await vector_store.count(scope=Scope(agent_id="a2")) == 3
        assert await vector_store.count(scope=Scope(user_id="u2")) == 0

    async def test_aclose_is_idempotent(self, vector_store: VectorStore) -> None:
        await vector_store.insert([self.record("ac-1", user_id="u1")])
        await vector_store.aclose()
        await vector_store.aclose()

    # ============================================================================ rehearse / commit / sharing
    async def test_rehearse_counts_one_recall_per_id_and_skips_missing(self, vector_store: VectorStore) -> None:
        rec = self.record("rh-1", user_id="u1", access_count=2)
        await vector_store.insert([rec, self.record("rh-2", user_id="u1")])
        await vector_store.rehearse([rec.id, self.make_id("rh-missing")], "2025-02-03T04:05:06+00:00")
        got = {r.id: r.payload for r in await vector_store.get([rec.id, self.make_id("rh-2")])}
        assert got[rec.id]["access_count"] == 3
        assert got[rec.id]["last_accessed_at"] == "2025-02-03T04:05:06+00:00"
        assert got[rec.id]["data"] == rec.payload["data"] and got[rec.id]["user_id"] == "u1"
        assert "last_accessed_at" not in got[self.make_id("rh-2")]

    async def test_commit_writes_vectors_and_history_or_nothing(self, vector_store: VectorStore) -> None:
        if not vector_store.capabilities.atomic_history:
            pytest.skip("store does not declare atomic_history")
        from ..errors import MemoryNotFoundError
        from ..providers.vector_store import WriteBatch

        history = vector_store.own_history()
        assert history is not None, "atomic_history declared, but own_history() gave None"
        a, b = self.record("cm-a", user_id="u1"), self.record("cm-b", user_id="u1")
        await vector_store.commit(WriteBatch(inserts=[a], events=[_history_event(a.id, "ADD")]))
        changed = VectorRecord(id=a.id, vector=None, payload={**a.payload, "data": "changed"})
        await vector_store.commit(WriteBatch(updates=[changed], events=[_history_event(a.id, "UPDATE")]))
        missing = VectorRecord(id=self.make_id("cm-missing"), vector=None, payload={"user_id": "u1"})
        with pytest.raises(MemoryNotFoundError):
            await vector_store.commit(WriteBatch(
                inserts=[b], updates=[missing],
                deletes=[a.id], events=[_history_event(b.id, "ADD"), _history_event(a.id, "DELETE")],
            ))
        assert self.ids(await vector_store.get([a.id, b.id])) == [a.id]
        (kept,) = await vector_store.get([a.id])
        assert kept.payload["data"] == "changed"
        assert [e.event for e in await history.get(a.id)] == ["ADD", "UPDATE"]
        assert await history.get(b.id) == []
        await vector_store.commit(WriteBatch(deletes=[a.id], events=[_history_event(a.id, "DELETE")]))
        assert await vector_store.get([a.id]) == []
        assert [e.event for e in await history.get(a.id)] == ["ADD", "UPDATE", "DELETE"]

    async def test_another_store_on_the_same_data_sees_every_write(self, vector_store: VectorStore) -> None:
        other = await self.open_another(vector_store)
        if other is None:
            if vector_store.capabilities.change_feed:
                pytest.fail("change_feed declared: provide open_another() in the provider's tests")
            pytest.skip("open_another() not provided")
        try:
            feed = vector_store.capabilities.change_feed
            cursor = (await vector_store.changes_since(None)).cursor if feed else 0
            recs = [self.record(f"sh-{i}", user_id="u1", created=i) for i in range(5)]
            await other.insert(recs)
            await other.update(recs[0].id, payload={**recs[0].payload, "data": "reworded"})
            await other.delete([recs[1].id])
            got = {r.id: r.payload["data"] for r in await vector_store.list(scope=Scope(user_id="u1"))}
            assert got == {**{r.id: r.payload["data"] for r in recs[2:]}, recs[0].id: "reworded"}
            (hit,) = await vector_store.search(self.vec("sh-3"), scope=Scope(user_id="u1"), limit=1)
            assert hit.id == recs[3].id
            if feed:
                batch = await vector_store.changes_since(cursor)
                assert batch.changes is not None
                final = {c.id: (None if c.new is None else c.new.get("data")) for c in batch.changes}
                assert final.pop(recs[1].id, None) is None  # added and deleted in between: nothing, or a delete
                assert final == {**{r.id: r.payload["data"] for r in recs[2:]}, recs[0].id: "reworded"}
                own = self.record("sh-own", user_id="u1")
                await vector_store.insert([own])
                assert (await vector_store.changes_since(batch.cursor)).changes == []  # own writes are not news
            await vector_store.insert([self.record("sh-back", user_id="u1")])
            assert self.make_id("sh-back") in self.ids(await other.list(scope=Scope(user_id="u1")))
        finally:
            await other.aclose()

    # ============================================================================ embedding space
    async def test_embedding_space_is_what_was_written(self, vector_store: VectorStore) -> None:
        """``embedding_space`` may say nothing (``None``: the default), but what it says is true:
        the dims of the vectors held, and the embedder ``record_embedder`` named before they were
        written (or no embedder). Reading it writes nothing (the store stays empty)."""
        before = await vector_store.embedding_space()
        assert before is None or before.dims == self.dims  # empty: nothing held, or a declared size
        assert await vector_store.count(scope=Scope(user_id="u1")) == 0
        mine = EmbeddingSpace(dims=self.dims, provider="conformance", model="conformance-model-1")
        vector_store.record_embedder(mine)
        await vector_store.insert([self.record("es-a", user_id="u1")])
        space = await vector_store.embedding_space()
        if space is None:
            return  # the store cannot tell: the engine checks nothing (documented default)
        assert space.dims == self.dims
        assert space.embedder() is None or space == mine
        if self.supports_persistence and space == mine:  # recorded: it must survive a reopen
            reopened = await self.reopen(vector_store)
            try:
                assert await reopened.embedding_space() == mine
            finally:
                await reopened.aclose()

    # ============================================================================ persistence
    async def test_persistence_round_trip(self, vector_store: VectorStore) -> None:
        if not self.supports_persistence:
            pytest.skip("store does not declare persistence")
        assert vector_store.capabilities.persistent
        recs = [self.record(f"ps-{i:02d}", created=i, user_id="u1" if i % 3 else "u2", n=i) for i in range(30)]
        await vector_store.insert(recs)
        await vector_store.update(recs[1].id, payload={**recs[1].payload, "n": 100})
        await vector_store.update(recs[2].id, vector=self.vec("ps-new"))
        await vector_store.delete([recs[4].id, recs[5].id])
        await vector_store.insert([self.record("ps-01", created=1, user_id="u1", n=101)])  # upsert
        reopened = await self.reopen(vector_store)
        try:
            deleted = {recs[4].id, recs[5].id}
            kept = [r for r in recs if r.id not in deleted]
            got = await reopened.get([r.id for r in recs])
            assert self.ids(got) == [r.id for r in kept]
            by_id = {g.id: g for g in got}
            assert by_id[recs[1].id].payload["n"] == 101
            assert by_id[recs[7].id].payload == recs[7].payload
            kept_u1 = sum(1 for r in kept if r.payload["user_id"] == "u1")
            assert await reopened.count(scope=Scope(user_id="u1")) == kept_u1
            (hit,) = await reopened.search(self.vec("ps-new"), scope=Scope(user_id="u1"), limit=1)
            assert hit.id == recs[2].id
            if self.cosine_scores:
                assert hit.score == pytest.approx(1.0, abs=self.score_tolerance)
            want = self.expected_order([r for r in kept if r.payload["user_id"] == "u2"])
            assert await self.list_ids(reopened, Scope(user_id="u2")) == want
            assert await self.list_ids(reopened, Scope(user_id="u1"), filters={"n": {"gte": 100}}) == [recs[1].id]
            await reopened.insert([self.record("ps-after", created=99, user_id="u1")])
            assert self.ids(await reopened.get([self.make_id("ps-after")])) == [self.make_id("ps-after")]
        finally:
            await reopened.aclose()

    async def test_persistence_reset_and_reopen(self, vector_store: VectorStore) -> None:
        if not self.supports_persistence:
            pytest.skip("store does not declare persistence")
        await vector_store.insert([self.record(f"pr-{i}", created=i, user_id="u1") for i in range(5)])
        await vector_store.reset()
        await vector_store.insert([self.record("pr-new", created=9, user_id="u1")])
        reopened = await self.reopen(vector_store)
        try:
            assert await self.list_ids(reopened, Scope(user_id="u1")) == [self.make_id("pr-new")]
        finally:
            await reopened.aclose()

    async def test_persistence_reopen_twice(self, vector_store: VectorStore) -> None:
        if not self.supports_persistence:
            pytest.skip("store does not declare persistence")
        await vector_store.insert([self.record("pt-1", created=1, user_id="u1")])
        first = await self.reopen(vector_store)
        await first.insert([self.record("pt-2", created=2, user_id="u1")])
        await first.delete([self.make_id("pt-1")])
        second = await self.reopen(first)
        try:
            assert await self.list_ids(second, Scope(user_id="u1")) == [self.make_id("pt-2")]
        finally:
            await second.aclose()

    # ============================================================================ properties
    if HAVE_HYPOTHESIS:
        _scalar = st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-3, 3),
            st.sampled_from([0.5, -1.5, 2.0, 1.0]),
            st.sampled_from(["a", "B", "ab", "Straße", "STRASSE", "é", "É", "", "it's", "%"]),
        )
        _value = st.one_of(_scalar, st.lists(_scalar, max_size=3))
        _keys = st.sampled_from(["k1", "k2", "k3"])

        @staticmethod
        def _condition_strategy() -> Any:
            scalar = VectorStoreConformance._scalar
            keys = VectorStoreConformance._keys
            ordered = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5]), st.sampled_from(["a", "B", "é", ""]))
            text = st.sampled_from(["a", "B", "ab", "strasse", "É", "", "'", "%"])
            op_value = st.one_of(
                st.tuples(st.sampled_from(["eq", "ne"]), scalar),
                st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), ordered),
                st.tuples(st.sampled_from(["in", "nin"]), st.lists(scalar, max_size=3)),
                st.tuples(st.just("contains"), st.one_of(st.none(), st.booleans(), st.integers(-3, 3), text)),
                st.tuples(st.just("icontains"), text),
            )
            return st.one_of(
                st.builds(lambda k, ov: {k: {ov[0]: ov[1]}}, keys, op_value),
                st.builds(lambda k, v: {k: v}, keys, scalar.filter(lambda v: v != "*")),
                st.builds(lambda k: {k: "*"}, keys),
            )

        @staticmethod
        def _filter_strategy() -> Any:
            leaf = VectorStoreConformance._condition_strategy()
            return st.recursive(
                leaf,
                lambda inner: st.one_of(
                    st.builds(lambda xs: {"AND": xs}, st.lists(inner, min_size=1, max_size=3)),
                    st.builds(lambda xs: {"OR": xs}, st.lists(inner, min_size=1, max_size=3)),
                    st.builds(lambda xs: {"NOT": xs}, st.lists(inner, min_size=1, max_size=2)),
                ),
                max_leaves=5,
            )

        @given(data=st.data())
        @property_settings
        async def test_property_filters_match_reference(self, vector_store: VectorStore, data: Any) -> None:
            if not self.run_property_tests:
                pytest.skip("property tests disabled")
            token = uuid.uuid4().hex[:12]
            user = f"hyp-{token}"
            payloads = data.draw(
                st.lists(st.dictionaries(self._keys, self._value, max_size=3), min_size=1, max_size=8),
                label="payloads",
            )
            filters = data.draw(self._filter_strategy(), label="filters")
            node = parse_filters(filters)
            ops, nested = _operators(node)
            caps = vector_store.capabilities
            if ops - set(caps.filter_operators) or (nested and not caps.logical):
                return
            recs = [
                VectorRecord(
                    id=self.make_id(f"{token}-{i}"),
                    vector=self.vec(f"{token}-{i}"),
                    payload={**p, "data": str(i), "created_at": self.ts(i), "user_id": user},
                )
                for i, p in enumerate(payloads)
            ]
            await vector_store.insert(recs)
            want = [r for r in recs if evaluate(node, r.payload)]
            scope = Scope(user_id=user)
            assert await self.list_ids(vector_store, scope, filters=node) == self.expected_order(want)
            got = await self.search_ids(vector_store, self.vec(token), scope, filters=node, limit=len(recs))
            assert sorted(got) == sorted(r.id for r in want)

        @given(data=st.data())
        @property_settings
        async def test_property_operations_match_model(self, vector_store: VectorStore, data: Any) -> None:
            if not self.run_property_tests:
                pytest.skip("property tests disabled")
            token = uuid.uuid4().hex[:12]
            users = [f"hyp-{token}-a", f"hyp-{token}-b"]
            labels = [f"{token}-{i}" for i in range(6)]
            model: dict[str, VectorRecord] = {}
            ops = data.draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(["insert", "delete", "update_payload", "update_vector"]),
                        st.sampled_from(labels),
                        st.sampled_from(users),
                        st.integers(0, 50),
                    ),
                    min_size=1,
                    max_size=15,
                ),
                label="ops",
            )
            for op, label, user, n in ops:
                rid = self.make_id(label)
                if op == "insert":
                    rec = VectorRecord(
                        id=rid,
                        vector=self.vec(f"{label}-{n}"),
                        payload={"data": label, "created_at": self.ts(n), "user_id": user, "n": n},
                    )
                    await vector_store.insert([rec])
                    model[rid] = rec
                elif op == "delete":
                    await vector_store.delete([rid])
                    model.pop(rid, None)
                elif rid not in model:
                    with pytest.raises(MemoryNotFoundError):
                        await vector_store.update(rid, payload={"data": label, "user_id": user})
                elif op == "update_payload":
                    payload = {"data": label, "created_at": self.ts(n), "user_id": user, "n": n}
                    await vector_store.update(rid, payload=payload)
                    model[rid] = VectorRecord(id=rid, vector=model[rid].vector, payload=payload)
                else:
                    vector = self.vec(f"{label}-v{n}")
                    await vector_store.update(rid, vector=vector)
                    model[rid] = VectorRecord(id=rid, vector=vector, payload=model[rid].payload)
            all_ids = [self.make_id(label) for label in labels]
            got = await vector_store.get(all_ids)
            assert self.ids(got) == [i for i in all_ids if i in model]
            assert {g.id: g.payload for g in got} == {i: r.payload for i, r in model.items()}
            for user in users:
                mine = [r for r in model.values() if r.payload["user_id"] == user]
                scope = Scope(user_id=user)
                assert await self.list_ids(vector_store, scope) == self.expected_order(mine)
                assert await vector_store.count(scope=scope) == len(mine)
                for r in mine:
                    (hit,) = await vector_store.search(r.vector, scope=scope, limit=1)  # type: ignore[arg-type]
                    assert hit.id == r.id
                    if self.cosine_scores:
                        assert hit.score == pytest.approx(1.0, abs=self.score_tolerance)

    else:  # pragma: no cover

        def test_property_filters_match_reference(self) -> None:
            pytest.skip("hypothesis is not installed")

        def test_property_operations_match_model(self) -> None:
            pytest.skip("hypothesis is not installed")


__all__ = ["FILTER_CASES", "FILTER_CORPUS", "HOSTILE_STRINGS", "VectorStoreConformance"]


def _history_event(memory_id: str, event: str) -> Any:
    from ..ids import uuid7
    from ..models import HistoryEvent

    return HistoryEvent(
        id=uuid7(), memory_id=memory_id, old_memory=None, new_memory=None, event=event,
        created_at="2025-01-01T00:00:00+00:00", updated_at="2025-01-01T00:00:00+00:00",
        is_deleted=event == "DELETE", actor_id=None, role=None,
    )
