from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.workflows.models import DurableStep
from apps.domains.validators import validate_webhook_url


class Domain(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        BOOTSTRAPPING = "bootstrapping", "Bootstrapping"
        IN_REVIEW = "in_review", "In review"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    webhook_url = models.URLField(
        blank=True, validators=[validate_webhook_url],
        help_text="POSTed a signed JSON event when a document finishes (public addresses only, unless HEYSH_WEBHOOK_ALLOW_PRIVATE).",
    )
    webhook_secret = models.CharField(max_length=200, blank=True, help_text="HMAC-SHA256 key for the X-Heysh-Signature header.")
    # Bumped whenever chunks or embeddings of the domain change: per-process search caches
    # (vector matrix, keyword index) compare it to know they are stale.
    index_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["index_version", "updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["domain", "user"], name="membership_unique_domain_user")]
        ordering = ["domain", "user"]

    def __str__(self) -> str:
        return f"{self.user} · {self.domain} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.EDITOR)


class ApiKey(models.Model):
    """A service credential for one domain. Only a SHA-256 of the key is stored; the key is shown once."""

    class Role(models.TextChoices):
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the key, to find it without scanning.")
    key_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain", "name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


# --- Domain bootstrap workflow (docs/bootstrap.md) --------------------------------
# One DomainBootstrap per domain; its steps are durable like the document pipeline:
# claimed with a conditional UPDATE, leased, advanced in code, swept when lost.


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


class EntityMerge(models.Model):
    """An editor's merge of one entity into another, with what it moved, so it can be undone."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="entity_merges")
    source = models.ForeignKey("search.Entity", on_delete=models.CASCADE, related_name="merges_as_source")
    target = models.ForeignKey("search.Entity", on_delete=models.CASCADE, related_name="merges_as_target")
    undo = models.JSONField(default=dict, help_text="Moved mentions, repointed and folded relations, evidence.")
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}"
