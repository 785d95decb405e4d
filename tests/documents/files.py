"""Real small documents of every supported type, built with real libraries (pypdf, python-docx)."""

from __future__ import annotations

import io
import zipfile

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

HELVETICA = DictionaryObject(
    {
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    }
)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str], *, password: str | None = None, title: str | None = None) -> bytes:
    """A valid PDF with one page per string (lines split on \\n), drawn in Helvetica."""
    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): HELVETICA})})
        if text:
            operations = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
            operations += [f"({_pdf_escape(line)}) Tj T*" for line in text.split("\n")]
            operations.append("ET")
            stream = DecodedStreamObject()
            stream.set_data("\n".join(operations).encode("cp1252"))
            page.replace_contents(stream)
    if title:
        writer.add_metadata({"/Title": title})
    if password:
        writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(paragraphs: list[str], *, heading: str | None = None, table: list[list[str]] | None = None,
              title: str | None = None) -> bytes:
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    if heading:
        document.add_heading(heading, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_zip_bomb(*, uncompressed_mb: int = 20) -> bytes:
    """A ZIP shaped like a DOCX whose document.xml inflates ~1000:1 (zeros)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("word/document.xml", "w") as entry:
            block = b"\0" * (1024 * 1024)
            for _ in range(uncompressed_mb):
                entry.write(block)
    return buffer.getvalue()


# A 1x1 PNG: real image bytes for "wrong extension" cases.
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

MARKDOWN = b"""# Lighthouse optics

The **Fresnel lens** was invented by Augustin-Jean Fresnel in 1822.

- It is lighter than a solid lens.
- It let lighthouses be seen from far away.

```
beam = lamp * lens
```
"""

HTML = b"""<!DOCTYPE html>
<html><head><title>Harbour lights</title><style>body{color:red}</style>
<script>alert('steal cookies')</script></head>
<body><nav>Menu</nav><h1>Harbour lights</h1>
<p>The lighthouse at <b>Alexandria</b> guided ships for centuries.</p>
<div>Keepers trimmed the wicks every night.<script>document.write('injected')</script></div>
<noscript>Enable JavaScript</noscript>
</body></html>"""
