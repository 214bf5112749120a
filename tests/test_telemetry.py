"""OpenTelemetry spans (spec §11): one per operation, a child per provider call, off by default.

Spans are caught with the SDK's ``InMemorySpanExporter`` on a tracer provider passed to the engine
(the process-wide provider is never touched); the OTLP exporters are checked against real loopback
receivers (HTTP and gRPC) that decode what arrives.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra: pip install 'mem7-core[otel]'")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mem7_core import AsyncMemory, Memory, MemoryConfig
from mem7_core.errors import ConfigError, MemoryNotFoundError, ProviderError
from mem7_core.models import RerankResult, Scope
from mem7_core.providers import GraphRelation, GraphStore, GraphStoreCapabilities, Reranker, VectorStore
from mem7_core.telemetry import Telemetry, TracedProvider, unwrap
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM

OPERATIONS = {"add", "search", "get", "get_all", "update", "delete", "delete_all", "history", "reset"}
SECRET_QUERY = "where does the patient keep her insulin"
SECRET_TEXT = "I keep my insulin in the blue fridge"


class Spans:
    """A tracer provider of our own with an in-memory exporter (synchronous: spans land on end)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in self.finished]}"
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.finished if s.parent is not None and s.parent.span_id == parent.context.span_id]


@pytest.fixture
def spans() -> Iterator[Spans]:
    s = Spans()
    yield s
    s.provider.shutdown()


class ReverseReranker(Reranker):
    """Scores documents by reverse position: enough to see a rerank call in a trace."""

    name = "reverse"

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        n = len(documents)
        return [RerankResult(index=i, score=float(i + 1) / n) for i in range(n)][: top_n or n]


def _config(**telemetry: Any) -> dict[str, Any]:
    return {
        "llm": None,
        "embedder": {"provider": "hash", "config": {"dims": 32}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        "telemetry": {"enabled": True, **telemetry},
    }


async def _session(mem: AsyncMemory) -> str:
    out = await mem.add([{"role": "user", "content": SECRET_TEXT}], user_id="alice", agent_id="nurse")
    mem_id = out["results"][0]["id"]
    await mem.search(SECRET_QUERY, user_id="alice", limit=5)
    await mem.get(mem_id)
    await mem.get_all(user_id="alice")
    await mem.update(mem_id, "I keep my insulin in the kitchen")
    await mem.history(mem_id)
    await mem.delete(mem_id)
    await mem.delete_all(user_id="alice")
    await mem.reset()
    return mem_id


async def test_every_operation_has_a_span_named_as_in_the_spec(spans):
    async with AsyncMemory(_config(), tracer_provider=spans.provider) as mem:
        mem_id = await _session(mem)
    assert set(vars(mem)) >= OPERATIONS  # each operation traced on this instance only
    async with AsyncMemory(_config(enabled=False)) as plain:
        assert not set(vars(plain)) & OPERATIONS
    roots = [s for s in spans.finished if s.parent is None]
    assert sorted(s.name for s in roots) == sorted(OPERATIONS)
    add = spans.one("add")
    assert add.attributes["mem7.user_id"] == "alice" and add.attributes["mem7.agent_id"] == "nurse"
    assert "mem7.run_id" not in add.attributes
    assert add.attributes["mem7.results"] == 1 and add.attributes["mem7.events.ADD"] == 1
    assert add.attributes["mem7.infer"] is True
    search = spans.one("search")
    assert search.attributes["mem7.limit"] == 5 and search.attributes["mem7.results"] == 1
    assert spans.one("get").attributes["mem7.memory_id"] == mem_id
    assert spans.one("get").attributes["mem7.found"] is True
    assert spans.one("get_all").attributes["mem7.results"] == 1
    assert spans.one("history").attributes["mem7.events"] == 2  # ADD, UPDATE
    for name in ("update", "delete"):
        assert spans.one(name).attributes["mem7.memory_id"] == mem_id
    assert spans.one("delete_all").attributes["mem7.user_id"] == "alice"
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans.finished)


async def test_provider_calls_are_child_spans_of_their_operation(spans):
    llm = ScriptedLLM()
    async with AsyncMemory(_config(), llm=llm, reranker=ReverseReranker(), tracer_provider=spans.provider) as mem:
        await mem.add("I love green tea. My sister is called Ana.", user_id="bob")
        await mem.search("what do I drink", user_id="bob", limit=3)
    add, search = spans.one("add"), spans.one("search")
    add_children = {s.name for s in spans.children(add)}
    assert {"llm.generate", "embedder.embed", "vector_store.insert", "history_store.add_events"} <= add_children
    assert any(n.startswith("vector_store.search") for n in add_children)  # candidates (search or search_many)
    search_children = {s.name for s in spans.children(search)}
    assert {"embedder.embed", "vector_store.search", "reranker.rerank"} <= search_children
    generate = [s for s in spans.children(add) if s.name == "llm.generate"]
    assert len(generate) == len(llm.calls) >= 1
    assert generate[0].attributes["mem7.provider"] == "scripted"
    assert generate[0].attributes["mem7.response_format"] == "json"
    embed = next(s for s in spans.children(search) if s.name == "embedder.embed")
    assert embed.attributes == {**embed.attributes, "mem7.provider": "hash", "mem7.texts": 1, "mem7.purpose": "search"}
    rerank = next(s for s in spans.children(search) if s.name == "reranker.rerank")
    assert rerank.attributes["mem7.documents"] >= 1 and rerank.attributes["mem7.provider"] == "reverse"
    # Children are within their parent's time, and share its trace.
    for child in spans.children(add):
        assert child.context.trace_id == add.context.trace_id
        assert add.start_time <= child.start_time and child.end_time <= add.end_time


