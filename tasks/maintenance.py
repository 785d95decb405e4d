"""Periodic maintenance run by beat (schedule rows live in django-celery-beat, editable in the admin)."""

from __future__ import annotations

from heysh.celery import TIME_LIMITS, app


@app.task(name="tasks.maintenance.sweep", soft_time_limit=TIME_LIMITS["general"][0], time_limit=TIME_LIMITS["general"][1])
def sweep() -> dict[str, int]:
    """Re-send pipeline steps the broker or a dead worker lost; dead-letter exhausted ones."""
    from apps.documents.workflow import workflow_sweep

    return workflow_sweep()
