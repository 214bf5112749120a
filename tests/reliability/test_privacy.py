"""Group 8 — privacy: nothing is sent anywhere unless configured.

A socket guard (``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo`` patched to
record every attempt and refuse non-loopback ones) watches:

- importing mem7_core, the ``mem7`` package and every plugin, loading the plugin registry and
  building providers (in a fresh interpreter): no connection, no DNS lookup, no telemetry library;
- a whole session (add, search, get, update, delete, history, delete_all, reset) on the embedded
  default with the hash embedder — and on the real embedded default (fastembed, its model from
  installed packages) — with the async engine and the sync facade: no connection attempt at all;
- a configured OpenAI-compatible endpoint: connections go to that host and port only.

Telemetry is off by default (no OpenTelemetry module is even imported); switched on, its spans carry
no query or memory text unless ``record_query_text`` is set, and its exporter talks only to the
configured endpoint. Nothing the user wrote shows up in the engine's logs during search.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory, MemoryConfig
from mem7_core.errors import ConfigError

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
TELEMETRY_MODULES = ("opentelemetry", "posthog", "sentry_sdk", "segment", "mixpanel", "analytics")


class SocketGuard:
    """Records every outgoing connection attempt and DNS lookup; refuses non-loopback ones."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, Any]] = []

    def _check(self, kind: str, address: Any) -> None:
        self.attempts.append((kind, address))
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            raise OSError(f"privacy guard: {kind} to {address!r} blocked")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
        real_connect, real_connect_ex, real_gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
        guard = self

        def connect(sock: socket.socket, address: Any) -> Any:
            guard._check("connect", address)
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            guard._check("connect_ex", address)
            return real_connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            guard._check("getaddrinfo", (host.decode() if isinstance(host, bytes) else host, args[0] if args else None))
            return real_gai(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    return SocketGuard().install(monkeypatch)


def test_the_guard_sees_and_blocks_a_connection(guard):
    """So that the tests below cannot pass with a guard that sees nothing."""
    with socket.socket() as s, pytest.raises(OSError, match="privacy guard"):
        s.connect(("203.0.113.7", 443))
    assert guard.attempts == [("connect", ("203.0.113.7", 443))]


async def _session(mem: AsyncMemory) -> None:
    out = await mem.add([{"role": "user", "content": "My passport number is X123. I live in Lisbon."}], user_id="u")
    mem_id = out["results"][0]["id"]
    await mem.search("passport number", user_id="u")
    await mem.get(mem_id)
    await mem.get_all(user_id="u")
    await mem.update(mem_id, "My passport number is Y456")
    await mem.history(mem_id)
    await mem.delete(mem_id)
    await mem.delete_all(user_id="u")
    await mem.reset()


async def test_embedded_default_with_hash_embedder_connects_nowhere(guard, tmp_path):
    cfg = MemoryConfig.embedded(tmp_path, embedder={"provider": "hash", "config": {}})
    assert cfg.llm is None and cfg.telemetry.enabled is False
    before = set(sys.modules)
    async with AsyncMemory(cfg) as mem:
        await _session(mem)
    assert guard.attempts == []
    # Nothing imported here (other tests of this run may have loaded opentelemetry already; the
    # fresh-interpreter probe below checks that a default engine never loads it at all).
    assert not [m for m in set(sys.modules) - before if m.split(".")[0] in TELEMETRY_MODULES]


def test_sync_facade_on_the_embedded_default_connects_nowhere(guard, tmp_path):
    with Memory(MemoryConfig.embedded(tmp_path, embedder={"provider": "hash", "config": {}})) as m:
        m._call(_session(m.engine))
    assert guard.attempts == []


async def test_real_embedded_default_fastembed_connects_nowhere(guard, tmp_path, monkeypatch):
    pytest.importorskip("mem7_fastembed")
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path / "fastembed-cache"))
    cfg = MemoryConfig.embedded(tmp_path / "data")
    assert cfg.embedder.provider == "fastembed" and cfg.llm is None
    async with AsyncMemory(cfg) as mem:
        try:
            await mem.add("I live in Lisbon", user_id="u", infer=False)
        except ConfigError as exc:  # the model is not installed here: nothing to prove offline
            pytest.skip(f"fastembed's default model is not installed: {exc}")
        assert (await mem.search("where do I live", user_id="u"))["results"]
    assert guard.attempts == [], "the embedded default reached out to the network"


