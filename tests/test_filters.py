"""The filter language (spec §7): parse errors, the exact reference semantics, and split_scope."""

from __future__ import annotations

import operator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mem7_core.errors import FilterError
from mem7_core.filters import (
    OPERATORS,
    And,
    Condition,
    Not,
    Or,
    evaluate,
    keys_of,
    parse_filters,
    split_scope,
)
from mem7_core.models import SCOPE_KEYS


def holds(filters: dict[str, Any], payload: dict[str, Any]) -> bool:
    return evaluate(parse_filters(filters), payload)


# ------------------------------------------------------------------------------------ parsing
def test_none_and_empty_mean_no_filter():
    assert parse_filters(None) is None
    assert parse_filters({}) is None
    assert evaluate(None, {}) is True


def test_parse_tree_shapes():
    assert parse_filters({"k": 1}) == Condition("k", "eq", 1)
    assert parse_filters({"k": "*"}) == Condition("k", "exists")
    assert parse_filters({"k": {"gte": 1, "lt": 5}}) == And((Condition("k", "gte", 1), Condition("k", "lt", 5)))
    assert parse_filters({"k": {"in": [1, 2]}}) == Condition("k", "in", (1, 2))
    assert parse_filters({"a": 1, "b": 2}) == And((Condition("a", "eq", 1), Condition("b", "eq", 2)))
    assert parse_filters({"OR": [{"a": 1}, {"b": 2}]}) == Or((Condition("a", "eq", 1), Condition("b", "eq", 2)))
    assert parse_filters({"OR": {"a": 1}}) == Condition("a", "eq", 1)  # a lone dict is a one-item list
    assert parse_filters({"NOT": [{"a": 1}]}) == Not(Condition("a", "eq", 1))
    assert parse_filters({"NOT": [{"a": 1}, {"b": 2}]}) == Not(Or((Condition("a", "eq", 1), Condition("b", "eq", 2))))


def test_unknown_operator_names_operator_and_key():
    with pytest.raises(FilterError) as info:
        parse_filters({"colour": {"equals": "red"}})
    msg = str(info.value)
    assert "'equals'" in msg and "'colour'" in msg
    assert "icontains" in msg  # lists the valid ones


def test_exists_is_not_a_user_operator():
    assert "exists" not in OPERATORS
    with pytest.raises(FilterError, match="'exists'"):
        parse_filters({"k": {"exists": True}})


@pytest.mark.parametrize("key", ["and", "or", "not", "And", "Or", "nOt"])
def test_lowercase_logical_key_hint(key):
    with pytest.raises(FilterError) as info:
        parse_filters({key: [{"a": 1}]})
    assert repr(key.upper()) in str(info.value)
    assert "upper case" in str(info.value)


def test_list_value_hint():
    with pytest.raises(FilterError) as info:
        parse_filters({"tags": ["a", "b"]})
    msg = str(info.value)
    assert "'tags'" in msg and "'in'" in msg


@pytest.mark.parametrize(
    "filters, fragment",
    [
        ({"k": {}}, "empty operator dict"),
        ({"k": {"gt": [1]}}, "'gt' needs a number or a string"),
        ({"k": {"lte": None}}, "'lte' needs a number or a string"),
        ({"k": {"gte": {"a": 1}}}, "'gte'"),
        ({"k": {"in": "abc"}}, "'in' needs a list"),
        ({"k": {"nin": 3}}, "'nin' needs a list"),
        ({"k": {"icontains": 3}}, "'icontains' needs a string"),
        ({"k": {"contains": ["a"]}}, "'contains' needs a scalar"),
        ({"k": {"contains": {"a": 1}}}, "'contains' needs a scalar"),
        ({"AND": []}, "AND needs a non-empty list"),
        ({"OR": "x"}, "OR needs a non-empty list"),
        ({"NOT": [{}]}, "NOT contains an empty filter"),
        ({"": 1}, "non-empty strings"),
        ({1: 1}, "non-empty strings"),
    ],
)
def test_malformed_filters(filters, fragment):
    with pytest.raises(FilterError, match=None) as info:
        parse_filters(filters)
    assert fragment in str(info.value)


