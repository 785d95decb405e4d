"""The one durable-step engine, against both registered workflows (document pipeline, domain
bootstrap): duplicate delivery, a poison item, messages the broker lost, a worker that died.

In process: the step bodies are scripted, messages are recorded instead of sent, and the
transaction's on-commit callbacks run at once (the test's transaction never commits).
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from apps.bootstrap.models import BootstrapStep, DomainBootstrap
from apps.bootstrap.services import bootstrap_start
from apps.core.workflows import engine
from apps.core.workflows.errors import PermanentError
from apps.core.workflows.registry import workflow_get
from apps.core.workflows.spec import StepSpec, one_at_a_time
from apps.documents.models import Document, DocumentStatus, StepRun
from apps.documents.services import document_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    messages = []
    monkeypatch.setattr(engine, "send", lambda workflow, step, ids, countdown=0: messages.append((step, ids, countdown)))
    monkeypatch.setattr(engine, "task_send", lambda name, args, **options: messages.append((name, args, 0)))
    monkeypatch.setattr(engine, "declare_queues", lambda: messages.append(("declare_queues", None, 0)))
    immediate = SimpleNamespace(atomic=transaction.atomic, on_commit=lambda func, using=None, robust=False: func())
    monkeypatch.setattr(engine, "transaction", immediate)
    monkeypatch.setattr("apps.documents.workflow.transaction", immediate)
    return messages


def _first_step(name: str, domain, user, *, subject: str = "Ada Lovelace"):
    """The queued first step of a new instance of workflow ``name``, and a reader of its outcome."""
    if name == "pipeline":
        document, _ = document_create(domain=domain, user=user, text=f"{subject} wrote the first program.", title=subject)
        row = StepRun.objects.get(run__document=document, step="analyze")
        return row, lambda: Document.objects.get(pk=document.pk).status == DocumentStatus.FAILED
    bootstrap = bootstrap_start(user=user, name=f"Looms of {subject}", topic_keywords=["loom"], seed_texts=[{"title": "t", "text": "Looms weave."}])
    row = BootstrapStep.objects.get(bootstrap=bootstrap, step="research")
    return row, lambda: DomainBootstrap.objects.get(pk=bootstrap.pk).status == DomainBootstrap.Status.FAILED


def _scripted(name: str, body):
    """The registered workflow with every step body replaced by ``body`` (hooks and queues kept)."""
    registered = workflow_get(name)
    return type(registered)(steps=[StepSpec(s.name, s.queue, one_at_a_time(body), s.batch_setting, s.priority) for s in registered.steps])


WORKFLOWS = ["pipeline", "bootstrap"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_a_duplicate_delivery_runs_nothing_twice(name, domain, user, sent):
    row, _ = _first_step(name, domain, user)
    calls = []
    workflow = _scripted(name, lambda ctx: calls.append(ctx.pk) or {"ok": True})
    sent.clear()
    assert engine.step_execute(workflow, row.step, row.pk) == "succeeded"
    assert engine.step_execute(workflow, row.step, row.pk) is None, "the second delivery finds the step claimed"
    assert calls == [row.pk]
    following = workflow.next_step(row.step)
    assert [m for m in sent if m[0] == following] == [(following, engine.steps_of_parents(workflow, following, [
        getattr(row, f"{workflow.parent}_id")])[0], 0)], "the next step is queued exactly once"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_a_poison_item_fails_at_once_with_its_reason(name, domain, user, sent):
    row, instance_failed = _first_step(name, domain, user)

    def poison(ctx):
        raise PermanentError("This input can never be processed.")

    assert engine.step_execute(_scripted(name, poison), row.step, row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and row.attempt == 1 and "never be processed" in row.error
    assert instance_failed()


@pytest.mark.parametrize("name", WORKFLOWS)
@override_settings(STEP_REQUEUE_AFTER_SECONDS=60)
def test_messages_the_broker_lost_are_sent_again_after_the_queues_are_declared(name, domain, user, sent):
    row, _ = _first_step(name, domain, user)
    type(row).objects.filter(pk=row.pk).update(queued_at=timezone.now() - timedelta(seconds=61))
    sent.clear()
    workflow = workflow_get(name)
    assert engine.workflow_sweep(workflow)["not_picked_up"] == 1
    assert sent == [("declare_queues", None, 0), (row.step, row.pk, 0)]
    assert engine.workflow_sweep(workflow)["not_picked_up"] == 0, "re-sent at most once per window"


@pytest.mark.parametrize("name", WORKFLOWS)
@override_settings(STEP_MAX_ATTEMPTS=3, STEP_BACKOFF_SECONDS=4)
def test_a_step_whose_worker_died_is_requeued_with_backoff_then_dead_lettered(name, domain, user, sent):
    row, instance_failed = _first_step(name, domain, user)
    expired = timezone.now() - timedelta(seconds=1)
    model, workflow = type(row), workflow_get(name)
    model.objects.filter(pk=row.pk).update(status="running", attempt=2, lease_owner="gone:1", lease_expires_at=expired)
    sent.clear()
    assert engine.workflow_sweep(workflow)["lease_expired"] == 1
    row.refresh_from_db()
    assert row.status == "queued" and row.queued_at > timezone.now(), "backoff: not due at once"
    assert (row.step, row.pk, 8) in sent
    assert not instance_failed()

    model.objects.filter(pk=row.pk).update(status="running", attempt=3, lease_owner="gone:2", lease_expires_at=expired)
    assert engine.workflow_sweep(workflow)["dead_lettered"] == 1
    row.refresh_from_db()
    assert row.status == "failed" and "Lease expired" in row.error
    assert instance_failed()


def _broken_failure_handler(row, message):
    raise RuntimeError("the notification backend is down")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_a_step_is_failed_and_its_instance_too_when_the_failure_handler_raises(name, domain, user, sent):
    """A way forward from every state: with a failed step the admin can retry it; before, the
    handler's error rolled the failure back and the step stayed running forever."""
    row, instance_failed = _first_step(name, domain, user)

    def poison(ctx):
        raise PermanentError("This input can never be processed.")

    workflow = _scripted(name, poison)
    workflow.failed = _broken_failure_handler
    assert engine.step_execute(workflow, row.step, row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and "never be processed" in row.error
    assert "failure handler also failed" in row.error and "notification backend is down" in row.error
    assert instance_failed()


@pytest.mark.parametrize("name", WORKFLOWS)
@override_settings(STEP_MAX_ATTEMPTS=2)
def test_the_sweep_dead_letters_a_step_whose_failure_handler_raises(name, domain, user, sent):
    row, instance_failed = _first_step(name, domain, user)
    model, workflow = type(row), workflow_get(name)
    workflow = type(workflow)(steps=workflow.steps)
    workflow.failed = _broken_failure_handler
    model.objects.filter(pk=row.pk).update(
        status="running", attempt=2, lease_owner="gone:1", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    counts = engine.workflow_sweep(workflow)
    assert counts["dead_lettered"] == 1 and counts["errors"] == 0
    row.refresh_from_db()
    assert row.status == "failed" and instance_failed()
    assert engine.workflow_sweep(workflow)["dead_lettered"] == 0, "nothing left to recover"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_one_row_the_sweep_cannot_recover_is_counted_and_the_others_still_are(name, domain, user, sent, monkeypatch):
    bad, _ = _first_step(name, domain, user)
    good, _ = _first_step(name, domain, user, subject="Grace Hopper")
    model, workflow = type(bad), workflow_get(name)
    model.objects.filter(pk__in=[bad.pk, good.pk]).update(
        status="running", attempt=1, lease_owner="gone:1", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    real_queue = engine.steps_queue

    def queue(workflow, step, ids, **kwargs):
        if ids == [bad.pk]:
            raise RuntimeError("a row the database refuses")
        return real_queue(workflow, step, ids, **kwargs)

    monkeypatch.setattr(engine, "steps_queue", queue)
    counts = engine.workflow_sweep(workflow)
    assert counts["errors"] == 1 and counts["lease_expired"] == 1
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == "queued", "the sweep moved on past the bad row"
    assert bad.status == "running", "the bad row is left as it was, to be tried again next sweep"
