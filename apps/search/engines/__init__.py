"""Persistent search engines of the embedded default, kept under ``SEARCH_INDEX_DIR``.

Derived data: the database stays the source of truth, and ``rebuild_projections`` or the
beat reconcile rebuilds them from it. Every process opens the same files; one writer at a
time across processes (``files.writer_lock``), any number of readers.
"""
