"""Decide a document's type from its CONTENT, and check it agrees with its name.

The name (extension) or the declared Content-Type says which parser the user expects;
the bytes say what the file is. Both must agree: a PNG renamed ``.pdf`` or a binary
renamed ``.txt`` is refused with a reason, before anything is queued.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePosixPath

import filetype

from apps.documents.errors import PermanentError
from apps.documents.parsers.types import DOCX, HTML, LABELS, MARKDOWN, PDF, PLAIN

SUPPORTED_HINT = "Supported types: PDF, DOCX, HTML, Markdown and plain text (UTF-8)."

EXTENSIONS = {
    ".txt": PLAIN, ".text": PLAIN, ".md": MARKDOWN, ".markdown": MARKDOWN, ".html": HTML, ".htm": HTML,
    ".xhtml": HTML, ".pdf": PDF, ".docx": DOCX,
}
DECLARED = {
    "text/plain": PLAIN, "text/markdown": MARKDOWN, "text/x-markdown": MARKDOWN, "text/html": HTML,
    "application/xhtml+xml": HTML, "application/pdf": PDF, DOCX: DOCX,
}
# Declared types that say nothing about the content.
GENERIC_DECLARED = {"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"}

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Longest first: the UTF-32 little-endian mark begins with the UTF-16 one.
_BOM_CODECS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOMS = tuple(bom for bom, _ in _BOM_CODECS) + (codecs.BOM_UTF8,)


def _family(mime: str) -> str:
    return "text" if mime in (PLAIN, MARKDOWN, HTML) else mime


def _describe(kind) -> str:
    return f"{kind.mime} (.{kind.extension})"


def _looks_like_text(data: bytes) -> bool:
    """Whether the first bytes read as text: text is sniffed as text before two-byte magic
    numbers are trusted, so an abstract starting "BMP receptor…" is not a BMP image."""
    if data.startswith(_BOMS):
        return True
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return len(_CONTROL.findall(text)) <= max(8, len(text) // 100)


def _binary_type(data: bytes, *, named: str) -> str | None:
    """PDF, DOCX, or None for text; any other recognised binary type is refused here."""
    if data.lstrip()[:5] == b"%PDF-":
        return PDF
    if _looks_like_text(data):
        return None
    kind = filetype.guess(data[:8192])
    if kind is None:
        if data[:4] == b"PK\x03\x04":
            return _zip_type(data)
        return None
    if kind.mime == PDF:
        return PDF
    if kind.mime in (DOCX, "application/zip"):
        return _zip_type(data)
    raise PermanentError(
        f"Unsupported file type: {named}its content is {_describe(kind)}. {SUPPORTED_HINT}", code="unsupported_type"
    )


def _zip_type(data: bytes) -> str:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise PermanentError("The file is a damaged ZIP archive and cannot be read.", code="unsupported_type")
    if "word/document.xml" in names:
        return DOCX
    raise PermanentError(
        f"Unsupported file type: the content is a ZIP archive, not a Word document. {SUPPORTED_HINT}",
        code="unsupported_type",
    )


def decode_text(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed), or UTF-16/UTF-32 announced by their byte-order mark,
    with no NUL or other binary control characters."""
    for bom, codec in _BOM_CODECS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(codec)
            except UnicodeDecodeError as exc:
                raise PermanentError(
                    f"The text starts with a {codec.upper()} byte-order mark but is not valid {codec.upper()} "
                    f"(invalid data at byte {exc.start + len(bom)}).", code="invalid_encoding",
                )
            return _checked_text(text)
    if b"\x00" in data:
        raise PermanentError(
            "The file contains NUL bytes: it is binary data, not a text document.", code="unsupported_type"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PermanentError(
            f"The text is not valid UTF-8 (invalid byte at position {exc.start}); save it as UTF-8 and upload it again.",
            code="invalid_encoding",
        )
    return _checked_text(text)


def _checked_text(text: str) -> str:
    if "\x00" in text:
        raise PermanentError("The text contains NUL characters: it is binary data, not a text document.", code="unsupported_type")
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise PermanentError(
            "The file contains binary control characters: it is not a text document.", code="unsupported_type"
        )
    return text


def _text_type(data: bytes) -> str:
    return HTML if _HTML_START.match(data[:4096]) else PLAIN


def expected_type(*, filename: str = "", declared: str = "") -> str | None:
    """The type the name or the declared Content-Type asks for (None: no opinion)."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix:
        if suffix not in EXTENSIONS:
            raise PermanentError(f"Unsupported file extension “{suffix}”. {SUPPORTED_HINT}", code="unsupported_type")
        return EXTENSIONS[suffix]
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in GENERIC_DECLARED:
        return None
    if declared not in DECLARED:
        raise PermanentError(f"Unsupported content type “{declared}”. {SUPPORTED_HINT}", code="unsupported_type")
    return DECLARED[declared]


def sniff(data: bytes, *, filename: str = "", declared: str = "") -> str:
    """The MIME type to parse ``data`` as, or PermanentError saying why it cannot be."""
    if not data or not data.strip():
        raise PermanentError("The file is empty.", code="empty")
    expected = expected_type(filename=filename, declared=declared)
    named = f"the file is named “{filename}” but " if filename else ""
    actual = _binary_type(data, named=named)
    if actual is None:
        try:
            decode_text(data)
        except PermanentError as exc:
            # Web pages may declare another charset (<meta charset>); the HTML parser honours it.
            if exc.code != "invalid_encoding" or not _HTML_START.match(data[:4096]):
                raise
        actual = _text_type(data)
    if expected is None:
        return actual
    if _family(expected) != _family(actual):
        name = f"named “{filename}”" if filename else f"declared as {declared}"
        raise PermanentError(
            f"The file is {name} ({LABELS[expected]}) but its content is {LABELS[actual]}; the type must match the content.",
            code="type_mismatch",
        )
    # Within text the name picks the parser: .md is Markdown even when it holds some HTML.
    return expected
