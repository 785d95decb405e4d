"""The document-processing workflow engine (DESIGN §6).

PostgreSQL is the workflow history: one ProcessingRun per document version and one
StepRun per step. Celery only carries "run step <id>" messages; everything a
message could lose or duplicate is recovered from these rows:

- A step is claimed with one conditional UPDATE (queued, or running with an expired
  lease → running, attempt + 1, lease owner and expiry). Zero rows updated means a
  duplicate or stale delivery: log it and return.
- While it runs the step holds a lease; long steps call ``heartbeat()`` to extend it.
  Every later write of the step's state is fenced by (owner, attempt), so a worker
  that lost its lease cannot overwrite the work of the one that took over.
- Success marks the step succeeded and the next step queued in one transaction, and
  the message for the next step is sent from ``on_commit``: no chords, no chain().
- ``PermanentError`` fails the step, the run and the document at once. Any other
  exception (including a soft time limit) re-queues the step with exponential
  backoff until ``STEP_MAX_ATTEMPTS``, then fails it with the reason (dead letter).
- ``workflow_sweep`` (beat) re-sends steps whose lease expired or whose message the
  broker lost, and fails those whose attempts are exhausted.
- A failed run still runs the notify step, which tells people about the failure.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core import context, metrics
from apps.core.bulk import rows_update
from apps.documents.errors import PermanentError
from apps.documents.models import Chunk, Document, DocumentStatus, DocumentVersion, ProcessingRun, StepRun
from apps.domains.models import Domain

logger = logging.getLogger(__name__)

Step = StepRun.Step
Status = StepRun.Status
STEPS: tuple[str, ...] = (Step.ANALYZE, Step.EXTRACT, Step.GRAPH, Step.INDEX, Step.NOTIFY)
TASK_NAMES = {step: f"tasks.pipeline.{step}" for step in STEPS}
# The work of each step; each is idempotent (at-least-once delivery) and returns metrics.
BODIES = {
    Step.ANALYZE: "apps.documents.workflow.analyze_body",
    Step.EXTRACT: "apps.search.extraction.extract_body",
    Step.GRAPH: "apps.search.graph_update.graph_body",
    Step.INDEX: "apps.search.indexing.index_body",
    Step.NOTIFY: "apps.documents.notifications.notify_body",
}
# Steps that can run many documents in one call: (batch body, setting with the batch size).
# Embedding many short documents at once is several times faster than one by one.
# The cheap steps are batched too: per short document their fixed cost (claim, rows, commit)
# exceeds their work, and on a small machine every millisecond competes with the model.
BATCHED = {
    Step.ANALYZE: ("apps.documents.analysis.analyze_batch_body", "STEP_BATCH_DOCUMENTS"),
    Step.EXTRACT: ("apps.search.extraction.extract_batch_body", "STEP_BATCH_DOCUMENTS"),
    Step.GRAPH: ("apps.search.graph_update.graph_batch_body", "STEP_BATCH_DOCUMENTS"),
    Step.INDEX: ("apps.search.indexing.index_batch_body", "INDEX_BATCH_DOCUMENTS"),
    Step.NOTIFY: ("apps.documents.notifications.notify_batch_body", "STEP_BATCH_DOCUMENTS"),
}
MAX_BACKOFF_SECONDS = 600
ERROR_MAX_CHARS = 2000


class LeaseLost(Exception):
    """Another worker owns the step now (our lease expired and it was re-claimed)."""


@dataclass
class StepContext:
    """What a step body gets: its rows and a heartbeat to call during long work."""

    step_run: StepRun
    run: ProcessingRun
    version: DocumentVersion
    heartbeat: Callable[[], None]


def one_by_one(contexts: list[StepContext], body: Callable[[StepContext], dict]) -> dict[int, dict | Exception]:
    """Run ``body`` for each step on its own: how a batch body falls back when its shared pass
    fails, so one bad document fails (or retries) alone while the others succeed."""
    outcomes: dict[int, dict | Exception] = {}
    for ctx in contexts:
        try:
            outcomes[ctx.step_run.pk] = body(ctx)
        except Exception as exc:  # noqa: PERF203 (each document succeeds or fails on its own)
            outcomes[ctx.step_run.pk] = exc
    return outcomes


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempt: int) -> int:
    """Delay before attempt ``attempt + 1``: base · 2^(attempt-1), capped."""
    return min(settings.STEP_BACKOFF_SECONDS * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)


# --- sending -----------------------------------------------------------------------
def _send(step_run_ids: int | list[int], step: str, countdown: int = 0) -> None:
    """One message for one step, or for a batch of steps of one kind (a list of ids)."""
    import tasks.pipeline  # noqa: F401  (registers the tasks in web processes too)
    from heysh.celery import app

    app.tasks[TASK_NAMES[step]].apply_async(args=[step_run_ids], countdown=countdown or None)


def batch_size(step: str) -> int:
    """How many steps of this kind one delivery may run together (1 for unbatched steps)."""
    batched = BATCHED.get(step)
    return max(int(getattr(settings, batched[1])), 1) if batched else 1


def _send_batches(step_run_ids: list[int], step: str) -> None:
    """Send queued steps of one kind as few messages as their batch size allows.

    Every queued step is named by exactly one message (or found by the sweep), so a step
    never waits for another's delivery; a message names at most one batch of steps.
    """
    size = batch_size(step)
    for i in range(0, len(step_run_ids), size):
        part = step_run_ids[i : i + size]
        _send(part if len(part) > 1 else part[0], step)


def _queue(step_run_id: int, step: str, *, countdown: int = 0) -> None:
    """Mark a step queued and send its message once the surrounding transaction commits."""
    now = timezone.now()
    StepRun.objects.filter(pk=step_run_id).update(
        status=Status.QUEUED, queued_at=now + timedelta(seconds=countdown), lease_owner="", lease_expires_at=None
    )
    transaction.on_commit(lambda: _send(step_run_id, step, countdown))


def _queue_step_of_run(run: ProcessingRun, step: str) -> None:
    step_run_id = StepRun.objects.filter(run=run, step=step).values_list("pk", flat=True).get()
    _queue(step_run_id, step)


def _queue_step_of_runs(run_ids: list[int], step: str) -> None:
    """``_queue`` for the ``step`` of several runs at once: one query to find them, one to mark
    them, and one message per batch of them."""
    ids = list(StepRun.objects.filter(run_id__in=run_ids, step=step).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return
    StepRun.objects.filter(pk__in=ids).update(
        status=Status.QUEUED, queued_at=timezone.now(), lease_owner="", lease_expires_at=None
    )
    transaction.on_commit(lambda: _send_batches(ids, step))


def _send_document_finished(document_ids: int | list[int]) -> None:
    """Tell whoever waits for the documents (the domain bootstrap) that they are ready or failed."""
    from heysh.celery import app

    app.send_task("tasks.bootstrap.document_finished", (document_ids,))


def _document_finished(document_id: int) -> None:
    transaction.on_commit(lambda: _send_document_finished(document_id))


def _documents_finished(document_ids: list[int]) -> None:
    """``_document_finished`` for a batch: one message names them all."""
    if document_ids:
        transaction.on_commit(lambda: _send_document_finished(document_ids if len(document_ids) > 1 else document_ids[0]))


# --- services called by intake, admin and API ----------------------------------------
def run_start(*, version: DocumentVersion, request_id: str = "") -> ProcessingRun:
    """Create the run and its five steps for ``version`` and queue analysis. Idempotent per version."""
    return runs_start(versions=[version], request_id=request_id)[0]


def runs_start(*, versions: list[DocumentVersion], request_id: str = "") -> list[ProcessingRun]:
    """``run_start`` for many versions: a few statements in all, analysis sent in batches.

    Versions that already have a run get it back unchanged (nothing is queued twice).
    """
    from apps.documents.analysis import analysis_batchable

    with transaction.atomic():
        existing = {run.version_id: run for run in ProcessingRun.objects.filter(version__in=[v.pk for v in versions])}
        new = [v for v in versions if v.pk not in existing]
        if new:
            # PostgreSQL and SQLite ≥ 3.35 return the primary keys of bulk inserts.
            runs = ProcessingRun.objects.bulk_create([
                ProcessingRun(version=v, document_id=v.document_id, domain_id=v.domain_id, request_id=request_id) for v in new
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
            transaction.on_commit(lambda: (_send_batches(batchable, Step.ANALYZE), [_send(i, Step.ANALYZE) for i in alone]))
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
            status=ProcessingRun.Status.QUEUED, error="", started_at=None, finished_at=None
        )
        _mark_processing(run)
        _queue_step_of_run(run, Step.ANALYZE)
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
        StepRun.objects.filter(pk__in=[s.pk for s in to_queue]).update(attempt=0, error="", finished_at=None)
        ProcessingRun.objects.filter(pk=run.pk).update(status=ProcessingRun.Status.RUNNING, error="", finished_at=None)
        for step_run in to_queue:
            _queue(step_run.pk, step_run.step)
    run.refresh_from_db()
    return run


def _mark_processing(run: ProcessingRun) -> None:
    Document.objects.filter(pk=run.document_id).update(status=DocumentStatus.PROCESSING, error="")
    DocumentVersion.objects.filter(pk=run.version_id).update(status=DocumentStatus.PROCESSING, error="")


# --- executing a step ------------------------------------------------------------------
class Heartbeat:
    """Extends the leases of the steps a delivery owns; cheap to call often (writes at most
    every third of the lease). Raises LeaseLost once none of them is ours any more."""

    def __init__(self, step_run_ids: list[int], owner: str):
        self.step_run_ids, self.owner = list(step_run_ids), owner
        self.lease = settings.STEP_LEASE_SECONDS
        self._last = time.monotonic()

    def __call__(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < self.lease / 3:
            return
        extended = StepRun.objects.filter(pk__in=self.step_run_ids, status=Status.RUNNING, lease_owner=self.owner).update(
            lease_expires_at=timezone.now() + timedelta(seconds=self.lease)
        )
        if not extended:
            raise LeaseLost(f"steps {self.step_run_ids} lost their lease")
        self._last = time.monotonic()


def _fenced(step_run_id: int, owner: str, attempt: int):
    return StepRun.objects.filter(pk=step_run_id, status=Status.RUNNING, lease_owner=owner, attempt=attempt)


def _claim_values(owner: str, now) -> dict:
    return {
        "status": Status.RUNNING, "attempt": F("attempt") + 1, "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=settings.STEP_LEASE_SECONDS), "started_at": now, "finished_at": None,
    }


def _claimable(now) -> Q:
    return Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now, attempt__lt=settings.STEP_MAX_ATTEMPTS)


def step_claim(*, step_run_id: int, step: str, owner: str) -> bool:
    """The conditional UPDATE that makes one delivery the owner of the step."""
    now = timezone.now()
    return bool(StepRun.objects.filter(_claimable(now), pk=step_run_id, step=step).update(**_claim_values(owner, now)))


def steps_claim(*, step_run_ids: list[int], step: str, owner: str) -> list[int]:
    """Claim the steps a message names; returns those now ours (the others were duplicates).

    Rows another claimer holds locked are skipped (it is claiming them), so two deliveries
    naming overlapping steps never wait for each other or deadlock.
    """
    if len(step_run_ids) == 1:
        return list(step_run_ids) if step_claim(step_run_id=step_run_ids[0], step=step, owner=owner) else []
    now = timezone.now()
    with transaction.atomic():
        candidates = list(
            StepRun.objects.select_for_update(skip_locked=True)
            .filter(_claimable(now), pk__in=step_run_ids, step=step)
            .values_list("pk", flat=True)
        )
        if not candidates:
            return []
        StepRun.objects.filter(_claimable(now), pk__in=candidates).update(**_claim_values(owner, now))
    return _claimed_by(owner, now, candidates)


def _claimed_by(owner: str, now, candidates: list[int]) -> list[int]:
    return list(
        StepRun.objects.filter(pk__in=candidates, status=Status.RUNNING, lease_owner=owner, started_at=now)
        .order_by("pk").values_list("pk", flat=True)
    )


def step_claim_more(*, step: str, owner: str, limit: int, only: Q | None = None) -> list[int]:
    """Claim up to ``limit`` other queued steps of the same kind that are due, for one batched call.

    Their own messages arrive later, find them claimed and are acknowledged. Rows locked by
    a concurrent claimer are skipped, and the conditional UPDATE decides in any case.
    ``only`` narrows which steps may join (analysis takes small in-process documents only).
    """
    if limit <= 0:
        return []
    now = timezone.now()
    with transaction.atomic():
        candidates = list(
            StepRun.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(only or Q(), step=step, status=Status.QUEUED, queued_at__lte=now)
            .order_by("queued_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not candidates:
            return []
        StepRun.objects.filter(pk__in=candidates, status=Status.QUEUED).update(**_claim_values(owner, now))
    return _claimed_by(owner, now, candidates)


def _load_step_runs(ids: list[int]) -> dict[int, StepRun]:
    return {s.pk: s for s in StepRun.objects.select_related("run__version__document").filter(pk__in=ids)}


def _take_more(step: str, owner: str, step_runs: dict[int, StepRun]) -> list[int]:
    """For a batched step, claim further due steps of its kind up to the batch size."""
    room = batch_size(step) - len(step_runs)
    if step not in BATCHED or room <= 0:
        return []
    only = None
    if step == Step.ANALYZE:
        from apps.documents.analysis import analysis_batchable, batchable_steps

        # One large PDF must not hold a batch past its time limit: it is analysed alone.
        if not all(analysis_batchable(s.run.version) for s in step_runs.values()):
            return []
        only = batchable_steps()
    elif step == Step.INDEX:
        picked = _index_steps_that_fit(step_runs, room)
        if not picked:
            return []
        only, room = Q(pk__in=picked), len(picked)
    return step_claim_more(step=step, owner=owner, limit=room, only=only)


def _index_steps_that_fit(step_runs: dict[int, StepRun], limit: int) -> list[int]:
    """Further queued indexing steps, oldest first, that fit in this batch: at most ``limit``
    documents and ``INDEX_BATCH_CHUNKS`` chunks in all. An indexing batch costs its chunks, not
    its documents: 256 abstracts embed in seconds, 256 long reports would outlast the time limit."""
    room = settings.INDEX_BATCH_CHUNKS - Chunk.objects.filter(version_id__in=[s.run.version_id for s in step_runs.values()]).count()
    if room <= 0:
        return []
    chunks_of_version = (
        Chunk.objects.filter(version_id=OuterRef("run__version_id")).order_by().values("version_id").annotate(n=Count("pk")).values("n")
    )
    candidates = (
        StepRun.objects.filter(step=Step.INDEX, status=Status.QUEUED, queued_at__lte=timezone.now())
        .order_by("queued_at")
        .annotate(chunks=Coalesce(Subquery(chunks_of_version), 0))
        .values_list("pk", "chunks")[:limit]
    )
    picked = []
    for pk, chunks in candidates:
        if chunks > room:
            break  # queue order is kept: a long document is not overtaken forever by short ones
        picked.append(pk)
        room -= chunks
    return picked


def step_execute(*, step_run_id: int | list[int], step: str) -> str | None:
    """Run one delivery of a step message (one id, or a batch of ids of one kind). Returns the
    outcome of the first step claimed, or None when every named step was a duplicate delivery.

    A batched step (``BATCHED`` and its batch setting > 1) also claims other queued steps of its
    kind, up to the batch size, and runs them all in one call of the batch body: each still
    succeeds or fails on its own.
    """
    owner = worker_identity()
    requested = [int(step_run_id)] if isinstance(step_run_id, int | str) else [int(i) for i in step_run_id]
    ids = steps_claim(step_run_ids=requested, step=step, owner=owner)
    if not ids:
        logger.info("step %s %s: not claimable (duplicate or stale delivery), acknowledged", step, requested)
        return None
    step_runs = _load_step_runs(ids)
    more = _take_more(step, owner, step_runs)
    if more:
        step_runs.update(_load_step_runs(more))
        ids += more
    batch_setting = BATCHED.get(step)
    heartbeat = Heartbeat(ids, owner)
    ProcessingRun.objects.filter(pk__in={s.run_id for s in step_runs.values()}, status=ProcessingRun.Status.QUEUED).update(
        status=ProcessingRun.Status.RUNNING, started_at=timezone.now()
    )
    contexts = [
        StepContext(step_run=step_runs[pk], run=step_runs[pk].run, version=step_runs[pk].run.version, heartbeat=heartbeat)
        for pk in ids
    ]
    started = time.monotonic()
    own = contexts[0]
    with context.bound(run_id=own.run.pk, step=step, domain=own.run.domain_id, request_id=own.run.request_id or None):
        logger.info("step %s attempt %s started%s", step, own.step_run.attempt, f" with {len(ids) - 1} more" if len(ids) > 1 else "")
        try:
            if batch_setting:
                results = import_string(batch_setting[0])(contexts)
            else:
                results = {own.step_run.pk: import_string(BODIES[step])(own) or {}}
        except LeaseLost as exc:
            logger.warning("step %s abandoned: %s", step, exc)
            return "lease_lost"
        except Exception as exc:  # the whole call failed: every claimed step shares the outcome
            results = dict.fromkeys(ids, exc)
        duration = time.monotonic() - started
        succeeded = {
            ctx.step_run.pk: {**(results.get(ctx.step_run.pk) or {}), "duration_s": round(duration, 3)}
            for ctx in contexts
            if not isinstance(results.get(ctx.step_run.pk), BaseException)
        }
        # The successes of a batch commit together (each fenced on its own); failures one by one.
        _steps_succeed([ctx.step_run for ctx in contexts if ctx.step_run.pk in succeeded], owner=owner, results=succeeded)
        outcomes = [
            "succeeded" if ctx.step_run.pk in succeeded
            else _step_finish(ctx.step_run, owner=owner, result=results.get(ctx.step_run.pk), duration=duration)
            for ctx in contexts
        ]
        logger.info("step %s: %d succeeded in %.2fs", step, len(succeeded), duration)
    for outcome in outcomes:
        metrics.heysh_step_duration_seconds.labels(step=step, outcome=outcome).observe(duration)
    return outcomes[0]


def _step_finish(step_run: StepRun, *, owner: str, result, duration: float) -> str:
    attempt, step = step_run.attempt, step_run.step
    if isinstance(result, LeaseLost):
        return "lease_lost"
    if isinstance(result, PermanentError):
        logger.warning("step %s failed permanently: %s", step, result.message)
        _step_fail(step_run, _fenced(step_run.pk, owner, attempt), message=result.message)
        return "failed"
    if isinstance(result, BaseException):  # transient by contract, SoftTimeLimitExceeded included
        reason = f"{type(result).__name__}: {result}"[:ERROR_MAX_CHARS]
        logger.warning("step %s attempt %s failed: %s", step, attempt, reason, exc_info=result)
        return _step_retry_or_fail(step_run, owner=owner, attempt=attempt, reason=reason)
    _step_succeed(step_run, owner=owner, attempt=attempt, result={**(result or {}), "duration_s": round(duration, 3)})
    logger.info("step %s succeeded in %.2fs", step, duration)
    return "succeeded"


def _step_succeed(step_run: StepRun, *, owner: str, attempt: int, result: dict) -> None:
    run = step_run.run
    with transaction.atomic():
        done = _fenced(step_run.pk, owner, attempt).update(
            status=Status.SUCCEEDED, finished_at=timezone.now(), lease_expires_at=None, error="", metrics=result
        )
        if not done:
            logger.warning("step %s finished after losing its lease; the result of the new owner stands", step_run.step)
            return
        if step_run.step == Step.INDEX:
            _document_ready(run)
        if step_run.step == Step.NOTIFY:
            # A run that failed earlier stays failed; otherwise this was its last step.
            ProcessingRun.objects.filter(pk=run.pk).exclude(status=ProcessingRun.Status.FAILED).update(
                status=ProcessingRun.Status.SUCCEEDED, finished_at=timezone.now()
            )
        else:
            _queue_step_of_run(run, STEPS[STEPS.index(step_run.step) + 1])


def _steps_succeed(step_runs: list[StepRun], *, owner: str, results: dict[int, dict]) -> None:
    """Mark steps of one kind succeeded and queue each run's next step, in one transaction.

    Each row stays fenced by (owner, attempt): rows are locked first, and only those still
    ours are updated; a step that lost its lease keeps the new owner's result.
    """
    if not step_runs:
        return
    if len(step_runs) == 1:  # one conditional UPDATE is cheaper than lock + bulk update
        _step_succeed(step_runs[0], owner=owner, attempt=step_runs[0].attempt, result=results[step_runs[0].pk])
        return
    step = step_runs[0].step
    fence = Q()
    for step_run in step_runs:
        fence |= Q(pk=step_run.pk, attempt=step_run.attempt)
    with transaction.atomic():
        ours = set(
            StepRun.objects.select_for_update().filter(fence, status=Status.RUNNING, lease_owner=owner).values_list("pk", flat=True)
        )
        done = [s for s in step_runs if s.pk in ours]
        for step_run in step_runs:
            if step_run.pk not in ours:
                logger.warning("step %s finished after losing its lease; the result of the new owner stands", step)
        if not done:
            return
        now = timezone.now()
        rows_update(
            StepRun,
            {s.pk: {"status": Status.SUCCEEDED, "finished_at": now, "lease_expires_at": None, "error": "", "metrics": results[s.pk]}
             for s in done},
            ["status", "finished_at", "lease_expires_at", "error", "metrics"],
        )
        runs = [s.run for s in done]
        if step == Step.INDEX:
            _documents_ready(runs)
        if step == Step.NOTIFY:
            # A run that failed earlier stays failed; otherwise this was its last step.
            ProcessingRun.objects.filter(pk__in=[r.pk for r in runs]).exclude(status=ProcessingRun.Status.FAILED).update(
                status=ProcessingRun.Status.SUCCEEDED, finished_at=now
            )
        else:
            _queue_step_of_runs([r.pk for r in runs], STEPS[STEPS.index(step) + 1])


def _documents_ready(runs: list[ProcessingRun]) -> None:
    """``_document_ready`` for several runs with one statement per table."""
    if len(runs) == 1:
        _document_ready(runs[0])
        return
    now = timezone.now()
    DocumentVersion.objects.filter(pk__in=[r.version_id for r in runs]).update(status=DocumentStatus.READY, error="")
    rows_update(
        Document,
        {r.document_id: {"status": DocumentStatus.READY, "error": "", "current_version": r.version_id, "updated_at": now} for r in runs},
        ["status", "error", "current_version", "updated_at"],
    )
    _bump_index_versions({r.domain_id for r in runs})
    _documents_finished([r.document_id for r in runs])
    transaction.on_commit(lambda: metrics.heysh_documents_finished_total.labels(outcome="ready").inc(len(runs)))


def _bump_index_versions(domain_ids: set[int]) -> None:
    """Search caches keep only current versions: switching them must invalidate those caches too,
    or a process that rebuilt between the index step and this switch would miss the new version."""
    Domain.objects.filter(pk__in=domain_ids).update(index_version=F("index_version") + 1)


def _document_ready(run: ProcessingRun) -> None:
    """After indexing the version is searchable: it becomes the document's current version."""
    DocumentVersion.objects.filter(pk=run.version_id).update(status=DocumentStatus.READY, error="")
    Document.objects.filter(pk=run.document_id).update(
        status=DocumentStatus.READY, error="", current_version_id=run.version_id, updated_at=timezone.now()
    )
    _bump_index_versions({run.domain_id})
    _document_finished(run.document_id)
    transaction.on_commit(lambda: metrics.heysh_documents_finished_total.labels(outcome="ready").inc())


