"""schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks``): how to make files of
the types the schema's multipart ``encoding`` names for documents (apps.documents.serializers
DOCUMENT_FILE_TYPES). schemathesis knows only image samples; without these it sends random bytes
or a PNG, which intake rightly refuses (415) although the schema allows it.

Text types only: a PDF or Word file with real text in it is more than a strategy should build,
and the pipeline's parsers have their own tests.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=200).filter(str.strip)

schemathesis.openapi.media_type("text/plain", _words.map(lambda text: f"Note: {text}\n".encode()))
schemathesis.openapi.media_type("text/markdown", _words.map(lambda text: f"# Notes\n\n{text}\n".encode()))
schemathesis.openapi.media_type(
    "text/html", _words.map(lambda text: f"<!doctype html><html><body><p>{text}</p></body></html>".encode())
)
