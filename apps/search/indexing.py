"""The vector-indexing step: embed a version's chunks, store them, project into VECTOR_STORES.

Chunks are embedded in batches through EMBEDDERS["default"]; each batch is stored on
its chunk rows (float32 little-endian bytes plus the model name) and committed, and
the lease is extended between batches. A retried step (a worker died halfway) only
embeds what is still missing. Then the domain's ``index_version`` is bumped so
per-process search caches reload, the vectors are upserted into the vector store
(deterministic ids: the same chunk twice is one vector), and the document's older
versions leave the index: their vectors, then their chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.db import transaction
from django.db.models import F, Q

from apps.core import metrics
from apps.core.backends import embedders, vector_stores
from apps.documents.models import Chunk, DocumentVersion
from apps.domains.models import Domain
from apps.search.projections import vector_items

EMBED_BATCH_SIZE = 256


def version_index(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    embedder = embedders["default"]
    pending = list(
        Chunk.objects.filter(version=version)
        .filter(Q(embedding__isnull=True) | ~Q(embedding_model=embedder.model_name))
        .order_by("ordinal")
        .values_list("pk", "text")
    )
    for i in range(0, len(pending), EMBED_BATCH_SIZE):
        batch = pending[i : i + EMBED_BATCH_SIZE]
        vectors = np.asarray(embedder.embed_documents([text for _, text in batch]), dtype="<f4")
        rows = [
            Chunk(pk=pk, embedding=vector.tobytes(), embedding_model=embedder.model_name)
            for (pk, _), vector in zip(batch, vectors, strict=True)
        ]
        Chunk.objects.bulk_update(rows, ["embedding", "embedding_model"])
        if heartbeat:
            heartbeat()
    Domain.objects.filter(pk=version.domain_id).update(index_version=F("index_version") + 1)

    store = vector_stores["default"]
    upserted = 0
    for items in vector_items(version):
        store.upsert(items)
        upserted += len(items)
        if heartbeat:
            heartbeat()
    older = list(
        DocumentVersion.objects.filter(document_id=version.document_id, number__lt=version.number).values_list("pk", flat=True)
    )
    removed = 0
    for old_version_id in older:
        store.delete_version(domain_id=version.domain_id, version_id=old_version_id)
    if older:
        with transaction.atomic():
            removed, _ = Chunk.objects.filter(version_id__in=older).delete()
            Domain.objects.filter(pk=version.domain_id).update(index_version=F("index_version") + 1)
    metrics.heysh_pipeline_items_written_total.labels(kind="vectors").inc(upserted)
    return {"embedded": len(pending), "vectors": upserted, "model": embedder.model_name, "older_chunks_removed": removed}


def index_body(ctx) -> dict:
    return version_index(version=ctx.version, heartbeat=ctx.heartbeat)
