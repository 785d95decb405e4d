"""Celery task modules. Each task is a thin interface over a service: it takes ids."""
from tasks import bootstrap, diagnostics, projections, workflows  # noqa: F401