async def test_proxies_keep_the_providers_identity_and_given_instances_are_traced(spans):
    store_holder: dict[str, Any] = {}
    async with AsyncMemory(_config(), embedder=HashEmbedder(HashEmbedder.Config(dims=32)), tracer_provider=spans.provider) as mem:
        assert isinstance(mem.vector_store, VectorStore) and type(mem.vector_store) is TracedProvider
        assert mem.vector_store.name == "flat" and mem.vector_store.capabilities == unwrap(mem.vector_store).capabilities
        assert mem.embedder.dims == 32  # plain attributes pass through
        store_holder["inner"] = unwrap(mem.vector_store)
        await mem.add("hello there", user_id="u", infer=False)
    assert spans.named("embedder.embed")  # the embedder passed in was wrapped too
    assert not isinstance(store_holder["inner"], TracedProvider)


async def test_failures_mark_the_spans_as_errors(spans):
    llm = ScriptedLLM([ProviderError("scripted", "server down")] * 4)
    async with AsyncMemory({**_config(), "llm_retries": 1}, llm=llm, tracer_provider=spans.provider) as mem:
        with pytest.raises(ProviderError):
            await mem.add("I like tea", user_id="u")
        with pytest.raises(MemoryNotFoundError):
            await mem.update("0190c2d2-0000-7000-8000-000000000000", "x")
        with pytest.raises(ValueError, match="user_id"):
            await mem.search("anything")
    add = spans.one("add")
    assert add.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" and e.attributes["exception.type"].endswith("ProviderError") for e in add.events)
    generate = spans.children(add)
    assert [s.name for s in generate] == ["llm.generate"] * len(llm.calls) and llm.calls  # one per attempt
    assert all(s.status.status_code is StatusCode.ERROR for s in generate)
    assert spans.one("update").status.status_code is StatusCode.ERROR
    assert spans.one("search").status.status_code is StatusCode.ERROR  # bad input fails inside the span too


async def test_nothing_is_recorded_when_telemetry_is_disabled(spans):
    cfg = {**_config(), "telemetry": {"enabled": False}}
    async with AsyncMemory(cfg, tracer_provider=spans.provider) as mem:
        assert mem._telemetry is None and not isinstance(mem.vector_store, TracedProvider)
        assert not set(vars(mem)) & OPERATIONS  # the class's own methods run: no wrapper, no cost
        await _session(mem)
    assert spans.finished == []


async def test_query_text_is_absent_by_default_and_no_memory_text_is_ever_recorded(spans):
    async with AsyncMemory(_config(), llm=ScriptedLLM(), tracer_provider=spans.provider) as mem:
        await _session(mem)
        await mem.add(SECRET_TEXT, user_id="alice")  # the LLM path: messages go to llm.generate
    values = [str(v) for s in spans.finished for v in s.attributes.values()]
    assert spans.finished and not [v for v in values if "insulin" in v]


async def test_query_text_is_recorded_only_when_asked(spans):
    async with AsyncMemory(_config(record_query_text=True), tracer_provider=spans.provider) as mem:
        await _session(mem)
    assert spans.one("search").attributes["mem7.query"] == SECRET_QUERY
    others = [s for s in spans.finished if s.name != "search"]
    assert not [s for s in others for v in s.attributes.values() if "insulin" in str(v)]


def test_the_sync_facade_is_traced_too(spans, tmp_path):
    with Memory(_config(), tracer_provider=spans.provider) as m:
        m.add("I like tea", user_id="u")
        assert m.search("tea", user_id="u")["results"]
    assert {"add", "search"} <= {s.name for s in spans.finished if s.parent is None}


def test_enabled_without_the_extra_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the package were not installed
    with pytest.raises(ConfigError, match=r"telemetry.enabled.*pip install 'mem7-core\[otel\]'"):
        AsyncMemory(_config())


def test_bad_telemetry_fields_are_named():
    with pytest.raises(ValueError, match="otlp_protocol"):
        MemoryConfig.model_validate({"telemetry": {"otlp_protocol": "udp"}})
    with pytest.raises(ValueError, match="otlp_endpointt"):
        MemoryConfig.model_validate({"telemetry": {"otlp_endpointt": "x"}})


async def test_exporter_global_uses_the_applications_tracer_provider(spans, monkeypatch):
    from opentelemetry import trace

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: spans.provider)  # never set the real global
    async with AsyncMemory(_config(exporter="global")) as mem:
        await mem.get_all(user_id="u")
    assert spans.one("get_all").attributes["mem7.user_id"] == "u"


