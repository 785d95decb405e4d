"""Which parser reads which type, and one parse turned into a JSON-able outcome.

Used in-process (text and Markdown) and by the sandbox subprocess (``sandbox.py``). Each
parser module is imported only when its type is parsed; nothing here imports Django.
"""

from __future__ import annotations

import importlib

from apps.documents.errors import PermanentError

PARSERS = {
    "text/plain": ("apps.documents.parsers.text", "parse_plain"),
    "text/markdown": ("apps.documents.parsers.markdown", "parse_markdown"),
    "text/html": ("apps.documents.parsers.html", "parse_html"),
    "application/pdf": ("apps.documents.parsers.pdf", "parse_pdf"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("apps.documents.parsers.docx", "parse_docx"),
}


def _parser(mime: str):
    """Import only the parser needed: the subprocess pays for one library, not all of them."""
    if mime not in PARSERS:
        return None
    module, name = PARSERS[mime]
    return getattr(importlib.import_module(module), name)


def run(mime: str, data: bytes) -> dict:
    parser = _parser(mime)
    if parser is None:
        return {"ok": False, "code": "unsupported_type", "error": f"No parser for {mime}."}
    try:
        return {"ok": True, "result": parser(data).as_dict()}
    except PermanentError as exc:
        return {"ok": False, "code": exc.code, "error": exc.message}
    except MemoryError:
        return {"ok": False, "code": "too_complex", "error": "The document needs more memory to parse than is allowed."}
    except RecursionError:
        return {"ok": False, "code": "too_complex", "error": "The document is nested too deeply to be read."}
