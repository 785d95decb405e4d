"""Reconciliation of the projections with PostgreSQL, and rebuilds.

Three kinds of projection:
- the embedded adapters (they read the database, so they never drift);
- ``FakeGraphProjection`` / ``FakeVectorProjection``: in-memory TEST DOUBLES of a
  projection that the tests corrupt on purpose (drop a version, duplicate data, keep an
  orphan, swap a member) to prove the repair logic;
- Neo4j / Weaviate, marked ``live`` (run when NEO4J_URI / WEAVIATE_URL are set).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from apps.core.metrics import heysh_projection_drift_total
from apps.core.schedules import schedules_install
from apps.search.backends.graph.base import GraphStore
from apps.search.backends.graph.embedded import EmbeddedGraphStore
from apps.search.backends.types import HealthStatus, Subgraph, entity_member, mention_member, relation_member
from apps.search.backends.vectors.base import VectorStore
from apps.search.backends.vectors.embedded import EmbeddedVectorStore
from apps.search.models import Entity
from apps.search.reconcile import (
    RECONCILE_TASK,
    RECONCILE_TASK_NAME,
    reconcile_all,
    reconcile_domain,
)
from tests.backends.conftest import require_live
from tests.backends.world import (
    add_mention,
    add_relation,
    delete_version_rows,
    make_version,
    project_graph,
    project_vectors,
    refresh_weights,
    unit,
)
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db(transaction=True)


# --- test doubles -------------------------------------------------------------------
class FakeGraphProjection(GraphStore):
    """In-memory projection (test double): per version, its mention pairs (with counts) and relation triples."""

    state: dict = defaultdict(dict)  # domain -> version -> {"mentions": Counter, "relations": set}
    weights: dict = {}  # (domain, source, type, target) -> weight
    healthy = True

    def replace_version(self, contribution, *, previous_version_ids=()):
        versions = self.state[contribution.domain_id]
        for v in (contribution.version_id, *previous_version_ids):
            versions.pop(v, None)
        versions[contribution.version_id] = {
            "mentions": Counter((m.entity_key, m.chunk_id) for m in contribution.mentions),
            "relations": {(r.source_key, r.type, r.target_key) for r in contribution.relations},
            "entities": {(e.key, e.name, e.type) for e in contribution.entities},
        }

        # One edge per (source, type, target) shared by the versions, as in Neo4j: one weight.
        for r in contribution.relations:
            self.weights[(contribution.domain_id, r.source_key, r.type, r.target_key)] = r.weight

    def delete_version(self, *, domain_id, version_id):
        self.state[domain_id].pop(version_id, None)

    def delete_domain(self, *, domain_id):
        self.state.pop(domain_id, None)

    def neighbours(self, **kwargs):
        return Subgraph()

    def shortest_path(self, **kwargs):
        return None

    def documents_for_entities(self, **kwargs):
        return []

    def counts(self, *, domain_id):
        return {
            v: {"entities": len({k for k, _ in s["mentions"]}), "mentions": sum(s["mentions"].values())}
            for v, s in self.state[domain_id].items()
            if s["mentions"]
        }

    def version_members(self, *, domain_id):
        return {
            v: {mention_member(key=k, chunk_id=c) for k, c in s["mentions"]}
            | {
                relation_member(source=a, type=t, target=b, weight=self.weights.get((domain_id, a, t, b), 1.0))
                for a, t, b in s["relations"]
            }
            | {entity_member(key=k, name=n, type=t) for k, n, t in s.get("entities", ())}
            for v, s in self.state[domain_id].items()
        }

    def health(self):
        return HealthStatus(ok=self.healthy, detail="fake graph projection (test double)")


class FakeVectorProjection(VectorStore):
    """In-memory projection (test double): per version a list of chunk ids (a list, so duplicates can exist)."""

    state: dict = defaultdict(lambda: defaultdict(list))
    healthy = True

    def upsert(self, items):
        for item in items:
            ids = self.state[item.domain_id][item.version_id]
            if item.chunk_id not in ids:
                ids.append(item.chunk_id)

    def delete_version(self, *, domain_id, version_id):
        self.state[domain_id].pop(version_id, None)

    def delete_domain(self, *, domain_id):
        self.state.pop(domain_id, None)

    def search(self, **kwargs):
        return []

    def counts(self, *, domain_id):
        return {v: len(ids) for v, ids in self.state[domain_id].items() if ids}

    def version_members(self, *, domain_id):
        return {v: {str(i) for i in ids} for v, ids in self.state[domain_id].items()}

    def health(self):
        return HealthStatus(ok=self.healthy, detail="fake vector projection (test double)")


FAKES = {
    "GRAPH_STORES": {"default": {"BACKEND": f"{__name__}.FakeGraphProjection"}},
    "VECTOR_STORES": {"default": {"BACKEND": f"{__name__}.FakeVectorProjection"}},
}


@pytest.fixture(autouse=True)
def _fresh_fakes():
    FakeGraphProjection.state.clear()
    FakeGraphProjection.weights.clear()
    FakeVectorProjection.state.clear()
    FakeGraphProjection.healthy = FakeVectorProjection.healthy = True


def build_domain(graph=None, vectors=None):
    """Three versions in one domain, projected into the given stores."""
    domain = DomainFactory()
    versions = []
    for i in range(3):
        v = make_version(
            domain=domain,
            title=f"doc {i}",
            chunks=[f"Alice {i} uses Acme.", f"Acme {i}."],
            vectors=[unit(10 * i + 1), unit(10 * i + 2)],
        )
        add_mention(version=v, chunk_index=0, key="alice", name="Alice", type="person")
        add_mention(version=v, chunk_index=0, key="acme", name="Acme", type="organization", start=10)
        add_mention(version=v, chunk_index=1, key="acme", name="Acme", type="organization")
        add_relation(version=v, chunk_index=0, source="alice", target="acme", type="uses")
        versions.append(v)
        if graph is not None:
            project_graph(graph, v)
        if vectors is not None:
            project_vectors(vectors, v)
    return domain, versions


def metric(backend, action) -> float:
    return heysh_projection_drift_total.labels(backend=backend, action=action)._value.get()


# --- embedded adapters ---------------------------------------------------------------
def test_embedded_adapters_never_drift():
    vectors = EmbeddedVectorStore()
    domain, _ = build_domain(vectors=vectors)
    for backend, store in (("graph", EmbeddedGraphStore()), ("vectors", vectors)):
        report = reconcile_domain(domain=domain, backend=backend, store=store)
        assert report.versions_checked == 3 and report.drift == 0


def test_beat_run_skips_the_embedded_graph_unless_asked_and_always_reconciles_the_engines():
    """The embedded graph store reads the database; the keyword and vector engines' files are projections."""
    build_domain()  # chunks written straight to the database: the engines have none of them yet
    first = reconcile_all()
    assert {r.backend for r in first} == {"vectors", "keyword"} and all(r.reprojected for r in first)
    assert all(r.drift == 0 for r in reconcile_all())
    reports = reconcile_all(include_embedded=True)
    assert {r.backend for r in reports} == {"graph", "vectors", "keyword"} and all(r.drift == 0 for r in reports)