# ---------------------------------------------------------------------- graph store proxy
class DictGraph(GraphStore):
    """Just enough of a graph store to see its calls traced."""

    name = "dictgraph"
    capabilities = GraphStoreCapabilities()

    def __init__(self) -> None:
        super().__init__(None)
        self.rows: list[GraphRelation] = []

    async def upsert(self, scope: Scope, relations: Sequence[GraphRelation], **_: Any) -> list[GraphRelation]:
        self.rows.extend(relations)
        return list(relations)

    async def search(self, scope: Scope, *args: Any, **kwargs: Any) -> list[GraphRelation]:
        return list(self.rows)

    async def invalidate(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> int:
        return 0

    async def rehearse(self, scope: Scope, relations: Sequence[GraphRelation], *, now: str) -> None:
        return None

    async def get_all(self, scope: Scope, *, limit: int | None = None) -> list[GraphRelation]:
        return list(self.rows)

    async def delete_all(self, scope: Scope) -> None:
        self.rows.clear()

    async def reset(self) -> None:
        self.rows.clear()

    async def entity_count(self, scope: Scope) -> int:
        return len(self.rows) * 2


async def test_graph_store_calls_are_child_spans(spans):
    telemetry = Telemetry(spans.provider.get_tracer("test"))
    graph = telemetry.wrap("graph_store", DictGraph())
    assert isinstance(graph, GraphStore) and telemetry.wrap("graph_store", graph) is graph  # no double wrap
    scope = Scope(user_id="u")
    with spans.provider.get_tracer("test").start_as_current_span("add") as parent:
        await graph.upsert(scope, [GraphRelation(source="alice", relationship="likes", destination="tea")])
        assert await graph.entity_count(scope) == 2
        await graph.get_all(scope)
    kids = spans.children(spans.one("add"))
    assert [s.name for s in kids] == ["graph_store.upsert", "graph_store.entity_count", "graph_store.get_all"]
    assert kids[1].attributes["mem7.count"] == 2 and kids[2].attributes["mem7.results"] == 1
    assert all(k.attributes["mem7.provider"] == "dictgraph" for k in kids)
    assert parent.get_span_context().trace_id == kids[0].context.trace_id


async def test_graph_memory_calls_are_traced_under_add_and_search(spans):
    cfg = {**_config(), "graph_store": {"provider": "flat"}}
    async with AsyncMemory(cfg, llm=ScriptedLLM(), tracer_provider=spans.provider) as mem:
        out = await mem.add("Alice lives in Lisbon and works with Bob", user_id="u")
        assert out["relations"]
        await mem.search("where does alice live", user_id="u")
    add, search = spans.one("add"), spans.one("search")
    assert {"graph_store.upsert"} <= {s.name for s in spans.children(add)}
    assert "graph_store.search" in {s.name for s in spans.children(search)}
    assert add.attributes["mem7.relations"] == len(out["relations"])
    assert search.attributes["mem7.relations"] >= 1


# ---------------------------------------------------------------------- OTLP over loopback
class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.bodies.append((self.path, body))  # type: ignore[attr-defined]
        self.server.headers_seen.append(dict(self.headers))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: Any) -> None:
        pass


def _span_names(requests: list[Any]) -> tuple[set[str], set[str]]:
    names, services = set(), set()
    for req in requests:
        for rs in req.resource_spans:
            for attr in rs.resource.attributes:
                if attr.key == "service.name":
                    services.add(attr.value.string_value)
            for ss in rs.scope_spans:
                names.update(s.name for s in ss.spans)
    return names, services


async def test_otlp_http_exporter_sends_spans_to_the_configured_endpoint():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies, server.headers_seen = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cfg = _config(otlp_protocol="http/protobuf", otlp_endpoint=f"http://127.0.0.1:{server.server_port}",
                      service_name="mem7-test", otlp_headers={"x-team": "memory"})
        async with AsyncMemory(cfg) as mem:
            await mem.add("I like tea", user_id="u")
            await mem.search("tea", user_id="u")
        # aclose() flushed the batch processor: the spans have arrived.
    finally:
        server.shutdown()
        server.server_close()
    assert {path for path, _ in server.bodies} == {"/v1/traces"}
    assert all(h.get("x-team") == "memory" for h in server.headers_seen)
    names, services = _span_names([ExportTraceServiceRequest.FromString(b) for _, b in server.bodies])
    assert {"add", "search", "embedder.embed", "vector_store.search"} <= names
    assert services == {"mem7-test"}


async def test_otlp_grpc_exporter_sends_spans_to_the_configured_endpoint():
    grpc = pytest.importorskip("grpc")
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[Any] = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC service's naming
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        async with AsyncMemory(_config(otlp_endpoint=f"http://127.0.0.1:{port}")) as mem:
            await mem.get_all(user_id="u")
            await mem.reset()
    finally:
        server.stop(grace=None)
    names, services = _span_names(received)
    assert {"get_all", "reset", "vector_store.list", "vector_store.reset"} <= names
    assert services == {"mem7"}
