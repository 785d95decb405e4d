"""The knowledge graph's source of truth: entities, relations and their provenance.

Neo4j (when configured) is a projection of these rows. Every mention and every piece
of relation evidence points at a chunk, hence at one document version: deleting or
replacing a version removes exactly its share, and entities or relations left with
no provenance are removed with it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.documents.models import Chunk, DocumentVersion
from apps.domains.models import Domain


class EntityType(models.TextChoices):
    PERSON = "person", "Person"
    ORGANIZATION = "organization", "Organization"
    LOCATION = "location", "Location"
    TECHNOLOGY = "technology", "Technology"
    PRODUCT = "product", "Product"
    EVENT = "event", "Event"
    CONCEPT = "concept", "Concept"
    WORK = "work", "Work (book, film, album...)"
    LAW = "law", "Law"
    GROUP = "group", "Group (nationality, religion, party)"
    LANGUAGE = "language", "Language"
    OTHER = "other", "Other"


#: Types whose entities stay apart from a same-named entity of another such type ("Jordan"
#: the person, the country); entity keys carry them (apps.search.graph_update.entity_key).
NAMED_TYPES = ("person", "organization", "location")


class RelationType(models.TextChoices):
    RELATED_TO = "related_to", "related to"
    PART_OF = "part_of", "part of"
    USES = "uses", "uses"
    LOCATED_IN = "located_in", "located in"
    WORKS_FOR = "works_for", "works for"
    CREATED_BY = "created_by", "created by"
    INSTANCE_OF = "instance_of", "instance of"
    CAUSES = "causes", "causes"
    FOUNDED_BY = "founded_by", "founded by"
    BORN_IN = "born_in", "born in"
    # A verb the vocabulary has no word for; the relation's predicate holds its lemma.
    ACTS_ON = "acts_on", "acts on (see predicate)"


class Entity(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="entities")
    # Normalized key (casefolded, punctuation-free, singular), prefixed by the type for the
    # named types ("person:jordan", "location:jordan"): the identity within a domain.
    key = models.CharField(max_length=220)
    name = models.CharField(max_length=200, help_text="Display name: the most frequent surface form.")
    type = models.CharField(max_length=20, choices=EntityType.choices, default=EntityType.CONCEPT)
    description = models.TextField(blank=True)
    aliases = models.JSONField(default=list, blank=True)
    # Set when an editor merged this entity into another; kept so the merge can be undone.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from")
    mention_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["mention_count", "updated_at"])

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["domain", "name"]
        constraints = [models.UniqueConstraint(fields=["domain", "key"], name="entity_unique_domain_key")]
        indexes = [models.Index(fields=["domain", "type"]), models.Index(fields=["domain", "name"])]

    def __str__(self) -> str:
        return self.name


class Mention(models.Model):
    """Entity ↔ chunk provenance: where in which chunk an entity was found."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="mentions")
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="mentions")
    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="+")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    surface = models.CharField(max_length=200)
    start = models.PositiveIntegerField(help_text="Offset within the chunk's text.")
    end = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "chunk", "start"], name="mention_unique_position")]
        indexes = [models.Index(fields=["domain", "entity"]), models.Index(fields=["version"])]

    def __str__(self) -> str:
        return f"{self.surface} in chunk {self.chunk_id}"


class Relation(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="relations")
    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="incoming")
    type = models.CharField(max_length=20, choices=RelationType.choices, default=RelationType.RELATED_TO)
    # What the evidence said, below the type: a verb lemma ("discover"), "born in", "director of".
    predicate = models.CharField(max_length=60, blank=True, default="")
    # Number of evidence rows (recomputed whenever evidence changes).
    weight = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["domain", "source", "target", "type", "predicate"], name="relation_unique_edge"),
            models.CheckConstraint(condition=~models.Q(source=models.F("target")), name="relation_not_self"),
        ]
        indexes = [
            models.Index(fields=["domain", "source"]),
            models.Index(fields=["domain", "target"]),
            models.Index(fields=["domain", "type"]),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.get_type_display()} {self.target}"


class RelationEvidence(models.Model):
    relation = models.ForeignKey(Relation, on_delete=models.CASCADE, related_name="evidence")
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="+")
    snippet = models.TextField(blank=True)
    # Offsets of the snippet (the evidence sentence) within the chunk's text.
    start = models.PositiveIntegerField(default=0)
    end = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "relation evidence"
        constraints = [models.UniqueConstraint(fields=["relation", "chunk"], name="evidence_unique_chunk")]
        indexes = [models.Index(fields=["version"])]

    def __str__(self) -> str:
        return f"evidence of relation {self.relation_id} in chunk {self.chunk_id}"


class ExtractionCache(models.Model):
    """LLM extraction results keyed by (chunk hash, prompt version, model): never pay twice."""

    chunk_hash = models.CharField(max_length=64)
    prompt_version = models.CharField(max_length=20)
    model = models.CharField(max_length=200)
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk_hash", "prompt_version", "model"], name="extraction_cache_key")
        ]

    def __str__(self) -> str:
        return f"{self.model} / {self.prompt_version} / {self.chunk_hash[:12]}"


class EntityMerge(models.Model):
    """An editor's merge of one entity into another, with what it moved, so it can be undone."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="entity_merges")
    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="merges_as_source")
    target = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="merges_as_target")
    undo = models.JSONField(default=dict, help_text="Moved mentions, repointed and folded relations, evidence.")
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}"
