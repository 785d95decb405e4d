from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "apps.search"
    label = "search"
    verbose_name = "Knowledge graph and search"

    def ready(self):
        # Imported here: these modules import models, which exist only once apps are loaded.
        from django.conf import settings
        from django.db.models.signals import post_migrate

        from apps.core.schedules import schedule_register
        from apps.documents.downloads import documents_bucket_install
        from apps.documents.signals import document_deleting, documents_ready
        from apps.search import pipeline  # noqa: F401  (registers the document pipeline's steps)
        from apps.search.receivers import graph_prune_after_delete, search_caches_invalidate
        from apps.search.reconcile import RECONCILE_TASK, RECONCILE_TASK_NAME, graph_schema_install

        documents_ready.connect(search_caches_invalidate, dispatch_uid="search.caches_invalidate")
        document_deleting.connect(graph_prune_after_delete, dispatch_uid="search.graph_prune")
        # After every migrate (so at each deploy's start): projection schema and S3 bucket.
        post_migrate.connect(graph_schema_install, sender=self, dispatch_uid="search.graph_schema")
        post_migrate.connect(documents_bucket_install, sender=self, dispatch_uid="search.documents_bucket")
        schedule_register(
            name=RECONCILE_TASK_NAME, task=RECONCILE_TASK, every_seconds=settings.PROJECTION_RECONCILE_INTERVAL_SECONDS,
            queue="storage", description="Compares Neo4j/Weaviate with PostgreSQL per document version and repairs drift.",
        )
