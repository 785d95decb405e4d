"""Run one parser in this process and print its result as JSON: the subprocess side of ``run_sandboxed``.

    python -m apps.documents.parsers.sandbox application/pdf < file.pdf

The parent sets the time and memory limits (RLIMIT_CPU, RLIMIT_AS) before exec and a
wall-clock timeout around it. This module imports no Django: it starts fast and a
hostile file can take nothing down with it but this process.
"""

from __future__ import annotations

import json
import sys

from apps.documents.errors import PermanentError

PARSERS = {
    "text/plain": ("apps.documents.parsers.text", "parse_plain"),
    "text/markdown": ("apps.documents.parsers.text", "parse_markdown"),
    "text/html": ("apps.documents.parsers.html", "parse_html"),
    "application/pdf": ("apps.documents.parsers.pdf", "parse_pdf"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("apps.documents.parsers.docx", "parse_docx"),
}


def _parser(mime: str):
    """Import only the parser needed: the subprocess pays for one library, not all of them."""
    import importlib

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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m apps.documents.parsers.sandbox MIME < document\n")
        return 2
    sys.setrecursionlimit(5000)
    outcome = run(argv[1], sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(outcome))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
