"""Batches through the engine: bulk submission, one message per batch of steps, batched analysis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from apps.documents.models import Chunk, Document, DocumentStatus, ProcessingRun, StepRun
from apps.documents.services import document_create, document_new_version, documents_create_many, intake_prepare
from apps.documents.workflow import step_execute, workflow_sweep
from apps.search.engines.keyword import keyword_engine
from tests.documents.files import make_pdf

pytestmark = pytest.mark.django_db

TEXTS = [
    "Django uses PostgreSQL for its data.",
    "Kafka feeds Spark with events.",
    "Redis caches Django pages.",
    "Neo4j stores the knowledge graph.",
    "Weaviate keeps the vectors of every chunk.",
]


def _messages(sent, step):
    return [ids for name, ids, _ in sent if name == step]


@override_settings(STEP_BATCH_DOCUMENTS=2)
def test_bulk_submission_creates_documents_dedupes_and_sends_analysis_in_batches(domain, user, no_broker):
    existing, _ = document_create(domain=domain, user=user, text=TEXTS[0], title="already here")
    no_broker.clear()
    intakes = [intake_prepare(text=t, title=f"t{i}") for i, t in enumerate([*TEXTS, TEXTS[1], TEXTS[0]])]

    outcome = documents_create_many(domain=domain, user=user, intakes=intakes)

    assert [created for _, created in outcome] == [False, True, True, True, True, False, False]
    assert outcome[0][0].pk == existing.pk == outcome[6][0].pk, "content already in the domain returns its document"
    assert outcome[5][0].pk == outcome[1][0].pk, "a repeat within the batch returns the batch's first document"
    new = [document for document, created in outcome if created]
    assert Document.objects.filter(domain=domain).count() == 5
    for document in new:
        document.refresh_from_db()
        assert document.status == DocumentStatus.PROCESSING and document.created_by == user
        assert document.current_version.original.read().decode() in TEXTS
        assert document.history.count() == 1, "bulk creation still records history"
        assert StepRun.objects.filter(run__document=document).count() == 5
    analyze = dict(StepRun.objects.filter(run__document__in=new, step="analyze").values_list("run__document_id", "pk"))
    messages = _messages(no_broker, "analyze")
    assert messages == [[analyze[new[0].pk], analyze[new[1].pk]], [analyze[new[2].pk], analyze[new[3].pk]]]


def test_bulk_submission_of_nothing_new_writes_nothing(domain, user, no_broker):
    document_create(domain=domain, user=user, text=TEXTS[0])
    before = ProcessingRun.objects.count()
    outcome = documents_create_many(domain=domain, user=user, intakes=[intake_prepare(text=TEXTS[0])])
    assert [created for _, created in outcome] == [False]
    assert ProcessingRun.objects.count() == before
    assert documents_create_many(domain=domain, user=user, intakes=[]) == []


def test_a_batch_moves_through_every_step_with_one_message_per_step(domain, user, no_broker):
    outcome = documents_create_many(domain=domain, user=user, intakes=[intake_prepare(text=t) for t in TEXTS[:3]])
    documents = [document for document, _ in outcome]
    for step in ("analyze", "extract", "graph", "index", "notify"):
        messages = _messages(no_broker, step)
        assert len(messages) == 1 and isinstance(messages[0], list) and len(messages[0]) == 3, (step, messages)
        assert step_execute(step_run_id=messages[0], step=step) == "succeeded", step
        assert step_execute(step_run_id=messages[0], step=step) is None, f"{step}: a redelivered batch is a no-op"
    for document in documents:
        document.refresh_from_db()
        assert document.status == DocumentStatus.READY, document.error
        assert Chunk.objects.filter(document=document).count() == 1
    assert set(StepRun.objects.filter(run__document__in=documents).values_list("attempt", flat=True)) == {1}


def test_a_bad_document_in_an_analysis_batch_fails_alone(domain, user, no_broker):
    unreadable = "x" * 12_000  # encoded data, not text: a PermanentError in analysis
    outcome = documents_create_many(
        domain=domain, user=user, intakes=[intake_prepare(text=t) for t in (TEXTS[0], unreadable, TEXTS[1])]
    )
    (message,) = _messages(no_broker, "analyze")
    assert step_execute(step_run_id=message, step="analyze") == "succeeded"
    good, bad, other = (Document.objects.get(pk=document.pk) for document, _ in outcome)
    assert bad.status == DocumentStatus.FAILED and "without a space" in bad.error
    assert StepRun.objects.get(run__document=good, step="extract").status == StepRun.Status.QUEUED
    assert StepRun.objects.get(run__document=other, step="extract").status == StepRun.Status.QUEUED
    assert Chunk.objects.filter(document=good).count() == 1 and not Chunk.objects.filter(document=bad).exists()


def test_a_pdf_is_analysed_alone(domain, user, no_broker):
    pdf, _ = document_create(domain=domain, user=user, upload=SimpleUploadedFile("a.pdf", make_pdf(["Neo4j stores graphs."])))
    texts = [document_create(domain=domain, user=user, text=t)[0] for t in TEXTS[:2]]
    pdf_step = StepRun.objects.get(run__document=pdf, step="analyze")
    text_steps = list(StepRun.objects.filter(run__document__in=texts, step="analyze").order_by("pk"))

    # A text delivery takes the other text along, never the PDF (sandboxed, maybe slow).
    assert step_execute(step_run_id=text_steps[0].pk, step="analyze") == "succeeded"
    assert StepRun.objects.get(pk=text_steps[1].pk).status == StepRun.Status.SUCCEEDED
    assert StepRun.objects.get(pk=pdf_step.pk).status == StepRun.Status.QUEUED
    assert StepRun.objects.get(pk=text_steps[0].pk).metrics["batch"] == 2

    # And a PDF's delivery takes nothing along.
    third = document_create(domain=domain, user=user, text=TEXTS[2])[0]
    assert step_execute(step_run_id=pdf_step.pk, step="analyze") == "succeeded"
    assert StepRun.objects.get(pk=pdf_step.pk).metrics["batch"] == 1
    assert StepRun.objects.get(run__document=third, step="analyze").status == StepRun.Status.QUEUED


@override_settings(STEP_BATCH_DOCUMENTS=2, STEP_REQUEUE_AFTER_SECONDS=60)
def test_the_sweep_resends_lost_steps_in_batches(domain, user, no_broker):
    documents_create_many(domain=domain, user=user, intakes=[intake_prepare(text=t) for t in TEXTS[:3]])
    StepRun.objects.filter(step="analyze").update(queued_at=timezone.now() - timedelta(minutes=5))
    no_broker.clear()
    assert workflow_sweep()["not_picked_up"] == 3
    messages = _messages(no_broker, "analyze")
    assert sorted(len(m) if isinstance(m, list) else 1 for m in messages) == [1, 2]
    assert workflow_sweep()["not_picked_up"] == 0, "re-sent at most once per window"


def _through_graph(document) -> StepRun:
    """Run a document's analysis, extraction and graph steps; return its (now queued) indexing step."""
    for step in ("analyze", "extract", "graph"):
        assert step_execute(step_run_id=StepRun.objects.get(run__document=document, step=step).pk, step=step) == "succeeded"
    return StepRun.objects.get(run__document=document, step="index", status=StepRun.Status.QUEUED)


@override_settings(STEP_BATCH_DOCUMENTS=1, INDEX_BATCH_DOCUMENTS=8, INDEX_BATCH_CHUNKS=4, CHUNK_CHARS=100, CHUNK_OVERLAP_CHARS=0)
def test_an_index_batch_takes_further_documents_only_within_its_chunk_budget(domain, user, no_broker):
    long_text = " ".join(f"Sentence number {i} says that Neo4j stores graphs." for i in range(12))
    texts = [TEXTS[0], TEXTS[1], long_text, TEXTS[2]]
    documents = [d for d, _ in documents_create_many(domain=domain, user=user, intakes=[intake_prepare(text=t) for t in texts])]
    short0, short1, long, short2 = (_through_graph(d) for d in documents)
    assert Chunk.objects.filter(document=documents[2]).count() > 4 and Chunk.objects.filter(document=documents[0]).count() == 1

    def batch_of(step_run):
        return StepRun.objects.get(pk=step_run.pk).metrics["batch"]

    # short0 takes short1 along (2 chunks); the long document would overflow the budget, and
    # short2 does not overtake it.
    assert step_execute(step_run_id=short0.pk, step="index") == "succeeded"
    assert batch_of(short0) == batch_of(short1) == 2
    assert {StepRun.objects.get(pk=s.pk).status for s in (long, short2)} == {StepRun.Status.QUEUED}

    # A document over the budget on its own still runs (its message names it), alone.
    assert step_execute(step_run_id=long.pk, step="index") == "succeeded"
    assert batch_of(long) == 1
    assert step_execute(step_run_id=short2.pk, step="index") == "succeeded"
    assert Chunk.objects.filter(document__in=documents, embedding__isnull=True).count() == 0


def test_an_index_batch_with_two_versions_of_a_document_keeps_only_the_newer_in_the_keyword_engine(domain, user, no_broker):
    """One keyword commit for the batch: the older version, replaced within the same batch, is
    deleted there and not added back."""
    document, _ = document_create(domain=domain, user=user, text="Django uses PostgreSQL for its data.")
    second, _ = document_new_version(document=document, user=user, text="Django uses Redis for its cache now.")
    versions = (document.current_version, second)
    for step in ("analyze", "extract", "graph"):
        for version in versions:  # the first version's step may take the second's along
            row = StepRun.objects.get(run__version=version, step=step)
            if row.status == StepRun.Status.QUEUED:
                assert step_execute(step_run_id=row.pk, step=step) == "succeeded"
    index_steps = [StepRun.objects.get(run__version=v, step="index", status=StepRun.Status.QUEUED) for v in versions]
    assert step_execute(step_run_id=index_steps[0].pk, step="index") == "succeeded"
    assert [StepRun.objects.get(pk=s.pk).metrics["batch"] for s in index_steps] == [2, 2]
    newer = {str(pk) for pk in Chunk.objects.filter(version=second).values_list("pk", flat=True)}
    assert newer and keyword_engine.version_members(domain_id=domain.pk) == {second.pk: newer}
