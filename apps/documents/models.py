"""Documents, their versions and chunks, and the durable workflow state (DESIGN §4, §6)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from apps.core.workflows.models import DurableStep
from apps.domains.models import Domain


def documents_storage():
    """The STORAGES["documents"] alias, resolved at use so settings decide (local or S3)."""
    return storages["documents"]


def original_upload_to(instance: DocumentVersion, filename: str) -> str:
    # Per-domain prefixes keep one domain's originals together (and deletable) in S3.
    return f"domains/{instance.domain_id}/documents/{instance.document_id}/v{instance.number}/{filename}"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Document(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        TEXT = "text", "Text"
        URL = "url", "URL"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=10, choices=Source.choices)
    source_url = models.URLField(max_length=2000, blank=True)
    current_version = models.ForeignKey(
        "DocumentVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING, db_index=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["domain", "status"])]

    def __str__(self) -> str:
        return self.title


class DocumentVersion(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    # Denormalized from the document so uniqueness and scoping need no join.
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    original = models.FileField(storage=documents_storage, upload_to=original_upload_to, max_length=500, blank=True)
    filename = models.CharField(max_length=300, blank=True)
    # SHA-256 of the original bytes; empty until a URL source has been fetched.
    content_hash = models.CharField(max_length=64, blank=True)
    mime = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    language = models.CharField(max_length=12, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True, help_text="Clean text the chunks' offsets refer to.")
    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="version_unique_number"),
            # Re-uploading identical content into a domain is detected, not processed twice.
            models.UniqueConstraint(
                fields=["domain", "content_hash"], condition=~Q(content_hash=""), name="version_unique_content_per_domain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"


class Chunk(models.Model):
    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="chunks")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    start = models.PositiveIntegerField(help_text="Offset of the first character in the version's text.")
    end = models.PositiveIntegerField(help_text="Offset after the last character in the version's text.")
    page = models.PositiveIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    # float32 little-endian bytes; the embedded vector store reads them into one matrix.
    embedding = models.BinaryField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["version", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["version", "ordinal"], name="chunk_unique_ordinal")]
        indexes = [models.Index(fields=["domain", "document"])]

    def __str__(self) -> str:
        return f"{self.version} #{self.ordinal}"


class ProcessingRun(models.Model):
    """The workflow history of one document version: one run, one row per step."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    version = models.OneToOneField(DocumentVersion, on_delete=models.CASCADE, related_name="run")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="runs")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # W3C traceparent of the request that (re)started the run: its steps' spans join that trace.
    trace_parent = models.CharField(max_length=55, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.version}"


class StepRun(DurableStep):
    """One step of a document's processing run; the engine (``apps.core.workflows``) drives it."""

    class Step(models.TextChoices):
        ANALYZE = "analyze", "Analysis"
        EXTRACT = "extract", "Knowledge extraction"
        GRAPH = "graph", "Graph update"
        INDEX = "index", "Vector indexing"
        NOTIFY = "notify", "Notification"

    run = models.ForeignKey(ProcessingRun, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=10, choices=Step.choices)
    metrics = models.JSONField(default=dict, blank=True)

    class Meta(DurableStep.Meta):
        ordering = ["run", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="steprun_unique_run_step")]

    def __str__(self) -> str:
        return f"{self.step} of run {self.run_id}"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="notifications")
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    run = models.ForeignKey(ProcessingRun, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A redelivered notify step must not notify twice.
            models.UniqueConstraint(fields=["user", "run", "kind"], condition=Q(run__isnull=False), name="notification_once_per_run"),
        ]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.title


class WebhookDelivery(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="webhook_deliveries")
    run = models.ForeignKey(ProcessingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries")
    event = models.CharField(max_length=40)
    url = models.URLField(max_length=2000)
    attempt = models.PositiveIntegerField(default=1)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.url} (attempt {self.attempt}, {'ok' if self.ok else 'failed'})"