async def test_configured_endpoint_is_the_only_place_anything_goes(guard, openai_server):
    srv = openai_server
    conn = {"base_url": srv.url, "api_key": "sk-test", "max_retries": 0}
    cfg = {
        "llm": {"provider": "openai", "config": conn},
        "embedder": {"provider": "openai", "config": {**conn, "embedding_dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }
    async with AsyncMemory(cfg) as mem:
        await _session(mem)
    targets = {(a[1][0], a[1][1]) for a in guard.attempts if a[0] != "getaddrinfo"}
    assert targets == {("127.0.0.1", srv.port)}
    assert srv.count("chat") >= 1 and srv.count("embeddings") >= 1


_IMPORT_PROBE = textwrap.dedent(
    f"""
    import json, socket, sys
    attempts = []
    real_connect, real_connect_ex, real_gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    def _block(kind, address):
        attempts.append([kind, repr(address)])
        raise OSError("privacy guard: blocked")
    socket.socket.connect = lambda s, a: _block("connect", a)
    socket.socket.connect_ex = lambda s, a: _block("connect_ex", a)
    socket.getaddrinfo = lambda host, *a, **k: _block("getaddrinfo", host)

    import mem7_core, mem7
    from mem7_core import AsyncMemory, Memory, MemoryConfig
    import mem7_core.engine.memory, mem7_core.engine.sync, mem7_core.history.sqlite
    import mem7_flat, mem7_openai, mem7_fastembed, mem7_cohere, mem7_llm_rerank
    optional = []
    for name in ("mem7_upstash", "mem7_qdrant", "mem7_pgvector"):  # other providers, when installed
        try:
            __import__(name)
            optional.append(name)
        except ImportError:
            pass
    from mem7_core.plugins import get_registry
    reg = get_registry()
    reg.load_all()
    kinds = {{k: sorted(v) for k, v in reg.providers().items()}}
    # Building providers pointed at the outside world must not connect either (lazy clients).
    eng = AsyncMemory({{
        "llm": {{"provider": "openai", "config": {{"api_key": "sk-x", "base_url": "https://api.openai.com/v1"}}}},
        "embedder": {{"provider": "fastembed"}},
        "vector_store": {{"provider": "flat"}},
        "history_store": {{"provider": "sqlite", "config": {{"path": ":memory:"}}}},
        "reranker": {{"provider": "cohere", "config": {{"api_key": "co-x"}}}},
    }})
    telemetry = sorted(m for m in sys.modules if m.split(".")[0] in {TELEMETRY_MODULES!r})
    print(json.dumps({{"attempts": attempts, "telemetry": telemetry, "kinds": kinds, "optional": optional,
                      "failed": reg.failed}}))
    """
)


def test_importing_mem7_and_every_plugin_opens_no_socket():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MEM7_", "CO_", "COHERE_"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(Path(__file__).parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["attempts"] == [], report["attempts"]
    assert report["telemetry"] == []
    assert {"flat", "openai", "fastembed", "cohere", "hash", "sqlite"} <= {n for v in report["kinds"].values() for n in v}


def test_telemetry_is_off_by_default_and_never_records_query_text_unasked():
    cfg = MemoryConfig()
    assert cfg.telemetry.enabled is False and cfg.telemetry.record_query_text is False
    assert MemoryConfig.embedded("/tmp/x").telemetry.enabled is False


def _in_memory_spans() -> tuple[Any, Any]:
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_spans_carry_no_user_text_unless_asked_and_send_nothing(guard, tmp_path):
    """Switched on with a tracer provider of the application's: spans, but no text and no socket."""
    provider, exporter = _in_memory_spans()
    cfg = MemoryConfig.embedded(tmp_path, embedder={"provider": "hash", "config": {}}, telemetry={"enabled": True})
    async with AsyncMemory(cfg, tracer_provider=provider) as mem:
        await _session(mem)
    spans = exporter.get_finished_spans()
    assert {"add", "search", "update"} <= {s.name for s in spans}
    recorded = " ".join(str(v) for s in spans for v in s.attributes.values())
    assert "passport" not in recorded and "X123" not in recorded and "Lisbon" not in recorded
    assert guard.attempts == []


async def test_otlp_exporter_connects_only_to_the_configured_collector(guard, tmp_path):
    """The OTLP exporter sends to ``otlp_endpoint`` and nowhere else (here a loopback receiver)."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="needs the otel extra")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    paths: list[str] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length", "0")))
            paths.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        telemetry = {"enabled": True, "otlp_protocol": "http/protobuf", "otlp_endpoint": f"http://127.0.0.1:{server.server_port}"}
        cfg = MemoryConfig.embedded(tmp_path, embedder={"provider": "hash", "config": {}}, telemetry=telemetry)
        async with AsyncMemory(cfg) as mem:
            await _session(mem)
    finally:
        server.shutdown()
        server.server_close()
    assert paths and set(paths) == {"/v1/traces"}
    targets = {(a[1][0], a[1][1]) for a in guard.attempts if a[0] != "getaddrinfo"}
    assert targets == {("127.0.0.1", server.server_port)}


async def test_no_user_text_in_logs_during_search_and_verbatim_add(caplog, tmp_path):
    secret_text, secret_query = "My passport number is X123", "passport X123 lookup"
    caplog.set_level(logging.DEBUG)
    async with AsyncMemory(MemoryConfig.embedded(tmp_path, embedder={"provider": "hash", "config": {}})) as mem:
        await mem.add(secret_text, user_id="u", infer=False)
        await mem.search(secret_query, user_id="u")
        await mem.get_all(user_id="u")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "X123" not in logged and "passport" not in logged


async def test_hash_embedder_does_not_keep_every_text_it_embedded():
    """``hash`` is a registered provider (the embedded default's offline stand-in), not only a test
    fake: a long-running engine must not hold every text it ever embedded in memory."""
    from mem7_core.testing.fakes import HashEmbedder

    emb = HashEmbedder(HashEmbedder.Config(dims=8))
    for i in range(2000):
        await emb.embed([f"private text {i}"])
    assert len(emb.calls) <= 256 and emb.calls[-1] == ["private text 1999"]
