"""What every parser returns; plain data so it crosses the sandbox boundary as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

PLAIN = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

SUPPORTED_MIMES = (PLAIN, MARKDOWN, HTML, PDF, DOCX)
TEXT_MIMES = (PLAIN, MARKDOWN, HTML)
# Parsed in a subprocess with time and memory limits; text and Markdown are parsed in-process.
SANDBOXED_MIMES = (HTML, PDF, DOCX)

LABELS = {PLAIN: "plain text", MARKDOWN: "Markdown", HTML: "HTML", PDF: "PDF", DOCX: "DOCX"}


@dataclass
class ParsedDocument:
    """Text as the parser found it. ``pages`` is set for paged formats (PDF): one string per page."""

    text: str = ""
    pages: list[str] | None = None
    title: str = ""
    metadata: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"text": self.text, "pages": self.pages, "title": self.title, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict) -> ParsedDocument:
        return cls(text=data.get("text") or "", pages=data.get("pages"), title=data.get("title") or "", metadata=data.get("metadata") or {})
