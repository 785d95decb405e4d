"""Open the search indexes when a web process starts, not at its first search.

/ready opens every domain's indexes, but only in the process that answers the probe; under
gunicorn the other workers would open theirs inside their first search request — at a million
chunks that is a read of ~2 GB of index files (docs/search.md, "Reads"). heysh/wsgi.py starts
this in a daemon thread beside the embedder warm-up, in every worker.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connections

from apps.search.backends.vectors.embedded import vector_index_check
from apps.search.engines.keyword import keyword_index_check

logger = logging.getLogger(__name__)


def search_indexes_open() -> dict[str, str]:
    """Open the keyword and vector indexes of every domain in this process; engine → outcome.

    A failure is logged and returned, never raised: readiness reports it, and reconcile or
    ``rebuild_projections`` repairs it."""
    outcome = {}
    for engine, check in (("keyword", keyword_index_check), ("vectors", vector_index_check)):
        started = time.perf_counter()
        try:
            outcome[engine] = check()
            logger.info("search index %s open in %.1f s: %s", engine, time.perf_counter() - started, outcome[engine])
        except Exception as exc:
            outcome[engine] = f"failed: {type(exc).__name__}: {exc}"[:300]
            logger.warning("search index %s did not open at start: %s", engine, outcome[engine])
    return outcome


def _open_and_close_connection() -> None:
    try:
        search_indexes_open()
    finally:
        connections.close_all()  # this thread's own connections (they are per thread)


def search_indexes_open_in_background() -> threading.Thread:
    """``search_indexes_open`` in a daemon thread; returns at once (with the thread, for tests)."""
    thread = threading.Thread(target=_open_and_close_connection, name="open-search-indexes", daemon=True)
    thread.start()
    return thread
