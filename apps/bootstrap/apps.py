from django.apps import AppConfig


def count_finished_documents(sender, *, document_ids, **kwargs) -> None:
    """Documents' runs ended: one message asks the general worker to count them towards the
    bootstraps waiting for them (off the finishing worker, which may be the busy AI worker)."""
    from apps.core.workflows.engine import task_send  # app loading: the engine imports models

    task_send("tasks.bootstrap.document_finished", [document_ids], queue="general")


class BootstrapConfig(AppConfig):
    """The domain bootstrap workflow: its models, steps, admin, API and beat schedule."""

    name = "apps.bootstrap"
    label = "bootstrap"
    verbose_name = "Domain bootstrap"

    def ready(self) -> None:
        # Imported here: these modules import models, which exist only once apps are loaded.
        from django.conf import settings

        from apps.bootstrap import steps  # noqa: F401  (registers the bootstrap workflow)
        from apps.core.schedules import schedule_register
        from apps.documents.signals import documents_finished

        documents_finished.connect(count_finished_documents, dispatch_uid="bootstrap.count_finished_documents")
        schedule_register(name="bootstrap sweep", task="tasks.bootstrap.sweep", every_seconds=settings.SWEEP_INTERVAL_SECONDS)
