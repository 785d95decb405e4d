"""Chunks, entities and mentions written directly (no pipeline), with hashing-embedder vectors;
published into the search engines as the index step does."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
from django.db.models import F

from apps.core.backends import embedders, vector_stores
from apps.documents.models import Chunk, Document, DocumentStatus, DocumentVersion
from apps.domains.models import Domain
from apps.search.indexing import version_keywords_publish
from apps.search.models import Entity, Mention, Relation, RelationEvidence
from apps.search.projections import vector_items

_seq = itertools.count(1)


def bump(domain: Domain) -> None:
    """What the pipeline does after changing a domain's chunks."""
    Domain.objects.filter(pk=domain.pk).update(index_version=F("index_version") + 1)
    domain.refresh_from_db(fields=["index_version"])


def make_document(
    domain: Domain, title: str, chunks: list[str], *, language: str = "en", embed: bool = True, document=None
) -> Document:
    """A READY document (or a new version of ``document``) whose chunks are ``chunks``; bumps the domain."""
    n = next(_seq)
    if document is None:
        document = Document.objects.create(
            domain=domain, title=title, source=Document.Source.TEXT, status=DocumentStatus.READY
        )
    number = (document.versions.count() or 0) + 1
    text = "\n\n".join(chunks)
    version = DocumentVersion.objects.create(
        document=document,
        domain=domain,
        number=number,
        text=text,
        language=language,
        content_hash=hashlib.sha256(f"{n}:{text}".encode()).hexdigest(),
        status=DocumentStatus.READY,
    )
    vectors = embedders["default"].embed_documents(chunks) if embed else [None] * len(chunks)
    offset = 0
    for ordinal, (chunk_text, vector) in enumerate(zip(chunks, vectors, strict=True)):
        Chunk.objects.create(
            version=version,
            document=document,
            domain=domain,
            ordinal=ordinal,
            text=chunk_text,
            start=offset,
            end=offset + len(chunk_text),
            page=1,
            content_hash=hashlib.sha256(chunk_text.encode()).hexdigest(),
            embedding=None if vector is None else np.asarray(vector, dtype="<f4").tobytes(),
            embedding_model=embedders["default"].model_name if vector is not None else "",
        )
        offset += len(chunk_text) + 2
    document.current_version = version
    document.save(update_fields=["current_version"])
    publish(version)
    bump(domain)
    return document


def publish(version: DocumentVersion) -> None:
    """What the index step does for a version: into the search engines, its document's older versions out of them."""
    older = list(
        DocumentVersion.objects.filter(document_id=version.document_id, number__lt=version.number).values_list(
            "pk", flat=True
        )
    )
    vector_stores["default"].publish(
        domain_id=version.domain_id,
        items=[item for batch in vector_items(version) for item in batch],
        delete_version_ids=[version.pk, *older],
    )
    version_keywords_publish(version=version, older_version_ids=older)


def make_entity(domain: Domain, name: str, type: str = "concept") -> Entity:
    return Entity.objects.create(domain=domain, key=name.casefold(), name=name, type=type)


def mention(entity: Entity, document: Document, ordinal: int = 0) -> Mention:
    chunk = Chunk.objects.get(version=document.current_version, ordinal=ordinal)
    start = max(0, chunk.text.lower().find(entity.name.lower()))
    m = Mention.objects.create(
        entity=entity,
        chunk=chunk,
        version=chunk.version,
        domain=entity.domain,
        surface=entity.name,
        start=start,
        end=start + len(entity.name),
    )
    Entity.objects.filter(pk=entity.pk).update(mention_count=F("mention_count") + 1)
    return m


def relate(source: Entity, target: Entity, document: Document, type: str = "related_to", ordinal: int = 0) -> Relation:
    chunk = Chunk.objects.get(version=document.current_version, ordinal=ordinal)
    relation, _ = Relation.objects.get_or_create(domain=source.domain, source=source, target=target, type=type)
    RelationEvidence.objects.get_or_create(
        relation=relation, chunk=chunk, defaults={"version": chunk.version, "snippet": chunk.text[:80]}
    )
    relation.weight = relation.evidence.count()
    relation.save(update_fields=["weight"])
    return relation


SEARCH_URL = "/api/v1/search"


def api_search(client, **body) -> dict:
    """POST a search through the API and return its JSON, asserting a 200."""
    response = client.post(SEARCH_URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()
