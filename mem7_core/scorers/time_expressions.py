"""Time expressions in a query, as UTC windows ``[start, end)`` relative to a ``now`` (English).

Recognised (case-insensitive; ``now`` is the search's clock, windows are in UTC):

- days: ``today``, ``this morning``/``afternoon``/``evening``, ``tonight``, ``yesterday``,
  ``last night``, ``the day before yesterday``; weekdays (``on Monday``, ``last Friday``,
  ``this Tuesday``; the most recent one, never a plural or a possessive such as ``Friday's``);
- calendar units: ``this``/``last``/``previous`` ``week``/``weekend``/``month``/``year``, ``the year
  before last``; rolling spans: ``the past week``, ``in the last 3 days``, ``over the past few months``;
- distances: ``N hours``/``days``/``weeks``/``months``/``years ago`` (digits or words: ``two``,
  ``a couple of``, ``a few``, ``several``): the calendar unit holding that instant;
- dates: ``2023-05-08``, ``2023-05``, ``8 May 2023``, ``May 8th, 2023``, ``the 8th of May``, ``May 8``
  (a date without a year is its latest occurrence not after ``now``);
- months and years: ``May 2023``, ``in May``, ``last March`` (``May``, ``March``, ``April``, ``June`` and
  ``August`` only next to a day, a year or a word such as ``in``/``last``/``since``: ``may I`` is not a
  month), ``in 2023``, ``2023`` at the end of a clause; seasons with a word or a year before or after
  (``last summer``, ``in the fall``, ``winter 2022``; northern hemisphere);
- bounds: ``since X``/``after X`` (up to ``now``), ``before X``/``prior to X``/``until X``; spans next
  to a date: ``the week before X``, ``two days after X``, ``the weekend before X``.

Not recognised: future expressions (``tomorrow``, ``next week``), vague ones (``recently``), clock
times, numeric dates other than ISO (``05/08/2023`` is ambiguous), other languages. A query with none
of the trigger words costs one regular-expression search.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Window", "time_windows"]

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A span of time ``[start, end)`` a query names, and the words that named it."""

    start: datetime
    end: datetime
    text: str

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def distance(self, t: datetime) -> timedelta:
        """How far ``t`` lies outside the window (zero inside)."""
        if t < self.start:
            return self.start - t
        if t >= self.end:
            return t - self.end
        return timedelta(0)


# ---------------------------------------------------------------------------------------------- words
_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    (("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"),
     ("november", "nov"), ("december", "dec")),
    start=1,
):
    for _n in _names:
        _MONTHS[_n] = _i
_AMBIGUOUS_MONTHS = {"may", "march", "april", "june", "august"}
_FULL_MONTHS = {n for n in _MONTHS if len(n) > 3 and n != "sept"} | {"may"}
_WEEKDAYS = {d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a couple": 2, "couple of": 2,
}
_FEW = {"a few", "few", "several"}
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_RE = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR_RE = r"(?:19\d\d|20\d\d|21\d\d)"
_NUM_RE = "|".join(sorted([*(re.escape(k) for k in _NUMBERS), *(re.escape(k) for k in _FEW)], key=len, reverse=True))
_UNIT_RE = r"(?:hour|day|week|month|year)s?"
_LEAD = r"(?:in|on|during|of|from|last|this|since|before|after|until|till|by|through|around|early|late|mid|back in)"

_TRIGGER = re.compile(
    r"\b(?:\d{4}|today|tonight|yesterday|ago|last|this|past|previous|since|weekend|morning|afternoon|evening|"
    + "|".join(_WEEKDAYS) + "|" + "|".join(_SEASONS) + "|" + _MONTH_RE + r")\b"
    r"|\d(?:st|nd|rd|th)\b"
)
"""The fast pre-check: a query with none of these words names no time."""


# ---------------------------------------------------------------------------------------------- calendar
def _day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _month(year: int, month: int) -> tuple[datetime, datetime]:
    return _month_start(year, month), _month_start(year, month + 1)


def _year(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def _week(t: datetime) -> tuple[datetime, datetime]:
    start = _day(t) - timedelta(days=t.weekday())
    return start, start + timedelta(days=7)


def _unit_of(t: datetime, unit: str) -> tuple[datetime, datetime]:
    """The calendar ``unit`` (hour/day/week/month/year) holding ``t``."""
    if unit == "hour":
        s = t.replace(minute=0, second=0, microsecond=0)
        return s, s + timedelta(hours=1)
    if unit == "day":
        return _day(t), _day(t) + timedelta(days=1)
    if unit == "week":
        return _week(t)
    if unit == "month":
        return _month(t.year, t.month)
    return _year(t.year)


def _back(now: datetime, n: int, unit: str) -> datetime:
    if unit == "hour":
        return now - timedelta(hours=n)
    if unit == "day":
        return now - timedelta(days=n)
    if unit == "week":
        return now - timedelta(weeks=n)
    months = n * (12 if unit == "year" else 1)
    y, m = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, 28)
    return now.replace(year=y, month=m + 1, day=day)


