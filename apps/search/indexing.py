"""The vector-indexing step: embed chunks, store them, project into VECTOR_STORES.

Chunks are embedded through EMBEDDERS["default"], many at a time: one indexing task
takes the queued indexing steps of several documents (see ``BATCHED`` in the
workflow engine) and embeds all their chunks in one call, because a model call per
short document costs several times more. Each batch of vectors is stored on its
chunk rows (float32 little-endian bytes plus the model name) and committed, and the
leases are extended between batches: a retried step only embeds what is missing.

Then the domain's ``index_version`` is bumped and each domain's versions are published
into the vector store in one call (``VectorStore.publish``: on the embedded faiss engine one
commit adding the versions' vectors and dropping their documents' older versions; on
Weaviate upserts with deterministic ids, then deletes). Then the chunks of the whole batch
are written to the keyword engine (one commit per domain that also deletes the documents'
older versions), and the older versions leave the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core import metrics
from apps.core.backends import embedders, vector_stores
from apps.core.bulk import rows_update
from apps.documents.models import Chunk, DocumentVersion, StepRun
from apps.domains.services import domains_index_invalidate
from apps.search.engines.keyword import keyword_engine
from apps.search.projections import keyword_entries, keyword_entries_many, vector_items

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
        rows_update(
            Chunk,
            {
                pk: {"embedding": vector.tobytes(), "embedding_model": embedder.model_name}
                for (pk, _, _), vector in zip(batch, vectors, strict=True)
            },
            ["embedding", "embedding_model"],
        )
        for _, version_id, _ in batch:
            counts[version_id] = counts.get(version_id, 0) + 1
        if heartbeat:
            heartbeat()
    return counts


def version_publish(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    """Make an embedded version searchable and take its document's older versions out of the index."""
    result = versions_publish(versions=[version], heartbeat=heartbeat)[version.pk]
    if isinstance(result, Exception):
        raise result
    return result


def versions_publish(
    *, versions: Sequence[DocumentVersion], heartbeat: Callable[[], None] | None = None
) -> dict[int, dict | Exception]:
    """``version_publish`` for several versions: one index_version bump per domain, one query for
    the older versions; a version whose projection fails gets its exception, the others go on."""
    store = vector_stores["default"]
    domains_index_invalidate(v.domain_id for v in versions)
    older: dict[int, list[int]] = {v.pk: [] for v in versions}
    latest = {v.document_id: v for v in versions}
    for pk, document_id, number in DocumentVersion.objects.filter(document_id__in=list(latest)).values_list(
        "pk", "document_id", "number"
    ):
        for version in versions:
            if version.document_id == document_id and number < version.number:
                older[version.pk].append(pk)
    vectors = _vectors_publish(store=store, versions=versions, older=older, heartbeat=heartbeat)
    # A version whose vectors failed fails alone; the others go on to the keyword engine.
    results: dict[int, dict | Exception] = {pk: out for pk, out in vectors.items() if isinstance(out, Exception)}
    upserted = {pk: out for pk, out in vectors.items() if not isinstance(out, Exception)}
    keywords = versions_keywords_publish(versions=[v for v in versions if v.pk not in results], older=older)
    for version in versions:
        if version.pk in results:
            continue
        try:
            if isinstance(keywords[version.pk], Exception):
                raise keywords[version.pk]
            removed = 0
            if older[version.pk]:
                with transaction.atomic():
                    removed = (
                        Chunk.objects.filter(version_id__in=older[version.pk]).delete()[1].get("documents.Chunk", 0)
                    )
                    domains_index_invalidate([version.domain_id])
            results[version.pk] = {"vectors": upserted[version.pk], "keywords": keywords[version.pk], "older_chunks_removed": removed}
            metrics.heysh_pipeline_items_written_total.labels(kind="vectors").inc(upserted[version.pk])
        except Exception as exc:  # noqa: PERF203 (one version's projection failing must not fail the others)
            results[version.pk] = exc
    return results


def versions_keywords_publish(
    *, versions: Sequence[DocumentVersion], older: dict[int, list[int]]
) -> dict[int, int | Exception]:
    """Every version's chunks into the keyword engine and its document's older versions out:
    one write (one tantivy commit) per domain for the whole batch — a commit costs tens of
    milliseconds, a commit per version dominated indexing short documents. When the shared
    write fails, each version is written on its own, so one bad version fails alone.
    Returns the chunks written per version id, or the exception that failed it."""
    by_domain: dict[int, list[DocumentVersion]] = {}
    for version in versions:
        by_domain.setdefault(version.domain_id, []).append(version)
    written: dict[int, int | Exception] = {}
    for domain_id, group in by_domain.items():
        # A version that another version of this batch replaces is deleted, not added.
        superseded = {pk for v in group for pk in older.get(v.pk, ())}
        try:
            found = keyword_entries_many([v for v in group if v.pk not in superseded])  # one chunk query
            entries = {v.pk: found.get(v.pk, []) for v in group}
            keyword_engine.write(
                domain_id=domain_id,
                add=[entry for v in group for entry in entries[v.pk]],
                delete_versions=sorted({pk for v in group for pk in (v.pk, *older.get(v.pk, ()))}),
            )
            written.update({pk: len(e) for pk, e in entries.items()})
        except Exception:
            for version in group:
                try:
                    written[version.pk] = version_keywords_publish(version=version, older_version_ids=older.get(version.pk, ()))
                except Exception as exc:  # noqa: PERF203 (each version succeeds or fails on its own)
                    written[version.pk] = exc
    return written


