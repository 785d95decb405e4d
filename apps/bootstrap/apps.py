from django.apps import AppConfig
from django.conf import settings

from apps.core.schedules import schedule_register
from apps.documents.signals import documents_finished


class BootstrapConfig(AppConfig):
    """The domain bootstrap workflow: its models, steps, admin, API and beat schedule."""

    name = "apps.bootstrap"
    label = "bootstrap"
    verbose_name = "Domain bootstrap"

    def ready(self) -> None:
        # App loading: these import models, which exist only now; steps registers the bootstrap workflow.
        from apps.bootstrap import receivers, steps  # noqa: F401

        documents_finished.connect(receivers.count_finished_documents, dispatch_uid="bootstrap.count_finished_documents")
        schedule_register(name="bootstrap sweep", task="tasks.bootstrap.sweep", every_seconds=settings.SWEEP_INTERVAL_SECONDS)
