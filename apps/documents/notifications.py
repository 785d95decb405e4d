"""The notify step: tell the uploader and the domain's owners and editors how a run ended.

- Notification rows, at most one per (user, run, kind): a redelivered step adds none.
- Mail through Django's mail framework when ``NOTIFY_BY_EMAIL`` is on, once per new
  notification; best effort (a mail server outage never fails the step).
- A signed webhook when the domain has a ``webhook_url``: a JSON body POSTed with
  ``X-Heysh-Timestamp`` and ``X-Heysh-Signature: sha256=<hex>``, the HMAC-SHA256 of
  ``"<timestamp>." + body`` under the domain's ``webhook_secret``. A failed delivery
  fails the step's attempt, so the engine retries it with backoff as a new attempt;
  every attempt is logged in WebhookDelivery; a successful one is never repeated.

A failed run reaches this step too (the engine queues it on failure): the kind is
then ``document_failed`` and the body carries the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from apps.core import metrics
from apps.documents.models import DocumentStatus, Notification, ProcessingRun, WebhookDelivery
from apps.domains.models import Membership

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Heysh-Signature"
TIMESTAMP_HEADER = "X-Heysh-Timestamp"


class WebhookFailed(Exception):
    """Transient: the receiver did not accept the event; the step is retried with backoff."""


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_deliver(*, run: ProcessingRun, event: str, payload: dict, attempt: int) -> WebhookDelivery:
    domain = run.domain
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "heysh-webhook/1",
        "X-Heysh-Event": event,
        "X-Heysh-Delivery": f"run-{run.pk}-{event}",
        TIMESTAMP_HEADER: timestamp,
    }
    if domain.webhook_secret:
        headers[SIGNATURE_HEADER] = webhook_signature(secret=domain.webhook_secret, timestamp=timestamp, body=body)
    started = time.monotonic()
    status_code, error = None, ""
    try:
        response = httpx.post(
            domain.webhook_url, content=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"receiver answered HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    delivery = WebhookDelivery.objects.create(
        domain=domain, run=run, event=event, url=domain.webhook_url, attempt=attempt, status_code=status_code,
        ok=not error, error=error, duration_ms=int((time.monotonic() - started) * 1000),
    )
    metrics.heysh_webhook_deliveries_total.labels(outcome="ok" if delivery.ok else "failed").inc()
    return delivery


def _recipients(run: ProcessingRun, cache: dict | None = None) -> list:
    """Active uploader, owners and editors: one query (per domain and uploader with ``cache``)."""
    cache_key = (run.domain_id, run.document.created_by_id)
    if cache is not None and cache_key in cache:
        return cache[cache_key]
    staff = Membership.objects.filter(
        domain_id=run.domain_id, role__in=[Membership.Role.OWNER, Membership.Role.EDITOR]
    ).values("user_id")
    users = get_user_model().objects.filter(is_active=True).filter(
        Q(pk__in=staff) | Q(pk=run.document.created_by_id or 0)
    ).order_by("pk")
    users = list(users)
    if cache is not None:
        cache[cache_key] = users
    return users


def run_notify(*, run: ProcessingRun, attempt: int = 1, recipients_cache: dict | None = None) -> dict:
    run = ProcessingRun.objects.select_related("document", "domain", "version").get(pk=run.pk)
    document, version = run.document, run.version
    failed = version.status == DocumentStatus.FAILED
    kind = "document_failed" if failed else "document_ready"
    title = f"{document.title}: processing failed" if failed else f"{document.title} is ready"
    body = version.error if failed else f"“{document.title}” was processed and is now searchable in {run.domain.name}."
    recipients = _recipients(run, recipients_cache)
    # At most one row per (user, run, kind) (a unique constraint): a redelivery adds none.
    notified = set(Notification.objects.filter(run=run, kind=kind).values_list("user_id", flat=True))
    new_users = [user for user in recipients if user.pk not in notified]
    Notification.objects.bulk_create(
        [
            Notification(user=user, run=run, kind=kind, domain_id=run.domain_id, document=document, title=title[:300], body=body,
                         data={"document_id": document.pk, "version_id": version.pk, "status": version.status})
            for user in new_users
        ],
        ignore_conflicts=True,
    )
    created = len(new_users)
    for user in new_users:
        if settings.NOTIFY_BY_EMAIL and user.email:
            try:
                send_mail(title[:300], body, settings.DEFAULT_FROM_EMAIL, [user.email])
            except Exception as exc:  # mail is best effort; the notification row is the record
                logger.warning("notification mail to user %s failed: %s", user.pk, exc)

    delivered = None
    if run.domain.webhook_url:
        event = "document.failed" if failed else "document.ready"
        if WebhookDelivery.objects.filter(run=run, event=event, ok=True).exists():
            delivered = True
        else:
            payload = {
                "event": event,
                "sent_at": timezone.now().isoformat(),
                "domain": {"id": run.domain_id, "slug": run.domain.slug},
                "document": {"id": document.pk, "title": document.title, "status": version.status, "error": version.error},
                "version": {"id": version.pk, "number": version.number},
                "run": {"id": run.pk},
            }
            delivery = webhook_deliver(run=run, event=event, payload=payload, attempt=attempt)
            if not delivery.ok:
                raise WebhookFailed(f"Webhook delivery failed: {delivery.error}")
            delivered = True
    return {"kind": kind, "notifications": created, "webhook": delivered}


def notify_body(ctx) -> dict:
    return run_notify(run=ctx.run, attempt=ctx.step_run.attempt)


def notify_batch_body(contexts) -> dict[int, dict | Exception]:
    """Notify for several runs (recipients looked up once per domain); each succeeds or fails on its own."""
    cache: dict = {}
    outcomes: dict[int, dict | Exception] = {}
    for ctx in contexts:
        try:
            result = run_notify(run=ctx.run, attempt=ctx.step_run.attempt, recipients_cache=cache)
            outcomes[ctx.step_run.pk] = {**result, "batch": len(contexts)} if len(contexts) > 1 else result
        except Exception as exc:  # noqa: PERF203 (a failing webhook of one domain must not hold back the others)
            outcomes[ctx.step_run.pk] = exc
    return outcomes
