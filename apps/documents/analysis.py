"""The analysis step's body: bytes → type → parsed text → clean text → language → chunks.

``analyze_version`` is called by the pipeline's analysis task (at least once, maybe
more): it REPLACES the version's chunks in one transaction, so running it twice leaves
exactly one set. Bad input raises ``PermanentError`` with a message for the user; any
other exception is transient and the step is retried.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import get_valid_filename
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from apps.core import metrics
from apps.core.bulk import rows_update
from apps.documents.chunking import ChunkSpan, chunk_text
from apps.documents.errors import DuplicateContent, PermanentError
from apps.documents.fetch import fetch_url
from apps.documents.models import Chunk, Document, DocumentVersion
from apps.documents.parsers import ParsedDocument, parse, sniff
from apps.documents.parsers.sniff import EXTENSIONS, GENERIC_DECLARED
from apps.documents.parsers.text import clean_text
from apps.documents.parsers.types import DOCX, HTML, MARKDOWN, PDF, PLAIN
from apps.domains.services import domains_index_invalidate

logger = logging.getLogger(__name__)

# A "word" this long is encoded data (base64, minified code), not text anyone reads.
MAX_WORD_CHARS = 10_000
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD_CHARS},}}")
LANGUAGE_SAMPLE_CHARS = 600  # a few sentences decide reliably; the cost grows with the sample
LANGUAGE_MIN_PROBABILITY = 0.5  # below this (normalized over 97 languages) the text is too mixed to say


def max_document_bytes() -> int:
    return settings.MAX_UPLOAD_MB * 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def _language_identifier():
    """py3langid's model (97 languages, ~0.3 ms per sample), loaded once per process."""
    return LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """ISO 639-1 code, or "" when the text is too short or no language is likely enough. Deterministic."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < 20:
        return ""
    language, probability = _language_identifier().classify(sample)
    return language if probability >= LANGUAGE_MIN_PROBABILITY else ""


def assemble_text(parsed: ParsedDocument) -> tuple[str, list[tuple[int, int, int | None]] | None, int | None]:
    """(clean text, page sections or None, page count or None). Pages are joined by a blank line."""
    if parsed.pages is None:
        return clean_text(parsed.text), None, None
    parts: list[str] = []
    sections: list[tuple[int, int, int | None]] = []
    position = 0
    for number, page in enumerate(parsed.pages, start=1):
        cleaned = clean_text(page, dehyphenate=True)
        if not cleaned:
            continue
        if parts:
            position += 2
        sections.append((position, position + len(cleaned), number))
        parts.append(cleaned)
        position += len(cleaned)
    return "\n\n".join(parts), sections, len(parsed.pages)


def _check_readable(text: str) -> None:
    if not text.strip():
        raise PermanentError("The document contains no text.", code="no_text")
    match = _LONG_WORD.search(text)
    if match:
        raise PermanentError(
            f"The text has a run of {len(match.group())} characters without a space or line break; "
            "that is encoded data, not readable text.",
            code="not_text",
        )


def _fetch_into(version: DocumentVersion) -> tuple[bytes, str]:
    """Fetch a URL source, store it as the version's original, and refuse content already in the domain."""
    document = version.document
    fetched = fetch_url(
        document.source_url, max_bytes=max_document_bytes(), timeout=settings.FETCH_TIMEOUT_SECONDS,
        allow_private=settings.FETCH_ALLOW_PRIVATE,
    )
    if not fetched.content.strip():
        raise PermanentError("The URL returned an empty document.", code="empty")
    content_hash = sha256(fetched.content)
    _refuse_duplicate(version, content_hash)
    declared = fetched.content_type.split(";")[0].strip().lower()
    # A URL's path says little (/page.php, /article/123): trust the Content-Type, then a known extension.
    filename = fetched.filename if PurePosixPath(fetched.filename).suffix.lower() in EXTENSIONS else ""
    mime = sniff(fetched.content, filename=filename if declared in GENERIC_DECLARED else "", declared=declared)
    version.content_hash = content_hash
    version.size = len(fetched.content)
    version.mime = mime
    # The stored name's extension must say what the content is: reprocessing sniffs it again.
    name = PurePosixPath(fetched.filename or "document")
    if EXTENSIONS.get(name.suffix.lower()) != mime:
        name = PurePosixPath(f"{name.stem or 'document'}.{_suffix(mime)}")
    version.filename = get_valid_filename(str(name))[:300]
    version.original.save(version.filename, ContentFile(fetched.content), save=False)
    try:
        with transaction.atomic():
            version.save(update_fields=["content_hash", "size", "mime", "filename", "original"])
    except IntegrityError:
        version.original.delete(save=False)
        _refuse_duplicate(version, content_hash)
        raise
    return fetched.content, mime