# --- repair logic, proven on the test doubles -------------------------------------------
def test_graph_drift_is_found_and_repaired():
    graph = FakeGraphProjection()
    domain, (v0, v1, v2) = build_domain(graph=graph)
    assert reconcile_domain(domain=domain, backend="graph", store=graph).drift == 0
    state = graph.state[domain.pk]
    del state[v0.pk]  # lost
    state[v1.pk]["mentions"][("alice", v1.chunks.first().pk)] += 3  # duplicated mentions
    state[v2.pk]["relations"] = {("alice", "causes", "acme")}  # same counts, wrong member: checksum only
    state[987654] = {"mentions": Counter({("ghost", 1): 1}), "relations": set()}  # orphan version
    before = metric("graph", "reprojected"), metric("graph", "removed")
    report = reconcile_domain(domain=domain, backend="graph", store=graph)
    assert report.reprojected == [v0.pk, v1.pk, v2.pk] and report.removed == [987654]
    assert (metric("graph", "reprojected") - before[0], metric("graph", "removed") - before[1]) == (3, 1)
    assert reconcile_domain(domain=domain, backend="graph", store=graph).drift == 0
    assert graph.counts(domain_id=domain.pk) == EmbeddedGraphStore().counts(domain_id=domain.pk)


def test_vector_drift_is_found_and_repaired():
    vectors = FakeVectorProjection()
    domain, (v0, v1, v2) = build_domain(vectors=vectors)
    state = vectors.state[domain.pk]
    state[v0.pk] = state[v0.pk][:1]  # incomplete
    state[v1.pk].append(state[v1.pk][0])  # duplicated
    state[v2.pk] = [state[v2.pk][0], 424242]  # right count, wrong chunk: checksum only
    state[999999] = [1, 2]  # orphan
    report = reconcile_domain(domain=domain, backend="vectors", store=vectors)
    assert report.reprojected == [v0.pk, v1.pk, v2.pk] and report.removed == [999999]
    assert vectors.counts(domain_id=domain.pk) == {v.pk: 2 for v in (v0, v1, v2)}
    assert reconcile_domain(domain=domain, backend="vectors", store=vectors).drift == 0