def test_filters_must_be_a_dict():
    with pytest.raises(FilterError, match="must be a dict"):
        parse_filters([{"a": 1}])  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="must be a dict"):
        parse_filters({"OR": ["a"]})


def test_filter_error_is_value_error():
    assert issubclass(FilterError, ValueError)


def test_keys_of():
    f = parse_filters({"a": 1, "OR": [{"b": {"gt": 1}}, {"NOT": [{"c": "*"}]}]})
    assert keys_of(f) == {"a", "b", "c"}
    assert keys_of(None) == set()


# ------------------------------------------------------------------------------------ semantics
P = {"s": "Hello World", "n": 5, "f": 2.5, "b": True, "z": 0, "nul": None, "tags": ["a", "B", 1, True], "st": "Straße"}


@pytest.mark.parametrize(
    "filters, expected",
    [
        # equality, bool vs int
        ({"n": 5}, True),
        ({"n": 5.0}, True),
        ({"n": 6}, False),
        ({"b": True}, True),
        ({"b": 1}, False),
        ({"z": False}, False),
        ({"z": 0}, True),
        ({"n": {"eq": 5}}, True),
        ({"nul": None}, True),
        ({"s": "hello world"}, False),
        # ne
        ({"n": {"ne": 5}}, False),
        ({"b": {"ne": 1}}, True),
        ({"n": {"ne": "5"}}, True),
        # in / nin
        ({"n": {"in": [1, 5]}}, True),
        ({"n": {"in": [1, 2]}}, False),
        ({"b": {"in": [1]}}, False),
        ({"b": {"in": [1, True]}}, True),
        ({"z": {"in": [False]}}, False),
        ({"n": {"nin": [1, 2]}}, True),
        ({"n": {"nin": [5]}}, False),
        ({"b": {"nin": [1]}}, True),
        ({"n": {"in": []}}, False),
        ({"n": {"nin": []}}, True),
        # ordering
        ({"n": {"gt": 4}}, True),
        ({"n": {"gt": 5}}, False),
        ({"n": {"gte": 5}}, True),
        ({"n": {"lt": 5.5}}, True),
        ({"n": {"lte": 4.99}}, False),
        ({"f": {"gt": 2, "lt": 3}}, True),
        ({"f": {"gt": 2, "lt": 2.5}}, False),
        ({"s": {"gt": "Hello"}}, True),
        ({"s": {"lt": "A"}}, False),
        ({"n": {"gt": "1"}}, False),  # number vs string: false, no coercion
        ({"s": {"lt": 10}}, False),
        ({"b": {"gte": 0}}, False),  # a bool is not a number
        ({"b": {"lte": 1}}, False),
        ({"nul": {"gt": 0}}, False),
        ({"tags": {"gt": "a"}}, False),
        # contains
        ({"s": {"contains": "World"}}, True),
        ({"s": {"contains": "world"}}, False),
        ({"s": {"contains": 5}}, False),
        ({"tags": {"contains": "a"}}, True),
        ({"tags": {"contains": "b"}}, False),
        ({"tags": {"contains": 1}}, True),
        ({"tags": {"contains": True}}, True),
        ({"tags": {"contains": "A"}}, False),
        ({"n": {"contains": 5}}, False),
        ({"nul": {"contains": "x"}}, False),
        # icontains (casefold)
        ({"s": {"icontains": "WORLD"}}, True),
        ({"s": {"icontains": "lo wo"}}, True),
        ({"st": {"icontains": "STRASSE"}}, True),
        ({"st": {"icontains": "ss"}}, True),
        ({"tags": {"icontains": "b"}}, True),
        ({"tags": {"icontains": "A"}}, True),
        ({"tags": {"icontains": "1"}}, False),
        ({"tags": {"icontains": "x"}}, False),
        ({"n": {"icontains": "5"}}, False),
        # "*": key present, any value (even null); a quoted "*" via eq is literal
        ({"nul": "*"}, True),
        ({"z": "*"}, True),
        ({"missing": "*"}, False),
        ({"s": {"eq": "*"}}, False),
        # several keys and operators are ANDed
        ({"n": 5, "b": True}, True),
        ({"n": 5, "b": False}, False),
        ({"n": {"gte": 5, "ne": 5}}, False),
    ],
)
def test_semantics(filters, expected):
    assert holds(filters, P) is expected


