"""Admin for domains, memberships and API keys, plus the User/Group admin in the unfold theme.

Scoping follows the API: staff see the domains they belong to; owners and editors
change a domain; only owners manage its members and API keys or delete it. A domain is
deleted by ``services.domain_delete`` (the delete page and "Delete selected"), as by the API.
"""

from __future__ import annotations

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils.html import format_html
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from apps.core.admin import ServiceDeleteAdmin
from apps.domains import services
from apps.domains.access import owned_domains
from apps.domains.models import ApiKey, Domain, Membership
from apps.domains.scoped_admin import DomainScopedAdmin, request_memo

User = get_user_model()


def _owns(request, domain_id) -> bool:
    return request.user.is_superuser or owned_domains(request.user).filter(pk=domain_id).exists()


class OwnerManagedAdmin(DomainScopedAdmin):
    """Members and API keys: visible to every member, written by owners only."""

    def _writable(self, request, obj) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return request_memo(request, "owns_any_domain", lambda: owned_domains(request.user).exists())
        return _owns(request, obj.domain_id)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "domain" and not request.user.is_superuser:
            kwargs["queryset"] = owned_domains(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]

    def _may_manage(self, request, obj) -> bool:
        # obj is the domain; on the add page the creator becomes its owner.
        return obj is None or _owns(request, obj.pk)

    def has_add_permission(self, request, obj=None):
        return self._may_manage(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_manage(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_manage(request, obj)

    def has_view_permission(self, request, obj=None):
        return True  # the parent admin already decided the domain is visible


@admin.register(Domain)
class DomainAdmin(ServiceDeleteAdmin, DomainScopedAdmin):
    list_display = ["name", "slug", "status", "workspace_link", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    # The status belongs to the bootstrap workflow (bootstrapping → in review → active): shown, never edited.
    readonly_fields = ["status", "index_version", "created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "status"]}),
        ("Webhook", {"fields": ["webhook_url", "webhook_secret"]}),
        ("Bookkeeping", {"fields": ["index_version", "created_by", "created_at", "updated_at"]}),
    ]
    inlines = [MembershipInline]

    def _domain_filter(self, domains) -> dict:
        return {"pk__in": domains}

    @display(description="Workspace")
    def workspace_link(self, obj):
        # Named URL of the workspace page (registered by the bootstrap admin, a layer above).
        return format_html('<a class="text-primary-600" href="{}">Open</a>', reverse("admin:domain-workspace", args=[obj.slug]))

    def has_add_permission(self, request):
        # Anyone with admin access may start a domain; they become its owner.
        return request.user.is_active and request.user.is_staff

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return request.user.is_superuser or request_memo(request, "owns_any_domain",
                                                              lambda: owned_domains(request.user).exists())
        return _owns(request, obj.pk)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "slug"] if obj is not None else readonly

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None else self.prepopulated_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def delete_through_service(self, request, obj):
        services.domain_delete(user=request.user, domain=obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            services.membership_ensure_owner(domain=form.instance, user=request.user)


@admin.register(Membership)
class MembershipAdmin(OwnerManagedAdmin):
    list_display = ["user", "domain", "role", "created_at"]
    list_filter = ["role", ("domain", admin.RelatedOnlyFieldListFilter)]  # never list domains the user cannot see
    search_fields = ["user__username", "user__email", "domain__name", "domain__slug"]
    autocomplete_fields = ["user", "domain"]
    list_select_related = ["user", "domain"]


@admin.register(ApiKey)
class ApiKeyAdmin(OwnerManagedAdmin):
    list_display = ["name", "domain", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role", ("domain", admin.RelatedOnlyFieldListFilter)]  # never list domains the user cannot see
    search_fields = ["name", "prefix", "domain__name", "domain__slug"]
    list_select_related = ["domain"]
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["domain", "name", "role"]
        return ["domain", "name", "role", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["domain", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        raw = services.api_key_issue(actor=request.user, api_key=obj)
        messages.warning(
            request,
            f"API key for {obj.domain}: {raw} — copy it now; only its hash is stored and it will not be shown again.",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        revoked = 0
        for api_key in queryset.select_related("domain"):
            if _owns(request, api_key.domain_id):
                services.api_key_revoke(actor=request.user, api_key=api_key)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).")


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


# Login attempts (django-axes) and JWTs (simplejwt's blacklist) keep their libraries' admins,
# in the unfold theme like every other page.
for _model in (AccessAttempt, AccessLog, AccessFailureLog, OutstandingToken, BlacklistedToken):
    _library_admin = type(admin.site._registry[_model])
    admin.site.unregister(_model)
    admin.site.register(_model, type(_library_admin.__name__, (_library_admin, ModelAdmin), {}))
