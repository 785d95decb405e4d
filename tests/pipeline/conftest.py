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
    monkeypatch.setattr(
        "apps.core.workflows.engine.send",
        lambda workflow, step, ids, countdown=0: sent.append((step, ids, countdown)),
    )
    # The documents' "finished" event becomes one bootstrap message; record it instead.
    monkeypatch.setattr(
        "apps.core.workflows.engine.task_send",
        lambda name, args, **options: sent.extend(("finished", i, 0) for i in args[0]),
    )
    # The test's own transaction never commits: record at on_commit time instead.
    immediate = SimpleNamespace(atomic=transaction.atomic, on_commit=lambda func, using=None, robust=False: func())
    monkeypatch.setattr("apps.documents.workflow.transaction", immediate)
    monkeypatch.setattr("apps.core.workflows.engine.transaction", immediate)
    return sent
