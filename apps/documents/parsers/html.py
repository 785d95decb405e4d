"""HTML: BeautifulSoup over lxml; scripts, styles and page furniture are dropped, text is kept."""

from __future__ import annotations

from bs4 import BeautifulSoup

from apps.documents.errors import PermanentError
from apps.documents.parsers.sniff import decode_text
from apps.documents.parsers.types import ParsedDocument

DROP = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "head", "form"]
BLOCKS = [
    "p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "li", "ul", "ol", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "tr", "br", "hr", "figure", "figcaption",
]


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
        # Block elements end a paragraph; inline ones (a, b, span...) flow with their text.
        for tag in soup.find_all(BLOCKS):
            tag.insert_before("\n\n")
            tag.insert_after("\n\n")
        text = soup.get_text("")
    except RecursionError:
        raise PermanentError("The HTML is nested too deeply to be read.", code="too_complex")
    if not title:
        heading = soup.find(["h1", "h2"])
        title = heading.get_text(" ", strip=True) if heading else ""
    return ParsedDocument(text=text, title=title)
