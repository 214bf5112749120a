"""The translation of mem7's scope and filters into Pinecone's filter language (``_filters``), held
to the emulator's independent evaluation of that language (``pinecone_emulator.matches``): every
record mem7's reference semantics accepts passes the translated filter (never a lost record), and
the operators the two languages share translate exactly (nothing to drop in the re-check)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pinecone_emulator import BadRequest, matches

from mem7_core.filters import evaluate, parse_filters
from mem7_core.models import Scope
from mem7_core.testing import VectorStoreConformance
from mem7_pinecone._filters import decode, encode, narrow, point_id, where

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0, 1.0, 2**60, float("inf")]),
    st.sampled_from(["a", "B", "ab", "Straße", "é", "", "it's", "%", "x" * 2000]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.lists(st.sampled_from(["a", "B", "é"]), max_size=3),
                   st.dictionaries(st.sampled_from(["a", "b"]), SCALARS, max_size=2))
PAYLOADS = st.dictionaries(st.sampled_from(["k1", "k2", "k3", "user_id", "bad key$"]), VALUES, max_size=4)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=PAYLOADS, spec=VectorStoreConformance._filter_strategy())
def test_the_translation_never_loses_a_matching_record(payload: dict[str, Any], spec: dict[str, Any]) -> None:
    node = parse_filters(spec)
    if evaluate(node, payload):
        assert matches(where(Scope(), node), encode("id-1", payload)), (spec, payload, where(Scope(), node))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=PAYLOADS, spec=VectorStoreConformance._filter_strategy())
def test_shared_operators_on_indexed_values_translate_exactly(payload: dict[str, Any], spec: dict[str, Any]) -> None:
    node = parse_filters(spec)
    ops = _operators(node)
    indexed = all(_indexed(v) for v in payload.values())
    if ops <= {"eq", "ne", "in", "nin", "exists"} and indexed and _values_indexed(node):
        assert matches(where(Scope(), node), encode("id-1", payload)) == evaluate(node, payload), (spec, payload)


INSTANTS = st.builds(
    lambda day, second, micro: f"2024-01-{day:02d}T00:00:{second:02d}{f'.{micro:06d}' if micro else ''}+00:00",
    st.integers(1, 3), st.integers(0, 2), st.sampled_from([0, 1, 500000, 999999]))
TIMES = st.one_of(INSTANTS, st.sampled_from(["2024-01-02", "2024-01-02T00:00:01Z", "yesterday", ""]), st.none(),
                  st.integers(0, 3))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(stored=TIMES, op=st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne"]), bound=INSTANTS,
       negate=st.booleans())
def test_time_ranges_run_in_pinecone_exactly_on_canonical_times(stored: Any, op: str, bound: str,
                                                                negate: bool) -> None:
    spec: dict[str, Any] = {"created_at": {op: bound}}
    node = parse_filters({"NOT": [spec]} if negate else spec)
    payload = {"created_at": stored}
    got = matches(where(Scope(), node), encode("id", payload))
    if evaluate(node, payload):
        assert got, (stored, op, bound, negate)
    if isinstance(stored, str) and stored.endswith("+00:00") and not negate:
        assert got == evaluate(node, payload), (stored, op, bound)  # exact: nothing left to the re-check


def test_time_ranges_translate_to_epoch_seconds() -> None:
    meta = encode("id", {"created_at": "2024-01-02T00:00:00.500000+00:00", "updated_at": "2024-01-02"})
    assert meta["t.created_at"] == 1704153600.5 and "t.updated_at" not in meta
    assert meta["mem7_raw"] == ["updated_at"]  # not canonical: its ranges are left to the re-check
    assert narrow(parse_filters({"created_at": {"gte": "2024-01-02T01:00:00+01:00"}})) == {
        "$or": [{"t.created_at": {"$gte": 1704153600.0}}, {"mem7_raw": {"$in": ["created_at"]}}]}


def _operators(node: Any) -> set[str]:
    from mem7_core.filters import operators_of

    return operators_of(node) - {"AND", "OR", "NOT"}


def _indexed(value: Any) -> bool:
    if isinstance(value, bool) or (isinstance(value, str) and len(value) <= 1024):
        return True
    if isinstance(value, (int, float)):
        return abs(value) <= 2**53
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _values_indexed(node: Any) -> bool:
    from mem7_core.filters import And, Condition, Not

    if isinstance(node, Condition):
        if node.op == "exists":
            return True
        if node.op in ("in", "nin"):
            return bool(node.value) and all(isinstance(v, str) or (isinstance(v, (int, float))
                                                                   and not isinstance(v, bool)) for v in node.value)
        return _indexed(node.value) and not isinstance(node.value, list)
    if isinstance(node, Not):
        return _values_indexed(node.child)
    _ = And
    return all(_values_indexed(c) for c in node.children)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"k": "a"}, {"$or": [{"p.k": {"$eq": "a"}}, {"mem7_raw": {"$in": ["k"]}}]}),
        ({"k": {"ne": 3}}, {"$or": [{"p.k": {"$ne": 3}}, {"p.k": {"$exists": False}}]}),
        ({"k": {"in": ["a", 1]}}, {"$or": [{"p.k": {"$in": ["a", 1]}}, {"mem7_raw": {"$in": ["k"]}}]}),
        ({"k": {"nin": ["a"]}}, {"$or": [{"p.k": {"$nin": ["a"]}}, {"p.k": {"$exists": False}}]}),
        ({"k": {"gte": 2}}, {"$or": [{"p.k": {"$gte": 2}}, {"mem7_raw": {"$in": ["k"]}}]}),
        ({"k": "*"}, {"mem7_keys": {"$in": ["k"]}}),
        ({"NOT": [{"k": "*"}]}, {"$or": [{"mem7_keys": {"$nin": ["k"]}}, {"mem7_keys": {"$exists": False}}]}),
        ({"NOT": [{"k": "a"}]}, {"$or": [{"p.k": {"$ne": "a"}}, {"p.k": {"$exists": False}}]}),
        ({"OR": [{"k": 1}, {"j": {"lt": 0}}]},
         {"$or": [{"$or": [{"p.k": {"$eq": 1}}, {"mem7_raw": {"$in": ["k"]}}]},
                  {"$or": [{"p.j": {"$lt": 0}}, {"mem7_raw": {"$in": ["j"]}}]}]}),
        ({"k": {"gt": "b"}}, None),                 # string ranges: Pinecone's are numeric only
        ({"k": {"icontains": "a"}}, None),          # no substring search in Pinecone
        ({"OR": [{"k": 1}, {"j": {"icontains": "a"}}]}, None),   # an OR needs every branch
        ({"NOT": [{"k": {"gt": 1}}]}, None),       # NOT gt is not lte (absent keys, other types)
    ],
)
def test_translations(spec: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert narrow(parse_filters(spec)) == expected


def test_where_always_has_a_condition_and_the_scope() -> None:
    assert where(Scope(), None) == {"mem7_v": {"$eq": 1}}
    assert where(Scope(user_id="u", run_id="r"), parse_filters({"k": {"icontains": "x"}})) == {
        "$and": [{"mem7_v": {"$eq": 1}}, {"p.user_id": {"$eq": "u"}}, {"p.run_id": {"$eq": "r"}}]}


def test_metadata_holds_only_what_pinecone_stores() -> None:
    payload = {"data": "I like tea", "n": 3, "ok": True, "tags": ["a", "b"], "none": None, "nested": {"a": 1},
               "big": 2**60, "mixed": ["a", 1], "long": "x" * 2000, "bad key$": "v", "empty": []}
    meta = encode("mem7 id ünicode", payload)
    assert decode(meta) == ("mem7 id ünicode", payload)
    assert meta["p.data"] == "I like tea" and meta["p.n"] == 3 and meta["p.ok"] is True
    assert meta["l.tags"] == ["a", "b"]
    assert sorted(meta["mem7_raw"]) == ["big", "empty", "long", "mixed", "nested", "none"]
    assert meta["mem7_keys"] == list(payload)
    for value in meta.values():  # the emulator's check of the documented types
        assert isinstance(value, (str, bool, int, float)) or all(isinstance(v, str) for v in value)
    assert point_id("mem7 id ünicode").isascii() and len(point_id("x" * 5000)) == 36


def test_decode_refuses_what_is_not_a_mem7_record() -> None:
    for meta in (None, {}, {"mem7": 3}, {"mem7": "[1]"}, {"mem7": '{"id": 1, "payload": {}}'}):
        with pytest.raises(ValueError):
            decode(meta)


# ------------------------------------------------------------------ the emulator's language
MD = {"genre": "drama", "year": 2020, "rating": 4.5, "tags": ["a", "b"], "free": True}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"genre": "drama"}, True),
        ({"genre": {"$eq": "comedy"}}, False),
        ({"genre": {"$ne": "comedy"}}, True),
        ({"missing": {"$ne": "x"}}, True),            # MongoDB: an absent field passes $ne and $nin
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$eq": "x"}}, False),
        ({"missing": {"$exists": False}}, True),
        ({"year": {"$gte": 2020, "$lt": 2021}}, True),
        ({"year": {"$in": [2019, 2020]}}, True),
        ({"year": {"$eq": 2020.0}}, True),             # numbers are 64-bit floats
        ({"free": {"$eq": 1}}, False),                 # no coercion: true is not 1
        ({"year": {"$eq": "2020"}}, False),
        ({"genre": {"$gt": 1}}, False),                # a range on a string value: false
        ({"tags": {"$in": ["b", "z"]}}, True),         # a list field: any element
        ({"tags": {"$nin": ["b"]}}, False),
        ({"tags": "a"}, True),
        ({"$or": [{"genre": "comedy"}, {"rating": {"$gt": 4}}]}, True),
        ({"$and": [{"genre": "drama"}, {"rating": {"$gt": 5}}]}, False),
    ],
)
def test_emulator_filter_language(flt: dict[str, Any], expected: bool) -> None:
    assert matches(flt, MD) is expected


@pytest.mark.parametrize("flt", [{"year": {"$gt": "2019"}}, {"year": {"$regex": "x"}}, {"$not": {"a": 1}},
                                 {"$and": []}, {"tags": {"$in": "a"}}, {"genre": {"$eq": None}}, {"free": {}}])
def test_emulator_rejects_what_pinecone_rejects(flt: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        matches(flt, MD)