def test_a_deleted_version_is_removed_from_the_projection():
    """Its evidence is gone, so the shared edge's weight drops (3 -> 2): the versions still
    supporting the edge hold a stale weight and are re-projected too, then all is clean."""
    graph = FakeGraphProjection()
    domain, (v0, v1, v2) = build_domain(graph=graph)
    gone = v0.pk
    delete_version_rows(v0)
    v0.delete()
    refresh_weights(domain.pk)
    report = reconcile_domain(domain=domain, backend="graph", store=graph)
    assert report.removed == [gone] and report.reprojected == [v1.pk, v2.pk]
    assert gone not in graph.counts(domain_id=domain.pk)
    assert reconcile_domain(domain=domain, backend="graph", store=graph).drift == 0


def test_a_stale_weight_name_or_type_is_drift():
    graph = FakeGraphProjection()
    domain, (v0, v1, v2) = build_domain(graph=graph)
    graph.weights[(domain.pk, "alice", "uses", "acme")] = 99.0  # same edges, stale weight
    assert reconcile_domain(domain=domain, backend="graph", store=graph).reprojected == [v0.pk, v1.pk, v2.pk]
    assert graph.weights[(domain.pk, "alice", "uses", "acme")] == 3.0
    state = graph.state[domain.pk]
    state[v1.pk]["entities"] = {("alice", "Alice", "organization"), ("acme", "Acme", "organization")}  # stale type
    assert reconcile_domain(domain=domain, backend="graph", store=graph).reprojected == [v1.pk]
    Entity.objects.filter(domain=domain, key="acme").update(name="ACME Corp")  # an editor renamed it
    assert reconcile_domain(domain=domain, backend="graph", store=graph).reprojected == [v0.pk, v1.pk, v2.pk]
    assert reconcile_domain(domain=domain, backend="graph", store=graph).drift == 0


def test_a_deleted_version_with_chunks_but_no_mentions_is_removed():
    """Both sides would hash it to the empty set: the database not knowing it is what counts."""
    graph = FakeGraphProjection()
    domain, _ = build_domain(graph=graph)
    graph.state[domain.pk][424242] = {"mentions": Counter(), "relations": set(), "entities": set()}
    report = reconcile_domain(domain=domain, backend="graph", store=graph)
    assert report.removed == [424242] and report.reprojected == []
    assert 424242 not in graph.state[domain.pk]


def test_repairs_are_batched_across_runs():
    vectors = FakeVectorProjection()
    domain, versions = build_domain()  # nothing projected: everything is missing
    first = reconcile_domain(domain=domain, backend="vectors", store=vectors, max_versions=2)
    assert len(first.reprojected) == 2 and first.remaining == 1
    second = reconcile_domain(domain=domain, backend="vectors", store=vectors, max_versions=2)
    assert len(second.reprojected) == 1 and second.remaining == 0
    assert reconcile_domain(domain=domain, backend="vectors", store=vectors).drift == 0


def test_domains_are_reconciled_separately():
    graph = FakeGraphProjection()
    a, _ = build_domain(graph=graph)
    b, (b0, _, _) = build_domain(graph=graph)
    graph.state[b.pk].pop(b0.pk)
    assert reconcile_domain(domain=a, backend="graph", store=graph).drift == 0
    assert reconcile_domain(domain=b, backend="graph", store=graph).reprojected == [b0.pk]


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown projection backend"):
        reconcile_domain(domain=DomainFactory(), backend="neo4j")


# --- beat task, schedule, command ------------------------------------------------------
@override_settings(**FAKES)
def test_beat_task_catches_up_every_domain_after_an_outage():
    """While the projection was down nothing reached it; the beat task fills it in afterwards."""
    from tasks.projections import reconcile

    FakeGraphProjection.healthy = False
    a, _ = build_domain()
    b, _ = build_domain()
    skipped = metric("graph", "skipped_unhealthy")
    result = reconcile.apply().get()
    assert metric("graph", "skipped_unhealthy") == skipped + 1
    assert FakeGraphProjection.state.get(a.pk, {}) == {}
    assert result["reprojected"] == 12  # the vector projection and the keyword engine were healthy (6 versions each)
    FakeGraphProjection.healthy = True
    result = reconcile.apply().get()
    assert result == {"domains": 2, "reprojected": 6, "removed": 0, "remaining": 0}
    assert set(FakeGraphProjection.state[a.pk]) and set(FakeGraphProjection.state[b.pk])
    assert reconcile.apply().get()["reprojected"] == 0


