"""A mem7 vector store in one SQLite file: exact cosine search in pure Python.

Rows hold the id, the vector (float64 bytes), the payload (JSON) and its ``created_at`` (for the
oldest-first order of ``list``). Scope and filters are evaluated in Python with mem7's own
reference semantics, so every filter operator is supported natively. SQLite calls run in a worker
thread, one at a time, so the event loop never blocks on the file.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import sqlite3
from array import array
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from mem7_core.errors import MemoryNotFoundError, ProviderError
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord, VectorRecord
from mem7_core.providers import ProviderConfig, VectorStore, VectorStoreCapabilities


class LiteVecConfig(ProviderConfig):
    """``vector_store.config`` for ``provider: litevec``."""

    path: str = ":memory:"
    """The SQLite file (created if missing); ``:memory:`` keeps everything in this process."""
    collection_name: str = Field("mem7_memories", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """The table; several collections can share one file."""


class LiteVecStore(VectorStore):
    name = "litevec"
    capabilities = VectorStoreCapabilities(persistent=True)
    Config = LiteVecConfig

    def __init__(self, config: LiteVecConfig | None = None) -> None:
        super().__init__(config)
        self.config: LiteVecConfig
        self._table = self.config.collection_name
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(self.config.path, check_same_thread=False)
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} "
                "(id TEXT PRIMARY KEY, vector BLOB NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
            self._conn.commit()
        except sqlite3.Error as exc:
            msg = f"cannot open {self.config.path!r}: {exc}; check vector_store.config.path"
            raise ProviderError(self.name, msg) from exc
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ plumbing
    async def _run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in a worker thread, one call at a time; errors name the store."""
        if self._conn is None:
            raise ProviderError(self.name, "the store is closed")
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, self._conn, *args)
            except sqlite3.Error as exc:
                raise ProviderError(self.name, f"SQLite failed on {self.config.path!r}: {exc}") from exc

    def _rows(self, conn: sqlite3.Connection) -> list[tuple[str, bytes, str]]:
        return conn.execute(f"SELECT id, vector, payload FROM {self._table} ORDER BY created_at, id").fetchall()

    def _matching(self, rows: list[tuple[str, bytes, str]], scope: Scope, filters: Filter | None) -> list[VectorRecord]:
        out = []
        for id_, blob, raw in rows:
            payload = json.loads(raw)
            if scope.matches(payload) and (filters is None or evaluate(filters, payload)):
                out.append(VectorRecord(id=id_, vector=list(array("d", blob)), payload=payload))
        return out

    # ------------------------------------------------------------------ writes
    async def insert(self, records: Sequence[VectorRecord]) -> None:
        rows = [(r.id, _pack(r.vector), json.dumps(r.payload), str(r.payload.get("created_at") or "")) for r in records]

        def write(conn: sqlite3.Connection) -> None:
            with conn:  # one transaction: all records or none
                conn.executemany(f"INSERT OR REPLACE INTO {self._table} VALUES (?, ?, ?, ?)", rows)

        await self._run(write)

    async def update(
        self, id: str, *, vector: Sequence[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with conn:
                if conn.execute(f"SELECT 1 FROM {self._table} WHERE id = ?", (id,)).fetchone() is None:
                    raise MemoryNotFoundError(id)
                if vector is not None:
                    conn.execute(f"UPDATE {self._table} SET vector = ? WHERE id = ?", (_pack(vector), id))
                if payload is not None:
                    conn.execute(
                        f"UPDATE {self._table} SET payload = ?, created_at = ? WHERE id = ?",
                        (json.dumps(payload), str(payload.get("created_at") or ""), id),
                    )

        await self._run(write)

    async def delete(self, ids: Sequence[str]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(f"DELETE FROM {self._table} WHERE id = ?", [(i,) for i in ids])

        await self._run(write)

    async def reset(self) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(f"DELETE FROM {self._table}")

        await self._run(write)

    # ------------------------------------------------------------------ reads
    async def get(self, ids: Sequence[str]) -> list[VectorRecord]:
        def read(conn: sqlite3.Connection) -> dict[str, VectorRecord]:
            found = {}
            for id_ in dict.fromkeys(ids):
                row = conn.execute(f"SELECT vector, payload FROM {self._table} WHERE id = ?", (id_,)).fetchone()
                if row is not None:
                    found[id_] = VectorRecord(id=id_, vector=list(array("d", row[0])), payload=json.loads(row[1]))
            return found

        found = await self._run(read)
        return [found[i] for i in ids if i in found]

    async def list(
        self, *, scope: Scope, filters: Filter | None = None, limit: int | None = None
    ) -> list[VectorRecord]:
        records = self._matching(await self._run(self._rows), scope, filters)
        return records if limit is None else records[:limit]

    async def search(
        self, vector: Sequence[float], *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> builtins.list[ScoredRecord]:  # `list` is now the method above
        query = _unit(vector)
        hits = [
            ScoredRecord(id=r.id, score=sum(a * b for a, b in zip(query, _unit(r.vector or []))), payload=r.payload)
            for r in self._matching(await self._run(self._rows), scope, filters)
        ]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:limit]

    async def aclose(self) -> None:
        async with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _pack(vector: Sequence[float] | None) -> bytes:
    if vector is None:
        raise ValueError("a record needs a vector to be inserted")
    return array("d", vector).tobytes()


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else [0.0 for _ in vector]
