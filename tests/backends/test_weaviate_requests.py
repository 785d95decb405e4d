"""Properties of the Weaviate requests built in one place (no server needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from apps.search.backends.types import VectorFilter, VectorItem
from apps.search.backends.vectors import weaviate_requests as req


def item(**overrides) -> VectorItem:
    values = {
        "chunk_id": 5,
        "document_id": 3,
        "version_id": 4,
        "domain_id": 2,
        "vector": np.ones(4, dtype=np.float32) / 2,
        "text": "') DETACH",
        "language": "en",
    }
    values.update(overrides)
    return VectorItem(**values)


def test_object_ids_are_deterministic_uuid5():
    a = req.object_uuid(domain_id=1, version_id=2, chunk_id=3)
    assert a == req.object_uuid(domain_id=1, version_id=2, chunk_id=3)
    assert a.version == 5
    assert a == uuid.uuid5(req.CHUNK_NAMESPACE, "1:2:3")


def test_object_ids_differ_across_domains_versions_and_chunks():
    ids = {
        req.object_uuid(domain_id=d, version_id=v, chunk_id=c)
        for d in (1, 2, 12)
        for v in (1, 2, 21)
        for c in (1, 2, 3)
    }
    assert len(ids) == 27
    # "1:21:3" vs "12:1:3": the separator keeps concatenations apart.
    assert req.object_uuid(domain_id=1, version_id=21, chunk_id=3) != req.object_uuid(
        domain_id=12, version_id=1, chunk_id=3
    )


def test_tenant_is_per_domain_and_only_from_the_id():
    assert req.tenant_name(7) == "domain-7"
    assert req.tenant_name(7) != req.tenant_name(8)
    with pytest.raises(ValueError):
        req.tenant_name("7; drop")


def test_batch_object_carries_properties_vector_and_stable_uuid():
    created = datetime(2026, 1, 2, tzinfo=UTC)
    obj = req.batch_object(item(), created_at=created)
    assert obj["uuid"] == req.object_uuid(domain_id=2, version_id=4, chunk_id=5)
    assert obj["properties"] == {
        "chunk_id": 5,
        "document_id": 3,
        "version_id": 4,
        "language": "en",
        "text": "') DETACH",
        "created_at": created,
    }
    assert obj["vector"] == [0.5, 0.5, 0.5, 0.5]
    assert all(isinstance(x, float) for x in obj["vector"])
    assert req.batch_object(item(), created_at=created) == obj


def test_collection_has_no_vectorizer_and_multi_tenancy():
    config = req.collection_config("HeyshChunk")
    vector = config["vector_config"]
    assert type(vector).__name__ == "_VectorConfigCreate"
    assert vector.vectorizer.vectorizer.value == "none"
    assert vector.vectorIndexConfig.distance.value == "cosine"
    assert config["multi_tenancy_config"].enabled is True
    assert config["multi_tenancy_config"].autoTenantCreation is False
    props = {p.name: p for p in config["properties"]}
    assert set(props) == set(req.PROPERTY_NAMES)
    assert props["text"].indexSearchable is True  # BM25 / hybrid
    assert props["version_id"].indexFilterable is True  # delete by version


def test_filters_are_structured_objects_not_strings():
    from weaviate.collections.classes.filters import _Filters

    hostile = 'en" } ) { delete'
    f = req.search_filter(
        VectorFilter(document_ids=(1, 2), languages=(hostile,), created_after=datetime(2026, 1, 1, tzinfo=UTC))
    )
    assert isinstance(f, _Filters)
    values = {part.target: part.value for part in f.filters}  # carried as values inside the filter object
    assert values["language"] == [hostile]
    assert values["document_id"] == [1, 2]
    assert values["created_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert req.search_filter(None) is None
    assert req.search_filter(VectorFilter()) is None
    v = req.version_filter(9)
    assert v.target == "version_id" and v.value == 9


def test_queries_bound_k_and_alpha():
    q = req.near_vector_query(vector=[0.1, 0.2], k=0, filters=None)
    assert q["limit"] == 1 and q["return_properties"] == ["chunk_id"] and q["return_metadata"].distance is True
    assert req.keyword_query(text="acme", k=5, filters=None)["limit"] == 5
    assert req.keyword_query(text="acme", k=5, filters=None)["query_properties"] == ["text"]


def test_version_counts_group_by_version_with_an_explicit_limit():
    """Without a limit Weaviate returns the top 100 groups only: reconciliation would never see the rest."""
    from weaviate.classes.aggregate import GroupByAggregate

    query = req.version_counts_query(limit=250_000)
    group_by = query["group_by"]
    assert isinstance(group_by, GroupByAggregate)
    assert (group_by.prop, group_by.limit) == ("version_id", 250_000)
    assert query["total_count"] is True
    assert req.version_counts_query(limit=0)["group_by"].limit == 1


def test_the_client_sends_the_group_limit_over_grpc():
    """What the pinned client puts on the wire for that query (gRPC AggregateRequest.limit)."""
    from weaviate.collections.grpc.aggregate import _AggregateGRPC
    from weaviate.util import _ServerVersion

    group_by = req.version_counts_query(limit=250_000)["group_by"]
    grpc = _AggregateGRPC(_ServerVersion(1, 32, 0), "HeyshChunk", "domain-3", None, False)
    request = grpc.over_all(
        aggregations=[], filters=None, group_by=group_by._to_grpc(), limit=group_by.limit, objects_count=True
    )
    assert request.limit == 250_000
    assert request.group_by.property == "version_id"
    assert request.tenant == "domain-3"
