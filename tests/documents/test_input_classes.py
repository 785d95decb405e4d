"""Inputs that used to be misjudged: text that starts like a binary magic number, UTF-16/32
text with a byte-order mark, and a PDF decompression bomb (a permanent error, not a retry)."""

from __future__ import annotations

import io
import zlib

import pytest
from pypdf import PdfWriter
from pypdf.generic import EncodedStreamObject, NameObject

from apps.documents.errors import PermanentError
from apps.documents.models import Document
from apps.documents.parsers.pdf import parse_pdf
from apps.documents.parsers.sniff import decode_text, sniff


@pytest.mark.parametrize("text", ["BMP receptors signal through SMAD proteins.", "GIF87a is an image format name.", "PK is a pharmacokinetics abbreviation."])
def test_text_that_starts_like_a_magic_number_is_text(text):
    assert sniff(text.encode("utf-8")) == "text/plain"


@pytest.mark.parametrize("codec", ["utf-16", "utf-32", "utf-16-be"])
def test_text_with_a_byte_order_mark_is_decoded(codec):
    data = "Grüße aus Köln — \u2603".encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    assert sniff(data) == "text/plain"
    assert decode_text(data) == "Grüße aus Köln — \u2603"


def test_a_real_binary_is_still_refused():
    with pytest.raises(PermanentError) as error:
        sniff(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, filename="photo.txt")
    assert "image/png" in error.value.message


def _bomb_pdf() -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    stream = EncodedStreamObject()
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    stream._data = zlib.compress(b" " * 90_000_000, 9)  # ~90 kB that expand past pypdf's 75 MB limit
    page.replace_contents(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_decompression_bomb_is_a_permanent_error_with_a_plain_message():
    with pytest.raises(PermanentError) as error:
        parse_pdf(_bomb_pdf())
    assert error.value.code == "too_large"
    assert "decompression bomb" in error.value.message and "Traceback" not in error.value.message


@pytest.mark.django_db
def test_utf16_text_goes_through_the_api(owner_client, domain):
    data = "\ufeffA note saved by a Windows editor.".encode("utf-16-le")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = owner_client.post(
        "/api/v1/documents", {"domain": domain.slug, "file": SimpleUploadedFile("note.txt", data, "text/plain")}, format="multipart"
    )
    assert response.status_code in (201, 202), response.content[:300]
    assert Document.objects.filter(domain=domain).count() == 1
