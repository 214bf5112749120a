"""OpenTelemetry spans for the engine (spec §11): one span per operation, a child span per provider call.

Off unless ``telemetry.enabled``: then, and only then, the ``opentelemetry`` packages are imported
(the optional extra ``pip install 'mem7-core[otel]'``), so a default engine loads no telemetry
library and sends nothing anywhere.

- Operation spans (methods marked with :func:`traced`) are named like the method (``add``,
  ``search``, ``get``, ``get_all``, ``update``, ``delete``, ``delete_all``, ``history``, ``reset``)
  and carry the scope ids, the by-id target, the limits asked for and the counts of what came back
  (``mem7.results``, ``mem7.events.ADD`` ...).
  The search query is recorded (``mem7.query``) only with ``telemetry.record_query_text``; the text
  of memories and messages never is.
- Provider calls are child spans named ``<kind>.<method>`` (``llm.generate``, ``embedder.embed``,
  ``vector_store.search``, ``graph_store.upsert``, ``reranker.rerank``, ``history_store.add_events``),
  opened by a proxy wrapped around each provider instance when the engine is assembled, so the
  engine's code does not change to be traced.

Where spans go: by default an SDK tracer provider of mem7's own exporting over OTLP to
``telemetry.otlp_endpoint`` (``exporter: otlp``), or the application's global tracer provider
(``exporter: global``), or a tracer provider passed to ``AsyncMemory(..., tracer_provider=...)``
(what tests do with the SDK's in-memory exporter).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._proxy import CoroutineProxy
from .errors import ConfigError
from .providers import usage as _usage

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from .config import TelemetryConfig

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

INSTALL_HINT = "pip install 'mem7-core[otel]'"
TRACED_KINDS = ("llm", "embedder", "vector_store", "graph_store", "reranker", "history_store")
"""Provider kinds whose calls become child spans (scorers run in-process and are not wrapped)."""

_SCOPE_KEYS = ("user_id", "agent_id", "run_id")
_GEN_AI_OPERATIONS = {"llm": "chat", "embedder": "embeddings"}
GEN_AI_PROVIDER_NAMES: dict[str, str] = {
    "azure": "azure.ai.openai", "gemini": "gcp.gemini", "bedrock": "aws.bedrock", "xai": "x_ai",
    "mistral": "mistral_ai", "vertex": "gcp.vertex_ai",
}
"""mem7 provider names whose ``gen_ai.provider.name`` (OpenTelemetry GenAI semantic conventions)
differs; any other name is used as it is (``openai``, ``anthropic``, ``cohere``, ``groq`` ...)."""


class Telemetry:
    """A tracer plus the privacy switch; the engine holds one only when telemetry is enabled.

    :param tracer: where spans are started.
    :param record_query_text: put the search query on the ``search`` span (``mem7.query``).
    :param owned: a tracer provider mem7 built itself, shut down (flushed) by :meth:`aclose`.
    """

    def __init__(self, tracer: Tracer, *, record_query_text: bool = False, owned: Any | None = None) -> None:
        self.tracer = tracer
        self.record_query_text = record_query_text
        self._owned = owned

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, config: TelemetryConfig, tracer_provider: TracerProvider | None = None) -> Telemetry | None:
        """``None`` when disabled (nothing imported); else a tracer from ``tracer_provider`` or the config.

        :raises ConfigError: enabled without the ``otel`` extra installed, naming the install line.
        """
        if not config.enabled:
            return None
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise ConfigError(
                f"telemetry.enabled: OpenTelemetry is not installed ({exc}); {INSTALL_HINT}, "
                "or set telemetry.enabled to false"
            ) from exc
        from . import __version__

        owned = None
        if tracer_provider is None:
            if config.exporter == "global":
                tracer_provider = trace.get_tracer_provider()
            else:
                tracer_provider = owned = _otlp_provider(config)
        tracer = tracer_provider.get_tracer("mem7_core", __version__)
        return cls(tracer, record_query_text=config.record_query_text, owned=owned)

    async def aclose(self) -> None:
        """Flush and shut down the tracer provider mem7 built (never one it was given)."""
        owned, self._owned = self._owned, None
        if owned is not None:
            await asyncio.to_thread(owned.shutdown)  # flushing exports over the network: off the loop

    # ------------------------------------------------------------------ engine
    def instrument(self, engine: Any) -> None:
        """Give ``engine`` (an ``AsyncMemory``) traced versions of its :func:`traced` methods."""
        for name in dir(type(engine)):
            fn = getattr(type(engine), name, None)
            operation = getattr(fn, OPERATION_ATTR, None)
            if operation is not None and callable(fn):
                setattr(engine, name, _operation_method(self, operation, fn, engine))

    # ------------------------------------------------------------------ providers
    def wrap(self, kind: str, provider: Any) -> Any:
        """``provider`` behind a proxy whose coroutine methods open ``<kind>.<method>`` spans."""
        if provider is None or isinstance(provider, TracedProvider) or kind not in TRACED_KINDS:
            return provider
        return TracedProvider(provider, kind, self)

    async def call(
        self, kind: str, provider: Any, method: str, fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...], kwargs: dict[str, Any],
    ) -> Any:
        """Run one provider call inside its child span, with counts (never texts) as attributes."""
        with self.tracer.start_as_current_span(f"{kind}.{method}") as span:
            name = str(getattr(provider, "name", type(provider).__name__))
            span.set_attribute("mem7.provider", name)
            span.set_attribute("mem7.provider.kind", kind)
            if kind in _GEN_AI_OPERATIONS and method in ("generate", "embed"):
                span.set_attribute("gen_ai.operation.name", _GEN_AI_OPERATIONS[kind])
                span.set_attribute("gen_ai.provider.name", GEN_AI_PROVIDER_NAMES.get(name, name))
            _call_attributes(span, kind, method, provider, args, kwargs)
            reported = _usage.reports_so_far()  # an embedder's token reports before this call
            result = await fn(*args, **kwargs)
            _result_attributes(span, kind, method, result)
            if kind == "embedder" and (tokens := _usage.reported_tokens(reported)) is not None:
                span.set_attribute("gen_ai.usage.input_tokens", tokens)
            return result


class TracedProvider(CoroutineProxy):
    """A provider seen through telemetry: its public coroutine methods run inside child spans.

    Everything else (``name``, ``capabilities``, ``dims``, ``aclose()``) is the wrapped provider's
    own; ``isinstance(proxy, VectorStore)`` holds, as ``__class__`` reports the wrapped class.
    """

    __slots__ = ("_kind", "_telemetry")

    def __init__(self, inner: Any, kind: str, telemetry: Telemetry) -> None:
        super().__init__(inner)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_telemetry", telemetry)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        telemetry, kind, inner = self._telemetry, self._kind, self._inner

        @functools.wraps(method)
        async def traced(*args: Any, **kwargs: Any) -> Any:
            return await telemetry.call(kind, inner, name, method, args, kwargs)

        return traced

    def __repr__(self) -> str:
        return f"<traced {self._inner!r}>"


def unwrap(provider: Any) -> Any:
    """The provider under a telemetry proxy (or ``provider`` itself)."""
    return provider.wrapped if isinstance(provider, TracedProvider) else provider


# ---------------------------------------------------------------------- operation spans
OPERATION_ATTR = "__mem7_operation__"


def traced(operation: str) -> Callable[[F], F]:
    """Mark a public ``AsyncMemory`` method as the operation ``operation`` (spec §11 span names).

    The method itself is left as it is, so a disabled engine pays nothing; an engine with
    telemetry enabled replaces the marked methods on its own instance (:meth:`Telemetry.instrument`).
    """

    def mark(fn: F) -> F:
        setattr(fn, OPERATION_ATTR, operation)
        return fn

    return mark


def _operation_method(
    telemetry: Telemetry, operation: str, fn: Callable[..., Awaitable[Any]], engine: Any
) -> Callable[..., Awaitable[Any]]:
    """``fn`` bound to ``engine``, inside a span named ``operation``."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    async def method(*args: Any, **kwargs: Any) -> Any:
        try:
            call = signature.bind(engine, *args, **kwargs)
            call.apply_defaults()
            bound = call.arguments
        except TypeError:
            bound = {}  # the call itself raises the TypeError, inside the span
        with telemetry.tracer.start_as_current_span(operation) as span:
            span.set_attribute("mem7.operation", operation)
            _operation_attributes(span, operation, bound, telemetry.record_query_text)
            result = await fn(engine, *args, **kwargs)
            _outcome_attributes(span, result)
            return result

    return method


