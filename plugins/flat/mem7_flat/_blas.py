"""Run numpy's BLAS on one thread for the duration of a block, without a dependency.

Why: a flat search is one matrix-vector product per scope, a few hundred microseconds at 10k rows.
OpenBLAS hands products over ~2,000 rows to its thread pool, and the pool's workers then
spin-wait for more work for a while: in the engine, that burns a core while the event loop awaits
the next HTTP answer (measured in ``bench/overhead``: search at 10k in scope 18.5 → 8.9 ms p50 with
one thread). Column-major segments (see :mod:`.store`) make the single-threaded product fast
enough (100k × 384 in ~10 ms) that the pool is not worth its spinning.

The thread count is process-wide in OpenBLAS, so :func:`one_thread` sets it to 1 and restores the
previous value on exit (two C calls, ~1 µs). Other libraries (MKL, Accelerate) are left alone: the
helper finds OpenBLAS among the libraries numpy loaded (``/proc/self/maps``, Linux) and is a no-op
when it is not there.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("mem7.flat")

_SET_NAMES = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads",
              "scipy_openblas_set_num_threads")
_GET_NAMES = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads",
              "scipy_openblas_get_num_threads")

_funcs: tuple[Callable[[int], None], Callable[[], int]] | None = None
_looked = False


def _find_openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    import numpy  # noqa: F401  (load numpy's BLAS first, so it is in the process's maps)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SET_NAMES if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GET_NAMES if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            return setter, getter
    return None


def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    global _funcs, _looked
    if not _looked:
        _looked = True
        try:
            _funcs = _find_openblas()
        except Exception as exc:  # pragma: no cover - never let a probe break a search
            log.debug("flat: OpenBLAS thread control unavailable (%s)", exc)
            _funcs = None
    return _funcs


def available() -> bool:
    """Whether numpy's BLAS is an OpenBLAS whose thread count this module can set."""
    return _openblas() is not None


def current_threads() -> int | None:
    """OpenBLAS's current thread count, or None when it cannot be read."""
    funcs = _openblas()
    return None if funcs is None else int(funcs[1]())


@contextmanager
def one_thread(enabled: bool = True) -> Iterator[None]:
    """BLAS calls inside the block use one thread; the previous count is restored afterwards."""
    funcs = _openblas() if enabled else None
    if funcs is None:
        yield
        return
    setter, getter = funcs
    before = getter()
    if before == 1:
        yield
        return
    setter(1)
    try:
        yield
    finally:
        setter(before)