def _step_retry_or_fail(step_run: StepRun, *, owner: str, attempt: int, reason: str) -> str:
    fence = _fenced(step_run.pk, owner, attempt)
    if attempt >= settings.STEP_MAX_ATTEMPTS:
        _step_fail(step_run, fence, message=f"Gave up after {attempt} attempts: {reason}")
        return "failed"
    countdown = backoff_seconds(attempt)
    with transaction.atomic():
        if fence.update(error=reason, finished_at=timezone.now()):
            _queue(step_run.pk, step_run.step, countdown=countdown)
    logger.info("step %s will retry in %ss (attempt %s of %s)", step_run.step, countdown, attempt + 1, settings.STEP_MAX_ATTEMPTS)
    return "retry"


def _step_fail(step_run: StepRun, fence, *, message: str) -> bool:
    """Dead letter: the step, its run and (unless only notification failed) the document fail with ``message``."""
    message = message[:ERROR_MAX_CHARS]
    run = step_run.run
    now = timezone.now()
    with transaction.atomic():
        if not fence.update(status=Status.FAILED, error=message, finished_at=now, lease_expires_at=None):
            return False
        label = Step(step_run.step).label
        ProcessingRun.objects.filter(pk=run.pk).update(
            status=ProcessingRun.Status.FAILED, error=f"{label}: {message}", finished_at=now
        )
        if step_run.step == Step.NOTIFY:
            return True  # the document itself is fine; only telling people about it failed
        DocumentVersion.objects.filter(pk=run.version_id).update(status=DocumentStatus.FAILED, error=message)
        Document.objects.filter(pk=run.document_id).update(status=DocumentStatus.FAILED, error=message, updated_at=now)
        # The failure path still notifies, although the steps in between never ran.
        notify = StepRun.objects.filter(run=run, step=Step.NOTIFY, status=Status.PENDING).values_list("pk", flat=True).first()
        if notify is not None:
            _queue(notify, Step.NOTIFY)
        _document_finished(run.document_id)
        transaction.on_commit(lambda: metrics.heysh_documents_finished_total.labels(outcome="failed").inc())
    return True


