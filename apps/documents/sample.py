"""The bundled sample corpus: ten short documents about lighthouses (Markdown, text, HTML).

``ingest_sample_corpus`` puts them into a domain so search and the graph have something
to show on first start. It is idempotent: intake recognises identical content, so running
it again creates nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.core.files import File

from apps.documents.parsers.text import first_line_title
from apps.documents.services import document_create

SAMPLE_DIR = Path(__file__).resolve().parent / "fixtures" / "sample"
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def sample_files() -> list[Path]:
    return sorted(path for path in SAMPLE_DIR.iterdir() if path.is_file() and not path.name.startswith("."))


def sample_title(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        match = _HTML_TITLE.search(text)
        if match:
            return match.group(1).strip()
    return first_line_title(text) or path.stem


def ingest_sample_corpus(*, domain, user) -> dict[str, int]:
    """Ingest every sample file into ``domain``; returns {"created": n, "existing": n}."""
    counts = {"created": 0, "existing": 0}
    for path in sample_files():
        with path.open("rb") as handle:
            _, created = document_create(domain=domain, user=user, upload=File(handle, name=path.name), title=sample_title(path))
        counts["created" if created else "existing"] += 1
    return counts
