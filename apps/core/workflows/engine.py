"""Claim, run, advance, retry and sweep the steps of any registered workflow (DESIGN §6).

PostgreSQL is the workflow history; Celery only carries "run step <ids>" messages, and
everything a message could lose or duplicate is recovered from the step rows:

- A step is claimed with one conditional UPDATE (queued, or running with an expired lease →
  running, attempt + 1, lease owner and expiry). Zero rows updated means a duplicate or stale
  delivery: log it and return.
- While it runs the step holds a lease; long bodies call ``heartbeat()`` to extend it. Every
  later write of the step's state is fenced by (owner, attempt), so a worker that lost its
  lease cannot overwrite the work of the one that took over.
- Success marks the step succeeded and the next step queued in one transaction; the message
  is sent from ``on_commit``: no chords, no chain().
- ``PermanentError`` fails the step at once. Any other exception (a soft time limit too)
  re-queues it with exponential backoff until ``STEP_MAX_ATTEMPTS``, then fails it with the
  reason (dead letter).
- ``workflow_sweep`` (beat) re-sends steps whose lease expired or whose message the broker
  lost (re-declaring the queues first, in case the broker was flushed), and fails those whose
  attempts are exhausted.
- A batched step claims further queued steps of its kind up to its batch size and runs them
  in one call; each still succeeds or fails on its own.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import nullcontext
from dataclasses import replace
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core import context, metrics, tracing
from apps.core.bulk import rows_update
from apps.core.workflows.errors import PermanentError
from apps.core.workflows.models import DurableStep, StepStatus
from apps.core.workflows.spec import Outcome, StepContext, StepRun, StepSpec, Workflow

logger = logging.getLogger(__name__)

Status = StepStatus
MAX_BACKOFF_SECONDS = 600
ERROR_MAX_CHARS = 2000


class LeaseLost(Exception):
    """Another worker owns the step now (our lease expired and it was re-claimed)."""


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempt: int) -> int:
    """Delay before attempt ``attempt + 1``: base · 2^(attempt-1), capped."""
    return min(settings.STEP_BACKOFF_SECONDS * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)


def one_by_one(contexts: list[StepContext], run: StepRun) -> dict[int, object]:
    """Run ``run`` for each context on its own: how a batch falls back when its shared pass
    fails, so one bad item fails (or retries) alone while the others succeed."""
    outcomes: dict[int, object] = {}
    for ctx in contexts:
        try:
            outcomes.update(run([ctx]))
        except Exception as exc:  # noqa: PERF203 (each item succeeds or fails on its own)
            outcomes[ctx.pk] = exc
    return outcomes


# --- sending -----------------------------------------------------------------------------
def send(workflow: Workflow, step: str, ids: int | list[int], *, countdown: int = 0) -> None:
    """One message for one step, or for a batch of steps of one kind (a list of ids), routed to
    the step's queue with its priority."""
    spec = workflow.step(step)
    options = {"queue": spec.queue, "countdown": countdown or None}
    if spec.priority is not None:
        options["priority"] = spec.priority
    task_send(workflow.task_name(step), [ids], **options)


def task_send(name: str, args: list, **options) -> None:
    """Send a task message by name. Through the registered task when this process has it, so
    eager mode (``HEYSH_TASKS_EAGER``, ``manage.py evaluate``) runs it in-process."""
    task = current_app.tasks.get(name)
    if task is not None:
        task.apply_async(args=args, **options)
    else:
        current_app.send_task(name, args=args, **options)


def send_batches(workflow: Workflow, step: str, ids: list[int]) -> None:
    """Send queued steps of one kind as few messages as their batch size allows. Every queued
    step is named by exactly one message (or found by the sweep)."""
    size = workflow.step(step).batch_size
    for i in range(0, len(ids), size):
        part = ids[i : i + size]
        send(workflow, step, part if len(part) > 1 else part[0])


def steps_queue(
    workflow: Workflow, step: str, ids: list[int], *, countdown: int = 0, only_from: list[str] | None = None,
    reset_attempts: bool = False,
) -> list[int]:
    """Mark steps of one kind queued and send them once the surrounding transaction commits.

    ``only_from`` limits which statuses may be queued (a running or finished step is left
    alone); ``reset_attempts`` gives them fresh attempts (a person's retry or re-run).
    """
    if not ids:
        return []
    rows = workflow.model.objects.filter(pk__in=ids)
    if only_from is not None:
        ids = list(rows.filter(status__in=only_from).order_by("pk").values_list("pk", flat=True))
        rows = workflow.model.objects.filter(pk__in=ids)
    values = {
        "status": Status.QUEUED, "queued_at": timezone.now() + timedelta(seconds=countdown),
        "lease_owner": "", "lease_expires_at": None,
    }
    if reset_attempts:
        values |= {"attempt": 0, "error": "", "started_at": None, "finished_at": None}
    rows.update(**values)
    if ids:
        if countdown:
            transaction.on_commit(lambda: [send(workflow, step, i, countdown=countdown) for i in ids])
        else:
            transaction.on_commit(lambda: send_batches(workflow, step, ids))
    return ids