# --- the sweep ---------------------------------------------------------------------------
def workflow_sweep(*, now=None) -> dict[str, int]:
    """Recover what the broker or a dead worker lost. Safe to run concurrently and often."""
    now = now or timezone.now()
    counts = {"lease_expired": 0, "not_picked_up": 0, "dead_lettered": 0}
    expired = StepRun.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now).select_related("run")
    for step_run in expired.iterator():
        fence = StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, attempt=step_run.attempt, lease_expires_at__lt=now
        )
        with context.bound(run_id=step_run.run_id, step=step_run.step, domain=step_run.run.domain_id):
            reason = "Lease expired: the worker died or hit its hard time limit"
            if step_run.attempt >= settings.STEP_MAX_ATTEMPTS:
                if _step_fail(step_run, fence, message=f"Gave up after {step_run.attempt} attempts: {reason}"):
                    counts["dead_lettered"] += 1
                    logger.warning("sweep: step %s dead-lettered", step_run.step)
                continue
            countdown = backoff_seconds(step_run.attempt)
            with transaction.atomic():
                if fence.update(error=reason):
                    _queue(step_run.pk, step_run.step, countdown=countdown)
                    counts["lease_expired"] += 1
                    logger.warning("sweep: step %s re-queued after expired lease (retry in %ss)", step_run.step, countdown)
    stale_before = now - timedelta(seconds=settings.STEP_REQUEUE_AFTER_SECONDS)
    stale = list(
        StepRun.objects.filter(status=Status.QUEUED, queued_at__lt=stale_before).values_list("pk", "step", "queued_at")
    )
    if stale:
        _declare_queues()
    resend: dict[str, list[int]] = {}
    for step_run_id, step, queued_at in stale:
        # queued_at moves on, so the same step is re-sent at most once per requeue window.
        if StepRun.objects.filter(pk=step_run_id, status=Status.QUEUED, queued_at=queued_at).update(queued_at=now):
            resend.setdefault(step, []).append(step_run_id)
            counts["not_picked_up"] += 1
    for step, ids in resend.items():
        _send_batches(ids, step)
    for reason in ("lease_expired", "not_picked_up", "dead_lettered"):
        if counts[reason]:
            metrics.heysh_sweep_recovered_total.labels(reason=reason).inc(counts[reason])
    metrics.heysh_beat_last_run_timestamp_seconds.set(time.time())
    if any(counts.values()):
        logger.info("sweep: %s", counts)
    return counts


def _declare_queues() -> None:
    """Re-create the broker's queues and bindings: a flushed Redis loses them, and a publisher
    that declared them before would otherwise send into the void until it restarts."""
    from heysh.celery import app

    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues:
            queue(conn.default_channel).declare()


# --- the analysis step body ---------------------------------------------------------------
def analyze_body(ctx: StepContext) -> dict:
    from apps.documents.analysis import analyze_version

    return analyze_version(version_id=ctx.version.pk) or {}
