"""A domain with many documents, written with bulk inserts: what the admin pages must stay fast on.

Each document gets one version (its current version), one run with its five steps done,
``chunks`` chunks and one entity mentioned in its first chunk. Used by the query-count test
(tests/admin_cms/test_admin_scale.py) and by ``bench/admin``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.documents.models import Chunk, Document, DocumentStatus, DocumentVersion, ProcessingRun, StepRun
from apps.domains.models import Domain
from apps.search.models import Entity, Mention

BATCH = 2000
STEPS = [step for step, _ in StepRun.Step.choices]


def populate(domain: Domain, *, count: int, start: int = 0, text_chars: int = 400, chunks: int = 1) -> None:
    """Add documents ``start`` … ``start + count - 1`` to ``domain`` (numbers make titles and hashes unique)."""
    now = timezone.now()
    numbers = range(start, start + count)
    documents = Document.objects.bulk_create(
        [Document(domain=domain, title=f"Document {n:06d}", source=Document.Source.UPLOAD, status=DocumentStatus.READY)
         for n in numbers], batch_size=BATCH)
    base = ("Lighthouses mark dangerous coastlines and guide ships into harbour. " * (text_chars // 60 + 1))[:text_chars]
    versions = DocumentVersion.objects.bulk_create(
        [DocumentVersion(document=document, domain=domain, number=1, filename=f"document-{n:06d}.txt", mime="text/plain",
                         content_hash=hashlib.sha256(f"{domain.pk}:{n}".encode()).hexdigest(), size=text_chars,
                         language="en", text=base, status=DocumentStatus.READY)
         for n, document in zip(numbers, documents, strict=True)], batch_size=BATCH)
    Document.objects.filter(pk__in=[d.pk for d in documents]).update(
        current_version=Subquery(DocumentVersion.objects.filter(document=OuterRef("pk")).values("pk")[:1]))
    runs = ProcessingRun.objects.bulk_create(
        [ProcessingRun(version=version, document_id=version.document_id, domain=domain, status=ProcessingRun.Status.SUCCEEDED,
                       started_at=now - timedelta(seconds=20), finished_at=now) for version in versions], batch_size=BATCH)
    StepRun.objects.bulk_create(
        [StepRun(run=run, step=step, ordinal=ordinal, status=StepRun.Status.SUCCEEDED, attempt=1,
                 started_at=now - timedelta(seconds=20 - 4 * ordinal), finished_at=now - timedelta(seconds=16 - 4 * ordinal))
         for run in runs for ordinal, step in enumerate(STEPS)], batch_size=BATCH)
    size = max(1, text_chars // chunks)
    chunk_rows = Chunk.objects.bulk_create(
        [Chunk(version=version, document_id=version.document_id, domain=domain, ordinal=i, text=base[i * size : (i + 1) * size],
               start=i * size, end=min(text_chars, (i + 1) * size),
               content_hash=hashlib.sha256(f"{version.pk}:{i}".encode()).hexdigest())
         for version in versions for i in range(chunks)], batch_size=BATCH)
    entities = Entity.objects.bulk_create(
        [Entity(domain=domain, key=f"concept:lighthouse {n}", name=f"Lighthouse {n}", mention_count=1) for n in numbers],
        batch_size=BATCH)
    first_chunks = [chunk for chunk in chunk_rows if chunk.ordinal == 0]
    Mention.objects.bulk_create(
        [Mention(entity=entity, chunk=chunk, version_id=chunk.version_id, domain=domain, surface="Lighthouses", start=0, end=11)
         for entity, chunk in zip(entities, first_chunks, strict=True)], batch_size=BATCH)