def _safe_date(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _num(word: str) -> tuple[int, int]:
    """A count in words or digits as a range ``(low, high)``: ``a few`` is 2 to 5."""
    w = " ".join(word.split())
    if w in _FEW:
        return 2, 5
    if w.isdigit():
        return int(w), int(w)
    n = _NUMBERS[w]
    return n, n


# ---------------------------------------------------------------------------------------------- patterns
Span = tuple[datetime, datetime]
Handler = Callable[["re.Match[str]", datetime], Span | None]


def _iso_date(m: re.Match[str], now: datetime) -> Span | None:
    y, mo, d = int(m["y"]), int(m["mo"]), m["d"]
    if d is None:
        return _month(y, mo) if 1 <= mo <= 12 else None
    start = _safe_date(y, mo, int(d))
    return (start, start + timedelta(days=1)) if start else None


def _latest(month: int, day: int | None, now: datetime, *, strictly_before: bool = False) -> int:
    """The year of the latest ``month`` (``day``) not after ``now`` (before this month when strict)."""
    y = now.year
    if (month, day or 1) > (now.month, now.day if day else 1) or (strictly_before and month >= now.month):
        y -= 1
    return y


def _day_month(m: re.Match[str], now: datetime) -> Span | None:
    month = _MONTHS[m["m"].rstrip(".")]
    day = int(re.sub(r"\D", "", m["d"]))
    year = int(m["y"]) if m["y"] else _latest(month, day, now)
    start = _safe_date(year, month, day)
    return (start, start + timedelta(days=1)) if start else None


def _month_year(m: re.Match[str], now: datetime) -> Span | None:
    return _month(int(m["y"]), _MONTHS[m["m"].rstrip(".")])


def _month_alone(m: re.Match[str], now: datetime) -> Span | None:
    word = m["m"]
    lead = (m["lead"] or "").strip()
    if word not in _FULL_MONTHS:
        return None  # "jan", "mar", "dec": a name or a verb unless a day or a year stands beside it
    if word in _AMBIGUOUS_MONTHS and not lead:
        return None  # "may I", "March on", "June said"
    month = _MONTHS[word]
    if lead == "this":
        return _month(now.year, month)
    return _month(_latest(month, None, now, strictly_before=lead == "last"), month)


def _year_alone(m: re.Match[str], now: datetime) -> Span | None:
    return _year(int(m["y"]))


def _season(m: re.Match[str], now: datetime) -> Span | None:
    first = _SEASONS[m["s"]]
    if m["y"]:
        year = int(m["y"])
    else:
        lead = (m["lead"] or "").strip()
        if not lead:
            return None
        year = now.year
        start = _month_start(year, first)
        if start > now or (lead == "last" and start + timedelta(days=91) > now):
            year -= 1
    return _month_start(year, first), _month_start(year, first + 3)


def _named_day(m: re.Match[str], now: datetime) -> Span | None:
    today = _day(now)
    word = " ".join(m[0].split())
    if "before yesterday" in word:
        return today - timedelta(days=2), today - timedelta(days=1)
    if word == "yesterday":
        return today - timedelta(days=1), today
    if word == "last night":
        return today - timedelta(hours=12), today + timedelta(hours=6)
    return today, today + timedelta(days=1)


def _weekday(m: re.Match[str], now: datetime) -> Span | None:
    wd = _WEEKDAYS[m["wd"]]
    today = _day(now)
    lead = (m["lead"] or "").strip()
    if lead == "this":
        start = today - timedelta(days=now.weekday()) + timedelta(days=wd)
    else:
        back = (now.weekday() - wd) % 7
        if back == 0 and lead in ("last", "previous"):
            back = 7
        start = today - timedelta(days=back)
    return start, start + timedelta(days=1)


def _calendar_unit(m: re.Match[str], now: datetime) -> Span | None:
    which, unit = m["which"], m["unit"]
    if unit == "weekend":
        sat = _day(now) - timedelta(days=(now.weekday() - 5) % 7)
        if which == "this" and now.weekday() < 5:
            sat += timedelta(days=7)  # the coming one
        elif which != "this" and now.weekday() >= 5:
            sat -= timedelta(days=7)  # the one before the weekend we are in
        return sat, sat + timedelta(days=2)
    if which == "this":
        return _unit_of(now, unit)
    return _unit_of(_back(now, 1, unit), unit)


def _year_before_last(m: re.Match[str], now: datetime) -> Span | None:
    return _year(now.year - 2)


def _rolling(m: re.Match[str], now: datetime) -> Span | None:
    _, high = _num(m["n"]) if m["n"] else (1, 1)
    unit = m["unit"].rstrip("s")
    return _back(now, high, unit), now + timedelta(seconds=1)


def _ago(m: re.Match[str], now: datetime) -> Span | None:
    low, high = _num(m["n"])
    unit = m["unit"].rstrip("s")
    start, _ = _unit_of(_back(now, high, unit), unit)
    _, end = _unit_of(_back(now, low, unit), unit)
    return start, end


_NOT_A_COUNT = (
    r"(?!\s*(?:words|people|calories|dollars|steps|miles|meters|km|kg|pounds|euros|items|units|rows|lines|times))"
)
"""After a number: "in 2000 words" is a count, not a year."""
_B = r"(?<![\w-])"
_E = r"(?![\w-])"
_PATTERNS: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(_B + r"(?P<y>" + _YEAR_RE + r")-(?P<mo>0[1-9]|1[0-2])(?:-(?P<d>[0-3]\d))?" + _E), _iso_date),
    (re.compile(_B + r"(?:the\s+)?(?P<d>" + _DAY_RE + r")\s+(?:of\s+)?(?P<m>" + _MONTH_RE + r")\.?"
                r"(?:,?\s+(?P<y>" + _YEAR_RE + r"))?" + _E), _day_month),
    (re.compile(_B + r"(?P<m>" + _MONTH_RE + r")\.?\s+(?:the\s+)?(?P<d>" + _DAY_RE + r")(?!\d|:|\s*(?:%|people|"
                r"of\b|times|hours|minutes|days))(?:,?\s+(?P<y>" + _YEAR_RE + r"))?" + _E), _day_month),
    (re.compile(_B + r"(?P<m>" + _MONTH_RE + r")\.?,?\s+(?:of\s+)?(?P<y>" + _YEAR_RE + r")" + _E), _month_year),
    (re.compile(_B + r"(?:in\s+|over\s+|during\s+|within\s+|for\s+)?the\s+(?:last|past|previous)\s+(?:(?P<n>"
                + _NUM_RE + r"|\d{1,3})\s+)?(?P<unit>" + _UNIT_RE + r")" + _E), _rolling),
    (re.compile(_B + r"(?:in\s+|over\s+|during\s+)?past\s+(?:(?P<n>" + _NUM_RE + r"|\d{1,3})\s+)?(?P<unit>"
                + _UNIT_RE + r")" + _E), _rolling),
    (re.compile(_B + r"the\s+year\s+before\s+last" + _E), _year_before_last),
    (re.compile(_B + r"(?P<which>this|last|previous)\s+(?P<unit>week|weekend|month|year)" + _E
                + r"(?!\s+(?:or|and)\s+(?:two|so))"), _calendar_unit),
    (re.compile(_B + r"(?P<n>" + _NUM_RE + r"|\d{1,3})\s+(?P<unit>" + _UNIT_RE + r")\s+ago" + _E), _ago),
    (re.compile(_B + r"(?:the\s+day\s+before\s+yesterday|yesterday|last\s+night|today|tonight|this\s+"
                r"(?:morning|afternoon|evening))" + _E), _named_day),
    (re.compile(_B + r"(?:(?P<lead>on|last|previous|this|since|before|after|until)\s+)?(?P<wd>"
                + "|".join(_WEEKDAYS) + r")(?!s\b|'s|’s|[\w-])"), _weekday),
    (re.compile(r"(?:" + _B + r"(?P<lead>last|this|in\s+the|in|during\s+the|during|since|before|after|"
                r"until)\s+)?(?P<s>spring|summer|autumn|fall|winter)(?:\s+(?:of\s+)?(?P<y>" + _YEAR_RE + r"))?"
                + _E), _season),
    (re.compile(r"(?:" + _B + r"(?P<lead>" + _LEAD + r")\s+)?(?P<m>" + "|".join(sorted(_FULL_MONTHS, key=len,
                reverse=True)) + r")(?!'s|’s)" + _E), _month_alone),
    (re.compile(_B + r"(?P<lead>in|since|before|after|during|of|from|until|till|by|through|around|back in|early|"
                r"late|mid|for)\s+(?:the\s+year\s+)?(?P<y>" + _YEAR_RE + r")" + _E + _NOT_A_COUNT), _year_alone),
    (re.compile(_B + r"(?P<y>" + _YEAR_RE + r")(?='s)"), _year_alone),
]

