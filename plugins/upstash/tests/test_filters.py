"""The filter translation: what is pushed down, that it parses as Upstash's grammar (with the
emulator's strict parser), and that it never loses a record the mem7 filter accepts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upstash_emulator import FilterSyntaxError, glob_match, matches, parse_filter

from mem7_core.filters import evaluate, parse_filters
from mem7_core.models import Scope
from mem7_core.testing.vector_store import FILTER_CASES, FILTER_CORPUS, HOSTILE_STRINGS
from mem7_upstash._filters import (
    MAX_FILTER_CHARS,
    MAX_IN_VALUES,
    glob_literal,
    identifier,
    number_literal,
    string_literal,
    translate,
)

NASTY = [
    *HOSTILE_STRINGS,
    "both ' and \" quotes",
    "trailing backslash\\",
    "\\",
    "'",
    '"',
    "*",
    "?",
    "[abc]",
    "]",
    "[^a-z]*",
    "a*b?c[d]e",
    "tab\there",
    "nul\x00byte",
    "del\x7f",
    "",
    " ",
    "AND OR NOT",
    "') OR HAS FIELD user_id OR ('",
    "\U0001f680\u2028\u00e9",
]


def pushed(filters: dict[str, Any] | None, scope: Scope | None = None) -> str:
    return translate(scope or Scope(), parse_filters(filters)).filter


def no_escapes(text: str) -> None:
    """The emitted filter never needs an escape convention: no backslash anywhere."""
    assert "\\" not in text, text


# ---------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    ("filters", "scope", "want"),
    [
        (None, Scope(user_id="u1"), "user_id = 'u1'"),
        (None, Scope(user_id="u1", agent_id="a", run_id="r"), "user_id = 'u1' AND agent_id = 'a' AND run_id = 'r'"),
        (None, Scope(), ""),
        ({"cat": "x"}, Scope(user_id="u1"), "user_id = 'u1' AND cat = 'x'"),
        ({"s": "it's"}, Scope(), "s = \"it's\""),
        ({"n": 1}, Scope(), "n = 1"),
        ({"n": 2.5}, Scope(), "n = 2.5"),
        ({"n": 1e-10}, Scope(), "n = 0.0000000001"),
        ({"n": -4}, Scope(), "n = -4"),
        ({"flag": True}, Scope(), "flag = true"),
        ({"nul": None}, Scope(), "HAS FIELD nul"),
        ({"n": {"gte": 0, "lt": 10}}, Scope(), "n >= 0 AND n < 10"),
        ({"s": {"gt": "b"}}, Scope(), "HAS FIELD s"),
        ({"cat": {"in": ["x", "y", 3]}}, Scope(), "cat IN ('x', 'y') OR cat = 3"),
        ({"cat": {"in": []}}, Scope(user_id="u1"), None),
        ({"tags": {"contains": "a"}}, Scope(), "tags CONTAINS 'a' OR tags GLOB '*a*'"),
        ({"s": {"contains": "%_*?"}}, Scope(), "s CONTAINS '%_*?' OR s GLOB '*%_[*][?]*'"),
        ({"tags": {"contains": 1}}, Scope(), "HAS FIELD tags"),
        ({"s": {"icontains": "BANANA"}}, Scope(), "HAS FIELD s"),
        ({"n": "*"}, Scope(), "HAS FIELD n"),
        ({"NOT": [{"n": "*"}]}, Scope(), "HAS NOT FIELD n"),
        ({"NOT": [{"cat": {"ne": "x"}}]}, Scope(), "cat = 'x'"),
        ({"NOT": [{"cat": {"nin": ["x"]}}]}, Scope(), "cat IN ('x')"),
        ({"cat": {"ne": "x"}}, Scope(user_id="u1"), "user_id = 'u1'"),
        ({"cat": {"nin": ["x"]}}, Scope(), ""),
        ({"NOT": [{"cat": "x"}]}, Scope(user_id="u1"), "user_id = 'u1'"),
        ({"OR": [{"cat": "x"}, {"n": {"gt": 1}}]}, Scope(user_id="u1"), "user_id = 'u1' AND (cat = 'x' OR n > 1)"),
        ({"OR": [{"cat": "x"}, {"cat": {"ne": "y"}}]}, Scope(user_id="u1"), "user_id = 'u1'"),
        ({"NOT": [{"OR": [{"a": "*"}, {"b": "*"}]}]}, Scope(), "HAS NOT FIELD a AND HAS NOT FIELD b"),
        ({"NOT": [{"a": "*"}, {"b": "*"}]}, Scope(), "HAS NOT FIELD a AND HAS NOT FIELD b"),  # none of them
        ({"NOT": [{"NOT": [{"cat": "y"}]}]}, Scope(), "cat = 'y'"),
        ({"a.b": 1, "with space": "x", "AND": [{"in": 1}]}, Scope(user_id="u"), "user_id = 'u'"),
    ],
)
def test_translation_shapes(filters: dict[str, Any] | None, scope: Scope, want: str | None) -> None:
    plan = translate(scope, parse_filters(filters))
    if want is None:
        assert plan.never
    else:
        assert not plan.never and plan.filter == want
        if want:
            parse_filter(want)  # valid in the grammar


def test_exactness_drives_overfetch() -> None:
    assert translate(Scope(user_id="u"), parse_filters({"cat": "x", "tags": {"contains": "a"}})).exact
    assert translate(Scope(user_id="u"), parse_filters({"n": "*", "NOT": [{"m": "*"}]})).exact
    assert not translate(Scope(user_id="u"), parse_filters({"cat": {"ne": "x"}})).exact
    assert not translate(Scope(user_id="u"), parse_filters({"n": 1})).exact  # 1 may also match true
    assert not translate(Scope(user_id="back\\slash"), None).exact  # GLOB with a wildcard


def test_identifiers() -> None:
    for ok in ("a", "_x", "user_id", "A1_b"):
        assert identifier(ok) == ok
    for bad in ("", "1a", "a.b", "a[0]", "a-b", "a b", "and", "Not", "IN", "glob", "has", "field", "true", "ключ"):
        assert identifier(bad) is None, bad


def test_number_literals() -> None:
    assert number_literal(3) == "3"
    assert number_literal(-0.5) == "-0.5"
    assert number_literal(1e-10) == "0.0000000001"
    assert number_literal(1e21) == "1000000000000000000000"
    assert number_literal(2.0) == "2.0"
    for bad in (True, float("nan"), float("inf"), "1", None):
        assert number_literal(bad) is None
    for v in (3, -0.5, 1e-10, 1e21, 2.0, 123456789.125):
        assert matches(f"n = {number_literal(v)}", {"n": v})


def test_string_literals_need_no_escapes() -> None:
    assert string_literal("plain") == "'plain'"
    assert string_literal("it's") == '"it\'s"'
    assert string_literal('say "hi"') == "'say \"hi\"'"
    for awkward in ("both ' and \"", "back\\slash", "new\nline", "nul\x00", "tab\t"):
        assert string_literal(awkward) is None


@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_hostile_values_round_trip_through_the_parser(value: str) -> None:
    """Equality, ``in`` and ``contains`` on hostile values: the filter parses, has no escapes, and
    matches the value itself, literally (not as a pattern), on the key and in a list."""
    for filters in ({"v": value}, {"v": {"in": [value, "other"]}}, {"v": {"contains": value}}):
        scope = Scope(user_id=value or "u")
        text = pushed(filters, scope)
        no_escapes(text)
        parse_filter(text)
        node = parse_filters(filters)
        hit = {"user_id": scope.user_id, "v": value}
        assert evaluate(node, hit) and matches(text, hit), (filters, text)
        in_list = {"user_id": scope.user_id, "v": [value]}
        if evaluate(node, in_list):
            assert matches(text, in_list), (filters, text)
    pattern, exact = glob_literal(value)
    no_escapes(pattern)
    assert glob_match(pattern[1:-1], value)
    if exact:
        # Metacharacters are literal: the pattern matches nothing but the value.
        for other in (value + "x", "x" + value, value.upper() if value.upper() != value else value + "?"):
            assert not glob_match(pattern[1:-1], other), (value, other)


def test_glob_metacharacters_do_not_wildcard() -> None:
    text = pushed({"v": {"contains": "a*b"}})
    assert matches(text, {"v": "xa*by"})
    assert not matches(text, {"v": "xaZZby"})  # "*" in the value is a literal star
    text = pushed({"v": {"contains": "?"}})
    assert matches(text, {"v": "what?"}) and not matches(text, {"v": "what"})


def test_injection_is_inert() -> None:
    """A value that looks like filter syntax stays inside its literal."""
    evil = "x' OR user_id = 'victim"
    text = pushed({"v": evil}, Scope(user_id="me"))
    assert text == "user_id = 'me' AND v = \"x' OR user_id = 'victim\""
    assert not matches(text, {"user_id": "victim", "v": "x"})
    assert matches(text, {"user_id": "me", "v": evil})


def test_long_in_lists_and_long_filters_degrade_to_a_superset() -> None:
    values = [f"v{i}" for i in range(MAX_IN_VALUES + 1)]
    assert pushed({"k": {"in": values}}) == "HAS FIELD k"
    long_value = "x" * (MAX_FILTER_CHARS + 10)
    plan = translate(Scope(user_id="u"), parse_filters({"k": long_value}))
    assert plan.filter == "user_id = 'u'" and not plan.exact


@pytest.mark.parametrize("case", FILTER_CASES, ids=[name for name, _ in FILTER_CASES])
def test_conformance_cases_are_supersets(case: tuple[str, dict[str, Any]]) -> None:
    """On the conformance corpus, every record the mem7 filter accepts passes the Upstash filter;
    when the translation claims to be exact, it accepts nothing else either."""
    _, filters = case
    node = parse_filters(filters)
    plan = translate(Scope(user_id="cf-user"), node)
    payloads = [{**p, "user_id": "cf-user"} for p in FILTER_CORPUS] + [{**p, "user_id": "cf-other"} for p in FILTER_CORPUS]
    for p in payloads:
        want = Scope(user_id="cf-user").matches(p) and evaluate(node, p)
        if plan.never:
            assert not want
            continue
        got = matches(plan.filter, p)
        assert got or not want, (plan.filter, p)
        if plan.exact:
            assert got == want, (plan.filter, p)


# ---------------------------------------------------------------------------------- property
_keys = st.sampled_from(["k1", "k2", "user_id", "a.b", "with space", "in", "true", "k-1"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 1.0, 1e-7, 1e300]),
    st.sampled_from([*NASTY[:20], "a", "B", "ab", "Straße", "STRASSE", "é"]),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.sampled_from(["x", "y"]), _scalars, max_size=2))
_texts = st.sampled_from([*NASTY[:20], "a", "B", "strasse", "É", ""])
_op_value = st.one_of(
    st.tuples(st.sampled_from(["eq", "ne"]), _scalars),
    st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5]), _texts)),
    st.tuples(st.sampled_from(["in", "nin"]), st.lists(_scalars, max_size=3)),
    st.tuples(st.just("contains"), st.one_of(st.none(), st.booleans(), st.integers(-3, 3), _texts)),
    st.tuples(st.just("icontains"), _texts),
)
_leaf = st.one_of(
    st.builds(lambda k, ov: {k: {ov[0]: ov[1]}}, _keys, _op_value),
    st.builds(lambda k, v: {k: v}, _keys, _scalars.filter(lambda v: v != "*")),
    st.builds(lambda k: {k: "*"}, _keys),
)
_filters = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"AND": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"OR": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"NOT": xs}, st.lists(inner, min_size=1, max_size=2)),
    ),
    max_leaves=6,
)
_payloads = st.lists(st.dictionaries(_keys, _values, max_size=4), min_size=1, max_size=6)
_scopes = st.builds(
    lambda u, a: Scope(user_id=u, agent_id=a),
    st.one_of(st.none(), st.sampled_from(["u1", "it's", "a\\b", "x' OR '1'='1"])),
    st.one_of(st.none(), st.sampled_from(["a1", "both ' \""])),
)


@given(filters=_filters, payloads=_payloads, scope=_scopes)
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_pushdown_is_a_superset(filters: dict[str, Any], payloads: list[dict[str, Any]], scope: Scope) -> None:
    node = parse_filters(filters)
    plan = translate(scope, node)
    if not plan.never and plan.filter:
        no_escapes(plan.filter)
        try:
            parse_filter(plan.filter)
        except FilterSyntaxError as exc:  # pragma: no cover - reported with the filter
            raise AssertionError(f"{plan.filter!r}: {exc}") from None
    for p in payloads:
        if scope.user_id is not None:
            p = {**p, "user_id": scope.user_id}
        want = scope.matches(p) and evaluate(node, p)
        if plan.never:
            assert not want, (filters, p)
            continue
        got = matches(plan.filter, p)
        assert got or not want, (plan.filter, p)
        if plan.exact:
            assert got == want, (plan.filter, p)