def steps_of_parents(workflow: Workflow, step: str, parent_ids: list[int]) -> list[int]:
    return list(
        workflow.model.objects.filter(**{f"{workflow.parent}_id__in": parent_ids}, step=step)
        .order_by("pk").values_list("pk", flat=True)
    )


def queue_next(workflow: Workflow, rows: list[DurableStep]) -> None:
    """Queue the step after ``rows`` (all of one kind) in their workflow instances."""
    if not rows:
        return
    nxt = workflow.next_step(rows[0].step)
    if nxt is not None:
        ids = steps_of_parents(workflow, nxt, [getattr(r, f"{workflow.parent}_id") for r in rows])
        steps_queue(workflow, nxt, ids, only_from=[Status.PENDING, Status.FAILED])


# --- claiming ----------------------------------------------------------------------------
class Heartbeat:
    """Extends the leases of the steps a delivery owns; cheap to call often (writes at most
    every third of the lease). Raises LeaseLost once none of them is ours any more."""

    def __init__(self, model: type[DurableStep], ids: list[int], owner: str):
        self.model, self.ids, self.owner = model, list(ids), owner
        self.lease = settings.STEP_LEASE_SECONDS
        self._last = time.monotonic()

    def __call__(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < self.lease / 3:
            return
        extended = self.model.objects.filter(pk__in=self.ids, status=Status.RUNNING, lease_owner=self.owner).update(
            lease_expires_at=timezone.now() + timedelta(seconds=self.lease)
        )
        if not extended:
            raise LeaseLost(f"steps {self.ids} lost their lease")
        self._last = time.monotonic()


def _fenced(workflow: Workflow, row: DurableStep, owner: str):
    return workflow.model.objects.filter(pk=row.pk, status=Status.RUNNING, lease_owner=owner, attempt=row.attempt)


def _claim_values(owner: str, now) -> dict:
    return {
        "status": Status.RUNNING, "attempt": F("attempt") + 1, "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=settings.STEP_LEASE_SECONDS), "started_at": now, "finished_at": None,
    }


def _claimable(now) -> Q:
    return Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now, attempt__lt=settings.STEP_MAX_ATTEMPTS)


def _claimed_by(workflow: Workflow, owner: str, now, candidates: list[int]) -> list[int]:
    return list(
        workflow.model.objects.filter(pk__in=candidates, status=Status.RUNNING, lease_owner=owner, started_at=now)
        .order_by("pk").values_list("pk", flat=True)
    )


def steps_claim(workflow: Workflow, step: str, ids: list[int], owner: str) -> list[int]:
    """Claim the steps a message names; returns those now ours (the others were duplicates).

    Rows another claimer holds locked are skipped (it is claiming them), so two deliveries
    naming overlapping steps never wait for each other or deadlock.
    """
    now = timezone.now()
    model = workflow.model
    if len(ids) == 1:
        claimed = model.objects.filter(_claimable(now), pk=ids[0], step=step).update(**_claim_values(owner, now))
        return list(ids) if claimed else []
    with transaction.atomic():
        candidates = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(_claimable(now), pk__in=ids, step=step)
            .values_list("pk", flat=True)
        )
        if not candidates:
            return []
        model.objects.filter(_claimable(now), pk__in=candidates).update(**_claim_values(owner, now))
    return _claimed_by(workflow, owner, now, candidates)


