"""The VectorStore contract, for every adapter.

The embedded store always runs (it reads ``Chunk.embedding``). The Weaviate case is
marked ``live``: it runs under ``pytest --live`` (compose's live-tests service), deselected otherwise.
What only Weaviate offers (its keyword channel, grouped aggregates, tenants) has tests of
its own on the ``weaviate_store`` fixture, not cases of the contract that the embedded
store would skip.
Each scenario stores embeddings on the chunk rows first (the source of truth), then
calls ``upsert`` / ``delete_version`` as the pipeline does.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from apps.search.backends.types import VectorFilter, VectorItem
from apps.search.backends.vectors.embedded import EmbeddedVectorStore
from tests.backends.conftest import require_live
from tests.backends.world import chunk_ids, delete_version_rows, make_version, project_vectors, unit
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _weaviate():
    require_live("WEAVIATE_URL")
    from apps.search.backends.vectors.weaviate import WeaviateVectorStore

    return WeaviateVectorStore(
        url=os.environ["WEAVIATE_URL"],
        grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        api_key=os.environ.get("WEAVIATE_API_KEY") or None,
        collection=os.environ.get("WEAVIATE_TEST_COLLECTION", "HeyshChunkTest"),
    )


def _cleaned_up(store):
    store.created_domains = []
    yield store
    for domain_id in store.created_domains:
        store.delete_domain(domain_id=domain_id)
    store.close()


@pytest.fixture(params=["embedded", pytest.param("weaviate", marks=pytest.mark.live)])
def store(request):
    yield from _cleaned_up(EmbeddedVectorStore() if request.param == "embedded" else _weaviate())


@pytest.fixture
def weaviate_store():
    """Weaviate alone, for what only it offers (its own keyword channel, grouped aggregates)."""
    yield from _cleaned_up(_weaviate())


@pytest.fixture
def world(store):
    return _world(store)


@pytest.fixture
def weaviate_world(weaviate_store):
    return _world(weaviate_store)


def _world(store) -> dict:
    a, b = DomainFactory(), DomainFactory()
    for d in (a, b):
        store.delete_domain(domain_id=d.pk)
        store.created_domains.append(d.pk)
    va = make_version(
        domain=a, title="A", chunks=["alpha acme rockets", "beta", "gamma"], vectors=[unit(1), unit(2), unit(3)]
    )
    va2 = make_version(domain=a, title="A2", chunks=["delta"], vectors=[unit(4)])
    vb = make_version(domain=b, title="B", chunks=["alpha acme rockets in b"], vectors=[unit(2)])
    for v in (va, va2, vb):
        project_vectors(store, v)
    return {"a": a, "b": b, "va": va, "va2": va2, "vb": vb}


def test_nearest_first_with_cosine_similarity(store, world):
    hits = store.search(domain_ids=[world["a"].pk], vector=unit(2), k=3)
    assert hits[0].chunk_id == chunk_ids(world["va"])[1]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) == 3


def test_search_never_crosses_domains(store, world):
    hits = store.search(domain_ids=[world["b"].pk], vector=unit(2), k=10)
    assert [h.chunk_id for h in hits] == chunk_ids(world["vb"])
    both = store.search(domain_ids=[world["a"].pk, world["b"].pk], vector=unit(2), k=10)
    assert len(both) == 5


def test_filters_by_document(store, world):
    hits = store.search(
        domain_ids=[world["a"].pk], vector=unit(1), k=10, filters=VectorFilter(document_ids=(world["va2"].document_id,))
    )
    assert [h.chunk_id for h in hits] == chunk_ids(world["va2"])


def test_upsert_is_idempotent(store, world):
    project_vectors(store, world["va"])
    project_vectors(store, world["va"])
    assert store.counts(domain_id=world["a"].pk) == {world["va"].pk: 3, world["va2"].pk: 1}


def test_delete_version_removes_only_that_version(store, world):
    delete_version_rows(world["va"])
    store.delete_version(domain_id=world["a"].pk, version_id=world["va"].pk)
    assert store.counts(domain_id=world["a"].pk) == {world["va2"].pk: 1}
    hits = store.search(domain_ids=[world["a"].pk], vector=unit(1), k=10)
    assert [h.chunk_id for h in hits] == chunk_ids(world["va2"])
    assert store.counts(domain_id=world["b"].pk) == {world["vb"].pk: 1}


def test_unknown_domain_is_empty_not_an_error(store, world):
    assert store.search(domain_ids=[world["b"].pk + 10_000], vector=unit(1), k=5) == []
    assert store.counts(domain_id=world["b"].pk + 10_000) == {}


def test_health(store):
    assert store.health().ok is True


@pytest.mark.live
def test_weaviate_keyword_channel(weaviate_store, weaviate_world):
    keyword = weaviate_store.keyword_search(domain_ids=[weaviate_world["a"].pk], text="rockets", k=5)
    assert [h.chunk_id for h in keyword] == chunk_ids(weaviate_world["va"])[:1]


@pytest.mark.live
def test_weaviate_counts_every_version_past_the_default_group_limit(weaviate_store, weaviate_world):
    """The grouped aggregate returns 100 groups unless given a limit: 130 versions are all counted."""
    store, world = weaviate_store, weaviate_world
    domain_id = world["b"].pk
    items = [
        VectorItem(
            chunk_id=1_000_000 + v,
            document_id=1,
            version_id=1_000_000 + v,
            domain_id=domain_id,
            vector=np.asarray(unit(v % 4 + 1), dtype=np.float32),
            text="t",
        )
        for v in range(130)
    ]
    store.upsert(items)
    counts = store.counts(domain_id=domain_id)
    assert len(counts) == 131 and counts[1_000_129] == 1


@pytest.mark.live
def test_weaviate_tenant_removed_by_another_process_is_recreated(weaviate_store, weaviate_world):
    store, world = weaviate_store, weaviate_world
    from apps.search.backends.vectors.weaviate import WeaviateVectorStore

    other = WeaviateVectorStore(
        url=store.url, grpc_port=store.grpc_port, api_key=store._api_key, collection=store.collection_name
    )
    try:
        other.delete_domain(domain_id=world["b"].pk)  # this store still has the tenant cached
    finally:
        other.close()
    assert store.search(domain_ids=[world["b"].pk], vector=unit(2), k=5) == []
    project_vectors(store, world["vb"])
    assert store.counts(domain_id=world["b"].pk) == {world["vb"].pk: 1}
