"""analyze_version on real small files of every supported type: text, chunks, offsets, pages, language."""

from __future__ import annotations

import hashlib

import pytest
from django.test import override_settings

from apps.documents.analysis import analyze_version
from apps.documents.chunking import chunk_text
from apps.documents.models import Chunk, Document
from apps.documents.services import document_create
from tests.documents import files

pytestmark = pytest.mark.django_db

LIGHTHOUSE_TEXT = (
    "Lighthouses mark dangerous coastlines and guide ships into harbour. "
    "The keeper lit the lamp at dusk and watched it through the night. "
) * 3


def _analyse(domain, user, upload, name: str, data: bytes) -> tuple[dict, object]:
    document, _ = document_create(domain=domain, user=user, upload=upload(name, data))
    metrics = analyze_version(version_id=document.current_version_id)
    version = document.versions.get(number=1)
    return metrics, version


def _assert_chunks_index_text(version) -> list[Chunk]:
    chunks = list(Chunk.objects.filter(version=version).order_by("ordinal"))
    assert chunks, "no chunks"
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert version.text[chunk.start : chunk.end] == chunk.text
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()
        assert chunk.document_id == version.document_id and chunk.domain_id == version.domain_id
    return chunks


def test_plain_text(domain, user, upload):
    metrics, version = _analyse(domain, user, upload, "keeper.txt", LIGHTHOUSE_TEXT.encode())
    chunks = _assert_chunks_index_text(version)
    assert version.text == LIGHTHOUSE_TEXT.strip()
    assert (version.mime, version.language, version.page_count) == ("text/plain", "en", None)
    assert metrics == {"chunks": len(chunks), "chars": len(version.text), "pages": 0, "language": "en", "mime": "text/plain"}


def test_markdown_is_rendered_to_reading_text(domain, user, upload):
    _, version = _analyse(domain, user, upload, "optics.md", files.MARKDOWN)
    _assert_chunks_index_text(version)
    assert "The Fresnel lens was invented by Augustin-Jean Fresnel in 1822." in version.text
    assert "**" not in version.text and "```" not in version.text and "# " not in version.text
    assert "It is lighter than a solid lens." in version.text
    assert version.mime == "text/markdown"


def test_html_keeps_text_and_drops_scripts_and_styles(domain, user, upload):
    _, version = _analyse(domain, user, upload, "harbour.html", files.HTML)
    _assert_chunks_index_text(version)
    assert "The lighthouse at Alexandria guided ships for centuries." in version.text
    assert "Keepers trimmed the wicks every night." in version.text
    for hostile in ("alert", "steal cookies", "injected", "color:red", "Enable JavaScript"):
        assert hostile not in version.text
    assert version.mime == "text/html"


def test_pdf_chunks_carry_their_page_numbers(domain, user, upload):
    pages = [
        "The first page is about the lighthouse at Pharos.\nIt stood in Alexandria.",
        "The second page describes the Eddystone lighthouse.",
        "",
        "The fourth page covers modern automated beacons.",
    ]
    metrics, version = _analyse(domain, user, upload, "history.pdf", files.make_pdf(pages, title="Lighthouse history"))
    chunks = _assert_chunks_index_text(version)
    assert version.page_count == 4 and metrics["pages"] == 4 and version.mime == "application/pdf"
    by_page = {c.page: c.text for c in chunks}
    assert set(by_page) == {1, 2, 4}  # the blank page contributes nothing
    assert "Pharos" in by_page[1] and "Eddystone" in by_page[2] and "automated beacons" in by_page[4]


@override_settings(CHUNK_CHARS=120, CHUNK_OVERLAP_CHARS=20)
def test_long_pdf_pages_split_into_chunks_that_never_cross_a_page(domain, user, upload):
    page = "\n".join(f"Line {i} of the page about lenses and lamps." for i in range(30))
    _, version = _analyse(domain, user, upload, "long.pdf", files.make_pdf([page, page.replace("lenses", "mirrors")]))
    chunks = _assert_chunks_index_text(version)
    assert len(chunks) > 10
    assert {c.page for c in chunks} == {1, 2}
    first_page_end = max(c.end for c in chunks if c.page == 1)
    assert all(c.start > first_page_end for c in chunks if c.page == 2)
    assert all("mirrors" not in c.text for c in chunks if c.page == 1)


def test_docx_paragraphs_and_tables(domain, user, upload):
    data = files.make_docx(
        ["Lamps burned whale oil, then kerosene.", "Electric lamps arrived in the twentieth century."],
        heading="Lighthouse lamps", table=[["Fuel", "Era"], ["Kerosene", "1860s"]],
    )
    _, version = _analyse(domain, user, upload, "lamps.docx", data)
    _assert_chunks_index_text(version)
    assert "Lighthouse lamps" in version.text and "Electric lamps arrived" in version.text
    assert "Kerosene | 1860s" in version.text
    assert version.mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_language_is_detected(domain, user):
    document, _ = document_create(
        domain=domain, user=user,
        text="Le phare guide les navires vers le port pendant la nuit, et le gardien allume la lampe chaque soir.",
    )
    analyze_version(version_id=document.current_version_id)
    document.current_version.refresh_from_db()
    assert document.current_version.language == "fr"


