"""Intake validation happens before anything is stored or queued (services.document_create)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.errors import status_for
from apps.core.exceptions import ServiceError
from apps.documents.models import Document, DocumentVersion, ProcessingRun, StepRun
from apps.documents.services import document_create, document_new_version
from tests.documents import files

pytestmark = pytest.mark.django_db


def test_upload_creates_document_version_stored_original_and_run(domain, user, upload):
    document, created = document_create(domain=domain, user=user, upload=upload("optics.md", files.MARKDOWN), request_id="req-1")

    assert created is True
    version = document.current_version
    assert (version.number, version.mime, version.size, version.filename) == (1, "text/markdown", len(files.MARKDOWN), "optics.md")
    assert document.title == "optics" and document.source == "upload" and document.created_by == user
    with version.original.open("rb") as handle:
        assert handle.read() == files.MARKDOWN
    assert version.original.name.startswith(f"domains/{domain.pk}/documents/{document.pk}/v1/")
    run = ProcessingRun.objects.get(version=version)
    assert run.request_id == "req-1"
    assert list(StepRun.objects.filter(run=run).values_list("step", flat=True)) == ["analyze", "extract", "graph", "index", "notify"]
    assert StepRun.objects.get(run=run, step="analyze").status == "queued"


def test_identical_content_returns_existing_document_without_second_run(domain, user, upload):
    first, created = document_create(domain=domain, user=user, upload=upload("a.txt", b"Same words in both files."))
    again, created_again = document_create(domain=domain, user=user, upload=upload("b.txt", b"Same words in both files."))
    pasted, created_pasted = document_create(domain=domain, user=user, text="Same words in both files.")

    assert created and not created_again and not created_pasted
    assert again.pk == first.pk == pasted.pk
    assert Document.objects.filter(domain=domain).count() == 1
    assert ProcessingRun.objects.filter(document=first).count() == 1


def test_identical_content_in_another_domain_is_a_new_document(domain, other_domain, user, upload):
    first, _ = document_create(domain=domain, user=user, upload=upload("a.txt", b"Shared text."))
    second, created = document_create(domain=other_domain, user=user, upload=upload("a.txt", b"Shared text."))
    assert created and second.pk != first.pk


@override_settings(MAX_UPLOAD_MB=1)
def test_size_cap_is_413_and_nothing_is_stored(domain, user, upload):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, upload=upload("big.txt", b"word " * 220_000))
    assert status_for(error.value) == 413
    assert "larger than the 1 MB limit" in error.value.message
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, text="word " * 220_000)
    assert status_for(error.value) == 413
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()


@pytest.mark.parametrize("data", [b"", b"   \n\t  "])
def test_empty_file_is_400(domain, user, upload, data):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, upload=upload("empty.txt", data))
    assert status_for(error.value) == 400
    assert error.value.message == "The document is empty."


def test_png_renamed_pdf_is_415_with_reason(domain, user, upload):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, upload=upload("scan.pdf", files.PNG_1PX))
    assert status_for(error.value) == 415
    assert "named “scan.pdf”" in error.value.message and "image/png" in error.value.message
    assert not Document.objects.exists()


def test_text_renamed_pdf_is_a_type_mismatch(domain, user, upload):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, upload=upload("report.pdf", b"just some words"))
    assert status_for(error.value) == 415
    assert error.value.message == (
        "The file is named “report.pdf” (PDF) but its content is plain text; the type must match the content."
    )


def test_pdf_renamed_txt_is_a_type_mismatch(domain, user, upload):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, upload=upload("notes.txt", files.make_pdf(["Hello"])))
    assert status_for(error.value) == 415
    assert "its content is PDF" in error.value.message


def test_unsupported_extension_is_415(domain, user, upload):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, upload=upload("table.csv", b"a,b\n1,2\n"))
    assert status_for(error.value) == 415
    assert "Unsupported file extension “.csv”" in error.value.message


def test_type_is_sniffed_when_the_name_says_nothing(domain, user, upload):
    document, _ = document_create(domain=domain, user=user, upload=upload("README", files.make_pdf(["Hello"])))
    assert document.current_version.mime == "application/pdf"


def test_exactly_one_source_is_required(domain, user, upload):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, text="Some text", url="https://example.org/")
    assert status_for(error.value) == 400
    with pytest.raises(ServiceError):
        document_create(domain=domain, user=user)


def test_pasted_text_gets_a_title_from_its_first_line(domain, user):
    document, created = document_create(domain=domain, user=user, text="\n  Tide tables\nThe moon moves the sea.")
    assert created and document.title == "Tide tables" and document.source == "text"
    assert document.current_version.mime == "text/plain"


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.org/file.txt", "Only http:// and https:// URLs can be fetched."),
        ("http://127.0.0.1/admin", "private or reserved address (127.0.0.1)"),
        ("http://[::1]:8000/", "private or reserved address (::1)"),
        ("http://localhost:8000/", "localhost"),
        ("http://user:secret@example.org/", "URLs with credentials in them are not accepted."),
    ],
)
def test_bad_urls_are_refused_at_intake(domain, user, url, message):
    with pytest.raises(ServiceError) as error:
        document_create(domain=domain, user=user, url=url)
    assert status_for(error.value) == 400
    assert message in error.value.message
    assert not Document.objects.exists()


def test_url_document_has_no_bytes_until_analysis_and_is_deduplicated_by_url(domain, user):
    document, created = document_create(domain=domain, user=user, url="https://example.org/lighthouses.html")
    again, created_again = document_create(domain=domain, user=user, url="https://example.org/lighthouses.html")
    version = document.current_version
    assert created and not created_again and again.pk == document.pk
    assert (document.source, document.source_url, version.content_hash, version.size) == ("url", "https://example.org/lighthouses.html", "", 0)
    assert not version.original


def test_new_version_numbers_up_and_keeps_current_until_ready(domain, user, upload):
    document, _ = document_create(domain=domain, user=user, upload=upload("a.txt", b"First edition."))
    version, created = document_new_version(document=document, user=user, upload=upload("a.txt", b"Second edition."))
    same, created_same = document_new_version(document=document, user=user, upload=upload("a.txt", b"Second edition."))

    document.refresh_from_db()
    assert created and version.number == 2 and not created_same and same.pk == version.pk
    assert document.current_version.number == 1  # switches when the new version's run succeeds
    assert ProcessingRun.objects.filter(document=document).count() == 2


def test_new_version_identical_to_another_document_is_409(domain, user, upload):
    first, _ = document_create(domain=domain, user=user, upload=upload("a.txt", b"Alpha text."))
    second, _ = document_create(domain=domain, user=user, upload=upload("b.txt", b"Beta text."))
    with pytest.raises(ServiceError) as error:
        document_new_version(document=second, user=user, upload=upload("b.txt", b"Alpha text."))
    assert status_for(error.value) == 409
    assert error.value.detail == {"document_id": first.pk}


def _stored_files(domain) -> set[str]:
    import os

    from apps.documents.models import documents_storage

    root = documents_storage().path(f"domains/{domain.pk}")
    return {os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names}


@pytest.mark.django_db(transaction=True)
def test_identical_content_sent_concurrently_makes_one_document(monkeypatch):
    """Two requests racing with the same bytes: the unique (domain, content_hash) decides, the loser gets the winner's document."""
    import threading

    from django.db import connection

    from apps.core.workflows import engine
    from tests.factories import DomainFactory, UserFactory

    # The run's first message would go to the broker on commit; no worker runs in this test.
    monkeypatch.setattr(engine, "send", lambda *args, **kwargs: None)
    owner, domain = UserFactory(), DomainFactory()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def submit():
        try:
            barrier.wait(timeout=10)
            results.append(document_create(domain=domain, user=owner, text="Both threads send these exact words."))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    stored_before = _stored_files(domain)
    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk
    assert Document.objects.filter(domain=domain).count() == 1
    assert ProcessingRun.objects.filter(domain=domain).count() == 1
    assert DocumentVersion.objects.filter(domain=domain).count() == 1
    # The loser's stored copy is removed, not left behind as an orphan.
    winner = Document.objects.get(domain=domain).current_version.original
    assert _stored_files(domain) - stored_before == {winner.path}
