"""Beat schedules, declared by the apps and installed as django-celery-beat rows after migrate.

An app declares its periodic tasks from its ``AppConfig.ready``::

    schedule_register(name="pipeline: recovery sweep", task="tasks.maintenance.sweep", every_seconds=30)

After every ``migrate`` one receiver creates each declared ``PeriodicTask`` that does
not exist yet. A row that exists is left as ops edited it in the admin (interval,
enabled, queue...); only its ``task`` is put back if it no longer names the declared
task, since the name is what identifies the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int
    queue: str | None = None
    description: str = ""


_registry: dict[str, Schedule] = {}


def schedule_register(*, name: str, task: str, every_seconds: int, queue: str | None = None, description: str = "") -> Schedule:
    """Declare a periodic task; declaring the same schedule twice is harmless, two under one name are refused."""
    schedule = Schedule(name=name, task=task, every_seconds=every_seconds, queue=queue, description=description)
    registered = _registry.setdefault(name, schedule)
    if registered != schedule:
        raise ImproperlyConfigured(f"Two different beat schedules are named {name!r}: {registered} and {schedule}.")
    return schedule


def schedule_list() -> list[Schedule]:
    return list(_registry.values())


def schedules_install(*, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: create every declared PeriodicTask once; later admin edits are kept."""
    # Looked up, not imported: every AppConfig imports this module, before models can be.
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    for schedule in _registry.values():
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=schedule.every_seconds, period=IntervalSchedule.SECONDS
        )
        defaults = {"task": schedule.task, "interval": interval}
        if schedule.queue:
            defaults["queue"] = schedule.queue
        if schedule.description:
            defaults["description"] = schedule.description
        row, created = PeriodicTask.objects.using(using).get_or_create(name=schedule.name, defaults=defaults)
        if not created and row.task != schedule.task:
            row.task = schedule.task
            row.save(update_fields=["task"])
