"""The admin's live progress endpoint and the multi-file upload view (no workers: runs stay queued).

``/admin/live/progress/`` answers staff only, for objects of readable domains only, with
what the pages put in place and whether anything still runs. ``…/document/upload/`` makes
one document of one file or answers that file's error.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.bootstrap.models import BootstrapStep
from apps.documents import services
from apps.documents.models import Document, DocumentStatus, ProcessingRun, StepRun
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIVE = "/admin/live/progress/"
UPLOAD = "/admin/documents/document/upload/"


def _document(domain, user, text="The Chandra X-ray Observatory observes black holes."):
    document, _ = services.document_create(domain=domain, user=user, text=text)
    return document


def test_live_progress_is_for_staff_only(client, world):
    assert reverse("cms-live-progress") == LIVE
    response = client.get(LIVE, {"dashboard": "1"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    client.force_login(UserFactory(username="member-not-staff", is_staff=False))
    assert client.get(LIVE, {"dashboard": "1"}).status_code == 403


def test_documents_progress_follows_the_run_and_is_scoped(login, world):
    mine, theirs = _document(world["a"], world["editor"]), _document(world["b"], world["root"], text="Another domain's text.")
    client = login(world["editor"])

    body = client.get(LIVE, {"documents": f"{mine.pk},{theirs.pk}", "timeline": "1"}).json()
    assert list(body["documents"]) == [str(mine.pk)]  # the other domain's document is left out
    state = body["documents"][str(mine.pk)]
    assert state["active"] is True and body["active"] is True
    assert state["status"] == DocumentStatus.PROCESSING and "Processing" in state["badge"]
    assert state["step"] == "Analysis" and state["progress"] == 0
    assert state["text"] == "Analysis · 0 of 5 steps · 0%"
    assert "Run " in state["timeline"] and "Knowledge extraction" in state["timeline"]

    # Analysis running, then done and extraction running: step and percent move.
    run = ProcessingRun.objects.get(document=mine)
    run.status = ProcessingRun.Status.RUNNING
    run.save()
    StepRun.objects.filter(run=run, step="analyze").update(status=StepRun.Status.SUCCEEDED)
    StepRun.objects.filter(run=run, step="extract").update(status=StepRun.Status.RUNNING)
    Document.objects.filter(pk=mine.pk).update(status=DocumentStatus.PROCESSING)
    state = client.get(LIVE, {"documents": str(mine.pk)}).json()["documents"][str(mine.pk)]
    assert (state["step"], state["progress"]) == ("Knowledge extraction", 30)
    assert "timeline" not in state  # only when asked for

    # Finished: nothing is active, so the page stops polling.
    StepRun.objects.filter(run=run).update(status=StepRun.Status.SUCCEEDED)
    run.status = ProcessingRun.Status.SUCCEEDED
    run.save()
    Document.objects.filter(pk=mine.pk).update(status=DocumentStatus.READY)
    body = client.get(LIVE, {"documents": str(mine.pk)}).json()
    state = body["documents"][str(mine.pk)]
    assert body["active"] is False and state["active"] is False
    assert (state["step"], state["progress"], state["text"]) == ("", 100, "all 5 steps done")
    assert "Ready" in state["badge"]


def test_documents_progress_query_count_does_not_grow_with_the_page(login, world):
    client = login(world["editor"])
    documents = [_document(world["a"], world["editor"], text=f"Text number {i} about telescopes.") for i in range(12)]

    def queries(ids):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIVE, {"documents": ",".join(str(d.pk) for d in ids)}).status_code == 200
        return len(captured)

    assert queries(documents[:2]) == queries(documents)


def test_bootstrap_progress_and_dashboard(login, world):
    client = login(world["editor"])
    boot_a, boot_b = world["boot_a"], world["boot_b"]

    body = client.get(LIVE, {"bootstraps": f"{boot_a.pk},{boot_b.pk}", "dashboard": "1"}).json()
    assert list(body["bootstraps"]) == [str(boot_a.pk)]
    state = body["bootstraps"][str(boot_a.pk)]
    assert state["active"] is False and "In review" in state["badge"] and state["step"] == "Content generation"
    assert "Succeeded" in state["step:generate"] and "Pending" in state["step:activate"]
    assert body["dashboard"]["active"] is False and body["active"] is False

    # Approval queues activation while the status still reads "In review": that counts as running.
    boot_a.steps.filter(step=BootstrapStep.Step.ACTIVATE).update(status=BootstrapStep.Status.QUEUED)
    _document(world["a"], world["editor"])
    body = client.get(LIVE, {"bootstraps": str(boot_a.pk), "dashboard": "1"}).json()
    assert body["bootstraps"][str(boot_a.pk)]["active"] is True
    dashboard = body["dashboard"]
    assert dashboard["documents:processing"] == 1 and dashboard["runs_in_progress"] == 1 and dashboard["active"] is True
    assert dashboard["runs_failed"] == "0 failed"
    assert body["active"] is True


def test_pages_carry_the_live_markup(login, world):
    client = login(world["editor"])
    document = _document(world["a"], world["editor"])
    changelist = client.get(reverse("admin:documents_document_changelist")).content.decode()
    assert f'data-live-document="{document.pk}" data-live-field="badge"' in changelist
    assert "cms/live.js" in changelist and 'data-endpoint="/admin/live/progress/"' in changelist
    change = client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()
    assert f'data-live-document="{document.pk}" data-live-field="timeline"' in change
    review = client.get(reverse("admin:bootstrap_domainbootstrap_change", args=[world["boot_a"].pk])).content.decode()
    assert f'data-live-bootstrap="{world["boot_a"].pk}" data-live-field="step:activate"' in review
    dashboard = client.get(reverse("admin:index")).content.decode()
    assert 'data-live-field="documents:pending"' in dashboard and "cms/live.js" in dashboard
    add = client.get(reverse("admin:documents_document_add")).content.decode()
    assert f'data-upload-url="{UPLOAD}"' in add and "cms/upload.js" in add and "multiple" in add


def test_upload_view_makes_one_document_per_file_and_refuses_a_bad_one_alone(login, world):
    client = login(world["editor"])
    good = SimpleUploadedFile("chandra.txt", b"The Chandra X-ray Observatory observes black holes.", "text/plain")
    response = client.post(UPLOAD, {"domain": world["a"].pk, "file": good})
    assert response.status_code == 201, response.content
    body = response.json()
    document = Document.objects.get(pk=body["id"])
    assert document.domain == world["a"] and document.title == "chandra" and body["created"] is True
    assert body["url"] == reverse("admin:documents_document_change", args=[document.pk])
    assert f'data-live-document="{document.pk}"' in body["badge"]

    bad = SimpleUploadedFile("program.exe", b"MZ\x90\x00\x03\x00\x00\x00", "application/octet-stream")
    response = client.post(UPLOAD, {"domain": world["a"].pk, "file": bad})
    assert response.status_code == 400
    assert "Unsupported file extension" in response.json()["error"]
    empty = SimpleUploadedFile("empty.txt", b"", "text/plain")
    assert client.post(UPLOAD, {"domain": world["a"].pk, "file": empty}).json()["error"] == "The document is empty."
    assert client.post(UPLOAD, {"domain": world["a"].pk}).status_code == 400
    assert Document.objects.filter(domain=world["a"]).count() == 1

    # The same content again is that document, not a new one.
    again = SimpleUploadedFile("copy.txt", b"The Chandra X-ray Observatory observes black holes.", "text/plain")
    response = client.post(UPLOAD, {"domain": world["a"].pk, "file": again})
    assert response.status_code == 200 and response.json()["id"] == document.pk and response.json()["message"]


def test_upload_view_needs_a_writable_domain(login, world):
    file = SimpleUploadedFile("note.txt", b"Some text about telescopes.", "text/plain")
    editor = login(world["editor"])
    response = editor.post(UPLOAD, {"domain": world["b"].pk, "file": file})  # not a member of B
    assert response.status_code == 400 and "domain" in response.json()["error"].lower()
    viewer = login(world["viewer"])
    file.seek(0)
    assert viewer.post(UPLOAD, {"domain": world["a"].pk, "file": file}).status_code == 403
    assert viewer.get(UPLOAD).status_code == 405
    assert not Document.objects.filter(title="note").exists()
