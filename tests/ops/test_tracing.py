"""OpenTelemetry tracing: off by default; on, one upload is one connected trace from the request
through the broker's messages to every pipeline step, and log lines carry its ids.

Spans go to the SDK's in-memory exporter (``tracing_setup(exporter=...)``), so the test sees
exactly what an OTLP collector would be sent. The worker is a real Celery worker consuming
this run's broker (Redis, or the SQLite file broker) in a thread of the test process: the
trace context must travel in the message headers, as between processes.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from apps.bootstrap.models import BootstrapStep
from apps.bootstrap.services import bootstrap_start
from apps.bootstrap.workflow import bootstrap_workflow
from apps.core import tracing
from apps.core.logging import ContextFilter
from apps.core.workflows import engine
from apps.documents.models import Document, ProcessingRun, StepRun
from apps.documents.services import document_create
from apps.documents.workflow import STEPS, pipeline
from heysh.celery import QUEUES, app
from tests.ops.helpers import free_port
from tests.workers import purge_queues, wait_until

STEP_SPANS = [f"pipeline.{step}" for step in STEPS]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    assert tracing.tracing_setup(exporter=exporter)
    yield exporter
    tracing.tracing_teardown()


@pytest.fixture
def worker_thread(settings):
    settings.STEP_BACKOFF_SECONDS = 1
    purge_queues()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=list(QUEUES), shutdown_timeout=30):
        yield
    purge_queues()


def _hex(value: int) -> str:
    return format(value, "032x")


def _in_trace(exporter, trace_id: int):
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


def test_tracing_is_off_without_an_endpoint(settings):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = None
    assert tracing.tracing_setup() is False
    assert not tracing.tracing_enabled()
    assert tracing.trace_parent() == ""
    assert tracing.ids() == ("-", "-")


@pytest.mark.workers
@pytest.mark.django_db(transaction=True)
def test_one_upload_is_one_connected_trace_across_all_five_steps(spans, worker_thread, owner_client, domain):
    response = owner_client.post(
        "/api/v1/documents",
        {
            "domain": domain.slug,
            "file": SimpleUploadedFile(
                "keepers.md",
                b"# Keepers\n\nThe Bell Rock lighthouse was built by Robert Stevenson in Scotland.",
                "text/markdown",
            ),
        },
        format="multipart",
    )
    assert response.status_code == 202, response.content
    document = Document.objects.get(pk=response.json()["document"]["id"])

    def notify_span_done():
        return any(s.name == "pipeline.notify" for s in spans.get_finished_spans())

    wait_until(notify_span_done, timeout=120, what="the notify step's span")
    run = ProcessingRun.objects.get(document=document)
    assert run.status == ProcessingRun.Status.SUCCEEDED, run.error

    (request_span,) = [
        s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.attributes.get("heysh.request_id")
    ]
    trace_id = request_span.context.trace_id
    assert request_span.parent is None
    assert _hex(trace_id) in run.trace_parent
    in_trace = _in_trace(spans, trace_id)
    names = Counter(s.name for s in in_trace)
    assert [names[name] for name in STEP_SPANS] == [1] * 5, names
    # Connected: one root (the request), every other span's parent is a span of this trace.
    ids = {s.context.span_id for s in in_trace}
    assert [s.name for s in in_trace if s.parent is None] == [request_span.name]
    assert all(s.parent.span_id in ids for s in in_trace if s.parent is not None)
    # Each step came through the broker: its task's consumer span is in the trace, and the step's
    # span is a child of it (the message's headers carried the context).
    by_id = {s.context.span_id: s for s in in_trace}
    for step in STEPS:
        (span,) = [s for s in in_trace if s.name == f"pipeline.{step}"]
        assert by_id[span.parent.span_id].name == f"run/tasks.pipeline.{step}"
        assert by_id[span.parent.span_id].kind == SpanKind.CONSUMER
        assert span.attributes["heysh.run_id"] == run.pk and span.attributes["heysh.outcome"] == "succeeded"
    # The next step's message is published inside the step's span; on PostgreSQL its queries
    # are spans inside it too (psycopg's instrumentation; SQLite has none).
    analyze = next(s for s in in_trace if s.name == "pipeline.analyze")
    children = [s for s in in_trace if s.parent and s.parent.span_id == analyze.context.span_id]
    assert "apply_async/tasks.pipeline.extract" in [s.name for s in children if s.kind == SpanKind.PRODUCER]
    if connection.vendor == "postgresql":
        assert any(s.kind == SpanKind.CLIENT and s.attributes.get("db.system") == "postgresql" for s in children)
    # Nothing of this upload leaked into another trace.
    assert not [s for s in spans.get_finished_spans() if s.name in STEP_SPANS and s.context.trace_id != trace_id]


@pytest.mark.django_db
def test_a_step_delivered_in_another_trace_joins_its_runs_trace_and_links_the_delivery(spans, domain, user):
    """A sweep's re-send, a batch of other documents' steps or a retry from beat arrive in a
    trace of their own: the step's span still belongs to the upload's trace."""
    with tracing.tracer().start_as_current_span("upload", kind=SpanKind.SERVER) as upload:
        document, _ = document_create(domain=domain, user=user, text="Fresnel lenses were first used at Cordouan.")
    analyze = StepRun.objects.get(run__document=document, step="analyze")
    with tracing.tracer().start_as_current_span("sweep", kind=SpanKind.CONSUMER) as sweep:
        assert engine.step_execute(pipeline(), "analyze", analyze.pk) == "succeeded"
    (span,) = [s for s in spans.get_finished_spans() if s.name == "pipeline.analyze"]
    assert span.context.trace_id == upload.get_span_context().trace_id
    assert span.parent.span_id == upload.get_span_context().span_id
    assert [link.context.span_id for link in span.links] == [sweep.get_span_context().span_id]


@pytest.mark.django_db
def test_a_failing_step_span_records_the_error(spans, domain, user, monkeypatch):
    with tracing.tracer().start_as_current_span("upload", kind=SpanKind.SERVER):
        document, _ = document_create(domain=domain, user=user, text="The Eddystone light stands off Plymouth.")
    analyze = StepRun.objects.get(run__document=document, step="analyze")

    def broken(contexts):
        raise RuntimeError("parser exploded")

    spec = pipeline().step("analyze")
    monkeypatch.setattr(
        pipeline(), "_by_name", {**pipeline()._by_name, "analyze": type(spec)(**{**spec.__dict__, "run": broken})}
    )
    assert engine.step_execute(pipeline(), "analyze", analyze.pk) == "retry"
    (span,) = [s for s in spans.get_finished_spans() if s.name == "pipeline.analyze"]
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.attributes["heysh.outcome"] == "retry"
    assert [e.attributes["exception.message"] for e in span.events if e.name == "exception"] == ["parser exploded"]


@pytest.mark.django_db
def test_a_bootstrap_step_joins_the_trace_of_the_request_that_created_the_domain(spans, user, monkeypatch):
    monkeypatch.setattr(engine, "send", lambda *args, **kwargs: None)  # the step is run here, not by a worker
    with tracing.tracer().start_as_current_span("create domain", kind=SpanKind.SERVER) as request:
        bootstrap = bootstrap_start(
            user=user, name="Lighthouses", seed_texts=[{"title": "Pharos", "text": "The Pharos stood at Alexandria."}]
        )
    assert format(request.get_span_context().trace_id, "032x") in bootstrap.trace_parent
    for step in (BootstrapStep.Step.RESEARCH, BootstrapStep.Step.INGEST):
        row = BootstrapStep.objects.get(bootstrap=bootstrap, step=step)
        assert engine.step_execute(bootstrap_workflow(), step, row.pk) in ("succeeded", "waiting")
    research, ingest = (
        [s for s in spans.get_finished_spans() if s.name == f"bootstrap.{step}"] for step in ("research", "ingest")
    )
    trace_id = request.get_span_context().trace_id
    assert [s.context.trace_id for s in research + ingest] == [trace_id, trace_id]
    # The documents the knowledge-base step ingests run their pipelines in the bootstrap's trace too.
    runs = list(ProcessingRun.objects.filter(domain=bootstrap.domain))
    assert runs and all(r.trace_parent.split("-")[1] == format(trace_id, "032x") for r in runs)


def test_log_records_carry_the_current_trace_and_span_ids(spans):
    record = logging.LogRecord("heysh.test", logging.INFO, __file__, 1, "hello", (), None)
    with tracing.tracer().start_as_current_span("work") as span:
        ContextFilter().filter(record)
    context = span.get_span_context()
    assert (record.trace_id, record.span_id) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    outside = logging.LogRecord("heysh.test", logging.INFO, __file__, 1, "hello", (), None)
    ContextFilter().filter(outside)
    assert (outside.trace_id, outside.span_id) == ("-", "-")


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver on loopback: what Tempo's distributor does with the
    protobuf requests a worker's exporter sends to ``<endpoint>/v1/traces``."""

    def __init__(self):
        self.spans: list[dict] = []
        self.paths: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.add(self.path)
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}.get(
                        "service.name"
                    )
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append(
                                {
                                    "name": span.name,
                                    "service": service,
                                    "trace_id": int.from_bytes(span.trace_id, "big"),
                                    "span_id": int.from_bytes(span.span_id, "big"),
                                    "parent_id": int.from_bytes(span.parent_span_id, "big")
                                    if span.parent_span_id
                                    else None,
                                }
                            )
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.workers
def test_worker_processes_export_their_step_spans_over_otlp_into_the_uploads_trace(spans, celery_workers, domain, user):
    """Real prefork workers, configured only by OTEL_EXPORTER_OTLP_ENDPOINT: the forked pool
    exports over OTLP/HTTP, and the context crosses the process boundary in the message headers."""
    receiver = OtlpReceiver()
    try:
        celery_workers.start(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_SERVICE_NAME="worker-test",
            OTEL_BSP_SCHEDULE_DELAY=200,
        )
        with tracing.tracer().start_as_current_span("upload", kind=SpanKind.SERVER) as upload:
            document_create(domain=domain, user=user, text="The Skerryvore light was built by Alan Stevenson.")

        trace_id = upload.get_span_context().trace_id

        def unknown_parents() -> set:
            known = {s["span_id"] for s in receiver.spans} | {s.context.span_id for s in spans.get_finished_spans()}
            return {s["parent_id"] for s in receiver.spans if s["trace_id"] == trace_id} - known

        def connected_step_spans():
            # A child span ends (and may be exported) a batch before its parent: the trace is
            # complete when the five steps are in and no received span's parent is missing.
            received = [s for s in receiver.spans if s["name"] in STEP_SPANS]
            return received if len(received) >= len(STEP_SPANS) and not unknown_parents() else None

        received = wait_until(connected_step_spans, timeout=120, what="five step spans and their parents exported by the worker")
    finally:
        receiver.close()
    assert receiver.paths == {"/v1/traces"}
    assert sorted(s["name"] for s in received) == sorted(STEP_SPANS)
    assert {s["trace_id"] for s in received} == {trace_id}
    assert {s["service"] for s in received} == {"worker-test"}
    # Connected across the two processes: every parent is a span the test process or the worker recorded.
    assert not unknown_parents()
    in_trace = [s for s in receiver.spans if s["trace_id"] == trace_id]
    assert any(s["name"] == "run/tasks.pipeline.analyze" for s in in_trace)
