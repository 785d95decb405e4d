from django.apps import AppConfig


class CmsConfig(AppConfig):
    """The top layer: editors' and ops' views over every app, and the Celery task modules.
    Listed last in INSTALLED_APPS, so every workflow is registered before its tasks are made."""

    name = "apps.cms"
    label = "cms"
    verbose_name = "CMS and operations"

    def ready(self) -> None:
        # Importing the task modules registers the Celery tasks in every process (web processes
        # send through them, eager mode runs them).
        import tasks  # noqa: F401  (app loading: the task modules import every app's models)
