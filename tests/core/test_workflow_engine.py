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


def _first_step(name: str, domain, user):
    """The queued first step of a new instance of workflow ``name``, and a reader of its outcome."""
    if name == "pipeline":
        document, _ = document_create(domain=domain, user=user, text="Ada Lovelace wrote the first program.", title="Ada")
        row = StepRun.objects.get(run__document=document, step="analyze")
        return row, lambda: Document.objects.get(pk=document.pk).status == DocumentStatus.FAILED
    bootstrap = bootstrap_start(user=user, name="Looms", topic_keywords=["loom"], seed_texts=[{"title": "t", "text": "Looms weave."}])
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
