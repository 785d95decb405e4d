"""The workflow engine, run in this process step by step (no broker): states, retries, fencing, sweep."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from apps.core.workflows import engine
from apps.core.workflows.engine import Heartbeat, LeaseLost
from apps.core.workflows.spec import Outcome
from apps.documents.models import Document, DocumentStatus, Notification, ProcessingRun, StepRun
from apps.documents.services import document_create
from apps.documents.workflow import STEPS, pipeline, run_restart, run_retry_failed, step_execute, workflow_sweep
from apps.search.models import Entity, Mention, Relation
from tests.pipeline.conftest import drain

pytestmark = pytest.mark.django_db

SCRIPTED = {"default": {"BACKEND": "tests.pipeline.doubles.ScriptedExtractor", "OPTIONS": {}}}
TEXT = (
    "Django uses PostgreSQL. The heysh platform stores its graph in Neo4j and its vectors in Weaviate.\n\n"
    "Dr. Ada Lovelace worked at the University of London. Celery is part of the Python ecosystem."
)


def _create(domain, user, text=TEXT, title="Doc"):
    document, created = document_create(domain=domain, user=user, text=text, title=title)
    assert created
    return document, ProcessingRun.objects.get(document=document)


def step_claim(*, step_run_id: int, step: str, owner: str) -> bool:
    return bool(engine.steps_claim(pipeline(), step, [step_run_id], owner))


def _steps(run):
    return {s.step: s for s in StepRun.objects.filter(run=run)}


def test_run_start_creates_five_steps_and_queues_analysis(domain, user, no_broker):
    document, run = _create(domain, user)
    steps = _steps(run)
    assert [s.step for s in sorted(steps.values(), key=lambda s: s.ordinal)] == list(STEPS)
    assert steps["analyze"].status == StepRun.Status.QUEUED
    assert {steps[s].status for s in ("extract", "graph", "index", "notify")} == {StepRun.Status.PENDING}
    document.refresh_from_db()
    assert document.status == DocumentStatus.PROCESSING


def test_text_document_runs_to_ready(domain, user, no_broker):
    document, run = _create(domain, user)
    drain(run)
    document.refresh_from_db()
    run.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    assert document.current_version_id == run.version_id
    assert run.status == ProcessingRun.Status.SUCCEEDED and run.finished_at
    steps = _steps(run)
    assert all(s.status == StepRun.Status.SUCCEEDED and s.attempt == 1 for s in steps.values())
    assert steps["index"].metrics["vectors"] == run.version.chunks.count() > 0
    assert all(len(bytes(c.embedding)) == 384 * 4 for c in run.version.chunks.all())
    names = set(Entity.objects.filter(domain=domain).values_list("name", flat=True))
    assert {"PostgreSQL", "Neo4j", "Ada Lovelace", "University of London"} <= names
    assert Relation.objects.filter(domain=domain, type="uses", source__key="django", target__key="postgresql").exists()
    assert Notification.objects.filter(user=user, run=run, kind="document_ready").count() == 1
    # every step was sent exactly once, in order, and the bootstrap heard that the document is ready
    assert [step for step, _, _ in no_broker] == [*STEPS[:4], "finished", STEPS[4]]
    assert ("finished", document.pk, 0) in no_broker


def test_duplicate_delivery_has_no_effect(domain, user, no_broker):
    _, run = _create(domain, user)
    drain(run)
    mentions = Mention.objects.count()
    for step_run in StepRun.objects.filter(run=run):
        assert step_execute(step_run_id=step_run.pk, step=step_run.step) is None
    assert Mention.objects.count() == mentions
    assert Notification.objects.filter(run=run).count() == 1


@override_settings(EXTRACTORS=SCRIPTED)
def test_permanent_error_fails_at_once_and_still_notifies(domain, user, no_broker):
    document, run = _create(domain, user, text="This text is bad input @@reject@@ for the extractor.")
    drain(run)
    steps = _steps(run)
    assert steps["extract"].status == StepRun.Status.FAILED and steps["extract"].attempt == 1
    assert steps["extract"].error == "The document was rejected by the extractor."
    assert steps["graph"].status == steps["index"].status == StepRun.Status.PENDING
    assert steps["notify"].status == StepRun.Status.SUCCEEDED
    document.refresh_from_db()
    run.refresh_from_db()
    assert document.status == DocumentStatus.FAILED and document.error == "The document was rejected by the extractor."
    assert run.status == ProcessingRun.Status.FAILED and run.error.startswith("Knowledge extraction:")
    assert run.version.status == DocumentStatus.FAILED
    failed = Notification.objects.get(user=user, run=run)
    assert failed.kind == "document_failed" and "rejected" in failed.body
    assert [document_id for step, document_id, _ in no_broker if step == "finished"] == [document.pk]


@override_settings(EXTRACTORS=SCRIPTED, STEP_MAX_ATTEMPTS=3, STEP_BACKOFF_SECONDS=2)
def test_transient_failure_backs_off_then_dead_letters_with_reason(domain, user, no_broker):
    document, run = _create(domain, user, text="This chunk crashes the extractor @@crash@@ every time.")
    drain(run)
    extract = _steps(run)["extract"]
    assert extract.status == StepRun.Status.FAILED and extract.attempt == 3
    assert extract.error == "Gave up after 3 attempts: ScriptedCrash: scripted extractor crash"
    assert [countdown for step, _, countdown in no_broker if step == "extract"] == [0, 2, 4]
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED and "Gave up after 3 attempts" in document.error
    assert Notification.objects.filter(run=run, kind="document_failed").count() == 1


@override_settings(EXTRACTORS=SCRIPTED, STEP_MAX_ATTEMPTS=2)
def test_retry_failed_resumes_the_run(domain, user, no_broker):
    document, run = _create(domain, user, text="Neo4j stores graphs. @@crash@@")
    drain(run)
    assert Document.objects.get(pk=document.pk).status == DocumentStatus.FAILED
    with override_settings(EXTRACTORS={"default": {"BACKEND": "apps.search.backends.extractors.rules.RuleExtractor"}}):
        run_retry_failed(run=run)
        assert Document.objects.get(pk=document.pk).status == DocumentStatus.PROCESSING
        drain(run)
    run.refresh_from_db()
    assert run.status == ProcessingRun.Status.SUCCEEDED
    assert Document.objects.get(pk=document.pk).status == DocumentStatus.READY
    assert set(Notification.objects.filter(run=run).values_list("kind", flat=True)) == {"document_failed", "document_ready"}


def test_restart_reprocesses_without_duplicates(domain, user, no_broker):
    document, run = _create(domain, user)
    drain(run)
    before = (run.version.chunks.count(), Entity.objects.count(), Mention.objects.count(), Relation.objects.count())
    run_restart(run=run)
    assert _steps(run)["analyze"].status == StepRun.Status.QUEUED
    drain(run)
    after = (run.version.chunks.count(), Entity.objects.count(), Mention.objects.count(), Relation.objects.count())
    assert after == before
    assert Document.objects.get(pk=document.pk).status == DocumentStatus.READY


def test_lost_lease_fences_the_old_owner(domain, user, no_broker):
    _, run = _create(domain, user)
    step_run = _steps(run)["analyze"]
    assert step_claim(step_run_id=step_run.pk, step="analyze", owner="a:1")
    assert not step_claim(step_run_id=step_run.pk, step="analyze", owner="b:2"), "a live lease cannot be taken"
    StepRun.objects.filter(pk=step_run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert step_claim(step_run_id=step_run.pk, step="analyze", owner="b:2"), "an expired lease can"
    step_run.refresh_from_db()
    assert step_run.attempt == 2 and step_run.lease_owner == "b:2"
    with pytest.raises(LeaseLost):
        Heartbeat(StepRun, [step_run.pk], "a:1")(force=True)
    stale = StepRun.objects.get(pk=step_run.pk)
    stale.attempt = 1  # what the old owner remembers
    engine._steps_succeed(pipeline(), [stale], owner="a:1", outcomes={stale.pk: Outcome({"stale": True})})
    step_run.refresh_from_db()
    assert step_run.status == StepRun.Status.RUNNING and step_run.metrics == {}
    assert _steps(run)["extract"].status == StepRun.Status.PENDING
    Heartbeat(StepRun, [step_run.pk], "b:2")(force=True)  # the new owner's heartbeat works


@override_settings(STEP_MAX_ATTEMPTS=3, STEP_BACKOFF_SECONDS=4)
def test_sweep_requeues_expired_leases_with_backoff_and_dead_letters_exhausted(domain, user, no_broker):
    _, run = _create(domain, user)
    _, exhausted = _create(domain, user, text="Another document about Redis.", title="Other")
    past = timezone.now() - timedelta(seconds=1)
    StepRun.objects.filter(run=run, step="analyze").update(status="running", attempt=2, lease_owner="dead:1", lease_expires_at=past)
    StepRun.objects.filter(run=exhausted, step="analyze").update(status="running", attempt=3, lease_owner="dead:2", lease_expires_at=past)
    no_broker.clear()
    counts = workflow_sweep()
    assert counts == {"lease_expired": 1, "not_picked_up": 0, "dead_lettered": 1, "errors": 0}
    requeued = _steps(run)["analyze"]
    assert requeued.status == StepRun.Status.QUEUED and requeued.queued_at > timezone.now()
    assert ("analyze", requeued.pk, 8) in no_broker
    dead = _steps(exhausted)
    assert dead["analyze"].status == StepRun.Status.FAILED and "Lease expired" in dead["analyze"].error
    assert dead["notify"].status == StepRun.Status.QUEUED  # the failure is still notified
    assert Document.objects.get(pk=exhausted.document_id).status == DocumentStatus.FAILED


@override_settings(STEP_REQUEUE_AFTER_SECONDS=60)
def test_sweep_resends_steps_the_broker_lost_once_per_window(domain, user, no_broker):
    _, run = _create(domain, user)
    StepRun.objects.filter(run=run, step="analyze").update(queued_at=timezone.now() - timedelta(seconds=61))
    no_broker.clear()
    assert workflow_sweep()["not_picked_up"] == 1
    assert workflow_sweep()["not_picked_up"] == 0
    assert len(no_broker) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_only_one_wins(domain, user, no_broker):
    """The same step delivered to many workers at once: the conditional UPDATE lets exactly one run it
    (each thread has its own connection: on SQLite to the test database file, see tests/conftest.py)."""
    _, run = _create(domain, user)
    step_run = _steps(run)["analyze"]
    barrier = threading.Barrier(8)
    wins = []

    def claim(n):
        try:
            barrier.wait()
            wins.append(step_claim(step_run_id=step_run.pk, step="analyze", owner=f"worker:{n}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    step_run.refresh_from_db()
    assert step_run.attempt == 1 and step_run.status == StepRun.Status.RUNNING


def test_fenced_queryset_matches_only_the_owner(domain, user, no_broker):
    _, run = _create(domain, user)
    step_run = _steps(run)["analyze"]
    step_claim(step_run_id=step_run.pk, step="analyze", owner="me:1")
    assert engine._fenced(pipeline(), StepRun(pk=step_run.pk, attempt=1), "me:1").count() == 1
    assert engine._fenced(pipeline(), StepRun(pk=step_run.pk, attempt=2), "me:1").count() == 0
    assert engine._fenced(pipeline(), StepRun(pk=step_run.pk, attempt=1), "other:1").count() == 0


@override_settings(EXTRACTORS=SCRIPTED)
def test_soft_time_limit_is_a_recorded_transient_failure(domain, user, no_broker):
    _, run = _create(domain, user, text="This one runs out of time @@timeout@@ always.")
    step_run = _steps(run)
    for _ in range(2):  # analyze, then the first extract attempt
        queued = StepRun.objects.filter(run=run, status=StepRun.Status.QUEUED).order_by("ordinal").first()
        step_execute(step_run_id=queued.pk, step=queued.step)
    step_run = _steps(run)["extract"]
    assert step_run.status == StepRun.Status.QUEUED and step_run.attempt == 1
    assert step_run.error.startswith("SoftTimeLimitExceeded")


def test_sweep_schedule_is_installed_once_and_admin_edits_survive():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from apps.core.schedules import schedules_install

    name = "pipeline: recovery sweep"
    schedules_install()
    schedules_install()
    task = PeriodicTask.objects.get(name=name)
    assert task.task == "tasks.maintenance.sweep" and task.enabled
    edited, _ = IntervalSchedule.objects.get_or_create(every=90, period=IntervalSchedule.SECONDS)
    task.interval = edited
    task.save()
    schedules_install()
    assert PeriodicTask.objects.get(name=name).interval_id == edited.pk
    assert PeriodicTask.objects.filter(task="tasks.maintenance.sweep").count() == 1


def test_one_indexing_delivery_embeds_every_queued_document_at_once(domain, user, no_broker):
    runs = [_create(domain, user, text=f"Document {n} mentions Redis and Django.", title=f"d{n}")[1] for n in range(3)]
    for step in ("analyze", "extract", "graph"):  # of every run (extract and graph are batched too)
        for run in runs:
            queued = StepRun.objects.filter(run=run, step=step, status=StepRun.Status.QUEUED).first()
            if queued:
                step_execute(step_run_id=queued.pk, step=step)
    index_steps = [StepRun.objects.get(run=run, step="index") for run in runs]
    assert {s.status for s in index_steps} == {StepRun.Status.QUEUED}
    assert step_execute(step_run_id=index_steps[1].pk, step="index") == "succeeded"
    for step_run in index_steps:
        step_run.refresh_from_db()
        assert step_run.status == StepRun.Status.SUCCEEDED and step_run.attempt == 1
        assert step_run.metrics["batch"] == 3 and step_run.metrics["vectors"] == 1
        assert step_execute(step_run_id=step_run.pk, step="index") is None  # its own message: a no-op
    assert all(Document.objects.get(pk=run.document_id).status == DocumentStatus.READY for run in runs)