@pytest.mark.parametrize("op, value", [("eq", 1), ("gt", 0), ("gte", 0), ("lt", 9), ("lte", 9), ("in", [1]),
                                       ("contains", "a"), ("icontains", "a"), ("eq", None)])
def test_missing_key_fails_positive_operators(op, value):
    assert holds({"absent": {op: value}}, P) is False


@pytest.mark.parametrize("op, value", [("ne", 1), ("ne", None), ("nin", [1]), ("nin", [])])
def test_missing_key_passes_ne_and_nin(op, value):
    assert holds({"absent": {op: value}}, P) is True


def test_plain_equality_on_missing_key_fails_even_for_none():
    assert holds({"absent": None}, P) is False
    assert holds({"nul": None}, P) is True


def test_logic_and_nesting():
    assert holds({"OR": [{"n": 1}, {"n": 5}]}, P)
    assert not holds({"OR": [{"n": 1}, {"n": 2}]}, P)
    assert holds({"AND": [{"n": 5}, {"b": True}]}, P)
    assert not holds({"AND": [{"n": 5}, {"b": False}]}, P)
    # NOT of several is "none of them" (not (a or b)), as mem0 and the original mem7 read it
    assert not holds({"NOT": [{"n": 5}, {"b": False}]}, P)
    assert not holds({"NOT": [{"n": 5}, {"b": True}]}, P)
    assert holds({"NOT": [{"n": 6}, {"b": False}]}, P)
    assert not holds({"NOT": [{"n": 5}]}, P)
    assert holds({"NOT": {"missing": "*"}}, P)
    # nested: (n > 3 and (s has "world" or tag x)) and not (b is False)
    nested = {
        "AND": [
            {"n": {"gt": 3}},
            {"OR": [{"s": {"icontains": "world"}}, {"tags": {"contains": "x"}}]},
        ],
        "NOT": [{"b": False}],
    }
    assert holds(nested, P)
    assert not holds(nested, {**P, "s": "nothing"})
    assert holds({"OR": [{"AND": [{"n": 5}, {"NOT": [{"OR": [{"b": False}, {"z": 1}]}]}]}, {"n": 0}]}, P)
    # logical keys combine with plain keys by AND
    assert not holds({"n": 5, "OR": [{"b": False}, {"z": 1}]}, P)


# ------------------------------------------------------------------------------------ split_scope
def test_split_scope():
    assert split_scope(None, SCOPE_KEYS) == ({}, {})
    assert split_scope({}, SCOPE_KEYS) == ({}, {})
    scope, rest = split_scope({"user_id": "u1", "agent_id": "a", "topic": "x"}, SCOPE_KEYS)
    assert scope == {"user_id": "u1", "agent_id": "a"}
    assert rest == {"topic": "x"}


def test_split_scope_keeps_non_plain_scope_ids_as_filters():
    filters = {
        "user_id": "*",
        "agent_id": {"in": ["a", "b"]},
        "run_id": 7,
        "OR": [{"user_id": "u2"}],
    }
    scope, rest = split_scope(filters, SCOPE_KEYS)
    assert scope == {}
    assert rest == filters


def test_split_scope_only_named_keys():
    scope, rest = split_scope({"user_id": "u", "run_id": "r"}, ("user_id",))
    assert scope == {"user_id": "u"}
    assert rest == {"run_id": "r"}


