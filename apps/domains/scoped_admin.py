"""Admin scoping by domain membership role, shared by every app's domain objects.

Superusers see everything. Other staff see only objects of domains they belong to;
viewers read, editors and owners write. Apps subclass ``DomainScopedAdmin`` and say
how an object reaches its domain with ``domain_field`` ("domain" by default).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP
from unfold.admin import ModelAdmin

from apps.core.admin import PrimaryKeyPagePaginator
from apps.core.history import HistoryAdminMixin
from apps.domains.access import readable_domains, writable_domains
from apps.domains.models import Domain


def request_memo(request, key: str, compute):
    """``compute()`` once per request: the admin asks every registered admin's permissions for the
    sidebar and the app list, and each asked the database the same question again."""
    memo = request.__dict__.setdefault("_domain_scope_memo", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


class ReadableDomainFilter(admin.RelatedFieldListFilter):
    """A domain filter offering only the domains the user may read, never every tenant's."""

    def field_choices(self, field, request, model_admin):
        return [(domain.pk, str(domain)) for domain in readable_domains(request.user).order_by("name").distinct()]


def _leads_to_domain(model, path: str) -> bool:
    try:
        for name in path.split(LOOKUP_SEP):
            field = model._meta.get_field(name)
            model = field.related_model
            if model is None:
                return False
    except FieldDoesNotExist:
        return False
    return model is Domain


class DomainScopedAdmin(HistoryAdminMixin, ModelAdmin):
    domain_field = "domain"
    paginator = PrimaryKeyPagePaginator
    # 50 rows a page: unfold renders a changelist row in about a millisecond of CPU, 100 rows doubled it.
    list_per_page = 50

    def get_list_filter(self, request):
        """Every list filter on a domain ("domain", "relation__domain") lists readable domains only."""
        return [
            (entry, ReadableDomainFilter) if isinstance(entry, str) and _leads_to_domain(self.model, entry) else entry
            for entry in super().get_list_filter(request)
        ]

    def _domain_filter(self, domains) -> dict:
        return {f"{self.domain_field}__in": domains}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # ``domain_id IN (subquery)`` along forward foreign keys never repeats a row: no DISTINCT,
        # which made the database sort every column of every row before counting a changelist.
        return queryset.filter(**self._domain_filter(readable_domains(request.user)))

    def _writable(self, request, obj) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return request_memo(request, "writes_any_domain", lambda: writable_domains(request.user).exists())
        return request_memo(request, f"writes:{obj._meta.label}:{obj.pk}", lambda: type(obj)._default_manager.filter(
            pk=obj.pk, **self._domain_filter(writable_domains(request.user))).exists())

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and (
            request.user.is_superuser or obj is None or request_memo(
                request, f"reads:{obj._meta.label}:{obj.pk}", lambda: self.get_queryset(request).filter(pk=obj.pk).exists())
        )

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff and self._writable(request, None)

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and self._writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Editors only pick domains (and their objects) they may write to."""
        if not request.user.is_superuser and db_field.related_model is Domain:
            kwargs["queryset"] = writable_domains(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
