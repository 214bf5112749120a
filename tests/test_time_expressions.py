"""The time-expression recogniser: each kind of expression as UTC windows relative to a fixed now; traps give none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mem7_core.scorers.time_expressions import EARLIEST, MAX_WINDOWS, time_windows

NOW = datetime(2024, 6, 12, 15, 30, tzinfo=UTC)  # a Wednesday


def d(y: int, m: int, day: int, h: int = 0) -> datetime:
    return datetime(y, m, day, h, tzinfo=UTC)


SOON = NOW + timedelta(seconds=1)

CASES = [
    # days
    ("what did I do yesterday", d(2024, 6, 11), d(2024, 6, 12)),
    ("notes from today", d(2024, 6, 12), d(2024, 6, 13)),
    ("what did I eat this morning", d(2024, 6, 12), d(2024, 6, 13)),
    ("the day before yesterday", d(2024, 6, 10), d(2024, 6, 11)),
    ("who called last night", d(2024, 6, 11, 12), d(2024, 6, 12, 6)),
    ("what happened on Friday", d(2024, 6, 7), d(2024, 6, 8)),
    ("what happened on Wednesday", d(2024, 6, 12), d(2024, 6, 13)),
    ("last Wednesday's plan? no: last Wednesday", d(2024, 6, 5), d(2024, 6, 6)),
    # calendar units
    ("what did I do last week", d(2024, 6, 3), d(2024, 6, 10)),
    ("what did we agree this week", d(2024, 6, 10), d(2024, 6, 17)),
    ("expenses this month", d(2024, 6, 1), d(2024, 7, 1)),
    ("trips last month", d(2024, 5, 1), d(2024, 6, 1)),
    ("books I read last year", d(2023, 1, 1), d(2024, 1, 1)),
    ("goals this year", d(2024, 1, 1), d(2025, 1, 1)),
    ("the year before last", d(2022, 1, 1), d(2023, 1, 1)),
    ("what did I do last weekend", d(2024, 6, 8), d(2024, 6, 10)),
    # rolling spans
    ("anything in the past 3 days", NOW - timedelta(days=3), SOON),
    ("over the past few weeks", NOW - timedelta(weeks=5), SOON),
    ("in the last week", NOW - timedelta(weeks=1), SOON),
    # distances
    ("two weeks ago", d(2024, 5, 27), d(2024, 6, 3)),
    ("3 days ago", d(2024, 6, 9), d(2024, 6, 10)),
    ("a few days ago", d(2024, 6, 7), d(2024, 6, 11)),
    ("a couple of months ago", d(2024, 4, 1), d(2024, 5, 1)),
    ("a year ago", d(2023, 1, 1), d(2024, 1, 1)),
    ("an hour ago", d(2024, 6, 12, 14), d(2024, 6, 12, 15)),
    # dates
    ("on 8 May 2023", d(2023, 5, 8), d(2023, 5, 9)),
    ("May 8th, 2023", d(2023, 5, 8), d(2023, 5, 9)),
    ("the 8th of May", d(2024, 5, 8), d(2024, 5, 9)),
    ("on July 4", d(2023, 7, 4), d(2023, 7, 5)),  # no year: its latest occurrence not after now
    ("2023-05-08", d(2023, 5, 8), d(2023, 5, 9)),
    ("the 2023-05 report", d(2023, 5, 1), d(2023, 6, 1)),
    # months, years, seasons
    ("what did I do last May", d(2024, 5, 1), d(2024, 6, 1)),
    ("in June", d(2024, 6, 1), d(2024, 7, 1)),
    ("last June", d(2023, 6, 1), d(2023, 7, 1)),
    ("December", d(2023, 12, 1), d(2024, 1, 1)),
    ("Dec 2022", d(2022, 12, 1), d(2023, 1, 1)),
    ("in 2023", d(2023, 1, 1), d(2024, 1, 1)),
    ("plans for 2025", d(2025, 1, 1), d(2026, 1, 1)),
    ("2021's highlights", d(2021, 1, 1), d(2022, 1, 1)),
    ("last summer", d(2023, 6, 1), d(2023, 9, 1)),
    ("in the fall", d(2023, 9, 1), d(2023, 12, 1)),
    ("the summer of 2021", d(2021, 6, 1), d(2021, 9, 1)),
    # bounds
    ("since March", d(2024, 3, 1), SOON),
    ("since 2020", d(2020, 1, 1), SOON),
    ("after June 2023", d(2023, 7, 1), SOON),
    ("before 2022", EARLIEST, d(2022, 1, 1)),
    ("prior to last month", EARLIEST, d(2024, 5, 1)),
    ("until May 2023", EARLIEST, d(2023, 6, 1)),
    # spans next to a date
    ("what did I do the week before August 3, 2023", d(2023, 7, 27), d(2023, 8, 3)),
    ("the puppy I got two weeks before August 11, 2023", d(2023, 7, 24), d(2023, 7, 31)),
    ("the day after May 3, 2023", d(2023, 5, 4), d(2023, 5, 5)),
    ("the month before June 2023", d(2023, 5, 1), d(2023, 6, 1)),
    ("last weekend before April 10, 2023", d(2023, 4, 8), d(2023, 4, 10)),
]


@pytest.mark.parametrize(("query", "start", "end"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_expression(query: str, start: datetime, end: datetime) -> None:
    windows = time_windows(query, NOW)
    assert [(w.start, w.end) for w in windows] == [(start, end)], windows


TRAPS = [
    "may I ask you something", "you may go now", "March on, soldiers", "wait a second", "notes for Friday's meeting",
    "what about Mondays", "did I fall", "a 2000 word essay", "room 2023", "in 2000 words or fewer",
    "jan said hi", "I met Jan 5 people", "the august company", "how do I deploy", "last but not least",
    "this is great", "past tense", "what will I do tomorrow", "June said she likes tea", "a few days off",
    "",
]


@pytest.mark.parametrize("query", TRAPS)
def test_traps_give_no_window(query: str) -> None:
    assert time_windows(query, NOW) == []


def test_several_expressions_in_order_and_their_words() -> None:
    windows = time_windows("between what I said yesterday and in 2023", NOW)
    assert [w.text for w in windows] == ["yesterday", "in 2023"]


def test_now_in_another_offset_counts_in_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 2024-06-13 00:30 in Tokyo is 2024-06-12 15:30 UTC: "yesterday" is the UTC day before.
    [w] = time_windows("yesterday", datetime(2024, 6, 13, 0, 30, tzinfo=tokyo))
    assert (w.start, w.end) == (d(2024, 6, 11), d(2024, 6, 12))


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        time_windows("yesterday", datetime(2024, 6, 12))


def test_contains_and_distance() -> None:
    [w] = time_windows("in 2023", NOW)
    assert w.contains(d(2023, 1, 1)) and not w.contains(d(2024, 1, 1))
    assert w.distance(d(2024, 1, 3)) == timedelta(days=2)
    assert w.distance(d(2022, 12, 31)) == timedelta(days=1)
    assert w.distance(d(2023, 7, 1)) == timedelta(0)


def test_a_query_naming_very_many_times_keeps_a_bounded_number() -> None:
    query = " and ".join(f"in {year}" for year in range(1950, 2050))
    windows = time_windows(query, NOW)
    assert len(windows) == MAX_WINDOWS
    assert [w.start.year for w in windows] == list(range(1950, 1950 + MAX_WINDOWS))
