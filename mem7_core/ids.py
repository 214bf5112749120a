"""Identifiers and timestamps: UUIDv7 ids (time-ordered) and UTC ISO-8601 times."""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import uuid
from datetime import UTC, date, datetime

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def uuid7() -> str:
    """A UUIDv7 string (RFC 9562): 48-bit Unix ms, then a 12-bit counter, then random bits.

    Ids made in the same millisecond by this process still sort in creation order.
    """
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _seq = 0
        else:
            _seq = 0
        _last_ms = ms
        seq = _seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """ISO-8601 in UTC (``+00:00``): the canonical form of every time mem7 stores.

    Canonical times order as strings exactly as they order as instants (the fraction is written
    only when non-zero, and ``+`` sorts before ``.``), so a store can compare them as strings.
    """
    return dt.astimezone(UTC).isoformat()


_INSTANT_FORMS = (
    "an ISO-8601 time (2024-05-01T12:00:00+02:00; no offset means UTC; 2024-05-01 means midnight UTC), "
    "a datetime, or Unix epoch seconds"
)


EPOCH_MS_FLOOR = 100_000_000_000
"""Epoch values this large are milliseconds, not seconds (1e11 seconds is the year 5138; 1e11 ms
is March 1973)."""


def parse_instant(value: object, field: str) -> datetime:
    """A caller's time as an aware UTC ``datetime``: the one parser of every time a caller gives.

    Accepts an ISO-8601 string with any offset (``Z`` too), a naive string (UTC), a date-only string
    (midnight UTC), a ``datetime`` (naive means UTC), a ``date`` (midnight UTC), or Unix epoch
    seconds (an int or a finite float). ``iso(parse_instant(v, f))`` is the stored canonical form.

    :raises ValueError: naming ``field``, the value and the accepted forms; epoch values of
        :data:`EPOCH_MS_FLOOR` or more are refused as milliseconds.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value) and abs(value) >= EPOCH_MS_FLOOR:
            raise ValueError(
                f"{field} {value!r} looks like milliseconds since the epoch; "
                "divide by 1000 (Unix epoch seconds expected)"
            )
    try:
        dt = _instant(value)
    except (ValueError, OverflowError, OSError):  # out of datetime's range, or not ISO-8601
        dt = None
    if dt is not None:
        return dt
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise ValueError(f"{field} must be {_INSTANT_FORMS}; got {shown}")


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC) if math.isfinite(value) else None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        dt = datetime.fromisoformat(value.strip())
    else:
        return None
    if dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def text_hash(text: str) -> str:
    """The md5 of a memory's text (the spec's ``hash``; an identity, not a security measure)."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
