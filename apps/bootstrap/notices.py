"""Notifications of the bootstrap workflow: review wanted, domain live, bootstrap stopped."""

from __future__ import annotations

from apps.bootstrap.models import DomainBootstrap
from apps.documents.models import Notification
from apps.domains.models import Membership


def notify_members(*, bootstrap: DomainBootstrap, kind: str, title: str, body: str, roles=None, extra: dict | None = None) -> int:
    """One notification per member (of the given roles), round and ``extra`` (e.g. which failure);
    a redelivered step adds none."""
    members = Membership.objects.filter(domain_id=bootstrap.domain_id)
    if roles:
        members = members.filter(role__in=roles)
    data = {"bootstrap_id": bootstrap.pk, "round": bootstrap.generation_round, **(extra or {})}
    # Compared in Python, not with a JSON containment lookup, which SQLite does not have.
    sent = {
        user_id
        for user_id, existing in Notification.objects.filter(domain_id=bootstrap.domain_id, kind=kind).values_list("user_id", "data")
        if isinstance(existing, dict) and data.items() <= existing.items()
    }
    created = 0
    for membership in members.select_related("user"):
        if membership.user_id not in sent:
            Notification.objects.create(
                user=membership.user, domain_id=bootstrap.domain_id, kind=kind, title=title, body=body, data=data
            )
            created += 1
    return created
