from django.apps import AppConfig


class BootstrapConfig(AppConfig):
    """Admin, templates and beat schedule of the bootstrap workflow (its models live in apps.domains)."""

    name = "apps.domains.bootstrap"
    label = "bootstrap"
    verbose_name = "Domain bootstrap"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.schedules import schedule_register

        schedule_register(name="bootstrap sweep", task="tasks.bootstrap.sweep", every_seconds=settings.SWEEP_INTERVAL_SECONDS)
