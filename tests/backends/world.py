"""Builds source-of-truth rows (documents, chunks, entities, mentions, relations) for backend tests.

The embedded graph store reads these very rows, so every scenario writes the database
first and then calls the projection's port exactly as the pipeline does: the same
contract holds for the embedded store (DB is the graph) and for Neo4j (a projection).
"""

from __future__ import annotations

import hashlib

import numpy as np
from django.db import transaction
from django.db.models import Count, F

from apps.documents.models import Chunk, Document, DocumentVersion
from apps.domains.models import Domain
from apps.search.models import Entity, Mention, Relation, RelationEvidence
from apps.search.projections import graph_contribution, vector_items


def unit(seed: int, dim: int = 16) -> np.ndarray:
    vec = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


def make_version(*, domain: Domain, title: str = "Doc", document: Document | None = None,
                 chunks: list[str] = ("chunk text",), vectors: list[np.ndarray] | None = None) -> DocumentVersion:
    """A document version with chunks (and embeddings when given), made the document's current version."""
    with transaction.atomic():
        if document is None:
            document = Document.objects.create(domain=domain, title=title, source=Document.Source.TEXT)
        number = (document.versions.count() or 0) + 1
        version = DocumentVersion.objects.create(
            document=document, domain=domain, number=number, language="en", status="ready",
            content_hash=hashlib.sha256(f"{document.pk}:{number}:{title}".encode()).hexdigest(),
        )
        offset = 0
        for ordinal, text in enumerate(chunks):
            embedding = None if vectors is None else np.asarray(vectors[ordinal], dtype="<f4").tobytes()
            Chunk.objects.create(
                version=version, document=document, domain=domain, ordinal=ordinal, text=text,
                start=offset, end=offset + len(text), content_hash=hashlib.sha256(text.encode()).hexdigest(),
                embedding=embedding, embedding_model="test" if embedding else "",
            )
            offset += len(text) + 1
        document.current_version = version
        document.save(update_fields=["current_version"])
        Domain.objects.filter(pk=domain.pk).update(index_version=F("index_version") + 1)
    return version


def chunk_ids(version: DocumentVersion) -> list[int]:
    return list(version.chunks.order_by("ordinal").values_list("pk", flat=True))


def add_mention(*, version: DocumentVersion, chunk_index: int, key: str, name: str, type: str, start: int = 0) -> Entity:
    entity, _ = Entity.objects.get_or_create(domain_id=version.domain_id, key=key, defaults={"name": name, "type": type})
    chunk = version.chunks.order_by("ordinal")[chunk_index]
    Mention.objects.create(entity=entity, chunk=chunk, version=version, domain_id=version.domain_id,
                           surface=name, start=start, end=start + len(name))
    return entity


def add_relation(*, version: DocumentVersion, chunk_index: int, source: str, target: str, type: str) -> Relation:
    src = Entity.objects.get(domain_id=version.domain_id, key=source)
    tgt = Entity.objects.get(domain_id=version.domain_id, key=target)
    relation, _ = Relation.objects.get_or_create(domain_id=version.domain_id, source=src, target=tgt, type=type)
    chunk = version.chunks.order_by("ordinal")[chunk_index]
    RelationEvidence.objects.get_or_create(relation=relation, chunk=chunk, defaults={"version": version})
    refresh_weights(version.domain_id)
    return relation


def refresh_weights(domain_id: int) -> None:
    for relation in Relation.objects.filter(domain_id=domain_id).annotate(n=Count("evidence")):
        relation.weight = float(relation.n)
        relation.save(update_fields=["weight"])


def delete_version_rows(version: DocumentVersion) -> None:
    """What the pipeline does to the source of truth when a version goes away."""
    domain_id = version.domain_id
    with transaction.atomic():
        Chunk.objects.filter(version=version).delete()  # cascades mentions and evidence
        refresh_weights(domain_id)
        Relation.objects.filter(domain_id=domain_id, weight=0).delete()
        Entity.objects.filter(domain_id=domain_id, mentions__isnull=True, outgoing__isnull=True, incoming__isnull=True).delete()
        Domain.objects.filter(pk=domain_id).update(index_version=F("index_version") + 1)


def project_graph(store, version: DocumentVersion, *, previous: tuple[int, ...] = ()) -> None:
    store.replace_version(graph_contribution(DocumentVersion.objects.select_related("document").get(pk=version.pk)),
                          previous_version_ids=previous)


def project_vectors(store, version: DocumentVersion) -> None:
    for batch in vector_items(version):
        store.upsert(batch)
