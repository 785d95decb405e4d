from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_sweep_schedule(sender, **kwargs) -> None:
    """Register the bootstrap sweep with beat once; later migrations leave an edited schedule alone."""
    from django.conf import settings
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=settings.SWEEP_INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name="bootstrap sweep", defaults={"task": "tasks.bootstrap.sweep", "interval": schedule}
    )


def count_finished_documents(sender, *, document_ids, **kwargs) -> None:
    """Documents' runs ended: one message asks the general worker to count them towards the
    bootstraps waiting for them (off the finishing worker, which may be the busy AI worker)."""
    from apps.core.workflows.engine import task_send  # app loading: the engine imports models

    task_send("tasks.bootstrap.document_finished", [document_ids], queue="general")


class BootstrapConfig(AppConfig):
    """Admin, templates and beat schedule of the bootstrap workflow (its models live in apps.domains)."""

    name = "apps.bootstrap"
    label = "bootstrap"
    verbose_name = "Domain bootstrap"

    def ready(self) -> None:
        # Imported here: these modules import models, which exist only once apps are loaded.
        from django.apps import apps

        from apps.bootstrap import steps  # noqa: F401  (registers the bootstrap workflow)
        from apps.documents.signals import documents_finished

        documents_finished.connect(count_finished_documents, dispatch_uid="bootstrap.count_finished_documents")
        # This app has no models module, so it receives no post_migrate of its own.
        post_migrate.connect(
            ensure_sweep_schedule, sender=apps.get_app_config("domains"), dispatch_uid="bootstrap-sweep-schedule"
        )