def _suffix(mime: str) -> str:
    return {v: k for k, v in EXTENSIONS.items() if k in (".txt", ".md", ".html", ".pdf", ".docx")}[mime].lstrip(".")


def _refuse_duplicate(version: DocumentVersion, content_hash: str) -> None:
    existing = (
        DocumentVersion.objects.filter(domain_id=version.domain_id, content_hash=content_hash)
        .exclude(pk=version.pk).select_related("document").first()
    )
    if existing is not None:
        raise DuplicateContent(
            f"The same content is already in this domain as “{existing.document.title}”.",
            existing_document_id=existing.document_id,
        )


def _stored_bytes(version: DocumentVersion) -> bytes:
    with version.original.open("rb") as handle:
        return handle.read()


# Small documents parsed in this process are analysed many per delivery (see the engine's
# BATCHED); anything sandboxed (HTML, PDF, DOCX), fetched or large gets a delivery of its own,
# so a slow one cannot hold a batch past its time limit.
BATCH_MAX_BYTES = 1024 * 1024


def analysis_batchable(version: DocumentVersion) -> bool:
    return version.mime in (PLAIN, MARKDOWN) and 0 < version.size <= BATCH_MAX_BYTES


def analysis_joinable(contexts, room: int) -> tuple[Q, int] | None:
    """Which queued analysis steps may join a batch: small in-process documents only. One large
    PDF must not hold a batch past its time limit, so a batch that holds one takes no others."""
    if not all(analysis_batchable(ctx.version) for ctx in contexts):
        return None
    return Q(run__version__mime__in=(PLAIN, MARKDOWN), run__version__size__gt=0, run__version__size__lte=BATCH_MAX_BYTES), room


@dataclass
class Analysis:
    """One version analysed, not yet stored."""
    version: DocumentVersion
    text: str
    mime: str
    language: str
    page_count: int | None
    title: str
    chunks: list[Chunk]

    def summary(self) -> dict:
        return {"chunks": len(self.chunks), "chars": len(self.text), "pages": self.page_count or 0,
                "language": self.language, "mime": self.mime}


def parse_and_chunk(data: bytes, mime: str) -> tuple[ParsedDocument, str, list[ChunkSpan], int | None]:
    """(parsed document, clean text, chunk spans, page count) of bytes of a known type: the pure
    part of analysis, no rows written. PermanentError when the text is empty or not text."""
    parsed = parse(data, mime, timeout=settings.PARSER_TIMEOUT_SECONDS, memory_mb=settings.PARSER_MEMORY_MB)
    text, sections, page_count = assemble_text(parsed)
    _check_readable(text)
    return parsed, text, chunk_text(text, size=settings.CHUNK_CHARS, overlap=settings.CHUNK_OVERLAP_CHARS, sections=sections), page_count


def _analyze(version: DocumentVersion) -> Analysis:
    """Parse, clean, detect the language and chunk one version (nothing is written but a fetched original)."""
    if version.document.source == Document.Source.URL and not version.original:
        data, mime = _fetch_into(version)
    else:
        data = _stored_bytes(version)
        mime = sniff(data, filename=version.filename, declared=version.mime)
    parsed, text, spans, page_count = parse_and_chunk(data, mime)
    chunks = [
        Chunk(
            version=version, document_id=version.document_id, domain_id=version.domain_id, ordinal=ordinal,
            text=text[span.start : span.end], start=span.start, end=span.end, page=span.page,
            content_hash=sha256(text[span.start : span.end].encode()),
        )
        for ordinal, span in enumerate(spans)
    ]
    return Analysis(version=version, text=text, mime=mime, language=detect_language(text), page_count=page_count,
                    title=parsed.title, chunks=chunks)


