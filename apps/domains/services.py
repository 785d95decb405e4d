"""Writes on domains, memberships and API keys. Views and the admin call these.

Authorization that depends on the caller's role is decided here, next to the write,
so the API and the admin cannot drift apart. Callers resolve the domain through
``apps.domains.selectors`` first (another domain's object is a 404 before it gets here).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.exceptions import Conflict, Forbidden, NotFound, ServiceError
from apps.core.locks import domain_graph_lock
from apps.core.projection_outbox import projection_deletes_record
from apps.domains.access import owned_domains, writable_domains
from apps.domains.authentication import ApiKeyPrincipal, generate_key
from apps.domains.models import ApiKey, Domain, Membership

DOMAIN_EDITABLE_FIELDS = ("name", "description", "webhook_url", "webhook_secret")


def _require_owner(*, user, domain: Domain) -> None:
    if not owned_domains(user).filter(pk=domain.pk).exists():
        if not Domain.objects.filter(pk=domain.pk).exists():  # deleted by a concurrent request
            raise NotFound("The domain no longer exists.")
        raise Forbidden("Only an owner of this domain may do that.")


MAX_DESCRIPTION_CHARS = 5000


def _check_description(description: str) -> None:
    if len(description or "") > MAX_DESCRIPTION_CHARS:
        raise ServiceError(
            f"The description is {len(description)} characters long; at most {MAX_DESCRIPTION_CHARS} are allowed.",
            detail={"description": [f"At most {MAX_DESCRIPTION_CHARS} characters."]},
        )


def domain_create(*, user, slug: str, name: str, description: str = "", **extra) -> Domain:
    """Create a domain; the creating person becomes its first owner."""
    _check_description(description)
    if isinstance(user, ApiKeyPrincipal) or user is None or not user.is_authenticated:
        raise Forbidden("Only people can create domains; API keys belong to one domain.")
    try:
        with transaction.atomic():
            domain = Domain.objects.create(slug=slug, name=name, description=description, created_by=user, **extra)
            Membership.objects.create(domain=domain, user=user, role=Membership.Role.OWNER)
    except IntegrityError:
        raise Conflict(
            f"A domain with slug {slug!r} already exists.", detail={"slug": ["A domain with this slug already exists."]}
        )
    return domain


def membership_ensure_owner(*, domain: Domain, user) -> Membership:
    """Make sure the person is a member; a new member becomes owner (the creator of a domain)."""
    membership, _ = Membership.objects.get_or_create(domain=domain, user=user, defaults={"role": Membership.Role.OWNER})
    return membership


def domain_update(*, user, domain: Domain, **fields) -> Domain:
    if not writable_domains(user).filter(pk=domain.pk).exists():
        raise Forbidden("Viewers cannot change this domain.")
    _check_description(fields.get("description", ""))
    unknown = set(fields) - set(DOMAIN_EDITABLE_FIELDS)
    if unknown:
        raise ServiceError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(domain, name, value)
    if fields:
        domain.save(update_fields=[*fields, "updated_at"])
    return domain


def domain_delete(*, user, domain: Domain) -> None:
    """Delete the domain and everything in it; its Neo4j nodes and Weaviate tenant are removed
    from the projection outbox after commit (a projection that is down never fails the delete)."""
    _require_owner(user=user, domain=domain)
    with transaction.atomic():
        # Before any row lock, as the graph step takes it: a run in the domain finishes or waits.
        domain_graph_lock(domain.pk)
        domain_id = domain.pk
        domain.delete()
        projection_deletes_record(domain_id=domain_id)


def _owner_count(domain: Domain) -> int:
    return Membership.objects.filter(domain=domain, role=Membership.Role.OWNER).count()


def membership_add(*, actor, domain: Domain, username: str, role: str) -> Membership:
    _require_owner(user=actor, domain=domain)
    member = get_user_model().objects.filter(username=username, is_active=True).first()
    if member is None:
        # A 404 like any other object the request names that does not exist: the body is valid.
        raise NotFound(f"No active user named {username!r}.", code="unknown_user", detail={"username": ["Unknown user."]})
    membership, created = Membership.objects.get_or_create(domain=domain, user=member, defaults={"role": role})
    if not created:
        raise Conflict(f"{username} is already a member of this domain.")
    return membership


def _membership_refresh(membership: Membership) -> None:
    """Re-read the row under the owner locks; a membership removed meanwhile is a 404, not a 500."""
    try:
        membership.refresh_from_db()
    except Membership.DoesNotExist:
        raise NotFound("No such member of this domain.") from None


@transaction.atomic
def membership_change_role(*, actor, membership: Membership, role: str) -> Membership:
    _require_owner(user=actor, domain=membership.domain)
    # Lock the domain's owner rows so two concurrent demotions cannot both pass the check.
    list(Membership.objects.select_for_update().filter(domain=membership.domain, role=Membership.Role.OWNER))
    _membership_refresh(membership)
    if (
        membership.role == Membership.Role.OWNER
        and role != Membership.Role.OWNER
        and _owner_count(membership.domain) == 1
    ):
        raise Conflict("A domain needs at least one owner; make someone else owner first.", code="last_owner")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, actor, membership: Membership) -> None:
    _require_owner(user=actor, domain=membership.domain)
    list(Membership.objects.select_for_update().filter(domain=membership.domain, role=Membership.Role.OWNER))
    _membership_refresh(membership)
    if membership.role == Membership.Role.OWNER and _owner_count(membership.domain) == 1:
        raise Conflict("The last owner cannot be removed; make someone else owner first.", code="last_owner")
    membership.delete()


def api_key_create(*, actor, domain: Domain, name: str, role: str = ApiKey.Role.VIEWER) -> tuple[ApiKey, str]:
    """Create a key and return (row, raw key). The raw key is not stored and cannot be shown again."""
    api_key = ApiKey(domain=domain, name=name, role=role)
    return api_key, api_key_issue(actor=actor, api_key=api_key)


def api_key_issue(*, actor, api_key: ApiKey) -> str:
    """Give an unsaved key (domain, name, role set) its secret, save it, return the raw key."""
    _require_owner(user=actor, domain=api_key.domain)
    raw, api_key.prefix, api_key.key_hash = generate_key()
    api_key.created_by = None if isinstance(actor, ApiKeyPrincipal) else actor
    api_key.save()
    return raw


def api_key_revoke(*, actor, api_key: ApiKey) -> ApiKey:
    _require_owner(user=actor, domain=api_key.domain)
    # One conditional UPDATE, not save(update_fields=...): the key may have been revoked or
    # deleted with its domain since it was loaded, and neither is a server error.
    now = timezone.now()
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now):
        api_key.revoked_at = now
        return api_key
    current = ApiKey.objects.filter(pk=api_key.pk).values_list("revoked_at", flat=True).first()
    if current is None:
        raise NotFound("The API key no longer exists (its domain was deleted).")
    api_key.revoked_at = current
    return api_key


def domains_index_invalidate(domain_ids) -> None:
    """The one way to say "the searchable content of these domains changed": bumps their
    ``index_version``, a generation counter for anything that caches a domain's searchable
    content (the search engines themselves follow their own index files). Call it inside the
    transaction that makes the change, so no cache can be rebuilt from a state between the
    change and the bump."""
    ids = sorted({int(i) for i in domain_ids})
    if ids:
        Domain.objects.filter(pk__in=ids).update(index_version=F("index_version") + 1)
