"""The API's ``GET /metrics``: this process tree's metrics (``apps.cms.exporter``) plus the
*platform collector*, values computed from the database, the broker and the readiness checks
at scrape time. Apart from the exporter because it reads models: Celery imports the exporter
(through ``apps.cms.celery_metrics``) before Django's apps are loaded."""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable

import httpx
from celery import current_app
from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from apps.cms.exporter import Without, process_registry
from apps.core import metrics
from apps.core.errors import error_body
from apps.core.queues import QUEUES
from apps.core.readiness import _timed, check_components
from apps.core.workflows.registry import queue_of_steps
from apps.documents.models import Document, ProcessingRun, StepRun

logger = logging.getLogger(__name__)


def _family(gauge, labels: Iterable[str] | None = None) -> GaugeMetricFamily:
    """A scrape-time family that uses the name, help and labels defined in apps.core.metrics."""
    return GaugeMetricFamily(gauge._name, gauge._documentation, labels=list(gauge._labelnames if labels is None else labels))


class PlatformCollector(Collector):
    """Database, broker and readiness state, computed on every scrape (never cached in-process)."""

    NAMES = frozenset(
        m._name for m in (
            metrics.heysh_documents, metrics.celery_queue_length, metrics.celery_queue_oldest_message_age_seconds,
            metrics.heysh_component_up, metrics.heysh_component_check_seconds, metrics.heysh_steps,
            metrics.heysh_steps_lease_expired, metrics.heysh_runs_oldest_active_age_seconds,
        )
    )

    def collect(self):
        for part in (self._documents, self._steps, self._queue_lengths, self._components):
            try:
                yield from part()
            except Exception:  # one failing part (e.g. the DB is down) must not hide the others
                logger.exception("metrics collection failed in %s", part.__name__)

    def describe(self):
        return []  # collected lazily: registering must not touch the database

    def _documents(self):
        family = _family(metrics.heysh_documents)
        rows = Document.objects.values("domain__slug", "status").annotate(n=Count("id")).order_by()
        for row in rows:
            family.add_metric([row["domain__slug"], row["status"]], row["n"])
        yield family

    def _steps(self):
        now = timezone.now()
        by_status = _family(metrics.heysh_steps)
        for row in StepRun.objects.values("step", "status").annotate(n=Count("id")).order_by():
            by_status.add_metric([row["step"], row["status"]], row["n"])
        yield by_status

        queue_of_step = queue_of_steps()["pipeline"]
        oldest = {queue: 0.0 for queue in _queues()}
        queued = StepRun.objects.filter(status=StepRun.Status.QUEUED, queued_at__isnull=False)
        for row in queued.values("step").annotate(first=Min("queued_at")).order_by():
            queue = queue_of_step[row["step"]]
            age = max(0.0, (now - row["first"]).total_seconds())
            oldest[queue] = max(oldest.get(queue, 0.0), age)
        age_family = _family(metrics.celery_queue_oldest_message_age_seconds)
        for queue, age in sorted(oldest.items()):
            age_family.add_metric([queue], age)
        yield age_family

        expired = _family(metrics.heysh_steps_lease_expired)
        counts = dict.fromkeys(StepRun.Step.values, 0)
        stale = StepRun.objects.filter(status=StepRun.Status.RUNNING, lease_expires_at__lt=now)
        for row in stale.values("step").annotate(n=Count("id")).order_by():
            counts[row["step"]] = row["n"]
        for step_name, n in counts.items():
            expired.add_metric([step_name], n)
        yield expired

        first_active = ProcessingRun.objects.filter(
            status__in=[ProcessingRun.Status.QUEUED, ProcessingRun.Status.RUNNING]
        ).aggregate(first=Min("created_at"))["first"]
        oldest_run = _family(metrics.heysh_runs_oldest_active_age_seconds)
        oldest_run.add_metric([], max(0.0, (now - first_active).total_seconds()) if first_active else 0.0)
        yield oldest_run

    def _queue_lengths(self):
        app = current_app

        family = _family(metrics.celery_queue_length)
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for queue in _queues():
                try:
                    declared = channel.queue_declare(queue=queue, passive=True)
                    family.add_metric([queue], declared.message_count)
                except Exception as exc:  # a queue nobody declared yet is empty
                    logger.debug("queue %s not declared: %s", queue, type(exc).__name__)
                    family.add_metric([queue], 0)
        yield family

    def _components(self):
        components = check_components_with_vault()
        up = _family(metrics.heysh_component_up)
        seconds = _family(metrics.heysh_component_check_seconds)
        for name, result in sorted(components.items()):
            up.add_metric([name], 1.0 if result["ok"] else 0.0)
            seconds.add_metric([name], result["ms"] / 1000)
        yield up
        yield seconds


def _queues() -> list[str]:
    return list(QUEUES)


def check_vault() -> str:
    """Vault's unauthenticated health endpoint: 200 means initialized, unsealed and active."""
    addr = os.environ["VAULT_ADDR"].rstrip("/")
    response = httpx.get(f"{addr}/v1/sys/health", timeout=2)
    if response.status_code != 200:
        raise RuntimeError(f"vault health answered {response.status_code}")
    return "active"


def check_components_with_vault() -> dict[str, dict]:
    components = check_components()
    if os.environ.get("VAULT_ADDR", "").strip():
        components["vault"] = _timed(check_vault)
    return components


def api_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Without(process_registry(), PlatformCollector.NAMES))
    registry.register(PlatformCollector())
    return registry


def scrape_refusal(request) -> JsonResponse | None:
    """Why this request may not read /metrics, as the answer to send; None when it may.

    With HEYSH_METRICS_TOKEN set the caller must send it as a bearer token; unset, only a
    development install serves metrics (they name every tenant)."""
    token = settings.METRICS_TOKEN
    if not token:
        if settings.PRODUCTION:
            return JsonResponse(error_body("metrics_token_unset", "Metrics are disabled: set HEYSH_METRICS_TOKEN."), status=403)
        return None
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
        return None
    response = JsonResponse(error_body("not_authenticated", "A valid metrics bearer token is required."), status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
def metrics_view(request):
    """/metrics for Prometheus, behind HEYSH_METRICS_TOKEN (Caddy does not expose it publicly either)."""
    refusal = scrape_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(api_registry()), content_type=CONTENT_TYPE_LATEST)


