"""Admin for the knowledge graph: entities, relations and their provenance.

Entities and relations are curated by editors (name, type, description, aliases);
provenance — mentions, relation evidence, the extraction cache — is written only by
the pipeline and shown read-only. Actions and extra views go on ``EntityAdmin``
(``actions``, ``get_urls``); the citation helpers below are shared by the inlines.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from apps.core.admin import AdvancedAdminMixin, ReadOnlyAdmin, ReadOnlyInline, StateAwareActionsMixin
from apps.core.admin_widgets import StringListField, StringListWidget
from apps.domains.scoped_admin import DomainScopedAdmin
from apps.search.admin_actions import EntityCurationMixin
from apps.search.models import Entity, ExtractionCache, Mention, Relation, RelationEvidence

# A citation shows the chunk's text and its version's number, never the embedding or the whole document.
CITED_CHUNK_DEFER = ("chunk__embedding", "chunk__version__text")


def _admin_link(obj, label: str) -> str:
    try:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


def chunk_citation(chunk) -> str:
    """'Title v2 · chunk #3 · p. 4 · chars 120–480' linking to the document when its admin is registered."""
    document = chunk.document
    parts = [f"v{chunk.version.number}", f"chunk #{chunk.ordinal}"]
    if chunk.page:
        parts.append(f"p. {chunk.page}")
    parts.append(f"chars {chunk.start}–{chunk.end}")
    return format_html("{} · {}", _admin_link(document, document.title), " · ".join(parts))


class MentionInline(ReadOnlyInline):
    model = Mention
    fields = ["surface", "citation", "context"]
    readonly_fields = fields
    verbose_name_plural = "mentions (provenance)"
    per_page = 20  # an entity of a large domain has thousands of mentions: a page at a time

    def get_queryset(self, request):
        return (super().get_queryset(request).select_related("chunk__document", "chunk__version").defer(*CITED_CHUNK_DEFER)
                .order_by("chunk__document_id", "chunk__ordinal", "start"))

    @admin.display(description="where")
    def citation(self, obj):
        return chunk_citation(obj.chunk)

    @admin.display(description="context")
    def context(self, obj):
        text = obj.chunk.text
        lo, hi = max(0, obj.start - 60), min(len(text), obj.end + 60)
        return format_html("…{}<mark>{}</mark>{}…", text[lo : obj.start], text[obj.start : obj.end], text[obj.end : hi])


class RelationEvidenceInline(ReadOnlyInline):
    model = RelationEvidence
    fields = ["citation", "snippet"]
    readonly_fields = fields
    verbose_name_plural = "evidence"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("chunk__document", "chunk__version").defer(*CITED_CHUNK_DEFER)

    @admin.display(description="where")
    def citation(self, obj):
        return chunk_citation(obj.chunk)


class EntityForm(forms.ModelForm):
    """Aliases as one input per alias (stored as the same JSON list of strings as before)."""

    aliases = StringListField(max_length=200, widget=StringListWidget(add_label="Add alias"),
                              help_text="Other names of this entity; each once.")

    class Meta:
        model = Entity
        fields = ["domain", "name", "type", "description", "aliases"]


@admin.register(Entity)
class EntityAdmin(EntityCurationMixin, StateAwareActionsMixin, DomainScopedAdmin):
    form = EntityForm
    list_display = ["name", "type", "domain", "mention_count", "merged_into"]
    list_filter = ["type", "domain", ("merged_into", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key", "description"]
    list_select_related = ["domain", "merged_into"]
    ordering = ["domain", "-mention_count", "name"]
    fields = ["domain", "name", "key", "type", "description", "aliases", "merged_into", "mention_count", "created_at", "updated_at"]
    readonly_fields = ["key", "merged_into", "mention_count", "created_at", "updated_at"]
    inlines = [MentionInline]
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        # The domain of an existing entity never changes (its mentions live there).
        return [*self.readonly_fields, "domain"] if obj is not None else self.readonly_fields


@admin.register(Relation)
class RelationAdmin(DomainScopedAdmin):
    list_display = ["source", "type", "target", "weight", "domain"]
    list_filter = ["type", "domain"]
    search_fields = ["source__name", "target__name"]
    list_select_related = ["source", "target", "domain"]
    fields = ["domain", "source", "type", "target", "weight", "created_at"]
    readonly_fields = ["domain", "source", "target", "weight", "created_at"]
    inlines = [RelationEvidenceInline]
    ordering = ["domain", "-weight"]

    def has_add_permission(self, request):
        return False  # relations come from extraction, with evidence


@admin.register(Mention)
class MentionAdmin(AdvancedAdminMixin, ReadOnlyAdmin, DomainScopedAdmin):
    list_display = ["surface", "entity", "citation", "domain"]
    list_filter = ["domain", "entity__type"]
    search_fields = ["surface", "entity__name"]
    list_select_related = ["entity", "domain", "chunk__document", "chunk__version"]

    def get_queryset(self, request):
        # Selecting related rows here replaces the changelist's list_select_related: name them all.
        # A citation needs no chunk text.
        return (super().get_queryset(request).select_related(*self.list_select_related)
                .defer(*CITED_CHUNK_DEFER, "chunk__text"))

    @admin.display(description="where")
    def citation(self, obj):
        return chunk_citation(obj.chunk)


@admin.register(RelationEvidence)
class RelationEvidenceAdmin(AdvancedAdminMixin, ReadOnlyAdmin, DomainScopedAdmin):
    domain_field = "relation__domain"
    list_display = ["relation", "citation", "snippet"]
    list_filter = ["relation__type", "relation__domain"]
    search_fields = ["snippet", "relation__source__name", "relation__target__name"]
    list_select_related = ["relation__source", "relation__target", "chunk__document", "chunk__version"]

    def get_queryset(self, request):
        return (super().get_queryset(request).select_related(*self.list_select_related)
                .defer(*CITED_CHUNK_DEFER, "chunk__text"))

    @admin.display(description="where")
    def citation(self, obj):
        return chunk_citation(obj.chunk)


@admin.register(ExtractionCache)
class ExtractionCacheAdmin(ReadOnlyAdmin):
    """Keyed by content hash, not by domain: shared across domains, so only superusers see it."""

    list_display = ["chunk_hash", "model", "prompt_version", "created_at"]
    list_filter = ["model", "prompt_version"]
    search_fields = ["chunk_hash"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser
