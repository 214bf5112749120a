"""Sync work of async providers, off the event loop: :func:`run_blocking` and :class:`BlockingRunner`.

Providers are ``async``, but some have a synchronous client (sqlite3, a vendor SDK without an
async API) or do blocking disk work (an ``fsync`` per acknowledged write). Called inline, such a
call stalls the engine's event loop for its whole duration: every other request, heartbeat and
timeout of the process waits behind one ``fsync``. This module is the documented way to move that
work to a thread:

- :func:`run_blocking` runs ``fn(*args, **kwargs)`` in the loop's default thread pool. For work
  that is thread-safe by itself (no connection or file handle shared with other calls): any pool
  thread may run it, several may run at once.
- :class:`BlockingRunner` owns **one** worker thread and runs its jobs **one at a time, in
  submission order**. A provider keeps one per connection-owning object: sqlite3 connections and
  most sync clients are not thread-safe, and writes must reach the disk in the order they were
  made. The thread starts on the first job and is stopped by :meth:`BlockingRunner.aclose` (a later
  job starts a new one).
- :func:`blocking` decorates a provider's *synchronous* method into an ``async`` one that runs on
  the instance's runner (:func:`runner_of`), optionally inline when there is nothing to block on
  (a store without a path).

Both carry the caller's :mod:`contextvars` into the thread (a copy, as ``asyncio.to_thread``
does), so the operation's time budget (:mod:`mem7_core.providers.deadline`), log context and
tracing spans are visible to the job.

**Cancellation.** A Python thread cannot be interrupted, and a connection abandoned half-way
through a transaction would be left holding it. So when the awaiting task is cancelled (a
deadline, a client that went away): a job that has not started yet is dropped (it never runs); a
job already running **runs to its end** in its thread (its transaction commits or rolls back as it
would have) and its result is discarded; the awaiter gets :class:`asyncio.CancelledError` at once,
without waiting for it. Jobs queued behind it still run in order. An abandoned job's exception is
logged (``mem7.blocking``, debug), never raised. A provider that keeps in-process state in step
with what the job wrote must update that state *inside* the job (under its own lock), not after
the ``await``, or a cancelled caller would leave the two apart.

**When not to hop.** A hop to a thread and back costs ~50-100 µs of latency (two context
switches, a future, a loop wake-up). Work that takes a few microseconds (a ``PRAGMA`` read, an
in-memory lookup, a numpy product on a small matrix) is cheaper inline; hop for what can block
for a millisecond or more: commits with ``fsync``, lock waits, network round trips of a sync
client, large file reads.

Example, a provider around a synchronous client::

    class MyStore(VectorStore):
        def __init__(self, config):
            super().__init__(config)
            self._runner = BlockingRunner(f"mem7-{self.name}")
            self._conn = None  # opened, used and closed only on the runner's thread

        async def insert(self, records):
            await self._runner.run(self._insert_sync, list(records))

        def _insert_sync(self, records):
            ...  # conn.execute / conn.commit: may block, runs in the worker thread

        async def aclose(self):
            await self._runner.run(self._close_sync)
            await self._runner.aclose()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

log = logging.getLogger("mem7.blocking")

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S")


async def run_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in the running loop's default executor, with the caller's
    contextvars; for thread-safe work (no state shared with other calls). Cancellation as in the
    module docstring: a job already running finishes, the awaiter gets ``CancelledError``."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(None, call)


_current = threading.local()
"""``runner``: the :class:`BlockingRunner` whose job the current thread is running."""


def _report_abandoned(fut: concurrent.futures.Future[Any]) -> None:
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        log.debug("a blocking job whose caller was cancelled failed: %r", exc)


def _interpreter_exiting() -> bool:
    """Whether Python has begun exiting, past the point where threads can be started (``atexit``
    handlers run then: an engine closed by one must still close its stores)."""
    if sys.is_finalizing():
        return True
    try:
        import concurrent.futures.thread as cft
    except RuntimeError:  # first imported now: it registers an exit hook, which Python refuses once exiting
        return True
    return bool(getattr(cft, "_shutdown", False))


class BlockingRunner:
    """One worker thread; jobs run one at a time, in the order :meth:`run` was called.

    Give each connection-owning object (a store's database connection, a sync client) its own
    runner: everything that touches the connection then runs on one thread, serialised, in order.
    The thread is started lazily and, once :meth:`aclose` (or :meth:`close`) stopped it, a new one
    is started by the next job. An unused runner that is garbage-collected lets its thread exit.
    """

    def __init__(self, name: str = "mem7-blocking") -> None:
        self.name = name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._guard = threading.Lock()

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._guard:
            if self._pool is None:
                # max_workers=1: one thread, a FIFO queue, so jobs never overlap and keep their order.
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
            return self._pool

    def _job(self, ctx: contextvars.Context, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        _current.runner = self
        try:
            return ctx.run(fn, *args, **kwargs)
        finally:
            _current.runner = None

    def in_worker(self) -> bool:
        """Whether the calling code runs on this runner's thread (inside one of its jobs)."""
        return getattr(_current, "runner", None) is self

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the runner's thread, after every job submitted before it,
        with the caller's contextvars. Its exception is raised here, unchanged.

        Cancelled while queued: the job is dropped. Cancelled while running: the job runs to its
        end (result discarded) and ``CancelledError`` is raised here at once.
        """
        if self.in_worker():
            raise RuntimeError(f"{self.name}: run() called from inside one of its own jobs (it would wait for itself)")
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        try:
            cf = self._executor().submit(self._job, ctx, fn, args, kwargs)
        except RuntimeError:
            if not _interpreter_exiting():
                raise
            # Python is exiting (an engine closed by atexit): no thread can start any more, and
            # the loop has nothing left to keep responsive. The job runs here, still in order.
            return self._job(ctx, fn, args, kwargs)
        try:
            return await asyncio.wrap_future(cf, loop=loop)
        except asyncio.CancelledError:
            if not cf.cancel():  # already running (or done): it finishes in its thread
                cf.add_done_callback(_report_abandoned)
            raise

    async def aclose(self) -> None:
        """Wait for the jobs already submitted, then stop the thread. Idempotent; the runner stays
        usable (the next :meth:`run` starts a new thread)."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if _interpreter_exiting():  # no helper thread can start: wait for the worker here
            pool.shutdown(wait=True)
            return
        done = asyncio.get_running_loop().run_in_executor(None, functools.partial(pool.shutdown, wait=True))
        await asyncio.shield(done)

    def close(self, *, wait: bool = True) -> None:
        """Synchronous :meth:`aclose` (from sync code; ``wait=False`` does not wait for the jobs)."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)


_RUNNER_ATTR = "_mem7_blocking_runner"
_runner_guard = threading.Lock()


def runner_of(obj: object) -> BlockingRunner:
    """The :class:`BlockingRunner` of ``obj`` (a provider), created on first use and kept on it."""
    runner = obj.__dict__.get(_RUNNER_ATTR)
    if runner is None:
        with _runner_guard:
            runner = obj.__dict__.get(_RUNNER_ATTR)
            if runner is None:
                name = getattr(obj, "name", None) or type(obj).__name__
                runner = BlockingRunner(f"mem7-{name}")
                obj.__dict__[_RUNNER_ATTR] = runner
    return runner


@overload
def blocking(method: Callable[Concatenate[S, P], T], /) -> Callable[Concatenate[S, P], Awaitable[T]]: ...
@overload
def blocking(
    *, inline: Callable[[Any], bool] | None = None
) -> Callable[[Callable[Concatenate[S, P], T]], Callable[Concatenate[S, P], Awaitable[T]]]: ...
def blocking(method: Any = None, /, *, inline: Callable[[Any], bool] | None = None) -> Any:
    """Make a synchronous provider method an ``async`` one that runs on the instance's runner
    (:func:`runner_of`: one thread per instance, calls in order).

    ``inline(self)`` true: run it inline instead (nothing to block on, e.g. a store kept in memory
    only; saves the thread hop)::

        @blocking(inline=lambda self: self._path is None)
        def _write(self, rows): ...
    """

    def wrap(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
            if inline is not None and inline(self):
                return fn(self, *args, **kwargs)
            return await runner_of(self).run(fn, self, *args, **kwargs)

        return wrapper

    return wrap(method) if method is not None else wrap


__all__ = ["BlockingRunner", "blocking", "run_blocking", "runner_of"]
