"""Projection deletes that never fail the user's delete (DESIGN §4: the database is the truth).

Deleting a document or a domain deletes its rows first and records, in the same
transaction, what the projections must remove (``ProjectionDelete``). After commit a
drain is enqueued; beat drains as well (``projections: deletes``), so a projection that
is down catches up when it is back. A failed row is retried with backoff; a drain pass
stops at the first failure, since a projection that is down fails every row alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.backends import graph_stores, vector_stores
from apps.core.models import ProjectionDelete
from apps.core.workflows.engine import task_send

logger = logging.getLogger(__name__)

DRAIN_TASK = "tasks.projections.deletes_drain"
DRAIN_SCHEDULE_NAME = "projections: deletes"
MAX_BACKOFF_SECONDS = 900


def projection_deletes_record(*, domain_id: int, version_ids: Iterable[int] | None = None) -> list[ProjectionDelete]:
    """In the caller's transaction: the versions' shares (or, with None, the whole domain) are owed."""
    if version_ids is None:
        rows = [ProjectionDelete(domain_id=domain_id, version_id=None)]
    else:
        rows = [ProjectionDelete(domain_id=domain_id, version_id=v) for v in sorted(set(version_ids))]
    if not rows:
        return []
    created = ProjectionDelete.objects.bulk_create(rows)
    # Failure to enqueue (broker down) must not fail the delete: beat drains the rows anyway.
    transaction.on_commit(_enqueue_drain, robust=True)
    return created


def _enqueue_drain() -> None:
    task_send(DRAIN_TASK, [], queue="storage")


def _apply(row: ProjectionDelete) -> None:
    for handler in (graph_stores, vector_stores):
        for _, store in handler.configured():
            if row.version_id is None:
                store.delete_domain(domain_id=row.domain_id)
            else:
                store.delete_version(domain_id=row.domain_id, version_id=row.version_id)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 5 * 2 ** max(0, attempts - 1)))


def projection_deletes_drain(*, limit: int = 200) -> dict[str, int]:
    """Apply up to ``limit`` due deletes, oldest first; returns {"done", "failed", "pending"}."""
    done = failed = 0
    with transaction.atomic():
        # skip_locked: two drains at once share the work instead of repeating it.
        rows = list(
            ProjectionDelete.objects.select_for_update(skip_locked=True)
            .filter(next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at", "id")[:limit]
        )
        for row in rows:
            try:
                _apply(row)
            except Exception as exc:  # a projection down or refusing: retry later, never lose the row
                row.attempts += 1
                row.next_attempt_at = timezone.now() + _backoff(row.attempts)
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                row.save(update_fields=["attempts", "next_attempt_at", "last_error"])
                failed += 1
                logger.warning("projection delete postponed (%s, attempt %d): %s", row, row.attempts, row.last_error)
                break
            row.delete()
            done += 1
    pending = ProjectionDelete.objects.count()
    return {"done": done, "failed": failed, "pending": pending}
