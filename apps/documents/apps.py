from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"
    verbose_name = "Documents"

    def ready(self):
        from django.conf import settings

        from apps.core.schedules import schedule_register

        schedule_register(
            name="pipeline: recovery sweep", task="tasks.maintenance.sweep", every_seconds=settings.SWEEP_INTERVAL_SECONDS,
            queue="general", description="Re-sends pipeline steps whose lease expired or whose message was lost.",
        )
