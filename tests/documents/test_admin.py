"""Documents admin: scoped lists with status badges, upload that starts the pipeline, actions
and deletes calling services."""

from __future__ import annotations

import threading

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.messages import get_messages
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from apps.core.exceptions import Conflict
from apps.core.locks import domain_graph_lock
from apps.core.models import ProjectionDelete
from apps.documents import services
from apps.documents.analysis import analyze_version
from apps.documents.models import Chunk, Document, DocumentVersion, ProcessingRun, StepRun
from apps.documents.services import document_create
from tests.backends.world import make_version
from tests.documents import files
from tests.factories import DomainFactory, MembershipFactory, UserFactory

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


def _document_with_versions(domain, title: str) -> tuple[Document, list[int]]:
    first = make_version(domain=domain, title=title)
    second = make_version(domain=domain, document=first.document, title=f"{title} v2")
    return first.document, [first.pk, second.pk]


def _owed(domain_id: int) -> set[tuple[int, int | None]]:
    return set(ProjectionDelete.objects.filter(domain_id=domain_id).values_list("domain_id", "version_id"))


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _staff_client(domain, role: str) -> Client:
    member = UserFactory(is_staff=True)
    MembershipFactory(domain=domain, user=member, role=role)
    client = Client()
    client.force_login(member)
    return client


def test_an_admin_delete_records_the_outbox_rows_an_api_delete_records(staff, domain, user, client_for):
    by_api, api_versions = _document_with_versions(domain, "Deleted by the API")
    assert client_for(user).delete(f"/api/v1/documents/{by_api.pk}").status_code == 204
    from_api = _owed(domain.pk)
    assert from_api == {(domain.pk, v) for v in api_versions}
    ProjectionDelete.objects.all().delete()

    by_admin, admin_versions = _document_with_versions(domain, "Deleted in the admin")
    url = reverse("admin:documents_document_delete", args=[by_admin.pk])
    confirmation = staff.get(url)
    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "Deleted in the admin" in page and "Cannot delete" not in page
    response = staff.post(url, {"post": "yes"})

    assert response.status_code == 302 and response["Location"] == reverse("admin:documents_document_changelist")
    assert _owed(domain.pk) == {(domain.pk, v) for v in admin_versions}, "one row per version, as the API records"
    assert not Document.objects.filter(pk=by_admin.pk).exists()
    assert not DocumentVersion.objects.filter(pk__in=admin_versions).exists()
    assert not Chunk.objects.filter(document_id=by_admin.pk).exists()
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(by_admin.pk), user=user).count() == 1


def test_delete_selected_goes_through_the_service_for_each_document(staff, domain):
    first, first_versions = _document_with_versions(domain, "First to go")
    second, second_versions = _document_with_versions(domain, "Second to go")
    kept, _ = _document_with_versions(domain, "Kept")
    url = reverse("admin:documents_document_changelist")
    selection = {"action": "delete_selected", "_selected_action": [first.pk, second.pk]}

    confirmation = staff.post(url, selection).content.decode()
    assert "First to go" in confirmation and "Second to go" in confirmation and "Cannot delete" not in confirmation
    assert Document.objects.count() == 3, "the first POST only asks for confirmation"
    response = staff.post(url, {**selection, "post": "yes"})

    assert response.status_code == 302
    assert "Deleted 2 documents." in _messages(response)
    assert _owed(domain.pk) == {(domain.pk, v) for v in first_versions + second_versions}
    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 2


def test_editors_delete_in_the_admin_as_through_the_api_viewers_and_outsiders_do_not(domain):
    document, versions = _document_with_versions(domain, "Guarded")
    url = reverse("admin:documents_document_delete", args=[document.pk])
    changelist = reverse("admin:documents_document_changelist")
    bulk = {"action": "delete_selected", "_selected_action": [document.pk], "post": "yes"}

    viewer = _staff_client(domain, "viewer")
    assert viewer.get(url).status_code == 403
    assert viewer.post(url, {"post": "yes"}).status_code == 403
    viewer.post(changelist, bulk)  # the action is not offered to a viewer
    outsider = _staff_client(DomainFactory(), "owner")
    assert outsider.post(url, {"post": "yes"}).status_code == 302  # the admin's "does not exist" redirect
    outsider.post(changelist, bulk)
    assert Document.objects.filter(pk=document.pk).exists() and not ProjectionDelete.objects.exists()

    assert _staff_client(domain, "editor").post(url, {"post": "yes"}).status_code == 302
    assert _owed(domain.pk) == {(domain.pk, v) for v in versions}


