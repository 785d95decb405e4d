"""The pipeline's beat schedule, kept as django-celery-beat rows so ops can edit it in the admin."""

from __future__ import annotations

from django.conf import settings

SWEEP_TASK_NAME = "pipeline: recovery sweep"


def sweep_schedule_install(**kwargs) -> None:
    """post_migrate receiver: create the sweep's PeriodicTask once; later admin edits are kept."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    using = kwargs.get("using", "default")
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=settings.SWEEP_INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
    )
    task, created = PeriodicTask.objects.using(using).get_or_create(
        name=SWEEP_TASK_NAME,
        defaults={"task": "tasks.maintenance.sweep", "interval": interval, "queue": "general",
                  "description": "Re-sends pipeline steps whose lease expired or whose message was lost."},
    )
    if not created and task.task != "tasks.maintenance.sweep":
        task.task = "tasks.maintenance.sweep"
        task.save(update_fields=["task"])
