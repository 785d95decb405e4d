"""Deleting a document while its run writes the graph, with real concurrency on PostgreSQL.

Two failures seen under load (issue 14: 3 of 14 deletes failed): a deadlock between the
delete's row locks and the graph lock its prune takes, and a foreign-key violation
(mention -> chunk) when the graph step wrote mentions of chunks the delete removed. The
delete now takes the domain's graph lock before any row lock, and the graph step keeps
only the chunks still there once it holds the lock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from apps.documents.models import Chunk, Document
from apps.documents.services import document_delete
from apps.search import graph_update
from apps.search.models import Mention
from tests.backends.world import make_version
from tests.factories import DomainFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row and advisory locks need PostgreSQL"),
]

TEXT = ["Kafka feeds Spark. Django uses PostgreSQL.", "Spark runs on Kubernetes. Redis caches Django."]


def in_thread(target, errors: list, name: str) -> threading.Thread:
    def run():
        try:
            target()
        except BaseException as exc:  # reported to the test, which fails on it
            errors.append((name, exc))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def test_a_delete_waits_for_the_graph_step_holding_the_lock(monkeypatch):
    domain = DomainFactory()
    version = make_version(domain=domain, title="racing", chunks=TEXT)
    in_lock, release = threading.Event(), threading.Event()
    recount = graph_update.graph_recount

    def paused_recount(**kwargs):
        in_lock.set()  # mentions written, the graph lock and their row locks held
        assert release.wait(30)
        return recount(**kwargs)

    monkeypatch.setattr(graph_update, "graph_recount", paused_recount)
    errors: list = []
    step = in_thread(lambda: graph_update.versions_graph_update(versions=[version]), errors, "graph step")
    assert in_lock.wait(30)
    monkeypatch.setattr(graph_update, "graph_recount", recount)  # the delete's own prune runs unpaused
    delete = in_thread(lambda: document_delete(document=Document.objects.get(pk=version.document_id)), errors, "delete")
    delete.join(1.0)
    assert delete.is_alive(), "the delete waits for the domain's graph lock before touching a row"
    release.set()
    step.join(30)
    delete.join(30)
    assert errors == []
    assert not Document.objects.filter(pk=version.document_id).exists()
    assert not Mention.objects.filter(domain_id=domain.pk).exists()


def test_a_graph_step_skips_chunks_deleted_while_it_extracted(monkeypatch):
    """The delete commits between the step's chunk read and its lock: no mention of a gone chunk."""
    domain = DomainFactory()
    version = make_version(domain=domain, title="racing", chunks=TEXT)
    extract = graph_update.extractions_cached
    errors: list = []

    def extract_then_delete(**kwargs):
        results = extract(**kwargs)
        deleter = in_thread(
            lambda: document_delete(document=Document.objects.get(pk=version.document_id)), errors, "delete"
        )
        deleter.join(30)
        return results

    monkeypatch.setattr(graph_update, "extractions_cached", extract_then_delete)
    out = graph_update.versions_graph_update(versions=[version])
    assert errors == []
    assert out[version.pk]["mentions"] == 0
    assert not Chunk.objects.filter(version_id=version.pk).exists()
    assert not Mention.objects.filter(domain_id=domain.pk).exists()


def test_many_deletes_racing_graph_steps_all_succeed():
    domain = DomainFactory()
    versions = [make_version(domain=domain, title=f"doc {i}", chunks=TEXT) for i in range(8)]
    errors: list = []
    start = threading.Barrier(len(versions) * 2)

    def step(version):
        start.wait(30)
        graph_update.versions_graph_update(versions=[version])

    def delete(version):
        start.wait(30)
        document_delete(document=Document.objects.get(pk=version.document_id))

    threads = []
    for version in versions:
        threads.append(in_thread(lambda v=version: step(v), errors, f"step {version.pk}"))
        threads.append(in_thread(lambda v=version: delete(v), errors, f"delete {version.pk}"))
    for thread in threads:
        thread.join(60)
    assert [name for name, _ in errors if name.startswith("delete")] == [], errors
    assert not [e for _, e in errors if "IntegrityError" in type(e).__name__ or "Deadlock" in str(e)], errors
    assert not Document.objects.filter(domain=domain).exists()
    assert not Mention.objects.filter(domain_id=domain.pk).exists()
    connection.close()
