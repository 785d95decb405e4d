"""Who may read and write which domain: the one place tenant scoping is decided.

Every queryset the API, admin, search and graph serve is filtered through
``readable_domain_ids`` / ``writable_domain_ids``. Objects outside them answer 404.
"""

from __future__ import annotations

from django.db.models import QuerySet

from apps.domains.authentication import ApiKeyPrincipal
from apps.domains.models import ApiKey, Domain, Membership

WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)


def readable_domains(user) -> QuerySet[Domain]:
    if isinstance(user, ApiKeyPrincipal):
        return Domain.objects.filter(pk=user.api_key.domain_id)
    if user is None or not user.is_authenticated:
        return Domain.objects.none()
    if user.is_superuser:
        return Domain.objects.all()
    return Domain.objects.filter(memberships__user=user)


def writable_domains(user) -> QuerySet[Domain]:
    if isinstance(user, ApiKeyPrincipal):
        if user.api_key.role == ApiKey.Role.EDITOR:
            return Domain.objects.filter(pk=user.api_key.domain_id)
        return Domain.objects.none()
    if user is None or not user.is_authenticated:
        return Domain.objects.none()
    if user.is_superuser:
        return Domain.objects.all()
    return Domain.objects.filter(memberships__user=user, memberships__role__in=WRITE_ROLES)


def owned_domains(user) -> QuerySet[Domain]:
    if isinstance(user, ApiKeyPrincipal) or user is None or not user.is_authenticated:
        return Domain.objects.none()
    if user.is_superuser:
        return Domain.objects.all()
    return Domain.objects.filter(memberships__user=user, memberships__role=Membership.Role.OWNER)


def readable_domain_ids(user) -> list[int]:
    return list(readable_domains(user).values_list("pk", flat=True))


def writable_domain_ids(user) -> list[int]:
    return list(writable_domains(user).values_list("pk", flat=True))


def role_in(user, domain: Domain) -> str | None:
    if isinstance(user, ApiKeyPrincipal):
        return user.api_key.role if user.api_key.domain_id == domain.pk else None
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Membership.Role.OWNER
    return Membership.objects.filter(domain=domain, user=user).values_list("role", flat=True).first()
