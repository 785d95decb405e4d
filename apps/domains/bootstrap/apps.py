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


class BootstrapConfig(AppConfig):
    """Admin, templates and beat schedule of the bootstrap workflow (its models live in apps.domains)."""

    name = "apps.domains.bootstrap"
    label = "bootstrap"
    verbose_name = "Domain bootstrap"

    def ready(self) -> None:
        from django.apps import apps

        # This app has no models module, so it receives no post_migrate of its own.
        post_migrate.connect(
            ensure_sweep_schedule, sender=apps.get_app_config("domains"), dispatch_uid="bootstrap-sweep-schedule"
        )
