"""The knowledge-extraction step: run the EXTRACTORS port over a version's chunks.

Results are stored in ExtractionCache keyed by (chunk content hash, prompt version,
model), for every extractor: the graph step reads them from there, a retried or
reprocessed version never pays twice for the same chunk, and an identical chunk in
another document is extracted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from apps.core import metrics
from apps.core.backends import extractors
from apps.documents.models import Chunk, DocumentVersion
from apps.search.backends.extractors.base import Extractor
from apps.search.backends.types import ExtractedEntity, ExtractedRelation, Extraction
from apps.search.models import EntityType, ExtractionCache, RelationType

logger = logging.getLogger(__name__)

ENTITY_TYPES = set(EntityType.values)
RELATION_TYPES = set(RelationType.values)


def extractor_identity(extractor: Extractor) -> tuple[str, str]:
    """(prompt version, model) under which an extractor's results are cached."""
    return str(getattr(extractor, "prompt_version", extractor.name)), str(getattr(extractor, "model", extractor.name))


def extraction_to_json(extraction: Extraction) -> dict:
    return {
        "entities": [[e.name, e.type, e.start, e.end] for e in extraction.entities],
        "relations": [[r.source, r.target, r.type, r.evidence, r.predicate, r.start, r.end] for r in extraction.relations],
    }


def extraction_from_json(data: dict) -> Extraction:
    return Extraction(
        entities=tuple(ExtractedEntity(name=n, type=t, start=s, end=e) for n, t, s, e in data.get("entities", [])),
        # Rows cached before relations had a predicate and offsets hold four fields.
        relations=tuple(
            ExtractedRelation(source=s, target=t, type=k, evidence=ev, predicate=p, start=a, end=b)
            for s, t, k, ev, p, a, b in (list(row) + ["", 0, 0][len(row) - 4 :] for row in data.get("relations", []))
        ),
    )


def extractions_cached(
    *, chunks: Sequence[tuple[str, str]], extractor: Extractor | None = None, heartbeat: Callable[[], None] | None = None
) -> dict[str, Extraction]:
    """Extraction per chunk hash for ``chunks`` = [(content_hash, text)], computing only what is not cached."""
    extractor = extractor or extractors["default"]
    prompt_version, model = extractor_identity(extractor)
    hashes = list({h for h, _ in chunks})
    found = {
        row.chunk_hash: extraction_from_json(row.result)
        for row in ExtractionCache.objects.filter(chunk_hash__in=hashes, prompt_version=prompt_version, model=model)
    }
    missing = list({h: t for h, t in chunks if h not in found}.items())
    size = max(int(extractor.batch_size), 1)
    for i in range(0, len(missing), size):
        batch = missing[i : i + size]
        results = extractor.extract([text for _, text in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"extractor {extractor.name} returned {len(results)} results for {len(batch)} texts")
        ExtractionCache.objects.bulk_create(
            [
                ExtractionCache(chunk_hash=h, prompt_version=prompt_version, model=model, result=extraction_to_json(r))
                for (h, _), r in zip(batch, results, strict=True)
                if not r.error  # a failed chunk is tried again next time, never cached as empty
            ],
            ignore_conflicts=True,
        )
        failed = [h for (h, _), r in zip(batch, results, strict=True) if r.error]
        if failed:
            logger.warning("extractor %s failed %d of %d chunks: %s", extractor.name, len(failed), len(batch),
                           next(r.error for r in results if r.error)[:200])
        found.update({h: r for (h, _), r in zip(batch, results, strict=True)})
        if heartbeat:
            heartbeat()
    return found


def version_extract(*, version: DocumentVersion, heartbeat: Callable[[], None] | None = None) -> dict:
    chunks = list(Chunk.objects.filter(version=version).order_by("ordinal").values_list("content_hash", "text"))
    results = extractions_cached(chunks=chunks, heartbeat=heartbeat)
    entities = sum(len(results[h].entities) for h, _ in chunks)
    relations = sum(len(results[h].relations) for h, _ in chunks)
    return {"chunks": len(chunks), "entities_found": entities, "relations_found": relations}


def extract_step(contexts) -> dict[int, dict | Exception]:
    """The extraction step: one cache lookup and one extractor pass for all the chunks of the
    batch's versions. (If that pass fails, the engine extracts each version on its own.)"""
    versions = [ctx.version.pk for ctx in contexts]
    rows = list(Chunk.objects.filter(version_id__in=versions).order_by("version_id", "ordinal").values_list("version_id", "content_hash", "text"))
    results = extractions_cached(chunks=[(h, t) for _, h, t in rows], heartbeat=contexts[0].heartbeat)
    per_version: dict[int, dict] = {v: {"chunks": 0, "chunks_failed": 0, "entities_found": 0, "relations_found": 0} for v in versions}
    for version_id, content_hash, _ in rows:
        counts = per_version[version_id]
        counts["chunks"] += 1
        counts["chunks_failed"] += bool(results[content_hash].error)
        counts["entities_found"] += len(results[content_hash].entities)
        counts["relations_found"] += len(results[content_hash].relations)
    metrics.heysh_pipeline_items_written_total.labels(kind="extractions").inc(len(rows))
    return {ctx.pk: {**per_version[ctx.version.pk], "batch": len(contexts)} for ctx in contexts}
