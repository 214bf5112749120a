"""The encoding and the filter translation against mem7's reference semantics, property-based.

- tokens: two values get the same token exactly when mem7's ``eq`` says they are equal;
- order keys: their order is the string order of mem7 timestamps, equal only for equal strings;
- the store: random payloads (nested values, bools vs numbers, 64-bit ints, long and hostile
  strings and keys) under random filters answer exactly like :func:`mem7_core.filters.evaluate`,
  both when Qdrant alone evaluates the filter (exact translation) and when the store re-checks.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mem7_core.filters import ALL_OPERATORS, And, Condition, Not, Or, evaluate, match_condition, parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.providers import VectorStoreCapabilities
from mem7_qdrant import QdrantVectorStore
from mem7_qdrant import _filters as qf
from mem7_qdrant._encoding import Unmatchable, order_key, value_token

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYS = ["k", "K", 'q"uote', "a.b", "tags", "x" * 70]
_strings = st.sampled_from(
    ["", "a", "A", "ab", "b=c", "s:a", "Straße", "STRASSE", "strasse", "é", "É", "%", "*", "it's", "1", "v" * 70, "V" * 70]
)
_numbers = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**62, 2**63 - 1, -(2**63)]),
    st.sampled_from([0.0, -0.0, 0.5, -1.5, 1.0, 2.0, 1e16, 9007199254740992.0, 1e300, -1e-300]),
)
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _strings)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2)),
    max_leaves=6,
)


# ---------------------------------------------------------------------------------------- tokens
@SETTINGS
@given(a=_values, b=_values)
def test_tokens_equal_exactly_when_eq_holds(a: Any, b: Any) -> None:
    same = value_token(a) == value_token(b)
    assert same == match_condition(Condition("k", "eq", b), {"k": a}) == match_condition(Condition("k", "eq", a), {"k": b})


def test_unmatchable_filter_values() -> None:
    for v in (float("nan"), (1, 2), {1, 2}, object(), [float("nan")], {1: "a"}, 2**2000):
        with pytest.raises(Unmatchable):
            value_token(v)


# ---------------------------------------------------------------------------------------- order
_stamps = st.builds(
    lambda dt, frac: dt.isoformat() if frac else dt.replace(microsecond=0).isoformat(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999), timezones=st.just(UTC)),
    st.booleans(),
)


@SETTINGS
@given(a=_stamps, b=_stamps)
def test_order_key_follows_string_order(a: str, b: str) -> None:
    ka, kb = order_key(a), order_key(b)
    assert ka is not None and kb is not None
    assert (ka < kb) == (a < b) and (ka == kb) == (a == b)


def test_order_key_only_for_mem7_timestamps() -> None:
    assert order_key("2024-01-01T00:00:00+00:00") == 2 * 1704067200 * 10**6
    assert order_key("2024-01-01T00:00:00.000000+00:00") == 2 * 1704067200 * 10**6 + 1
    for other in ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "2024-01-01", "2024-02-30T00:00:00+00:00",
                  "٢٠٢٤-01-01T00:00:00+00:00", "2024-01-01T00:00:00.5+00:00", 5, None, ""):
        assert order_key(other) is None


# ---------------------------------------------------------------------------------------- translation
def test_exactness_of_the_translation() -> None:
    exact = [{"k": 1}, {"k": {"ne": [1, 2]}}, {"k": {"in": [1, "a", None]}}, {"k": "*"}, {"k": {"gt": 2.5}},
             {"k": {"lte": -(2**52)}}, {"k": {"contains": 1}}, {"k": {"contains": ""}}, {"k": {"icontains": ""}},
             {"k": {"gt": float("inf")}}, {"NOT": [{"k": {"nin": []}}]}]
    inexact = [{"k": {"gt": "b"}}, {"k": {"contains": "a"}}, {"k": {"icontains": "A"}}, {"k": {"gte": 2**53}},
               {"OR": [{"k": 1}, {"k": {"contains": "a"}}]}, {"NOT": [{"k": {"icontains": "x"}}]}]
    for f in exact:
        assert qf.translate(parse_filters(f)).exact, f
    for f in inexact:
        assert not qf.translate(parse_filters(f)).exact, f
    assert qf.translate(parse_filters({"k": {"in": []}})).upper is qf.FALSE
    assert qf.translate(parse_filters({"k": {"nin": []}})).upper is qf.TRUE
    assert qf.translate(parse_filters({"k": {"gt": float("nan")}})).upper is qf.FALSE
    # NOT of a condition Qdrant can only narrow must not narrow away true matches: its upper bound
    # is the negation of the exact part (here: nothing), i.e. no condition at all.
    assert qf.translate(parse_filters({"NOT": [{"k": {"icontains": "x"}}]})).upper is qf.TRUE


# ---------------------------------------------------------------------------------------- store
def _conditions() -> Any:
    keys = st.sampled_from(KEYS)
    ordered = st.one_of(_numbers, _strings)
    op_value = st.one_of(
        st.tuples(st.sampled_from(["eq", "ne"]), _values),
        st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), ordered),
        st.tuples(st.sampled_from(["in", "nin"]), st.lists(_values, max_size=3)),
        st.tuples(st.just("contains"), _scalars),
        st.tuples(st.just("icontains"), _strings),
    )
    return st.one_of(
        st.builds(lambda k, ov: Condition(k, ov[0], tuple(ov[1]) if ov[0] in ("in", "nin") else ov[1]), keys, op_value),
        st.builds(lambda k: Condition(k, "exists"), keys),
    )


_trees = st.recursive(
    _conditions(),
    lambda inner: st.one_of(
        st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=5,
)


@SETTINGS
@given(payloads=st.lists(st.dictionaries(st.sampled_from(KEYS), _values, max_size=4), min_size=1, max_size=10), node=_trees)
def test_store_answers_like_the_reference(payloads: list[dict[str, Any]], node: Any) -> None:
    async def run() -> None:
        store = QdrantVectorStore(QdrantVectorStore.Config(dims=4))
        store.capabilities = VectorStoreCapabilities(filter_operators=ALL_OPERATORS)  # type: ignore[misc]
        recs = [
            VectorRecord(f"r{i}", [1.0, i / 10, (i % 3) / 3, (i % 4) / 7 + 0.01], {**p, "user_id": "u", "created_at": f"{i:02d}"})
            for i, p in enumerate(payloads)
        ]
        await store.insert(recs)
        want = [r.id for r in recs if evaluate(node, r.payload)]
        scope = Scope(user_id="u")
        assert [r.id for r in await store.list(scope=scope, filters=node)] == want
        assert sorted(h.id for h in await store.search([1.0, 0.0, 0.0, 0.0], scope=scope, limit=20, filters=node)) == sorted(want)
        if want:
            assert len(await store.search([1.0, 0.0, 0.0, 0.0], scope=scope, limit=1, filters=node)) == 1
        await store.aclose()

    asyncio.run(run())


# ---------------------------------------------------------------------------------------- created_at ranges
_created = st.one_of(
    _stamps,
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "2024-01-01", "2024-01-01 00:00:00", "", 5]),
)
_created_ranges = st.builds(
    lambda op, bound: Condition("created_at", op, bound), st.sampled_from(["gt", "gte", "lt", "lte"]), _stamps
)
_created_trees = st.recursive(
    _created_ranges,
    lambda inner: st.one_of(
        st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=1, max_size=2)),
        st.builds(Not, inner),
    ),
    max_leaves=3,
)


@SETTINGS
@given(stamps=st.lists(st.one_of(st.none(), _created), min_size=1, max_size=12), node=_created_trees)
def test_created_at_ranges_on_the_order_key_answer_like_the_reference(stamps: list[Any], node: Any) -> None:
    async def run() -> None:
        store = QdrantVectorStore(QdrantVectorStore.Config(dims=4))
        recs = [
            VectorRecord(f"r{i}", [1.0, i / 10, (i % 3) / 3, (i % 4) / 7 + 0.01],
                         {"user_id": "u"} if stamp is None else {"user_id": "u", "created_at": stamp})
            for i, stamp in enumerate(stamps)
        ]
        await store.insert(recs)
        want = {r.id for r in recs if evaluate(node, r.payload)}
        scope = Scope(user_id="u")
        assert {r.id for r in await store.list(scope=scope, filters=node)} == want
        assert {h.id for h in await store.search([1.0, 0.0, 0.0, 0.0], scope=scope, limit=20, filters=node)} == want
        await store.aclose()

    asyncio.run(run())


async def test_a_created_at_range_is_narrowed_in_qdrant_to_the_records_in_range() -> None:
    store = QdrantVectorStore(QdrantVectorStore.Config(dims=4))
    start = datetime(2023, 1, 1, tzinfo=UTC)
    stamps = [(start + timedelta(days=i, microseconds=i % 2)).isoformat() for i in range(120)]
    others = ["2023-02-01T00:00:00Z", "2023-02-01 00:00:00", 17]  # not mem7's form: re-checked, never lost
    payloads = [{"user_id": "u", "created_at": s} for s in stamps + others]
    await store.insert([VectorRecord(f"r{i:03d}", [1.0, i / 100, 0.5, 0.25], p) for i, p in enumerate(payloads)])
    node = parse_filters({"created_at": {"gte": "2023-02-01", "lt": "2023-02-08T00:00:00+01:00"}})
    lo, hi = datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 2, 7, 23, tzinfo=UTC)
    in_range = {f"r{i:03d}" for i, s in enumerate(stamps) if lo <= datetime.fromisoformat(s) < hi}
    assert len(in_range) == 7
    want = in_range | {"r120"}  # "2023-02-01T00:00:00Z" >= "2023-02-01T00:00:00+00:00" as strings
    assert {r.id for r in await store.list(scope=Scope(user_id="u"), filters=node)} == want
    got = await store.search([1.0, 0.0, 0.0, 0.0], scope=Scope(user_id="u"), limit=3, filters=node)
    assert len(got) == 3 and {h.id for h in got} <= want
    # What Qdrant itself returns for the translated filter: the range and the two other strings,
    # not the scope's other 113 records.
    flt = qf.combine(qf.scope_conditions([("user_id", "u")]), qf.translate(node).upper)
    name = store.config.collection_name
    counted = await store._call("counting", lambda c: c.count(collection_name=name, count_filter=flt, exact=True))
    assert counted.count == len(in_range) + 2
    await store.aclose()
