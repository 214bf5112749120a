"""The history-store conformance suite every ``HistoryStore`` plugin must pass.

Subclass it in the provider's tests and supply one async fixture, ``history_store``, that yields a
fresh, empty store (and closes it afterwards)::

    import pytest
    from mem7_core.testing import HistoryConformance

    class TestMyHistory(HistoryConformance):
        @pytest.fixture
        async def history_store(self, tmp_path):
            store = MyHistory(MyHistory.Config(path=str(tmp_path / "h.db")))
            yield store
            await store.aclose()

Tests are ``async def``, run by pytest-asyncio; the core's pytest plugin
(:mod:`mem7_core.testing.pytest_plugin`) runs them with no configuration of the provider's own.

Knobs a subclass may override:

- ``supports_persistence``: set True and override :meth:`HistoryConformance.reopen` (close the
  store and open a new one on the same data) to run the persistence tests.
- ``rejects_duplicate_ids``: event ids are unique; by default the suite checks that a batch
  repeating an existing id fails as a whole (which is also how it checks atomicity). Set False
  for a store that ignores or upserts duplicates; the atomicity test is then skipped.

:func:`write_events_worker` is a helper for multi-process tests: run it in several processes
(``multiprocessing`` with the ``spawn`` context) against the same database.

This module imports pytest, so it is only imported by tests (``import mem7_core`` never loads it).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from ..models import HistoryEvent
from ..providers.history import HISTORY_COLUMNS, HistoryStore
from .registration import assert_registers

_BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
_SEQ = itertools.count()

#: Texts that break naive SQL, JSON or encoding handling; they must come back byte for byte.
HOSTILE_TEXTS: tuple[str, ...] = (
    "it's",
    'say "hi"',
    "Robert'); DROP TABLE history;--",
    "' OR '1'='1",
    "%_\\ LIKE wildcards",
    "naïve café — Straße, ÉLODIE, 東京, emoji 🧠",
    "line one\nline two\ttab\r\n",
    "",
    "x" * 10_000,
)


def timestamp(seq: int) -> str:
    """An ISO-8601 UTC timestamp ``seq`` milliseconds after a fixed base (sorts as text too)."""
    return (_BASE_TIME + timedelta(milliseconds=seq)).isoformat()


def make_event(
    memory_id: str,
    event: str = "ADD",
    *,
    old: str | None = None,
    new: str | None = "text",
    created_at: str | None = None,
    **fields: Any,
) -> HistoryEvent:
    """A history event with a fresh id and, unless given, a creation time later than the last one."""
    return HistoryEvent(
        id=fields.pop("id", None) or str(uuid.uuid4()),
        memory_id=memory_id,
        old_memory=old,
        new_memory=new,
        event=event,
        created_at=created_at or timestamp(next(_SEQ)),
        **fields,
    )


def _dump(events: Sequence[HistoryEvent]) -> list[dict[str, Any]]:
    return [e.model_dump() for e in events]


def write_events_worker(provider: str, config: dict[str, Any], memory_id: str, count: int, prefix: str) -> None:
    """Write ``count`` events for ``memory_id``, one transaction each, from a fresh store instance.

    :param provider: the store class as ``"package.module:ClassName"`` (importable in a child process).
    :param config: the store's config section.
    :param prefix: prepended to each event id (``f"{prefix}-{i}"``), so callers can count rows per writer.
    """
    module_name, _, class_name = provider.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)

    async def run() -> None:
        store = cls.from_config(config)
        try:
            for i in range(count):
                await store.add_events(
                    [make_event(memory_id, id=f"{prefix}-{i}", new=f"{prefix} {i}", actor_id=prefix)]
                )
        finally:
            await store.aclose()

    asyncio.run(run())


class HistoryConformance:
    """Behaviour every history store must show. Subclass it and provide the ``history_store`` fixture."""

    supports_persistence: ClassVar[bool] = False
    rejects_duplicate_ids: ClassVar[bool] = True

    # ============================================================================ hooks
    async def reopen(self, store: HistoryStore) -> HistoryStore:
        """Close ``store`` and return a new store on the same data (override for persistence).

        The suite closes the returned store itself.
        """
        pytest.skip("reopen() not provided by this provider's tests")

    # ============================================================================ basics
    async def test_the_class_registers_as_a_plugin(self, history_store: HistoryStore) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(history_store)

    async def test_is_a_history_store(self, history_store: HistoryStore) -> None:
        assert isinstance(history_store, HistoryStore)
        assert history_store.kind == "history_store"

    async def test_unknown_memory_has_no_history(self, history_store: HistoryStore) -> None:
        assert await history_store.get("no-such-memory") == []

    async def test_empty_batch_is_a_no_op(self, history_store: HistoryStore) -> None:
        await history_store.add_events([])
        await history_store.delete_events([])
        assert await history_store.get("m") == []

    async def test_round_trip_every_field(self, history_store: HistoryStore) -> None:
        events = [
            make_event("m1", "ADD", old=None, new="likes tea"),
            make_event(
                "m1", "UPDATE", old="likes tea", new="likes green tea",
                updated_at=timestamp(10**9), actor_id="alice", role="user", stated_at="2023-05-08T13:56:00+00:00",
            ),
            make_event("m1", "DELETE", old="likes green tea", new=None, is_deleted=True, role="assistant"),
        ]
        set_somewhere = {c for e in events for c in HISTORY_COLUMNS if getattr(e, c) not in (None, False)}
        assert set_somewhere == set(HISTORY_COLUMNS)  # every column is round-tripped with a value
        await history_store.add_events(events)
        got = await history_store.get("m1")
        assert all(isinstance(e, HistoryEvent) for e in got)
        assert _dump(got) == _dump(events)
        assert [e.is_deleted for e in got] == [False, False, True]
        assert all(type(e.is_deleted) is bool for e in got)
        assert got[0].old_memory is None and got[0].updated_at is None and got[0].actor_id is None
        assert got[2].new_memory is None

    async def test_stated_at_round_trips(self, history_store: HistoryStore) -> None:
        """The time an ``add(timestamp=...)`` was told is kept beside the wall-clock ``created_at``,
        in small batches and large ones (a store may write those another way, e.g. COPY), and an
        event without one reads back ``None``."""
        stated = ["2023-05-08T13:56:00+00:00", "1999-12-31T23:59:59.500000+00:00", None]
        small = [make_event("m-stated", "ADD", new=str(i), stated_at=s) for i, s in enumerate(stated)]
        large = [make_event("m-stated-big", new=str(i), stated_at=timestamp(-i - 1)) for i in range(200)]
        await history_store.add_events(small)
        await history_store.add_events(large)
        got = await history_store.get("m-stated")
        assert [e.stated_at for e in got] == stated
        assert all(e.created_at != e.stated_at for e in got)
        assert [e.stated_at for e in await history_store.get("m-stated-big")] == [e.stated_at for e in large]
        assert "stated_at" in got[0].to_dict() and "stated_at" not in got[2].to_dict()

    async def test_hostile_text_round_trips_literally(self, history_store: HistoryStore) -> None:
        events = [
            make_event("m-hostile", "UPDATE", old=text, new=text[::-1], actor_id=text or None, role=text or None)
            for text in HOSTILE_TEXTS
        ]
        await history_store.add_events(events)
        assert _dump(await history_store.get("m-hostile")) == _dump(events)

    async def test_hostile_memory_ids_are_literal(self, history_store: HistoryStore) -> None:
        ids = ["m1", "M1", "m1%", "m_", "m1' OR '1'='1", "東京"]
        for mid in ids:
            await history_store.add_events([make_event(mid, new=f"for {mid}")])
        for mid in ids:
            got = await history_store.get(mid)
            assert [e.new_memory for e in got] == [f"for {mid}"], mid
        assert await history_store.get("m%") == []
        assert await history_store.get("' OR '1'='1") == []

    async def test_hostile_event_ids_are_literal(self, history_store: HistoryStore) -> None:
        weird = ["it's", "x'); DELETE FROM history;--", "%", "ü"]
        events = [make_event("m", id=i, new=i) for i in weird]
        await history_store.add_events(events)
        assert [e.id for e in await history_store.get("m")] == weird
        await history_store.delete_events(["%"])
        assert [e.id for e in await history_store.get("m")] == [i for i in weird if i != "%"]

    # ============================================================================ order
    async def test_oldest_first_across_batches(self, history_store: HistoryStore) -> None:
        first = [make_event("m", "ADD", new="a")]
        second = [make_event("m", "UPDATE", old="a", new="b"), make_event("m", "UPDATE", old="b", new="c")]
        third = [make_event("m", "DELETE", old="c", new=None, is_deleted=True)]
        for batch in (first, second, third):
            await history_store.add_events(batch)
        assert [e.id for e in await history_store.get("m")] == [e.id for e in first + second + third]

    async def test_ordered_by_created_at_not_insertion(self, history_store: HistoryStore) -> None:
        late = make_event("m", "UPDATE", created_at=timestamp(5000))
        early = make_event("m", "ADD", created_at=timestamp(1000))
        await history_store.add_events([late])
        await history_store.add_events([early])
        assert [e.id for e in await history_store.get("m")] == [early.id, late.id]

    async def test_same_created_at_keeps_insertion_order(self, history_store: HistoryStore) -> None:
        at = timestamp(7777)
        events = [make_event("m", "UPDATE", new=str(i), created_at=at) for i in range(20)]
        await history_store.add_events(events[:10])
        await history_store.add_events(events[10:])
        assert [e.new_memory for e in await history_store.get("m")] == [str(i) for i in range(20)]

    async def test_large_batch(self, history_store: HistoryStore) -> None:
        events = [make_event("big", new=str(i)) for i in range(2000)]
        await history_store.add_events(events)
        got = await history_store.get("big")
        assert [e.id for e in got] == [e.id for e in events]
        await history_store.delete_events([e.id for e in events[:1500]])
        assert [e.id for e in await history_store.get("big")] == [e.id for e in events[1500:]]

    # ============================================================================ isolation
    async def test_per_memory_isolation(self, history_store: HistoryStore) -> None:
        a = [make_event("mem-a", new="a1"), make_event("mem-a", "UPDATE", old="a1", new="a2")]
        b = [make_event("mem-b", new="b1")]
        interleaved = [a[0], b[0], a[1]]
        await history_store.add_events(interleaved)
        assert _dump(await history_store.get("mem-a")) == _dump(a)
        assert _dump(await history_store.get("mem-b")) == _dump(b)
        assert await history_store.get("mem") == []

    # ============================================================================ atomicity
    async def test_batch_is_atomic(self, history_store: HistoryStore) -> None:
        if not self.rejects_duplicate_ids:
            pytest.skip("this store accepts duplicate event ids")
        existing = make_event("m", new="kept")
        await history_store.add_events([existing])
        fresh = [make_event("m", "UPDATE", new="never"), make_event("other", new="never either")]
        clash = make_event("m", "UPDATE", id=existing.id, new="clash")
        # The contract names no exception type: each store raises its own (sqlite3.IntegrityError, ...).
        with pytest.raises(Exception):  # noqa: B017
            await history_store.add_events([*fresh, clash])
        assert _dump(await history_store.get("m")) == _dump([existing])
        assert await history_store.get("other") == []
        # A batch repeating an id within itself fails whole too, and the store stays usable.
        twin = make_event("twins", new="one")
        with pytest.raises(Exception):  # noqa: B017 (the store's own error type, as above)
            await history_store.add_events([twin, make_event("twins", id=twin.id, new="two")])
        assert await history_store.get("twins") == []
        ok = make_event("m", "UPDATE", new="after")
        await history_store.add_events([ok])
        assert [e.id for e in await history_store.get("m")] == [existing.id, ok.id]

    # ============================================================================ delete / reset
    async def test_delete_events(self, history_store: HistoryStore) -> None:
        a = [make_event("a", new=str(i)) for i in range(5)]
        b = [make_event("b", new="b")]
        await history_store.add_events(a + b)
        await history_store.delete_events([a[1].id, a[3].id, "no-such-event", a[1].id])
        assert [e.id for e in await history_store.get("a")] == [a[0].id, a[2].id, a[4].id]
        assert _dump(await history_store.get("b")) == _dump(b)
        await history_store.delete_events(["no-such-event"])
        assert len(await history_store.get("a")) == 3

    async def test_reset(self, history_store: HistoryStore) -> None:
        await history_store.add_events([make_event("a"), make_event("b"), make_event("a", "UPDATE")])
        await history_store.reset()
        assert await history_store.get("a") == []
        assert await history_store.get("b") == []
        await history_store.reset()  # resetting an empty store is fine
        again = make_event("a", new="after reset")
        await history_store.add_events([again])
        assert _dump(await history_store.get("a")) == _dump([again])

    # ============================================================================ concurrency
    async def test_concurrent_writers(self, history_store: HistoryStore) -> None:
        batches = [
            [make_event("shared", new=f"s{i}"), make_event(f"own-{i}", new=f"o{i}")] for i in range(50)
        ]
        await asyncio.gather(*(history_store.add_events(batch) for batch in batches))
        shared = await history_store.get("shared")
        assert len(shared) == 50
        assert {e.id for e in shared} == {batch[0].id for batch in batches}
        assert [e.created_at for e in shared] == sorted(e.created_at for e in shared)
        owns = await asyncio.gather(*(history_store.get(f"own-{i}") for i in range(50)))
        assert [_dump(o) for o in owns] == [_dump([batch[1]]) for batch in batches]

    async def test_concurrent_reads_and_writes(self, history_store: HistoryStore) -> None:
        await history_store.add_events([make_event("rw", new="seed")])

        async def write(i: int) -> None:
            await history_store.add_events([make_event("rw", new=str(i))])

        async def read() -> int:
            return len(await history_store.get("rw"))

        results = await asyncio.gather(*(write(i) if i % 2 else read() for i in range(40)))
        assert all(r is None or 1 <= r <= 21 for r in results)
        assert len(await history_store.get("rw")) == 21

    # ============================================================================ lifecycle
    async def test_aclose_is_idempotent(self, history_store: HistoryStore) -> None:
        await history_store.add_events([make_event("m")])
        await history_store.aclose()
        await history_store.aclose()

    async def test_persists_across_reopen(self, history_store: HistoryStore) -> None:
        if not self.supports_persistence:
            pytest.skip("this store is not persistent")
        events = [
            make_event("p", new="x"),
            make_event("p", "UPDATE", old="x", new="ÿ'\"", actor_id="a", role="user"),
            make_event("p", "DELETE", old="ÿ'\"", new=None, is_deleted=True),
        ]
        await history_store.add_events(events)
        reopened = await self.reopen(history_store)
        try:
            assert _dump(await reopened.get("p")) == _dump(events)
            await reopened.delete_events([events[1].id])
            again = await self.reopen(reopened)
            reopened = again
            assert [e.id for e in await reopened.get("p")] == [events[0].id, events[2].id]
        finally:
            await reopened.aclose()

    async def test_reset_persists_across_reopen(self, history_store: HistoryStore) -> None:
        if not self.supports_persistence:
            pytest.skip("this store is not persistent")
        await history_store.add_events([make_event("p")])
        await history_store.reset()
        reopened = await self.reopen(history_store)
        try:
            assert await reopened.get("p") == []
        finally:
            await reopened.aclose()
