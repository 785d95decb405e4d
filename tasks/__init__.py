"""Celery task modules. Each task is a thin interface over a service: it takes ids."""
from tasks import projections  # noqa: F401
