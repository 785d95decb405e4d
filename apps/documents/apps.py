from django.apps import AppConfig
from django.conf import settings

from apps.core.schedules import schedule_register


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"
    verbose_name = "Documents"

    def ready(self):
        schedule_register(
            name="pipeline: recovery sweep", task="tasks.maintenance.sweep", every_seconds=settings.SWEEP_INTERVAL_SECONDS,
            queue="general", description="Re-sends pipeline steps whose lease expired or whose message was lost.",
        )
