"""Reads on domains, memberships and API keys, always scoped by ``apps.domains.access``.

A slug or id outside the caller's readable domains raises ``Http404``: the caller
cannot tell "does not exist" from "not yours".
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.http import Http404

from apps.domains.access import readable_domains
from apps.domains.authentication import ApiKeyPrincipal
from apps.domains.models import ApiKey, Domain, Membership


def domain_list(*, user) -> QuerySet[Domain]:
    """The caller's readable domains, each annotated with ``caller_role``."""
    domains = readable_domains(user).distinct().order_by("name")
    if isinstance(user, ApiKeyPrincipal):
        return domains.annotate(caller_role=Value(user.api_key.role))
    role = Membership.objects.filter(domain=OuterRef("pk"), user=user).values("role")[:1]
    domains = domains.annotate(caller_role=Subquery(role))
    if user.is_superuser:
        # Superusers act as owners of every domain, member or not.
        return domains.annotate(caller_role=Value(Membership.Role.OWNER))
    return domains


def domain_get(*, user, slug: str) -> Domain:
    domain = domain_list(user=user).filter(slug=slug).first()
    if domain is None:
        raise Http404("No such domain.")
    return domain


def membership_list(*, domain: Domain) -> QuerySet[Membership]:
    return Membership.objects.filter(domain=domain).select_related("user", "domain").order_by("user__username")


def membership_get(*, domain: Domain, membership_id) -> Membership:
    membership = membership_list(domain=domain).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def api_key_list(*, domain: Domain) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(domain=domain).select_related("domain", "created_by").order_by("-created_at")


def api_key_get(*, domain: Domain, api_key_id) -> ApiKey:
    api_key = api_key_list(domain=domain).filter(pk=api_key_id).first()
    if api_key is None:
        raise Http404("No such API key.")
    return api_key


def user_memberships(*, user) -> list[dict]:
    """[{"slug", "name", "role"}] for every domain the caller can read (the /me payload)."""
    return [{"slug": d.slug, "name": d.name, "role": d.caller_role} for d in domain_list(user=user)]
