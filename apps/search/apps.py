from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate

from apps.core.readiness import degradable_check_register
from apps.core.schedules import schedule_register
from apps.documents.signals import document_deleting, documents_ready


class SearchConfig(AppConfig):
    name = "apps.search"
    label = "search"
    verbose_name = "Knowledge graph and search"

    def ready(self):
        # App loading: these import models, which exist only now; pipeline registers the document pipeline's steps.
        from apps.search import pipeline, receivers, reconcile  # noqa: F401
        from apps.search.backends.vectors.embedded import vector_index_check
        from apps.search.engines.keyword import keyword_index_check

        degradable_check_register("search_index.keyword", keyword_index_check)
        degradable_check_register("search_index.vectors", vector_index_check)

        documents_ready.connect(receivers.search_caches_invalidate, dispatch_uid="search.caches_invalidate")
        document_deleting.connect(receivers.graph_prune_after_delete, dispatch_uid="search.graph_prune")
        document_deleting.connect(receivers.keywords_remove_after_delete, dispatch_uid="search.keywords_remove")
        # After every migrate (so at each deploy's start): projection schema and S3 bucket.
        post_migrate.connect(reconcile.graph_schema_install, sender=self, dispatch_uid="search.graph_schema")
        post_migrate.connect(receivers.documents_bucket_install, sender=self, dispatch_uid="search.documents_bucket")
        schedule_register(
            name=reconcile.RECONCILE_TASK_NAME,
            task=reconcile.RECONCILE_TASK,
            every_seconds=settings.PROJECTION_RECONCILE_INTERVAL_SECONDS,
            queue="storage",
            description="Compares Neo4j/Weaviate with PostgreSQL per document version and repairs drift.",
        )
