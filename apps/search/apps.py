from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "apps.search"
    label = "search"
    verbose_name = "Knowledge graph and search"

    def ready(self):
        from django.db.models.signals import post_migrate

        from apps.documents.downloads import documents_bucket_install
        from apps.search.reconcile import graph_schema_install, reconcile_schedule_install

        # After every migrate (so at each deploy's start): projection schema, S3 bucket, reconcile schedule.
        post_migrate.connect(graph_schema_install, sender=self, dispatch_uid="search.graph_schema")
        post_migrate.connect(documents_bucket_install, sender=self, dispatch_uid="search.documents_bucket")
        post_migrate.connect(reconcile_schedule_install, sender=self, dispatch_uid="search.reconcile_schedule")
