"""The document-processing workflow on the durable-step engine (DESIGN §6, ``apps.core.workflows``).

One ProcessingRun per document version and one StepRun per step (analysis → extraction →
graph update → indexing → notification). This module holds what is particular to documents:
what a step body gets, what happens when steps are claimed, succeed or fail, and the
services that start, restart and retry runs. The steps themselves (queues, batch sizes,
bodies) are declared where their bodies live, in ``apps.search.pipeline``.

- Indexing's success makes the version its document's current one (``documents_ready``).
- A failed step fails the run and the document, and the notify step still runs to tell
  people; ``documents_finished`` is sent after a run ends either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.core import metrics, tracing
from apps.core.bulk import rows_update
from apps.core.workflows import engine
from apps.core.workflows.registry import workflow_get
from apps.core.workflows.spec import StepContext, Workflow
from apps.documents.analysis import analysis_batchable
from apps.documents.models import Document, DocumentStatus, DocumentVersion, ProcessingRun, StepRun
from apps.documents.signals import documents_finished, documents_ready

logger = logging.getLogger(__name__)

Step = StepRun.Step
Status = StepRun.Status
STEPS: tuple[str, ...] = (Step.ANALYZE, Step.EXTRACT, Step.GRAPH, Step.INDEX, Step.NOTIFY)


@dataclass
class PipelineContext(StepContext):
    """A document step's rows, loaded once for the whole batch."""

    run: ProcessingRun
    version: DocumentVersion

    @property
    def step_run(self) -> StepRun:
        return self.row


class DocumentPipeline(Workflow):
    name = "pipeline"
    model = StepRun
    parent = "run"
    domain_path = "run__domain_id"
    result_field = "metrics"
    sweep_task = "tasks.maintenance.sweep"

    def load(self, ids):
        return {s.pk: s for s in StepRun.objects.select_related("run__version__document").filter(pk__in=ids)}

    def context(self, row, heartbeat):
        return PipelineContext(row=row, heartbeat=heartbeat, run=row.run, version=row.run.version)

    def log_context(self, row):
        run = row.run
        return {"run_id": run.pk, "step": row.step, "domain": run.domain_id, "request_id": run.request_id or None}

    def claimed(self, rows):
        ProcessingRun.objects.filter(pk__in={r.run_id for r in rows}, status=ProcessingRun.Status.QUEUED).update(
            status=ProcessingRun.Status.RUNNING, started_at=timezone.now()
        )

    def succeeded(self, rows):
        runs = [r.run for r in rows]
        if rows[0].step == Step.INDEX:
            runs_ready(runs)
        elif rows[0].step == Step.NOTIFY:
            # A run that failed earlier stays failed; otherwise this was its last step.
            ProcessingRun.objects.filter(pk__in=[r.pk for r in runs]).exclude(status=ProcessingRun.Status.FAILED).update(
                status=ProcessingRun.Status.SUCCEEDED, finished_at=timezone.now()
            )

    def instance_fail(self, row, message):
        run, now = row.run, timezone.now()
        ProcessingRun.objects.filter(pk=run.pk).update(
            status=ProcessingRun.Status.FAILED, error=f"{Step(row.step).label}: {message}", finished_at=now
        )
        if row.step == Step.NOTIFY:
            return  # the document itself is fine; only telling people about it failed
        DocumentVersion.objects.filter(pk=run.version_id).update(status=DocumentStatus.FAILED, error=message)
        Document.objects.filter(pk=run.document_id).update(status=DocumentStatus.FAILED, error=message, updated_at=now)

    def failed(self, row, message):
        """The run fails; unless only notification failed, so do the version and the document,
        and the notify step still runs to tell people."""
        self.instance_fail(row, message)
        if row.step == Step.NOTIFY:
            return
        run = row.run
        notify = StepRun.objects.filter(run=run, step=Step.NOTIFY, status=Status.PENDING).values_list("pk", flat=True)
        engine.steps_queue(self, Step.NOTIFY, list(notify))
        _finished([run.document_id])
        transaction.on_commit(lambda: metrics.heysh_documents_finished_total.labels(outcome="failed").inc())


def pipeline() -> DocumentPipeline:
    return workflow_get(DocumentPipeline.name)


def runs_ready(runs: list[ProcessingRun]) -> None:
    """After indexing the versions are searchable: each becomes its document's current version."""
    now = timezone.now()
    DocumentVersion.objects.filter(pk__in=[r.version_id for r in runs]).update(status=DocumentStatus.READY, error="")
    rows_update(
        Document,
        {r.document_id: {"status": DocumentStatus.READY, "error": "", "current_version": r.version_id, "updated_at": now} for r in runs},
        ["status", "error", "current_version", "updated_at"],
    )
    documents_ready.send(sender=DocumentPipeline, runs=runs)
    _finished([r.document_id for r in runs])
    transaction.on_commit(lambda: metrics.heysh_documents_finished_total.labels(outcome="ready").inc(len(runs)))


def _finished(document_ids: list[int]) -> None:
    transaction.on_commit(lambda: documents_finished.send(sender=DocumentPipeline, document_ids=document_ids))


