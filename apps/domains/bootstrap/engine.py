"""The durable step engine of the bootstrap workflow (DESIGN §6).

PostgreSQL holds the workflow history: one ``BootstrapStep`` row per (bootstrap, step).
A delivery claims its step with a conditional UPDATE (queued, or running with an
expired lease → running under a new lease); no row updated means a duplicate delivery,
which exits. The finishing step marks itself succeeded and queues the next one in the
same transaction; the message is sent on commit. The knowledge-base step waits on a
database counter of finished documents (``services.bootstrap_documents_finished``)
instead of a chord. ``bootstrap_sweep`` re-sends what the broker lost.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core import context, metrics
from apps.documents.errors import PermanentError
from apps.domains.models import BootstrapStep, Domain, DomainBootstrap

logger = logging.getLogger(__name__)

ORDER = [
    BootstrapStep.Step.RESEARCH,
    BootstrapStep.Step.INGEST,
    BootstrapStep.Step.GENERATE,
    BootstrapStep.Step.ACTIVATE,
]
# Queues from the issue: research and activation coordinate, ingestion writes, generation is AI work.
QUEUES = {
    BootstrapStep.Step.RESEARCH: "general",
    BootstrapStep.Step.INGEST: "storage",
    BootstrapStep.Step.GENERATE: "ai",
    BootstrapStep.Step.ACTIVATE: "general",
}


@dataclass
class Outcome:
    """What a step body returns: its output, and whether it finished or now waits on documents."""

    output: dict = field(default_factory=dict)
    wait: bool = False
    advance: bool = True  # False: the workflow stops here until a person acts (review)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> int:
    return settings.STEP_LEASE_SECONDS


def backoff_seconds(attempt: int) -> int:
    return min(settings.STEP_BACKOFF_SECONDS * 2 ** max(attempt - 1, 0), 600)


def send(step: BootstrapStep, *, countdown: int = 0) -> None:
    """Send the step's message after the surrounding transaction commits."""
    from tasks.bootstrap import TASKS

    task, step_id, queue = TASKS[step.step], step.pk, QUEUES[step.step]
    transaction.on_commit(lambda: task.apply_async((step_id,), queue=queue, countdown=countdown))


def step_queue(step: BootstrapStep, *, reset_attempts: bool = False, countdown: int = 0) -> bool:
    """Mark a not-running step queued and send it; False when it is running or already done."""
    now = timezone.now()
    values = {"status": BootstrapStep.Status.QUEUED, "queued_at": now, "error": "", "lease_owner": "", "lease_expires_at": None}
    if reset_attempts:
        values |= {"attempt": 0, "started_at": None, "finished_at": None}
    allowed = [BootstrapStep.Status.PENDING, BootstrapStep.Status.FAILED]
    if reset_attempts:
        allowed.append(BootstrapStep.Status.SUCCEEDED)
    updated = BootstrapStep.objects.filter(pk=step.pk, status__in=allowed).update(**values)
    if updated:
        step.refresh_from_db()
        send(step, countdown=countdown)
    return bool(updated)


def queue_next(bootstrap: DomainBootstrap, current: str) -> BootstrapStep | None:
    index = ORDER.index(current)
    if index + 1 >= len(ORDER):
        return None
    nxt = BootstrapStep.objects.get(bootstrap=bootstrap, step=ORDER[index + 1])
    step_queue(nxt)
    return nxt


def claim(step_id: int, owner: str) -> BootstrapStep | None:
    now = timezone.now()
    claimable = Q(status=BootstrapStep.Status.QUEUED) | Q(status=BootstrapStep.Status.RUNNING, lease_expires_at__lt=now)
    updated = (
        BootstrapStep.objects.filter(claimable, pk=step_id, attempt__lt=settings.STEP_MAX_ATTEMPTS)
        .update(
            status=BootstrapStep.Status.RUNNING,
            attempt=F("attempt") + 1,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            started_at=Coalesce(F("started_at"), now),
            error="",
        )
    )
    if not updated:
        return None
    return BootstrapStep.objects.select_related("bootstrap__domain", "bootstrap__created_by").get(pk=step_id)


def _held(step: BootstrapStep, owner: str):
    """Writes fenced by (owner, attempt): a worker that lost its lease cannot overwrite its successor."""
    return BootstrapStep.objects.filter(
        pk=step.pk, status=BootstrapStep.Status.RUNNING, lease_owner=owner, attempt=step.attempt
    )


def bootstrap_fail(bootstrap: DomainBootstrap, message: str, *, step: BootstrapStep) -> None:
    """Mark the bootstrap failed and tell the domain's owners and editors why (called once per
    failure, under the failed step's fence, in the transaction that records it)."""
    from apps.domains.bootstrap.services import notify_members
    from apps.domains.models import Membership

    DomainBootstrap.objects.filter(pk=bootstrap.pk).update(status=DomainBootstrap.Status.FAILED, error=message)
    notify_members(
        bootstrap=bootstrap, kind="bootstrap_failed", roles=[Membership.Role.OWNER, Membership.Role.EDITOR],
        title=f"Setting up {bootstrap.domain.name} stopped", body=f"{message}\nFix the cause, then retry the step from the domain's bootstrap page.",
        extra={"step": step.step, "failed_at": timezone.now().isoformat()},
    )


