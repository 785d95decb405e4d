"""Markdown through markdown-it; raw HTML blocks are reduced to their text with BeautifulSoup."""

from __future__ import annotations

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt

from apps.documents.parsers.sniff import decode_text
from apps.documents.parsers.text import first_line_title
from apps.documents.parsers.types import ParsedDocument

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
