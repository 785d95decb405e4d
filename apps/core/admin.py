"""Admin building blocks shared by every app, free of any feature app.

``ReadOnlyAdmin`` and ``ReadOnlyInline`` show rows the pipeline writes (versions,
chunks, runs, provenance) without letting anyone add, change or delete them. Domain
scoping by membership role is ``apps.domains.scoped_admin.DomainScopedAdmin``; a
read-only, domain-scoped admin lists ``ReadOnlyAdmin`` first:
``class ChunkAdmin(ReadOnlyAdmin, DomainScopedAdmin)``.
"""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from apps.core.models import ProjectionDelete


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        # Rows belong to the parent object, whose page is already scoped by domain.
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProjectionDelete)
class ProjectionDeleteAdmin(ReadOnlyAdmin):
    """The deletes Neo4j/Weaviate still owe (apps.core.projection_outbox), with their last error."""

    list_display = ("id", "domain_id", "version_id", "attempts", "next_attempt_at", "created_at")
    list_filter = ("attempts",)
    search_fields = ("last_error",)
    ordering = ("next_attempt_at", "id")
