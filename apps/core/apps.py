from django.apps import AppConfig
from django.db.models.signals import post_migrate

from apps.core import backends, checks  # noqa: F401  (register signal receivers and system checks)
from apps.core.schedules import schedules_install
from apps.core.tracing import tracing_setup


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self):
        # Core has no models, so it receives no post_migrate of its own; beat's tables are what the rows need.
        post_migrate.connect(
            schedules_install, sender=self.apps.get_app_config("django_celery_beat"), dispatch_uid="core.schedules_install"
        )
        # Before any middleware is loaded or connection opened: web, workers and beat alike
        # (gunicorn does not preload, and the SDK restarts its export thread in forked children).
        tracing_setup()