@override_settings(CHUNK_CHARS=200, CHUNK_OVERLAP_CHARS=40)
def test_running_twice_replaces_chunks_instead_of_duplicating_them(domain, user):
    document, _ = document_create(domain=domain, user=user, text=LIGHTHOUSE_TEXT * 4)
    first = analyze_version(version_id=document.current_version_id)
    ids_first = set(Chunk.objects.filter(version_id=document.current_version_id).values_list("pk", flat=True))
    index_version = type(domain).objects.get(pk=domain.pk).index_version
    second = analyze_version(version_id=document.current_version_id)

    chunks = Chunk.objects.filter(version_id=document.current_version_id)
    assert first == second and chunks.count() == first["chunks"] > 1
    assert not ids_first & set(chunks.values_list("pk", flat=True))
    assert type(domain).objects.get(pk=domain.pk).index_version == index_version + 1


def test_chunk_spans_cover_the_text_with_overlap_and_respect_size():
    text = " ".join(f"Sentence {i} tells of keepers, lamps and storms." for i in range(400))
    spans = chunk_text(text, size=500, overlap=100)
    assert all(0 < s.end - s.start <= 500 for s in spans)
    covered = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    assert all(b.start < a.end for a, b in zip(spans, spans[1:], strict=False))  # consecutive chunks overlap
    assert all(text[s.start - 1] == " " for s in spans[1:])  # and start on a word


def test_chunk_text_without_breaks_is_cut_hard_but_completely():
    spans = chunk_text("x" * 2500, size=1000, overlap=150)
    assert [(s.start, s.end) for s in spans] == [(0, 1000), (1000, 2000), (2000, 2500)]


def test_html_in_a_declared_legacy_charset_is_read(domain, user, upload):
    page = '<html><head><meta charset="windows-1252"><title>Caf\u00e9</title></head><body><p>Le caf\u00e9 du phare, tr\u00e8s fr\u00e9quent\u00e9 par les marins.</p></body></html>'
    _, version = _analyse(domain, user, upload, "cafe.html", page.encode("cp1252"))
    assert "Le café du phare, très fréquenté par les marins." in version.text


def test_pdf_title_comes_from_its_metadata_when_the_uploader_gave_none(domain, user, upload):
    data = files.make_pdf(["The keeper's log of the Pharos lighthouse."], title="  The Pharos\nkeeper's log ")
    _, version = _analyse(domain, user, upload, "scan_0042.pdf", data)
    assert version.document.title == "scan_0042"  # intake's stand-in, until analysis reads the file
    version.document.refresh_from_db()
    assert version.document.title == "The Pharos keeper's log"


def test_docx_title_comes_from_its_core_properties(domain, user, upload):
    data = files.make_docx(["Lamps burned whale oil, then kerosene."], heading="A heading", title="Lighthouse lamps")
    _, version = _analyse(domain, user, upload, "draft-v3.docx", data)
    version.document.refresh_from_db()
    assert version.document.title == "Lighthouse lamps"


def test_docx_without_core_title_takes_its_first_heading(domain, user, upload):
    data = files.make_docx(["Lamps burned whale oil, then kerosene."], heading="Lighthouse lamps", title="")
    _, version = _analyse(domain, user, upload, "draft-v3.docx", data)
    version.document.refresh_from_db()
    assert version.document.title == "Lighthouse lamps"


def test_the_uploaders_title_wins_over_the_files_metadata(domain, user, upload):
    data = files.make_pdf(["The keeper's log of the Pharos lighthouse."], title="The Pharos keeper's log")
    document, _ = document_create(domain=domain, user=user, upload=upload("scan.pdf", data), title="Pharos, 1820-1850")
    analyze_version(version_id=document.current_version_id)
    document.refresh_from_db()
    assert document.title == "Pharos, 1820-1850"


def test_a_placeholder_metadata_title_keeps_the_file_name(domain, user, upload):
    data = files.make_pdf(["The keeper's log of the Pharos lighthouse."], title="Untitled")
    _, version = _analyse(domain, user, upload, "pharos-log.pdf", data)
    version.document.refresh_from_db()
    assert version.document.title == "pharos-log"


def test_a_title_edited_since_upload_survives_reanalysis(domain, user, upload):
    data = files.make_pdf(["The keeper's log of the Pharos lighthouse."], title="The Pharos keeper's log")
    _, version = _analyse(domain, user, upload, "scan.pdf", data)
    Document.objects.filter(pk=version.document_id).update(title="Pharos log (edited)")
    analyze_version(version_id=version.pk)
    assert Document.objects.get(pk=version.document_id).title == "Pharos log (edited)"
