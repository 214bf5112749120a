"""The server's garbage collections, for ``bench_rest.py`` (on the server's ``PYTHONPATH`` only).

With ``BENCH_GC_STATS_DIR`` set, every interpreter started with this directory on its path (``mem7
serve`` and each of its workers) counts its collections per generation and their time, and writes
them to ``$BENCH_GC_STATS_DIR/gc.<pid>.json`` when it exits.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

_DIR = os.environ.get("BENCH_GC_STATS_DIR")
if _DIR:
    _started: list[float] = []
    _stats: dict[str, Any] = {"count": [0, 0, 0], "seconds": [0.0, 0.0, 0.0], "longest_full_ms": 0.0}

    def _on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _started.append(time.perf_counter())
        elif _started:
            took, gen = time.perf_counter() - _started.pop(), info["generation"]
            _stats["count"][gen] += 1
            _stats["seconds"][gen] += took
            if gen == 2:
                _stats["longest_full_ms"] = max(_stats["longest_full_ms"], took * 1e3)

    def _write() -> None:
        with open(os.path.join(_DIR, f"gc.{os.getpid()}.json"), "w") as f:
            json.dump(_stats, f)

    gc.callbacks.append(_on_gc)
    atexit.register(_write)
