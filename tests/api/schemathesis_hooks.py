"""schemathesis hooks (schemathesis.toml names this module): how to make the document files the
schema asks for. Every ``format: binary`` string of this API is a document (PDF, DOCX, HTML,
Markdown or text, its content deciding; apps.documents.serializers.DOCUMENT_FILE_TYPES), and
schemathesis on its own sends image samples or random bytes, which intake rightly refuses (415)
although the schema allows any file.

Text types only: a PDF or Word file with real text in it is more than a strategy should build,
and the parsers have their own tests.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st
from schemathesis.transport.serialization import Binary

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=200).filter(str.strip)

schemathesis.openapi.format("binary", st.one_of(
    _words.map(lambda text: f"Note: {text}\n"),
    _words.map(lambda text: f"# Notes\n\n{text}\n"),
    _words.map(lambda text: f"<!doctype html><html><body><p>{text}</p></body></html>"),
).map(lambda text: Binary(text.encode())))
