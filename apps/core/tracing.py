"""OpenTelemetry tracing, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (DESIGN §9).

``tracing_setup()`` (called from apps.core's ``ready()``, so once in every web, worker and
beat process) builds a tracer provider exporting over OTLP/HTTP and turns on the official
Django, Celery, psycopg, redis and httpx instrumentations. Celery's instrumentation carries
the trace context in each message's headers.

Messages alone cannot keep one upload in one trace: a batched delivery runs steps of many
documents, and the sweep re-sends lost steps from beat's own trace. So every workflow
instance remembers the ``traceparent`` of the request (or step) that started it, in its
``trace_parent`` column, and the engine opens each step's span under that parent
(``step_span_start``); when the delivery came from another trace, the step span links to it.

Calls made outside any request or task (broker polling, beat's scheduler queries) start no
trace: a root span of kind CLIENT is dropped by the sampler.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

logger = logging.getLogger(__name__)

TRACER_NAME = "heysh"
# Probes and scrapes would drown the traces.
EXCLUDED_URLS = "health,ready,metrics"

_provider = None  # the SDK provider this process set up, None while tracing is off
_instrumentors: list = []


def tracing_enabled() -> bool:
    return _provider is not None


def tracing_setup(*, exporter=None) -> bool:
    """Turn tracing on for this process; True when it is on. Idempotent.

    Without ``exporter`` it exports to ``settings.OTEL_EXPORTER_OTLP_ENDPOINT`` (nothing
    happens when that is unset) and becomes the global provider. Tests pass an in-memory
    exporter: spans are exported synchronously and the global provider is left alone, so
    ``tracing_teardown()`` can undo everything.
    """
    global _provider
    if _provider is not None:
        return True
    endpoint = getattr(settings, "OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if exporter is None and not endpoint:
        return False
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME, "service.namespace": "heysh"}),
        sampler=ParentBased(root=NoOrphanClientSpans()),
    )
    if exporter is None:
        # Imported here: the exporter (protobuf, requests) is only loaded when tracing is on.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # An explicit endpoint is used as given: the signal's path is ours to add.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
        trace.set_tracer_provider(provider)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider = provider
    _instrument(provider)
    logger.info(
        "tracing on: service %s%s", settings.OTEL_SERVICE_NAME, f", exporting to {endpoint}" if exporter is None else ""
    )
    return True


def tracing_teardown() -> None:
    """Undo ``tracing_setup()`` (tests): instrumentations off, spans flushed."""
    global _provider
    for instrumentor in reversed(_instrumentors):
        instrumentor.uninstrument()
    _instrumentors.clear()
    if _provider is not None:
        _provider.shutdown()
    _provider = None


def _instrument(provider) -> None:
    # Imported here: the instrumentations (and what they wrap) load only when tracing is on.
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    options = {
        DjangoInstrumentor: {"excluded_urls": EXCLUDED_URLS},
        CeleryInstrumentor: {},
        PsycopgInstrumentor: {},
        RedisInstrumentor: {},
        HTTPXClientInstrumentor: {},
    }
    for cls, extra in options.items():
        instrumentor = cls()
        if instrumentor.is_instrumented_by_opentelemetry:
            continue
        instrumentor.instrument(tracer_provider=provider, **extra)
        _instrumentors.append(instrumentor)


class NoOrphanClientSpans(Sampler):
    """Root sampler: a client call (SQL, Redis, HTTP) outside any request or task is not
    traced (the broker's polling alone would be a trace a second); everything else is."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "NoOrphanClientSpans"


def tracer() -> trace.Tracer:
    if _provider is not None:
        return _provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


# --- carrying a trace through the workflow tables ----------------------------------------
def trace_parent() -> str:
    """The W3C ``traceparent`` of the current span, "" when there is none (tracing off)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


def ids() -> tuple[str, str]:
    """(trace id, span id) of the current span in hex, ("-", "-") without one: for log lines."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return "-", "-"
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def annotate(**attributes) -> None:
    """Set ``heysh.<name>`` attributes on the current span (no-op without a recording span)."""
    span = trace.get_current_span()
    if span.is_recording():
        for name, value in attributes.items():
            if value not in (None, "", "-"):
                span.set_attribute(f"heysh.{name}", value if isinstance(value, bool | int | float) else str(value))


def step_span_start(name: str, *, parent: str, attributes: dict) -> trace.Span:
    """Start (not enter) the span of one workflow step.

    Its parent is the span that is current when that is in the instance's trace (the message
    came along the instance's own chain), else the instance's stored ``parent`` traceparent,
    linked to the delivery's span (a batch of other documents, a sweep, a retry from beat).
    """
    current = trace.get_current_span().get_span_context()
    stored = trace.get_current_span(extract({"traceparent": parent})).get_span_context() if parent else None
    context, links = None, ()
    if stored is not None and stored.is_valid and (not current.is_valid or current.trace_id != stored.trace_id):
        context = trace.set_span_in_context(trace.NonRecordingSpan(stored))
        links = (Link(current, {"heysh.link": "delivery"}),) if current.is_valid else ()
    return tracer().start_span(
        name,
        context=context,
        links=links,
        kind=SpanKind.INTERNAL,
        attributes={
            f"heysh.{k}": v if isinstance(v, bool | int | float) else str(v)
            for k, v in attributes.items()
            if v is not None
        },
    )


def current(span: trace.Span):
    """Make ``span`` the current span for a block (it is ended by ``step_span_end``, not here)."""
    return trace.use_span(span, end_on_exit=False)


def step_span_end(span: trace.Span, *, outcome: str, error: BaseException | None = None) -> None:
    span.set_attribute("heysh.outcome", outcome)
    if isinstance(error, BaseException):
        span.record_exception(error)
    if outcome in ("failed", "retry") or isinstance(error, BaseException):
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}" if error else outcome))
    span.end()


def step_spans_end(
    spans: Sequence[trace.Span], outcomes: Sequence[str], errors: Sequence[BaseException | None]
) -> None:
    for span, outcome, error in zip(spans, outcomes, errors, strict=True):
        step_span_end(span, outcome=outcome, error=error)
