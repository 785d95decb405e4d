"""The domain bootstrap on the durable-step engine (DESIGN §6, ``apps.core.workflows``).

One ``BootstrapStep`` row per (bootstrap, step): research → knowledge base → generation →
(a person's review) → activation. This module holds what is particular to the bootstrap:
what a step body gets, the bootstrap's status around its steps, failure notices, and the
fan-in of the knowledge-base step, which waits on a database counter of finished documents
instead of a chord. The steps themselves are declared in ``steps``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.bootstrap.models import BootstrapStep, DomainBootstrap, ResearchCandidate
from apps.bootstrap.notices import notify_members
from apps.core.workflows import engine
from apps.core.workflows.registry import workflow_get
from apps.core.workflows.spec import StepContext, Workflow
from apps.documents.models import DocumentStatus
from apps.domains.models import Domain, Membership

logger = logging.getLogger(__name__)

Step = BootstrapStep.Step
Status = BootstrapStep.Status
ORDER = [Step.RESEARCH, Step.INGEST, Step.GENERATE, Step.ACTIVATE]
POLL_SECONDS = 3  # how often a waiting knowledge-base step looks at its documents
CHECK_DOCUMENTS_TASK = "tasks.bootstrap.check_documents"


@dataclass
class BootstrapContext(StepContext):
    bootstrap: DomainBootstrap


class BootstrapWorkflow(Workflow):
    name = "bootstrap"
    model = BootstrapStep
    parent = "bootstrap"
    domain_path = "bootstrap__domain_id"
    result_field = "output"
    metric_prefix = "bootstrap_"
    sweep_task = "tasks.bootstrap.sweep"

    def load(self, ids):
        return {s.pk: s for s in BootstrapStep.objects.select_related("bootstrap__domain", "bootstrap__created_by").filter(pk__in=ids)}

    def context(self, row, heartbeat):
        return BootstrapContext(row=row, heartbeat=heartbeat, bootstrap=row.bootstrap)

    def log_context(self, row):
        bootstrap = row.bootstrap
        return {"domain": bootstrap.domain.slug, "step": f"bootstrap.{row.step}", "run_id": f"bootstrap-{bootstrap.pk}"}

    def claimed(self, rows):
        for row in rows:
            DomainBootstrap.objects.filter(pk=row.bootstrap_id).update(
                current_step=row.step, error="", updated_at=timezone.now(),
                status=F("status") if row.step == Step.ACTIVATE else DomainBootstrap.Status.RUNNING,
            )

    def waiting(self, rows):
        for row in rows:
            transaction.on_commit(lambda pk=row.bootstrap_id: bootstrap_poll_documents(bootstrap_id=pk))

    def failed(self, row, message):
        bootstrap_fail(row.bootstrap, f"{row.get_step_display()} failed: {message}", step=row)

    def instance_fail(self, row, message):
        DomainBootstrap.objects.filter(pk=row.bootstrap_id).update(
            status=DomainBootstrap.Status.FAILED, error=f"{row.get_step_display()} failed: {message}"
        )

    def swept(self, now):
        waiting = BootstrapStep.objects.filter(status=Status.WAITING).select_related("bootstrap")
        checked = 0
        for row in waiting:
            bootstrap_check_documents(bootstrap=row.bootstrap)
            checked += 1
        return {"waiting_checked": checked}


def bootstrap_workflow() -> BootstrapWorkflow:
    return workflow_get(BootstrapWorkflow.name)


def ensure_steps(bootstrap: DomainBootstrap) -> None:
    for ordinal, name in enumerate(ORDER):
        BootstrapStep.objects.get_or_create(bootstrap=bootstrap, step=name, defaults={"ordinal": ordinal})


def step_queue(step: BootstrapStep, *, reset_attempts: bool = False) -> bool:
    """Queue a step that is not running: pending or failed ones, and with ``reset_attempts`` (a
    person's retry or re-run) finished ones too. False when it is running or waiting."""
    allowed = [Status.PENDING, Status.FAILED, *([Status.SUCCEEDED] if reset_attempts else [])]
    queued = engine.steps_queue(bootstrap_workflow(), step.step, [step.pk], only_from=allowed, reset_attempts=reset_attempts)
    step.refresh_from_db()
    return bool(queued)


def queue_next(bootstrap: DomainBootstrap, current: str) -> None:
    engine.queue_next(bootstrap_workflow(), list(BootstrapStep.objects.filter(bootstrap=bootstrap, step=current)))


def set_domain_status(bootstrap: DomainBootstrap, status: str) -> None:
    # save() (not update()) so the status change is recorded in the domain's history.
    domain = Domain.objects.get(pk=bootstrap.domain_id)
    if domain.status != status:
        domain.status = status
        domain.save(update_fields=["status", "updated_at"])


def bootstrap_fail(bootstrap: DomainBootstrap, message: str, *, step: BootstrapStep) -> None:
    """Mark the bootstrap failed and tell the domain's owners and editors why (called once per
    failure, under the failed step's fence, in the transaction that records it)."""
    DomainBootstrap.objects.filter(pk=bootstrap.pk).update(status=DomainBootstrap.Status.FAILED, error=message)
    notify_members(
        bootstrap=bootstrap, kind="bootstrap_failed", roles=[Membership.Role.OWNER, Membership.Role.EDITOR],
        title=f"Setting up {bootstrap.domain.name} stopped",
        body=f"{message}\nFix the cause, then retry the step from the domain's bootstrap page.",
        extra={"step": step.step, "failed_at": timezone.now().isoformat()},
    )


# --- Fan-in: the knowledge-base step waits for its documents ------------------------
def bootstrap_documents_finished(*, document_ids: list[int]) -> None:
    """Count finished documents towards their bootstraps; called when documents' runs end.

    Safe to call any number of times: a candidate moves out of ``pending`` once, and only
    that conditional UPDATE bumps the counter. Documents no bootstrap waits for cost one query.
    """
    candidates = list(
        ResearchCandidate.objects.filter(
            document_id__in=document_ids, outcome=ResearchCandidate.Outcome.PENDING,
            document__status__in=[DocumentStatus.READY, DocumentStatus.FAILED],
        ).select_related("document")
    )
    bootstraps = set()
    for candidate in candidates:
        document = candidate.document
        if _record_outcome(candidate, ready=document.status == DocumentStatus.READY, error=document.error):
            bootstraps.add(candidate.bootstrap_id)
    for bootstrap in DomainBootstrap.objects.filter(pk__in=bootstraps):
        _maybe_finish_ingest(bootstrap)


def _record_outcome(candidate: ResearchCandidate, *, ready: bool, error: str = "") -> bool:
    outcome = ResearchCandidate.Outcome.READY if ready else ResearchCandidate.Outcome.FAILED
    with transaction.atomic():
        moved = ResearchCandidate.objects.filter(pk=candidate.pk, outcome=ResearchCandidate.Outcome.PENDING).update(
            outcome=outcome, error=(error or "")[:2000]
        )
        if moved:
            counter = "documents_done" if ready else "documents_failed"
            DomainBootstrap.objects.filter(pk=candidate.bootstrap_id).update(**{counter: F(counter) + 1})
    return bool(moved)


def bootstrap_check_documents(*, bootstrap: DomainBootstrap) -> None:
    """Poll the documents of a waiting knowledge-base step (the sweep's safety net for the event)."""
    pending = ResearchCandidate.objects.filter(
        bootstrap=bootstrap, chosen=True, outcome=ResearchCandidate.Outcome.PENDING, document__isnull=False,
        document__status__in=[DocumentStatus.READY, DocumentStatus.FAILED],
    ).select_related("document")
    for candidate in pending:
        _record_outcome(candidate, ready=candidate.document.status == DocumentStatus.READY, error=candidate.document.error)
    _maybe_finish_ingest(bootstrap)


def bootstrap_poll_documents(*, bootstrap_id: int) -> None:
    """Check the documents now and, while the step still waits, again in ``POLL_SECONDS``.

    The documents' ``documents_finished`` event makes the counter move at once; this poll
    makes the workflow independent of it; the beat sweep checks too, should a poll message be lost.
    """
    bootstrap = DomainBootstrap.objects.filter(pk=bootstrap_id).first()
    if bootstrap is None:
        return
    bootstrap_check_documents(bootstrap=bootstrap)
    if BootstrapStep.objects.filter(bootstrap_id=bootstrap_id, step=Step.INGEST, status=Status.WAITING).exists():
        engine.task_send(CHECK_DOCUMENTS_TASK, [bootstrap_id], queue="general", countdown=POLL_SECONDS)


def _maybe_finish_ingest(bootstrap: DomainBootstrap) -> None:
    with transaction.atomic():
        bootstrap = DomainBootstrap.objects.select_for_update().get(pk=bootstrap.pk)
        if bootstrap.documents_done + bootstrap.documents_failed < bootstrap.documents_expected:
            return
        output = {
            "documents_expected": bootstrap.documents_expected,
            "documents_done": bootstrap.documents_done,
            "documents_failed": bootstrap.documents_failed,
        }
        finished = BootstrapStep.objects.filter(bootstrap=bootstrap, step=Step.INGEST, status=Status.WAITING).update(
            status=Status.SUCCEEDED, finished_at=timezone.now(), output=output
        )
        if finished:
            queue_next(bootstrap, Step.INGEST)
