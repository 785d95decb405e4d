"""The platform's own rows: the projection delete outbox."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ProjectionDelete(models.Model):
    """A delete the projections (Neo4j, Weaviate) still owe the database: one document version's
    share, or a whole domain (``version_id`` empty). Written in the transaction that deletes the
    rows, drained after commit and by beat until every configured projection has done it."""

    domain_id = models.BigIntegerField()
    version_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["next_attempt_at", "id"])]

    def __str__(self) -> str:
        target = f"version {self.version_id}" if self.version_id is not None else "the whole domain"
        return f"projection delete of {target} in domain {self.domain_id}"
