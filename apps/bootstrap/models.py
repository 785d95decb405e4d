"""The domain bootstrap's models (docs/bootstrap.md).

One DomainBootstrap per domain; its steps are durable like the document pipeline's
(``apps.core.workflows``): claimed with a conditional UPDATE, leased, advanced in code,
swept when lost.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.workflows.models import DurableStep
from apps.domains.models import Domain


class DomainBootstrap(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        IN_REVIEW = "in_review", "In review"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"

    domain = models.OneToOneField(Domain, on_delete=models.CASCADE, related_name="bootstrap")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING, db_index=True)
    current_step = models.CharField(max_length=12, blank=True)
    topic_keywords = models.JSONField(default=list, blank=True)
    seed_sources = models.JSONField(default=list, blank=True, help_text="URLs and pasted texts given at creation.")
    # Fan-in counter of the knowledge-base step: documents expected / finished ready / finished failed.
    documents_expected = models.PositiveIntegerField(default=0)
    documents_done = models.PositiveIntegerField(default=0)
    documents_failed = models.PositiveIntegerField(default=0)
    generation_round = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # W3C traceparent of the request that created the domain: every step's span (and the runs
    # of the documents its research ingests) joins that trace.
    trace_parent = models.CharField(max_length=55, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "domain bootstrap"

    def __str__(self) -> str:
        return f"Bootstrap of {self.domain}"


class BootstrapStep(DurableStep):
    """One step of a domain's bootstrap; the engine (``apps.core.workflows``) drives it."""

    class Step(models.TextChoices):
        RESEARCH = "research", "Research"
        INGEST = "ingest", "Knowledge-base creation"
        GENERATE = "generate", "Content generation"
        ACTIVATE = "activate", "Activation"

    bootstrap = models.ForeignKey(DomainBootstrap, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=12, choices=Step.choices)
    output = models.JSONField(default=dict, blank=True)

    class Meta(DurableStep.Meta):
        ordering = ["bootstrap", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["bootstrap", "step"], name="bootstrapstep_unique_step")]

    def __str__(self) -> str:
        return f"{self.get_step_display()} of {self.bootstrap.domain}"


class ResearchCandidate(models.Model):
    class Kind(models.TextChoices):
        SEED_URL = "seed_url", "Seed URL"
        SEED_TEXT = "seed_text", "Seed text"
        SEED_UPLOAD = "seed_upload", "Seed upload"
        DOMAIN_DOCUMENT = "domain_document", "Document of another domain"
        SUGGESTED_TOPIC = "suggested_topic", "Suggested sub-topic"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not ingested"

    bootstrap = models.ForeignKey(DomainBootstrap, on_delete=models.CASCADE, related_name="candidates")
    # Deterministic identity within the bootstrap, so a re-run research step upserts.
    key = models.CharField(max_length=300)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=300)
    url = models.URLField(max_length=2000, blank=True)
    text = models.TextField(blank=True)
    source_document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The other domain's document this candidate copies.",
    )
    reason = models.TextField(help_text="Why the research step chose (or listed) it.")
    score = models.FloatField(default=0.0)
    chosen = models.BooleanField(default=True)
    document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The document created in the new domain.",
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bootstrap", "-chosen", "-score", "pk"]
        constraints = [models.UniqueConstraint(fields=["bootstrap", "key"], name="candidate_unique_key")]

    def __str__(self) -> str:
        return self.title


class GeneratedContent(models.Model):
    """One generated statement: a paragraph of the overview, a key entity, or an FAQ entry."""

    class Section(models.TextChoices):
        OVERVIEW = "overview", "Overview"
        ENTITY = "entity", "Key entity"
        FAQ = "faq", "FAQ"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"

    bootstrap = models.ForeignKey(DomainBootstrap, on_delete=models.CASCADE, related_name="contents")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="generated_contents")
    round = models.PositiveIntegerField(default=1)
    section = models.CharField(max_length=10, choices=Section.choices)
    ordinal = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=300, blank=True, help_text="Entity name or FAQ question.")
    body = models.TextField(help_text="The statement, description or answer.")
    citations = models.JSONField(
        default=list, blank=True,
        help_text='[{"document_id", "chunk_id", "start", "end", "quote"}] — offsets within the chunk.',
    )
    entity = models.ForeignKey("search.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    generator = models.CharField(max_length=20, default="extractive")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["bootstrap", "round", "section", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["bootstrap", "round", "section", "ordinal"], name="content_unique_position")
        ]
        verbose_name = "generated content"
        verbose_name_plural = "generated content"

    def __str__(self) -> str:
        return self.title or self.body[:80]


class ReviewDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REQUEST_CHANGES = "request_changes", "Changes requested"

    bootstrap = models.ForeignKey(DomainBootstrap, on_delete=models.CASCADE, related_name="decisions")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="review_decisions")
    round = models.PositiveIntegerField()
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} (round {self.round})"
