"""Uploads that used to be misjudged: a file name longer than Django's multipart header limit
(reported as "Multipart form parse error"), and a Word document carrying a VBA macro project
(accepted and served back to everyone in the domain)."""

from __future__ import annotations

import io
import zipfile

import pytest

from apps.documents.errors import PermanentError
from apps.documents.models import Document
from apps.documents.parsers.archive import check_archive
from tests.documents.files import make_docx

pytestmark = pytest.mark.django_db

BOUNDARY = "heyshBoundary7MA4YWxkTrZu0gW"


def _multipart(domain: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """Built by hand: Django's test client truncates file names to 255 characters."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="domain"\r\n\r\n{domain}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def test_a_thousand_character_file_name_is_a_400_naming_the_limit(owner_client, domain):
    body, content_type = _multipart(domain.slug, "n" * 1000 + ".txt", b"A short note about proteins.")
    response = owner_client.post("/api/v1/documents", data=body, content_type=content_type)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "file_name_too_long"
    assert "1,024 bytes" in error["message"] and "900 bytes" in error["message"]
    assert "Multipart form parse error" not in error["message"]
    assert not Document.objects.filter(domain=domain).exists()


def test_a_long_file_name_under_the_limit_is_accepted_with_a_shortened_title(owner_client, domain):
    body, content_type = _multipart(domain.slug, "n" * 800 + ".txt", b"A short note about proteins.")
    response = owner_client.post("/api/v1/documents", data=body, content_type=content_type)
    assert response.status_code in (201, 202), response.content[:300]
    assert len(Document.objects.get(domain=domain).title) <= 300


def _with_parts(docx: bytes, extra: dict[str, bytes], content_types_extra: bytes = b"") -> bytes:
    source = zipfile.ZipFile(io.BytesIO(docx))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml" and content_types_extra:
                data = data.replace(b"</Types>", content_types_extra + b"</Types>")
            out.writestr(info.filename, data)
        for name, data in extra.items():
            out.writestr(name, data)
    return buffer.getvalue()


VBA_OVERRIDE = b'<Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/>'
MACRO_MAIN = (
    b'<Override PartName="/word/settings2.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/>'
)


@pytest.mark.parametrize(
    ("extra", "content_types"),
    [
        ({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512}, VBA_OVERRIDE),
        ({"word/VBAPROJECT.BIN": b"\xd0\xcf\x11\xe0" + b"\0" * 64}, b""),
        ({}, MACRO_MAIN),
    ],
    ids=["vba-part-and-type", "vba-part-only", "macro-enabled-type-only"],
)
def test_a_docx_carrying_a_vba_macro_is_refused_with_a_plain_message(
    owner_client, domain, upload, extra, content_types
):
    data = _with_parts(make_docx(["Quarterly figures."]), extra, content_types)
    with pytest.raises(PermanentError) as refused:
        check_archive(data)
    assert refused.value.code == "macro_enabled"
    response = owner_client.post(
        "/api/v1/documents", {"domain": domain.slug, "file": upload("report.docx", data)}, format="multipart"
    )
    assert response.status_code == 415, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "macro_enabled" and "macros" in error["message"]
    assert not Document.objects.filter(domain=domain).exists()


def test_a_plain_docx_is_still_accepted(owner_client, domain, upload):
    data = make_docx(["Quarterly figures."])
    check_archive(data)
    response = owner_client.post(
        "/api/v1/documents", {"domain": domain.slug, "file": upload("report.docx", data)}, format="multipart"
    )
    assert response.status_code in (201, 202), response.content[:300]
