"""The apps' beat schedules are installed by one post_migrate receiver, once, keeping admin edits."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.core.schedules import schedule_list, schedule_register, schedules_install

pytestmark = pytest.mark.django_db

DECLARED = {
    "pipeline: recovery sweep": "tasks.maintenance.sweep",
    "bootstrap sweep": "tasks.bootstrap.sweep",
    "projections: reconcile": "tasks.projections.reconcile",
    "projections: deletes": "tasks.projections.deletes_drain",
    "vault: token renewal": "tasks.diagnostics.vault_token_renew",
}


def test_every_app_schedule_is_declared_and_installed_by_migrate():
    assert {s.name: s.task for s in schedule_list()} == DECLARED
    # The test database was migrated, so the receiver has already run.
    rows = PeriodicTask.objects.filter(name__in=DECLARED)
    assert {row.name: row.task for row in rows} == DECLARED
    assert all(row.interval.period == IntervalSchedule.SECONDS for row in rows)


def test_installing_again_keeps_admin_edits_and_repairs_only_the_task():
    schedules_install()
    edited, _ = IntervalSchedule.objects.get_or_create(every=7, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="bootstrap sweep").update(interval=edited, enabled=False, task="tasks.renamed")
    schedules_install()
    row = PeriodicTask.objects.get(name="bootstrap sweep")
    assert (row.interval_id, row.enabled, row.task) == (edited.pk, False, "tasks.bootstrap.sweep")
    assert PeriodicTask.objects.filter(name__in=DECLARED).count() == len(DECLARED)


def test_a_second_schedule_under_a_taken_name_is_refused():
    declared = next(s for s in schedule_list() if s.name == "bootstrap sweep")
    assert schedule_register(name=declared.name, task=declared.task, every_seconds=declared.every_seconds) == declared
    with pytest.raises(ImproperlyConfigured):
        schedule_register(name="bootstrap sweep", task="tasks.other", every_seconds=60)
    assert {s.name: s.task for s in schedule_list()} == DECLARED