# --- services called by intake, admin and API ----------------------------------------
def run_start(*, version: DocumentVersion, request_id: str = "") -> ProcessingRun:
    """Create the run and its five steps for ``version`` and queue analysis. Idempotent per version."""
    return runs_start(versions=[version], request_id=request_id)[0]


def runs_start(*, versions: list[DocumentVersion], request_id: str = "") -> list[ProcessingRun]:
    """``run_start`` for many versions: a few statements in all, analysis sent in batches.

    Versions that already have a run get it back unchanged (nothing is queued twice).
    """
    workflow = pipeline()
    with transaction.atomic():
        existing = {run.version_id: run for run in ProcessingRun.objects.filter(version__in=[v.pk for v in versions])}
        new = [v for v in versions if v.pk not in existing]
        if new:
            # PostgreSQL and SQLite ≥ 3.35 return the primary keys of bulk inserts.
            trace_parent = tracing.trace_parent()
            runs = ProcessingRun.objects.bulk_create([
                ProcessingRun(version=v, document_id=v.document_id, domain_id=v.domain_id, request_id=request_id, trace_parent=trace_parent)
                for v in new
            ])
            existing.update({run.version_id: run for run in runs})
            # The analysis steps are created queued: no second statement to queue them.
            now = timezone.now()
            steps = StepRun.objects.bulk_create([
                StepRun(run=run, step=step, ordinal=i, **({"status": Status.QUEUED, "queued_at": now} if step == Step.ANALYZE else {}))
                for run in runs
                for i, step in enumerate(STEPS)
            ])
            Document.objects.filter(pk__in=[v.document_id for v in new]).update(status=DocumentStatus.PROCESSING, error="")
            DocumentVersion.objects.filter(pk__in=[v.pk for v in new]).update(status=DocumentStatus.PROCESSING, error="")
            # Small in-process documents are analysed in batches; a PDF or a URL gets its own message.
            batchable, alone = [], []
            for version, analyze in zip(new, steps[:: len(STEPS)], strict=True):
                (batchable if analysis_batchable(version) else alone).append(analyze.pk)
            transaction.on_commit(lambda: (
                engine.send_batches(workflow, Step.ANALYZE, batchable),
                [engine.send(workflow, Step.ANALYZE, i) for i in alone],
            ))
    if len(new) == 1:
        logger.info("run %s started for version %s", existing[new[0].pk].pk, new[0].pk)
    elif new:
        logger.info("%d runs started", len(new))
    return [existing[v.pk] for v in versions]


def run_restart(*, run: ProcessingRun) -> ProcessingRun:
    """Reprocess from the start: every step back to pending, analysis queued."""
    with transaction.atomic():
        StepRun.objects.filter(run=run).update(
            status=Status.PENDING, attempt=0, lease_owner="", lease_expires_at=None, queued_at=None,
            started_at=None, finished_at=None, error="", metrics={},
        )
        ProcessingRun.objects.filter(pk=run.pk).update(
            status=ProcessingRun.Status.QUEUED, error="", started_at=None, finished_at=None, **_new_trace()
        )
        _mark_processing(run)
        workflow = pipeline()
        engine.steps_queue(workflow, Step.ANALYZE, engine.steps_of_parents(workflow, Step.ANALYZE, [run.pk]))
    run.refresh_from_db()
    return run


def run_retry_failed(*, run: ProcessingRun) -> ProcessingRun:
    """Re-queue the failed steps with fresh attempts; the run continues from there."""
    with transaction.atomic():
        failed = list(StepRun.objects.select_for_update().filter(run=run, status=Status.FAILED).order_by("ordinal"))
        if not failed:
            return run
        pipeline_failed = [s for s in failed if s.step != Step.NOTIFY]
        to_queue = pipeline_failed[:1] or failed
        if pipeline_failed:
            # The notify step told people about the failure; it must run again at the end.
            StepRun.objects.filter(run=run, step=Step.NOTIFY).update(
                status=Status.PENDING, attempt=0, error="", lease_owner="", lease_expires_at=None
            )
            _mark_processing(run)
        ProcessingRun.objects.filter(pk=run.pk).update(status=ProcessingRun.Status.RUNNING, error="", finished_at=None, **_new_trace())
        workflow = pipeline()
        for step_run in to_queue:
            engine.steps_queue(workflow, step_run.step, [step_run.pk], reset_attempts=True)
    run.refresh_from_db()
    return run


def _new_trace() -> dict:
    """A person's restart or retry is its own trace: the steps it queues join the request's."""
    parent = tracing.trace_parent()
    return {"trace_parent": parent} if parent else {}


def _mark_processing(run: ProcessingRun) -> None:
    Document.objects.filter(pk=run.document_id).update(status=DocumentStatus.PROCESSING, error="")
    DocumentVersion.objects.filter(pk=run.version_id).update(status=DocumentStatus.PROCESSING, error="")


def step_execute(*, step_run_id: int | list[int], step: str) -> str | None:
    """Run one delivery of a pipeline step message (the engine's ``step_execute``)."""
    return engine.step_execute(pipeline(), step, step_run_id)


def workflow_sweep(*, now=None) -> dict[str, int]:
    """The engine's sweep over the document pipeline."""
    return engine.workflow_sweep(pipeline(), now=now)
