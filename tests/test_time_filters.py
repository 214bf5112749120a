"""``created_at`` / ``updated_at`` filters compare instants (spec §7), whatever form the bound takes.

The bound is normalised once, in the contract (:func:`mem7_core.filters.parse_filters`, through
:func:`mem7_core.ids.parse_instant`), to the canonical form the engine stores, so every vector store
compares plain strings and gets the instant order (the store side is the conformance suite's
``test_time_range_filters_compare_instants``). Here: the parser, the normalisation, imported times
in other offsets, and the whole path through ``AsyncMemory`` and REST on the default flat store.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mem7_core.config import MemoryConfig
from mem7_core.engine.memory import AsyncMemory
from mem7_core.errors import FilterError
from mem7_core.filters import And, Condition, parse_filters
from mem7_core.ids import iso, parse_instant
from mem7_core.server.rest import create_app

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


# ------------------------------------------------------------------------------------ parse_instant
@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2023-05-01T12:00:00+02:00", "2023-05-01T10:00:00+00:00"),
        ("2023-05-01T12:00:00-05:30", "2023-05-01T17:30:00+00:00"),
        ("2023-05-01T12:00:00Z", "2023-05-01T12:00:00+00:00"),
        ("2023-05-01T12:00:00.250+00:00", "2023-05-01T12:00:00.250000+00:00"),
        ("2023-05-01T12:00:00.000000+00:00", "2023-05-01T12:00:00+00:00"),
        ("2023-05-01 12:00:00", "2023-05-01T12:00:00+00:00"),
        ("2023-05-01", "2023-05-01T00:00:00+00:00"),
        ("  2023-05-01  ", "2023-05-01T00:00:00+00:00"),
        ("2023-05-01T00:30:00+01:00", "2023-04-30T23:30:00+00:00"),
        (datetime(2023, 5, 1, 12, tzinfo=timezone(timedelta(hours=-3))), "2023-05-01T15:00:00+00:00"),
        (datetime(2023, 5, 1, 12), "2023-05-01T12:00:00+00:00"),
        (date(2023, 5, 1), "2023-05-01T00:00:00+00:00"),
        (0, "1970-01-01T00:00:00+00:00"),
        (1685577600, "2023-06-01T00:00:00+00:00"),
        (1684152000.5, "2023-05-15T12:00:00.500000+00:00"),
        (-86400, "1969-12-31T00:00:00+00:00"),
    ],
)
def test_parse_instant_gives_an_aware_utc_instant(value: object, want: str) -> None:
    got = parse_instant(value, "timestamp")
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert iso(got) == want


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", "   ", "2023-02-30", "2023-05-01T25:00:00", "0001-01-01T00:00:00+01:00", "1700000000",
     None, True, False, math.nan, math.inf, -math.inf, [2023, 5, 1], {"year": 2023}],
)
def test_parse_instant_refuses_anything_else_naming_the_field_and_the_forms(value: object) -> None:
    with pytest.raises(ValueError, match=r"^created_at must be an ISO-8601 time .*Unix epoch seconds; got ") as info:
        parse_instant(value, "created_at")
    assert repr(value)[:60] in str(info.value)


# ------------------------------------------------------------------------------------ the contract
def test_time_bounds_are_normalised_to_the_stored_form_when_parsed() -> None:
    node = parse_filters({"created_at": {"gte": "2023-05-01", "lt": "2023-06-01T00:00:00+02:00"}})
    assert node == And((Condition("created_at", "gte", "2023-05-01T00:00:00+00:00"),
                        Condition("created_at", "lt", "2023-05-31T22:00:00+00:00")))
    assert parse_filters({"updated_at": 1685577600}) == Condition("updated_at", "eq", "2023-06-01T00:00:00+00:00")
    assert parse_filters({"last_accessed_at": {"ne": "2023-06-01"}}) == (
        Condition("last_accessed_at", "ne", "2023-06-01T00:00:00+00:00")
    )
    assert parse_filters({"created_at": {"in": ["2023-05-01", 0]}}) == Condition(
        "created_at", "in", ("2023-05-01T00:00:00+00:00", "1970-01-01T00:00:00+00:00")
    )
    # not a bound: left as written (a substring of the stored text, key presence)
    assert parse_filters({"created_at": {"contains": "2023-05"}}) == Condition("created_at", "contains", "2023-05")
    assert parse_filters({"created_at": "*"}) == Condition("created_at", "exists")
    # any other key keeps the plain semantics: strings compare as strings
    assert parse_filters({"when": {"gte": "2023-05-01"}}) == Condition("when", "gte", "2023-05-01")


@pytest.mark.parametrize(
    ("filters", "where"),
    [
        ({"created_at": {"gte": "last week"}}, "Filter on 'created_at': the 'gte' value"),
        ({"updated_at": {"lt": None}}, "Filter on 'updated_at': the 'lt' value"),
        ({"created_at": "2023-13-01"}, "Filter on 'created_at': the 'eq' value"),
        ({"created_at": {"in": ["2023-05-01", "soon"]}}, "Filter on 'created_at': the 'in' value"),
        ({"OR": [{"cat": "x"}, {"updated_at": {"ne": True}}]}, "Filter on 'updated_at': the 'ne' value"),
    ],
)
def test_a_bad_time_bound_is_a_filter_error_naming_the_key_and_the_fix(filters: dict[str, Any], where: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filters(filters)
    message = str(info.value)
    assert message.startswith(where) and "ISO-8601" in message and "epoch seconds" in message


# ------------------------------------------------------------------------------------ the engine
CLOCK = [datetime(2023, 4, 30, 23, 0, tzinfo=UTC)]


@pytest.fixture
async def mem():
    engine = AsyncMemory(BASE, clock=lambda: CLOCK[0])
    yield engine
    await engine.aclose()


async def _seed(mem: AsyncMemory) -> dict[str, str]:
    """Memories of ``u`` (and their twins for ``v``) added at known times, and imported ones in
    other offsets; returns text -> id for ``u``."""
    added = [
        ("april", datetime(2023, 4, 30, 23, 59, 59, 999999, tzinfo=UTC), "y"),
        ("may first", datetime(2023, 5, 1, tzinfo=UTC), "x"),
        ("mid may", datetime(2023, 5, 15, 12, tzinfo=UTC), "y"),
        ("june in paris", datetime(2023, 5, 31, 22, tzinfo=UTC), "y"),  # 2023-06-01T00:00:00+02:00
    ]
    for text, when, cat in added:
        CLOCK[0] = when
        for user in ("u", "v"):
            await mem.add(text, user_id=user, infer=False, metadata={"cat": cat})
    await mem.import_memories([
        # 2023-05-31T21:59:59Z, written in +02:00: inside May in UTC, though its text says June
        {"memory": "late may, said in berlin", "user_id": "u", "created_at": "2023-05-31T23:59:59+02:00",
         "updated_at": "2023-06-02T01:00:00+02:00", "metadata": {"cat": "x"}},
        # naive: UTC
        {"memory": "june second", "user_id": "u", "created_at": "2023-06-02 00:00:00"},
    ])
    items = (await mem.get_all(user_id="u"))["results"]
    return {i["memory"]: i["id"] for i in items}


async def _texts(mem: AsyncMemory, filters: dict[str, Any], *, search: bool = False) -> list[str]:
    if search:
        found = await mem.search("what happened", user_id="u", filters=filters)
        return sorted(i["memory"] for i in found["results"])
    return [i["memory"] for i in (await mem.get_all(user_id="u", filters=filters))["results"]]


async def test_imported_times_in_other_offsets_are_stored_in_utc(mem: AsyncMemory) -> None:
    await _seed(mem)
    items = {i["memory"]: i for i in (await mem.get_all(user_id="u"))["results"]}
    assert items["late may, said in berlin"]["created_at"] == "2023-05-31T21:59:59+00:00"
    assert items["late may, said in berlin"]["updated_at"] == "2023-06-01T23:00:00+00:00"
    assert items["june second"]["created_at"] == items["june second"]["updated_at"] == "2023-06-02T00:00:00+00:00"
    assert items["june in paris"]["created_at"] == "2023-05-31T22:00:00+00:00"


@pytest.mark.parametrize("search", [False, True], ids=["get_all", "search"])
async def test_time_ranges_through_the_engine_select_by_instant(mem: AsyncMemory, search: bool) -> None:
    await _seed(mem)
    may = {"created_at": {"gte": "2023-05-01", "lt": "2023-06-01T00:00:00+02:00"}}
    want = ["may first", "mid may", "late may, said in berlin"]
    assert await _texts(mem, may, search=search) == (sorted(want) if search else want)
    # the same range in other forms: epoch seconds, a datetime in another offset, UTC with Z
    for bounds in (
        {"gte": 1682899200, "lt": 1685570400},
        {"gte": datetime(2023, 4, 30, 20, tzinfo=timezone(timedelta(hours=-4))), "lte": "2023-05-31T21:59:59.999999Z"},
    ):
        assert await _texts(mem, {"created_at": bounds}, search=search) == (sorted(want) if search else want)
    # open ranges, bounds excluded and included exactly
    after = ["mid may", "late may, said in berlin", "june in paris", "june second"]
    assert await _texts(mem, {"created_at": {"gt": "2023-05-01"}}, search=search) == (
        sorted(after) if search else after
    )
    assert await _texts(mem, {"created_at": {"lte": "2023-05-01T02:00:00+02:00"}}, search=search) == (
        sorted(["april", "may first"]) if search else ["april", "may first"]
    )
    # with a metadata filter, and on updated_at
    assert await _texts(mem, {**may, "cat": "x"}, search=search) == (
        sorted(["may first", "late may, said in berlin"]) if search else ["may first", "late may, said in berlin"]
    )
    assert await _texts(mem, {"updated_at": {"gte": "2023-06-01"}}, search=search) == (
        sorted(["late may, said in berlin", "june second"]) if search else ["late may, said in berlin", "june second"]
    )
    assert await _texts(mem, {"created_at": "2023-06-01T00:00:00+02:00"}, search=search) == ["june in paris"]


async def test_time_ranges_never_reach_another_scope(mem: AsyncMemory) -> None:
    await _seed(mem)
    found = await mem.get_all(user_id="v", filters={"created_at": {"gte": "2023-05-01"}})
    assert sorted(i["memory"] for i in found["results"]) == ["june in paris", "may first", "mid may"]
    assert {i["user_id"] for i in found["results"]} == {"v"}


async def test_a_bad_time_bound_is_refused_before_anything_is_read(mem: AsyncMemory) -> None:
    with pytest.raises(FilterError, match=r"Filter on 'created_at': the 'gte' value must be an ISO-8601 time"):
        await mem.search("x", user_id="u", filters={"created_at": {"gte": "last may"}})
    with pytest.raises(FilterError, match=r"Filter on 'updated_at': the 'lt' value"):
        await mem.get_all(user_id="u", filters={"updated_at": {"lt": [2023]}})


# ------------------------------------------------------------------------------------ REST
def test_time_ranges_through_rest() -> None:
    engine = AsyncMemory(BASE, clock=lambda: CLOCK[0])
    app = create_app(MemoryConfig.model_validate(BASE), memory=engine)
    with TestClient(app) as http:
        for text, when in (("before", "2023-04-30T23:00:00+00:00"), ("inside", "2023-05-31T21:00:00+00:00"),
                           ("after", "2023-05-31T22:00:00+00:00")):
            CLOCK[0] = datetime.fromisoformat(when)
            assert http.post("/memories", json={"messages": text, "user_id": "u", "infer": False}).status_code == 200
        may = {"created_at": {"gte": "2023-05-01", "lt": "2023-06-01T00:00:00+02:00"}}
        r = http.post("/memories/search", json={"query": "q", "user_id": "u", "filters": may})
        assert r.status_code == 200, r.text
        assert [i["memory"] for i in r.json()["results"]] == ["inside"]
        r = http.get("/memories", params={"user_id": "u", "filters": json.dumps({"created_at": {"gte": 1685570400}})})
        assert r.status_code == 200, r.text
        assert [i["memory"] for i in r.json()["results"]] == ["after"]
        bad = http.get("/memories", params={"user_id": "u", "filters": json.dumps({"created_at": {"lt": "soon"}})})
        assert bad.status_code == 422
        (detail,) = bad.json()["detail"]
        assert detail["loc"] == ["query", "filters"] and "'created_at'" in detail["msg"] and "ISO-8601" in detail["msg"]
