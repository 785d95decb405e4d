"""A bootstrap that stops tells the domain's owners and editors why (in process, no broker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.documents.errors import PermanentError
from apps.documents.models import Notification
from apps.domains.bootstrap import engine
from apps.domains.bootstrap.services import bootstrap_start
from apps.domains.models import BootstrapStep, DomainBootstrap
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _failing(exc):
    def handler(step):
        raise exc

    return {name: handler for name in BootstrapStep.Step.values}


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

    assert engine.run(research.pk, _failing(PermanentError("No source could be fetched."))) == "failed"

    bootstrap.refresh_from_db()
    assert bootstrap.status == DomainBootstrap.Status.FAILED
    notices = _notices()
    assert [n[0] for n in notices] == sorted([user.pk, editor.pk]), "owners and editors, not viewers"
    assert all(title == "Setting up Rocketry stopped" and "No source could be fetched." in body and "retry" in body
               for _, title, body in notices)
    assert engine.run(research.pk, _failing(PermanentError("again"))) == "duplicate"
    assert len(_notices()) == 2, "a redelivered message notifies nobody again"


def test_transient_failures_notify_only_when_the_attempts_run_out(bootstrap, settings):
    settings.STEP_MAX_ATTEMPTS = 2
    research = bootstrap.steps.get(step=BootstrapStep.Step.RESEARCH)

    assert engine.run(research.pk, _failing(ConnectionError("search backend down"))) == "retry"
    assert _notices() == []
    BootstrapStep.objects.filter(pk=research.pk).update(queued_at=timezone.now())
    assert engine.run(research.pk, _failing(ConnectionError("search backend down"))) == "retry"
    (notice,) = _notices()
    assert "ConnectionError: search backend down" in notice[2]


def test_a_step_whose_worker_vanished_too_often_notifies_from_the_sweep(bootstrap, settings):
    settings.STEP_MAX_ATTEMPTS = 1
    research = bootstrap.steps.get(step=BootstrapStep.Step.RESEARCH)
    BootstrapStep.objects.filter(pk=research.pk).update(
        status=BootstrapStep.Status.RUNNING, attempt=1, lease_owner="gone:1", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert engine.sweep()["dead"] == 1
    (notice,) = _notices()
    assert "lease expired after 1 attempts" in notice[2]
