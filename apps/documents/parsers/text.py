"""Plain text, and the text clean-up every parser's output goes through. Plain text and Markdown
(``markdown.py``) are parsed in-process (fast path, no subprocess per document)."""

from __future__ import annotations

import re
import unicodedata

from apps.documents.parsers.sniff import decode_text
from apps.documents.parsers.types import ParsedDocument

_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_HYPHENATED = re.compile(r"(\w)-\n(\w)")


def clean_text(text: str, *, dehyphenate: bool = False) -> str:
    """Normalised, readable text: NFC, no invisible or control characters, tidy whitespace.

    Paragraph breaks (blank lines) are kept: chunking prefers to cut there.
    """
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    if dehyphenate:
        text = _HYPHENATED.sub(r"\1\2", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def first_line_title(text: str, limit: int = 120) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def parse_plain(data: bytes) -> ParsedDocument:
    text = decode_text(data)
    return ParsedDocument(text=text, title=first_line_title(text))
