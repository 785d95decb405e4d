"""HTML: BeautifulSoup over lxml; scripts, styles and page furniture are dropped, text is kept."""

from __future__ import annotations

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from apps.documents.errors import PermanentError
from apps.documents.parsers.sniff import decode_text
from apps.documents.parsers.types import ParsedDocument

DROP = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "head", "form"]
BLOCKS = [
    "p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "li", "ul", "ol", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "tr", "br", "hr", "figure", "figcaption",
]


def _reading_text(soup: BeautifulSoup) -> str:
    """Text in document order; block elements start a paragraph, inline ones (a, b, span) flow.

    One pass over the tree, no tree edits: a deeply nested page stays linear in its size.
    """
    blocks = set(BLOCKS)
    parts: list[str] = []
    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in blocks:
                parts.append("\n\n")
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            previous = node.previous_sibling
            if isinstance(previous, Tag) and previous.name in blocks:
                parts.append("\n\n")
            parts.append(str(node))
    return "".join(parts)


def parse_html(data: bytes) -> ParsedDocument:
    try:
        markup = decode_text(data)
    except PermanentError:
        # Web pages declare their charset; let the parser find it.
        markup = data
    try:
        soup = BeautifulSoup(markup, "lxml")
        title = soup.title.get_text(" ", strip=True) if soup.title else ""
        for tag in soup(DROP):
            tag.decompose()
        text = _reading_text(soup)
        if not title:
            heading = soup.find(["h1", "h2"])
            title = heading.get_text(" ", strip=True) if heading else ""
    except RecursionError:
        raise PermanentError("The HTML is nested too deeply to be read.", code="too_complex")
    return ParsedDocument(text=text, title=title[:300])
