"""PDF through pypdf: one text per page, so every chunk can cite its page."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError, PdfStreamError

from apps.documents.errors import PermanentError
from apps.documents.parsers.types import ParsedDocument

MAX_PAGES = 5000


def parse_pdf(data: bytes) -> ParsedDocument:
    # pypdf reports every oddity of a damaged file as a warning; the result is what matters.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError, PdfReadError):
                opened = 0
            if not opened:
                raise PermanentError("The PDF is encrypted; upload an unencrypted copy.", code="encrypted")
        count = len(reader.pages)
        if count == 0:
            raise PermanentError("The PDF has no pages.", code="no_pages")
        if count > MAX_PAGES:
            raise PermanentError(f"The PDF has {count} pages; at most {MAX_PAGES} are accepted.", code="too_large")
        pages = []
        for page in reader.pages:
            try:
                # Decoded first on its own: extract_text swallows a stream over pypdf's decompression
                # limit (LimitReachedError, not caught here) and returns "", hiding a bomb behind "no text".
                page.get_contents()
                pages.append(page.extract_text() or "")
            except (PdfReadError, PdfStreamError, KeyError, ValueError, TypeError, AttributeError):
                # One damaged page must not cost the others.
                pages.append("")
        title = ""
        try:
            title = str((reader.metadata or {}).get("/Title") or "").strip()
        except (PdfReadError, KeyError, ValueError, TypeError):
            pass
    except PermanentError:
        raise
    except LimitReachedError:
        # A decompression bomb: retrying cannot help, so the document fails once, plainly.
        raise PermanentError(
            "The PDF expands to more data than pypdf's safety limits allow (a decompression bomb or a damaged stream).",
            code="too_large",
        )
    except FileNotDecryptedError:
        raise PermanentError("The PDF is encrypted; upload an unencrypted copy.", code="encrypted")
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, AttributeError, IndexError, EOFError) as exc:
        raise PermanentError(f"The PDF is damaged or truncated and cannot be read ({type(exc).__name__}).", code="corrupt")
    if not any(page.strip() for page in pages):
        raise PermanentError(
            "The PDF contains no extractable text (it may be scanned images; OCR is not supported).", code="no_text"
        )
    return ParsedDocument(pages=pages, title=title, metadata={"pages": count})
