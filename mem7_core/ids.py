"""Identifiers and timestamps: UUIDv7 ids (time-ordered) and UTC ISO-8601 times."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from datetime import UTC, datetime

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
    """ISO-8601 in UTC (``+00:00``)."""
    return dt.astimezone(UTC).isoformat()


def text_hash(text: str) -> str:
    """The md5 of a memory's text (the spec's ``hash``; an identity, not a security measure)."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
