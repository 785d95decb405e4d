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
    assert created == 0
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
