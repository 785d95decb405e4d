"""Projection upkeep run by beat: reconcile Neo4j/Weaviate with PostgreSQL, apply owed deletes."""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded

from apps.core.projection_outbox import projection_deletes_drain
from apps.search.reconcile import reconcile_all
from heysh.celery import TIME_LIMITS, app

logger = logging.getLogger(__name__)


@app.task(
    name="tasks.projections.reconcile", soft_time_limit=TIME_LIMITS["storage"][0], time_limit=TIME_LIMITS["storage"][1]
)
def reconcile() -> dict[str, int]:
    """Every domain × every configured projection; drift beyond one run's batch is left for the next run."""
    try:
        reports = reconcile_all()
    except SoftTimeLimitExceeded:
        logger.warning("projection reconciliation hit its time limit; the next run continues")
        return {"timed_out": 1}
    return {
        "domains": len({r.domain_id for r in reports}),
        "reprojected": sum(len(r.reprojected) for r in reports),
        "removed": sum(len(r.removed) for r in reports),
        "remaining": sum(r.remaining for r in reports),
    }


@app.task(
    name="tasks.projections.deletes_drain",
    soft_time_limit=TIME_LIMITS["storage"][0],
    time_limit=TIME_LIMITS["storage"][1],
)
def deletes_drain() -> dict[str, int]:
    """The projection outbox: deletes recorded with the rows' deletion, applied until none is owed."""
    try:
        return projection_deletes_drain()
    except SoftTimeLimitExceeded:
        logger.warning("draining projection deletes hit its time limit; the next run continues")
        return {"timed_out": 1}