def _operation_attributes(span: Span, operation: str, args: Mapping[str, Any], record_query: bool) -> None:
    filters = args.get("filters")
    for key in _SCOPE_KEYS:
        value = args.get(key)
        if value is None and isinstance(filters, Mapping) and isinstance(filters.get(key), str):
            value = filters[key]
        if isinstance(value, str):
            span.set_attribute(f"mem7.{key}", value)
    if isinstance(args.get("memory_id"), str):
        span.set_attribute("mem7.memory_id", args["memory_id"])
    for key in ("limit", "infer", "rerank", "threshold", "task_type", "memory_type"):
        value = args.get(key)
        if isinstance(value, (bool, int, float, str)):
            span.set_attribute(f"mem7.{key}", value)
    if isinstance(filters, Mapping):
        span.set_attribute("mem7.filters", len([k for k in filters if k not in _SCOPE_KEYS]))
    if operation == "search" and record_query and isinstance(args.get("query"), str):
        span.set_attribute("mem7.query", args["query"])


def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` of a result dict (the public shape), else the attribute."""
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _outcome_attributes(span: Span, result: Any) -> None:
    if result is None:
        span.set_attribute("mem7.found", False)
        return
    if isinstance(result, list):  # history()
        span.set_attribute("mem7.events", len(result))
        return
    results = _field(result, "results")
    if isinstance(results, list):
        span.set_attribute("mem7.results", len(results))
        counts: dict[str, int] = {}
        for r in results:
            event = _field(r, "event")
            if isinstance(event, str):
                counts[event] = counts.get(event, 0) + 1
        for event, n in counts.items():
            span.set_attribute(f"mem7.events.{event}", n)
        relations = _field(result, "relations")
        if isinstance(relations, list):
            span.set_attribute("mem7.relations", len(relations))
        if _field(result, "graph_error"):  # the graph step failed, the vector memory did not
            span.set_attribute("mem7.graph_error", True)
    elif _field(result, "id") is not None and _field(result, "memory") is not None:
        span.set_attribute("mem7.found", True)  # get()
    _usage_attributes(span, _field(result, "usage"))


def _usage_attributes(span: Span, usage: Any) -> None:
    """The operation's totals (``usage`` of its result) as ``mem7.usage.*``: not ``gen_ai.usage.*``,
    which the child spans carry per call and which a backend summing a trace would count twice."""
    if not isinstance(usage, Mapping):
        return
    for key in ("calls", "prompt_tokens", "completion_tokens", "embedding_tokens", "total_tokens"):
        if isinstance(usage.get(key), int):
            span.set_attribute(f"mem7.usage.{key}", usage[key])


# ---------------------------------------------------------------------- child span attributes
def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else None


def _call_attributes(
    span: Span, kind: str, method: str, provider: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    if kind == "llm":
        model = getattr(provider, "model", None)
        if not isinstance(model, str):
            model = getattr(getattr(provider, "config", None), "model", None)
        if isinstance(model, str):
            span.set_attribute("gen_ai.request.model", model)
        if (n := _sized(_arg(args, kwargs, 0, "messages"))) is not None:
            span.set_attribute("mem7.messages", n)
        if isinstance(kwargs.get("response_format"), str):
            span.set_attribute("mem7.response_format", kwargs["response_format"])
    elif kind == "embedder":
        model = getattr(provider, "model_name", None)
        if isinstance(model, str):
            span.set_attribute("gen_ai.request.model", model)
        if (n := _sized(_arg(args, kwargs, 0, "texts"))) is not None:
            span.set_attribute("mem7.texts", n)
        if isinstance(kwargs.get("purpose"), str):
            span.set_attribute("mem7.purpose", kwargs["purpose"])
    elif kind == "reranker":
        if (n := _sized(_arg(args, kwargs, 1, "documents"))) is not None:
            span.set_attribute("mem7.documents", n)
    elif method in ("insert", "get", "delete", "add_events", "delete_events"):
        if (n := _sized(args[0] if args else None)) is not None:
            span.set_attribute("mem7.inputs", n)
    if isinstance(kwargs.get("limit"), int):
        span.set_attribute("mem7.limit", kwargs["limit"])


def _result_attributes(span: Span, kind: str, method: str, result: Any) -> None:
    if isinstance(result, bool):
        return
    if isinstance(result, int):
        span.set_attribute("mem7.count", result)
    elif (n := _sized(result)) is not None:
        span.set_attribute("mem7.results", n)
    usage = getattr(result, "usage", None) if kind == "llm" else None
    if isinstance(usage, Mapping):
        for key, attr in (
            ("prompt_tokens", "gen_ai.usage.input_tokens"), ("completion_tokens", "gen_ai.usage.output_tokens")
        ):
            if isinstance(usage.get(key), int):
                span.set_attribute(attr, usage[key])


# ---------------------------------------------------------------------- exporter
def check_installed(config: TelemetryConfig) -> None:
    """Raise what enabling ``config`` would raise for a missing package (``mem7 config check``).

    :raises ConfigError: naming ``pip install 'mem7-core[otel]'``.
    """
    if not config.enabled:
        return
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"telemetry.enabled: OpenTelemetry is not installed ({exc}); {INSTALL_HINT}") from exc
    if config.exporter == "otlp":
        _exporter_class(config)


def _exporter_class(config: TelemetryConfig) -> Any:
    try:
        import opentelemetry.sdk.trace  # noqa: F401

        if config.otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
    except ImportError as exc:
        raise ConfigError(
            f"telemetry.exporter: the OpenTelemetry SDK or its OTLP {config.otlp_protocol} exporter is not installed "
            f"({exc}); {INSTALL_HINT}"
        ) from exc
    return OTLPSpanExporter


def _otlp_provider(config: TelemetryConfig) -> Any:
    """An SDK tracer provider batching spans to the configured OTLP endpoint (nothing sent until a span ends)."""
    OTLPSpanExporter = _exporter_class(config)  # noqa: N806 - a class
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    endpoint = config.otlp_endpoint
    if config.otlp_protocol == "http/protobuf" and not endpoint.rstrip("/").endswith("/v1/traces"):
        # The collector's traces path, as OTEL_EXPORTER_OTLP_ENDPOINT implies.
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    exporter_kwargs: dict[str, Any] = {"endpoint": endpoint, "timeout": config.otlp_timeout_secs}
    if config.otlp_headers:
        exporter_kwargs["headers"] = dict(config.otlp_headers)
    if config.otlp_protocol == "grpc":
        exporter_kwargs["insecure"] = endpoint.startswith("http://")
    provider = SdkTracerProvider(resource=Resource.create({"service.name": config.service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(**exporter_kwargs)))
    return provider


__all__ = [
    "GEN_AI_PROVIDER_NAMES", "INSTALL_HINT", "OPERATION_ATTR", "TRACED_KINDS", "Telemetry", "TracedProvider",
    "check_installed", "traced", "unwrap",
]