def run(step_id: int, handlers: dict[str, Callable[[BootstrapStep], Outcome]]) -> str:
    """Run one delivery of a step: claim, execute, record, advance. Returns what happened."""
    owner = worker_id()
    step = claim(step_id, owner)
    if step is None:
        return "duplicate"
    bootstrap = step.bootstrap
    started = time.monotonic()
    with context.bound(domain=bootstrap.domain.slug, step=f"bootstrap.{step.step}", run_id=f"bootstrap-{bootstrap.pk}"):
        DomainBootstrap.objects.filter(pk=bootstrap.pk).update(
            current_step=step.step, status=DomainBootstrap.Status.RUNNING if step.step != BootstrapStep.Step.ACTIVATE
            else F("status"), error="", updated_at=timezone.now(),
        )
        try:
            outcome = handlers[step.step](step)
        except PermanentError as exc:
            _record_failure(step, owner, exc.message, permanent=True)
            metrics.heysh_step_duration_seconds.labels(f"bootstrap_{step.step}", "failed").observe(time.monotonic() - started)
            return "failed"
        except Exception as exc:  # transient: retried with backoff until the attempts run out
            logger.exception("bootstrap step %s failed (attempt %s)", step.step, step.attempt)
            _record_failure(step, owner, f"{type(exc).__name__}: {exc}", permanent=False)
            metrics.heysh_step_duration_seconds.labels(f"bootstrap_{step.step}", "retry").observe(time.monotonic() - started)
            return "retry"
        with transaction.atomic():
            if outcome.wait:
                done = _held(step, owner).update(
                    status=BootstrapStep.Status.WAITING, output=outcome.output, lease_owner="", lease_expires_at=None
                )
            else:
                done = _held(step, owner).update(
                    status=BootstrapStep.Status.SUCCEEDED, output=outcome.output, finished_at=timezone.now(),
                    lease_owner="", lease_expires_at=None,
                )
                if done and outcome.advance:
                    queue_next(bootstrap, step.step)
        if not done:
            logger.warning("bootstrap step %s lost its lease before finishing; the new holder's result wins", step.step)
            return "lost_lease"
        metrics.heysh_step_duration_seconds.labels(f"bootstrap_{step.step}", "succeeded").observe(time.monotonic() - started)
        if outcome.wait:
            from apps.domains.bootstrap.services import bootstrap_poll_documents

            bootstrap_poll_documents(bootstrap_id=bootstrap.pk)
            return "waiting"
        return "succeeded"


def _record_failure(step: BootstrapStep, owner: str, message: str, *, permanent: bool) -> None:
    message = message[:2000]
    with transaction.atomic():
        if permanent or step.attempt >= settings.STEP_MAX_ATTEMPTS:
            updated = _held(step, owner).update(
                status=BootstrapStep.Status.FAILED, error=message, finished_at=timezone.now(), lease_owner="", lease_expires_at=None
            )
            if updated:
                bootstrap_fail(step.bootstrap, f"{step.get_step_display()} failed: {message}", step=step)
            return
        countdown = backoff_seconds(step.attempt)
        updated = _held(step, owner).update(
            status=BootstrapStep.Status.QUEUED, error=message, lease_owner="", lease_expires_at=None,
            queued_at=timezone.now() + timedelta(seconds=countdown),
        )
        if updated:
            send(step, countdown=countdown)


def sweep(*, now=None) -> dict:
    """Recover what the broker lost: expired leases, unclaimed messages, documents finished unnoticed."""
    from apps.domains.bootstrap.services import bootstrap_check_documents

    now = now or timezone.now()
    counts = {"expired": 0, "resent": 0, "dead": 0, "waiting_checked": 0}
    expired = BootstrapStep.objects.filter(status=BootstrapStep.Status.RUNNING, lease_expires_at__lt=now)
    for step in expired.select_related("bootstrap__domain"):
        with transaction.atomic():
            if step.attempt >= settings.STEP_MAX_ATTEMPTS:
                message = f"lease expired after {step.attempt} attempts (worker lost)"
                if BootstrapStep.objects.filter(pk=step.pk, status=BootstrapStep.Status.RUNNING, lease_expires_at__lt=now).update(
                    status=BootstrapStep.Status.FAILED, error=message, finished_at=now, lease_owner="", lease_expires_at=None
                ):
                    bootstrap_fail(step.bootstrap, f"{step.get_step_display()} failed: {message}", step=step)
                    counts["dead"] += 1
                continue
            if BootstrapStep.objects.filter(pk=step.pk, status=BootstrapStep.Status.RUNNING, lease_expires_at__lt=now).update(
                status=BootstrapStep.Status.QUEUED, queued_at=now, lease_owner="", lease_expires_at=None,
                error="lease expired: worker lost, re-queued",
            ):
                send(step)
                counts["expired"] += 1
                metrics.heysh_sweep_recovered_total.labels("bootstrap_lease_expired").inc()
    stale = BootstrapStep.objects.filter(status=BootstrapStep.Status.QUEUED, queued_at__lt=now - timedelta(seconds=settings.STEP_REQUEUE_AFTER_SECONDS))
    for step in stale:
        with transaction.atomic():
            if BootstrapStep.objects.filter(pk=step.pk, status=BootstrapStep.Status.QUEUED, queued_at=step.queued_at).update(
                queued_at=now
            ):
                send(step)
                counts["resent"] += 1
                metrics.heysh_sweep_recovered_total.labels("bootstrap_unclaimed").inc()
    for step in BootstrapStep.objects.filter(status=BootstrapStep.Status.WAITING).select_related("bootstrap"):
        bootstrap_check_documents(bootstrap=step.bootstrap)
        counts["waiting_checked"] += 1
    return counts


def ensure_steps(bootstrap: DomainBootstrap) -> None:
    for ordinal, name in enumerate(ORDER):
        BootstrapStep.objects.get_or_create(bootstrap=bootstrap, step=name, defaults={"ordinal": ordinal})


def set_domain_status(bootstrap: DomainBootstrap, status: str) -> None:
    # save() (not update()) so the status change is recorded in the domain's history.
    domain = Domain.objects.get(pk=bootstrap.domain_id)
    if domain.status != status:
        domain.status = status
        domain.save(update_fields=["status", "updated_at"])
