"""The notify step: rows for uploader and editors, mail, and the signed webhook with retries."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.core import mail
from django.test import override_settings

from apps.documents.models import Notification, ProcessingRun, StepRun, WebhookDelivery
from apps.documents.notifications import webhook_signature
from apps.documents.services import document_create
from apps.domains.models import Domain
from tests.factories import MembershipFactory, UserFactory
from tests.pipeline.conftest import drain
from tests.pipeline.stand_in import StandInServer

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-secret"


@pytest.fixture(autouse=True)
def _loopback_receivers(settings):
    """The stand-in receivers listen on 127.0.0.1, which webhooks may only reach when allowed."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


def _verify(request) -> bool:
    """What a receiver does: recompute the HMAC over "<timestamp>." + body and compare in constant time."""
    timestamp = request.headers["X-Heysh-Timestamp"]
    expected = "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["X-Heysh-Signature"])


def _process(domain, user, text="Django uses PostgreSQL in production."):
    document, _ = document_create(domain=domain, user=user, text=text, title="Doc")
    run = ProcessingRun.objects.get(document=document)
    drain(run)
    return document, run


@override_settings(NOTIFY_BY_EMAIL=True, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_uploader_owners_and_editors_are_notified_once(domain, user, no_broker):
    editor, viewer = UserFactory(), UserFactory()
    MembershipFactory(domain=domain, user=editor, role="editor")
    MembershipFactory(domain=domain, user=viewer, role="viewer")
    _, run = _process(domain, user)
    recipients = set(Notification.objects.filter(run=run, kind="document_ready").values_list("user_id", flat=True))
    assert recipients == {user.pk, editor.pk}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([user.email, editor.email])
    from apps.documents.notifications import run_notify

    run_notify(run=run)  # a redelivered notify step
    assert Notification.objects.filter(run=run).count() == 2 and len(mail.outbox) == 2


def test_webhook_is_signed_and_verifiable(domain, user, no_broker):
    with StandInServer(lambda r: (200, {"ok": True})) as receiver:
        domain.webhook_url, domain.webhook_secret = receiver.url + "/hooks/heysh", SECRET
        domain.save()
        document, run = _process(domain, user)
    (request,) = receiver.requests
    assert request.path == "/hooks/heysh" and _verify(request)
    payload = request.json()
    assert payload["event"] == "document.ready" and payload["document"]["id"] == document.pk
    assert payload["run"]["id"] == run.pk and payload["domain"]["slug"] == domain.slug
    tampered = type(request)(path=request.path, headers=request.headers, body=request.body.replace(b"ready", b"fails"))
    assert not _verify(tampered)
    (delivery,) = WebhookDelivery.objects.filter(run=run)
    assert delivery.ok and delivery.status_code == 200 and delivery.attempt == 1


def test_signature_helper_matches_the_documented_scheme():
    body = json.dumps({"a": 1}).encode()
    digest = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature(secret="k", timestamp="1700000000", body=body) == f"sha256={digest}"


@override_settings(STEP_BACKOFF_SECONDS=3)
def test_failing_receiver_is_retried_with_backoff_and_every_attempt_logged(domain, user, no_broker):
    answers = iter([500, 502, 200])
    with StandInServer(lambda r: (next(answers), {})) as receiver:
        domain.webhook_url, domain.webhook_secret = receiver.url, SECRET
        domain.save()
        _, run = _process(domain, user)
    assert len(receiver.requests) == 3 and all(_verify(r) for r in receiver.requests)
    log = list(WebhookDelivery.objects.filter(run=run).order_by("attempt").values_list("attempt", "status_code", "ok"))
    assert log == [(1, 500, False), (2, 502, False), (3, 200, True)]
    assert [c for step, _, c in no_broker if step == "notify"] == [0, 3, 6]
    notify = StepRun.objects.get(run=run, step="notify")
    assert notify.status == "succeeded" and notify.attempt == 3
    assert Notification.objects.filter(run=run).count() == 1, "retries add no second notification"


@override_settings(STEP_MAX_ATTEMPTS=2)
def test_webhook_that_never_answers_fails_notify_but_not_the_document(domain, user, no_broker):
    domain.webhook_url, domain.webhook_secret = "http://127.0.0.1:9/unreachable", SECRET
    domain.save()
    document, run = _process(domain, user)
    document.refresh_from_db()
    run.refresh_from_db()
    assert document.status == "ready"
    assert run.status == ProcessingRun.Status.FAILED and run.error.startswith("Notification: Gave up after 2 attempts")
    assert list(WebhookDelivery.objects.filter(run=run).values_list("ok", flat=True)) == [False, False]
    assert "ConnectError" in WebhookDelivery.objects.filter(run=run).first().error


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_webhook_to_a_private_address_is_refused_and_the_document_still_finishes(domain, user, no_broker, settings, host):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with StandInServer(lambda r: (200, {"ok": True})) as receiver:
        # Saved while allowed, or a public-looking name that resolves to this machine: checked at delivery.
        url = receiver.url.replace("127.0.0.1", host) + "/hook"
        Domain.objects.filter(pk=domain.pk).update(webhook_url=url, webhook_secret=SECRET)
        document, run = _process(domain, user)
    assert receiver.requests == [], "nothing was sent"
    document.refresh_from_db()
    run.refresh_from_db()
    assert document.status == "ready" and run.status == ProcessingRun.Status.SUCCEEDED
    notify = StepRun.objects.get(run=run, step="notify")
    assert notify.attempt == 1 and notify.metrics["webhook"] is False, "no retry: no attempt could succeed"
    (delivery,) = WebhookDelivery.objects.filter(run=run)
    assert not delivery.ok and delivery.error.startswith("refused: The URL points at a private or reserved address (")
    assert Notification.objects.filter(run=run, user=user).exists()
