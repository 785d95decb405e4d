"""Fixtures of the operations tests."""

from tests.workers import celery_workers  # noqa: F401  (real Celery worker processes, for the tracing test)
