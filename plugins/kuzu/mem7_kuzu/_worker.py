"""One thread that owns the database and its connection; the event loop hands it whole jobs.

Kuzu's Python API is synchronous and a connection is not thread-safe. Running every job on one
dedicated thread keeps the loop free, needs no lock, and serialises writes, so a job's
read-check-write sequence (e.g. "does this endpoint exist?" then MERGE) cannot interleave with
another job. A job is a plain function taking a :class:`Session`; it runs in one transaction when
asked, rolled back if it raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, TypeVar

from mem7_core.errors import Mem7Error, ProviderError

from ._cache import EmbeddingCache
from ._engine import PROVIDER

T = TypeVar("T")
Row = list[Any]


class Session:
    """A thin wrapper over one connection: parameterised queries returning all rows, plus the
    database's :class:`~._cache.EmbeddingCache` and the changes to apply to it once committed."""

    def __init__(self, connection: Any, cache: EmbeddingCache) -> None:
        self._conn = connection
        self.cache = cache
        self._after: list[Callable[[], None]] = []

    def after_commit(self, change: Callable[[], None]) -> None:
        """Run ``change`` once this job's writes are committed (never if it fails or rolls back)."""
        self._after.append(change)

    def rows(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run ``query`` with ``params`` (data is only ever passed here, never in ``query``)."""
        result = self._conn.execute(query, dict(params or {}))
        out: list[Row] = []
        while result.has_next():
            out.append(result.get_next())
        result.close()
        return out

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> None:
        self.rows(query, params)


class Worker:
    """Owns ``(database, connection)`` on a single thread; :meth:`call` runs a job there.

    :param opener: builds ``(module, database)`` on the worker thread (so the native library is
        only ever touched from it).
    :param schema: statements run once after opening (idempotent ``CREATE ... IF NOT EXISTS``).
    """

    def __init__(self, opener: Callable[[], tuple[ModuleType, Any]], schema: tuple[str, ...]) -> None:
        self._opener = opener
        self._schema = schema
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: Any = None
        self._conn: Any = None
        self._session: Session | None = None
        self._closed = False

    # ----------------------------------------------------------------- on the worker thread
    def _ensure_open(self) -> Session:
        if self._session is None:
            module, db = self._opener()
            try:
                conn = module.Connection(db)
                session = Session(conn, EmbeddingCache())
                for stmt in self._schema:
                    session.run(stmt)
            except BaseException:
                db.close()
                raise
            self._db, self._conn, self._session = db, conn, session
        return self._session

    def _run(self, job: Callable[[Session], T], transaction: bool) -> T:
        try:
            return self._run_unmapped(job, transaction)
        except (Mem7Error, ValueError, TypeError):
            raise
        except RuntimeError as exc:  # the engine's errors: schema, BEGIN/COMMIT, or the job's queries
            text = str(exc).strip() or type(exc).__name__
            raise ProviderError(PROVIDER, f"query failed: {text}") from exc

    def _run_unmapped(self, job: Callable[[Session], T], transaction: bool) -> T:
        session = self._ensure_open()
        session._after.clear()
        if transaction:
            session.run("BEGIN TRANSACTION")
        try:
            value = job(session)
            if transaction:
                session.run("COMMIT")
        except BaseException:
            session._after.clear()
            if transaction:
                try:
                    session.run("ROLLBACK")
                except RuntimeError:  # a failed query (or COMMIT) already ended the transaction
                    pass
            raise
        changes, session._after = session._after, []
        for change in changes:
            change()
        return value

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._db is not None:
            self._db.close()
        self._conn = self._db = self._session = None

    # ----------------------------------------------------------------- from the event loop
    async def call(self, job: Callable[[Session], T], *, transaction: bool = False) -> T:
        """Run ``job(session)`` on the worker thread and await its result."""
        if self._closed:
            raise ProviderError(PROVIDER, "the graph store is closed; build a new one")
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mem7-kuzu")
        future = self._executor.submit(self._run, job, transaction)
        return await asyncio.wrap_future(future)

    async def aclose(self) -> None:
        """Close the connection and database (waits for queued jobs), then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        await asyncio.wrap_future(executor.submit(self._close_sync))
        executor.shutdown(wait=True)
