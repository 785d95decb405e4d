from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import transaction

from apps.documents.models import StepRun
from apps.documents.workflow import step_execute
from tests.workers import celery_workers  # noqa: F401


def drain(run, *, limit: int = 100) -> None:
    """Execute a run's queued steps in this process, in order, ignoring backoff delays (no broker)."""
    for _ in range(limit):
        step_run = StepRun.objects.filter(run=run, status=StepRun.Status.QUEUED).order_by("ordinal").first()
        if step_run is None:
            return
        step_execute(step_run_id=step_run.pk, step=step_run.step)
    raise AssertionError("run did not settle")


@pytest.fixture
def no_broker(monkeypatch):
    """In-process tests run steps themselves: record would-be messages instead of sending them."""
    sent = []
    monkeypatch.setattr("apps.documents.workflow._send", lambda step_run_id, step, countdown=0: sent.append((step, step_run_id, countdown)))
    monkeypatch.setattr(
        "apps.documents.workflow._send_document_finished",
        lambda ids: sent.extend(("finished", i, 0) for i in (ids if isinstance(ids, list) else [ids])),
    )
    # The test's own transaction never commits: record at on_commit time instead.
    immediate = SimpleNamespace(atomic=transaction.atomic, on_commit=lambda func, using=None, robust=False: func())
    monkeypatch.setattr("apps.documents.workflow.transaction", immediate)
    return sent