def steps_claim_more(workflow: Workflow, step: str, owner: str, *, limit: int, only: Q | None = None) -> list[int]:
    """Claim up to ``limit`` other queued steps of the same kind that are due, for one batched
    call. Their own messages arrive later, find them claimed and are acknowledged. ``only``
    narrows which steps may join."""
    if limit <= 0:
        return []
    now = timezone.now()
    with transaction.atomic():
        candidates = list(
            workflow.model.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(only or Q(), step=step, status=Status.QUEUED, queued_at__lte=now)
            .order_by("queued_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not candidates:
            return []
        workflow.model.objects.filter(pk__in=candidates, status=Status.QUEUED).update(**_claim_values(owner, now))
    return _claimed_by(workflow, owner, now, candidates)


def _take_more(workflow: Workflow, spec: StepSpec, owner: str, contexts: list[StepContext]) -> list[int]:
    room = spec.batch_size - len(contexts)
    if room <= 0:
        return []
    only = None
    if spec.joinable is not None:
        joining = spec.joinable(contexts, room)
        if joining is None:
            return []
        only, room = joining
    return steps_claim_more(workflow, spec.name, owner, limit=room, only=only)


# --- executing a delivery ------------------------------------------------------------------
def step_execute(workflow: Workflow, step: str, ids: int | str | list[int]) -> str | None:
    """Run one delivery of a step message (one id, or a batch of ids of one kind). Returns the
    outcome of the first step claimed, or None when every named step was a duplicate delivery."""
    spec = workflow.step(step)
    owner = worker_identity()
    requested = [int(ids)] if isinstance(ids, int | str) else [int(i) for i in ids]
    claimed = steps_claim(workflow, step, requested, owner)
    if not claimed:
        logger.info("step %s %s: not claimable (duplicate or stale delivery), acknowledged", step, requested)
        return None
    heartbeat = Heartbeat(workflow.model, claimed, owner)
    rows = workflow.load(claimed)
    contexts = [workflow.context(rows[pk], heartbeat) for pk in claimed]
    more = _take_more(workflow, spec, owner, contexts)
    if more:
        heartbeat.ids += more
        extra = workflow.load(more)
        contexts += [workflow.context(extra[pk], heartbeat) for pk in more]
    workflow.claimed([ctx.row for ctx in contexts])
    own = contexts[0].row
    spans = _step_spans(workflow, step, contexts)
    started = time.monotonic()
    # One step: its span is current, so its queries, calls and the next step's message nest in
    # it. A batch runs in one shared pass under the delivery's span; each step still gets its
    # own span, in its own instance's trace.
    with context.bound(**workflow.log_context(own)), tracing.current(spans[0]) if len(spans) == 1 else nullcontext():
        logger.info("step %s attempt %s started%s", step, own.attempt, f" with {len(contexts) - 1} more" if len(contexts) > 1 else "")
        try:
            results = spec.run(contexts)
        except LeaseLost as exc:
            logger.warning("step %s abandoned: %s", step, exc)
            tracing.step_spans_end(spans, ["lease_lost"] * len(spans), [None] * len(spans))
            return "lease_lost"
        except Exception as exc:
            if len(contexts) == 1:
                results = {own.pk: exc}
            else:  # the shared pass failed: each item on its own, so a bad one fails alone
                logger.warning("step %s: batch of %d failed (%s); running them one by one", step, len(contexts), exc)
                results = one_by_one(contexts, spec.run)
        duration = time.monotonic() - started
        outcomes = _record(workflow, [ctx.row for ctx in contexts], results, owner=owner, duration=duration)
        logger.info("step %s: %d succeeded in %.2fs", step, sum(o in ("succeeded", "waiting") for o in outcomes), duration)
    errors = [results.get(ctx.pk) if isinstance(results.get(ctx.pk), BaseException) else None for ctx in contexts]
    tracing.step_spans_end(spans, outcomes, errors)
    label = workflow.metric_label(step)
    for outcome in outcomes:
        metrics.heysh_step_duration_seconds.labels(step=label, outcome=outcome).observe(duration)
    return outcomes[0]


def _step_spans(workflow: Workflow, step: str, contexts: list[StepContext]) -> list:
    """A span per claimed step, under its instance's trace (``tracing.step_span_start``)."""
    return [
        tracing.step_span_start(
            f"{workflow.name}.{step}", parent=workflow.trace_parent(ctx.row),
            attributes={"workflow": workflow.name, "step": step, "step_id": ctx.pk, "attempt": ctx.row.attempt, "batch_size": len(contexts),
                        **{name: value for name, value in workflow.log_context(ctx.row).items() if name in ("run_id", "domain", "request_id")}},
        )
        for ctx in contexts
    ]


def _as_outcome(result) -> Outcome:
    if isinstance(result, Outcome):
        return result
    return Outcome(output=dict(result or {}))


def _record(workflow: Workflow, rows: list[DurableStep], results: dict, *, owner: str, duration: float) -> list[str]:
    """Record every claimed step's result: successes of a batch commit together (each fenced
    on its own), failures and waits one by one."""
    done: dict[int, Outcome] = {}
    for row in rows:
        result = results.get(row.pk)
        if not isinstance(result, BaseException):
            outcome = _as_outcome(result)
            done[row.pk] = replace(outcome, output={**outcome.output, "duration_s": round(duration, 3)})
    succeeded = _steps_succeed(workflow, [r for r in rows if r.pk in done and not done[r.pk].wait], owner=owner, outcomes=done)
    waited = _steps_wait(workflow, [r for r in rows if r.pk in done and done[r.pk].wait], owner=owner, outcomes=done)
    return [
        "succeeded" if row.pk in succeeded
        else "waiting" if row.pk in waited
        else "lease_lost" if row.pk in done  # finished, but another worker owns the step now
        else _step_failure(workflow, row, owner=owner, error=results.get(row.pk))
        for row in rows
    ]


def _steps_succeed(workflow: Workflow, rows: list[DurableStep], *, owner: str, outcomes: dict[int, Outcome]) -> set[int]:
    """Mark steps of one kind succeeded and queue each instance's next step, in one transaction.

    Rows are locked first and only those still ours (owner, attempt) are updated: a step that
    lost its lease keeps the new owner's result. Returns the ids marked succeeded.
    """
    if not rows:
        return set()
    fence = Q()
    for row in rows:
        fence |= Q(pk=row.pk, attempt=row.attempt)
    model = workflow.model
    with transaction.atomic():
        ours = set(model.objects.select_for_update().filter(fence, status=Status.RUNNING, lease_owner=owner).values_list("pk", flat=True))
        for row in rows:
            if row.pk not in ours:
                logger.warning("step %s finished after losing its lease; the result of the new owner stands", row.step)
        done = [r for r in rows if r.pk in ours]
        if not done:
            return set()
        now = timezone.now()
        fields = {"status": Status.SUCCEEDED, "finished_at": now, "lease_owner": "", "lease_expires_at": None, "error": ""}
        rows_update(
            model,
            {r.pk: {**fields, workflow.result_field: outcomes[r.pk].output} for r in done},
            [*fields, workflow.result_field],
        )
        workflow.succeeded(done)
        queue_next(workflow, [r for r in done if workflow.advances(r, outcomes[r.pk])])
    return {r.pk for r in done}


def _steps_wait(workflow: Workflow, rows: list[DurableStep], *, owner: str, outcomes: dict[int, Outcome]) -> set[int]:
    """Release the lease of steps that now wait on something outside the engine."""
    waited = set()
    for row in rows:
        if _fenced(workflow, row, owner).update(
            status=Status.WAITING, lease_owner="", lease_expires_at=None, **{workflow.result_field: outcomes[row.pk].output}
        ):
            waited.add(row.pk)
        else:
            logger.warning("step %s lost its lease before it could wait; the new holder's result wins", row.step)
    if waited:
        workflow.waiting([r for r in rows if r.pk in waited])
    return waited


def _step_failure(workflow: Workflow, row: DurableStep, *, owner: str, error) -> str:
    if isinstance(error, LeaseLost):
        return "lease_lost"
    if isinstance(error, PermanentError):
        logger.warning("step %s failed permanently: %s", row.step, error.message)
        return "failed" if step_fail(workflow, row, _fenced(workflow, row, owner), message=error.message) else "lease_lost"
    if error is None:
        error = RuntimeError("the step body returned no result for this step")
    reason = f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]
    logger.warning("step %s attempt %s failed: %s", row.step, row.attempt, reason, exc_info=error)
    return _retry_or_fail(workflow, row, _fenced(workflow, row, owner), reason=reason)


def _retry_or_fail(workflow: Workflow, row: DurableStep, fence, *, reason: str) -> str:
    """Re-queue with backoff while attempts remain, else dead-letter. ``fence`` selects the row
    only while this caller still owns it."""
    if row.attempt >= settings.STEP_MAX_ATTEMPTS:
        failed = step_fail(workflow, row, fence, message=f"Gave up after {row.attempt} attempts: {reason}")
        return "failed" if failed else "lease_lost"
    countdown = backoff_seconds(row.attempt)
    with transaction.atomic():
        if not fence.update(error=reason, finished_at=timezone.now()):
            return "lease_lost"
        steps_queue(workflow, row.step, [row.pk], countdown=countdown)
    logger.info("step %s will retry in %ss (attempt %s of %s)", row.step, countdown, row.attempt + 1, settings.STEP_MAX_ATTEMPTS)
    return "retry"


def step_fail(workflow: Workflow, row: DurableStep, fence, *, message: str) -> bool:
    """Dead letter: the step fails with ``message``; the workflow's ``failed`` hook decides what
    else fails with it. False when ``fence`` no longer selects the row (someone else owns it)."""
    message = message[:ERROR_MAX_CHARS]
    with transaction.atomic():
        if not fence.update(status=Status.FAILED, error=message, finished_at=timezone.now(), lease_owner="", lease_expires_at=None):
            return False
        _failed_hooks(workflow, row, message)
    return True


def _failed_hooks(workflow: Workflow, row: DurableStep, message: str) -> None:
    """Run the ``failed`` hook in a savepoint. When it raises, the step stays failed all the
    same (a retry from the admin needs a failed step) and ``instance_fail`` marks the instance
    failed without the hook's extras (notifications), so nothing is left "running" forever."""
    try:
        with transaction.atomic():
            workflow.failed(row, message)
        return
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        logger.exception("step %s: its failure handler failed (%s); marking the instance failed without it", row.step, problem)
    metrics.heysh_step_failure_handler_errors_total.labels(step=workflow.metric_label(row.step)).inc()
    note = f"{message} (the failure handler also failed: {problem})"[:ERROR_MAX_CHARS]
    workflow.model.objects.filter(pk=row.pk).update(error=note)
    try:
        with transaction.atomic():
            workflow.instance_fail(row, note)
    except Exception:
        logger.exception("step %s: marking its instance failed failed too; the step itself is failed", row.step)


# --- the sweep ---------------------------------------------------------------------------
def workflow_sweep(workflow: Workflow, *, now=None) -> dict[str, int]:
    """Recover what the broker or a dead worker lost. Safe to run concurrently and often."""
    now = now or timezone.now()
    counts = {"lease_expired": 0, "not_picked_up": 0, "dead_lettered": 0, "errors": 0}
    model = workflow.model
    for row in list(model.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now)):
        fence = model.objects.filter(pk=row.pk, status=Status.RUNNING, attempt=row.attempt, lease_expires_at__lt=now)
        with context.bound(**workflow.log_context(row)):
            reason = "Lease expired: the worker died or hit its hard time limit"
            try:
                outcome = _retry_or_fail(workflow, row, fence, reason=reason)
            except Exception:  # one bad row must not stop the sweep of every other row, run after run
                counts["errors"] += 1
                logger.exception("sweep: step %s (id %s) could not be recovered; moving on", row.step, row.pk)
                continue
            if outcome == "failed":
                counts["dead_lettered"] += 1
                logger.warning("sweep: step %s dead-lettered", row.step)
            elif outcome == "retry":
                counts["lease_expired"] += 1
                logger.warning("sweep: step %s re-queued after expired lease", row.step)
    stale_before = now - timedelta(seconds=settings.STEP_REQUEUE_AFTER_SECONDS)
    stale = list(model.objects.filter(status=Status.QUEUED, queued_at__lt=stale_before).values_list("pk", "step", "queued_at"))
    if stale:
        declare_queues()
    resend: dict[str, list[int]] = {}
    for pk, step, queued_at in stale:
        # queued_at moves on, so the same step is re-sent at most once per requeue window.
        if model.objects.filter(pk=pk, status=Status.QUEUED, queued_at=queued_at).update(queued_at=now):
            resend.setdefault(step, []).append(pk)
            counts["not_picked_up"] += 1
    for step, ids in resend.items():
        send_batches(workflow, step, ids)
    for reason in ("lease_expired", "not_picked_up", "dead_lettered"):
        if counts[reason]:
            metrics.heysh_sweep_recovered_total.labels(reason=f"{workflow.metric_prefix}{reason}").inc(counts[reason])
    try:
        counts.update(workflow.swept(now))
    except Exception:
        counts["errors"] += 1
        logger.exception("sweep of %s: the workflow's own recovery failed", workflow.name)
    if counts["errors"]:
        metrics.heysh_sweep_errors_total.labels(workflow=workflow.name).inc(counts["errors"])
    metrics.heysh_beat_last_run_timestamp_seconds.set(time.time())
    if any(counts.values()):
        logger.info("sweep of %s: %s", workflow.name, counts)
    return counts


def declare_queues() -> None:
    """Re-create the broker's queues and bindings: a flushed Redis loses them, and a publisher
    that declared them before would otherwise send into the void until it restarts."""
    app = current_app
    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues:
            queue(conn.default_channel).declare()
