"""The API's /metrics: process metrics plus what the platform collector computes from the
database, the broker and the readiness checks at scrape time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.documents.models import Document, DocumentVersion, ProcessingRun, StepRun
from heysh.celery import app
from tests.factories import DomainFactory
from tests.ops.helpers import free_port

pytestmark = pytest.mark.django_db


def _scrape(client) -> tuple[str, dict]:
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def _run_with_step(domain, *, step: str, status: str, queued_ago: float | None = None, lease_expired: bool = False):
    document = Document.objects.create(domain=domain, title=f"doc {step}", source=Document.Source.TEXT, status="processing")
    version = DocumentVersion.objects.create(document=document, domain=domain, number=1)
    run = ProcessingRun.objects.create(version=version, document=document, domain=domain, status="running")
    now = timezone.now()
    return StepRun.objects.create(
        run=run, step=step, ordinal=1, status=status,
        queued_at=now - timedelta(seconds=queued_ago) if queued_ago is not None else None,
        lease_expires_at=now - timedelta(seconds=30) if lease_expired else None,
    )


def test_documents_by_status_per_domain_are_counted_at_scrape_time(client):
    alpha, beta = DomainFactory(slug="alpha"), DomainFactory(slug="beta")
    for status in ("ready", "ready", "failed"):
        Document.objects.create(domain=alpha, title="a", source=Document.Source.TEXT, status=status)
    Document.objects.create(domain=beta, title="b", source=Document.Source.TEXT, status="pending")

    text, samples = _scrape(client)
    assert samples[("heysh_documents", (("domain", "alpha"), ("status", "ready")))] == 2
    assert samples[("heysh_documents", (("domain", "alpha"), ("status", "failed")))] == 1
    assert samples[("heysh_documents", (("domain", "beta"), ("status", "pending")))] == 1
    # One family per name: the process gauge of the same name is not exported twice.
    assert text.count("# TYPE heysh_documents gauge") == 1

    Document.objects.filter(domain=alpha, status="failed").update(status="ready")
    _, samples = _scrape(client)
    assert samples[("heysh_documents", (("domain", "alpha"), ("status", "ready")))] == 3
    assert ("heysh_documents", (("domain", "alpha"), ("status", "failed"))) not in samples


def test_oldest_queued_step_age_is_reported_per_queue_and_stuck_steps_counted(client):
    domain = DomainFactory()
    _run_with_step(domain, step="extract", status="queued", queued_ago=300)  # routed to ai
    _run_with_step(domain, step="extract", status="queued", queued_ago=20)
    _run_with_step(domain, step="graph", status="running", lease_expired=True)  # routed to storage

    _, samples = _scrape(client)
    assert samples[("celery_queue_oldest_message_age_seconds", (("queue_name", "ai"),))] >= 300
    assert samples[("celery_queue_oldest_message_age_seconds", (("queue_name", "general"),))] == 0
    assert samples[("heysh_steps_lease_expired", (("step", "graph"),))] == 1
    assert samples[("heysh_steps_lease_expired", (("step", "extract"),))] == 0
    assert samples[("heysh_steps", (("status", "queued"), ("step", "extract")))] == 2
    assert samples[("heysh_runs_oldest_active_age_seconds", ())] >= 0


def test_queue_length_is_read_from_the_broker(client):
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        channel.queue_declare(queue="storage", durable=True, auto_delete=False)
        channel.queue_purge("storage")
        with conn.Producer() as producer:
            for _ in range(3):
                producer.publish({"probe": True}, routing_key="storage", serializer="json")
    try:
        _, samples = _scrape(client)
        assert samples[("celery_queue_length", (("queue_name", "storage"),))] == 3
        assert ("celery_queue_length", (("queue_name", "ai"),)) in samples
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("storage")


def test_component_up_follows_the_readiness_checks(client, monkeypatch):
    # Nothing listens on this port: Vault configured but unreachable must read 0.
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    _, samples = _scrape(client)
    assert samples[("heysh_component_up", (("component", "database"),))] == 1
    assert samples[("heysh_component_up", (("component", "cache"),))] == 1
    assert samples[("heysh_component_up", (("component", "vault"),))] == 0
    assert samples[("heysh_component_check_seconds", (("component", "database"),))] >= 0


def test_metrics_page_keeps_django_prometheus_and_task_metrics(client):
    client.get("/health")
    text, _ = _scrape(client)
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in text
    assert "# TYPE celery_task_sent_total counter" in text
