"""A bootstrap that stops tells the domain's owners and editors why (in process, no broker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bootstrap.models import BootstrapStep, DomainBootstrap
from apps.bootstrap.services import bootstrap_start
from apps.bootstrap.workflow import BootstrapWorkflow, bootstrap_workflow
from apps.core.workflows import engine
from apps.core.workflows.spec import StepSpec, one_at_a_time
from apps.documents.errors import PermanentError
from apps.documents.models import Notification
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _run(step_id: int, exc: Exception) -> str | None:
    """One delivery of the step through the engine, with every step body raising ``exc``."""

    def failing(ctx):
        raise exc

    workflow = BootstrapWorkflow(steps=[StepSpec(s.name, s.queue, one_at_a_time(failing)) for s in bootstrap_workflow().steps])
    return engine.step_execute(workflow, BootstrapStep.Step.RESEARCH, step_id)


@pytest.fixture
def bootstrap(user):
    return bootstrap_start(user=user, name="Rocketry", topic_keywords=["rocket"], seed_texts=[{"title": "t", "text": "Rockets burn fuel."}])


def _notices():
    return list(Notification.objects.filter(kind="bootstrap_failed").order_by("user_id").values_list("user_id", "title", "body"))


def test_a_permanent_failure_notifies_owners_and_editors_once(bootstrap, user):
    editor, viewer = UserFactory(), UserFactory()
    MembershipFactory(domain=bootstrap.domain, user=editor, role="editor")
    MembershipFactory(domain=bootstrap.domain, user=viewer, role="viewer")
    research = bootstrap.steps.get(step=BootstrapStep.Step.RESEARCH)

    assert _run(research.pk, PermanentError("No source could be fetched.")) == "failed"

    bootstrap.refresh_from_db()
    assert bootstrap.status == DomainBootstrap.Status.FAILED
    notices = _notices()
    assert [n[0] for n in notices] == sorted([user.pk, editor.pk]), "owners and editors, not viewers"
    assert all(title == "Setting up Rocketry stopped" and "No source could be fetched." in body and "retry" in body
               for _, title, body in notices)
    assert _run(research.pk, PermanentError("again")) is None
    assert len(_notices()) == 2, "a redelivered message notifies nobody again"


def test_transient_failures_notify_only_when_the_attempts_run_out(bootstrap, settings):
    settings.STEP_MAX_ATTEMPTS = 2
    research = bootstrap.steps.get(step=BootstrapStep.Step.RESEARCH)

    assert _run(research.pk, ConnectionError("search backend down")) == "retry"
    assert _notices() == []
    BootstrapStep.objects.filter(pk=research.pk).update(queued_at=timezone.now())
    assert _run(research.pk, ConnectionError("search backend down")) == "failed", "the last attempt fails the step"
    (notice,) = _notices()
    assert "ConnectionError: search backend down" in notice[2]


def test_a_step_whose_worker_vanished_too_often_notifies_from_the_sweep(bootstrap, settings):
    settings.STEP_MAX_ATTEMPTS = 1
    research = bootstrap.steps.get(step=BootstrapStep.Step.RESEARCH)
    BootstrapStep.objects.filter(pk=research.pk).update(
        status=BootstrapStep.Status.RUNNING, attempt=1, lease_owner="gone:1", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert engine.workflow_sweep(bootstrap_workflow())["dead_lettered"] == 1
    (notice,) = _notices()
    assert "Gave up after 1 attempts: Lease expired" in notice[2]
