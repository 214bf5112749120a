"""A history table made by an older mem7 (no ``stated_at`` column) is brought up to date in place
when the store starts; its rows read ``stated_at=None``, new events keep theirs."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from mem7_core.testing.history import make_event
from mem7_pgvector import PgHistoryStore

OLD_TABLE = (  # the table as mem7 created it before add(timestamp=...)
    "CREATE TABLE {} (seq bigint GENERATED ALWAYS AS IDENTITY, id text COLLATE \"C\" PRIMARY KEY, "
    "memory_id text COLLATE \"C\" NOT NULL, old_memory text, new_memory text, event text NOT NULL, "
    "created_at text COLLATE \"C\" NOT NULL, updated_at text, is_deleted boolean NOT NULL DEFAULT false, "
    "actor_id text, role text)"
)


async def test_an_old_history_table_gets_stated_at(pg_config: Any, table_name: str, pg_admin: Any) -> None:
    table = sql.Identifier(table_name)
    pg_admin.execute(sql.SQL(OLD_TABLE).format(table))
    pg_admin.execute(
        sql.SQL(
            "INSERT INTO {} (id, memory_id, new_memory, event, created_at, actor_id) "
            "VALUES ('e-old', 'm', 'likes tea', 'ADD', '2024-01-01T00:00:00+00:00', 'alice')"
        ).format(table)
    )
    h = PgHistoryStore.from_config(pg_config(table_name=table_name))
    try:
        new = make_event("m", "UPDATE", old="likes tea", new="likes green tea", stated_at="2023-05-08T13:56:00+00:00")
        await h.add_events([new])
        copied = [make_event("m-copy", stated_at="2023-05-08T13:56:00+00:00") for _ in range(100)]  # COPY path
        await h.add_events(copied)
        got = await h.get("m")
        assert [(e.id, e.actor_id, e.stated_at) for e in got] == [
            ("e-old", "alice", None),
            (new.id, None, "2023-05-08T13:56:00+00:00"),
        ]
        assert {e.stated_at for e in await h.get("m-copy")} == {"2023-05-08T13:56:00+00:00"}
    finally:
        await h.aclose()
    again = PgHistoryStore.from_config(pg_config(table_name=table_name))  # already up to date: nothing to add
    try:
        assert len(await again.get("m")) == 2
    finally:
        await again.aclose()
