"""The pipeline through real Celery worker processes: the database and broker of the run (PostgreSQL and Redis, or SQLite and the SQLite file broker).

The sweep is called from the test where beat would call it (every few hundred ms
here instead of every HEYSH_SWEEP_INTERVAL_SECONDS).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from apps.core.workflows import engine
from apps.documents.models import Chunk, Document, DocumentStatus, Notification, ProcessingRun, StepRun
from apps.documents.services import document_create
from apps.documents.workflow import pipeline, workflow_sweep
from apps.search.models import Entity, ExtractionCache, Mention, RelationEvidence
from tests.documents.files import make_docx, make_pdf
from tests.workers import purge_queues, wait_until

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 6
FAST = {"HEYSH_STEP_LEASE_SECONDS": LEASE_SECONDS, "HEYSH_STEP_BACKOFF_SECONDS": 1}
SCRIPTED = "tests.pipeline.worker_settings"
FINAL = (DocumentStatus.READY, DocumentStatus.FAILED)


def _text(n: int) -> str:
    return (
        f"Report {n}. Django uses PostgreSQL for storage. The team at Acme Inc. in Berlin runs Neo4j.\n\n"
        f"Dr. Grace Hopper worked at the University of Pennsylvania. Celery is part of the Python ecosystem. Item {n}."
    )


def _create(domain, user, **kwargs) -> Document:
    document, created = document_create(domain=domain, user=user, **kwargs)
    assert created
    return document


def _settled(documents, *, sweep: bool = False):
    if sweep:
        workflow_sweep()
    ids = [d.pk for d in documents]
    documents_final = all(s in FINAL for s in Document.objects.filter(pk__in=ids).values_list("status", flat=True))
    # Settled means the notify step ran too (it comes after the document is READY or FAILED).
    runs_final = not StepRun.objects.filter(run__document_id__in=ids, step="notify").exclude(
        status__in=(StepRun.Status.SUCCEEDED, StepRun.Status.FAILED)
    ).exists()
    return documents_final and runs_final


def _assert_complete_once(document: Document) -> None:
    """READY with chunks, vectors, entities, relations and a notification — each exactly once."""
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    run = ProcessingRun.objects.get(version=document.current_version)
    assert run.status == ProcessingRun.Status.SUCCEEDED
    chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
    assert chunks and [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(c.embedding is not None and len(bytes(c.embedding)) == 384 * 4 for c in chunks)
    assert {c.embedding_model for c in chunks} == {"hashing-384"}
    index = StepRun.objects.get(run=run, step="index")
    assert index.metrics["vectors"] == len(chunks)
    mentions = Mention.objects.filter(version=document.current_version)
    graph = StepRun.objects.get(run=run, step="graph")
    assert mentions.count() == graph.metrics["mentions"] > 0
    assert RelationEvidence.objects.filter(version=document.current_version).count() == graph.metrics["evidence"] > 0
    hashes = [c.content_hash for c in chunks]
    assert ExtractionCache.objects.filter(chunk_hash__in=hashes).count() == len(set(hashes))
    assert Notification.objects.filter(run=run, kind="document_ready", user=document.created_by).count() == 1


def test_each_supported_type_becomes_ready(celery_workers, domain, user):
    celery_workers.start(**FAST)
    documents = [
        _create(domain, user, text=_text(1), title="pasted"),
        _create(domain, user, upload=SimpleUploadedFile("notes.md", f"# Notes\n\n{_text(2)}".encode(), "text/markdown")),
        _create(domain, user, upload=SimpleUploadedFile(
            "page.html", f"<html><head><title>Page</title></head><body><p>{_text(3)}</p></body></html>".encode(), "text/html"
        )),
        _create(domain, user, upload=SimpleUploadedFile("paper.pdf", make_pdf([_text(4).replace("\n\n", "\n")]), "application/pdf")),
        _create(domain, user, upload=SimpleUploadedFile(
            "memo.docx", make_docx(_text(5).split("\n\n")),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )),
    ]
    wait_until(lambda: _settled(documents), timeout=180, what="five documents settled")
    for document in documents:
        _assert_complete_once(document)
    # One domain, five documents naming the same things: one entity each.
    assert Entity.objects.filter(domain=domain, key="postgresql").count() == 1
    assert Entity.objects.get(domain=domain, key="postgresql").mention_count == 5
    assert Entity.objects.get(domain=domain, key="person:grace hopper").type == "person"


@pytest.mark.parametrize("victim", ["pool_child", "whole_worker"])
def test_worker_killed_mid_step_still_completes_without_duplicates(celery_workers, domain, user, victim):
    worker = celery_workers.start(settings_module=SCRIPTED, **FAST)
    # ~40 chunks at 0.2 s each: extraction takes ~8 s, long enough to die in the middle of it.
    slow_text = "\n\n".join(f"Section {i}: Kubernetes runs Redis @@slow@@ for Acme Inc. " + "filler words " * 60 for i in range(40))
    slow = _create(domain, user, text=slow_text, title="slow")
    other = _create(domain, user, text=_text(7), title="other")
    extract = StepRun.objects.get(run__document=slow, step="extract")
    wait_until(lambda: StepRun.objects.filter(pk=extract.pk, status="running").exists(), timeout=60, what="extract running")
    wait_until(lambda: ExtractionCache.objects.count() >= 16, timeout=30, what="first extraction batch stored")
    assert StepRun.objects.get(pk=extract.pk).status == "running", "the step must still be in progress when killed"
    if victim == "pool_child":
        (child,) = worker.pool_pids()
        os.kill(child, signal.SIGKILL)  # the main process forks a new child; the message is redelivered
    else:
        worker.kill()  # the message stays unacknowledged in Redis; only the lease says the step is orphaned
        celery_workers.start(settings_module=SCRIPTED, **FAST)
    wait_until(lambda: _settled([slow, other], sweep=True), timeout=150, what="both documents settled after the kill")
    extract.refresh_from_db()
    assert extract.status == "succeeded" and extract.attempt == 2, (extract.status, extract.attempt, extract.error)
    for document in (slow, other):
        _assert_complete_once(document)
    assert Chunk.objects.filter(document=slow).count() >= 40


def _lose_every_queued_message() -> None:
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    else:
        purge_queues()  # the embedded SQLite broker: its queues emptied


def test_broker_loses_every_queued_message_while_documents_are_queued(celery_workers, domain, user):
    documents = [_create(domain, user, text=_text(n), title=f"doc {n}") for n in range(10, 15)]
    assert StepRun.objects.filter(run__document__in=documents, step="analyze", status="queued").count() == 5
    _lose_every_queued_message()
    celery_workers.start(**FAST)
    time.sleep(3)
    assert StepRun.objects.filter(run__document__in=documents, step="analyze", status="queued").count() == 5, (
        "nothing can run: the messages are gone"
    )
    with override_settings(STEP_REQUEUE_AFTER_SECONDS=2):
        wait_until(lambda: _settled(documents, sweep=True), timeout=120, what="documents recovered by the sweep")
    for document in documents:
        _assert_complete_once(document)


def test_poison_documents_fail_with_their_reason_while_others_finish(celery_workers, domain, user):
    celery_workers.start(settings_module=SCRIPTED, HEYSH_STEP_MAX_ATTEMPTS=3, **FAST)
    crashing = _create(domain, user, text="Every attempt crashes here @@crash@@ in the extractor.", title="crash")
    rejected = _create(domain, user, text="The extractor rejects this @@reject@@ input outright.", title="reject")
    good = [_create(domain, user, text=_text(n), title=f"good {n}") for n in range(20, 23)]
    wait_until(lambda: _settled([crashing, rejected, *good], sweep=True), timeout=150, what="all documents settled")
    crashing.refresh_from_db()
    rejected.refresh_from_db()
    assert crashing.status == DocumentStatus.FAILED
    assert crashing.error == "Gave up after 3 attempts: ScriptedCrash: scripted extractor crash"
    assert StepRun.objects.get(run__document=crashing, step="extract").attempt == 3
    assert rejected.status == DocumentStatus.FAILED and rejected.error == "The document was rejected by the extractor."
    assert StepRun.objects.get(run__document=rejected, step="extract").attempt == 1
    for document in (crashing, rejected):
        notification = Notification.objects.get(document=document, user=user)
        assert notification.kind == "document_failed" and notification.body == document.error
    for document in good:
        _assert_complete_once(document)


def test_same_step_delivered_concurrently_has_one_effect(celery_workers, domain, user):
    """Extra copies of a step's message, consumed by two workers at once: one claim, one effect."""
    document = _create(domain, user, text=_text(30), title="dup")
    analyze = StepRun.objects.get(run__document=document, step="analyze")
    for _ in range(5):
        engine.send(pipeline(), "analyze", analyze.pk)
    first = celery_workers.start(**FAST)
    second = celery_workers.start(**FAST)
    wait_until(lambda: _settled([document]), timeout=90, what="document settled")
    _assert_complete_once(document)
    assert set(StepRun.objects.filter(run__document=document).values_list("attempt", flat=True)) == {1}
    wait_until(lambda: (first.log() + second.log()).count("not claimable") >= 5, timeout=30, what="duplicates acknowledged")
