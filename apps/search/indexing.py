"""The vector-indexing step: embed chunks, store them, project into VECTOR_STORES.

Chunks are embedded through EMBEDDERS["default"], many at a time: one indexing task
takes the queued indexing steps of several documents (see ``BATCHED`` in the
workflow engine) and embeds all their chunks in one call, because a model call per
short document costs several times more. Each batch of vectors is stored on its
chunk rows (float32 little-endian bytes plus the model name) and committed, and the
leases are extended between batches: a retried step only embeds what is missing.

Then, per document version: the domain's ``index_version`` is bumped so per-process
search caches reload, the vectors are upserted into the vector store (deterministic
ids: the same chunk twice is one vector), and the document's older versions leave
the index: their vectors, then their chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from django.db import transaction
from django.db.models import F, Q

from apps.core import metrics
from apps.core.backends import embedders, vector_stores
from apps.documents.models import Chunk, DocumentVersion
from apps.domains.models import Domain
from apps.search.projections import vector_items

EMBED_BATCH_SIZE = 256


def chunks_embed(*, versions: Sequence[DocumentVersion], heartbeat: Callable[[], None] | None = None) -> dict:
    """Embed the chunks of ``versions`` that have no embedding of the current model.

    Returns the count per version id, and the time spent in the model under "embed_seconds"."""
    embedder = embedders["default"]
    pending = list(
        Chunk.objects.filter(version__in=[v.pk for v in versions])
        .filter(Q(embedding__isnull=True) | ~Q(embedding_model=embedder.model_name))
        .order_by("version_id", "ordinal")
        .values_list("pk", "version_id", "text")
    )
    counts: dict = {}
    for i in range(0, len(pending), EMBED_BATCH_SIZE):
        batch = pending[i : i + EMBED_BATCH_SIZE]
        started = time.perf_counter()
        vectors = np.asarray(embedder.embed_documents([text for _, _, text in batch]), dtype="<f4")
        counts["embed_seconds"] = counts.get("embed_seconds", 0) + time.perf_counter() - started
        Chunk.objects.bulk_update(
            [Chunk(pk=pk, embedding=vector.tobytes(), embedding_model=embedder.model_name) for (pk, _, _), vector in zip(batch, vectors, strict=True)],
            ["embedding", "embedding_model"],
        )
        for _, version_id, _ in batch:
            counts[version_id] = counts.get(version_id, 0) + 1
        if heartbeat:
            heartbeat()
    return counts


def version_publish(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    """Make an embedded version searchable and take its document's older versions out of the index."""
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
            removed = Chunk.objects.filter(version_id__in=older).delete()[1].get("documents.Chunk", 0)
            Domain.objects.filter(pk=version.domain_id).update(index_version=F("index_version") + 1)
    metrics.heysh_pipeline_items_written_total.labels(kind="vectors").inc(upserted)
    return {"vectors": upserted, "older_chunks_removed": removed}


def version_index(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    embedded = chunks_embed(versions=[version], heartbeat=heartbeat)
    return {
        "embedded": embedded.get(version.pk, 0), "embed_seconds": round(embedded.get("embed_seconds", 0.0), 3),
        "model": embedders["default"].model_name, **version_publish(version=version, heartbeat=heartbeat),
    }


def index_body(ctx) -> dict:
    return version_index(version=ctx.version, heartbeat=ctx.heartbeat)


def index_batch_body(contexts) -> dict[int, dict | Exception]:
    """Index several documents' versions: one embedding pass, then each version on its own."""
    heartbeat = contexts[0].heartbeat
    embedded = chunks_embed(versions=[c.version for c in contexts], heartbeat=heartbeat)
    model = embedders["default"].model_name
    embed_seconds = round(embedded.pop("embed_seconds", 0.0), 3)
    results: dict[int, dict | Exception] = {}
    for ctx in contexts:
        try:
            published = version_publish(version=ctx.version, heartbeat=heartbeat)
            results[ctx.step_run.pk] = {"embedded": embedded.get(ctx.version.pk, 0), "model": model, "batch": len(contexts),
                                       "embed_seconds": embed_seconds, **published}
        except Exception as exc:  # one version's projection failing must not fail the others
            results[ctx.step_run.pk] = exc
    return results
