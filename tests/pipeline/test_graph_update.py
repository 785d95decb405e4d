"""Entity resolution and the graph step: normalized keys, near-duplicate merges, idempotent
writes, and a new version replacing exactly its document's share."""

from __future__ import annotations

import pytest

from apps.documents.models import Chunk, ProcessingRun
from apps.documents.services import document_create, document_new_version
from apps.search.graph_update import EntityResolver, normalize_key, version_graph_update
from apps.search.models import Entity, Mention, Relation, RelationEvidence
from tests.factories import DomainFactory
from tests.pipeline.conftest import drain

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "names, key",
    [
        (["Neo4j", "neo4j", "Neo4J", "NEO4J", "Neo-4j", "Neo4j."], "neo4j"),
        (["PostgreSQL", "postgres", "Postgres", "postgresql"], "postgresql"),
        (["Graph Databases", "graph database", "Graph-Database"], "graph database"),
        (["Companies", "company"], "company"),
        (["The Apollo Program", "Apollo program"], "apollo program"),
        (["  Marie   Curie ", "marie curie"], "marie curie"),
        (["Kubernetes", "k8s"], "kubernetes"),
        (["Analysis"], "analysis"),
        (["Redis"], "redis"),
        (["C++"], "c plus plus"),
    ],
)
def test_normalize_key_merges_near_duplicates(names, key):
    assert {normalize_key(n) for n in names} == {key}


def test_different_things_keep_different_keys():
    assert len({normalize_key(n) for n in ["Java", "JavaScript", "C", "C++", "C#", "Paris", "Pari"]}) == 7


def test_editor_aliases_and_merges_are_followed(domain):
    target = Entity.objects.create(domain=domain, key="large language model", name="Large Language Model", aliases=["LLM engines"])
    merged = Entity.objects.create(domain=domain, key="foundation model", name="Foundation model", merged_into=target)
    resolver = EntityResolver(domain.pk)
    assert resolver.key("LLM engine") == "large language model"
    ids, created = resolver.upsert(
        types={"large language model": {"concept": 1}, "foundation model": {"concept": 1}},
        names={"large language model": {"LLM engine": 1}, "foundation model": {"foundation models": 1}},
    )
    assert created == []
    assert ids == {"large language model": target.pk, "foundation model": target.pk}
    assert merged.pk != target.pk


def _ready(domain, user, text, title):
    document, _ = document_create(domain=domain, user=user, text=text, title=title)
    run = ProcessingRun.objects.get(document=document)
    drain(run)
    return document, run


def test_spellings_across_documents_become_one_entity(domain, user, no_broker):
    _ready(domain, user, "Neo4j stores the graph. Django uses PostgreSQL.", "a")
    _ready(domain, user, "We moved from neo4j to NEO4J clusters. Postgres uses WAL.", "b")
    entity = Entity.objects.get(domain=domain, key="neo4j")
    assert entity.mention_count == Mention.objects.filter(entity=entity).count() == 3
    assert entity.name == "Neo4j" or entity.name in {"neo4j", "NEO4J"}
    assert Entity.objects.filter(domain=domain, key="postgresql").count() == 1
    other = DomainFactory()
    assert not Entity.objects.filter(domain=other).exists(), "resolution stays within the domain"


def test_graph_step_is_idempotent(domain, user, no_broker):
    document, run = _ready(domain, user, "Django uses PostgreSQL. Acme Inc. is based in Berlin with Neo4j.", "idem")
    snapshot = lambda: (  # noqa: E731
        sorted(Entity.objects.values_list("key", "mention_count")),
        sorted(Relation.objects.values_list("source__key", "target__key", "type", "weight")),
        Mention.objects.count(), RelationEvidence.objects.count(),
    )
    before = snapshot()
    version_graph_update(version=run.version)
    version_graph_update(version=run.version)
    assert snapshot() == before
    assert before[2] > 0 and before[3] > 0


def test_new_version_replaces_exactly_its_documents_share(domain, user, no_broker):
    doc, run = _ready(domain, user, "Django uses PostgreSQL. Kafka feeds Spark.", "changing")
    _ready(domain, user, "Django also runs on SQLite. Spark is fast.", "other")
    old_version = run.version
    version, created = document_new_version(document=doc, user=user, text="Django uses Redis now. Celery too.")
    assert created
    drain(ProcessingRun.objects.get(version=version))
    keys = set(Entity.objects.filter(domain=domain).values_list("key", flat=True))
    assert {"redis", "celery", "django", "sqlite", "spark"} <= keys
    assert "postgresql" not in keys and "kafka" not in keys, "entities only the old version mentioned are gone"
    assert not Relation.objects.filter(source__key="django", target__key="postgresql").exists()
    assert Entity.objects.get(key="spark").mention_count == 1  # the other document's share stays
    assert Entity.objects.get(key="django").mention_count == 2
    assert not Mention.objects.filter(version=old_version).exists()
    assert not Chunk.objects.filter(version=old_version).exists(), "old chunks (and their vectors) left the index"
    doc.refresh_from_db()
    assert doc.current_version_id == version.pk and doc.status == "ready"