_BOUND_BEFORE = re.compile(r"(?:^|\s)(?P<bound>since|after|before|prior\s+to|until|till|up\s+to)\s+(?:the\s+)?$")
_BOUNDS = ("since", "after", "before", "until", "till")
_LOOK_BACK = 48
"""How far before an expression its bound or anchor words are looked for (characters)."""
MAX_WINDOWS = 16
"""A query naming more times than this keeps this many of them (a bound on the work per query)."""
_ANCHOR = re.compile(
    r"(?:^|\s)(?P<n>" + _NUM_RE + r"|\d{1,3}|the|last|previous)\s+(?P<unit>day|week|weekend|month|year)s?\s+$"
)
"""Before "before X" / "after X": "the week before X", "two days after X" name a span next to X."""


def _anchored(n: str, unit: str, after: bool, start: datetime, end: datetime) -> Span:
    """The span ``n`` ``unit``\\s before ``start`` (or after ``end``): "the week before X" is the 7 days
    up to X, "two weeks before X" the calendar week holding X − 14 days."""
    whole = n in ("the", "last", "previous")
    low, high = (1, 1) if whole else _num(n)
    if unit == "weekend":
        if after:
            sat = _day(end) + timedelta(days=(5 - end.weekday()) % 7 + 7 * (low - 1))
        else:
            sat = _day(start - timedelta(days=1))
            sat -= timedelta(days=(sat.weekday() - 5) % 7)
            if sat + timedelta(days=2) > start:
                sat -= timedelta(days=7)
            sat -= timedelta(days=7 * (low - 1))
        return sat, sat + timedelta(days=2)
    if whole:
        return (end, _back(end, -1, unit)) if after else (_back(start, 1, unit), start)
    if after:
        return _unit_of(_back(start, -low, unit), unit)[0], _unit_of(_back(start, -high, unit), unit)[1]
    return _unit_of(_back(start, high, unit), unit)[0], _unit_of(_back(start, low, unit), unit)[1]