def _vectors_publish(
    *, store, versions: Sequence[DocumentVersion], older: dict[int, list[int]], heartbeat
) -> dict[int, int | Exception]:
    """Each domain's versions into the vector store in one ``publish`` (one commit of the embedded
    engine: the versions' vectors in, their earlier vectors and their documents' older versions
    out); a failing domain gives its versions the exception."""
    by_domain: dict[int, list[DocumentVersion]] = {}
    for version in versions:
        by_domain.setdefault(version.domain_id, []).append(version)
    out: dict[int, int | Exception] = {}
    for domain_id, group in by_domain.items():
        try:
            items = []
            for version in group:
                for batch in vector_items(version):
                    items.extend(batch)
                out[version.pk] = sum(1 for item in items if item.version_id == version.pk)
            store.publish(
                domain_id=domain_id,
                items=items,
                delete_version_ids=[v for version in group for v in (version.pk, *older[version.pk])],
            )
            if heartbeat:
                heartbeat()
        except Exception as exc:  # noqa: PERF203 (one domain's failure must not fail the others)
            out.update({version.pk: exc for version in group})
    return out


def version_keywords_publish(*, version: DocumentVersion, older_version_ids: Sequence[int] = ()) -> int:
    """The version's chunks into the keyword engine and its document's older versions out, in
    one commit (re-publishing a version replaces its entries); returns the chunks written."""
    entries = keyword_entries(version)
    keyword_engine.write(domain_id=version.domain_id, add=entries, delete_versions=[version.pk, *older_version_ids])
    return len(entries)


def version_index(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    embedded = chunks_embed(versions=[version], heartbeat=heartbeat)
    return {
        "embedded": embedded.get(version.pk, 0),
        "embed_seconds": round(embedded.get("embed_seconds", 0.0), 3),
        "model": embedders["default"].model_name,
        **version_publish(version=version, heartbeat=heartbeat),
    }


def index_step(contexts) -> dict[int, dict | Exception]:
    """The indexing step: one embedding pass for the batch's versions, then each version is
    published on its own."""
    heartbeat = contexts[0].heartbeat
    embedded = chunks_embed(versions=[c.version for c in contexts], heartbeat=heartbeat)
    model = embedders["default"].model_name
    embed_seconds = round(embedded.pop("embed_seconds", 0.0), 3)
    published = versions_publish(versions=[c.version for c in contexts], heartbeat=heartbeat)
    results: dict[int, dict | Exception] = {}
    for ctx in contexts:
        outcome = published[ctx.version.pk]
        results[ctx.pk] = (
            outcome
            if isinstance(outcome, Exception)
            else {
                "embedded": embedded.get(ctx.version.pk, 0),
                "model": model,
                "embed_seconds": embed_seconds,
                "batch": len(contexts),
                **outcome,
            }
        )
    return results


def index_joinable(contexts, room: int) -> tuple[Q, int] | None:
    """Further queued indexing steps, oldest first, that fit in this batch: at most ``room``
    documents and ``INDEX_BATCH_CHUNKS`` chunks in all. An indexing batch costs its chunks, not
    its documents: 256 abstracts embed in seconds, 256 long reports would outlast the time limit."""
    budget = settings.INDEX_BATCH_CHUNKS - Chunk.objects.filter(version_id__in=[c.version.pk for c in contexts]).count()
    if budget <= 0:
        return None
    chunks_of_version = (
        Chunk.objects.filter(version_id=OuterRef("run__version_id"))
        .order_by()
        .values("version_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    candidates = (
        StepRun.objects.filter(step=StepRun.Step.INDEX, status=StepRun.Status.QUEUED, queued_at__lte=timezone.now())
        .order_by("queued_at")
        .annotate(chunks=Coalesce(Subquery(chunks_of_version), 0))
        .values_list("pk", "chunks")[:room]
    )
    picked = []
    for pk, chunks in candidates:
        if chunks > budget:
            break  # queue order is kept: a long document is not overtaken forever by short ones
        picked.append(pk)
        budget -= chunks
    return (Q(pk__in=picked), len(picked)) if picked else None
