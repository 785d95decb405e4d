"""DOCX through python-docx, after checking the ZIP container (``archive.check_archive``)."""

from __future__ import annotations

import io
import zipfile

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from apps.documents.errors import PermanentError
from apps.documents.parsers.archive import check_archive
from apps.documents.parsers.types import ParsedDocument


def _table_text(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            value = cell.text.strip()
            if value and (not cells or cells[-1] != value):  # merged cells repeat their text
                cells.append(value)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def parse_docx(data: bytes) -> ParsedDocument:
    check_archive(data)

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                blocks.append(item.text)
            elif isinstance(item, Table):
                blocks.extend(_table_text(item))
        title = (document.core_properties.title or "").strip()
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, AttributeError, TypeError) as exc:
        raise PermanentError(f"The DOCX file is damaged and cannot be read ({type(exc).__name__}).", code="corrupt")
    except SyntaxError as exc:  # lxml's XMLSyntaxError
        raise PermanentError(f"The DOCX file holds malformed XML and cannot be read ({type(exc).__name__}).", code="corrupt")
    text = "\n\n".join(block.strip() for block in blocks if block.strip())
    if not title:
        title = next((p.text.strip() for p in document.paragraphs if p.style is not None and p.style.name.startswith(("Title", "Heading")) and p.text.strip()), "")
    return ParsedDocument(text=text, title=title)
