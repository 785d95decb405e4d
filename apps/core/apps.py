from django.apps import AppConfig
from django.db.models.signals import post_migrate

from apps.core import backends, checks  # noqa: F401  (register signal receivers and system checks)
from apps.core.schedules import schedule_register, schedules_install
from apps.core.tracing import tracing_setup


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self):
        # Beat's tables are what the schedule rows need, so install after its migrations.
        post_migrate.connect(
            schedules_install,
            sender=self.apps.get_app_config("django_celery_beat"),
            dispatch_uid="core.schedules_install",
        )
        schedule_register(
            name="projections: deletes",
            task="tasks.projections.deletes_drain",
            every_seconds=60,
            queue="storage",
            description="Applies the document and domain deletes that Neo4j/Weaviate still owe (the projection outbox).",
        )
        schedule_register(
            name="vault: token renewal",
            task="tasks.diagnostics.vault_token_renew",
            every_seconds=3600,
            queue="general",
            description="Renews the app's periodic Vault token (a no-op without VAULT_ADDR).",
        )
        # Before any middleware is loaded or connection opened: web, workers and beat alike
        # (gunicorn does not preload, and the SDK restarts its export thread in forked children).
        tracing_setup()
