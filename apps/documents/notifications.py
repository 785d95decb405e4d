"""The notify step: tell the uploader and the domain's owners and editors how a run ended.

- Notification rows, at most one per (user, run, kind): a redelivered step adds none.
- Mail through Django's mail framework when ``NOTIFY_BY_EMAIL`` is on, once per new
  notification; best effort (a mail server outage never fails the step).
- A signed webhook when the domain has a ``webhook_url``: a JSON body POSTed with
  ``X-Heysh-Timestamp`` and ``X-Heysh-Signature: sha256=<hex>``, the HMAC-SHA256 of
  ``"<timestamp>." + body`` under the domain's ``webhook_secret``. A failed delivery
  fails the step's attempt, so the engine retries it with backoff as a new attempt;
  every attempt is logged in WebhookDelivery; a successful one is never repeated.
  The URL goes through URL intake's SSRF rules (``apps.documents.fetch``): a private,
  loopback or link-local target is refused unless ``WEBHOOK_ALLOW_PRIVATE``, and a
  refused delivery is logged without failing the step (no retry could fix it).

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
from apps.core.netguard import vetted_target
from apps.documents.errors import PermanentError
from apps.documents.models import DocumentStatus, Notification, ProcessingRun, WebhookDelivery
from apps.domains.models import Membership

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Heysh-Signature"
TIMESTAMP_HEADER = "X-Heysh-Timestamp"
REFUSED = "refused: "  # the start of a delivery's error when the URL itself is not allowed


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
        # The same SSRF rules as URL intake: resolved and vetted here, connected to the vetted address.
        target, host_headers, extensions = vetted_target(domain.webhook_url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
            response = client.post(target, content=body, headers=headers | host_headers, extensions=extensions)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"receiver answered HTTP {status_code}"
    except PermanentError as exc:  # a URL that can never be delivered to: retrying cannot help
        error = REFUSED + exc.message
    except (httpx.HTTPError, ConnectionError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    delivery = WebhookDelivery.objects.create(
        domain=domain, run=run, event=event, url=domain.webhook_url, attempt=attempt, status_code=status_code,
        ok=not error, error=error, duration_ms=int((time.monotonic() - started) * 1000),
    )
    outcome = "ok" if delivery.ok else "refused" if error.startswith(REFUSED) else "failed"
    metrics.heysh_webhook_deliveries_total.labels(outcome=outcome).inc()
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


def _message(run: ProcessingRun) -> tuple[str, str, str]:
    document, version = run.document, run.version
    if version.status == DocumentStatus.FAILED:
        return "document_failed", f"{document.title}: processing failed", version.error
    return "document_ready", f"{document.title} is ready", f"“{document.title}” was processed and is now searchable in {run.domain.name}."


def _webhook(run: ProcessingRun, *, event: str, attempt: int, delivered_before: bool) -> bool | None:
    """Deliver the run's event to the domain's webhook (None: the domain has none). Raises WebhookFailed."""
    if not run.domain.webhook_url:
        return None
    if delivered_before:
        return True
    document, version = run.document, run.version
    payload = {
        "event": event,
        "sent_at": timezone.now().isoformat(),
        "domain": {"id": run.domain_id, "slug": run.domain.slug},
        "document": {"id": document.pk, "title": document.title, "status": version.status, "error": version.error},
        "version": {"id": version.pk, "number": version.number},
        "run": {"id": run.pk},
    }
    delivery = webhook_deliver(run=run, event=event, payload=payload, attempt=attempt)
    if delivery.error.startswith(REFUSED):
        # The domain's URL is not allowed (private address, unknown host): the delivery log says
        # why; the document and its notifications are not held back by a setting no retry fixes.
        logger.warning("webhook of domain %s refused: %s", run.domain_id, delivery.error)
        return False
    if not delivery.ok:
        raise WebhookFailed(f"Webhook delivery failed: {delivery.error}")
    return True


def runs_notify(*, run_ids: list[int], attempts: dict[int, int] | None = None) -> dict[int, dict | Exception]:
    """Notify for several runs: the rows of all of them in one insert, recipients looked up once
    per domain and uploader, then each run's webhook; each run succeeds or fails on its own."""
    runs = list(ProcessingRun.objects.select_related("document", "domain", "version").filter(pk__in=run_ids))
    attempts = attempts or {}
    cache: dict = {}
    # At most one row per (user, run, kind) (a unique constraint): a redelivery adds none.
    notified = set(Notification.objects.filter(run__in=runs).values_list("run_id", "user_id", "kind"))
    rows, new_users_of, kind_of = [], {}, {}
    for run in runs:
        kind, title, body = _message(run)
        new_users = [user for user in _recipients(run, cache) if (run.pk, user.pk, kind) not in notified]
        new_users_of[run.pk], kind_of[run.pk] = new_users, kind
        rows += [
            Notification(user=user, run=run, kind=kind, domain_id=run.domain_id, document=run.document, title=title[:300], body=body,
                         data={"document_id": run.document_id, "version_id": run.version_id, "status": run.version.status})
            for user in new_users
        ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if settings.NOTIFY_BY_EMAIL:
        for row in rows:
            if row.user.email:
                try:
                    send_mail(row.title, row.body, settings.DEFAULT_FROM_EMAIL, [row.user.email])
                except Exception as exc:  # noqa: PERF203 (mail is best effort; the notification row is the record)
                    logger.warning("notification mail to user %s failed: %s", row.user_id, exc)
    hooked = [run for run in runs if run.domain.webhook_url]
    delivered = set(WebhookDelivery.objects.filter(run__in=hooked, ok=True).values_list("run_id", "event")) if hooked else set()
    outcomes: dict[int, dict | Exception] = {}
    for run in runs:
        kind = kind_of[run.pk]
        event = "document.failed" if kind == "document_failed" else "document.ready"
        try:
            webhook = _webhook(run, event=event, attempt=attempts.get(run.pk, 1), delivered_before=(run.pk, event) in delivered)
        except Exception as exc:  # noqa: PERF203 (a failing webhook of one domain must not hold back the others)
            outcomes[run.pk] = exc
            continue
        outcomes[run.pk] = {"kind": kind, "notifications": len(new_users_of[run.pk]), "webhook": webhook}
    return outcomes


def run_notify(*, run: ProcessingRun, attempt: int = 1) -> dict:
    outcome = runs_notify(run_ids=[run.pk], attempts={run.pk: attempt})[run.pk]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def notify_step(contexts) -> dict[int, dict | Exception]:
    """The notify step for several runs (see ``runs_notify``)."""
    outcomes = runs_notify(run_ids=[ctx.run.pk for ctx in contexts], attempts={ctx.run.pk: ctx.step_run.attempt for ctx in contexts})
    batch = {"batch": len(contexts)} if len(contexts) > 1 else {}
    return {
        ctx.pk: outcome if isinstance(outcome, Exception) else {**outcome, **batch}
        for ctx in contexts
        for outcome in [outcomes[ctx.run.pk]]
    }
