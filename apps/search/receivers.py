"""How the knowledge side follows the documents' events (``apps.documents.signals``)."""

from __future__ import annotations

from django.db import transaction

from apps.documents.downloads import documents_bucket_ensure
from apps.domains.services import domains_index_invalidate
from apps.search.engines.keyword import keyword_engine
from apps.search.graph_update import graph_prune, graph_touched


def search_caches_invalidate(sender, *, runs, **kwargs) -> None:
    """New current versions: per-process search caches keyed on the index version must reload,
    or a process that rebuilt between the index step and this switch would miss them."""
    domains_index_invalidate(run.domain_id for run in runs)


def graph_prune_after_delete(sender, *, domain_id: int, version_ids: list[int], **kwargs):
    """Entities and relations left without any mention or evidence once the document's chunks
    are gone are pruned: note what it supported now, prune after its rows are deleted."""
    touched = graph_touched(version_ids=version_ids)
    return lambda: graph_prune(domain_id=domain_id, **touched)


def keywords_remove_after_delete(sender, *, domain_id: int, version_ids: list[int], **kwargs):
    """A deleted document's chunks leave the keyword engine (the vector stores are told by
    ``document_delete`` itself, through their port)."""
    transaction.on_commit(lambda: keyword_engine.write(domain_id=domain_id, delete_versions=version_ids))


def documents_bucket_install(**kwargs) -> None:
    """post_migrate: the S3 documents bucket exists (created when allowed) from each deploy's start."""
    documents_bucket_ensure()