def test_deleting_a_document_prunes_entities_and_relations_only_it_supported(domain, user, no_broker):
    from apps.documents.services import document_delete

    gone, _ = _ready(domain, user, "Kafka feeds Spark. Django uses PostgreSQL.", "to delete")
    _ready(domain, user, "Django runs on SQLite. Spark is fast.", "stays")
    assert Entity.objects.filter(domain=domain, key="kafka").exists()
    assert Relation.objects.filter(domain=domain, source__key="django", target__key="postgresql").exists()
    document_delete(document=gone)
    keys = set(Entity.objects.filter(domain=domain).values_list("key", flat=True))
    assert "kafka" not in keys and "postgresql" not in keys, "entities only the deleted document mentioned are gone"
    assert not Relation.objects.filter(domain=domain, source__key="django", target__key="postgresql").exists()
    assert not Relation.objects.filter(domain=domain, evidence__isnull=True).exists()
    assert {"django", "spark", "sqlite"} <= keys, "the other document's share stays"
    assert Entity.objects.get(domain=domain, key="spark").mention_count == 1
    assert Entity.objects.get(domain=domain, key="django").mention_count == 1


def test_one_delivery_processes_queued_steps_of_several_documents(domain, user, no_broker):
    from apps.documents.models import Document, StepRun
    from apps.documents.workflow import step_execute

    texts = ["Django uses PostgreSQL.", "Kafka feeds Spark. Neo4j stores graphs.", "Redis caches Django pages."]
    runs = [ProcessingRun.objects.get(document=document_create(domain=domain, user=user, text=t, title=f"b{i}")[0]) for i, t in enumerate(texts)]
    for step in ("analyze", "extract", "graph", "index", "notify"):
        queued = list(StepRun.objects.filter(run__in=runs, step=step, status=StepRun.Status.QUEUED).order_by("pk"))
        assert len(queued) == 3, step
        outcomes = [step_execute(step_run_id=s.pk, step=step) for s in queued]
        # The first delivery did all three (analysis too: small text documents); the others' messages find them claimed.
        assert outcomes == ["succeeded", None, None], step
        metrics = StepRun.objects.filter(run__in=runs, step=step).values_list("metrics", flat=True)
        assert all(m["batch"] == 3 for m in metrics), step
    assert set(Document.objects.filter(pk__in=[r.document_id for r in runs]).values_list("status", flat=True)) == {"ready"}
    assert Entity.objects.get(domain=domain, key="django").mention_count == 2
    graph = {r.pk: r.steps.get(step="graph").metrics for r in runs}
    assert graph[runs[1].pk]["mentions"] == Mention.objects.filter(version=runs[1].version).count() == 3
    assert sorted(d for s, d, _ in no_broker if s == "finished") == sorted(r.document_id for r in runs)


def test_a_bad_document_in_a_batch_fails_alone(domain, user, monkeypatch, no_broker):
    """The shared graph pass fails because of one document: the others still succeed."""
    from apps.documents.models import Document, StepRun
    from apps.documents.workflow import step_execute
    from apps.search import graph_update

    runs = [ProcessingRun.objects.get(document=document_create(domain=domain, user=user, text=t, title=t)[0])
            for t in ("Django uses PostgreSQL.", "Spark is poison here.", "Kafka feeds Spark.")]
    for step in ("analyze", "extract"):
        for s in StepRun.objects.filter(run__in=runs, step=step, status=StepRun.Status.QUEUED).order_by("pk"):
            step_execute(step_run_id=s.pk, step=step)
    real = graph_update.versions_graph_update

    def poisoned(*, versions, heartbeat=None):
        if any(v.document_id == runs[1].document_id for v in versions):
            raise RuntimeError("poison")
        return real(versions=versions, heartbeat=heartbeat)

    monkeypatch.setattr(graph_update, "versions_graph_update", poisoned)
    first = StepRun.objects.filter(run__in=runs, step="graph").order_by("pk").first()
    assert step_execute(step_run_id=first.pk, step="graph") == "succeeded"
    status = dict(StepRun.objects.filter(run__in=runs, step="graph").values_list("run_id", "status"))
    assert status == {runs[0].pk: "succeeded", runs[1].pk: "queued", runs[2].pk: "succeeded"}  # the bad one retries
    assert "poison" in StepRun.objects.get(run=runs[1], step="graph").error
    assert Document.objects.get(pk=runs[2].document_id).status == "processing"  # indexing comes next
    assert Mention.objects.filter(version=runs[2].version).exists()
