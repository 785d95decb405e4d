"""Admin building blocks shared by every app, free of any feature app.

``ReadOnlyAdmin`` and ``ReadOnlyInline`` show rows the pipeline writes (versions,
chunks, runs, provenance) without letting anyone add, change or delete them. Domain
scoping by membership role is ``apps.domains.scoped_admin.DomainScopedAdmin``; a
read-only, domain-scoped admin lists ``ReadOnlyAdmin`` first:
``class ChunkAdmin(ReadOnlyAdmin, DomainScopedAdmin)``.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin, TabularInline
from unfold.utils import display_for_label

from apps.core.models import ProjectionDelete


def status_label(value: str, text: str, colors: dict[str, str]) -> SafeString:
    """A status badge as HTML, the same in a changelist and in a read-only field of a change page.

    unfold's ``@display(label=...)`` only styles changelist cells; on a change page the
    read-only field would print the raw ``(value, text)`` tuple.
    """
    return display_for_label((value, text), "-", colors)


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


class StateAwareActionsMixin:
    """Detail actions (unfold's ``actions_detail``) shown only when they apply to the object's state.

    Permissions still decide who may run an action; ``detail_action_applies`` decides whether
    it makes sense now (Approve only in review, Undo merge only on a merged entity). A stale
    page that still posts an action gets the service's refusal as a message, not a 403.
    """

    def detail_action_applies(self, request, obj, action_name: str) -> bool:
        return True

    def get_actions_detail(self, request, object_id):
        actions = super().get_actions_detail(request, object_id)
        obj = self.get_object(request, object_id) if object_id else None
        if obj is None:
            return actions
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}_"  # unfold's action_name
        return [action for action in actions
                if self.detail_action_applies(request, obj, action.action_name.removeprefix(prefix))]
