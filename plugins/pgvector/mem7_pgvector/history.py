"""PgHistoryStore: mem7's audit log in PostgreSQL, shared by every instance of a deployment.

One table (``table_name``, default ``mem7_history``; mem0's columns plus an identity ``seq``)::

    seq         bigint GENERATED ALWAYS AS IDENTITY   insertion order, the tie-breaker
    id          text COLLATE "C" PRIMARY KEY
    memory_id   text COLLATE "C" NOT NULL
    old_memory  text
    new_memory  text
    event       text NOT NULL
    created_at  text COLLATE "C" NOT NULL             ISO-8601, compared as text (like SQLite's)
    updated_at  text
    is_deleted  boolean NOT NULL DEFAULT false
    actor_id    text
    role        text
    stated_at   text                                  the time an add was told (its ``timestamp``)

(a table made by an older mem7, without ``stated_at``, gets it added in place), indexed on
``(memory_id, created_at, seq)``. ``get`` returns a memory's events ordered by ``created_at`` then
``seq``. ``add_events`` is one transaction (executemany, or COPY for large batches): all rows or
none, and a duplicate event id fails the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from pydantic import field_validator

from mem7_core.errors import ConfigError
from mem7_core.models import HistoryEvent
from mem7_core.providers import HistoryStore
from mem7_core.providers.history import event_from_row

from ._common import (
    IDENTIFIER,
    PgBase,
    PgConnectionConfig,
    ensure_schema,
    existing_indexes,
    qualified_name,
    quoted_table,
)

_COLUMNS = (
    "id",
    "memory_id",
    "old_memory",
    "new_memory",
    "event",
    "created_at",
    "updated_at",
    "is_deleted",
    "actor_id",
    "role",
    "stated_at",
)
_ADDED_LATER = ("stated_at",)
"""Nullable columns a table made by an older mem7 lacks: added in place when the store starts."""
_COPY_AT = 64
"""Batches of at least this many events are written with COPY (one round trip)."""


def _text(value: str | None, field: str) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError(f"history: {field} contains a NUL character (\\x00), which PostgreSQL text cannot hold")
    return value


class PgHistoryStore(PgBase, HistoryStore):
    """The history (audit) log in PostgreSQL: atomic batches, safe for many writers."""

    name = "pgvector"
    aliases = ("postgres", "postgresql")
    provider_label = "history_store:pgvector"

    class Config(PgConnectionConfig):
        table_name: str = "mem7_history"
        """The table (quoted, so case is kept); created with its index when missing."""

        @field_validator("table_name")
        @classmethod
        def _table(cls, v: str) -> str:
            if not IDENTIFIER.match(v):
                raise ValueError(
                    "table_name must match [A-Za-z_][A-Za-z0-9_]* (at most 48 characters); " f"got {v!r}"
                )
            return v

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._init_pg()
        cfg = self.config
        self._table = quoted_table(cfg.db_schema, cfg.table_name)
        self._regname = qualified_name(cfg.db_schema, cfg.table_name)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS)
        self._insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self._table, cols, sql.SQL(", ").join(sql.Placeholder() for _ in _COLUMNS)
        )
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(self._table, cols)
        self._select = sql.SQL("SELECT {} FROM {} WHERE memory_id = %s ORDER BY created_at, seq").format(
            cols, self._table
        )

    async def _bootstrap(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cfg = self.config
        t = self._table
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mem7-history:{self._regname}"])
            await ensure_schema(conn, cfg.db_schema)
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    "seq bigint GENERATED ALWAYS AS IDENTITY, "
                    "id text COLLATE \"C\" PRIMARY KEY, "
                    "memory_id text COLLATE \"C\" NOT NULL, "
                    "old_memory text, "
                    "new_memory text, "
                    "event text NOT NULL, "
                    "created_at text COLLATE \"C\" NOT NULL, "
                    "updated_at text, "
                    "is_deleted boolean NOT NULL DEFAULT false, "
                    "actor_id text, "
                    "role text, "
                    "stated_at text)"
                ).format(t)
            )
            cur = await conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                [self._regname],
            )
            have = {r[0] for r in await cur.fetchall()}
            if "memory_id" in have:  # a mem7 history table, maybe an older mem7's: bring it up to date
                for column in (c for c in _ADDED_LATER if c not in have):
                    await conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text").format(
                        t, sql.Identifier(column)
                    ))
                    have.add(column)
            missing = [c for c in ("seq", *_COLUMNS) if c not in have]
            if missing:
                raise ConfigError(
                    f"history_store pgvector: table_name {cfg.table_name!r}: table {self._regname} exists but is not "
                    f"a mem7 history table (missing columns: {', '.join(missing)}); choose another table_name"
                )
            index = f"{cfg.table_name}_memory_idx"
            if index not in await existing_indexes(conn, self._regname):  # CREATE INDEX would lock the table
                await conn.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (memory_id, created_at, seq)").format(
                        sql.Identifier(index), t
                    )
                )

    # ------------------------------------------------------------------------- API
    async def add_events(self, events: Sequence[HistoryEvent]) -> None:
        rows = [
            (
                _text(e.id, "id"),
                _text(e.memory_id, "memory_id"),
                _text(e.old_memory, "old_memory"),
                _text(e.new_memory, "new_memory"),
                e.event,
                _text(e.created_at, "created_at"),
                _text(e.updated_at, "updated_at"),
                bool(e.is_deleted),
                _text(e.actor_id, "actor_id"),
                _text(e.role, "role"),
                _text(e.stated_at, "stated_at"),
            )
            for e in events
        ]
        if not rows:
            return

        ids = [r[0] for r in rows]
        attempts = 0
        exists = sql.SQL("SELECT count(*) FROM {} WHERE id = ANY(%s)").format(self._table)

        async def write(conn: psycopg.AsyncConnection[Any]) -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                # A retry after a lost connection: the previous attempt may have committed before
                # the connection dropped. A batch is all or nothing, so all its ids present means
                # it did (unless every id clashed with older events, which then goes unreported).
                cur = await conn.execute(exists, [list(dict.fromkeys(ids))])
                row = await cur.fetchone()
                if row is not None and row[0] == len(set(ids)) == len(ids):
                    return
            async with conn.transaction():
                if len(rows) < _COPY_AT:
                    async with conn.cursor() as cur:
                        await cur.executemany(self._insert, rows)
                    return
                async with conn.cursor() as cur, cur.copy(self._copy) as copy:
                    copy.set_types(["bool" if c == "is_deleted" else "text" for c in _COLUMNS])
                    for row in rows:
                        await copy.write_row(row)

        await self._run("add_events", write)

    async def get(self, memory_id: str) -> list[HistoryEvent]:
        if not isinstance(memory_id, str) or "\x00" in memory_id:
            return []

        async def read(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(self._select, [memory_id])
            return await cur.fetchall()

        rows = await self._run("get", read)
        return [event_from_row(r) for r in rows]

    async def delete_events(self, event_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(i for i in event_ids if isinstance(i, str) and "\x00" not in i))
        if not ids:
            return
        stmt = sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._table)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(stmt, [ids])

        await self._run("delete_events", run)

    async def reset(self) -> None:
        stmt = sql.SQL("TRUNCATE {}").format(self._table)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(stmt)

        await self._run("reset", run)


__all__ = ["PgHistoryStore"]
