from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"
    verbose_name = "Documents"

    def ready(self):
        from django.db.models.signals import post_migrate

        from apps.documents.schedules import sweep_schedule_install

        post_migrate.connect(sweep_schedule_install, sender=self, dispatch_uid="documents.sweep_schedule")
