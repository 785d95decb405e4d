"""The GraphStore contract, for every adapter.

The embedded store always runs (the database is its graph). The Neo4j case is marked
``live``: it runs under ``pytest --live`` (compose's live-tests service), deselected otherwise.
Each scenario writes the source-of-truth rows first, then calls the store's port
exactly as the pipeline does (``replace_version`` / ``delete_version``).
"""

from __future__ import annotations

import os

import pytest

from apps.search.backends.graph.embedded import EmbeddedGraphStore
from tests.backends.conftest import require_live
from tests.backends.world import add_mention, add_relation, delete_version_rows, make_version, project_graph
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = "') DETACH DELETE n //"


def _neo4j():
    require_live("NEO4J_URI")
    from apps.search.backends.graph.neo4j import Neo4jGraphStore

    return Neo4jGraphStore(
        uri=os.environ["NEO4J_URI"], user=os.environ.get("NEO4J_USER", "neo4j"),
        password=os.environ.get("NEO4J_PASSWORD", ""), database=os.environ.get("NEO4J_DATABASE", "neo4j"),
    )


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.live)])
def store(request):
    store = EmbeddedGraphStore() if request.param == "embedded" else _neo4j()
    created = []
    store.created_domains = created
    yield store
    for domain_id in created:
        store.delete_domain(domain_id=domain_id)
    store.close()


@pytest.fixture
def world(store):
    """Domain A: alice -works_for-> acme -located_in-> paris, plus a hostile-named entity; domain B: its own alice."""
    a, b = DomainFactory(), DomainFactory()
    for d in (a, b):
        store.delete_domain(domain_id=d.pk)  # a live server may hold leftovers under a reused id
        store.created_domains.append(d.pk)
    v1 = make_version(domain=a, title="Acme report", chunks=["Alice works for Acme.", "Acme is in Paris.", "odd"])
    add_mention(version=v1, chunk_index=0, key="alice", name="Alice", type="person")
    add_mention(version=v1, chunk_index=0, key="alice", name="Alice", type="person", start=30)
    add_mention(version=v1, chunk_index=0, key="acme", name="Acme", type="organization", start=16)
    add_mention(version=v1, chunk_index=1, key="acme", name="Acme", type="organization")
    add_mention(version=v1, chunk_index=1, key="paris", name="Paris", type="location", start=10)
    add_mention(version=v1, chunk_index=2, key=HOSTILE, name=HOSTILE, type="concept")
    add_relation(version=v1, chunk_index=0, source="alice", target="acme", type="works_for")
    add_relation(version=v1, chunk_index=1, source="acme", target="paris", type="located_in")
    add_relation(version=v1, chunk_index=2, source=HOSTILE, target="acme", type="related_to")
    project_graph(store, v1)
    vb = make_version(domain=b, title="Other", chunks=["Alice uses Bob."])
    add_mention(version=vb, chunk_index=0, key="alice", name="Alice B", type="person")
    add_mention(version=vb, chunk_index=0, key="bob", name="Bob", type="person", start=11)
    add_relation(version=vb, chunk_index=0, source="alice", target="bob", type="uses")
    project_graph(store, vb)
    return {"a": a, "b": b, "v1": v1, "vb": vb}


def keys(subgraph):
    return {n.key for n in subgraph.nodes}


def test_neighbours_follow_hops_and_return_typed_edges(store, world):
    one = store.neighbours(domain_id=world["a"].pk, key="alice", hops=1)
    assert keys(one) == {"alice", "acme"}
    assert {(e.source_key, e.target_key, e.type) for e in one.edges} == {("alice", "acme", "works_for")}
    two = store.neighbours(domain_id=world["a"].pk, key="alice", hops=2)
    assert keys(two) == {"alice", "acme", "paris", HOSTILE}
    assert {n.type for n in two.nodes if n.key == "paris"} == {"location"}
    assert store.neighbours(domain_id=world["a"].pk, key="nobody") .nodes == ()


def test_neighbours_never_cross_domains(store, world):
    b = store.neighbours(domain_id=world["b"].pk, key="alice", hops=3)
    assert keys(b) == {"alice", "bob"}
    assert {n.name for n in b.nodes if n.key == "alice"} == {"Alice B"}


def test_shortest_path_and_its_bound(store, world):
    path = store.shortest_path(domain_id=world["a"].pk, source_key="alice", target_key="paris")
    assert [n.key for n in path.nodes] == ["alice", "acme", "paris"]
    assert [e.type for e in path.edges] == ["works_for", "located_in"]
    assert store.shortest_path(domain_id=world["a"].pk, source_key="alice", target_key="paris", max_hops=1) is None
    assert store.shortest_path(domain_id=world["a"].pk, source_key="alice", target_key="bob") is None


def test_documents_for_entities_counts_mentions(store, world):
    docs = store.documents_for_entities(domain_id=world["a"].pk, keys=["alice"])
    assert [(d.document_id, d.mentions) for d in docs] == [(world["v1"].document_id, 2)]
    assert store.documents_for_entities(domain_id=world["b"].pk, keys=["acme"]) == []


def test_counts_per_version(store, world):
    assert store.counts(domain_id=world["a"].pk) == {world["v1"].pk: {"entities": 4, "mentions": 6}}
    assert store.counts(domain_id=world["b"].pk) == {world["vb"].pk: {"entities": 2, "mentions": 2}}


def test_hostile_names_are_data(store, world):
    """A Cypher-looking entity name is stored and returned verbatim; nothing was deleted by it."""
    sub = store.neighbours(domain_id=world["a"].pk, key=HOSTILE, hops=1)
    assert keys(sub) == {HOSTILE, "acme"}
    assert store.counts(domain_id=world["b"].pk)  # domain B intact


def test_replacing_a_version_removes_exactly_its_share(store, world):
    a, v1 = world["a"], world["v1"]
    v2 = make_version(domain=a, document=v1.document, chunks=["Alice works for Acme still."])
    add_mention(version=v2, chunk_index=0, key="alice", name="Alice", type="person")
    add_mention(version=v2, chunk_index=0, key="acme", name="Acme", type="organization", start=16)
    add_relation(version=v2, chunk_index=0, source="alice", target="acme", type="works_for")
    delete_version_rows(v1)
    project_graph(store, v2, previous=(v1.pk,))
    assert store.counts(domain_id=a.pk) == {v2.pk: {"entities": 2, "mentions": 2}}
    assert keys(store.neighbours(domain_id=a.pk, key="acme", hops=2)) == {"alice", "acme"}
    assert store.shortest_path(domain_id=a.pk, source_key="alice", target_key="paris") is None
    # Replaying the same version is exact, not additive.
    project_graph(store, v2, previous=(v1.pk,))
    assert store.counts(domain_id=a.pk) == {v2.pk: {"entities": 2, "mentions": 2}}


def test_delete_version_and_domain(store, world):
    a, b = world["a"], world["b"]
    delete_version_rows(world["v1"])
    store.delete_version(domain_id=a.pk, version_id=world["v1"].pk)
    assert store.counts(domain_id=a.pk) == {}
    assert store.neighbours(domain_id=a.pk, key="alice").nodes == ()
    assert store.counts(domain_id=b.pk) != {}


def test_health(store):
    assert store.health().ok is True
