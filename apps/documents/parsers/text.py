"""Plain text and Markdown: parsed in-process (fast path, no subprocess per document)."""

from __future__ import annotations

import re
import unicodedata

from markdown_it import MarkdownIt

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


_markdown = MarkdownIt("commonmark")


def _inline_text(token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return "".join(parts)


def _html_fragment_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text(" ")


def parse_markdown(data: bytes) -> ParsedDocument:
    """Markdown rendered to its reading text: one block per paragraph, heading, list item or code block."""
    source = decode_text(data)
    blocks: list[str] = []
    title = ""
    in_heading = False
    for token in _markdown.parse(source):
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline":
            content = _inline_text(token)
            if in_heading and not title:
                title = content.strip()
            blocks.append(content)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content)
        elif token.type == "html_block":
            blocks.append(_html_fragment_text(token.content))
    text = "\n\n".join(block.strip() for block in blocks if block.strip())
    return ParsedDocument(text=text, title=title or first_line_title(text))
