"""What a document version contributes to each projection, built from the source of truth.

The pipeline's graph and index steps and the reconciliation task use these same
builders, so a projection rebuilt from scratch equals one kept up to date.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from apps.documents.models import Chunk, DocumentVersion
from apps.search.backends.types import GraphContribution, GraphEntity, GraphMention, GraphRelation, VectorItem
from apps.search.engines.analysis import analyze
from apps.search.engines.keyword import KeywordEntry
from apps.search.models import Mention, RelationEvidence


def graph_contribution(version: DocumentVersion) -> GraphContribution:
    chunk_ids = tuple(Chunk.objects.filter(version=version).order_by("ordinal").values_list("pk", flat=True))
    mentions = list(Mention.objects.filter(version=version).select_related("entity").order_by("chunk_id", "start"))
    entities = {m.entity.key: GraphEntity(key=m.entity.key, name=m.entity.name, type=m.entity.type) for m in mentions}
    relations = {}
    for ev in RelationEvidence.objects.filter(version=version).select_related("relation__source", "relation__target"):
        rel = ev.relation
        relations[(rel.source.key, rel.target.key, rel.type, rel.predicate)] = GraphRelation(
            source_key=rel.source.key, target_key=rel.target.key, type=rel.type, weight=rel.weight, predicate=rel.predicate
        )
    return GraphContribution(
        domain_id=version.domain_id,
        document_id=version.document_id,
        version_id=version.pk,
        document_title=version.document.title,
        chunk_ids=chunk_ids,
        entities=tuple(entities.values()),
        relations=tuple(relations.values()),
        mentions=tuple(GraphMention(entity_key=m.entity.key, chunk_id=m.chunk_id) for m in mentions),
    )


def vector_items(version: DocumentVersion, *, batch_size: int = 500) -> Iterator[list[VectorItem]]:
    """The version's embedded chunks as VectorItems, in batches (a long document is many MB of vectors)."""
    batch: list[VectorItem] = []
    created = version.document.created_at.timestamp()
    rows = (
        Chunk.objects.filter(version=version, embedding__isnull=False)
        .order_by("ordinal")
        .values_list("pk", "document_id", "version_id", "domain_id", "embedding", "text", "embedding_model")
    )
    for pk, document_id, version_id, domain_id, embedding, text, model in rows.iterator(chunk_size=batch_size):
        batch.append(
            VectorItem(
                chunk_id=pk,
                document_id=document_id,
                version_id=version_id,
                domain_id=domain_id,
                vector=np.frombuffer(bytes(embedding), dtype="<f4"),
                text=text,
                language=version.language,
                created=created,
                model=model,
            )
        )
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


# The document title is indexed with each of its chunks: a chunk that never names its
# subject is still found by it (better on Cranfield, docs/search.md).
TITLE_WITH_EVERY_CHUNK = True


def keyword_entries(version: DocumentVersion) -> list[KeywordEntry]:
    """Every chunk of the version as the keyword engine indexes it (embedded or not: keywords need no vector)."""
    return keyword_entries_many([version]).get(version.pk, [])


def keyword_entries_many(versions: Sequence[DocumentVersion]) -> dict[int, list[KeywordEntry]]:
    """``keyword_entries`` of several versions with one chunk query, by version id."""
    by_id = {version.pk: version for version in versions}
    entries: dict[int, list[KeywordEntry]] = {pk: [] for pk in by_id}
    rows = (
        Chunk.objects.filter(version_id__in=list(by_id))
        .order_by("version_id", "ordinal")
        .values_list("pk", "version_id", "text")
        .iterator(chunk_size=2000)
    )
    for pk, version_id, text in rows:
        version = by_id[version_id]
        title = version.document.title if TITLE_WITH_EVERY_CHUNK else ""
        entries[version_id].append(
            KeywordEntry(
                chunk_id=pk,
                document_id=version.document_id,
                version_id=version_id,
                language=version.language or "",
                created=version.document.created_at.timestamp(),
                terms=tuple(analyze(f"{title}\n{text}" if title else text)),
            )
        )
    return entries
