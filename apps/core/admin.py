"""Admin building blocks shared by every app, free of any feature app.

``ReadOnlyAdmin`` and ``ReadOnlyInline`` show rows the pipeline writes (versions,
chunks, runs, provenance) without letting anyone add, change or delete them. Domain
scoping by membership role is ``apps.domains.scoped_admin.DomainScopedAdmin``; a
read-only, domain-scoped admin lists ``ReadOnlyAdmin`` first:
``class ChunkAdmin(ReadOnlyAdmin, DomainScopedAdmin)``.

``live`` marks a piece of a page that ``cms/live.js`` keeps up to date while something runs
(``LIVE_MEDIA`` loads it): the script polls the CMS's progress endpoint and puts the
new value in place, without a reload.

``ServiceDeleteAdmin`` routes the admin's deletes (the delete page and "Delete selected")
through a service, as the API does: ``class DocumentAdmin(ServiceDeleteAdmin, DomainScopedAdmin)``.
"""

from __future__ import annotations

import copy
import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy
from unfold.admin import ModelAdmin, TabularInline
from unfold.utils import display_for_label

from apps.core.exceptions import ServiceError
from apps.core.models import ProjectionDelete


def computed_once(method):
    """A read-only field computed once per object: unfold evaluates a callable field several
    times while rendering a change page (to learn its type, then for its contents), and a field
    that queries (a run timeline, a chunk count) would query each time."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self, obj):
        memo = obj.__dict__.setdefault("_admin_computed", {})
        if name not in memo:
            memo[name] = method(self, obj)
        return memo[name]

    return wrapper


def status_label(value: str, text: str, colors: dict[str, str]) -> SafeString:
    """A status badge as HTML, the same in a changelist and in a read-only field of a change page.

    unfold's ``@display(label=...)`` only styles changelist cells; on a change page the
    read-only field would print the raw ``(value, text)`` tuple.
    """
    return _label_html(str(value), str(text), tuple(sorted(colors.items())))


@functools.lru_cache(maxsize=512)
def _label_html(value: str, text: str, colors: tuple) -> SafeString:
    # One template render per distinct badge, not one per row (a list page or a progress poll shows many).
    return display_for_label((value, text), "-", dict(colors))


# The progress endpoint is the CMS's (heysh/urls.py): named here, resolved when a page renders.
LIVE_ENDPOINT = reverse_lazy("cms-live-progress")
LIVE_MEDIA = forms.Media(js=[forms.Script("cms/live.js", **{"data-endpoint": LIVE_ENDPOINT})], css={"all": ["cms/live.css"]})


def live(kind: str, pk: int, field: str, content, *, block: bool = False) -> SafeString:
    """``content`` wrapped so that ``cms/live.js`` replaces it with ``field`` of object ``pk`` of ``kind``
    (document, bootstrap) as the progress endpoint reports it; ``block`` for content holding blocks (a table)."""
    tag = "div" if block else "span"
    return format_html('<{} data-live-{}="{}" data-live-field="{}">{}</{}>', tag, kind, pk, field, content, tag)


class PrimaryKeyPagePaginator(Paginator):
    """A changelist page in two queries: the page's primary keys (no joins, so the database can walk
    an index and stop after one page), then those rows with their related rows.

    In one query SQLite joined every row of the domain (chunks to versions to documents) and
    sorted them all, text included, before keeping one page: 0.6 s at 20,000 chunks.
    """

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        return self._get_page(self.object_list.filter(pk__in=keys), number, self)


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceDeleteAdmin(ModelAdmin):
    """Deletes, single and bulk, through ``delete_through_service``, behind Django's confirmation pages.

    Django deletes with the ORM inside one transaction. The delete services own their
    transaction instead (the domain graph lock before any row lock, the projection outbox
    row, a retry after a race with a processing run), so the admin calls them as the API
    does: one object at a time, outside any enclosing transaction. The rows a service removes
    with an object (versions, chunks, runs, members) are its business: only the object's own
    delete permission counts, where Django would also ask the read-only admins of those rows
    (and refuse). A service refusal becomes an error message and deletes nothing of that object.
    """

    def delete_through_service(self, request, obj) -> None:
        raise NotImplementedError(f"{type(self).__name__} must say which service deletes a {self.opts.verbose_name}")

    def get_deleted_objects(self, objs, request):
        deleted, model_count, _, protected = super().get_deleted_objects(objs, request)
        refused = {self.opts.verbose_name for obj in objs if not self.has_delete_permission(request, obj)}
        return deleted, model_count, refused, protected

    def delete_view(self, request, object_id, extra_context=None):
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return super().delete_view(request, object_id, extra_context)
        # Django's own view (permission check, confirmation) without the transaction its public
        # wrapper opens around a POST: the service must be the outermost transaction.
        try:
            return self._delete_view(request, object_id, extra_context)
        except ServiceError as exc:
            obj = self.get_object(request, unquote(object_id))
            self.message_user(request, f"“{obj or object_id}” was not deleted: {exc.message}", messages.ERROR)
            change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
            return HttpResponseRedirect(reverse(change, args=[quote(object_id)], current_app=self.admin_site.name))

    def log_deletions(self, request, queryset):
        """Django logs before deleting; ``delete_model`` logs once the service has deleted,
        so a refused delete leaves no "deleted" entry."""
        return []

    def delete_model(self, request, obj):
        logged = copy.copy(obj)  # a service's ``obj.delete()`` clears ``obj.pk``; the log entry needs it
        self.delete_through_service(request, obj)
        super().log_deletions(request, [logged])

    def delete_queryset(self, request, queryset) -> tuple[int, list[str]]:
        """Each object through the service in its own transaction; returns (deleted, refusals)."""
        deleted, refusals = 0, []
        for obj in queryset:
            name = str(obj)
            if not self.has_delete_permission(request, obj):
                refusals.append(f"“{name}” was not deleted: you may not delete it.")
                continue
            try:
                self.delete_model(request, obj)
                deleted += 1
            except ServiceError as exc:
                refusals.append(f"“{name}” was not deleted: {exc.message}")
        return deleted, refusals

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:  # the site-wide action, already filtered by permission
            actions["delete_selected"] = self.get_action(type(self).delete_selected)
        return actions

    @admin.action(permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s"))
    def delete_selected(self, request, queryset):
        """Django's confirmation page; once confirmed, each object through the service."""
        if not request.POST.get("post"):
            return django_delete_selected(self, request, queryset)
        _, _, refused, protected = self.get_deleted_objects(queryset, request)
        if protected:
            return django_delete_selected(self, request, queryset)  # its "cannot delete" page lists them
        if refused:
            raise PermissionDenied
        deleted, refusals = self.delete_queryset(request, queryset)
        if deleted:
            plural = self.opts.verbose_name if deleted == 1 else self.opts.verbose_name_plural
            self.message_user(request, f"Deleted {deleted} {plural}.", messages.SUCCESS)
        for refusal in refusals:
            self.message_user(request, refusal, messages.ERROR)
        return None


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


class AdvancedAdminMixin:
    """Internals the pipeline writes (chunks, provenance): listed for superusers only.

    Editors still reach a row through the pages that cite it; the sidebar's "Advanced"
    group (``apps.cms.navigation``) and "All applications" show these to superusers.
    """

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser
