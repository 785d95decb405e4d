"""rows_update: one statement sets different values per row, for every kind of column the pipeline writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.bulk import rows_update
from apps.documents.models import Chunk, Document, DocumentVersion, StepRun
from apps.documents.services import document_create

pytestmark = pytest.mark.django_db


def test_rows_update_sets_each_rows_own_values_in_one_statement(domain, user, monkeypatch):
    monkeypatch.setattr("apps.core.workflows.engine.send", lambda *args, **kwargs: None)
    documents = [document_create(domain=domain, user=user, text=f"Text number {n} about Django.")[0] for n in range(3)]
    steps = list(StepRun.objects.filter(run__document__in=documents, step="analyze").order_by("pk"))
    later = timezone.now() + timedelta(hours=1)
    values = {
        step.pk: {"status": "succeeded", "finished_at": later if n else None, "error": f"e{n}'; --", "metrics": {"n": n, "list": [n]}}
        for n, step in enumerate(steps)
    }
    with CaptureQueriesContext(connection) as queries:
        assert rows_update(StepRun, values, ["status", "finished_at", "error", "metrics"]) == 3
    assert len(queries) == 1
    for n, step in enumerate(steps):
        step.refresh_from_db()
        assert (step.status, step.error, step.metrics) == ("succeeded", f"e{n}'; --", {"n": n, "list": [n]})
        assert step.finished_at == (later if n else None)
    untouched = StepRun.objects.filter(run__document__in=documents, step="extract")
    assert set(untouched.values_list("status", flat=True)) == {"pending"}, "only the named rows change"


def test_rows_update_writes_foreign_keys_bytes_and_text(domain, user, monkeypatch):
    monkeypatch.setattr("apps.core.workflows.engine.send", lambda *args, **kwargs: None)
    first, _ = document_create(domain=domain, user=user, text="One document.")
    second, _ = document_create(domain=domain, user=user, text="Another document.")
    versions = {d.pk: DocumentVersion.objects.get(document=d) for d in (first, second)}
    rows_update(Document, {first.pk: {"current_version": versions[first.pk].pk}, second.pk: {"current_version": None}},
                ["current_version"])
    assert Document.objects.get(pk=first.pk).current_version_id == versions[first.pk].pk
    assert Document.objects.get(pk=second.pk).current_version_id is None
    chunk = Chunk.objects.create(version=versions[first.pk], document=first, domain=domain, ordinal=0, text="x", start=0, end=1,
                                 content_hash="h")
    rows_update(Chunk, {chunk.pk: {"embedding": b"\x00\x01\xff", "embedding_model": "m", "text": "ü ünïcode"}},
                ["embedding", "embedding_model", "text"])
    chunk.refresh_from_db()
    assert (bytes(chunk.embedding), chunk.embedding_model, chunk.text) == (b"\x00\x01\xff", "m", "ü ünïcode")
    assert rows_update(Chunk, {}, ["text"]) == 0
