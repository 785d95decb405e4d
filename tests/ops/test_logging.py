"""JSON log lines with context, secrets redacted, and the request id carried into tasks."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import signals
from django.http import HttpResponse
from django.test import RequestFactory

from apps.core import context
from apps.core.logging import ContextFilter, JsonFormatter, PlainFormatter, redact
from apps.core.middleware import RequestIdMiddleware
from heysh.celery import app
from tasks.diagnostics import ping

SECRETS = ("hunter2", "s3cr3t-pw", "tok-abcdef123", "AKIAEXAMPLEKEY", "sk-live-999")


@pytest.fixture
def json_log():
    """A logger wired like settings.LOGGING's console handler, writing into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("heysh.test.ops")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    request_logger = logging.getLogger("heysh.request")
    request_logger.addHandler(handler)
    previous_level = request_logger.level
    request_logger.setLevel(logging.DEBUG)
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    request_logger.removeHandler(handler)
    request_logger.setLevel(previous_level)


def test_settings_use_the_redacting_formatters_and_context_filter():
    from django.conf import settings

    assert settings.LOGGING["formatters"]["json"]["()"] == "apps.core.logging.JsonFormatter"
    assert settings.LOGGING["formatters"]["plain"]["()"] == "apps.core.logging.PlainFormatter"
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["context"]


def test_json_lines_carry_the_bound_context(json_log):
    logger, lines = json_log
    with context.bound(request_id="r-1", run_id=42, step="extract", domain="acme", user_id=7):
        logger.info("step %s done", "extract")
    (line,) = lines()
    assert line["message"] == "step extract done"
    assert (line["request_id"], line["run_id"], line["step"], line["domain"], line["user_id"]) == ("r-1", "42", "extract", "acme", "7")
    assert line["levelname"] == "INFO" and line["task_id"] == "-"


def test_secrets_never_reach_a_log_line(json_log):
    logger, lines = json_log
    logger.info("connecting with password=%s", "hunter2")
    logger.info("db at %s", "postgres://heysh:s3cr3t-pw@db:5432/heysh")
    logger.info("header Authorization: Bearer tok-abcdef123")
    logger.warning("upload failed", extra={"aws_secret_access_key": "AKIAEXAMPLEKEY", "bucket": "docs"})
    try:
        raise RuntimeError("could not reach redis://:sk-live-999@cache:6379/0 with api_key=sk-live-999")
    except RuntimeError:
        logger.exception("broker down")
    output = json.dumps(lines())
    for secret in SECRETS:
        assert secret not in output, secret
    records = lines()
    assert records[1]["message"] == "db at postgres://heysh:***@db:5432/heysh"
    assert records[3]["bucket"] == "docs" and records[3]["aws_secret_access_key"] == "***"
    assert "RuntimeError" in records[4]["exc_info"]


def test_plain_formatter_redacts_exception_text():
    formatter = PlainFormatter("%(message)s")
    try:
        raise ValueError("token=hunter2")
    except ValueError:
        import sys

        text = formatter.formatException(sys.exc_info())
    assert "hunter2" not in text and "token=***" in text


def test_redact_keeps_ordinary_text():
    assert redact("indexed 12 chunks for acme in 0.3s") == "indexed 12 chunks for acme in 0.3s"


def test_request_id_is_echoed_and_logged_with_the_authenticated_user(json_log, client_for, user):
    _, lines = json_log
    response = client_for(user).get("/api/v1/domains/", HTTP_X_REQUEST_ID="req-abc.1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-abc.1"
    access = [r for r in lines() if r["name"] == "heysh.request"]
    assert access and access[-1]["request_id"] == "req-abc.1"
    assert access[-1]["status"] == 200 and access[-1]["path"] == "/api/v1/domains/"
    assert access[-1]["user_id"] == str(user.pk)


def test_a_bogus_request_id_is_replaced(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    assert response.status_code == 200
    assert len(response["X-Request-ID"]) == 32 and "<" not in response["X-Request-ID"]


@pytest.mark.django_db
def test_tasks_enqueued_by_a_request_carry_its_request_id(user):
    """The message headers carry the request id (and user); the task binds them for its logs."""
    published = []

    def capture(headers=None, **kwargs):
        published.append(dict(headers))

    signals.before_task_publish.connect(capture, weak=False)

    def view(request):
        request.user = user
        ping.apply_async()
        return HttpResponse("ok")

    try:
        request = RequestFactory().get("/somewhere", HTTP_X_REQUEST_ID="req-task-9")
        RequestIdMiddleware(view)(request)
    finally:
        signals.before_task_publish.disconnect(capture)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("general")

    (headers,) = published
    assert headers["heysh_request_id"] == "req-task-9"
    assert headers["heysh_user_id"] == str(user.pk)
    assert headers["heysh_sent_at"] > 0

    # What the worker does with those headers (the real-worker test covers the broker path).
    result = ping.apply(headers={"heysh_request_id": "req-task-9", "heysh_user_id": str(user.pk)})
    assert result.get()["request_id"] == "req-task-9"
    assert result.get()["user_id"] == str(user.pk)
    assert context.request_id.get() == "-", "the task's context must not leak out of it"