PLACEHOLDER_TITLES = {"untitled", "untitled document", "document"}
TITLED_TYPES = {PDF, DOCX, HTML}  # formats that carry a title of their own (metadata, <title>)


def _own_title(analysis: Analysis) -> str:
    """The title the file gives itself (PDF ``/Title``, DOCX core properties, HTML ``<title>``), when
    the document's title is still the stand-in intake chose (the file name, the URL) and the file's
    is a real one; "" to keep the document's title.

    The uploader's own title is kept: intake uses the file name's stem only when none was given
    (``intake_prepare``), so a title that differs from it was typed by someone, at upload or since.
    """
    version, document = analysis.version, analysis.version.document
    if analysis.mime not in TITLED_TYPES and document.source != Document.Source.URL:
        return ""  # a text file's "title" is its first line: its file name says more
    title = " ".join(analysis.title.split())[:300]
    filename = PurePosixPath(version.filename or "")
    stand_ins = {"", document.source_url, document.source_url[:300], filename.stem, filename.name}
    if not title or document.title not in stand_ins or title == document.title:
        return ""
    if title.casefold() in PLACEHOLDER_TITLES or title in stand_ins:
        return ""
    return title


def _store(analyses: list[Analysis]) -> None:
    """Replace the chunks of the analysed versions and record what was found, in one transaction."""
    version_ids = [a.version.pk for a in analyses]
    with transaction.atomic():
        replaced = set(Chunk.objects.filter(version_id__in=version_ids).values_list("version_id", flat=True).distinct())
        if replaced:
            Chunk.objects.filter(version_id__in=replaced).delete()
            # Search caches keyed on the domain's index version must forget the old chunks.
            domains_index_invalidate({a.version.domain_id for a in analyses if a.version.pk in replaced})
        Chunk.objects.bulk_create([chunk for a in analyses for chunk in a.chunks], batch_size=1000)
        rows_update(
            DocumentVersion,
            {a.version.pk: {"text": a.text, "mime": a.mime, "language": a.language, "page_count": a.page_count} for a in analyses},
            ["text", "mime", "language", "page_count"],
        )
        for a in analyses:
            title = _own_title(a)
            if title:
                Document.objects.filter(pk=a.version.document_id).update(title=title)
    metrics.heysh_pipeline_items_written_total.labels(kind="chunks").inc(sum(len(a.chunks) for a in analyses))


def analyze_version(*, version_id: int) -> dict:
    """Parse, clean, detect the language and chunk one version; replace its chunks. Returns metrics."""
    version = DocumentVersion.objects.select_related("document").get(pk=version_id)
    analysis = _analyze(version)
    _store([analysis])
    logger.info("analysed version %s: %s, %d chars, %d chunks", version.pk, analysis.mime, len(analysis.text), len(analysis.chunks))
    return analysis.summary()


def analyze_step(contexts) -> dict[int, dict | Exception]:
    """The analysis step: each version is parsed on its own (a bad one fails alone), the chunks
    of all that succeeded are stored in one transaction."""
    outcomes: dict[int, dict | Exception] = {}
    analyses: dict[int, Analysis] = {}
    for ctx in contexts:
        try:
            analyses[ctx.pk] = _analyze(ctx.version)
        except Exception as exc:  # noqa: PERF203 (each document succeeds or fails on its own)
            outcomes[ctx.pk] = exc
        ctx.heartbeat()
    if analyses:
        _store(list(analyses.values()))
    for pk, analysis in analyses.items():
        outcomes[pk] = {**analysis.summary(), "batch": len(contexts)}
    logger.info("analysed %d versions (%d failed)", len(analyses), len(outcomes) - len(analyses))
    return outcomes