def _bounded(bound: str | None, start: datetime, end: datetime, now: datetime) -> Span | None:
    if bound is None:
        return start, end
    bound = " ".join(bound.split())
    if bound == "since":
        return start, max(end, now + timedelta(seconds=1))
    if bound == "after":
        return (end, now + timedelta(seconds=1)) if end <= now else None
    if bound in ("before", "prior to"):
        return EARLIEST, start
    return EARLIEST, end  # until, till, up to


def time_windows(query: str, now: datetime) -> list[Window]:
    """The time windows ``query`` names, in the order they appear; ``[]`` when it names none.

    :param query: the search text (English).
    :param now: an aware datetime, the instant relative expressions count from.
    """
    text = query.lower().replace("’", "'")
    if _TRIGGER.search(text) is None:
        return []
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Window]] = []
    for pattern, handler in _PATTERNS:
        for m in pattern.finditer(text):
            a, b = m.span()
            if any(a < y and x < b for x, y in taken):
                continue
            span = handler(m, now)
            if span is None:
                continue
            lead = m.groupdict().get("lead")
            bound: str | None = None
            if lead in _BOUNDS:
                bound = lead
            elif (bound_m := _BOUND_BEFORE.search(text, max(0, a - _LOOK_BACK), a)) is not None:
                bound, a = " ".join(bound_m["bound"].split()), bound_m.start("bound")
            anchor = _ANCHOR.search(text, max(0, a - _LOOK_BACK), a) if bound in ("before", "after") else None
            if anchor is not None:  # "the week before X": a span next to X, not everything before it
                bounded: Span | None = _anchored(anchor["n"], anchor["unit"], bound == "after", *span)
                a = anchor.start("n")
                overlapped = [i for i, (x, y) in enumerate(taken) if a < y and x < b]  # "last weekend" in
                for i in reversed(overlapped):  # "last weekend before X" is read with X
                    del taken[i], found[i]
            else:
                bounded = _bounded(bound, span[0], span[1], now)
            if bounded is None or bounded[0] >= bounded[1]:
                continue
            taken.append((a, b))
            found.append((a, Window(bounded[0], bounded[1], text[a:b].strip())))
            if len(found) >= MAX_WINDOWS:
                break
        if len(found) >= MAX_WINDOWS:
            break
    found.sort(key=lambda f: f[0])
    return [w for _, w in found]
