"""Every request the Weaviate vector store sends, built in one place.

- Object ids are UUIDv5 of (version id, chunk id) under a fixed heysh namespace: the
  same chunk of the same version always gets the same id, so re-indexing is an upsert
  and a retried batch cannot duplicate anything. Domain isolation comes from the
  tenant (one per domain), and the id also includes the domain so an object can never
  collide across domains even in a single-tenant export.
- Tenant names come from the domain's integer id only (``domain-<id>``), never from a
  slug or any user text.
- Filters are built with ``Filter.by_property`` objects (the client serializes them to
  gRPC messages); values are never formatted into a query string.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.classes.query import Filter, MetadataQuery

from apps.search.backends.types import VectorFilter, VectorItem

# Fixed namespace for heysh chunk ids (uuid5 of the DNS namespace and "chunks.heysh").
CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "chunks.heysh")

PROPERTY_NAMES = ("chunk_id", "document_id", "version_id", "language", "created_at", "text")


def tenant_name(domain_id: int) -> str:
    return f"domain-{int(domain_id)}"


def object_uuid(*, domain_id: int, version_id: int, chunk_id: int) -> uuid.UUID:
    return uuid.uuid5(CHUNK_NAMESPACE, f"{int(domain_id)}:{int(version_id)}:{int(chunk_id)}")


def collection_config(name: str) -> dict:
    """Keyword arguments for ``client.collections.create``: no vectorizer, one tenant per domain, BM25 on text."""
    return {
        "name": name,
        "description": "heysh chunks (a projection of the chunk rows; rebuildable).",
        # Bring-your-own vectors: heysh embeds, Weaviate indexes (cosine, HNSW).
        "vector_config": Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE),
        ),
        "multi_tenancy_config": Configure.multi_tenancy(enabled=True, auto_tenant_creation=False),
        "inverted_index_config": Configure.inverted_index(index_null_state=False),
        "properties": [
            Property(name="chunk_id", data_type=DataType.INT, index_filterable=True, index_searchable=False),
            Property(name="document_id", data_type=DataType.INT, index_filterable=True, index_searchable=False),
            Property(name="version_id", data_type=DataType.INT, index_filterable=True, index_searchable=False),
            Property(
                name="language",
                data_type=DataType.TEXT,
                tokenization=Tokenization.FIELD,
                index_filterable=True,
                index_searchable=False,
            ),
            Property(name="created_at", data_type=DataType.DATE, index_filterable=True, index_range_filters=True),
            Property(
                name="text",
                data_type=DataType.TEXT,
                tokenization=Tokenization.WORD,
                index_filterable=False,
                index_searchable=True,
            ),
        ],
    }


def object_properties(item: VectorItem, *, created_at: datetime | None) -> dict:
    props = {
        "chunk_id": int(item.chunk_id),
        "document_id": int(item.document_id),
        "version_id": int(item.version_id),
        "language": item.language or "",
        "text": item.text or "",
    }
    if created_at is not None:
        props["created_at"] = created_at
    return props


def batch_object(item: VectorItem, *, created_at: datetime | None) -> dict:
    """Arguments for ``batch.add_object``."""
    return {
        "uuid": object_uuid(domain_id=item.domain_id, version_id=item.version_id, chunk_id=item.chunk_id),
        "properties": object_properties(item, created_at=created_at),
        "vector": [float(x) for x in item.vector],
    }


def version_filter(version_id: int):
    return Filter.by_property("version_id").equal(int(version_id))


def search_filter(filters: VectorFilter | None):
    """The VectorFilter as a Weaviate filter, or None."""
    if filters is None:
        return None
    parts = []
    if filters.document_ids:
        parts.append(Filter.by_property("document_id").contains_any([int(d) for d in filters.document_ids]))
    if filters.languages:
        parts.append(Filter.by_property("language").contains_any([str(lang) for lang in filters.languages]))
    if filters.created_after is not None:
        parts.append(Filter.by_property("created_at").greater_or_equal(filters.created_after))
    if filters.created_before is not None:
        parts.append(Filter.by_property("created_at").less_or_equal(filters.created_before))
    if not parts:
        return None
    return Filter.all_of(parts) if len(parts) > 1 else parts[0]


def near_vector_query(*, vector: Sequence[float], k: int, filters: VectorFilter | None) -> dict:
    return {
        "near_vector": [float(x) for x in vector],
        "limit": max(1, int(k)),
        "filters": search_filter(filters),
        "return_metadata": MetadataQuery(distance=True),
        "return_properties": ["chunk_id"],
    }


def keyword_query(*, text: str, k: int, filters: VectorFilter | None) -> dict:
    return {
        "query": text,
        "query_properties": ["text"],
        "limit": max(1, int(k)),
        "filters": search_filter(filters),
        "return_metadata": MetadataQuery(score=True),
        "return_properties": ["chunk_id"],
    }


def version_counts_query(*, limit: int) -> dict:
    """Arguments for ``aggregate.over_all``: objects per version. The explicit group limit matters:
    without one the server returns only the top 100 groups."""
    return {"group_by": GroupByAggregate(prop="version_id", limit=max(1, int(limit))), "total_count": True}