def test_schedule_is_installed_once_and_admin_edits_survive():
    schedules_install()
    schedules_install()
    tasks = PeriodicTask.objects.filter(name=RECONCILE_TASK_NAME)
    assert tasks.count() == 1 and tasks.get().task == RECONCILE_TASK and tasks.get().queue == "storage"
    tasks.update(enabled=False)
    schedules_install()
    assert PeriodicTask.objects.get(name=RECONCILE_TASK_NAME).enabled is False


@override_settings(**FAKES)
def test_rebuild_projections_command_rebuilds_from_scratch():
    domain, versions = build_domain()
    FakeVectorProjection.state[domain.pk][31337] = [1]  # junk the rebuild must drop
    out, err = StringIO(), StringIO()
    call_command("rebuild_projections", "--domain", domain.slug, "--backend", "vectors", stdout=out, stderr=err)
    assert f"Rebuilt the vectors projection of {domain.slug}: 3 version(s)." in out.getvalue()
    assert "3/3" in err.getvalue()  # the progress bar
    assert FakeVectorProjection().counts(domain_id=domain.pk) == {v.pk: 2 for v in versions}
    call_command("rebuild_projections", "--domain", domain.slug, "--backend", "graph", "--no-progress", stdout=out)
    assert FakeGraphProjection().counts(domain_id=domain.pk) == EmbeddedGraphStore().counts(domain_id=domain.pk)


def test_rebuild_projections_rejects_unknown_domain_and_backend():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No domain with slug 'nope'"):
        call_command("rebuild_projections", "--domain", "nope", "--backend", "graph")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("rebuild_projections", "--domain", "nope", "--backend", "elastic")


# --- live ------------------------------------------------------------------------------
@pytest.mark.live
def test_live_neo4j_drift_is_repaired():
    require_live("NEO4J_URI")
    from apps.search.backends.graph.neo4j import Neo4jGraphStore

    store = Neo4jGraphStore(
        uri=os.environ["NEO4J_URI"],
        user=os.environ.get("NEO4J_USER", "neo4j"),
        password=os.environ.get("NEO4J_PASSWORD", ""),
        database=os.environ.get("NEO4J_DATABASE", "neo4j"),
    )
    domain = DomainFactory()
    try:
        store.delete_domain(domain_id=domain.pk)
        domain, (v0, v1, _) = build_domain(graph=store)
        store.delete_version(domain_id=domain.pk, version_id=v0.pk)
        report = reconcile_domain(domain=domain, backend="graph", store=store)
        assert report.reprojected == [v0.pk]
        assert reconcile_domain(domain=domain, backend="graph", store=store).drift == 0
        assert store.counts(domain_id=domain.pk) == EmbeddedGraphStore().counts(domain_id=domain.pk)
    finally:
        store.delete_domain(domain_id=domain.pk)
        store.close()


@pytest.mark.live
def test_live_weaviate_drift_is_repaired():
    require_live("WEAVIATE_URL")
    from apps.search.backends.vectors.weaviate import WeaviateVectorStore

    store = WeaviateVectorStore(
        url=os.environ["WEAVIATE_URL"],
        grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        api_key=os.environ.get("WEAVIATE_API_KEY") or None,
        collection=os.environ.get("WEAVIATE_TEST_COLLECTION", "HeyshChunkTest"),
    )
    domain = None
    try:
        domain, (v0, v1, _) = build_domain(vectors=store)
        store.delete_version(domain_id=domain.pk, version_id=v0.pk)
        assert reconcile_domain(domain=domain, backend="vectors", store=store).reprojected == [v0.pk]
        assert reconcile_domain(domain=domain, backend="vectors", store=store).drift == 0
    finally:
        if domain is not None:
            store.delete_domain(domain_id=domain.pk)
        store.close()


def test_relation_members_tell_predicates_apart():
    launch = relation_member(source="nasa", type="acts_on", predicate="launch", target="hubble", weight=1)
    operate = relation_member(source="nasa", type="acts_on", predicate="operate", target="hubble", weight=1)
    assert launch != operate and "acts_on/launch" in launch
    assert relation_member(source="a", type="uses", target="b", weight=2) == "r:a|uses|b|2"
