"""Documents admin: scoped lists with status badges, upload that starts the pipeline, actions calling services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.documents.analysis import analyze_version
from apps.documents.models import Document, ProcessingRun, StepRun
from apps.documents.services import document_create
from tests.documents import files
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(user, domain):
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_changelist_is_scoped_and_shows_status_badges(staff, domain, user, other_domain, other_user):
    mine, _ = document_create(domain=domain, user=user, text="Harbour pilots guide ships.", title="Pilots")
    theirs, _ = document_create(domain=other_domain, user=other_user, text="Hidden elsewhere.", title="Hidden title")
    response = staff.get(reverse("admin:documents_document_changelist"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Pilots" in content and "Hidden title" not in content
    assert "Processing" in content  # the status badge's label
    assert staff.get(reverse("admin:documents_document_change", args=[theirs.pk])).status_code == 302  # not found → redirect


def test_upload_in_the_admin_creates_the_document_and_starts_the_run(staff, domain, upload):
    form = staff.get(reverse("admin:documents_document_add")).content.decode()
    assert 'name="file"' in form and 'name="text"' in form and 'name="url"' in form
    response = staff.post(
        reverse("admin:documents_document_add"),
        {"domain": domain.pk, "title": "", "file": upload("optics.md", files.MARKDOWN), "text": "", "url": ""},
    )
    document = Document.objects.get(domain=domain)
    assert response.status_code == 302 and response["Location"].endswith(f"/{document.pk}/change/")
    assert document.title == "optics" and document.current_version.mime == "text/markdown"
    assert StepRun.objects.get(run__document=document, step="analyze").status == "queued"


def test_admin_upload_is_validated_like_the_api(staff, domain, upload):
    response = staff.post(
        reverse("admin:documents_document_add"),
        {"domain": domain.pk, "file": upload("scan.pdf", files.PNG_1PX), "text": "", "url": ""},
    )
    assert response.status_code == 200
    assert "image/png" in response.content.decode()
    assert not Document.objects.exists()
    both = staff.post(reverse("admin:documents_document_add"), {"domain": domain.pk, "text": "a", "url": "https://example.org/"})
    assert "Send exactly one of" in both.content.decode()


def test_admin_upload_of_identical_content_leads_to_the_existing_document(staff, domain, user):
    existing, _ = document_create(domain=domain, user=user, text="Tide tables for the harbour.")
    response = staff.post(reverse("admin:documents_document_add"), {"domain": domain.pk, "text": "Tide tables for the harbour.", "url": ""}, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/{existing.pk}/change/")
    assert "already in this domain" in response.content.decode()
    assert Document.objects.count() == 1


def test_change_page_shows_version_chunks_and_run_timeline(staff, domain, user):
    document, _ = document_create(domain=domain, user=user, text="The lamp room sits at the top of the tower. " * 5, title="Lamp room")
    analyze_version(version_id=document.current_version_id)
    StepRun.objects.filter(run__document=document, step="analyze").update(status="failed", attempt=3, error="Parser exploded")
    content = staff.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()
    assert "text/plain" in content and "Chunks:</strong> 1" in content
    assert "The lamp room sits at the top of the tower." in content  # chunk preview inline
    assert "Analysis" in content and "Parser exploded" in content  # run timeline


def test_reprocess_and_retry_actions_call_the_services(staff, domain, user):
    document, _ = document_create(domain=domain, user=user, text="Signal flags and semaphore.")
    run = ProcessingRun.objects.get(document=document)
    StepRun.objects.filter(run=run, step="analyze").update(status="succeeded", attempt=1)
    StepRun.objects.filter(run=run, step="extract").update(status="failed", attempt=4, error="boom")
    ProcessingRun.objects.filter(pk=run.pk).update(status="failed")
    url = reverse("admin:documents_document_changelist")

    staff.post(url, {"action": "retry_failed", "_selected_action": [document.pk]})
    assert StepRun.objects.get(run=run, step="extract").status == "queued"

    staff.post(url, {"action": "reprocess", "_selected_action": [document.pk]})
    statuses = dict(StepRun.objects.filter(run=run).values_list("step", "status"))
    assert statuses["analyze"] == "queued" and statuses["extract"] == "pending"

    response = staff.get(reverse("admin:documents_document_reprocess_detail", args=[document.pk]))
    assert response.status_code == 302


def test_viewer_staff_cannot_add_or_act(domain, user):
    viewer = UserFactory(is_staff=True)
    MembershipFactory(domain=domain, user=viewer, role="viewer")
    document, _ = document_create(domain=domain, user=user, text="Read only for viewers.")
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse("admin:documents_document_add")).status_code == 403
    assert client.get(reverse("admin:documents_document_change", args=[document.pk])).status_code == 200
    StepRun.objects.filter(run__document=document, step="analyze").update(status="succeeded")
    client.post(reverse("admin:documents_document_changelist"), {"action": "reprocess", "_selected_action": [document.pk]})
    assert StepRun.objects.get(run__document=document, step="analyze").status == "succeeded"


@pytest.mark.parametrize("model", ["documentversion", "chunk", "processingrun", "notification", "webhookdelivery"])
def test_pipeline_models_are_listed_read_only(staff, domain, user, model):
    document, _ = document_create(domain=domain, user=user, text="Something to list in every table.")
    analyze_version(version_id=document.current_version_id)
    assert staff.get(reverse(f"admin:documents_{model}_changelist")).status_code == 200
    if model in ("documentversion", "chunk", "processingrun"):
        assert staff.get(reverse(f"admin:documents_{model}_add")).status_code == 403
    if model == "processingrun":
        run = ProcessingRun.objects.get(document=document)
        content = staff.get(reverse("admin:documents_processingrun_change", args=[run.pk])).content.decode()
        assert "Knowledge extraction" in content and "Queued" in content
