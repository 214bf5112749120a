"""``mem7 serve`` keeps what it loaded out of the garbage collector's full passes (server/heap.py).

A full collection walks every container object of the process and stalls every request in flight
meanwhile (~35-60 ms in a server with the embedded default, one every ~300 requests under 32
clients: bench/results/rest.md); a server moves what is alive once its engine is open, and after
its 1st, 16th and 256th answered request, to the collector's permanent generation.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _serve import ServeProcess, clean_env

from mem7_core.server.heap import FREEZE_AFTER, HeapSettler, freeze_alive
from mem7_core.server.rest import create_app


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Whatever a test freezes goes back to the collector's generations afterwards."""
    yield
    gc.unfreeze()


def test_freeze_alive_moves_live_objects_out_of_the_collectors_generations(unfrozen: None) -> None:
    kept = [[i] for i in range(1000)]  # containers the collector tracks
    gc.unfreeze()
    before = gc.get_freeze_count()
    freeze_alive()
    assert gc.get_freeze_count() >= before + len(kept)
    assert all(gc.is_tracked(x) for x in kept[:3])  # still objects: freed when unreferenced, just not walked


def test_the_settler_freezes_after_the_1st_16th_and_256th_answered_request(unfrozen: None) -> None:
    settler = HeapSettler()
    assert FREEZE_AFTER == (1, 16, 256)
    froze_at = []
    for n in range(1, 300):
        before = settler.frozen
        settler.answered_one()
        if settler.frozen != before:
            froze_at.append(n)
    assert froze_at == [1, 16, 256]


def test_an_app_built_for_a_server_settles_at_startup_and_counts_answers(unfrozen: None, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from mem7_core import MemoryConfig

    app = create_app(MemoryConfig.embedded(str(tmp_path), embedder={"provider": "hash"}), settle_heap=True)
    with TestClient(app) as http:
        assert app.state.heap.frozen == 1  # once the engine is open
        assert http.get("/health").status_code == 200
        assert app.state.heap.frozen == 2 and app.state.heap.answered == 1
        for _ in range(15):
            http.get("/nowhere")  # answered too (404)
        assert app.state.heap.frozen == 3 and app.state.heap.answered == 16


def test_an_app_mounted_elsewhere_leaves_the_collector_alone(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from mem7_core import MemoryConfig

    app = create_app(MemoryConfig.embedded(str(tmp_path), embedder={"provider": "hash"}))
    before = gc.get_freeze_count()
    with TestClient(app) as http:
        http.get("/health")
    assert app.state.heap is None and gc.get_freeze_count() == before


def test_mem7_serve_freezes_its_heap_once_up_and_after_its_first_requests(tmp_path: Path) -> None:
    with ServeProcess(clean_env(tmp_path), ["-vv"]) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(16):
            assert http.get("/health").status_code == 200
    froze = [int(m.group(1)) for m in re.finditer(r"froze the \d+ objects alive after (\d+) requests", server.stderr)]
    assert froze == [0, 1, 16], server.stderr


def test_each_worker_freezes_its_heap_and_logs_as_the_command_does(tmp_path: Path) -> None:
    """``--workers 2 -vv``: the workers' ``mem7`` log lines carry the command's format and level (a
    spawned worker used to start with no logging set up: its warnings reached stderr bare, and
    ``-v`` never reached it), each naming its worker; and each worker froze its heap once up."""
    data = tmp_path / "data"
    with ServeProcess(clean_env(data), ["--workers", "2", "--data-dir", str(data), "-vv"]) as server:
        pids = re.search(r"\(2 workers, pids (\d+), (\d+)\)", server.stderr)
        assert pids, server.stderr
    froze = re.findall(r"^mem7: DEBUG mem7\.server: \[worker (\d+)\] froze the \d+ objects alive after 0 requests ",
                       server.stderr, flags=re.MULTILINE)
    assert sorted(froze) == sorted(pids.groups()), server.stderr