# ------------------------------------------------------------------------------------ property test
KEYS = ("a", "b", "c")
_text = st.text(alphabet="aAbBsSßẞé", max_size=3)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
    _text,
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3))
_payload = st.dictionaries(st.sampled_from(KEYS), _value, max_size=3)
_number_or_text = st.one_of(st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), _text)
_op_value = {
    "eq": _scalar,
    "ne": _scalar,
    "gt": _number_or_text,
    "gte": _number_or_text,
    "lt": _number_or_text,
    "lte": _number_or_text,
    "in": st.lists(_scalar, max_size=3),
    "nin": st.lists(_scalar, max_size=3),
    "contains": _scalar,
    "icontains": _text,
}
_ops = st.dictionaries(st.sampled_from(sorted(_op_value)), st.none(), min_size=1, max_size=3).flatmap(
    lambda d: st.fixed_dictionaries({op: _op_value[op] for op in d})
)
_spec = st.one_of(_scalar.filter(lambda v: v != "*"), st.just("*"), _ops)
_flat = st.dictionaries(st.sampled_from(KEYS), _spec, min_size=1, max_size=3)
_filter = st.one_of(
    _flat,
    st.builds(lambda logic, children: {logic: children}, st.sampled_from(["AND", "OR", "NOT"]),
              st.lists(_flat, min_size=1, max_size=3)),
    st.builds(lambda flat, logic, children: {**flat, logic: children}, _flat,
              st.sampled_from(["AND", "OR", "NOT"]), st.lists(_flat, min_size=1, max_size=3)),
)


def _same(a: Any, b: Any) -> bool:
    """Oracle equality: Python's ==, except that True/False never equal 1/0 (or 1.0/0.0)."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return a == b


def _oracle_op(op: str, want: Any, key: str, payload: dict[str, Any]) -> bool:
    if key not in payload:
        return op in ("ne", "nin")
    have = payload[key]
    if op == "eq":
        return _same(have, want)
    if op == "ne":
        return not _same(have, want)
    if op == "in":
        return any(_same(have, w) for w in want)
    if op == "nin":
        return all(not _same(have, w) for w in want)
    if op in ("gt", "gte", "lt", "lte"):
        def kind(v: Any) -> str:
            if type(v) in (int, float):
                return "num"
            return "str" if type(v) is str else "other"
        if kind(have) == "other" or kind(have) != kind(want):
            return False
        return {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[op](have, want)
    if op == "contains":
        if type(have) is str:
            return type(want) is str and have.find(want) >= 0
        if type(have) is list:
            return any(_same(item, want) for item in have)
        return False
    if op == "icontains":
        if type(have) is str:
            return have.casefold().find(want.casefold()) >= 0
        if type(have) is list:
            return any(type(item) is str and item.casefold() == want.casefold() for item in have)
        return False
    raise AssertionError(op)


def oracle(filters: dict[str, Any], payload: dict[str, Any]) -> bool:
    """A straightforward reading of §7, written independently of mem7_core.filters."""
    results = []
    for key, spec in filters.items():
        if key == "AND":
            results.append(all(oracle(c, payload) for c in spec))
        elif key == "OR":
            results.append(any(oracle(c, payload) for c in spec))
        elif key == "NOT":
            results.append(not any(oracle(c, payload) for c in spec))
        elif isinstance(spec, dict):
            results.append(all(_oracle_op(op, v, key, payload) for op, v in spec.items()))
        elif spec == "*":
            results.append(key in payload)
        else:
            results.append(_oracle_op("eq", spec, key, payload))
    return all(results)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(filters=_filter, payloads=st.lists(_payload, min_size=1, max_size=5))
def test_parse_then_evaluate_agrees_with_oracle(filters, payloads):
    tree = parse_filters(filters)
    for payload in payloads:
        assert evaluate(tree, payload) is oracle(filters, payload), (filters, payload)
