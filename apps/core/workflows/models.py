"""The abstract step row: everything the engine needs to claim, fence, lease and sweep a step."""

from __future__ import annotations

from django.db import models


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # not yet reached
    QUEUED = "queued", "Queued"  # message sent, not claimed
    RUNNING = "running", "Running"  # claimed, lease held
    WAITING = "waiting", "Waiting"  # lease released, waiting on something outside (a fan-in counter)
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # attempts exhausted or permanent error


class DurableStep(models.Model):
    """One step of one workflow instance. Concrete models add the parent foreign key, the
    ``step`` choices and the result field (named by the workflow's ``result_field``)."""

    Status = StepStatus

    ordinal = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING, db_index=True)
    attempt = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        # The sweep filters on both: expired leases, and queued steps whose message was lost.
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="%(app_label)s_%(class)s_lease"),
            models.Index(fields=["status", "queued_at"], name="%(app_label)s_%(class)s_queued"),
        ]
