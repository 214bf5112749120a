"""A scripted loopback stand-in for the Qdrant REST API, and loopback sockets that fail.

No Qdrant server can be installed here, so server mode is tested against :class:`FakeQdrant`: it
answers the handful of REST calls mem7-qdrant makes with canned, well-formed responses, records
every request (method, path, headers, JSON body), and can be told to fail the next requests with
given statuses. It checks what the store *asks*, not Qdrant's semantics (local mode covers those).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 503: "Service Unavailable"}


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeQdrant:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Statuses (and extra headers) to answer the next requests with, in order."""
    collections: set[str] = field(default_factory=set)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    race_create: bool = False
    """Answer the next collection creation with 409, as if another process had just created it."""

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        self.failures.extend([(status, headers or {})] * times)

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # ------------------------------------------------------------------ routing
    def respond(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if self.failures:
            status, headers = self.failures.pop(0)
            return status, {"status": {"error": f"scripted failure {status}"}, "time": 0.0}, headers
        m = re.fullmatch(r"/collections/([^/]+)(/.*)?", req.path)
        if not m:
            return 404, {"status": {"error": "no route"}}, {}
        name, rest = m.group(1), m.group(2) or ""

        def ok(result: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
            return 200, {"result": result, "status": "ok", "time": 0.0}, {}

        update = {"operation_id": len(self.requests), "status": "completed"}
        if rest == "/exists":
            return ok({"exists": name in self.collections})
        if rest == "" and req.method == "PUT":
            conflict = name in self.collections or self.race_create
            self.race_create = False
            self.collections.add(name)
            self.dims.setdefault(name, req.body["vectors"]["size"])
            if conflict:
                return 409, {"status": {"error": f"Collection `{name}` already exists!"}}, {}
            return ok(True)
        if rest == "" and req.method == "GET" and name in self.collections:
            return ok(self.info(name))
        if rest == "" and req.method == "DELETE":
            self.collections.discard(name)
            self.points.clear()
            return ok(True)
        if name not in self.collections:
            return 404, {"status": {"error": f"Not found: Collection `{name}` doesn't exist!"}}, {}
        if rest == "/index":
            schema = req.body["field_schema"]
            data_type = schema if isinstance(schema, str) else schema["type"]
            self.schemas.setdefault(name, {})[req.body["field_name"]] = {"data_type": data_type, "points": 0}
            return ok(update)
        if rest == "/points" and req.method == "PUT":
            for p in req.body["points"]:
                self.points[p["id"]] = p
            return ok(update)
        if rest == "/points" and req.method == "POST":  # retrieve
            found = [self._record(self.points[i]) for i in req.body["ids"] if i in self.points]
            return ok(found)
        if rest == "/points/delete":
            for i in req.body["points"]:
                self.points.pop(i, None)
            return ok(update)
        if rest == "/points/batch":
            for op in req.body["operations"]:
                ids = (op.get("overwrite_payload") or {}).get("points") or [
                    p["id"] for p in (op.get("update_vectors") or {}).get("points", [])
                ]
                missing = [i for i in ids if i not in self.points]
                if missing:
                    return 404, {"status": {"error": f"Not found: No point with id {missing[0]} found"}}, {}
                if "overwrite_payload" in op:
                    for i in ids:
                        self.points[i]["payload"] = op["overwrite_payload"]["payload"]
            return ok([update])
        if rest == "/points/query":
            pts = [{**self._record(p), "version": 1, "score": 0.5} for p in self.points.values()]
            return ok({"points": pts[: req.body.get("limit", 10)]})
        if rest == "/points/scroll":
            return ok({"points": [self._record(p) for p in self.points.values()], "next_page_offset": None})
        if rest == "/points/count":
            return ok({"count": len(self.points)})
        return 404, {"status": {"error": f"no fake route for {req.method} {req.path}"}}, {}

    def info(self, name: str) -> dict[str, Any]:
        return {
            "status": "green",
            "optimizer_status": "ok",
            "segments_count": 1,
            "points_count": len(self.points),
            "config": {
                "params": {"vectors": {"size": self.dims[name], "distance": "Cosine"}},
                "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
                "optimizer_config": {"default_segment_number": 0, "flush_interval_sec": 5},
            },
            "payload_schema": self.schemas.get(name, {}),
        }

    @staticmethod
    def _record(p: dict[str, Any]) -> dict[str, Any]:
        return {"id": p["id"], "payload": p.get("payload"), "vector": p.get("vector")}

    # ------------------------------------------------------------------ HTTP/1.1
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, v = h.decode("latin-1").split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                parts = urlsplit(target)
                req = Request(method, parts.path, parts.query, headers, json.loads(raw) if raw else None)
                self.requests.append(req)
                status, payload, extra = self.respond(req)
                data = json.dumps(payload).encode()
                head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(data)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(head.encode() + b"\r\n" + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


@pytest.fixture
async def fake_qdrant() -> AsyncIterator[FakeQdrant]:
    fake = FakeQdrant()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: requests time out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory in RAM (``/dev/shm``) when there is one, else ``tmp_path``.

    Local mode with a ``path`` commits every point to SQLite on its own, with an fsync: ~15 ms a
    point on an ordinary disk, ~0.5 ms on tmpfs. Files, locks and reopening behave the same; only
    durability differs, which these tests do not measure. ``MEM7_QDRANT_TEST_ON_DISK=1`` uses the
    disk anyway.
    """
    shm = Path("/dev/shm")
    if os.environ.get("MEM7_QDRANT_TEST_ON_DISK") != "1" and shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="mem7-qdrant-", dir=shm))
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path
