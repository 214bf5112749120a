"""Time-range filters (issue #18): a ``created_at`` range pushed down, against the same range evaluated
after fetching.

Every time bound is normalised by ``parse_filters`` to the stored UTC form, so every store answers a
``created_at`` / ``updated_at`` range exactly; the stores differ in how much they fetch to do so.
mem7-qdrant runs a ``created_at`` range on its integer order key (``_mem7.o``) in Qdrant; for
``updated_at`` (no order key) it can only narrow to "a string" in Qdrant and re-check every candidate
itself. The benchmark stores ``n`` memories for one user (and ``n`` for another) whose
``created_at`` and ``updated_at`` are equal, spread evenly over two years, and asks for one month
(about 4 % of the scope) through ``created_at`` and through ``updated_at``, side by side in one run:
the answers are the same (checked), the latency is the push-down's effect. mem7-flat (which
evaluates every filter in Python over the scope) is the control: its two rows should be equal.

    .venv/bin/python bench/time_filters/bench_time_filters.py     # writes bench/results/time_filters.md
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.machine import cpu_model, git_state  # noqa: E402
from mem7_core.filters import parse_filters  # noqa: E402
from mem7_core.ids import iso  # noqa: E402
from mem7_core.models import Scope, VectorRecord  # noqa: E402
from mem7_core.providers import VectorStore  # noqa: E402

START = datetime(2022, 6, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
MONTH = {"gte": "2023-05-01", "lt": "2023-06-01T00:00:00+02:00"}
DIMS = 64


def _vec(rng: random.Random) -> list[float]:
    v = [rng.gauss(0.0, 1.0) for _ in range(DIMS)]
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]


def _records(n: int) -> list[VectorRecord]:
    rng = random.Random(7)
    out = []
    for user in ("u", "v"):
        for i in range(n):
            t = iso(START + SPAN * (i / n))
            payload = {"data": f"memory {i}", "user_id": user, "created_at": t, "updated_at": t}
            out.append(VectorRecord(id=f"{user}{i:06d}", vector=_vec(rng), payload=payload))
    return out


def _stores() -> dict[str, Callable[[], VectorStore]]:
    from mem7_flat import FlatVectorStore
    from mem7_qdrant import QdrantVectorStore

    return {
        "qdrant (local mode)": lambda: QdrantVectorStore(QdrantVectorStore.Config(dims=DIMS)),
        "flat (in memory)": lambda: FlatVectorStore(FlatVectorStore.Config()),
    }


async def _median_ms(fn: Callable[[], Awaitable[Any]], repeats: int) -> float:
    await fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


async def _bench(name: str, make: Callable[[], VectorStore], n: int, repeats: int) -> list[str]:
    store = make()
    records = _records(n)
    for i in range(0, len(records), 1000):
        await store.insert(records[i : i + 1000])
    scope = Scope(user_id="u")
    query = _vec(random.Random(99))
    rows = []
    answers: dict[str, tuple[list[str], list[str]]] = {}
    for key in ("created_at", "updated_at"):
        node = parse_filters({key: MONTH})
        listed = [r.id for r in await store.list(scope=scope, filters=node, limit=100)]
        found = [h.id for h in await store.search(query, scope=scope, limit=10, filters=node)]
        answers[key] = (listed, found)
        list_ms = await _median_ms(lambda: store.list(scope=scope, filters=node, limit=100), repeats)
        search_ms = await _median_ms(lambda: store.search(query, scope=scope, limit=10, filters=node), repeats)
        rows.append(f"| {name} | `{key}` | {len(listed)} | {list_ms:.1f} | {search_ms:.1f} |")
    assert answers["created_at"] == answers["updated_at"], f"{name}: the two keys answered differently"
    await store.aclose()
    return rows


async def _run(n: int, repeats: int) -> list[str]:
    rows = []
    for name, make in _stores().items():
        rows += await _bench(name, make, n, repeats)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="memories per user (two users)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per row (after one warm-up)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "time_filters.md"))
    args = parser.parse_args()
    rows = asyncio.run(_run(args.n, args.repeats))
    report = f"""# Time-range filters: pushed down (`created_at`) vs evaluated after fetching (`updated_at`)

{args.n} memories in the scope (and {args.n} of another user), `created_at` = `updated_at`, spread evenly
over two years from {iso(START)}; the filter `{{key: {MONTH}}}` (one month, about 4 % of the scope);
`list(limit=100)` and `search(limit=10)` ({DIMS}-d vectors). Median of {args.repeats} calls after a
warm-up, in one run, side by side; both keys give the same answers (checked).

| store | filter key | matches listed | list median ms | search median ms |
|---|---|---:|---:|---:|
""" + "\n".join(rows) + f"""

Machine: {cpu_model()}, Python {platform.python_version()}; {git_state()}.
Command: `.venv/bin/python bench/time_filters/bench_time_filters.py --n {args.n} --repeats {args.repeats}`
"""
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