def test_a_bulk_delete_reaching_a_read_only_document_deletes_nothing(domain):
    """Editor of one domain, viewer of another: selecting a document of each is refused as a whole."""
    writable, _ = _document_with_versions(domain, "Writable")
    elsewhere = DomainFactory()
    readable, _ = _document_with_versions(elsewhere, "Readable only")
    member = UserFactory(is_staff=True)
    MembershipFactory(domain=domain, user=member, role="editor")
    MembershipFactory(domain=elsewhere, user=member, role="viewer")
    client = Client()
    client.force_login(member)
    selection = {"action": "delete_selected", "_selected_action": [writable.pk, readable.pk]}
    url = reverse("admin:documents_document_changelist")

    assert "Cannot delete" in client.post(url, selection).content.decode()
    assert client.post(url, {**selection, "post": "yes"}).status_code == 403
    assert Document.objects.count() == 2 and not ProjectionDelete.objects.exists()


def test_a_service_refusal_is_an_admin_message_and_deletes_nothing(staff, domain, monkeypatch):
    """No delete rule refuses an editor today; the refusal is simulated to pin how the admin shows one."""
    refused, _ = _document_with_versions(domain, "Refused")
    accepted, accepted_versions = _document_with_versions(domain, "Accepted")
    delete = services.document_delete

    def refuse_one(*, document):
        if document.pk == refused.pk:
            raise Conflict("The document is being exported; try again in a minute.")
        delete(document=document)

    monkeypatch.setattr(services, "document_delete", refuse_one)
    response = staff.post(reverse("admin:documents_document_delete", args=[refused.pk]), {"post": "yes"})
    assert response.status_code == 302 and response["Location"].endswith(f"/{refused.pk}/change/")
    assert _messages(response) == ["“Refused” was not deleted: The document is being exported; try again in a minute."]
    assert Document.objects.filter(pk=refused.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()
    # Shown (and so consumed) on the change page the admin returns to.
    assert "being exported" in staff.get(response["Location"]).content.decode()

    selection = {"action": "delete_selected", "_selected_action": [refused.pk, accepted.pk], "post": "yes"}
    response = staff.post(reverse("admin:documents_document_changelist"), selection)
    assert _messages(response) == [
        "Deleted 1 document.",
        "“Refused” was not deleted: The document is being exported; try again in a minute.",
    ]
    assert list(Document.objects.values_list("pk", flat=True)) == [refused.pk]
    assert _owed(domain.pk) == {(domain.pk, v) for v in accepted_versions}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks need PostgreSQL")
def test_an_admin_delete_waits_for_the_domain_graph_lock(domain, user):
    """The admin delete takes the graph lock first, as the graph step does, in its own transaction."""
    document, _ = _document_with_versions(domain, "Locked")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    url = reverse("admin:documents_document_delete", args=[document.pk])
    responses: list = []

    def delete():
        try:
            responses.append(client.post(url, {"post": "yes"}))
        finally:
            connections.close_all()

    with transaction.atomic():
        domain_graph_lock(domain.pk)  # as a graph step holding the domain
        thread = threading.Thread(target=delete, daemon=True)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the delete waits for the domain's graph lock"
        assert Document.objects.filter(pk=document.pk).exists()
    thread.join(30)
    assert [r.status_code for r in responses] == [302]
    assert not Document.objects.filter(pk=document.pk).exists()
    assert ProjectionDelete.objects.filter(domain_id=domain.pk).count() == 2
